//! The crate's modules import down the layers, never up, and never in a loop.
//!
//! Reads `src/` as text: every `crate::…` and `super::…` path a file names
//! (in `use` declarations or inline) is an edge to the module file that path
//! reaches. Each file belongs to a layer (`LAYERS`, top first); an edge may go
//! to its own layer or a lower one. The graph of files must have no cycle.
//! `cargo test --test layers -- --nocapture` prints the edges.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers, top first, and the modules each holds (a module holds its submodules).
const LAYERS: &[(&str, &[&str])] = &[
    ("the crate root, the binary and the server", &["lib", "main", "server"]),
    ("the web boundary: pages, server functions, REST, middleware", &["app", "pages", "api", "body_limits"]),
    ("the web layer's state", &["state"]),
    ("use cases", &["imports", "uploads", "contacts", "history", "auth", "worker", "sweeper"]),
    ("what the use cases share", &["services", "password_gate", "upload_gates", "config", "clock", "telemetry", "test_hooks", "request_body"]),
    ("storage", &["store"]),
    ("the plain core, shared with the client", &["domain", "model", "error"]),
];

/// A module path (`["store", "queue"]`) for each source file.
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut found = BTreeMap::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            found.insert(parts, path);
        }
    }
    found
}

/// The longest known module that `path` (segments after `crate`) reaches.
fn reached(modules: &BTreeMap<Vec<String>, PathBuf>, path: &[String]) -> Option<Vec<String>> {
    (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|candidate| modules.contains_key(candidate))
}

/// Every path a file names: `crate::a::b`, `super::c`, and the members of
/// `{…}` groups; and the `use` paths that start at the file itself (`self::c`,
/// or a child module `c::…`), as `self::…`.
fn named_paths(text: &str) -> Vec<Vec<String>> {
    let code: String = text.lines().filter(|line| !line.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    let mut paths = Vec::new();
    let bytes = code.as_bytes();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(start) {
            let at = from + at;
            from = at + start.len();
            if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
                continue;
            }
            let head = &start[..start.len() - 2];
            expand(&code[at + start.len()..], vec![head.to_owned()], &mut paths);
        }
    }
    for line in code.lines() {
        let line = line.trim_start();
        let Some(rest) = ["use ", "pub use ", "pub(crate) use ", "pub(super) use "].iter().find_map(|p| line.strip_prefix(p)) else { continue };
        let rest = rest.strip_prefix("self::").unwrap_or(rest);
        if !rest.starts_with("crate::") && !rest.starts_with("super::") && rest.contains("::") {
            expand(rest, vec!["self".to_owned()], &mut paths);
        }
    }
    paths
}

/// Reads a path after `prefix::`, expanding one level of `{a, b::c}` groups.
fn expand(rest: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    let mut text = rest;
    loop {
        if let Some(group) = text.strip_prefix('{') {
            let end = matching_brace(group);
            for member in split_top_level(&group[..end]) {
                expand(member.trim(), path.clone(), out);
            }
            return;
        }
        let segment: String = text.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if segment.is_empty() {
            break;
        }
        path.push(segment.clone());
        text = &text[segment.len()..];
        match text.strip_prefix("::") {
            Some(next) => text = next,
            None => break,
        }
    }
    out.push(path);
}

fn matching_brace(text: &str) -> usize {
    let mut depth = 0;
    for (at, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return at,
            '}' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

fn split_top_level(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (at, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// The module edges of the crate: file module → module it names.
fn edges(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let modules = modules(src);
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).unwrap();
        let targets = graph.entry(module.clone()).or_default();
        // A file's tests (`mod tests` at its end) may reach anywhere below it.
        let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
        for path in named_paths(text) {
            let absolute: Vec<String> = match path[0].as_str() {
                "crate" => path[1..].to_vec(),
                // From the file's own module: a child (`mod.rs`, or a file with submodules).
                "self" => module.iter().cloned().chain(path[1..].iter().cloned()).collect(),
                _ => {
                    // `super` counts from the file's own module; a `mod.rs`'s parent is one up.
                    let mut base = module.clone();
                    let mut rest = &path[..];
                    while rest.first().is_some_and(|s| s == "super") {
                        base.pop();
                        rest = &rest[1..];
                    }
                    base.into_iter().chain(rest.iter().cloned()).collect()
                }
            };
            if let Some(target) = reached(&modules, &absolute) {
                if &target != module && !target.is_empty() {
                    targets.insert(target);
                }
            }
        }
    }
    graph
}

fn layer_of(module: &[String]) -> usize {
    let top = module.first().map(String::as_str).unwrap_or("lib");
    LAYERS
        .iter()
        .position(|(_, members)| members.contains(&top))
        .unwrap_or_else(|| panic!("module {} is in no layer of tests/layers.rs", module.join("::")))
}

/// The file cycles of `graph` (strongly connected parts of more than one file), each sorted.
fn cycles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    let names: Vec<&Vec<String>> = graph.keys().collect();
    let index: BTreeMap<&Vec<String>, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let next: Vec<Vec<usize>> = names.iter().map(|n| graph[*n].iter().filter_map(|t| index.get(t).copied()).collect()).collect();
    // Reachability by repeated search: the crate has dozens of files, not thousands.
    let reach: Vec<BTreeSet<usize>> = (0..names.len())
        .map(|from| {
            let (mut seen, mut stack) = (BTreeSet::new(), vec![from]);
            while let Some(at) = stack.pop() {
                for &to in &next[at] {
                    if seen.insert(to) {
                        stack.push(to);
                    }
                }
            }
            seen
        })
        .collect();
    let mut found: BTreeSet<Vec<String>> = BTreeSet::new();
    for a in 0..names.len() {
        let part: Vec<String> =
            (0..names.len()).filter(|&b| b == a || (reach[a].contains(&b) && reach[b].contains(&a))).map(|b| names[b].join("::")).collect();
        if part.len() > 1 {
            found.insert(part);
        }
    }
    found.into_iter().collect()
}

#[test]
fn modules_import_down_the_layers_and_never_in_a_loop() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = edges(&src);
    let mut upward = Vec::new();
    for (module, targets) in &graph {
        println!("{} -> {}", module.join("::"), targets.iter().map(|t| t.join("::")).collect::<Vec<_>>().join(", "));
        for target in targets {
            if layer_of(target) < layer_of(module) {
                upward.push(format!("{} imports {} ({} over {})", module.join("::"), target.join("::"), LAYERS[layer_of(target)].0, LAYERS[layer_of(module)].0));
            }
        }
    }
    let loops = cycles(&graph);
    for cycle in &loops {
        println!("loop: {}", cycle.join(", "));
    }
    assert!(upward.is_empty(), "imports that point up the layers:\n{}", upward.join("\n"));
    assert!(loops.is_empty(), "modules that import each other in a loop:\n{}", loops.iter().map(|c| c.join(", ")).collect::<Vec<_>>().join("\n"));
}

#[test]
fn paths_are_read_from_uses_and_groups() {
    let text = "use crate::domain::{mapping::{self, Field}, sniff};\nuse super::common::X;\nlet _ = crate::store::connect();\n// crate::ignored\n";
    let paths = named_paths(text);
    let shown: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert!(shown.contains(&"crate::domain::mapping::self".to_owned()), "{shown:?}");
    assert!(shown.contains(&"crate::domain::mapping::Field".to_owned()), "{shown:?}");
    assert!(shown.contains(&"crate::domain::sniff".to_owned()), "{shown:?}");
    assert!(shown.contains(&"super::common::X".to_owned()), "{shown:?}");
    assert!(shown.contains(&"crate::store::connect".to_owned()), "{shown:?}");
    assert!(!shown.iter().any(|s| s.contains("ignored")), "{shown:?}");
}
