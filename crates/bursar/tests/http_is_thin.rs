//! The JSON API holds no business logic: its handlers parse, call `bursar-core`, and answer.
//! The sign of a use case left in a handler is a write through the transaction, so no file of
//! the HTTP crate may touch the write context's transaction, record an event itself, or save a
//! document; and none may grow past ~600 lines.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// What only a use case does.
const WRITES: &[&str] = &["cx.tx", "cx.emit", "documents::insert", "documents::save"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Each (file, line) of `text` that writes like a use case.
fn writes_in(file: &str, text: &str) -> Vec<String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| WRITES.iter().any(|w| line.contains(w)))
        .map(|(i, line)| format!("{file}:{}: {}", i + 1, line.trim()))
        .collect()
}

#[test]
fn no_http_handler_writes_or_grows_large() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../http/src");
    let mut files = Vec::new();
    sources(&dir, &mut files);
    assert!(
        files.len() > 30,
        "the scan found the HTTP crate: {}",
        files.len()
    );
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let name = file.strip_prefix(&dir).unwrap().display().to_string();
        found.extend(writes_in(&name, &text));
        let lines = text.lines().count();
        assert!(lines <= 620, "{name} has {lines} lines");
    }
    assert!(
        found.is_empty(),
        "use cases left in HTTP handlers:\n{}",
        found.join("\n")
    );
}

#[test]
fn a_write_in_a_handler_is_found() {
    let handler = "async fn h() {\n    documents::save(cx.tx, TABLE, ws, id, &x, &[]).await?;\n}\n";
    assert_eq!(writes_in("h.rs", handler).len(), 1);
    assert!(writes_in("h.rs", "let x = core::thing(&mut cx).await?;").is_empty());
}
