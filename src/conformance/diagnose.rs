//! Diagnosis of a failing backend: which known variant its outputs match instead.
//!
//! A failing case is re-evaluated under the variants real implementations differ by — the
//! other conventions, λ on the other term, the Tversky part summed instead of averaged over
//! classes, δ swapped in the Tversky index only (false positives weighted by δ, as Keras 3.15.1
//! `Tversky`), in the focal weights only, or in both, γ for 1-γ, ε or smoothing 1e-6 instead of
//! 1e-7, and the clip gradient on the bounds under each rule shipped libraries follow — and the
//! backend's outputs are compared with each within the variant's own tolerances. The report
//! then reads like "matches `monai`, not `original`"; several matches read as alternatives
//! ("A; or B").

use crate::conformance::tolerance::{compare, Declared, Summation, Tolerances};
use crate::conventions::params::{resolve, Hp, ParamValue};
use crate::engine::eval::{Evaluation, Overrides, Problem};
use crate::spec::registry::{Convention, FunctionId};

/// A problem variant with a label saying what it changes.
pub struct Variant {
    pub label: String,
    pub problem: Problem,
    /// Semantics changed beyond the parameters (δ in one term only, a clip rule).
    pub overrides: Overrides,
}

impl Variant {
    fn of(label: impl Into<String>, problem: Problem) -> Self {
        Variant {
            label: label.into(),
            problem,
            overrides: Overrides::default(),
        }
    }
}

/// Whether a function's δ weights a Tversky index, and whether it weights focal classes.
fn delta_terms(function: FunctionId) -> (bool, bool) {
    use FunctionId::*;
    match function {
        DiceLoss
        | TverskyLoss
        | DiceCoefficient
        | FocalTverskyLoss
        | SymmetricFocalTverskyLoss
        | AsymmetricFocalTverskyLoss => (true, false),
        SymmetricFocalLoss | AsymmetricFocalLoss => (false, true),
        SymUnifiedFocalLoss | AsymUnifiedFocalLoss => (true, true),
        ComboLoss | FocalLoss => (false, false),
    }
}

/// Label of δ swapped in the Tversky index.
const TVERSKY_DELTA_SWAPPED: &str =
    "the Tversky index weights false positives by δ (α/β swapped, as Keras 3.15.1 `Tversky`)";
/// Label of the whole of Keras 3.15.1's `Tversky` loss.
const KERAS_TVERSKY: &str = "Keras 3.15.1 `Tversky` (α on the false negatives and β on the false \
     positives, the reverse of its documentation; no smoothing in the numerator, 1e-7 in the \
     denominator)";
/// Label of δ swapped in the focal weights.
const FOCAL_DELTA_SWAPPED: &str =
    "the focal weights swapped (δ on the background class, 1 - δ on the rare class)";

fn set(problem: &Problem, pairs: &[(&str, ParamValue)]) -> Problem {
    let mut p = problem.clone();
    for (k, v) in pairs {
        p.params.insert(k.to_string(), v.clone());
    }
    p
}

fn real_param(problem: &Problem, name: &str) -> Option<f64> {
    match resolve(problem.function, problem.convention, &problem.params)
        .ok()?
        .value(name)?
    {
        Hp::Real(x) => Some(x),
        _ => None,
    }
}

/// What a convention's λ parameter is called.
fn lambda_name(convention: Convention) -> &'static str {
    match convention {
        Convention::Paper => "lambda",
        Convention::Original | Convention::Monai => "weight",
    }
}

/// The variants of `problem` that a plausible implementation computes instead.
pub fn variants(problem: &Problem) -> Vec<Variant> {
    let mut out = Vec::new();
    let conv = problem.convention;
    let spec = problem.function.spec();
    // Other conventions, with the shared parameters carried over.
    for other in spec.conventions().filter(|&c| c != conv) {
        let Some(sig) = spec.signature(other) else {
            continue;
        };
        let mut p = problem.clone();
        p.convention = other;
        p.params.clear();
        for (k, v) in &problem.params {
            let name = match k.as_str() {
                "weight" | "lambda" => lambda_name(other),
                other_name => other_name,
            };
            if sig.params.iter().any(|s| s.name == name) {
                p.params.insert(name.to_string(), v.clone());
            }
        }
        out.push(Variant::of(format!("the `{other}` convention"), p.clone()));
        if other == Convention::Paper && sig.params.iter().any(|s| s.name == "region") {
            out.push(Variant::of(
                "the `paper` convention with the Tversky part averaged over classes",
                set(&p, &[("region", ParamValue::Text("class-mean".into()))]),
            ));
        }
    }
    let lambda = lambda_name(conv);
    if let Some(l) = real_param(problem, lambda) {
        out.push(Variant::of(
            format!("`{lambda}` on the other term ({lambda} → 1 - {lambda})"),
            set(problem, &[(lambda, ParamValue::Number(1.0 - l))]),
        ));
    }
    if let Some(g) = real_param(problem, "gamma") {
        if (0.0..1.0).contains(&(1.0 - g)) || conv != Convention::Paper {
            out.push(Variant::of(
                "γ where 1 - γ belongs (γ → 1 - γ)",
                set(
                    problem,
                    &[("gamma", ParamValue::Number((1.0 - g).max(0.0)))],
                ),
            ));
        }
    }
    if real_param(problem, "delta").is_some() {
        let swapped = |tversky: bool, focal: bool| Overrides {
            swap_tversky_delta: tversky,
            swap_focal_delta: focal,
            ..Overrides::default()
        };
        let mut push = |label: &str, overrides: Overrides| {
            out.push(Variant {
                label: label.to_string(),
                problem: problem.clone(),
                overrides,
            })
        };
        match delta_terms(problem.function) {
            (true, true) => {
                push(TVERSKY_DELTA_SWAPPED, swapped(true, false));
                push(FOCAL_DELTA_SWAPPED, swapped(false, true));
                push(
                    "δ → 1 - δ in both terms (the Tversky index and the focal weights)",
                    swapped(true, true),
                );
            }
            (true, false) => push(TVERSKY_DELTA_SWAPPED, swapped(true, false)),
            (false, true) => push(FOCAL_DELTA_SWAPPED, swapped(false, true)),
            (false, false) => {}
        }
    }
    if let Ok(Some(word)) =
        resolve(problem.function, conv, &problem.params).map(|h| h.value("region"))
    {
        let flipped = if word == Hp::Word("class-mean") {
            "class-sum"
        } else {
            "class-mean"
        };
        out.push(Variant::of(
            format!("the Tversky part as a {flipped}"),
            set(problem, &[("region", ParamValue::Text(flipped.into()))]),
        ));
    }
    for name in ["eps", "epsilon", "smooth"] {
        if let Some(e) = real_param(problem, name) {
            let common = crate::spec::registry::KERAS_EPSILON;
            let other = if (e - common).abs() < 1e-12 {
                1e-6
            } else {
                common
            };
            out.push(Variant::of(
                format!("`{name}` = {other:e} instead of {e:e}"),
                set(problem, &[(name, ParamValue::Number(other))]),
            ));
        }
    }
    // The Dice, Tversky and focal Tversky losses as other libraries compute them.
    if problem.convention == Convention::Original
        && matches!(
            problem.function,
            FunctionId::DiceLoss
                | FunctionId::TverskyLoss
                | FunctionId::DiceCoefficient
                | FunctionId::FocalTverskyLoss
        )
    {
        use crate::engine::eval::RegionVariant::*;
        let focal = problem.function == FunctionId::FocalTverskyLoss;
        for (variant, label, applies) in [
            (PowerAfterMean, "the focal Tversky power applied after the class mean (as segmentation_models_pytorch 0.6.0 `TverskyLoss(gamma)`)", focal),
            (PooledBatch, "TP, FN and FP pooled over the batch (as segmentation_models_pytorch, and Keras `Tversky` with `axis=None`)", true),
            (PresentClassesOnly, "the Tversky term averaged over the classes present in the target only (as kornia 0.9 `tversky_loss`)", true),
            (EmptyClassesZeroed, "classes with no positive pixel zeroed (as segmentation_models_pytorch)", true),
            (SmoothingInDenominatorOnly, "the smoothing in the denominator only (as Keras and kornia)", true),
            (NoClip, "predictions not clipped (as kornia)", focal),
        ] {
            if applies {
                out.push(Variant {
                    label: label.to_string(),
                    problem: problem.clone(),
                    overrides: Overrides {
                        region: Some(variant),
                        ..Overrides::default()
                    },
                });
            }
        }
        // Keras 3.15.1 `Tversky` as a whole: its arguments swapped (it names `y_true`
        // `inputs`), no smoothing in the numerator and `epsilon()` in the denominator.
        if !focal && real_param(problem, "smooth").is_some() {
            out.push(Variant {
                label: KERAS_TVERSKY.to_string(),
                problem: set(
                    problem,
                    &[(
                        "smooth",
                        ParamValue::Number(crate::spec::registry::KERAS_EPSILON),
                    )],
                ),
                overrides: Overrides {
                    region: Some(SmoothingInDenominatorOnly),
                    swap_tversky_delta: true,
                    ..Overrides::default()
                },
            });
        }
    }
    // The clip gradient on the bounds under the rules shipped libraries follow (for `paper`
    // and `monai` the harness accepts them; for `original` they are a diagnosis).
    if problem.has_input_on_a_clip_bound() {
        for rule in problem.other_clip_gradients() {
            out.push(Variant {
                label: format!("the {}", rule.describe()),
                problem: problem.clone(),
                overrides: Overrides::clip(rule),
            });
        }
    }
    out
}

/// Explains a failure: the variants the backend's `(loss, grad)` matches, each within its own
/// tolerances for the declared precision.
pub fn explain(
    problem: &Problem,
    expected: &Evaluation,
    loss: &[f64],
    grad: &[f64],
    tol: &Tolerances,
    declared: Declared,
) -> String {
    let matches = |e_loss: &[f64], e_grad: &[f64], tol: &Tolerances| {
        e_loss.len() == loss.len()
            && e_grad.len() == grad.len()
            && compare(e_loss, loss, &tol.loss).bad.is_empty()
            && compare(e_grad, grad, &tol.grad).bad.is_empty()
    };
    let mut found = Vec::new();
    // Where the harness accepts every clip-gradient rule on the bounds (`paper`, `monai`), a
    // variant is also tried under each of them: a backend with a planted bug and a strict
    // `clamp` is named by its bug, not left unexplained.
    let other_rules = if problem.has_input_on_a_clip_bound() {
        problem.accepted_clip_alternatives()
    } else {
        Vec::new()
    };
    for v in variants(problem) {
        let under = |overrides: Overrides| {
            let evaluated = if overrides == Overrides::default() {
                v.problem.evaluate()
            } else {
                v.problem.evaluate_with(overrides)
            };
            match (evaluated, v.problem.tolerances_with(declared, overrides)) {
                (Ok(ev), Ok(vt)) => matches(&ev.loss, &ev.grad, &vt),
                _ => false,
            }
        };
        let matched = under(v.overrides)
            || (v.overrides.clip_gradient.is_none()
                && other_rules.iter().any(|&rule| {
                    under(Overrides {
                        clip_gradient: Some(rule),
                        ..v.overrides
                    })
                }));
        if matched {
            found.push(v.label);
        }
    }
    for (label, g, g_tol) in gradient_variants(problem, expected, tol, declared) {
        if compare(&expected.loss, loss, &tol.loss).bad.is_empty()
            && g.len() == grad.len()
            && compare(&g, grad, &g_tol).bad.is_empty()
        {
            found.push(label.to_string());
        }
    }
    if problem.dtype == crate::spec::tensor::Dtype::F64
        && declared.compute == crate::conformance::tolerance::Precision::F64
    {
        // The loss rounded to float32, the gradient in float64.
        if let Ok(f32_tol) = problem.tolerances(Declared::F32) {
            if compare(&expected.loss, loss, &f32_tol.loss).bad.is_empty()
                && compare(&expected.grad, grad, &tol.grad).bad.is_empty()
            {
                found.push("a float32 loss for float64 input (as Keras 3.15.1 on torch)".into());
            }
        }
    }
    let this = format!("`{}`", problem.convention);
    if found.is_empty() {
        if let Some(cause) = accumulation(problem, expected, loss, grad, tol, declared) {
            return cause;
        }
        let loss_ok = compare(&expected.loss, loss, &tol.loss).bad.is_empty();
        return if loss_ok {
            format!("the loss matches {this}; the gradient matches none of the known variants")
        } else {
            format!("matches none of the known variants of {this}")
        };
    }
    format!("matches {}, not {this}", found.join("; or "))
}

/// Accumulation as a named cause: a backend judged with pairwise sums whose output is within
/// the any-order bound of a sequential loop (and not within the pairwise one) gets that
/// diagnosis, with the terms per sum and the bits its worst entry keeps.
fn accumulation(
    problem: &Problem,
    expected: &Evaluation,
    loss: &[f64],
    grad: &[f64],
    tol: &Tolerances,
    declared: Declared,
) -> Option<String> {
    if declared.summation != Summation::Pairwise {
        return None;
    }
    let sequential = problem
        .tolerances(declared.with_summation(Summation::Sequential))
        .ok()?;
    let within = compare(&expected.loss, loss, &sequential.loss)
        .bad
        .is_empty()
        && compare(&expected.grad, grad, &sequential.grad)
            .bad
            .is_empty();
    if !within {
        return None;
    }
    // The worst relative disagreement among the entries the pairwise bound rejects.
    let mut worst: f64 = 0.0;
    for (e, g, t) in [
        (&expected.loss, loss, &tol.loss),
        (&expected.grad, grad, &tol.grad),
    ] {
        for &i in &compare(e, g, t).bad {
            if e[i] != 0.0 && e[i].is_finite() && g[i].is_finite() {
                worst = worst.max(((e[i] - g[i]) / e[i]).abs());
            }
        }
    }
    let bits = declared.compute.bits();
    let kept = (-worst.log2()).clamp(0.0, bits as f64);
    let terms = crate::spec::tensor::Grid::of(&problem.pred.shape, problem.layout).spatial;
    Some(format!(
        "consistent with sequential {} accumulation over {terms} terms (the worst entry keeps {kept:.1} of {bits} bits); use pairwise or tree sums, or declare summation = sequential",
        declared.compute
    ))
}

/// Gradient-only variants built from the oracle's gradient, each with its tolerances: what a
/// backend gives when its backward differs while its loss is right.
fn gradient_variants(
    problem: &Problem,
    expected: &Evaluation,
    tol: &Tolerances,
    declared: Declared,
) -> Vec<(
    &'static str,
    Vec<f64>,
    Vec<crate::conformance::tolerance::EntryTolerance>,
)> {
    let mut out = Vec::new();
    let u = declared.compute.unit_roundoff();
    let grid = crate::spec::tensor::Grid::of(&problem.pred.shape, problem.layout);
    let (batch, classes) = (grid.batch, grid.classes);
    if classes >= 2 && grid.len() == expected.grad.len() {
        // Projected onto the simplex: the mean over the classes of a position removed (the
        // backward of a softmax taken on top of probabilities).
        // An entry's error is its own, the mean of its position's, and the rounding of the
        // mean and of the subtraction.
        let mut projected = expected.grad.clone();
        let mut p_tol = tol.grad.clone();
        for b in 0..batch {
            for s in 0..grid.spatial {
                let at: Vec<usize> = (0..classes).map(|c| grid.at(b, s, c)).collect();
                let mean = at.iter().map(|&i| expected.grad[i]).sum::<f64>() / classes as f64;
                let mean_tol = at.iter().map(|&i| tol.grad[i].tol).sum::<f64>() / classes as f64;
                let magnitude = at.iter().map(|&i| expected.grad[i].abs()).sum::<f64>();
                for &i in &at {
                    projected[i] -= mean;
                    p_tol[i].tol += mean_tol
                        + 2.0 * (classes as f64 + 1.0) * u * (magnitude + expected.grad[i].abs());
                }
            }
        }
        out.push((
            "the gradient projected onto the simplex (a softmax taken twice)",
            projected,
            p_tol,
        ));
    }
    let equal: Vec<usize> = (0..expected.grad.len())
        .filter(|&i| problem.target.data.get(i) == problem.pred.data.get(i))
        .collect();
    if !equal.is_empty() && problem.target.data.len() == problem.pred.data.len() {
        let mut half = expected.grad.clone();
        equal.iter().for_each(|&i| half[i] *= 0.5);
        out.push((
            "the gradient halved where the prediction equals the target (TP written with |p - y|, sign(0) = 0, as segmentation_models_pytorch)",
            half,
            tol.grad.clone(),
        ));
    }
    out
}
