//! Fuzz target `issuer_answers`: runs `entries::issuer_answers` (see fuzz/entries.rs) on every input.
#![no_main]

#[path = "../entries.rs"]
mod entries;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entries::issuer_answers(data));
