//! Every shipped fixture case, checked against the oracle: each must pass or be listed in
//! `fixtures/expected-deviations.json` with its kind and reason, and every listed deviation must
//! still deviate. Prints the per-function tally. `UFL_FIXTURES_VERBOSE=1` lists every verdict.

use std::path::PathBuf;
use ufl_oracle::fixtures;
use ufl_oracle::verify::{
    parse_deviations, reconcile, tally_table, verify_case, CaseReport, Verdict,
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn all_reports() -> Vec<CaseReport> {
    let files = fixtures::collect(&[root()])
        .expect("the fixtures folder is readable")
        .files;
    assert_eq!(
        files.len(),
        6,
        "expected the five original files and the MONAI file: {files:?}"
    );
    let mut reports = Vec::new();
    for f in files {
        let file = fixtures::read(&f).unwrap_or_else(|e| panic!("{e}"));
        reports.extend(file.cases.iter().map(verify_case));
    }
    reports
}

#[test]
fn every_fixture_case_passes_or_is_a_listed_deviation() {
    let reports = all_reports();
    println!("{}", tally_table(&reports));
    let verbose = std::env::var("UFL_FIXTURES_VERBOSE").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    for r in &reports {
        if verbose {
            println!("{} {:?}", r.id, r.verdict);
        }
        match &r.verdict {
            Verdict::Mismatch { detail } | Verdict::Unusable { detail } => {
                failures.push(format!("{}: {detail}", r.id))
            }
            Verdict::Deviation { kind, detail } => {
                println!("deviation {} [{}]: {detail}", r.id, kind.name())
            }
            Verdict::Pass { .. } => {}
        }
    }
    let list_path = root().join("expected-deviations.json");
    let list = parse_deviations(
        &std::fs::read_to_string(&list_path).expect("deviation list"),
        "expected-deviations.json",
    )
    .unwrap();
    failures.extend(reconcile(&reports, &list));
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        reports.len(),
        cases_in_the_files(),
        "every shipped case is accounted for"
    );
}

/// The number of cases the fixture files hold, counted from their JSON text alone (each file's
/// `cases` array), not through the fixture reader: a reader that drops a case is caught.
fn cases_in_the_files() -> usize {
    let mut count = 0;
    for folder in ["original", "monai"] {
        for entry in std::fs::read_dir(root().join(folder)).expect("a fixture folder") {
            let path = entry.expect("a folder entry").path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).expect("a readable fixture file");
                let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
                count += doc["cases"].as_array().expect("a cases array").len();
            }
        }
    }
    count
}

/// Float64 fixtures are judged entry by entry against twice their float64 bound, so a small
/// gradient entry is as checked as a large one: tripling the smallest non-zero gradient entry of
/// any float64 case is a mismatch, except where that entry's own bound admits the change (then
/// the test prints the exception with its bound, and checks the bound really admits it).
#[test]
fn tripling_the_smallest_gradient_entry_of_any_float64_fixture_is_caught() {
    use ufl_oracle::fixtures::Expected;
    use ufl_oracle::tolerance::{Declared, Precision};
    use ufl_oracle::Dtype;
    let files = fixtures::collect(&[root()])
        .expect("the fixtures folder is readable")
        .files;
    let (mut tampered, mut caught, mut exceptions, mut missed) = (0, 0, Vec::new(), Vec::new());
    for f in files {
        let file = fixtures::read(&f).unwrap_or_else(|e| panic!("{e}"));
        for case in file.cases.iter().filter(|c| c.dtype == Dtype::F64) {
            let Expected::Value {
                grad: Some(grad), ..
            } = &case.expected
            else {
                continue;
            };
            let Some((i, &g)) = grad
                .iter()
                .enumerate()
                .filter(|(_, g)| g.is_finite() && **g != 0.0)
                .min_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            else {
                continue;
            };
            if !matches!(verify_case(case).verdict, Verdict::Pass { .. }) {
                continue;
            }
            let mut bad = case.clone();
            if let Expected::Value { grad: Some(gr), .. } = &mut bad.expected {
                gr[i] = 3.0 * g;
            }
            tampered += 1;
            if matches!(verify_case(&bad).verdict, Verdict::Mismatch { .. }) {
                caught += 1;
                continue;
            }
            let tol = case
                .problem()
                .and_then(|p| p.tolerances(Declared::uniform(Precision::F64)))
                .map(|t| t.grad[i].tol)
                .unwrap_or(f64::NAN);
            if (2.0 * g).abs() <= tol {
                exceptions.push(format!("{} grad[{i}] = {g:e}: bound {tol:e}", case.id));
            } else {
                missed.push(format!("{} grad[{i}] = {g:e}: bound {tol:e}", case.id));
            }
        }
    }
    println!(
        "float64 fixtures tampered: {tampered}, caught: {caught}, admitted by their bound: {}",
        exceptions.len()
    );
    for e in &exceptions {
        println!("  admitted: {e}");
    }
    assert!(
        tampered >= 130,
        "too few float64 cases tampered: {tampered}"
    );
    assert!(missed.is_empty(), "not caught:\n{}", missed.join("\n"));
    assert!(
        exceptions.len() * 20 <= tampered,
        "more than 5% admitted: {exceptions:?}"
    );
}
