//! The crate's layers point one way. `src/` is seven folders, bottom to top: `spec`, `numbers`,
//! `conventions`, `engine`, `protocol`, `conformance`, `command`. A module may name (`crate::<layer>::…`,
//! in code or in a doc link) its own layer and those below it, never one above, and always by
//! its layered path, not a root alias. This test reads the sources and fails on any upward or
//! unlayered path, with the file and line.

use std::path::{Path, PathBuf};

/// The engine's modules, bottom to top: the generic pipeline, the derivative witnesses, the fast
/// path checked against them, and the router that picks between the fast path and the generic
/// evaluator.
const ENGINE: [&str; 5] = ["eval", "derivatives", "fd", "fast", "answer"];

const LAYERS: [&str; 7] = [
    "spec",
    "numbers",
    "conventions",
    "engine",
    "protocol",
    "conformance",
    "command",
];

/// The modules named after `crate::` in `text`, with their line numbers: `crate::x` and each
/// top-level name of a group `crate::{x, y::z}`.
fn named_modules(text: &str) -> Vec<(usize, String)> {
    named_after(text, "crate::")
}

/// The modules named after `prefix` (`crate::` or `crate::engine::`) in `text`.
fn named_after(text: &str, prefix: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find(prefix) {
            rest = &rest[at + prefix.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let mut depth = 0usize;
                let mut name = String::new();
                let mut expecting = true;
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => expecting = true,
                        c if expecting && (c.is_alphanumeric() || c == '_') => name.push(c),
                        _ if expecting && !name.is_empty() => {
                            out.push((n + 1, std::mem::take(&mut name)));
                            expecting = false;
                        }
                        _ => {}
                    }
                }
                if !name.is_empty() {
                    out.push((n + 1, name));
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push((n + 1, name));
            }
        }
    }
    out
}

/// Every violation in one file of `layer`.
fn violations(file: &str, layer: &str, text: &str) -> Vec<String> {
    let own = LAYERS.iter().position(|l| *l == layer).expect("a layer");
    let mut out = Vec::new();
    for (line, name) in named_modules(text) {
        match LAYERS.iter().position(|l| *l == name) {
            Some(rank) if rank > own => out.push(format!(
                "{file}:{line}: `{layer}` names `crate::{name}`, a layer above it"
            )),
            Some(_) => {}
            None => out.push(format!(
                "{file}:{line}: `crate::{name}` is not a layer: name it by its layered path"
            )),
        }
    }
    out
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable source folder") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_names_a_layer_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut checked = 0;
    let mut found = Vec::new();
    for layer in LAYERS {
        let mut files = Vec::new();
        sources(&src.join(layer), &mut files);
        assert!(!files.is_empty(), "the layer `{layer}` has no sources");
        for file in files {
            let text = std::fs::read_to_string(&file).expect("a readable source");
            let name = file.strip_prefix(&src).unwrap().display().to_string();
            found.extend(violations(&name, layer, &text));
            checked += 1;
        }
    }
    // Every source file is in a layer, except the crate root and the binary.
    let mut all = Vec::new();
    sources(&src, &mut all);
    let loose: Vec<_> = all
        .iter()
        .filter(|p| p.parent() == Some(src.as_path()))
        .filter_map(|p| p.file_name()?.to_str())
        .filter(|n| *n != "lib.rs" && *n != "main.rs")
        .collect();
    assert!(loose.is_empty(), "sources outside every layer: {loose:?}");
    println!("{checked} sources in {} layers checked", LAYERS.len());
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_check_finds_an_upward_a_grouped_and_an_unlayered_path() {
    let text = "use crate::spec::tensor::Tensor;\n\
                use crate::engine::eval::Problem;\n\
                use crate::{numbers::real::Real, conformance::harness};\n\
                /// See [`crate::eval::Problem`].\n";
    let found = violations("numbers/x.rs", "numbers", text);
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found[0].starts_with("numbers/x.rs:2:") && found[0].contains("crate::engine"));
    assert!(found[1].starts_with("numbers/x.rs:3:") && found[1].contains("crate::conformance"));
    assert!(found[2].starts_with("numbers/x.rs:4:") && found[2].contains("not a layer"));
}

/// Inside the engine the modules point one way too: the generic evaluator and its witnesses
/// never call the fast path they check (only `answer` routes between them).
#[test]
fn no_engine_module_names_one_above_its_own() {
    let engine = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/engine");
    let mut found = Vec::new();
    let mut checked = 0;
    let mut files = Vec::new();
    sources(&engine, &mut files);
    for file in files {
        let relative = file.strip_prefix(&engine).unwrap();
        let first = relative.iter().next().unwrap().to_string_lossy();
        let module = first.trim_end_matches(".rs");
        if module == "mod" {
            continue;
        }
        let own = ENGINE
            .iter()
            .position(|m| *m == module)
            .unwrap_or_else(|| panic!("engine/{module} is not in the engine's order"));
        let text = std::fs::read_to_string(&file).expect("a readable source");
        for (line, name) in named_after(&text, "crate::engine::") {
            match ENGINE.iter().position(|m| *m == name) {
                Some(rank) if rank > own => found.push(format!(
                    "engine/{}:{line}: `{module}` names `crate::engine::{name}`, above it",
                    relative.display()
                )),
                Some(_) => {}
                None => found.push(format!(
                    "engine/{}:{line}: unknown `{name}`",
                    relative.display()
                )),
            }
        }
        checked += 1;
    }
    println!("{checked} engine sources checked");
    assert!(checked >= ENGINE.len());
    assert!(found.is_empty(), "{}", found.join("\n"));
}
