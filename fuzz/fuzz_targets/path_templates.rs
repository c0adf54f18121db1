//! Fuzz target `path_templates`: runs `entries::path_templates` (see fuzz/entries.rs) on every input.
#![no_main]

#[path = "../entries.rs"]
mod entries;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entries::path_templates(data));
