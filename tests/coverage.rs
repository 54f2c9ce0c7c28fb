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

/// Whether `body` names `word` as a whole identifier (`TverskyLoss` is not named by
/// `SymmetricFocalTverskyLoss`).
fn names(body: &str, word: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    body.match_indices(word).any(|(i, _)| {
        !body[..i].chars().next_back().is_some_and(ident)
            && !body[i + word.len()..].chars().next().is_some_and(ident)
    })
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
                    Some(body) if !names(body, &variant) || !names(body, &convention_path) => {
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
    assert!(names(source, "DiceLoss") && !names(source, "Dice") && !names(source, "Loss"));
    assert!(!names("SymmetricFocalTverskyLoss", "TverskyLoss"));
    assert!(test_body(source, "a").unwrap().contains("DiceLoss"));
    assert!(!test_body(source, "b").unwrap().contains("DiceLoss"));
    assert!(test_body(source, "c").is_none());
}

/// Every parameter of every (function, convention) says how generated cases draw it
/// (`registry::Sample`), and `cases::build` reads nothing else: what it draws is accepted by
/// the registry's own validation, a parameter with a draw is drawn away from its default, and
/// one left at its default is never written.
#[test]
fn every_parameter_is_drawn_as_its_registry_entry_says() {
    use ufl_oracle::cases::{build, draw_params, Draw, Rng};
    use ufl_oracle::params::{resolve, ParamValue};
    use ufl_oracle::registry::{Default, Sample};
    let default_value = |d: Default| match d {
        Default::Real(x) => ParamValue::Number(x),
        Default::Int(i) => ParamValue::Number(i as f64),
        Default::Null => ParamValue::Null,
        Default::Bool(b) => ParamValue::Bool(b),
        Default::Word(w) => ParamValue::Text(w.to_string()),
    };
    for (f, spec) in FUNCTIONS.iter().enumerate() {
        for (k, signature) in spec.signatures.iter().enumerate() {
            let mut rng = Rng::new(f as u64 * 31 + k as u64);
            for p in signature.params {
                let mut away_from_default = false;
                for round in 0..200 {
                    let classes = 1 + round % 5;
                    let params = draw_params(signature.params, classes, &mut rng);
                    match (p.sample, params.get(p.name)) {
                        (Sample::Default(why), drawn) => {
                            assert!(!why.is_empty(), "{} {}", spec.name, p.name);
                            assert_eq!(drawn, None, "{} {} has no draw", spec.name, p.name);
                        }
                        (_, Some(v)) => away_from_default |= *v != default_value(p.default),
                        (_, None) => {}
                    }
                }
                if !matches!(p.sample, Sample::Default(_)) {
                    assert!(away_from_default, "{} {}: never drawn", spec.name, p.name);
                }
            }
            // Built problems resolve: every drawn value is in its range and of its kind.
            for params_seed in 0..200u64 {
                let draw = Draw {
                    function: f,
                    convention: k,
                    spatial: vec![2, 3],
                    classes: 1 + params_seed as usize % 5,
                    batch: 1,
                    channels_last: false,
                    float32: false,
                    seed: params_seed,
                    scale: 1.0,
                    params_seed,
                };
                let problem = build(&draw);
                assert_eq!(
                    (problem.function, problem.convention),
                    (spec.id, signature.convention)
                );
                if let Err(e) = resolve(problem.function, problem.convention, &problem.params) {
                    panic!(
                        "{} {}: {:?} is refused: {e}",
                        spec.name, signature.convention, problem.params
                    );
                }
            }
        }
    }
}
