//! The problems every backend test runs, and the one comparison with the oracle they all use.
//!
//! The problems are the kernels' coverage: shapes, class counts, layouts and parameters chosen
//! to reach every kernel variant (vector widths, several chunks, many classes). Their inputs
//! come from the oracle's own generators (`ufl_oracle::cases::inputs_with`,
//! `plant_f32_bounds`): deterministic softmax predictions (a sigmoid for one channel) and
//! one-hot targets (60 % class 0), float32, in either layout; some cases use soft targets, and
//! some plant predictions on and next to the clip bounds (exactly `lo` and `hi`, one float32
//! step inside and outside, 0 and 1).
//!
//! The comparison is the oracle's own, for a float32 implementation: `tolerance::compare`
//! against `Problem::tolerances(Declared::F32)`, every loss and gradient entry within its
//! tolerance (the float32 error bound times the function's safety factor); an entry nothing
//! can be compared in (a NaN or infinity where float32 cannot determine the entry, or a bound
//! that is not finite) is counted, not judged; NaN must meet NaN.

#![allow(dead_code)]

use std::io::Write;
use ufl_oracle::registry::KERAS_EPSILON;
use ufl_oracle::tolerance::{self, Declared, Tolerances};
use ufl_oracle::{Dtype, Layout, ParamValue, Params, Problem};

/// Writes a line to the real stderr, past the test harness's capture.
pub fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The oracle's own deterministic generators: softmax (or sigmoid) predictions with one-hot or
/// soft targets, and predictions planted on and around the clip bounds.
pub use ufl_oracle::cases::{inputs_with, plant_f32_bounds, Targets};

/// One test problem.
pub struct Case {
    pub name: String,
    pub problem: Problem,
}

pub fn params(pairs: &[(&str, ParamValue)]) -> Params {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

pub fn num(x: f64) -> ParamValue {
    ParamValue::Number(x)
}

pub fn word(w: &str) -> ParamValue {
    ParamValue::Text(w.to_string())
}

pub fn list(xs: &[f64]) -> ParamValue {
    ParamValue::List(xs.to_vec())
}

/// The original's float32 clip bounds, from the oracle's `K.epsilon()`.
pub const ORIGINAL_LO: f32 = KERAS_EPSILON as f32;
pub const ORIGINAL_HI: f32 = (1.0 - KERAS_EPSILON) as f32;

#[derive(Clone, Copy)]
pub struct Draw {
    pub targets: Targets,
    /// Plant predictions on and around these clip bounds.
    pub bounds: Option<(f32, f32)>,
    pub scale: f64,
}

pub const PLAIN: Draw = Draw {
    targets: Targets::OneHot,
    bounds: None,
    scale: 2.0,
};

#[allow(clippy::too_many_arguments)]
pub fn case(
    name: &str,
    function: &str,
    convention: &str,
    shape: &[usize],
    layout: Layout,
    pairs: &[(&str, ParamValue)],
    draw: Draw,
    seed: u64,
) -> Case {
    let (mut pred, target) = inputs_with(shape, layout, Dtype::F32, draw.scale, draw.targets, seed);
    if let Some((lo, hi)) = draw.bounds {
        plant_f32_bounds(&mut pred.data, lo, hi);
    }
    let problem = Problem::named(
        function,
        convention,
        params(pairs),
        pred,
        target,
        layout,
        Dtype::F32,
    )
    .unwrap();
    Case {
        name: name.to_string(),
        problem,
    }
}

/// The default case set: every function of both conventions, shapes, layouts, class counts,
/// parameters away from their defaults, reductions, and predictions on the clip bounds.
pub fn cases() -> Vec<Case> {
    use Layout::{ChannelsFirst as CF, ChannelsLast as CL};
    let soft = Draw {
        targets: Targets::Soft,
        ..PLAIN
    };
    let near = |lo: f32, hi: f32| Draw {
        bounds: Some((lo, hi)),
        ..PLAIN
    };
    let sharp = Draw {
        scale: 6.0,
        ..PLAIN
    };
    let o = "original";
    let p = "paper";
    vec![
        // ---- original: rank 4, classes 0 and 1 ----
        case(
            "o-asym-unified",
            "asym_unified_focal_loss",
            o,
            &[2, 8, 8, 2],
            CL,
            &[],
            PLAIN,
            1,
        ),
        case(
            "o-sym-unified-3ch",
            "sym_unified_focal_loss",
            o,
            &[2, 8, 8, 3],
            CL,
            &[
                ("weight", num(0.3)),
                ("delta", num(0.4)),
                ("gamma", num(0.8)),
            ],
            PLAIN,
            2,
        ),
        case(
            "o-asym-unified-no-weight",
            "asym_unified_focal_loss",
            o,
            &[1, 16, 16, 2],
            CL,
            &[
                ("weight", ParamValue::Null),
                ("delta", num(0.75)),
                ("gamma", num(0.25)),
            ],
            PLAIN,
            3,
        ),
        case(
            "o-sym-focal",
            "symmetric_focal_loss",
            o,
            &[2, 6, 10, 2],
            CL,
            &[("delta", num(0.25)), ("gamma", num(1.5))],
            PLAIN,
            4,
        ),
        case(
            "o-asym-focal-4ch",
            "asymmetric_focal_loss",
            o,
            &[3, 5, 7, 4],
            CL,
            &[],
            PLAIN,
            5,
        ),
        case(
            "o-sym-tversky",
            "symmetric_focal_tversky_loss",
            o,
            &[2, 8, 8, 2],
            CL,
            &[("gamma", num(0.3))],
            PLAIN,
            6,
        ),
        case(
            "o-asym-tversky",
            "asymmetric_focal_tversky_loss",
            o,
            &[2, 8, 8, 2],
            CL,
            &[("delta", num(0.8)), ("gamma", num(0.6))],
            PLAIN,
            7,
        ),
        case(
            "o-asym-unified-channels-first",
            "asym_unified_focal_loss",
            o,
            &[2, 2, 9, 7],
            CF,
            &[],
            PLAIN,
            8,
        ),
        case(
            "o-asym-unified-bounds",
            "asym_unified_focal_loss",
            o,
            &[2, 8, 8, 2],
            CL,
            &[],
            near(ORIGINAL_LO, ORIGINAL_HI),
            9,
        ),
        case(
            "o-sym-unified-soft-gamma0",
            "sym_unified_focal_loss",
            o,
            &[2, 8, 8, 2],
            CL,
            &[("gamma", num(0.0)), ("weight", num(0.7))],
            soft,
            10,
        ),
        case(
            "o-sym-unified-sharp-multichunk",
            "sym_unified_focal_loss",
            o,
            &[2, 40, 40, 2],
            CL,
            &[],
            sharp,
            11,
        ),
        // ---- paper: any rank, layout, class count ----
        case(
            "p-asym-unified-2d-cf",
            "asym_unified_focal_loss",
            p,
            &[2, 3, 16, 16],
            CF,
            &[],
            PLAIN,
            21,
        ),
        case(
            "p-asym-unified-2d-cl",
            "asym_unified_focal_loss",
            p,
            &[2, 16, 16, 3],
            CL,
            &[],
            PLAIN,
            22,
        ),
        case(
            "p-sym-unified-3d-cf-rare",
            "sym_unified_focal_loss",
            p,
            &[1, 4, 8, 8, 8],
            CF,
            &[
                ("rare_classes", list(&[2.0, 3.0])),
                ("lambda", num(0.3)),
                ("delta", num(0.7)),
                ("gamma", num(0.2)),
                ("region", word("class-mean")),
            ],
            PLAIN,
            23,
        ),
        case(
            "p-sym-unified-3d-cl",
            "sym_unified_focal_loss",
            p,
            &[2, 6, 6, 6, 3],
            CL,
            &[],
            PLAIN,
            24,
        ),
        case(
            "p-asym-unified-1ch-cf",
            "asym_unified_focal_loss",
            p,
            &[2, 1, 16, 16],
            CF,
            &[],
            PLAIN,
            25,
        ),
        case(
            "p-sym-unified-1ch-cl-odd",
            "sym_unified_focal_loss",
            p,
            &[2, 9, 7, 1],
            CL,
            &[("lambda", num(0.8))],
            PLAIN,
            26,
        ),
        case(
            "p-asym-unified-sum",
            "asym_unified_focal_loss",
            p,
            &[2, 3, 8, 8],
            CF,
            &[("reduction", word("sum"))],
            PLAIN,
            27,
        ),
        case(
            "p-asym-unified-none",
            "asym_unified_focal_loss",
            p,
            &[3, 8, 8, 3],
            CL,
            &[("reduction", word("none"))],
            PLAIN,
            28,
        ),
        case(
            "p-sym-unified-none-per-class",
            "sym_unified_focal_loss",
            p,
            &[2, 4, 6, 6],
            CF,
            &[
                ("reduction", word("none-per-class")),
                ("region", word("class-mean")),
            ],
            soft,
            29,
        ),
        case(
            "p-sym-focal",
            "symmetric_focal_loss",
            p,
            &[2, 3, 10, 10],
            CF,
            &[],
            PLAIN,
            30,
        ),
        case(
            "p-asym-focal",
            "asymmetric_focal_loss",
            p,
            &[2, 10, 10, 3],
            CL,
            &[("delta", num(0.9)), ("gamma", num(3.0))],
            PLAIN,
            31,
        ),
        case(
            "p-sym-tversky",
            "symmetric_focal_tversky_loss",
            p,
            &[2, 3, 10, 10],
            CF,
            &[("gamma", num(0.9)), ("region", word("class-mean"))],
            PLAIN,
            32,
        ),
        case(
            "p-asym-tversky-rare",
            "asymmetric_focal_tversky_loss",
            p,
            &[2, 10, 10, 3],
            CL,
            &[("rare_classes", list(&[0.0, 2.0]))],
            PLAIN,
            33,
        ),
        case(
            "p-asym-unified-11-classes",
            "asym_unified_focal_loss",
            p,
            &[1, 11, 9, 7],
            CF,
            &[("rare_classes", list(&[1.0, 5.0, 10.0]))],
            PLAIN,
            34,
        ),
        case(
            "p-sym-unified-11-classes-cl",
            "sym_unified_focal_loss",
            p,
            &[2, 5, 4, 11],
            CL,
            &[],
            PLAIN,
            35,
        ),
        case(
            "p-asym-unified-odd",
            "asym_unified_focal_loss",
            p,
            &[3, 2, 5, 7],
            CF,
            &[],
            PLAIN,
            36,
        ),
        case(
            "p-asym-unified-bounds-eps",
            "asym_unified_focal_loss",
            p,
            &[2, 2, 8, 8],
            CF,
            &[("eps", num(1e-4))],
            near(1e-4f32, (1.0f64 - 1e-4) as f32),
            37,
        ),
        case(
            "p-asym-unified-bounds-default",
            "asym_unified_focal_loss",
            p,
            &[2, 8, 8, 2],
            CL,
            &[],
            near(1e-7f32, (1.0f64 - 1e-7) as f32),
            38,
        ),
        case(
            "p-asym-unified-rank2",
            "asym_unified_focal_loss",
            p,
            &[5, 3],
            CF,
            &[],
            PLAIN,
            39,
        ),
        case(
            "p-asym-unified-multichunk-cf",
            "asym_unified_focal_loss",
            p,
            &[2, 2, 64, 80],
            CF,
            &[("gamma", num(0.75))],
            sharp,
            40,
        ),
        case(
            "p-sym-unified-multichunk-cl",
            "sym_unified_focal_loss",
            p,
            &[2, 64, 80, 2],
            CL,
            &[("delta", num(0.3))],
            PLAIN,
            41,
        ),
    ]
}

/// The large volumes: `(1, 2, 128, 128, 128)` channels-first in `paper`, `(4, 256, 256, 2)` in
/// `original`.
pub fn large_cases() -> Vec<Case> {
    vec![
        case(
            "p-asym-unified-1x2x128x128x128",
            "asym_unified_focal_loss",
            "paper",
            &[1, 2, 128, 128, 128],
            Layout::ChannelsFirst,
            &[],
            PLAIN,
            101,
        ),
        case(
            "o-asym-unified-4x256x256x2",
            "asym_unified_focal_loss",
            "original",
            &[4, 256, 256, 2],
            Layout::ChannelsLast,
            &[],
            PLAIN,
            102,
        ),
    ]
}

/// How a result compares with the oracle: the oracle's own per-entry comparison
/// ([`tolerance::compare`] against [`Problem::tolerances`] for a float32 backend), summed over
/// the loss and the gradient.
#[derive(Debug, Default)]
pub struct Comparison {
    /// Largest fraction of its tolerance a passing entry used.
    pub worst: f64,
    /// Entries compared against a finite tolerance.
    pub judged: usize,
    /// Entries nothing could be compared in (see [`tolerance::check_entry`]).
    pub undetermined: usize,
    /// The first few entries out of tolerance, with their bounds.
    pub failures: Vec<String>,
    pub failed: usize,
}

impl Comparison {
    pub fn passed(&self) -> bool {
        self.failed == 0
    }

    pub fn summary(&self) -> String {
        format!(
            "worst {:.3} of tolerance over {} entries, {} undetermined, {} out of tolerance",
            self.worst, self.judged, self.undetermined, self.failed
        )
    }
}

/// The oracle's answer and a float32 backend's tolerances for a problem.
pub struct Reference {
    pub loss: Vec<f64>,
    pub loss_shape: Vec<usize>,
    pub grad: Vec<f64>,
    /// The prediction's shape, which the gradient has.
    pub shape: Vec<usize>,
    pub tolerances: Tolerances,
}

pub fn reference(problem: &Problem) -> Reference {
    let exact = problem.evaluate().expect("the oracle evaluates every case");
    let tolerances = problem
        .tolerances(Declared::F32)
        .expect("the oracle bounds every case");
    Reference {
        loss: exact.loss,
        loss_shape: exact.loss_shape,
        grad: exact.grad,
        shape: problem.pred.shape.clone(),
        tolerances,
    }
}

/// Compares a float32 loss and gradient with the oracle, entry by entry.
pub fn compare(reference: &Reference, loss: &[f32], grad: &[f32]) -> Comparison {
    let mut c = Comparison::default();
    for (name, shape, expected, got, tol) in [
        (
            "loss",
            &reference.loss_shape,
            &reference.loss,
            loss,
            &reference.tolerances.loss,
        ),
        (
            "grad",
            &reference.shape,
            &reference.grad,
            grad,
            &reference.tolerances.grad,
        ),
    ] {
        let got: Vec<f64> = got.iter().map(|&x| x as f64).collect();
        let one = tolerance::compare(expected, &got, tol);
        c.worst = c.worst.max(one.used);
        c.judged += one.compared;
        c.undetermined += one.undetermined.len();
        c.failed += one.bad.len();
        if !one.bad.is_empty() && c.failures.len() < 5 {
            c.failures.push(tolerance::describe_bad(
                name, shape, expected, &got, tol, &one.bad,
            ));
        }
    }
    c
}

/// The problem's arrays as float32.
pub fn arrays32(problem: &Problem) -> (Vec<f32>, Vec<f32>) {
    (
        problem.pred.data.iter().map(|&x| x as f32).collect(),
        problem.target.data.iter().map(|&x| x as f32).collect(),
    )
}
