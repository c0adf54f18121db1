//! Fuzz target `jwk_set`: runs `entries::jwk_set` (see fuzz/entries.rs) on every input.
#![no_main]

#[path = "../entries.rs"]
mod entries;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entries::jwk_set(data));
