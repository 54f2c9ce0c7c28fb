//! Checks for the readers of untrusted files: fixture and case files, results files written by
//! backends, `.npy` arrays and JSON arrays. Each reader must read or refuse without panicking;
//! what it accepts must be consistent (the shape holds the data), and a fixture case the
//! verifier passes, or a backend result the harness passes, must really have been checked.

use super::Finding;
use crate::conformance::cases::{edge_cases, random_cases, Case};
use crate::conformance::harness::{Expectation, Harness, Response, Verdict as CaseVerdict};
use crate::conformance::results::{case_from_file, check_results_match, parse_results};
use crate::conformance::tolerance::{Declared, EntryTolerance};
use crate::conformance::verify::{verify_case, Verdict};
use crate::protocol::fixtures::{self, Expected, FixtureCase};
use crate::protocol::io::{json_number, parse_json_array, read_npy_bytes};
use crate::spec::tensor::element_count;
use crate::spec::tensor::{Dtype, Tensor};
use std::sync::OnceLock;

/// At most this many cases of one fuzzed fixture file are verified (each is an evaluation).
const CASES_VERIFIED: usize = 4;

/// Fixture text: parsed or refused; every case the verifier passes was checked entry by entry.
pub fn fixture_file(data: &[u8]) -> Result<(), Finding> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let Ok(file) = fixtures::parse(text, "fuzz") else {
        return Ok(());
    };
    for case in file.cases.iter().take(CASES_VERIFIED) {
        // The same file read as a case file (`ufl-oracle check`): the case keeps its id.
        if let Ok(c) = case_from_file(case) {
            if c.id != case.id {
                return Err(format!("case {} read as a case named {}", case.id, c.id));
            }
        }
        let report = verify_case(case);
        if let Verdict::Pass { .. } = report.verdict {
            pass_was_verified(case)?;
        }
    }
    Ok(())
}

/// A passing case: the oracle gave the recorded error, or a value whose every entry was
/// compared (both NaN, equal, or both finite, so that a tolerance was applied to a difference).
fn pass_was_verified(case: &FixtureCase) -> Result<(), Finding> {
    let answer = case.problem().and_then(|p| p.evaluate());
    match (&case.expected, answer) {
        (Expected::Error(recorded), Err(e)) if e.matches_recorded(recorded) => Ok(()),
        (Expected::Error(recorded), other) => Err(format!(
            "case {} passed, but the reference raised `{recorded}` and the oracle gives {other:?}",
            case.id
        )),
        (Expected::Value { .. }, Err(e)) => Err(format!(
            "case {} passed, but the oracle refuses it: {e}",
            case.id
        )),
        (Expected::Inputs, _) => Err(format!(
            "case {} passed, but it records no reference output to pass against",
            case.id
        )),
        (
            Expected::Value {
                loss,
                loss_shape,
                grad,
            },
            Ok(ev),
        ) => {
            if *loss_shape != ev.loss_shape {
                return Err(format!(
                    "case {} passed with loss shape {loss_shape:?} against the oracle's {:?}",
                    case.id, ev.loss_shape
                ));
            }
            entries_compared(&case.id, "loss", loss, &ev.loss)?;
            if let Some(g) = grad {
                entries_compared(&case.id, "grad", g, &ev.grad)?;
            }
            Ok(())
        }
    }
}

fn entries_compared(id: &str, name: &str, reference: &[f64], got: &[f64]) -> Result<(), Finding> {
    if reference.len() != got.len() {
        return Err(format!(
            "case {id} passed with {} {name} entries against the oracle's {}",
            reference.len(),
            got.len()
        ));
    }
    for (i, (&r, &g)) in reference.iter().zip(got).enumerate() {
        let compared = (r.is_nan() && g.is_nan()) || r == g || (r.is_finite() && g.is_finite());
        if !compared {
            return Err(format!(
                "case {id} passed, but {name}[{i}] is {r:e} in the reference and {g:e} in the oracle"
            ));
        }
    }
    Ok(())
}

/// `.npy` bytes: read or refused; what is read fills its shape, and float32 files give float32
/// values.
pub fn npy_file(data: &[u8]) -> Result<(), Finding> {
    let Ok((tensor, dtype)) = read_npy_bytes(data, "fuzz", "prediction") else {
        return Ok(());
    };
    holds_its_shape(&tensor)?;
    if dtype == Dtype::F32 {
        if let Some(x) = tensor
            .data
            .iter()
            .find(|x| !x.is_nan() && Dtype::F32.round(**x) != **x)
        {
            return Err(format!("a float32 file gave the non-float32 value {x:e}"));
        }
    }
    Ok(())
}

/// JSON array text: read or refused; what is read fills its shape and survives the round trip
/// through the `{"shape", "data"}` form the oracle writes, bit for bit.
pub fn json_array(data: &[u8]) -> Result<(), Finding> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let Ok(tensor) = parse_json_array(text, "fuzz", "prediction") else {
        return Ok(());
    };
    holds_its_shape(&tensor)?;
    let written = serde_json::json!({
        "shape": tensor.shape,
        "data": tensor.data.iter().map(|&x| json_number(x)).collect::<Vec<_>>(),
    })
    .to_string();
    let back = parse_json_array(&written, "round trip", "prediction")
        .map_err(|e| format!("the oracle cannot read what it writes: {e}\n{written}"))?;
    let same = back.shape == tensor.shape
        && back.data.len() == tensor.data.len()
        && back
            .data
            .iter()
            .zip(&tensor.data)
            .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
    if !same {
        return Err(format!(
            "round trip changed the array: {:?} {:?} became {:?} {:?}",
            tensor.shape, tensor.data, back.shape, back.data
        ));
    }
    Ok(())
}

fn holds_its_shape(tensor: &Tensor) -> Result<(), Finding> {
    match element_count("array", &tensor.shape) {
        Ok(n) if n == tensor.data.len() => Ok(()),
        other => Err(format!(
            "accepted shape {:?} with {} values ({other:?})",
            tensor.shape,
            tensor.data.len()
        )),
    }
}

/// The cases a fuzzed results file answers, prepared once per process for a float32 backend:
/// a fixed draw of small random cases (several functions, all three conventions), a case on
/// which the reference raises, and MONAI's strict clamp with inputs on its bounds.
pub struct ResultsCaseSet {
    /// The cases, as a results file is checked against them.
    pub cases: Vec<Case>,
    /// The same cases with the oracle's answers and tolerances.
    pub harness: Harness,
}

/// The [`ResultsCaseSet`], built on first use.
pub fn results_case_set() -> &'static ResultsCaseSet {
    static SET: OnceLock<ResultsCaseSet> = OnceLock::new();
    SET.get_or_init(|| {
        let declared = Declared::F32;
        let mut cases = random_cases(RESULTS_CASE_SEED, RESULTS_RANDOM_CASES);
        cases.extend(
            edge_cases()
                .into_iter()
                .filter(|c| RESULTS_EDGE_CASES.contains(&c.id.as_str())),
        );
        ResultsCaseSet {
            harness: without_diagnosis(Harness::new(cases.clone(), declared)),
            cases,
        }
    })
}

/// Verdicts are what the results target checks; explanations would only slow it.
fn without_diagnosis(mut harness: Harness) -> Harness {
    harness.diagnose = false;
    harness
}

/// The seed and size of the random part of [`results_case_set`].
pub const RESULTS_CASE_SEED: u64 = 6;
pub const RESULTS_RANDOM_CASES: usize = 8;
/// Its edge cases, by id.
pub const RESULTS_EDGE_CASES: &[&str] = &[
    "edge/combo_loss/original/2x3x3x3/softmax/default",
    "edge/asym_unified_focal_loss/monai/1x1x4x4/bounds/default",
];

/// Results-file text (`ufl-oracle check`): parsed or refused with a typed error; when accepted
/// against the case set, every verdict is backed by what the file says: a case without a result
/// fails, a pass compared every entry within its tolerance, an expected error is an error the
/// reference raises too, and a clean report means every case was answered.
pub fn results_file(data: &[u8]) -> Result<(), Finding> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let Ok(results) = parse_results(text, "fuzz", None) else {
        return Ok(());
    };
    let ResultsCaseSet { cases, harness } = results_case_set();
    let Ok(unknown) = check_results_match(&results, cases) else {
        return Ok(());
    };
    // Accepted: every gradient has the prediction's length; results for cases outside the set
    // are listed, and exactly those.
    for (id, response) in &results.responses {
        let Some(case) = cases.iter().find(|c| &c.id == id) else {
            if !unknown.contains(id) {
                return Err(format!("a result for the unknown case {id} was not listed"));
            }
            continue;
        };
        if unknown.contains(id) {
            return Err(format!(
                "the result for the known case {id} was listed as unknown"
            ));
        }
        if let Response::Output { grad, .. } = response {
            if grad.len() != case.problem.pred.data.len() {
                return Err(format!(
                    "a gradient of {} entries for {id} was accepted; the prediction has {}",
                    grad.len(),
                    case.problem.pred.data.len()
                ));
            }
        }
    }
    let report = harness.run(|case| results.response_for(&case.id));
    if report.results.len() != cases.len() {
        return Err(format!(
            "{} verdicts for {} cases",
            report.results.len(),
            cases.len()
        ));
    }
    for (e, verdict) in harness
        .expectations()
        .iter()
        .zip(report.results.iter().map(|r| &r.verdict))
    {
        verdict_is_backed(e, results.responses.get(&e.case.id), verdict)
            .map_err(|what| format!("case {}: {what}", e.case.id))?;
    }
    let answered = results.responses.len() - unknown.len();
    if report.is_ok() && answered != cases.len() {
        return Err(format!(
            "a clean report from {answered} results for {} cases",
            cases.len()
        ));
    }
    if report.is_ok() && report.tally().compared() == 0 {
        return Err("a clean report that compared nothing".into());
    }
    Ok(())
}

/// The verdict on one case follows from the response, the oracle's answer and the tolerances,
/// checked here entry by entry without the harness's comparison code.
fn verdict_is_backed(
    e: &Expectation,
    response: Option<&Response>,
    verdict: &CaseVerdict,
) -> Result<(), Finding> {
    let output = match response {
        None if matches!(verdict, CaseVerdict::Fail { .. } | CaseVerdict::Unusable(_)) => {
            return Ok(())
        }
        None => return Err(format!("no result, yet the verdict is {verdict:?}")),
        Some(Response::Missing) => return Err("the file gave a `Missing` response".into()),
        Some(Response::Output { loss, grad }) => Some((loss, grad)),
        Some(_) => None,
    };
    let oracle_refuses = matches!(&e.answer, Err(err) if err.reference_exception().is_none());
    // An output of the wrong shape is unusable input, as the oracle refusing the case is.
    let wrong_shape = match (&e.answer, output) {
        (Ok(a), Some((loss, grad))) => loss.len() != a.loss.len() || grad.len() != a.grad.len(),
        _ => false,
    };
    if (oracle_refuses || wrong_shape) != matches!(verdict, CaseVerdict::Unusable(_)) {
        return Err(format!("{verdict:?} where the oracle gives {:?}", e.answer));
    }
    match verdict {
        CaseVerdict::Fail { .. } | CaseVerdict::Unusable(_) => Ok(()),
        CaseVerdict::Skipped(_) => match response {
            Some(Response::Skip(_)) => Ok(()),
            other => Err(format!("skipped on the response {other:?}")),
        },
        CaseVerdict::ExpectedError => match (response, &e.answer) {
            (Some(Response::Error(_)), Err(err)) if err.reference_exception().is_some() => Ok(()),
            (other, answer) => Err(format!(
                "an expected error from the response {other:?} where the oracle gives {answer:?}"
            )),
        },
        CaseVerdict::Pass { .. } | CaseVerdict::Undetermined { .. } => {
            let Some((loss, grad)) = output else {
                return Err(format!("{verdict:?} without an output"));
            };
            let (Ok(answer), Some(tol)) = (&e.answer, &e.tolerances) else {
                return Err(format!(
                    "{verdict:?} where the oracle gives no bounded value"
                ));
            };
            let pass = matches!(verdict, CaseVerdict::Pass { .. });
            entries_within("loss", &answer.loss, loss, &tol.loss, pass)?;
            entries_within("grad", &answer.grad, grad, &tol.grad, pass)
        }
    }
}

/// Every entry of `got` agrees with `oracle`: NaN where it is NaN, equal, or finite within a
/// finite tolerance; where `pass` is false, an entry may instead be one the declared precision
/// cannot determine and that cannot be compared (its tolerance is not finite, or one side is not
/// finite).
fn entries_within(
    name: &str,
    oracle: &[f64],
    got: &[f64],
    tol: &[EntryTolerance],
    pass: bool,
) -> Result<(), Finding> {
    if oracle.len() != got.len() || tol.len() != oracle.len() {
        return Err(format!(
            "{name}: {} entries passed against the oracle's {} ({} tolerances)",
            got.len(),
            oracle.len(),
            tol.len()
        ));
    }
    for (i, ((&r, &g), t)) in oracle.iter().zip(got).zip(tol).enumerate() {
        let comparable = r.is_finite() && g.is_finite() && t.tol.is_finite();
        let agree = (r.is_nan() && g.is_nan()) || r == g || (comparable && (r - g).abs() <= t.tol);
        if !agree && (pass || !t.undetermined || comparable) {
            return Err(format!(
                "{name}[{i}]: {g:e} passed against the oracle's {r:e} (tolerance {:e})",
                t.tol
            ));
        }
    }
    Ok(())
}
