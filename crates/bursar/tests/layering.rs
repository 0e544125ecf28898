//! The crate layering, checked against `cargo metadata`: `domain` is pure (no I/O, no web),
//! `store` knows no use case, `core` knows no HTTP, and no surface (the JSON API, the worker,
//! the web UI) depends on another surface.
//!
//! Goal: a dependency that breaks the layout fails this test. Method: read every workspace
//! member's direct dependencies (normal and build, not dev) and hold them against the rules;
//! a second test feeds the same check a workspace with a forbidden edge added, so the check
//! itself is shown to fail.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

/// Crates that do I/O or serve the web.
const IO_AND_WEB: &[&str] = &[
    "tokio",
    "sqlx",
    "rusqlite",
    "reqwest",
    "hyper",
    "axum",
    "tower",
    "tower-http",
    "lettre",
    "object_store",
    "askama",
    "mio",
    "utoipa-axum",
];
/// Crates that are about HTTP or its documentation.
const WEB: &[&str] = &[
    "axum",
    "utoipa",
    "utoipa-axum",
    "tower",
    "tower-http",
    "hyper",
    "askama",
];
/// The surfaces over the core.
const SURFACES: &[&str] = &["bursar-http", "bursar-worker", "bursar-web"];

/// Each workspace member's direct, non-dev dependencies.
type Graph = BTreeMap<String, Vec<String>>;

fn workspace_graph() -> Graph {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml");
    let output = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .args(["--manifest-path", manifest])
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|package| {
            let dependencies = package["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].as_str() != Some("dev"))
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .collect();
            (package["name"].as_str().unwrap().to_owned(), dependencies)
        })
        .collect()
}

/// Every broken rule, as `crate -> dependency: rule`.
fn violations(graph: &Graph) -> Vec<String> {
    let mut broken = Vec::new();
    let mut forbid = |krate: &str, banned: &[&str], rule: &str| {
        for dependency in graph.get(krate).into_iter().flatten() {
            if banned.contains(&dependency.as_str()) {
                broken.push(format!("{krate} -> {dependency}: {rule}"));
            }
        }
    };
    let workspace: Vec<&str> = graph.keys().map(String::as_str).collect();
    let above_domain: Vec<&str> = workspace
        .iter()
        .copied()
        .filter(|k| *k != "bursar-domain")
        .collect();
    forbid(
        "bursar-domain",
        IO_AND_WEB,
        "domain does no I/O and knows no web",
    );
    forbid(
        "bursar-domain",
        &above_domain,
        "domain depends on no other crate of Bursar",
    );
    let above_store = [
        "bursar-core",
        "bursar-http",
        "bursar-worker",
        "bursar-web",
        "bursar",
    ];
    forbid(
        "bursar-store",
        &above_store,
        "store knows no use case or surface",
    );
    forbid(
        "bursar-payments",
        &above_store,
        "providers know no use case or surface",
    );
    forbid(
        "bursar-banks",
        &above_store,
        "banks know no use case or surface",
    );
    forbid(
        "bursar-banks",
        WEB,
        "bank adapters build requests; they serve no web",
    );
    forbid(
        "bursar-couriers",
        &above_store,
        "couriers know no use case or surface",
    );
    forbid(
        "bursar-couriers",
        WEB,
        "courier adapters build requests; they serve no web",
    );
    forbid("bursar-core", WEB, "core knows no HTTP");
    forbid("bursar-core", SURFACES, "core depends on no surface");
    forbid("bursar-core", &["bursar"], "core depends on no surface");
    for surface in SURFACES {
        let others: Vec<&str> = SURFACES.iter().copied().filter(|s| s != surface).collect();
        forbid(surface, &others, "a surface never imports another surface");
    }
    broken
}

#[test]
fn the_crates_depend_on_each_other_only_downwards() {
    let graph = workspace_graph();
    for krate in [
        "bursar-domain",
        "bursar-store",
        "bursar-core",
        "bursar-http",
        "bursar-worker",
        "bursar-banks",
        "bursar-couriers",
    ] {
        assert!(
            graph.contains_key(krate),
            "{krate} is a workspace member: {graph:?}"
        );
    }
    assert_eq!(violations(&graph), Vec::<String>::new());
}

#[test]
fn a_forbidden_dependency_is_caught() {
    let clean = workspace_graph();
    let edges = [
        ("bursar-core", "axum", "core knows no HTTP"),
        ("bursar-core", "utoipa", "core knows no HTTP"),
        ("bursar-domain", "tokio", "domain does no I/O"),
        (
            "bursar-domain",
            "bursar-store",
            "domain depends on no other crate",
        ),
        (
            "bursar-worker",
            "bursar-http",
            "a surface never imports another surface",
        ),
        (
            "bursar-http",
            "bursar-worker",
            "a surface never imports another surface",
        ),
        ("bursar-store", "bursar-core", "store knows no use case"),
        ("bursar-banks", "bursar-core", "banks know no use case"),
        ("bursar-banks", "axum", "bank adapters serve no web"),
        (
            "bursar-couriers",
            "bursar-core",
            "couriers know no use case",
        ),
        ("bursar-couriers", "axum", "courier adapters serve no web"),
    ];
    for (krate, dependency, rule) in edges {
        let mut graph = clean.clone();
        graph.get_mut(krate).unwrap().push(dependency.to_owned());
        let found = violations(&graph);
        assert_eq!(found.len(), 1, "{krate} -> {dependency}: {found:?}");
        assert!(
            found[0].starts_with(&format!("{krate} -> {dependency}:")),
            "{found:?} ({rule})"
        );
    }
}
