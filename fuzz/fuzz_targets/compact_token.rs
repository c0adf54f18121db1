//! Fuzz target `compact_token`: runs `entries::compact_token` (see fuzz/entries.rs) on every input.
#![no_main]

#[path = "../entries.rs"]
mod entries;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entries::compact_token(data));
