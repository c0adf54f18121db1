//! Every configuration README marks as complete compiles, so copy-paste examples cannot rot.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // tests fail by panicking

use edge_auth::policy::Policy;

const MARKER: &str = "<!-- compiled by tests/readme_examples.rs -->";

#[test]
fn every_marked_readme_example_compiles() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut checked = 0;
    for (index, section) in readme.split(MARKER).enumerate().skip(1) {
        let block = section
            .trim_start()
            .strip_prefix("```json\n")
            .unwrap_or_else(|| {
                panic!("example {index}: the marker must be followed by a ```json block")
            });
        let json = &block[..block.find("\n```").unwrap()];
        if let Err(err) = Policy::from_json(json.as_bytes()) {
            panic!("README example {index} does not compile: {err}\n{json}");
        }
        checked += 1;
    }
    assert!(
        checked >= 5,
        "expected the README's examples, found {checked}"
    );
}
