//! Fuzz target `path_rules`: runs `entries::path_rules` (see fuzz/entries.rs) on every input.
#![no_main]

#[path = "../entries.rs"]
mod entries;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entries::path_rules(data));
