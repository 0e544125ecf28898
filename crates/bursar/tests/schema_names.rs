//! The OpenAPI document names every schema once: utoipa keys schemas by their type's name, so
//! two request types both called `LineRequest` would collapse into one, and the document would
//! describe one body with the other's fields.
//!
//! Method: read every source file of the workspace for types deriving `ToSchema` and the name
//! they are published under (`#[schema(as = …)]` or the type's own), and fail on a name two
//! types share; a second test shows the check finds a collision.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Published schema name → the files of the types that use it.
fn schema_names(sources: &[(PathBuf, String)]) -> BTreeMap<String, Vec<PathBuf>> {
    let mut names: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for (path, text) in sources {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let line = line.trim();
            if !(line.starts_with("#[derive(") && line.contains("ToSchema")) {
                continue;
            }
            let mut alias = None;
            for next in &lines[i + 1..] {
                let next = next.trim();
                if let Some(rest) = next.split("schema(as = ").nth(1) {
                    alias = rest
                        .split([')', ','])
                        .next()
                        .map(str::trim)
                        .map(str::to_owned);
                }
                let declared = ["pub struct ", "pub enum ", "struct ", "enum "]
                    .iter()
                    .find_map(|kw| next.strip_prefix(kw));
                if let Some(rest) = declared {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    names
                        .entry(alias.take().unwrap_or(name))
                        .or_default()
                        .push(path.clone());
                    break;
                }
            }
        }
    }
    names
}

fn rust_sources(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((path.clone(), std::fs::read_to_string(&path).unwrap()));
        }
    }
}

fn collisions(names: &BTreeMap<String, Vec<PathBuf>>) -> Vec<String> {
    names
        .iter()
        .filter(|(_, files)| files.len() > 1)
        .map(|(name, files)| format!("{name}: {files:?}"))
        .collect()
}

#[test]
fn every_schema_name_is_published_once() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut sources = Vec::new();
    for krate in ["domain", "core", "http"] {
        rust_sources(&crates.join(krate).join("src"), &mut sources);
    }
    let names = schema_names(&sources);
    assert!(
        names.len() > 100,
        "the scan found the schemas: {}",
        names.len()
    );
    assert!(collisions(&names).is_empty(), "{:#?}", collisions(&names));
}

#[test]
fn a_shared_name_is_found() {
    let a = "#[derive(Debug, Deserialize, ToSchema)]\npub struct LineRequest {}\n";
    let b = "#[derive(ToSchema)]\n/// doc\n#[serde(deny_unknown_fields)]\npub struct Other {}\n\
             #[derive(ToSchema)]\n#[schema(as = LineRequest)]\npub struct Renamed {}\n";
    let sources = vec![
        (PathBuf::from("a.rs"), a.to_owned()),
        (PathBuf::from("b.rs"), b.to_owned()),
    ];
    let found = collisions(&schema_names(&sources));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("LineRequest"));
}
