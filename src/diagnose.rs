//! Diagnosis of a failing backend: which known variant its outputs match instead.
//!
//! A failing case is re-evaluated under the variants real implementations differ by — the
//! other conventions, λ on the other term, the Tversky part summed instead of averaged over
//! classes, δ weighting false positives instead of false negatives, γ for 1-γ, ε or smoothing
//! 1e-6 instead of 1e-7, and the clip gradient on the bounds passed, zeroed or halved — and the
//! backend's outputs are compared with each within the case's own tolerances. The report then
//! reads like "matches `monai`, not `original`".

use crate::eval::{Evaluation, Problem};
use crate::params::{resolve, Hp, ParamValue};
use crate::registry::Convention;
use crate::tolerance::{compare, Declared, Tolerances};

/// A problem variant with a label saying what it changes.
pub struct Variant {
    pub label: String,
    pub problem: Problem,
}

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
        _ => "weight",
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
        out.push(Variant {
            label: format!("the `{other}` convention"),
            problem: p.clone(),
        });
        if other == Convention::Paper && sig.params.iter().any(|s| s.name == "region") {
            out.push(Variant {
                label: "the `paper` convention with the Tversky part averaged over classes".into(),
                problem: set(&p, &[("region", ParamValue::Text("class-mean".into()))]),
            });
        }
    }
    let lambda = lambda_name(conv);
    if let Some(l) = real_param(problem, lambda) {
        out.push(Variant {
            label: format!("`{lambda}` on the other term ({lambda} → 1 - {lambda})"),
            problem: set(problem, &[(lambda, ParamValue::Number(1.0 - l))]),
        });
    }
    if let Some(g) = real_param(problem, "gamma") {
        if (0.0..1.0).contains(&(1.0 - g)) || conv != Convention::Paper {
            out.push(Variant {
                label: "γ where 1 - γ belongs (γ → 1 - γ)".into(),
                problem: set(
                    problem,
                    &[("gamma", ParamValue::Number((1.0 - g).max(0.0)))],
                ),
            });
        }
    }
    if let Some(d) = real_param(problem, "delta") {
        out.push(Variant {
            label: "δ on false positives instead of false negatives (δ → 1 - δ)".into(),
            problem: set(problem, &[("delta", ParamValue::Number(1.0 - d))]),
        });
    }
    if let Ok(Some(word)) =
        resolve(problem.function, conv, &problem.params).map(|h| h.value("region"))
    {
        let flipped = if word == Hp::Word("class-mean") {
            "class-sum"
        } else {
            "class-mean"
        };
        out.push(Variant {
            label: format!("the Tversky part as a {flipped}"),
            problem: set(problem, &[("region", ParamValue::Text(flipped.into()))]),
        });
    }
    for name in ["eps", "epsilon", "smooth"] {
        if let Some(e) = real_param(problem, name) {
            let other = if (e - 1e-7).abs() < 1e-12 { 1e-6 } else { 1e-7 };
            out.push(Variant {
                label: format!("`{name}` = {other:e} instead of {e:e}"),
                problem: set(problem, &[(name, ParamValue::Number(other))]),
            });
        }
    }
    out
}

/// Gradient variants at the clip bounds: the expected gradient with on-bound entries zeroed,
/// halved, or (where the convention zeroes them) unchanged elsewhere.
fn clip_gradient_variants(problem: &Problem, expected: &Evaluation) -> Vec<(String, Vec<f64>)> {
    let (lo, hi) = problem.dtype.clip_bounds(1e-7);
    let on_bound: Vec<usize> = problem
        .pred
        .data
        .iter()
        .enumerate()
        .filter(|(_, &p)| p == lo || p == hi)
        .map(|(i, _)| i)
        .collect();
    if on_bound.is_empty() {
        return Vec::new();
    }
    let mut zero = expected.grad.clone();
    let mut half = expected.grad.clone();
    for &i in &on_bound {
        zero[i] = 0.0;
        half[i] *= 0.5;
    }
    vec![
        (
            "the clip gradient zero on the bounds (as torch's clamp)".into(),
            zero,
        ),
        ("the clip gradient halved on the bounds".into(), half),
    ]
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
    for v in variants(problem) {
        if let (Ok(ev), Ok(vt)) = (v.problem.evaluate(), v.problem.tolerances(declared)) {
            if matches(&ev.loss, &ev.grad, &vt) {
                found.push(v.label);
            }
        }
    }
    for (label, g) in clip_gradient_variants(problem, expected) {
        if matches(&expected.loss, &g, tol) {
            found.push(label);
        }
    }
    let this = format!("`{}`", problem.convention);
    if found.is_empty() {
        let loss_ok = compare(&expected.loss, loss, &tol.loss).bad.is_empty();
        return if loss_ok {
            format!("the loss matches {this}; the gradient matches none of the known variants")
        } else {
            format!("matches none of the known variants of {this}")
        };
    }
    format!("matches {}, not {this}", found.join("; and "))
}
