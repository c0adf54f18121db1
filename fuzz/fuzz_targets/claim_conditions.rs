//! Fuzz target `claim_conditions`: runs `entries::claim_conditions` (see fuzz/entries.rs) on every input.
#![no_main]

#[path = "../entries.rs"]
mod entries;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entries::claim_conditions(data));
