//! Fuzz target `credential_headers`: runs `entries::credential_headers` (see fuzz/entries.rs) on every input.
#![no_main]

#[path = "../entries.rs"]
mod entries;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entries::credential_headers(data));
