//! The layout keeps its promises (docs/architecture.md): dependencies between the top-level
//! modules of `src/` point one way, proxy-wasm is named in the host glue (`src/host/wasm.rs`)
//! only, the rest of `src/host/` builds natively, and the request path's stages are the folders
//! `src/lib.rs` declares.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules, lowest first: each may use only modules listed before it.
const LAYERS: [&str; 9] = [
    "error", "request", "identity", "clients", "jwt", "issuer", "policy", "config", "host",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None` for `lib.rs` and `bin/`).
fn top_module(file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src()).unwrap();
    let first = relative
        .components()
        .next()?
        .as_os_str()
        .to_str()?
        .to_string();
    match first.as_str() {
        "lib.rs" | "bin" => None,
        _ => Some(first.trim_end_matches(".rs").to_string()),
    }
}

/// Every `crate::<module>` a file names, outside comments.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                named.insert(name);
            }
            rest = after;
        }
        // `use crate::{a, b}` names several modules at once.
        if let Some(at) = code.find("crate::{") {
            let list = &code[at + "crate::{".len()..];
            for name in list.split(['}', ','].as_ref()) {
                let name = name.trim().split("::").next().unwrap_or("").trim();
                if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    named.insert(name.to_string());
                }
            }
        }
    }
    named
}

fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(module) = top_module(&file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        let uses = graph.entry(module.clone()).or_default();
        for name in crate_paths(&text) {
            if name != module {
                uses.insert(name);
            }
        }
    }
    graph
}

#[test]
fn every_top_level_module_has_a_layer() {
    let modules: BTreeSet<String> = dependencies().into_keys().collect();
    let layers: BTreeSet<String> = LAYERS.iter().map(|m| m.to_string()).collect();
    assert_eq!(
        modules, layers,
        "src/ holds modules the layering does not know"
    );
}

#[test]
fn dependencies_between_top_level_modules_point_down_only() {
    let rank = |name: &str| LAYERS.iter().position(|m| *m == name);
    let mut upward = Vec::new();
    for (module, uses) in dependencies() {
        let own = rank(&module).unwrap();
        for used in uses {
            match rank(&used) {
                Some(other) if other < own => {}
                _ => upward.push(format!("{module} -> {used}")),
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports against the layering: {upward:?}"
    );
}

#[test]
fn the_dependency_check_sees_a_circle() {
    // The scanner itself: a file naming a higher module must be caught.
    let named = crate_paths("use crate::policy::Policy;\nuse crate::{error, jwt::token};\n");
    assert_eq!(named, ["error", "jwt", "policy"].map(String::from).into());
}

#[test]
fn proxy_wasm_is_named_in_the_host_glue_only() {
    // The host's callback logic compiles natively and reaches Envoy through the `Host` trait;
    // only the glue that implements it (src/host/wasm.rs) names the SDK.
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let glue = src().join("host").join("wasm.rs");
    let outside: Vec<String> = files
        .iter()
        .filter(|file| **file != glue)
        .filter(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            text.lines()
                .map(|line| line.split("//").next().unwrap_or(""))
                .any(|code| code.contains("proxy_wasm"))
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(
        outside.is_empty(),
        "proxy-wasm named outside src/host/wasm.rs: {outside:?}"
    );
}

#[test]
fn the_host_logic_is_native_and_only_its_glue_is_wasm_only() {
    // Everything in src/host/ but the glue builds (and is tested) natively: the only
    // `target_arch = "wasm32"` there is the declaration of the glue module.
    let host = src().join("host");
    let mut files = Vec::new();
    rust_files(&host, &mut files);
    let mut wasm_only = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("target_arch") {
                wasm_only.push(format!("{}: {}", file.display(), line.trim()));
            }
        }
    }
    assert_eq!(
        wasm_only,
        [format!(
            "{}: #[cfg(target_arch = \"wasm32\")]",
            host.join("mod.rs").display()
        )]
    );
    let module = std::fs::read_to_string(host.join("mod.rs")).unwrap();
    assert!(module.contains("#[cfg(target_arch = \"wasm32\")]\nmod wasm;"));
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    assert!(
        lib.contains("\npub mod host;"),
        "src/lib.rs declares host for every target"
    );
}

#[test]
fn only_the_crate_root_and_shared_leaves_sit_directly_in_src() {
    let mut loose: Vec<String> = std::fs::read_dir(src())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    loose.sort();
    assert_eq!(loose, ["error.rs", "identity.rs", "lib.rs"]);
}

/// `cargo test --release` must build: with `panic = "abort"` in the release profile cargo built
/// the dependencies twice (the test harness needs unwinding) and the tests did not compile. The
/// `.wasm` aborts anyway: `abort` is `wasm32-wasip1`'s own panic strategy.
#[test]
fn the_release_profile_leaves_the_panic_strategy_to_the_target() {
    let manifest = std::fs::read_to_string(src().join("../Cargo.toml")).unwrap();
    let release = manifest
        .split("\n[")
        .find(|section| section.starts_with("profile.release]"))
        .expect("a [profile.release] section");
    assert!(
        !release
            .lines()
            .any(|line| line.trim_start().starts_with("panic")),
        "[profile.release] sets panic: `cargo test --release` cannot build\n{release}"
    );
}
