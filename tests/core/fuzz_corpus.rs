//! The committed fuzz corpus (`fuzz/corpus/<target>/`), replayed on the stable toolchain:
//! every file through the same entry function its cargo-fuzz target runs
//! (`fuzz/entries.rs`), so an input that once crashed a parser fails `make test` if the crash
//! comes back. `make fuzz` grows the corpus; the entries assert each target's invariants.

use std::path::Path;

#[path = "../../fuzz/entries.rs"]
pub mod entries;

fn replay(target: &str, entry: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut replayed = 0;
    for file in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = file.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| entry(&data));
        assert!(outcome.is_ok(), "{target}: {} fails", path.display());
        replayed += 1;
    }
    replayed
}

#[test]
fn every_committed_corpus_input_passes_its_target() {
    for (target, entry) in entries::TARGETS {
        let replayed = replay(target, entry);
        assert!(replayed >= 3, "{target}: only {replayed} corpus files");
    }
}

#[test]
fn the_token_seeds_are_what_their_names_say() {
    use edge_auth::policy::Policy;
    let policy = Policy::from_json(entries::base_config().to_string().as_bytes()).unwrap();
    let seed = |name: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus/compact_token")
            .join(name);
        String::from_utf8(std::fs::read(path).unwrap()).unwrap()
    };
    let verify = |token: &str| {
        edge_auth::jwt::token::verify(token, &policy.providers, &policy.forward, entries::NOW)
    };
    assert!(
        verify(&seed("valid-es256")).is_ok(),
        "the fixed clock is inside its lifetime"
    );
    assert!(verify(&seed("valid-rs256")).is_ok());
    assert!(verify(&seed("forged-es256")).is_err());
}
