//! The harness: runs a backend over cases, compares every output with the oracle within the
//! tolerance model, and prints one report.
//!
//! A backend is a closure that, given a [`Case`], returns the loss and the gradient of the sum
//! of the loss entries with respect to the prediction (flat, in the case's layout), an error
//! (for cases on which the reference raises), or a skip with a reason. The harness catches
//! panics, collects every failure, explains each (`diagnose.rs`), and never counts a case it did
//! not check as passed. Cases are handed to the backend in its tensor dtype: float64 for a
//! float64 backend, float32 otherwise (the references' dtype-dependent constants, such as the
//! clip bounds, follow it).
//!
//! Environment: `UFL_ORACLE_TEST` filters cases (`asym,-large`; naming `large` adds that group),
//! `UFL_ORACLE_SEED` seeds the random cases (always printed), `UFL_ORACLE_VERBOSE=1` lists every
//! case's verdict.

use crate::cases::{default_cases, large_cases, seed_from_env, Case, Filter};
use crate::diagnose::explain;
use crate::error::UflError;
use crate::eval::Evaluation;
use crate::tensor::Dtype;
use crate::tolerance::{compare, describe_bad, Declared, Precision, Tolerances};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The variable that filters cases.
pub const FILTER_ENV: &str = "UFL_ORACLE_TEST";
/// The variable that asks for every case's verdict.
pub const VERBOSE_ENV: &str = "UFL_ORACLE_VERBOSE";

/// What a backend returns for a case.
#[derive(Clone, Debug, PartialEq)]
pub enum Response {
    /// The loss entries and the gradient (flat, in the case's layout).
    Output { loss: Vec<f64>, grad: Vec<f64> },
    /// The backend refuses the case (for a case on which the reference raises, that is right).
    Error(String),
    /// The backend does not implement this case.
    Skip(String),
    /// No result was given for this case (file protocol): a failure, never a skip.
    Missing,
}

impl Response {
    /// An output from float32 arrays.
    pub fn from_f32(loss: &[f32], grad: &[f32]) -> Self {
        Response::Output {
            loss: loss.iter().map(|&x| x as f64).collect(),
            grad: grad.iter().map(|&x| x as f64).collect(),
        }
    }
}

/// One case as the harness prepared it: the input in the backend's dtype, the oracle's answer
/// (or the error the reference raises) and the tolerances.
#[derive(Clone, Debug)]
pub struct Expectation {
    pub case: Case,
    pub answer: Result<Evaluation, UflError>,
    pub tolerances: Option<Tolerances>,
}

/// The verdict on one case.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Every entry within tolerance; the largest fraction of a tolerance used.
    Pass { used: f64 },
    /// Every determined entry within tolerance; some entries the declared precision cannot
    /// determine differ (counted, not passed).
    Undetermined { entries: usize },
    /// The reference raises and so did the backend.
    ExpectedError,
    /// Skipped by the backend, with its reason.
    Skipped(String),
    /// Something is wrong; `diagnosis` says what the outputs match instead, when it can.
    Fail {
        detail: String,
        diagnosis: Option<String>,
    },
}

/// One case's result with what identifies it.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseResult {
    pub id: String,
    pub function: String,
    pub convention: String,
    pub params: String,
    pub shape: Vec<usize>,
    pub layout: &'static str,
    pub dtype: &'static str,
    pub seed: Option<u64>,
    pub verdict: Verdict,
}

/// Casts a case into the dtype of a backend's tensors.
fn in_backend_dtype(case: &Case, declared: Declared) -> Case {
    let dtype = if declared.compute == Precision::F64 {
        Dtype::F64
    } else {
        Dtype::F32
    };
    let mut c = case.clone();
    if c.problem.dtype != dtype {
        c.problem.dtype = dtype;
        c.problem
            .pred
            .data
            .iter_mut()
            .for_each(|x| *x = dtype.round(*x));
        c.problem
            .target
            .data
            .iter_mut()
            .for_each(|x| *x = dtype.round(*x));
    }
    c
}

/// Cases with their expectations for one declared precision; reusable for many backends.
pub struct Harness {
    pub declared: Declared,
    pub seed: u64,
    pub filter: String,
    pub verbose: bool,
    expectations: Vec<Expectation>,
}

impl Harness {
    /// Prepares `cases` for a backend declaring `declared`.
    pub fn new(cases: Vec<Case>, declared: Declared) -> Harness {
        let expectations = cases
            .iter()
            .map(|c| {
                let case = in_backend_dtype(c, declared);
                let answer = case.problem.evaluate();
                let tolerances = answer
                    .as_ref()
                    .ok()
                    .and_then(|_| case.problem.tolerances(declared).ok());
                Expectation {
                    case,
                    answer,
                    tolerances,
                }
            })
            .collect();
        Harness {
            declared,
            seed: seed_from_env(),
            filter: String::new(),
            verbose: false,
            expectations,
        }
    }

    /// The default case set (with `large` when the filter names it), filtered and seeded from
    /// the environment. Prints the seed and the filter.
    pub fn from_env(declared: Declared) -> Harness {
        let seed = seed_from_env();
        let spec = std::env::var(FILTER_ENV).unwrap_or_default();
        let filter = Filter::parse(&spec);
        let mut cases = default_cases(seed);
        if filter.include.iter().any(|t| t == "large") {
            cases.extend(large_cases());
        }
        if filter.include.iter().any(|t| t == "f16") {
            cases.extend(crate::cases::float16_cases());
        }
        cases.retain(|c| filter.matches(c));
        println!(
            "ufl-oracle harness: {} cases, random cases seeded {seed} (replay: {}={seed}), filter {FILTER_ENV}={spec:?}",
            cases.len(),
            crate::cases::SEED_ENV
        );
        let mut h = Harness::new(cases, declared);
        h.seed = seed;
        h.filter = spec;
        h.verbose = std::env::var(VERBOSE_ENV).is_ok_and(|v| v == "1");
        h
    }

    pub fn expectations(&self) -> &[Expectation] {
        &self.expectations
    }

    /// Runs `backend` over every case. The first [`DIAGNOSED_FAILURES`] failures are explained.
    pub fn run(&self, backend: impl Fn(&Case) -> Response) -> Report {
        let mut diagnosed = 0;
        let results = self
            .expectations
            .iter()
            .map(|e| {
                let response = match catch_unwind(AssertUnwindSafe(|| backend(&e.case))) {
                    Ok(r) => Ok(r),
                    Err(payload) => Err(panic_message(payload)),
                };
                let mut result = judge(e, response.clone());
                if let (Verdict::Fail { diagnosis, .. }, Ok(Response::Output { loss, grad })) =
                    (&mut result.verdict, &response)
                {
                    if diagnosed < DIAGNOSED_FAILURES {
                        if let (Ok(answer), Some(tol)) = (&e.answer, &e.tolerances) {
                            *diagnosis = Some(explain(
                                &e.case.problem,
                                answer,
                                loss,
                                grad,
                                tol,
                                self.declared,
                            ));
                            diagnosed += 1;
                        }
                    }
                }
                result
            })
            .collect();
        Report {
            declared: self.declared,
            seed: self.seed,
            filter: self.filter.clone(),
            verbose: self.verbose,
            results,
        }
    }
}

/// How many failures of one run get a diagnosis (each costs a dozen evaluations).
pub const DIAGNOSED_FAILURES: usize = 20;

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

fn describe_params(case: &Case) -> String {
    match crate::params::resolve(
        case.problem.function,
        case.problem.convention,
        &case.problem.params,
    ) {
        Ok(h) => h
            .describe()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
        Err(e) => e.to_string(),
    }
}

/// Judges one response against one expectation.
pub fn judge(e: &Expectation, response: Result<Response, String>) -> CaseResult {
    let p = &e.case.problem;
    let verdict = verdict(e, response);
    CaseResult {
        id: e.case.id.clone(),
        function: p.function.name().to_string(),
        convention: p.convention.name().to_string(),
        params: describe_params(&e.case),
        shape: p.pred.shape.clone(),
        layout: p.layout.name(),
        dtype: p.dtype.name(),
        seed: e.case.seed,
        verdict,
    }
}

fn fail(detail: impl Into<String>) -> Verdict {
    Verdict::Fail {
        detail: detail.into(),
        diagnosis: None,
    }
}

fn verdict(e: &Expectation, response: Result<Response, String>) -> Verdict {
    let response = match response {
        Ok(r) => r,
        Err(msg) => return fail(format!("the backend panicked: {msg}")),
    };
    let (answer, tol) = match (&e.answer, &e.tolerances) {
        (Err(err), _) => {
            return match response {
                Response::Error(_) => Verdict::ExpectedError,
                Response::Skip(reason) => Verdict::Skipped(reason),
                Response::Missing => fail("no result was given for this case"),
                Response::Output { .. } => fail(format!(
                    "the reference raises ({err}); the backend returned a value"
                )),
            }
        }
        (Ok(a), Some(t)) => (a, t),
        (Ok(_), None) => return fail("the oracle could not bound this case"),
    };
    let (loss, grad) = match response {
        Response::Missing => return fail("no result was given for this case"),
        Response::Skip(reason) => return Verdict::Skipped(reason),
        Response::Error(msg) => {
            return fail(format!(
                "the backend raised `{msg}`; the reference returns a value"
            ))
        }
        Response::Output { loss, grad } => (loss, grad),
    };
    if loss.len() != answer.loss.len() {
        return fail(format!(
            "the loss has {} entries; expected {} (shape {:?})",
            loss.len(),
            answer.loss.len(),
            answer.loss_shape
        ));
    }
    if grad.len() != answer.grad.len() {
        return fail(format!(
            "the gradient has {} entries; expected {}",
            grad.len(),
            answer.grad.len()
        ));
    }
    let cl = compare(&answer.loss, &loss, &tol.loss);
    let cg = compare(&answer.grad, &grad, &tol.grad);
    if !cl.bad.is_empty() || !cg.bad.is_empty() {
        let mut detail = Vec::new();
        if !cl.bad.is_empty() {
            detail.push(describe_bad(
                "loss",
                &answer.loss,
                &loss,
                &tol.loss,
                &cl.bad,
            ));
        }
        if !cg.bad.is_empty() {
            detail.push(describe_bad(
                "grad",
                &answer.grad,
                &grad,
                &tol.grad,
                &cg.bad,
            ));
        }
        return Verdict::Fail {
            detail: detail.join("\n  "),
            diagnosis: None,
        };
    }
    let undetermined = cl.undetermined.len() + cg.undetermined.len();
    if undetermined > 0 {
        Verdict::Undetermined {
            entries: undetermined,
        }
    } else {
        Verdict::Pass {
            used: cl.used.max(cg.used),
        }
    }
}

/// Counts of a report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub expected_errors: usize,
    pub undetermined: usize,
    pub skipped: usize,
    pub failed: usize,
}

/// The results of one run.
#[derive(Clone, Debug)]
pub struct Report {
    pub declared: Declared,
    pub seed: u64,
    pub filter: String,
    pub verbose: bool,
    pub results: Vec<CaseResult>,
}

impl Report {
    pub fn tally(&self) -> Tally {
        let mut t = Tally::default();
        for r in &self.results {
            match r.verdict {
                Verdict::Pass { .. } => t.passed += 1,
                Verdict::ExpectedError => t.expected_errors += 1,
                Verdict::Undetermined { .. } => t.undetermined += 1,
                Verdict::Skipped(_) => t.skipped += 1,
                Verdict::Fail { .. } => t.failed += 1,
            }
        }
        t
    }

    pub fn failures(&self) -> impl Iterator<Item = &CaseResult> {
        self.results
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Fail { .. }))
    }

    /// No failure (skips and undetermined entries are reported, not failures).
    pub fn is_ok(&self) -> bool {
        self.failures().next().is_none()
    }

    /// For tests: panics with the whole report when a case failed; prints it otherwise.
    pub fn assert_ok(&self) {
        if self.is_ok() {
            println!("{self}");
        } else {
            panic!("{self}");
        }
    }

    /// One line: counts, declared precision, seed and filter.
    pub fn summary(&self) -> String {
        let t = self.tally();
        format!(
            "{} cases ({}; seed {}; filter {:?}): {} passed, {} expected errors, {} undetermined, {} skipped, {} failed",
            self.results.len(),
            self.declared,
            self.seed,
            self.filter,
            t.passed,
            t.expected_errors,
            t.undetermined,
            t.skipped,
            t.failed
        )
    }

    /// The report as JSON (`ufl-report/1`).
    pub fn to_json(&self) -> serde_json::Value {
        let t = self.tally();
        let cases: Vec<serde_json::Value> = self
            .results
            .iter()
            .map(|r| {
                let (verdict, detail, diagnosis) = match &r.verdict {
                    Verdict::Pass { used } => ("pass", format!("used {used:.3} of the tolerance"), None),
                    Verdict::Undetermined { entries } => ("undetermined", format!("{entries} entries the declared precision cannot determine"), None),
                    Verdict::ExpectedError => ("expected-error", String::new(), None),
                    Verdict::Skipped(reason) => ("skipped", reason.clone(), None),
                    Verdict::Fail { detail, diagnosis } => ("fail", detail.clone(), diagnosis.clone()),
                };
                serde_json::json!({"id": r.id, "function": r.function, "convention": r.convention, "params": r.params,
                    "shape": r.shape, "layout": r.layout, "dtype": r.dtype, "seed": r.seed,
                    "verdict": verdict, "detail": detail, "diagnosis": diagnosis})
            })
            .collect();
        serde_json::json!({
            "format": "ufl-report/1",
            "declared": {"compute": self.declared.compute.name(), "inputs": self.declared.inputs.name()},
            "seed": self.seed, "filter": self.filter,
            "summary": {"cases": self.results.len(), "passed": t.passed, "expected_errors": t.expected_errors,
                        "undetermined": t.undetermined, "skipped": t.skipped, "failed": t.failed},
            "cases": cases,
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.results {
            match &r.verdict {
                Verdict::Fail { detail, diagnosis } => {
                    writeln!(f, "FAIL {}", r.id)?;
                    writeln!(
                        f,
                        "  function {}, convention {}, params {{{}}}",
                        r.function, r.convention, r.params
                    )?;
                    let seed = r.seed.map_or("-".to_string(), |s| s.to_string());
                    writeln!(
                        f,
                        "  shape {:?} ({}), dtype {}, seed {seed}",
                        r.shape, r.layout, r.dtype
                    )?;
                    writeln!(f, "  {detail}")?;
                    if let Some(d) = diagnosis {
                        writeln!(f, "  diagnosis: {d}")?;
                    }
                }
                other if self.verbose => writeln!(f, "{:<12} {}", verdict_word(other), r.id)?,
                _ => {}
            }
        }
        let t = self.tally();
        if t.skipped > 0 && !self.verbose {
            let mut reasons: Vec<&str> = self
                .results
                .iter()
                .filter_map(|r| {
                    if let Verdict::Skipped(s) = &r.verdict {
                        Some(s.as_str())
                    } else {
                        None
                    }
                })
                .collect();
            reasons.sort_unstable();
            reasons.dedup();
            writeln!(f, "skipped ({}): {}", t.skipped, reasons.join("; "))?;
        }
        if t.undetermined > 0 {
            writeln!(f, "undetermined: {} cases hold entries {} cannot determine (1 - TI within its rounding error of 0); they are neither passed nor failed", t.undetermined, self.declared)?;
        }
        write!(f, "{}", self.summary())
    }
}

fn verdict_word(v: &Verdict) -> &'static str {
    match v {
        Verdict::Pass { .. } => "pass",
        Verdict::Undetermined { .. } => "undetermined",
        Verdict::ExpectedError => "error (ok)",
        Verdict::Skipped(_) => "skipped",
        Verdict::Fail { .. } => "FAIL",
    }
}
