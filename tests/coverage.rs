//! Every (function, convention) says in the registry where it is checked beyond its own
//! evaluator (`registry::Coverage`): recorded fixtures, the fast path, the test backends, a
//! special-case property. This test holds each statement against the crate, both ways: a check
//! stated but absent fails, and a check present but stated absent fails too (the statement is
//! then out of date). Adding a function or a convention without saying where it is checked
//! does not compile; saying it wrongly fails here.

mod backends;

use std::collections::BTreeMap;
use std::path::PathBuf;
use ufl_oracle::cases::{default_cases, Case, DEFAULT_SEED};
use ufl_oracle::harness::Response;
use ufl_oracle::registry::{Checked, SpecialCase};
use ufl_oracle::{fast, fixtures, Convention, FunctionId, FUNCTIONS};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Fixture cases per (function, convention).
fn fixture_counts() -> BTreeMap<(FunctionId, Convention), usize> {
    let mut counts = BTreeMap::new();
    let files = fixtures::collect(&[root().join("fixtures")])
        .expect("the fixtures folder is readable")
        .files;
    for file in files {
        for case in fixtures::read(&file).expect("a fixture file").cases {
            *counts.entry((case.function, case.convention)).or_default() += 1;
        }
    }
    counts
}

/// Judges one statement: `present` is what the crate does.
fn judge(
    what: &str,
    function: FunctionId,
    convention: Convention,
    stated: Checked,
    present: usize,
    problems: &mut Vec<String>,
) {
    match stated {
        Checked::Yes if present == 0 => problems.push(format!(
            "{function} / {convention}: stated {what}, but there is none"
        )),
        Checked::No(why) if present > 0 => problems.push(format!(
            "{function} / {convention}: stated not {what} ({why}), but {present} cases are"
        )),
        _ => {}
    }
}

/// The body of the test function `name` in `source`, if there is one.
fn test_body<'a>(source: &'a str, name: &str) -> Option<&'a str> {
    let start = source.find(&format!("#[test]\nfn {name}()"))?;
    let rest = &source[start..];
    let end = rest[1..].find("\n#[test]").map_or(rest.len(), |e| e + 1);
    Some(&rest[..end])
}

#[test]
fn every_coverage_statement_holds() {
    let fixtures = fixture_counts();
    let cases = default_cases(DEFAULT_SEED);
    let special = std::fs::read_to_string(root().join("tests/special_cases.rs"))
        .expect("tests/special_cases.rs");
    let mut problems = Vec::new();
    let mut statements = 0;
    for f in FUNCTIONS {
        for signature in f.signatures {
            let (function, convention) = (f.id, signature.convention);
            let coverage = signature.coverage;
            let mine: Vec<&Case> = cases
                .iter()
                .filter(|c| c.problem.function == function && c.problem.convention == convention)
                .collect();
            assert!(
                !mine.is_empty(),
                "{function} / {convention}: no default case"
            );
            let recorded = fixtures.get(&(function, convention)).copied().unwrap_or(0);
            judge(
                "recorded in fixtures/",
                function,
                convention,
                coverage.fixtures,
                recorded,
                &mut problems,
            );
            let fast = mine.iter().filter(|c| fast::covers(&c.problem)).count();
            judge(
                "answered by the fast path",
                function,
                convention,
                coverage.fast_path,
                fast,
                &mut problems,
            );
            let implemented = mine
                .iter()
                .filter(|c| {
                    matches!(
                        backends::run(c, &backends::Knobs::PLAIN),
                        Response::Output { .. }
                    )
                })
                .count();
            judge(
                "implemented by the test backends",
                function,
                convention,
                coverage.test_backends,
                implemented,
                &mut problems,
            );
            if let SpecialCase::Property(name) = coverage.special_case {
                let variant = format!("{function:?}");
                let convention_path = format!("Convention::{convention:?}");
                match test_body(&special, name) {
                    None => problems.push(format!(
                        "{function} / {convention}: the property `{name}` is not a test of tests/special_cases.rs"
                    )),
                    Some(body) if !body.contains(&variant) || !body.contains(&convention_path) => {
                        problems.push(format!(
                            "{function} / {convention}: the property `{name}` names no {variant} in {convention_path}"
                        ))
                    }
                    Some(_) => {}
                }
            }
            statements += 4;
        }
    }
    println!("{statements} coverage statements checked");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_wrong_statement_is_caught_both_ways() {
    let mut problems = Vec::new();
    let (f, c) = (FunctionId::DiceLoss, Convention::Original);
    judge("x", f, c, Checked::Yes, 0, &mut problems);
    judge("x", f, c, Checked::No("because"), 3, &mut problems);
    judge("x", f, c, Checked::Yes, 3, &mut problems);
    judge("x", f, c, Checked::No("because"), 0, &mut problems);
    assert_eq!(problems.len(), 2, "{problems:?}");
    let source = "#[test]\nfn a() {\n    Convention::Paper; DiceLoss\n}\n\n#[test]\nfn b() {}\n";
    assert!(test_body(source, "a").unwrap().contains("DiceLoss"));
    assert!(!test_body(source, "b").unwrap().contains("DiceLoss"));
    assert!(test_body(source, "c").is_none());
}
