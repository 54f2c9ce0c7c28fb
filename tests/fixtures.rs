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
    let files = fixtures::collect(&[root()]).expect("the fixtures folder is readable");
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
        544 + 247,
        "every shipped case is accounted for"
    );
}
