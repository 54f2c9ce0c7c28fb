//! The harness: runs a backend over cases, compares every output with the oracle within the
//! tolerance model, and prints one report.
//!
//! A backend is a closure that, given a [`Case`], returns the loss and the gradient of the sum
//! of the loss entries with respect to the prediction (flat, in the case's layout), an error
//! (for cases on which the reference raises), or a skip with a reason. The harness catches
//! panics, collects every failure, explains each (`diagnose.rs`), and never counts a case it did
//! not check as passed; a run that compared nothing is not ok. Each case is judged at its own
//! dtype ([`Judging::PerCase`]) or at one declared precision ([`Judging::Fixed`], a
//! [`Declared`]); in the latter, cases are handed to the backend in its tensor dtype: float64
//! for a float64 backend, float32 otherwise (the references' dtype-dependent constants, such as
//! the clip bounds, follow it). For `paper` and `monai` cases with a prediction exactly on a
//! clip bound, the gradient rules shipped libraries follow there are each accepted, computed
//! (`terms::ClipGradient`), and the report says which one the backend followed.
//!
//! Environment: `UFL_ORACLE_TEST` filters cases (`asym,-large`; naming `large` adds that group),
//! `UFL_ORACLE_SEED` seeds the random cases (always printed), `UFL_ORACLE_VERBOSE=1` lists every
//! case's verdict.

use crate::conformance::cases::{default_cases, large_cases, seed_from_env, Case, Filter};
use crate::conformance::diagnose::explain;
use crate::conformance::tolerance::{
    compare, describe_bad, describe_undetermined, Declared, Precision, Summation, Tolerances,
};
use crate::conventions::terms::ClipGradient;
use crate::engine::eval::{Evaluation, Overrides, Problem};
use crate::spec::error::UflError;
use crate::spec::tensor::Dtype;
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
    /// An output from float32 arrays: the loss entries (a scalar loss is a one-element slice)
    /// and the gradient of their sum, flat in the case's layout.
    pub fn from_f32(loss: &[f32], grad: &[f32]) -> Self {
        Response::Output {
            loss: loss.iter().map(|&x| x as f64).collect(),
            grad: grad.iter().map(|&x| x as f64).collect(),
        }
    }

    /// An output from float64 arrays, as [`Response::from_f32`].
    pub fn from_f64(loss: &[f64], grad: &[f64]) -> Self {
        Response::Output {
            loss: loss.to_vec(),
            grad: grad.to_vec(),
        }
    }
}

impl Case {
    /// The backend's answer to this case: the loss entries (a scalar loss is a one-element
    /// slice; `reduction: none` gives one per item, in item order) and the gradient of their
    /// sum with respect to the prediction, flat in the case's layout and shape, in float32 or
    /// float64.
    pub fn respond<L: Copy + Into<f64>, G: Copy + Into<f64>>(
        &self,
        loss: &[L],
        grad: &[G],
    ) -> Response {
        Response::Output {
            loss: loss.iter().map(|&x| x.into()).collect(),
            grad: grad.iter().map(|&x| x.into()).collect(),
        }
    }
}

/// The precision each case is judged at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judging {
    /// Every case at its own dtype, inputs and arithmetic (float32 or float64 as the case
    /// says): what PyTorch, JAX, TensorFlow and MONAI do with a tensor of that dtype; sums
    /// accumulated as the summation says.
    PerCase(Summation),
    /// Every case at one declared precision: a case of another dtype is handed to the backend
    /// cast to its tensor dtype (float64 for a float64 backend, float32 otherwise).
    Fixed(Declared),
}

impl Judging {
    /// Every case at its own dtype with pairwise sums: what a backend that computes in the
    /// dtype of its tensors (PyTorch, JAX, TensorFlow, a generic Rust kernel) is judged by.
    pub const PER_CASE: Judging = Judging::PerCase(Summation::Pairwise);
}

impl Default for Judging {
    /// [`Judging::PER_CASE`].
    fn default() -> Self {
        Judging::PER_CASE
    }
}

impl From<Declared> for Judging {
    fn from(d: Declared) -> Self {
        Judging::Fixed(d)
    }
}

impl Judging {
    /// The precision `case` is judged at.
    pub fn for_case(self, case: &Case) -> Declared {
        match self {
            Judging::Fixed(d) => d,
            Judging::PerCase(summation) => Declared::uniform(match case.problem.dtype {
                Dtype::F64 => Precision::F64,
                Dtype::F32 => Precision::F32,
            })
            .with_summation(summation),
        }
    }
}

impl fmt::Display for Judging {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Judging::PerCase(Summation::Pairwise) => f.write_str("each case at its own dtype"),
            Judging::PerCase(Summation::Sequential) => {
                f.write_str("each case at its own dtype, sequential sums")
            }
            Judging::Fixed(d) => write!(f, "{d}"),
        }
    }
}

/// One case as the harness prepared it: the input in the dtype it is handed to the backend in,
/// the precision it is judged at, the oracle's answer (or the error the reference raises) and
/// the tolerances.
#[derive(Clone, Debug)]
pub struct Expectation {
    pub case: Case,
    /// The dtype of the case as given (before any cast to a backend's dtype).
    pub given_dtype: Dtype,
    pub judged_at: Declared,
    pub answer: Result<Evaluation, UflError>,
    pub tolerances: Option<Tolerances>,
    /// Some prediction entry lies exactly on a clip bound (see
    /// [`Problem::has_input_on_a_clip_bound`]), computed once.
    pub on_clip_bound: bool,
    /// For a `paper` or `monai` case with a prediction exactly on a clip bound: the oracle's
    /// answer under each other gradient rule shipped libraries follow there (see
    /// [`ClipGradient`]), each accepted as the convention's own is.
    pub clip_alternatives: Vec<ClipAlternative>,
}

/// The oracle's answer to a case under another clip-gradient rule, with its tolerances.
#[derive(Clone, Debug)]
pub struct ClipAlternative {
    pub rule: ClipGradient,
    pub answer: Evaluation,
    pub tolerances: Tolerances,
}

/// The alternatives of [`Expectation::clip_alternatives`]: computed, not waived — every entry
/// of the output is compared under the alternative rule, not only those on the bounds.
fn clip_alternatives(problem: &Problem, judged_at: Declared) -> Vec<ClipAlternative> {
    problem
        .accepted_clip_alternatives()
        .into_iter()
        .filter_map(|rule| {
            Some(ClipAlternative {
                rule,
                answer: problem.evaluate_with(Overrides::clip(rule)).ok()?,
                tolerances: problem
                    .tolerances_with(judged_at, Overrides::clip(rule))
                    .ok()?,
            })
        })
        .collect()
}

/// The verdict on one case.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Every entry within tolerance; the largest fraction of a tolerance used.
    Pass { used: f64 },
    /// Every compared entry within tolerance; `entries` entries could not be compared (a bound
    /// that is not finite, or a NaN or infinity against a finite value where the declared
    /// precision cannot determine the entry): counted, never passed. `compared` entries were
    /// compared against a finite tolerance and passed.
    /// `detail` shows the first few such entries with the oracle's value, the answer and the
    /// bound.
    Undetermined {
        entries: usize,
        compared: usize,
        detail: String,
    },
    /// The reference raises and so did the backend.
    ExpectedError,
    /// Skipped by the backend, with its reason.
    Skipped(String),
    /// The oracle cannot evaluate this case for reasons of its own (invalid parameters or
    /// inputs): the case set is unusable there, whatever the backend answered.
    Unusable(String),
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
    /// The case's own dtype.
    pub dtype: &'static str,
    /// The precision it was judged at.
    pub judged_at: Declared,
    pub seed: Option<u64>,
    pub verdict: Verdict,
    /// For a case with a prediction exactly on a clip bound that passed (or was undetermined):
    /// the gradient rule there that the backend's answer was accepted under.
    pub clip_rule: Option<ClipGradient>,
}

/// Casts a case into the dtype of a backend's tensors.
fn in_backend_dtype(case: &Case, judging: Judging) -> Case {
    let Judging::Fixed(declared) = judging else {
        return case.clone();
    };
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

/// Cases with their expectations; reusable for many backends.
pub struct Harness {
    pub judging: Judging,
    pub seed: u64,
    pub filter: String,
    pub verbose: bool,
    /// Whether failures are explained (each costs a dozen evaluations; on by default).
    pub diagnose: bool,
    expectations: Vec<Expectation>,
}

impl Harness {
    /// Prepares `cases` for a backend judged by `judging` (a [`Declared`] precision for every
    /// case, or [`Judging::PerCase`]).
    pub fn new(cases: Vec<Case>, judging: impl Into<Judging>) -> Harness {
        let judging = judging.into();
        let expectations = cases
            .iter()
            .map(|c| {
                let judged_at = judging.for_case(c);
                let case = in_backend_dtype(c, judging);
                let answer = case.problem.evaluate();
                let tolerances = answer
                    .as_ref()
                    .ok()
                    .and_then(|_| case.problem.tolerances(judged_at).ok());
                let on_clip_bound = case.problem.has_input_on_a_clip_bound();
                let clip_alternatives = match answer {
                    Ok(_) if on_clip_bound => clip_alternatives(&case.problem, judged_at),
                    _ => Vec::new(),
                };
                Expectation {
                    case,
                    given_dtype: c.problem.dtype,
                    judged_at,
                    answer,
                    tolerances,
                    on_clip_bound,
                    clip_alternatives,
                }
            })
            .collect();
        Harness {
            judging,
            seed: seed_from_env(),
            filter: String::new(),
            verbose: false,
            diagnose: true,
            expectations,
        }
    }

    /// The default case set (with `large` when the filter names it), filtered and seeded from
    /// the environment. Prints the seed and the filter.
    pub fn from_env(judging: impl Into<Judging>) -> Harness {
        let seed = seed_from_env();
        let spec = std::env::var(FILTER_ENV).unwrap_or_default();
        let filter = Filter::parse(&spec);
        let mut cases = default_cases(seed);
        if filter.names_group("large") {
            cases.extend(large_cases());
        }
        if filter.names_group("f16") {
            cases.extend(crate::conformance::cases::float16_cases());
        }
        cases.retain(|c| filter.matches(c));
        println!(
            "ufl-oracle harness: {} cases, random cases seeded {seed} (replay: {}={seed}), filter {FILTER_ENV}={spec:?}",
            cases.len(),
            crate::conformance::cases::SEED_ENV
        );
        let mut h = Harness::new(cases, judging);
        h.seed = seed;
        h.filter = spec;
        h.verbose = std::env::var(VERBOSE_ENV).is_ok_and(|v| v == "1");
        h
    }

    pub fn expectations(&self) -> &[Expectation] {
        &self.expectations
    }

    /// Runs `backend` over every case. Every failure with an output is explained.
    pub fn run(&self, backend: impl Fn(&Case) -> Response) -> Report {
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
                    if let (true, Ok(answer), Some(tol)) = (self.diagnose, &e.answer, &e.tolerances)
                    {
                        *diagnosis = Some(explain(
                            &e.case.problem,
                            answer,
                            loss,
                            grad,
                            tol,
                            e.judged_at,
                        ));
                    }
                }
                result
            })
            .collect();
        Report {
            judging: self.judging,
            seed: self.seed,
            filter: self.filter.clone(),
            verbose: self.verbose,
            results,
        }
    }
}

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
    match crate::conventions::params::resolve(
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
    let (verdict, clip_rule) = verdict(e, response);
    CaseResult {
        id: e.case.id.clone(),
        function: p.function.name().to_string(),
        convention: p.convention.name().to_string(),
        params: describe_params(&e.case),
        shape: p.pred.shape.clone(),
        layout: p.layout.name(),
        dtype: e.given_dtype.name(),
        judged_at: e.judged_at,
        seed: e.case.seed,
        verdict,
        clip_rule,
    }
}

fn fail(detail: impl Into<String>) -> Verdict {
    Verdict::Fail {
        detail: detail.into(),
        diagnosis: None,
    }
}

/// The verdict, and the clip rule the answer was accepted under (see [`CaseResult::clip_rule`]).
fn verdict(e: &Expectation, response: Result<Response, String>) -> (Verdict, Option<ClipGradient>) {
    let (loss, grad, answer, tol) = match prepared_output(e, response) {
        Ok(parts) => parts,
        Err(v) => return (v, None),
    };
    let shape = &e.case.problem.pred.shape;
    let own = compare_outputs(answer, tol, shape, &loss, &grad);
    if !matches!(own, Verdict::Fail { .. }) {
        return (
            own,
            e.on_clip_bound.then(|| e.case.problem.own_clip_gradient()),
        );
    }
    for alt in &e.clip_alternatives {
        let v = compare_outputs(&alt.answer, &alt.tolerances, shape, &loss, &grad);
        if !matches!(v, Verdict::Fail { .. }) {
            return (v, Some(alt.rule));
        }
    }
    (own, None)
}

/// A backend's loss and gradient beside the oracle's answer and its tolerances.
type Comparable<'a> = (Vec<f64>, Vec<f64>, &'a Evaluation, &'a Tolerances);

/// The backend's output beside the oracle's answer and tolerances, or the verdict when there is
/// nothing to compare (an error, a skip, a missing result, a length mismatch).
fn prepared_output(
    e: &Expectation,
    response: Result<Response, String>,
) -> Result<Comparable<'_>, Verdict> {
    let response = match response {
        Ok(r) => r,
        Err(msg) => return Err(fail(format!("the backend panicked: {msg}"))),
    };
    let (answer, tol) = match (&e.answer, &e.tolerances) {
        (Err(err), _) if err.reference_exception().is_none() => {
            return Err(Verdict::Unusable(format!(
                "the oracle cannot evaluate this case: {err}"
            )))
        }
        (Err(err), _) => {
            return Err(match response {
                Response::Error(_) => Verdict::ExpectedError,
                Response::Skip(reason) => Verdict::Skipped(reason),
                Response::Missing => fail("no result was given for this case"),
                Response::Output { .. } => fail(format!(
                    "the reference raises ({err}); the backend returned a value"
                )),
            })
        }
        (Ok(a), Some(t)) => (a, t),
        (Ok(_), None) => return Err(fail("the oracle could not bound this case")),
    };
    let (loss, grad) = match response {
        Response::Missing => return Err(fail("no result was given for this case")),
        Response::Skip(reason) => return Err(Verdict::Skipped(reason)),
        Response::Error(msg) => {
            return Err(fail(format!(
                "the backend raised `{msg}`; the reference returns a value"
            )))
        }
        Response::Output { loss, grad } => (loss, grad),
    };
    // An output of the wrong shape cannot be compared entry by entry: unusable, as a results
    // file with a gradient of the wrong length is.
    if loss.len() != answer.loss.len() {
        return Err(Verdict::Unusable(format!(
            "the loss has {} entries; expected {} (shape {:?})",
            loss.len(),
            answer.loss.len(),
            answer.loss_shape
        )));
    }
    if grad.len() != answer.grad.len() {
        return Err(Verdict::Unusable(format!(
            "the gradient has {} entries; expected {}",
            grad.len(),
            answer.grad.len()
        )));
    }
    Ok((loss, grad, answer, tol))
}

/// Compares an output with one answer of the oracle, entry by entry; `shape` is the
/// prediction's (and the gradient's).
fn compare_outputs(
    answer: &Evaluation,
    tol: &Tolerances,
    shape: &[usize],
    loss: &[f64],
    grad: &[f64],
) -> Verdict {
    let cl = compare(&answer.loss, loss, &tol.loss);
    let cg = compare(&answer.grad, grad, &tol.grad);
    let loss_shape = &answer.loss_shape;
    if !cl.bad.is_empty() || !cg.bad.is_empty() {
        let mut detail = Vec::new();
        if !cl.bad.is_empty() {
            detail.push(describe_bad(
                "loss",
                loss_shape,
                &answer.loss,
                loss,
                &tol.loss,
                &cl.bad,
            ));
        }
        if !cg.bad.is_empty() {
            detail.push(describe_bad(
                "grad",
                shape,
                &answer.grad,
                grad,
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
        let mut detail = Vec::new();
        if !cl.undetermined.is_empty() {
            detail.push(describe_undetermined(
                "loss",
                loss_shape,
                &answer.loss,
                loss,
                &tol.loss,
                &cl.undetermined,
            ));
        }
        if !cg.undetermined.is_empty() {
            detail.push(describe_undetermined(
                "grad",
                shape,
                &answer.grad,
                grad,
                &tol.grad,
                &cg.undetermined,
            ));
        }
        Verdict::Undetermined {
            entries: undetermined,
            compared: cl.compared + cg.compared,
            detail: detail.join("\n  "),
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
    pub unusable: usize,
}

impl Tally {
    fn add(&mut self, v: &Verdict) {
        match v {
            Verdict::Pass { .. } => self.passed += 1,
            Verdict::ExpectedError => self.expected_errors += 1,
            Verdict::Undetermined { .. } => self.undetermined += 1,
            Verdict::Skipped(_) => self.skipped += 1,
            Verdict::Fail { .. } => self.failed += 1,
            Verdict::Unusable(_) => self.unusable += 1,
        }
    }

    /// Cases whose answer was compared with the oracle's: passed, expected errors, and
    /// undetermined cases (every comparable entry of which was compared).
    pub fn compared(&self) -> usize {
        self.passed + self.expected_errors + self.undetermined
    }
}

/// The results of one run.
#[derive(Clone, Debug)]
pub struct Report {
    pub judging: Judging,
    pub seed: u64,
    pub filter: String,
    pub verbose: bool,
    pub results: Vec<CaseResult>,
}

impl Report {
    pub fn tally(&self) -> Tally {
        let mut t = Tally::default();
        self.results.iter().for_each(|r| t.add(&r.verdict));
        t
    }

    /// How many cases with a prediction on a clip bound were accepted under each gradient rule.
    pub fn clip_rules(&self) -> std::collections::BTreeMap<ClipGradient, usize> {
        let mut out = std::collections::BTreeMap::new();
        for rule in self.results.iter().filter_map(|r| r.clip_rule) {
            *out.entry(rule).or_insert(0) += 1;
        }
        out
    }

    /// Counts per (function, the case's dtype, the precision judged at), in name order.
    pub fn tally_by_function_and_dtype(
        &self,
    ) -> std::collections::BTreeMap<(String, &'static str, String), Tally> {
        let mut out = std::collections::BTreeMap::new();
        for r in &self.results {
            out.entry((r.function.clone(), r.dtype, r.judged_at.to_string()))
                .or_insert_with(Tally::default)
                .add(&r.verdict);
        }
        out
    }

    pub fn failures(&self) -> impl Iterator<Item = &CaseResult> {
        self.results
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Fail { .. }))
    }

    /// At least one case compared, no failure and no unusable case (skips and undetermined
    /// entries are reported, not failures; a run that compared nothing is not a pass).
    pub fn is_ok(&self) -> bool {
        let t = self.tally();
        t.failed == 0 && t.unusable == 0 && t.compared() > 0
    }

    /// Why the run is not ok, in one line (`None` when it is).
    pub fn problem(&self) -> Option<String> {
        let t = self.tally();
        if t.unusable > 0 {
            Some(format!(
                "{} cases with unusable input (the oracle cannot evaluate them, or the output has the wrong shape)",
                t.unusable
            ))
        } else if t.failed > 0 {
            Some(format!("{} cases failed", t.failed))
        } else if t.compared() == 0 {
            Some("no case was compared".to_string())
        } else {
            None
        }
    }

    /// For tests: panics with the whole report when a case failed or was unusable, or when no
    /// case was compared; prints it otherwise.
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
            "{} cases ({}; seed {}; filter {:?}): {} passed, {} expected errors, {} undetermined, {} skipped, {} failed{}",
            self.results.len(),
            self.judging,
            self.seed,
            self.filter,
            t.passed,
            t.expected_errors,
            t.undetermined,
            t.skipped,
            t.failed,
            if t.unusable > 0 { format!(", {} unusable", t.unusable) } else { String::new() }
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
                    Verdict::Undetermined { entries, compared, detail } => ("undetermined", format!("{compared} entries compared and passed, {entries} entries the declared precision cannot determine (not compared)\n{detail}"), None),
                    Verdict::ExpectedError => ("expected-error", String::new(), None),
                    Verdict::Skipped(reason) => ("skipped", reason.clone(), None),
                    Verdict::Unusable(reason) => ("unusable", reason.clone(), None),
                    Verdict::Fail { detail, diagnosis } => ("fail", detail.clone(), diagnosis.clone()),
                };
                serde_json::json!({"id": r.id, "function": r.function, "convention": r.convention, "params": r.params,
                    "shape": r.shape, "layout": r.layout, "dtype": r.dtype,
                    "judged_at": {"compute": r.judged_at.compute.name(), "inputs": r.judged_at.inputs.name()},
                    "seed": r.seed,
                    "clip_rule": r.clip_rule.map(|c| c.describe()),
                    "verdict": verdict, "detail": detail, "diagnosis": diagnosis})
            })
            .collect();
        serde_json::json!({
            "format": "ufl-report/1",
            "judging": match self.judging {
                Judging::PerCase(summation) => serde_json::json!({"per_case": true, "summation": summation.name()}),
                Judging::Fixed(d) => serde_json::json!({"compute": d.compute.name(), "inputs": d.inputs.name(), "summation": d.summation.name()}),
            },
            "seed": self.seed, "filter": self.filter,
            "summary": tally_json(self.results.len(), &t),
            "by_function_and_dtype": self.tally_by_function_and_dtype().into_iter().map(|((function, dtype, judged), t)| {
                let mut v = tally_json(t.passed + t.expected_errors + t.undetermined + t.skipped + t.failed + t.unusable, &t);
                v["function"] = function.into();
                v["dtype"] = dtype.into();
                v["judged_at"] = judged.into();
                v
            }).collect::<Vec<_>>(),
            "ok": self.is_ok(),
            "problem": self.problem(),
            "cases": cases,
        })
    }
}

fn tally_json(cases: usize, t: &Tally) -> serde_json::Value {
    serde_json::json!({"cases": cases, "passed": t.passed, "expected_errors": t.expected_errors,
        "undetermined": t.undetermined, "skipped": t.skipped, "failed": t.failed, "unusable": t.unusable})
}

/// The environment that re-runs one case under the harness: its exact id, and the seed of the
/// random cases (which decides a random case's inputs).
pub fn rerun_line(id: &str, seed: u64) -> String {
    format!(
        "{}='id={id}' {}={seed} cargo test",
        FILTER_ENV,
        crate::conformance::cases::SEED_ENV
    )
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
                        "  shape {:?} ({}), dtype {} (judged at {}), seed {seed}",
                        r.shape, r.layout, r.dtype, r.judged_at
                    )?;
                    writeln!(f, "  {detail}")?;
                    if let Some(d) = diagnosis {
                        writeln!(f, "  diagnosis: {d}")?;
                    }
                    writeln!(f, "  re-run: {}", rerun_line(&r.id, self.seed))?;
                }
                Verdict::Undetermined {
                    entries,
                    compared,
                    detail,
                } => {
                    writeln!(
                        f,
                        "undetermined {} ({compared} entries compared and passed, {entries} not comparable)",
                        r.id
                    )?;
                    writeln!(f, "  {detail}")?;
                }
                Verdict::Unusable(reason) => writeln!(f, "UNUSABLE {}: {reason}", r.id)?,
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
            writeln!(f, "undetermined: {} cases hold entries that their precision cannot determine and that differ by a NaN or an infinity or have no finite bound (1 - TI within its rounding error of 0); every other entry of those cases was compared and passed", t.undetermined)?;
        }
        let mut diagnoses: std::collections::BTreeMap<&str, usize> = Default::default();
        for r in &self.results {
            if let Verdict::Fail {
                diagnosis: Some(d), ..
            } = &r.verdict
            {
                *diagnoses.entry(d.as_str()).or_insert(0) += 1;
            }
        }
        if !diagnoses.is_empty() {
            let mut grouped: Vec<(&str, usize)> = diagnoses.into_iter().collect();
            grouped.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            writeln!(f, "diagnoses of the {} failures:", t.failed)?;
            for (d, n) in grouped {
                writeln!(f, "  {n:>5} × {d}")?;
            }
        }
        for (rule, n) in self.clip_rules() {
            writeln!(
                f,
                "clip gradient on the bounds: {n} cases answered with the {}",
                rule.describe()
            )?;
        }
        let groups = self.tally_by_function_and_dtype();
        if groups.len() > 1 {
            writeln!(
                f,
                "{:<32} {:<8} {:<20} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}",
                "function", "dtype", "judged at", "pass", "error", "undet", "skip", "fail", "unus"
            )?;
            for ((function, dtype, judged), t) in &groups {
                writeln!(
                    f,
                    "{function:<32} {dtype:<8} {judged:<20} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}",
                    t.passed, t.expected_errors, t.undetermined, t.skipped, t.failed, t.unusable
                )?;
            }
        }
        if let Some(problem) = self.problem() {
            writeln!(f, "not ok: {problem}")?;
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
        Verdict::Unusable(_) => "UNUSABLE",
    }
}
