//! Fuzz target `path_spellings`: runs `entries::path_spellings` (see fuzz/entries.rs) on every
//! input.
#![no_main]

#[path = "../entries.rs"]
mod entries;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entries::path_spellings(data));
