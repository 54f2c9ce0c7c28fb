//! Checking the oracle against recorded reference outputs (fixtures), case by case.
//!
//! Tolerances:
//!
//! - **float64 cases**: loss entries to `1e-10·max|loss|`, gradient entries to
//!   `1e-9·max|grad|` (the reference's own float64 rounding is ~1e-16; these leave room for its
//!   different summation order and nothing else) — except where the float64 error bound of the
//!   same expressions (`Bounded<53>`, times `tolerance::safety_factor`) is larger: a cancellation in the
//!   reference's own float64 arithmetic (`1 - TI` with `TI` within 1e-7 of 1 loses 7 of its 16
//!   digits) is not something any float64 implementation can match to 1e-10.
//! - **float32 cases**: the reference computed in float32, the oracle in f64 on the same values.
//!   Each output entry gets the first-order bound `e` of a float32 evaluation of the same
//!   expressions (`bound.rs`: `u = 2⁻²⁴` per operation, sums bounded for any order), and passes
//!   when `|reference - oracle| ≤ s·e`, with the safety factor `s` of
//!   `tolerance::safety_factor` (the tolerance model of `tolerance.rs`). An entry
//!   whose bound reaches its own magnitude is *undetermined* in float32: if the reference
//!   disagrees there (a NaN from `0·∞`, an infinite derivative), the case is an expected
//!   deviation of kind [`DeviationKind::Float32Undetermined`], reported with its reason, never a
//!   silent pass.
//!
//! Error cases pass when the oracle refuses with the error standing for the reference's
//! exception (same type, identifying message). A case the oracle cannot evaluate for reasons of
//! its own (an unknown parameter, a value outside [0, 1]) is *unusable*, not a pass.

use crate::conformance::tolerance::{compare, describe_bad, Declared, Precision, Tolerances};
use crate::protocol::fixtures::{Expected, FixtureCase};
use crate::spec::error::UflError;
use crate::spec::tensor::Dtype;
use std::collections::BTreeMap;

/// Why a case may deviate from its reference without the oracle being wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviationKind {
    /// The reference computed in float32 and some disagreeing entry is not determined by float32.
    Float32Undetermined,
}

impl DeviationKind {
    pub const ALL: [DeviationKind; 1] = [DeviationKind::Float32Undetermined];

    pub fn name(self) -> &'static str {
        match self {
            DeviationKind::Float32Undetermined => "float32-undetermined",
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            DeviationKind::Float32Undetermined => {
                "float32 cannot determine this output: the rounding-error bound of an intermediate \
                 (1 - TI with TI within a few ulps of 1) reaches its value, so a float32 \
                 implementation may round it to exactly 0 and then return 0·∞ = NaN or an infinite \
                 derivative, where the exact value is finite"
            }
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// The outcome of one case.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Matched; `used` is the largest |difference| / tolerance over its entries (0 for errors).
    Pass { used: f64 },
    /// Differs for a documented reason.
    Deviation { kind: DeviationKind, detail: String },
    /// Differs: the oracle or the reference is wrong.
    Mismatch { detail: String },
    /// Could not be checked.
    Unusable { detail: String },
}

/// One case's verdict with what identifies it.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseReport {
    pub id: String,
    pub function: String,
    pub dtype: Dtype,
    pub verdict: Verdict,
}

/// The fixture tolerances of a case: every entry against `s·e` of the error bound of the
/// reference's own precision (see the module documentation).
fn fixture_tolerances(case: &FixtureCase) -> Result<Tolerances, UflError> {
    let precision = match case.dtype {
        Dtype::F64 => Precision::F64,
        Dtype::F32 => Precision::F32,
    };
    case.problem()?.tolerances(Declared::uniform(precision))
}

/// Checks one case against the oracle.
pub fn verify_case(case: &FixtureCase) -> CaseReport {
    let verdict = verdict(case);
    CaseReport {
        id: case.id.clone(),
        function: case.function_name.clone(),
        dtype: case.dtype,
        verdict,
    }
}

fn unusable(e: &UflError) -> Verdict {
    Verdict::Unusable {
        detail: format!("the oracle cannot evaluate this case: {e}"),
    }
}

fn verdict(case: &FixtureCase) -> Verdict {
    let problem = match case.problem() {
        Ok(p) => p,
        Err(e) => return unusable(&e),
    };
    let result = problem.evaluate();
    match (&case.expected, result) {
        (Expected::Inputs, _) => Verdict::Unusable {
            detail: "the case records no reference output (a case file, not a fixture)".to_string(),
        },
        (Expected::Error(recorded), Err(e)) => {
            if e.matches_recorded(recorded) {
                Verdict::Pass { used: 0.0 }
            } else if e.reference_exception().is_none() {
                unusable(&e)
            } else {
                Verdict::Mismatch { detail: format!("the reference raised `{recorded}`; the oracle raises a different error: {e}") }
            }
        }
        (Expected::Error(recorded), Ok(ev)) => Verdict::Mismatch {
            detail: format!(
                "the reference raised `{recorded}`; the oracle computed loss {:?}",
                ev.loss
            ),
        },
        (Expected::Value { .. }, Err(e)) => {
            if e.reference_exception().is_none() {
                unusable(&e)
            } else {
                Verdict::Mismatch {
                    detail: format!("the reference returned a value; the oracle raises: {e}"),
                }
            }
        }
        (
            Expected::Value {
                loss,
                loss_shape,
                grad,
            },
            Ok(ev),
        ) => {
            if *loss_shape != ev.loss_shape {
                return Verdict::Mismatch {
                    detail: format!(
                        "loss shape: reference {loss_shape:?}, oracle {:?}",
                        ev.loss_shape
                    ),
                };
            }
            let tol = match fixture_tolerances(case) {
                Ok(t) => t,
                Err(e) => return unusable(&e),
            };
            let mut used: f64 = 0.0;
            let mut undetermined = Vec::new();
            let mut problems = Vec::new();
            let mut outputs = vec![(
                "loss",
                loss_shape.as_slice(),
                loss.as_slice(),
                ev.loss.as_slice(),
                tol.loss.as_slice(),
            )];
            if let Some(g) = grad {
                outputs.push((
                    "grad",
                    case.shape.as_slice(),
                    g.as_slice(),
                    ev.grad.as_slice(),
                    tol.grad.as_slice(),
                ));
            }
            for (name, shape, reference, got, tol) in outputs {
                let c = compare(reference, got, tol);
                used = used.max(c.used);
                undetermined.extend(c.undetermined.iter().map(|&i| {
                    format!(
                        "{name}[{i}]: reference {:e}, oracle {:e}",
                        reference[i], got[i]
                    )
                }));
                if !c.bad.is_empty() {
                    problems.push(describe_bad(name, shape, reference, got, tol, &c.bad));
                }
            }
            if !problems.is_empty() {
                Verdict::Mismatch {
                    detail: problems.join(" | "),
                }
            } else if !undetermined.is_empty() {
                let n = undetermined.len();
                let mut detail = undetermined
                    .into_iter()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join("; ");
                if n > 3 {
                    detail.push_str(&format!("; {} more", n - 3));
                }
                Verdict::Deviation {
                    kind: DeviationKind::Float32Undetermined,
                    detail,
                }
            } else {
                Verdict::Pass { used }
            }
        }
    }
}

/// Counts per function name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    pub pass: usize,
    pub deviation: usize,
    pub mismatch: usize,
    pub unusable: usize,
    /// Largest fraction of the tolerance used by a passing float32 case.
    pub worst_f32_used: f64,
    /// Largest fraction of the tolerance used by a passing float64 case.
    pub worst_f64_used: f64,
}

/// Tallies reports by function, in name order.
pub fn tally(reports: &[CaseReport]) -> BTreeMap<String, Tally> {
    let mut out: BTreeMap<String, Tally> = BTreeMap::new();
    for r in reports {
        let t = out.entry(r.function.clone()).or_default();
        match &r.verdict {
            Verdict::Pass { used } => {
                t.pass += 1;
                match r.dtype {
                    Dtype::F32 => t.worst_f32_used = t.worst_f32_used.max(*used),
                    Dtype::F64 => t.worst_f64_used = t.worst_f64_used.max(*used),
                }
            }
            Verdict::Deviation { .. } => t.deviation += 1,
            Verdict::Mismatch { .. } => t.mismatch += 1,
            Verdict::Unusable { .. } => t.unusable += 1,
        }
    }
    out
}

/// Formats the per-function tally as a table.
pub fn tally_table(reports: &[CaseReport]) -> String {
    let mut s = format!(
        "{:<30} {:>5} {:>9} {:>8} {:>8} {:>9} {:>9}\n",
        "function", "pass", "deviation", "mismatch", "unusable", "f32 used", "f64 used"
    );
    let mut total = Tally::default();
    for (name, t) in tally(reports) {
        s.push_str(&format!(
            "{:<30} {:>5} {:>9} {:>8} {:>8} {:>9.3} {:>9.3}\n",
            name, t.pass, t.deviation, t.mismatch, t.unusable, t.worst_f32_used, t.worst_f64_used
        ));
        total.pass += t.pass;
        total.deviation += t.deviation;
        total.mismatch += t.mismatch;
        total.unusable += t.unusable;
        total.worst_f32_used = total.worst_f32_used.max(t.worst_f32_used);
        total.worst_f64_used = total.worst_f64_used.max(t.worst_f64_used);
    }
    s.push_str(&format!(
        "{:<30} {:>5} {:>9} {:>8} {:>8} {:>9.3} {:>9.3}\n",
        "total",
        total.pass,
        total.deviation,
        total.mismatch,
        total.unusable,
        total.worst_f32_used,
        total.worst_f64_used
    ));
    s
}

/// A list of expected deviations: case id, kind, and the reason in words.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpectedDeviation {
    pub id: String,
    pub kind: DeviationKind,
    pub reason: String,
}

/// The format tag of deviation lists.
pub const DEVIATIONS_FORMAT: &str = "ufl-deviations/1";

/// A deviation list as written: a closed format (unknown and repeated keys are refused).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviationList {
    format: String,
    /// What the list is, for its readers.
    #[serde(default, rename = "about")]
    _about: Option<String>,
    deviations: Vec<DeviationEntry>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviationEntry {
    id: String,
    kind: String,
    reason: String,
}

/// Parses a deviation list: `{"format": "ufl-deviations/1", "deviations": [{"id", "kind", "reason"}]}`.
pub fn parse_deviations(text: &str, source: &str) -> Result<Vec<ExpectedDeviation>, UflError> {
    let bad = |m: String| UflError::Format {
        context: source.to_string(),
        message: m,
    };
    if text.starts_with('\u{feff}') {
        return Err(crate::protocol::files::bom_error(source));
    }
    let list: DeviationList = serde_json::from_str(text).map_err(|e| UflError::Json {
        context: source.to_string(),
        message: e.to_string(),
    })?;
    if list.format != DEVIATIONS_FORMAT {
        return Err(bad(format!("format must be \"{DEVIATIONS_FORMAT}\"")));
    }
    let mut seen = std::collections::HashSet::new();
    list.deviations
        .into_iter()
        .map(|d| {
            if !seen.insert(d.id.clone()) {
                return Err(bad(format!(
                    "case {} is listed twice",
                    crate::protocol::files::shorten(&d.id)
                )));
            }
            Ok(ExpectedDeviation {
                kind: DeviationKind::parse(&d.kind).ok_or_else(|| {
                    bad(format!(
                        "unknown deviation kind `{}`",
                        crate::protocol::files::shorten(&d.kind)
                    ))
                })?,
                id: d.id,
                reason: d.reason,
            })
        })
        .collect()
}

/// Compares the deviations found with a list: every deviation must be listed with its kind,
/// and every listed case must deviate (a listed deviation that stopped deviating is an error).
/// Returns the discrepancies, empty when the list is exact.
pub fn reconcile(reports: &[CaseReport], list: &[ExpectedDeviation]) -> Vec<String> {
    let mut problems = Vec::new();
    let by_id: BTreeMap<&str, &CaseReport> = reports.iter().map(|r| (r.id.as_str(), r)).collect();
    for d in list {
        match by_id.get(d.id.as_str()).map(|r| &r.verdict) {
            None => problems.push(format!(
                "listed deviation {} is not among the cases checked",
                d.id
            )),
            Some(Verdict::Deviation { kind, .. }) if *kind == d.kind => {}
            Some(v) => problems.push(format!(
                "listed deviation {} ({}) now gives {v:?}",
                d.id,
                d.kind.name()
            )),
        }
    }
    for r in reports {
        if let Verdict::Deviation { kind, .. } = &r.verdict {
            if !list.iter().any(|d| d.id == r.id && d.kind == *kind) {
                problems.push(format!("unlisted deviation {} ({})", r.id, kind.name()));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use crate::conformance::tolerance::{check_entry as check, EntryCheck, EntryTolerance};

    fn check_entry(reference: f64, got: f64, tol: f64, undetermined: bool) -> EntryCheck {
        check(
            reference,
            got,
            EntryTolerance {
                tol,
                undetermined,
                lost: false,
            },
        )
    }

    #[test]
    fn an_entry_passes_only_within_a_finite_tolerance() {
        assert_eq!(check_entry(1.0, 1.5, 1.0, false), EntryCheck::Ok(0.5));
        assert_eq!(check_entry(1.0, 2.0, 1e-10, false), EntryCheck::Bad);
        // Undetermined with a finite bound: still compared against it.
        assert_eq!(check_entry(1.0, 2.0, 1e-10, true), EntryCheck::Bad);
        assert_eq!(
            check_entry(f64::NAN, 2.0, 1e-10, true),
            EntryCheck::Undetermined
        );
        assert_eq!(
            check_entry(f64::NAN, f64::NAN, 1e-10, false),
            EntryCheck::Ok(0.0)
        );
        assert_eq!(check_entry(f64::NAN, 1.0, 1e-10, false), EntryCheck::Bad);
        // An unbounded tolerance is no check: a disagreement there is never a silent pass.
        assert_eq!(
            check_entry(0.0, 5.0, f64::INFINITY, true),
            EntryCheck::Undetermined
        );
        assert_eq!(check_entry(0.0, 5.0, f64::INFINITY, false), EntryCheck::Bad);
        assert_eq!(
            check_entry(f64::INFINITY, 5.0, f64::INFINITY, true),
            EntryCheck::Undetermined
        );
        assert_eq!(
            check_entry(5.0, 5.0, f64::INFINITY, true),
            EntryCheck::Ok(0.0)
        );
    }
}
