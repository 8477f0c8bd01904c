//! The house keeps its shape: the server's top-level modules depend on each other one way only
//! (docs/architecture.md gives the order), so a newcomer can read them bottom to top.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

/// The top-level module a file of src/ belongs to (`chat` for src/chat/server.rs).
fn top_module(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("under src/");
    let first = relative.components().next().expect("a path");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_owned()
}

/// Which top-level modules each top-level module uses (`crate::x` paths outside unit tests).
fn module_edges() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let from = top_module(&src, &file);
        if matches!(from.as_str(), "lib" | "main" | "bin") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        // Unit tests sit at the end of a file and may reach anywhere.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            let to: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let is_module = src.join(format!("{to}.rs")).exists() || src.join(&to).is_dir();
            if is_module && to != from {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    edges
}

/// A cycle through `start`, if there is one.
fn cycle_from(start: &str, edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn walk(
        at: &str,
        start: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in edges.get(at).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(next, start, edges, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_owned()];
    let mut seen = BTreeSet::new();
    walk(start, start, edges, &mut path, &mut seen).then_some(path)
}

#[test]
fn the_servers_modules_depend_on_each_other_one_way_only() {
    let edges = module_edges();
    assert!(
        edges.get("chat").is_some_and(|to| to.contains("history")),
        "the scan sees the chat server use the history actor: {edges:?}"
    );
    for module in edges.keys() {
        if let Some(cycle) = cycle_from(module, &edges) {
            panic!(
                "modules depend on each other in a cycle: {}",
                cycle.join(" -> ")
            );
        }
    }
}

#[test]
fn nothing_but_main_depends_on_startup() {
    let edges = module_edges();
    let users: Vec<&String> = edges
        .iter()
        .filter(|(_, to)| to.contains("startup"))
        .map(|(from, _)| from)
        .collect();
    assert!(
        users.is_empty(),
        "startup only wires things together: {users:?} use it"
    );
}
