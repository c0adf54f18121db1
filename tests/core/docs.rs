//! The documentation cannot rot: every configuration README.md or docs/ marks as complete
//! compiles, no complete configuration goes unmarked, and every relative link (file and
//! `#anchor`) resolves.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use edge_auth::policy::Policy;

const MARKER: &str = "<!-- compiled by tests/core/docs.rs -->";

/// Marked examples when README.md was split into docs/ (README alone had 6 before). Fewer
/// means an example was lost or its marker dropped.
const MIN_COMPILED: usize = 9;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every `*.md` under docs/ (recursively), as (path relative to the root, text).
fn doc_files() -> Vec<(PathBuf, String)> {
    fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                collect(&path, out);
            } else if path.extension().is_some_and(|ext| ext == "md") {
                out.push(path);
            }
        }
    }
    let mut paths = vec![root().join("README.md")];
    collect(&root().join("docs"), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path.strip_prefix(root()).unwrap().to_path_buf(), text)
        })
        .collect()
}

/// Lines outside fenced code blocks, with their 1-based numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut in_fence = false;
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence {
            lines.push((index + 1, line));
        }
    }
    lines
}

/// Fenced ```json blocks: (line of the opening fence, marked, body).
fn json_blocks(text: &str) -> Vec<(usize, bool, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index].trim_start();
        if !line.starts_with("```") {
            index += 1;
            continue;
        }
        let start = index;
        let end = (start + 1..lines.len())
            .find(|&i| lines[i].trim_start().starts_with("```"))
            .unwrap_or(lines.len());
        if line == "```json" {
            let marked = lines[..start]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .is_some_and(|l| l.trim() == MARKER);
            blocks.push((start + 1, marked, lines[start + 1..end].join("\n")));
        }
        index = end + 1;
    }
    blocks
}

/// Targets of `[text](target)` and `![alt](target)` links outside code, with their line.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in prose_lines(text) {
        // Drop inline code spans: `[x](y)` inside backticks is not a link.
        let prose: String = line.split('`').step_by(2).collect();
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let end = rest.find([')', ' ']).unwrap_or(rest.len());
            let target = rest[..end].trim_start_matches('<').trim_end_matches('>');
            found.push((number, target.to_string()));
            rest = &rest[end..];
        }
    }
    found
}

/// GitHub's heading anchors: lowercase, punctuation other than `-` and `_` dropped, spaces
/// to `-`, and `-1`, `-2`, ... appended to repeats.
fn anchors(text: &str) -> HashSet<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut anchors = HashSet::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let title = line[hashes..].trim().trim_end_matches('#').trim();
        let slug: String = title
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                '-' | '_' => Some(c),
                c if c.is_alphanumeric() => Some(c),
                _ => None,
            })
            .collect();
        let repeats = seen.entry(slug.clone()).or_insert(0);
        anchors.insert(if *repeats == 0 {
            slug
        } else {
            format!("{slug}-{repeats}")
        });
        *repeats += 1;
    }
    anchors
}

/// Relative links of every doc file: (file, line, target, resolved path, fragment).
type Link = (PathBuf, usize, String, PathBuf, Option<String>);

fn relative_links() -> Vec<Link> {
    let mut all = Vec::new();
    for (path, text) in doc_files() {
        let dir = root().join(&path).parent().unwrap().to_path_buf();
        for (line, target) in links(&text) {
            if ["http://", "https://", "mailto:"]
                .iter()
                .any(|scheme| target.starts_with(scheme))
            {
                continue;
            }
            let (file, fragment) = match target.split_once('#') {
                Some((file, fragment)) => (file, Some(fragment.to_string())),
                None => (target.as_str(), None),
            };
            let resolved = if file.is_empty() {
                root().join(&path)
            } else {
                dir.join(file)
            };
            all.push((path.clone(), line, target.clone(), resolved, fragment));
        }
    }
    all
}

#[test]
fn every_marked_example_compiles() {
    let mut counts = BTreeMap::new();
    let mut failures = Vec::new();
    for (path, text) in doc_files() {
        let mut checked = 0;
        for (index, section) in text.split(MARKER).enumerate().skip(1) {
            let Some(block) = section.trim_start().strip_prefix("```json\n") else {
                failures.push(format!(
                    "{}: marker {index} must be followed by a ```json block",
                    path.display()
                ));
                continue;
            };
            let json = &block[..block.find("\n```").unwrap_or(block.len())];
            match Policy::from_json(json.as_bytes()) {
                Ok(_) => checked += 1,
                Err(err) => failures.push(format!(
                    "{}: example {index} does not compile: {err}\n{json}",
                    path.display()
                )),
            }
        }
        counts.insert(path.display().to_string(), checked);
    }
    let summary = counts
        .iter()
        .map(|(path, n)| format!("{path}: {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    assert!(
        failures.is_empty(),
        "{}\n\ncompiled per file: {summary}",
        failures.join("\n\n")
    );
    let total: usize = counts.values().sum();
    assert!(
        total >= MIN_COMPILED,
        "expected at least {MIN_COMPILED} compiled examples, found {total} ({summary})"
    );
}

#[test]
fn every_complete_json_configuration_is_marked() {
    // Fragments (`"rules": [...]`) are not JSON documents; a block that parses as an object is a
    // whole configuration and must be compiled, or it could drift unnoticed.
    let mut unmarked = Vec::new();
    for (path, text) in doc_files() {
        for (line, marked, json) in json_blocks(&text) {
            let parsed = serde_json::from_str::<serde_json::Value>(&json);
            if !marked && parsed.is_ok_and(|value| value.is_object()) {
                unmarked.push(format!("{}:{line}", path.display()));
            }
        }
    }
    assert!(
        unmarked.is_empty(),
        "complete configurations without `{MARKER}` before them: {}",
        unmarked.join(", ")
    );
}

#[test]
fn every_relative_link_names_an_existing_file() {
    let repo = root().canonicalize().unwrap();
    let broken: Vec<String> = relative_links()
        .into_iter()
        .filter(|(_, _, _, resolved, _)| {
            // A link out of the repository is broken on GitHub even if the file exists here.
            !resolved
                .canonicalize()
                .is_ok_and(|real| real.starts_with(&repo))
        })
        .map(|(path, line, target, _, _)| format!("{}:{line}: {target}", path.display()))
        .collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_anchor_names_a_heading() {
    let mut broken = Vec::new();
    for (path, line, target, resolved, fragment) in relative_links() {
        let Some(fragment) = fragment else { continue };
        if resolved.extension().is_none_or(|ext| ext != "md") {
            continue; // anchors into source files (`#L10`) are GitHub's business
        }
        let Ok(text) = std::fs::read_to_string(&resolved) else {
            continue; // the file itself is reported by the link test
        };
        if !anchors(&text).contains(&fragment) {
            broken.push(format!("{}:{line}: {target}", path.display()));
        }
    }
    assert!(
        broken.is_empty(),
        "links to headings that do not exist:\n{}",
        broken.join("\n")
    );
}
