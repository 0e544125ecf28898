//! No two modules of a crate depend on each other, directly or through others.
//!
//! Goal: a new `use crate::a` in module `b` while `a` uses `b` fails here, naming the cycle.
//! Method: read every source file of every crate under `crates/`, take each top-level module's
//! references to `crate::<module>` (outside comments and `#[cfg(test)]` code), and search the
//! graph for a cycle; a second test shows the search finds one.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module → the modules of the same crate it refers to.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The names a source text refers to as `crate::<name>` or `use crate::{<name>, …}`.
fn referenced(text: &str) -> BTreeSet<String> {
    let code: String = text
        .split("#[cfg(test)]")
        .next()
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut names = BTreeSet::new();
    for (index, _) in code.match_indices("crate::") {
        let rest = &code[index + "crate::".len()..];
        if let Some(list) = rest.strip_prefix('{') {
            let list = &list[..list.find('}').unwrap_or(list.len())];
            for part in list.split(',') {
                let name = part.trim().split("::").next().unwrap_or_default();
                names.insert(name.to_owned());
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            names.insert(name);
        }
    }
    names
}

fn crate_graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = top.trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        graph.entry(module).or_default().extend(referenced(&text));
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for (module, uses) in graph.iter_mut() {
        uses.retain(|used| modules.contains(used) && used != module);
    }
    graph
}

/// A cycle of the graph, if it has one.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        graph: &Graph,
        module: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| m == module) {
            let mut found = path[start..].to_vec();
            found.push(module.to_owned());
            return Some(found);
        }
        if !done.insert(module.to_owned()) {
            return None;
        }
        path.push(module.to_owned());
        for used in graph.get(module).into_iter().flatten() {
            if let Some(found) = visit(graph, used, path, done) {
                return Some(found);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|module| visit(graph, module, &mut Vec::new(), &mut done))
}

fn crates() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|entry| entry.unwrap().path().join("src"))
        .filter(|src| src.is_dir())
        .collect();
    found.sort();
    found
}

#[test]
fn no_two_modules_of_a_crate_depend_on_each_other() {
    let crates = crates();
    assert!(crates.len() >= 8, "every crate is read: {crates:?}");
    for src in crates {
        let graph = crate_graph(&src);
        assert!(!graph.is_empty(), "{} has modules", src.display());
        assert_eq!(cycle(&graph), None, "a module cycle in {}", src.display());
    }
}

#[test]
fn a_cycle_is_found() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/src");
    let mut graph = crate_graph(&src);
    assert_eq!(cycle(&graph), None);
    // orders uses postings; make postings use orders.
    assert!(graph["orders"].contains("postings"), "{graph:?}");
    graph
        .get_mut("postings")
        .unwrap()
        .insert("orders".to_owned());
    let found = cycle(&graph).unwrap();
    assert!(found.contains(&"orders".to_owned()) && found.contains(&"postings".to_owned()));
    assert_eq!(
        referenced("use crate::{a, b::c};\n// crate::d\nlet x = crate::e::f;"),
        ["a", "b", "e"].iter().map(|s| s.to_string()).collect()
    );
}
