//! Replays every committed fuzz input through the fuzz targets' own checks, without cargo-fuzz:
//! the seeds (`fuzz/seeds/<target>/`) and every input that once crashed a target or exposed a
//! disagreement (`fuzz/regressions/<target>/`). Each must now pass its target's check.

#[path = "../fuzz/harness/mod.rs"]
mod harness;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.expect("a readable folder entry").path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

fn replay(kind: &str) -> usize {
    let mut replayed = 0;
    let mut failures = Vec::new();
    for target in harness::TARGETS {
        for file in files_under(&fuzz_dir().join(kind).join(target.name)) {
            let bytes = std::fs::read(&file).expect("a readable input");
            let outcome = std::panic::catch_unwind(|| (target.check)(&bytes));
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(finding)) => failures.push(format!("{}: {finding}", file.display())),
                Err(_) => failures.push(format!("{}: panicked", file.display())),
            }
            replayed += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {replayed} inputs fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
    replayed
}

#[test]
fn every_committed_regression_input_passes_its_target() {
    let n = replay("regressions");
    println!("{n} regression inputs replayed");
}

#[test]
fn every_seed_passes_its_target() {
    let n = replay("seeds");
    assert!(n >= harness::TARGETS.len(), "only {n} seeds");
}

#[test]
fn every_target_has_a_binary_and_seeds() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for target in harness::TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{}\"", target.name)),
            "fuzz/Cargo.toml has no [[bin]] {}",
            target.name
        );
        let source = fuzz_dir()
            .join("fuzz_targets")
            .join(format!("{}.rs", target.name));
        let text = std::fs::read_to_string(&source)
            .unwrap_or_else(|_| panic!("{} is missing", source.display()));
        assert!(
            text.contains(&format!("harness::fuzz(\"{}\"", target.name)),
            "{} does not run its own check",
            source.display()
        );
        assert!(
            !files_under(&fuzz_dir().join("seeds").join(target.name)).is_empty(),
            "no seeds for {}",
            target.name
        );
    }
}
