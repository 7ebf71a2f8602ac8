//! The code's shape rules: no file under `src/` or `shaders/` passes 500 lines (split it by
//! what it does), and no module reads a layer above it (`ARCHITECTURE.md`).

use std::path::{Path, PathBuf};

const MAX_LINES: usize = 500;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn sources(top: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    files(&root.join(top), &mut paths);
    paths
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs" || e == "wgsl"))
        .map(|p| {
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

#[test]
fn no_source_file_passes_500_lines() {
    let mut long: Vec<String> = sources("src")
        .into_iter()
        .chain(sources("shaders"))
        .filter(|(_, text)| text.lines().count() > MAX_LINES)
        .map(|(path, text)| format!("{path}: {} lines", text.lines().count()))
        .collect();
    long.sort();
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}

/// `shape → gpu → tensor → ops → nn → graph → train → models / data / dist`: a module may name the
/// ones before it, never one after (tests and doc comments aside).
#[test]
fn modules_read_only_the_layers_below() {
    let order = [
        "shape", "gpu", "tensor", "ops", "nn", "graph", "train", "models", "data", "dist",
    ];
    let mut bad = Vec::new();
    for (path, text) in sources("src") {
        let Some(module) = path
            .strip_prefix("src/")
            .and_then(|p| p.split(['/', '.']).next())
        else {
            continue;
        };
        let Some(level) = order.iter().position(|m| *m == module) else {
            continue;
        };
        // `models`, `data` and `dist` are all top layers: none may read another.
        let above: Vec<&str> = order
            .iter()
            .enumerate()
            .filter(|&(i, _)| i > level || (level >= 7 && i >= 7 && i != level))
            .map(|(_, m)| *m)
            .collect();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in code.lines().enumerate() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            for m in &above {
                if line.contains(&format!("crate::{m}::"))
                    || line.contains(&format!("crate::{m}}}"))
                    || line.contains(&format!("crate::{m};"))
                {
                    bad.push(format!("{path}:{}: {module} reads {m}: {line}", n + 1));
                }
            }
        }
    }
    assert!(bad.is_empty(), "upward reads:\n{}", bad.join("\n"));
}
