//! Replays every committed fuzz input through the fuzz targets' own checks, without cargo-fuzz:
//! the seeds (`fuzz/seeds/<target>/`) and every input that once crashed a target or exposed a
//! disagreement (`fuzz/regressions/<target>/`). Each must now pass its target's check, and the
//! file readers' inputs (results files included, through `ufl-oracle check`) must not make the
//! command line panic either.

use ufl_oracle::fuzzing::{self as harness, CappedAllocator};

#[global_allocator]
static ALLOCATOR: CappedAllocator = CappedAllocator;

use std::path::{Path, PathBuf};
use std::process::Command;

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
            text.contains(&format!("fuzzing::fuzz(\"{}\"", target.name)),
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

/// Runs the binary; its exit code and its standard error.
fn run(cmd: &mut Command) -> (Option<i32>, String) {
    let out = cmd.output().expect("the binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_command_line_survives_every_committed_file_input() {
    let scratch = std::env::temp_dir().join(format!("ufl-oracle-fuzz-cli-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let target = scratch.join("target.json");
    std::fs::write(&target, "[[[[1, 0], [0, 1]], [[1, 0], [0, 1]]]]").unwrap();
    let mut checked = 0;
    for (name, file_name) in [
        ("npy_file", "input.npy"),
        ("json_array", "input.json"),
        ("fixture_file", "fixture.json"),
    ] {
        for kind in ["seeds", "regressions"] {
            for input in files_under(&fuzz_dir().join(kind).join(name)) {
                let path = scratch.join(file_name);
                std::fs::copy(&input, &path).unwrap();
                let (code, err) = if name == "fixture_file" {
                    run(Command::new(env!("CARGO_BIN_EXE_ufl-oracle"))
                        .arg("verify-fixtures")
                        .arg(&path))
                } else {
                    run(Command::new(env!("CARGO_BIN_EXE_ufl-oracle"))
                        .args(["eval", "-f", "asym_unified_focal_loss", "--pred"])
                        .arg(&path)
                        .arg("--target")
                        .arg(&target))
                };
                assert!(
                    matches!(code, Some(0..=2)) && !err.contains("panicked"),
                    "{}: exit {code:?}\n{err}",
                    input.display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 0);
}

#[test]
fn the_results_case_set_is_the_one_the_seeds_answer() {
    let set = harness::readers::results_case_set();
    let ids: Vec<&str> = set.cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids.len(),
        harness::readers::RESULTS_RANDOM_CASES + harness::readers::RESULTS_EDGE_CASES.len(),
        "an edge case of the results case set is gone: {ids:?}"
    );
    let answered = std::fs::read_to_string(fuzz_dir().join("seeds/results_file/oracle-answers"))
        .expect("the seed with the oracle's answers");
    for id in ids {
        assert!(
            answered.contains(&format!("\"{id}\"")),
            "no seed answers {id}"
        );
    }
}

#[test]
fn check_survives_every_committed_results_file_and_exits_as_its_verdicts_say() {
    let scratch =
        std::env::temp_dir().join(format!("ufl-oracle-fuzz-results-{}", std::process::id()));
    let cases = &harness::readers::results_case_set().cases;
    let case_file = ufl_oracle::results::write_cases(cases, &scratch.join("cases")).unwrap();
    let mut exits = std::collections::BTreeMap::new();
    for kind in ["seeds", "regressions"] {
        for input in files_under(&fuzz_dir().join(kind).join("results_file")) {
            let path = scratch.join("results.json");
            std::fs::copy(&input, &path).unwrap();
            let (code, err) = run(Command::new(env!("CARGO_BIN_EXE_ufl-oracle"))
                .arg("check")
                .arg("--cases")
                .arg(&case_file)
                .arg("--results")
                .arg(&path));
            assert!(
                matches!(code, Some(0..=2)) && !err.contains("panicked"),
                "{}: exit {code:?}\n{err}",
                input.display()
            );
            exits.insert(
                input.file_name().unwrap().to_string_lossy().into_owned(),
                code,
            );
        }
    }
    // The seeds whose verdicts are known: the oracle's own answers pass, a missing or wrong
    // result is a verified failure, a result for no case of the set is a warning (its other
    // results decide).
    for (seed, expected) in [
        ("oracle-answers", 0),
        ("one-skipped", 0),
        ("one-missing", 1),
        ("nan-loss", 1),
        ("empty", 1),
        ("unknown-id", 0),
    ] {
        assert_eq!(exits.get(seed), Some(&Some(expected)), "seed {seed}");
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

/// Writes the results-file seeds (`fuzz/seeds/results_file/`) from the oracle's own answers
/// on the results case set (`fuzzing::readers::results_case_set`): run by hand when that set
/// changes, `cargo test --test fuzz_regressions -- --ignored write_the_results_file_seeds`.
/// `oracle-answers` is the float64 evaluator's answer to every case (the reference's error
/// where it raises); the others differ from it by one thing each: `one-missing` lacks the
/// first case, `one-skipped` skips it, `nan-loss` has a NaN first loss entry for the third, `unknown-id`
/// adds a result for no case, and `empty` has no results.
#[test]
#[ignore = "writes the committed seeds; run by hand when the results case set changes"]
fn write_the_results_file_seeds() {
    use serde_json::{json, Value};
    let set = harness::readers::results_case_set();
    let answers: Vec<Value> = set
        .cases
        .iter()
        .map(|case| match case.problem.evaluate() {
            Ok(e) => json!({"id": case.id, "loss": e.loss, "grad": e.grad}),
            Err(error) => json!({"id": case.id, "error": error.to_string()}),
        })
        .collect();
    let file = |cases: Vec<Value>| {
        let results = json!({
            "format": "ufl-results/1",
            "backend": {"name": "fuzz seed", "precision": "float32"},
            "cases": cases,
        });
        serde_json::to_string_pretty(&results).expect("JSON") + "\n"
    };
    let mut one_skipped = answers.clone();
    one_skipped[0] = json!({"id": answers[0]["id"], "skip": "not implemented"});
    let mut nan_loss = answers.clone();
    nan_loss[2]["loss"][0] = json!("NaN");
    let mut unknown_id = answers.clone();
    unknown_id.push(json!({"id": "no-such-case", "loss": 0.5, "grad": [0.0]}));
    let seeds = [
        ("oracle-answers", answers.clone()),
        ("one-missing", answers[1..].to_vec()),
        ("one-skipped", one_skipped),
        ("nan-loss", nan_loss),
        ("unknown-id", unknown_id),
        ("empty", Vec::new()),
    ];
    let dir = fuzz_dir().join("seeds/results_file");
    for (name, cases) in seeds {
        std::fs::write(dir.join(name), file(cases)).expect("a writable seed");
    }
}
