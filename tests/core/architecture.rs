//! The layout keeps its promises (docs/architecture.md): dependencies between the top-level
//! modules of `src/` point one way, proxy-wasm is named in the host glue (`src/host/wasm.rs`)
//! only, the rest of `src/host/` builds natively, and the request path's stages are the folders
//! `src/lib.rs` declares.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules, lowest first: each may use only modules listed before it.
const LAYERS: [&str; 12] = [
    "base64", "error", "json", "request", "identity", "clients", "jwt", "issuer", "fleet",
    "policy", "config", "host",
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
    assert_eq!(loose, ["base64.rs", "error.rs", "identity.rs", "lib.rs"]);
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

/// The module path (`["policy", "decision"]`) of a file of `src/` (`mod.rs` is its folder's).
fn module_of(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src()).unwrap();
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts
        .last()
        .is_some_and(|last| last == "mod" || last == "lib")
    {
        parts.pop();
    }
    parts
}

/// Every path a file names from the crate (`crate::a::b::C`, `super::x`, `use` lists
/// expanded), outside comments and `#[cfg(test)]` modules, as module paths from the root.
fn named_paths(text: &str, module: &[String]) -> Vec<Vec<String>> {
    let code: String = text
        .lines()
        .take_while(|line| !line.starts_with("#[cfg(test)]"))
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut paths = Vec::new();
    // `use` statements, braces expanded.
    for statement in code.split(';') {
        // `use` as a word: at the start or after `pub`/`pub(crate)`, a brace or an attribute.
        let starts = statement.match_indices("use ").filter(|(at, _)| {
            statement[..*at]
                .chars()
                .next_back()
                .is_none_or(|c| c.is_whitespace() || c == '}' || c == ']')
        });
        let Some((at, _)) = starts.last() else {
            continue;
        };
        let tree: String = statement[at + 4..].split_whitespace().collect();
        for path in expand_use(&tree) {
            paths.push(path);
        }
    }
    // Paths written in code: `crate::a::b`.
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let path: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        // `crate::a::{...}` is a `use` list, read above.
        if !path.ends_with("::") {
            paths.push(path);
        }
        rest = &rest[at + "crate::".len()..];
    }
    paths
        .into_iter()
        .filter_map(|path| absolute(&path, module))
        .collect()
}

/// `a::{b, c::{d, e}}` as `a::b`, `a::c::d`, `a::c::e`.
fn expand_use(tree: &str) -> Vec<String> {
    let Some(open) = tree.find('{') else {
        return vec![tree.to_string()];
    };
    let close = tree
        .rfind('}')
        .filter(|close| *close > open)
        .unwrap_or(tree.len());
    let prefix = &tree[..open];
    let inner = &tree[open + 1..close];
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|item| !item.is_empty())
        .flat_map(|item| expand_use(&format!("{prefix}{item}")))
        .collect()
}

/// A written path from the crate root, or `None` for paths outside the crate.
fn absolute(path: &str, module: &[String]) -> Option<Vec<String>> {
    let mut parts = path.split("::").filter(|p| !p.is_empty());
    let mut resolved: Vec<String> = match parts.next()? {
        "crate" => Vec::new(),
        "super" => module[..module.len().checked_sub(1)?].to_vec(),
        "self" => module.to_vec(),
        _ => return None,
    };
    for part in parts {
        match part {
            "super" => {
                resolved.pop()?;
            }
            "self" | "*" => {}
            name => resolved.push(name.split(" as ").next()?.to_string()),
        }
    }
    Some(resolved)
}

/// The file a module path names: its longest prefix that is a module with a file.
fn file_of(path: &[String], files: &BTreeMap<Vec<String>, PathBuf>) -> Option<PathBuf> {
    (0..=path.len())
        .rev()
        .find_map(|len| files.get(&path[..len]).cloned())
}

/// Imports between files of `src/` (not `bin/`), without the edges between a file and the
/// `mod.rs` of a folder it sits in: a folder's `mod.rs` declares and may re-export its files,
/// which may use what it defines (the `Policy` of `policy/mod.rs`).
fn file_graph() -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mut all = Vec::new();
    rust_files(&src(), &mut all);
    all.retain(|file| !file.starts_with(src().join("bin")));
    let files: BTreeMap<Vec<String>, PathBuf> = all
        .iter()
        .map(|file| (module_of(file), file.clone()))
        .collect();
    let mut graph = BTreeMap::new();
    for file in &all {
        let module = module_of(file);
        let text = std::fs::read_to_string(file).unwrap();
        let uses: BTreeSet<PathBuf> = named_paths(&text, &module)
            .iter()
            .filter_map(|path| file_of(path, &files))
            .filter(|used| {
                let used_module = module_of(used);
                !module.starts_with(&used_module) && !used_module.starts_with(&module)
            })
            .collect();
        graph.insert(file.clone(), uses);
    }
    graph
}

/// The files that lie on a circle of imports, each circle once (Tarjan's strongly connected
/// components of more than one file).
fn circles(graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct State<'g> {
        graph: &'g BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'g PathBuf, usize>,
        low: BTreeMap<&'g PathBuf, usize>,
        stack: Vec<&'g PathBuf>,
        found: Vec<Vec<PathBuf>>,
    }
    fn visit<'g>(state: &mut State<'g>, node: &'g PathBuf) {
        let next = state.index.len();
        state.index.insert(node, next);
        state.low.insert(node, next);
        state.stack.push(node);
        for used in state.graph.get(node).into_iter().flatten() {
            let Some((used, _)) = state.graph.get_key_value(used) else {
                continue;
            };
            if !state.index.contains_key(used) {
                visit(state, used);
                let low = state.low[used].min(state.low[node]);
                state.low.insert(node, low);
            } else if state.stack.contains(&used) {
                let low = state.index[used].min(state.low[node]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(top) = state.stack.pop() {
                component.push(top.clone());
                if top == node {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                state.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !state.index.contains_key(node) {
            visit(&mut state, node);
        }
    }
    state.found
}

#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    let found = circles(&file_graph());
    assert!(found.is_empty(), "import circles between files: {found:#?}");
}

#[test]
fn the_circle_check_sees_a_circle_between_files() {
    // The parser: `use` lists, `super::`, paths in code, all resolved to files.
    let module = ["policy".to_string(), "decision".to_string()];
    let named = named_paths(
        "use crate::policy::{explain::{Tracer, Untraced}, sender};\nuse super::rules::Route;\n\
         fn f(x: crate::policy::answer::Stop) {} // crate::ignored::in_comment\n",
        &module,
    );
    let shown: Vec<String> = named.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        shown,
        [
            "policy::explain::Tracer",
            "policy::explain::Untraced",
            "policy::sender",
            "policy::rules::Route",
            "policy::answer::Stop"
        ]
    );
    // The search: a circle of two files, and one of three beside a file outside it.
    let p = |name: &str| PathBuf::from(name);
    let graph: BTreeMap<PathBuf, BTreeSet<PathBuf>> = [
        ("a", vec!["b"]),
        ("b", vec!["a"]),
        ("c", vec!["d"]),
        ("d", vec!["e"]),
        ("e", vec!["c"]),
        ("f", vec!["a"]),
    ]
    .into_iter()
    .map(|(from, to)| (p(from), to.into_iter().map(p).collect()))
    .collect();
    let found = circles(&graph);
    assert_eq!(found, [vec![p("a"), p("b")], vec![p("c"), p("d"), p("e")]]);
}
