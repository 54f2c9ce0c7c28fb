//! Three witnesses for every derivative: the closed-form gradient must agree with forward-mode
//! automatic differentiation of the value code (tightly: within the float64 error bound of the
//! gradient) and with central finite differences (loosely: within the difference's own error
//! estimate), and the directional derivative in one forward pass must equal ⟨gradient, v⟩ —
//! for every function and convention, float32 and float64 inputs, 1-D to 3-D, 1 to 5 classes,
//! both layouts, logits and probabilities. Hyper-parameter derivatives are checked against
//! finite differences in the parameter.
//!
//! Tolerances. `e_i` is the float64 error bound of gradient entry i (`Bounded<53>`): the closed
//! form is within `e_i` of the exact derivative, and forward mode, evaluating a differently
//! grouped expression of the same conditioning, within a comparable amount; they must agree to
//! `4·e_i` (the sum of both, times the factor 2 of `tolerance::safety_factor` in float64). A
//! finite difference must agree to `4·err` (its error estimate, `fd.rs`) plus `4·e_i`.

mod common;

use common::{build, check, draws, Draw, Rng};
use proptest::prop_assert;
use proptest::test_runner::TestCaseError;
use std::cell::RefCell;
use ufl_oracle::bound::F64Bound;
use ufl_oracle::{fd, Convention, Dtype, Problem, Tensor};

#[derive(Default, Debug)]
struct Worst {
    forward_mode: f64,
    jvp: f64,
    finite_differences: f64,
    /// The same disagreements relative to max |grad| (JVP: to Σ|g_i v_i|).
    relative: [f64; 3],
    compared: usize,
    skipped_fd: usize,
}

fn bound_of_gradient(problem: &Problem) -> Vec<f64> {
    problem
        .evaluate_in::<F64Bound>(true)
        .unwrap()
        .grad
        .unwrap()
        .iter()
        .map(|b| b.e)
        .collect()
}

/// Finite differences cannot see MONAI's float32 materialisation of `1 - p` (a staircase in p).
fn fd_applies(problem: &Problem) -> bool {
    !(problem.convention == Convention::Monai
        && problem.dtype == Dtype::F32
        && problem.pred.shape[1] == 1)
}

fn witness(d: Draw, worst: &RefCell<Worst>) -> Result<(), TestCaseError> {
    let problem = build(&d);
    let oracle = problem
        .evaluate()
        .map_err(|e| TestCaseError::fail(format!("{e}")))?;
    let e = bound_of_gradient(&problem);
    let g = &oracle.grad;
    let scale = g
        .iter()
        .filter(|x| x.is_finite())
        .fold(f64::MIN_POSITIVE, |m, x| m.max(x.abs()));
    let mut w = worst.borrow_mut();
    // Forward mode, one pass per element.
    let fm = problem.forward_mode_gradient().unwrap();
    for i in 0..g.len() {
        prop_assert!(
            g[i].is_finite() == fm[i].is_finite(),
            "entry {i}: closed form {} forward mode {}",
            g[i],
            fm[i]
        );
        if !g[i].is_finite() {
            continue;
        }
        let diff = (g[i] - fm[i]).abs();
        let tol = 4.0 * e[i];
        prop_assert!(
            diff <= tol,
            "entry {i}: closed form {:e} forward mode {:e} |diff| {diff:e} > {tol:e}",
            g[i],
            fm[i]
        );
        if tol > 0.0 {
            w.forward_mode = w.forward_mode.max(diff / tol);
        }
        w.relative[0] = w.relative[0].max(diff / scale);
    }
    // One directional derivative.
    let mut rng = Rng::new(d.seed ^ 0x5eed);
    let v = Tensor::new(
        "v",
        problem.pred.shape.clone(),
        (0..g.len()).map(|_| rng.uniform() - 0.5).collect(),
    )
    .unwrap();
    let jvp: f64 = problem.jvp(&v).unwrap().iter().map(|x| x.derivative).sum();
    let dot: f64 = g.iter().zip(&v.data).map(|(a, b)| a * b).sum();
    if dot.is_finite() {
        let tol = 4.0 * e.iter().zip(&v.data).map(|(a, b)| a * b.abs()).sum::<f64>()
            + 4.0
                * f64::EPSILON
                * g.iter()
                    .zip(&v.data)
                    .map(|(a, b)| (a * b).abs())
                    .sum::<f64>()
                * (g.len() as f64).sqrt();
        let diff = (jvp - dot).abs();
        prop_assert!(
            diff <= tol,
            "jvp {jvp:e} vs <grad, v> {dot:e}: |diff| {diff:e} > {tol:e}"
        );
        if tol > 0.0 {
            w.jvp = w.jvp.max(diff / tol);
        }
        let magnitude: f64 = g.iter().zip(&v.data).map(|(a, b)| (a * b).abs()).sum();
        w.relative[1] = w.relative[1].max(diff / magnitude.max(f64::MIN_POSITIVE));
    }
    // Central finite differences.
    if fd_applies(&problem) {
        for (i, est) in fd::input_gradient(&problem)
            .unwrap()
            .into_iter()
            .enumerate()
        {
            let Some(est) = est else {
                w.skipped_fd += 1;
                continue;
            };
            if !g[i].is_finite() {
                continue;
            }
            let tol = 4.0 * est.error + 4.0 * e[i];
            let diff = (g[i] - est.derivative).abs();
            prop_assert!(
                diff <= tol,
                "entry {i}: closed form {:e} finite differences {:e} ± {:e}",
                g[i],
                est.derivative,
                est.error
            );
            if tol > 0.0 {
                w.finite_differences = w.finite_differences.max(diff / tol);
            }
            w.relative[2] = w.relative[2].max(diff / scale);
        }
    }
    w.compared += 1;
    Ok(())
}

#[test]
fn closed_form_forward_mode_and_finite_differences_agree() {
    let worst = RefCell::new(Worst::default());
    check("gradient witnesses", 48, draws(), |d| witness(d, &worst));
    let w = worst.borrow();
    println!(
        "worst disagreement as a fraction of its tolerance over {} problems: forward mode {:.3}, JVP {:.3}, finite differences {:.3} ({} entries not differenced: a kink within a step)",
        w.compared, w.forward_mode, w.jvp, w.finite_differences, w.skipped_fd
    );
    println!(
        "worst disagreement relative to max|grad|: forward mode {:.2e}, JVP {:.2e} (of Σ|g·v|), finite differences {:.2e}",
        w.relative[0], w.relative[1], w.relative[2]
    );
    assert!(w.compared > 0);
}

#[test]
fn hyper_parameter_derivatives_match_finite_differences() {
    let worst = RefCell::new(0.0f64);
    check("parameter derivatives", 48, draws(), |d| {
        let problem = build(&d);
        for pd in problem.param_derivatives().unwrap() {
            // focal_loss rounds alpha to float32: a staircase finite differences cannot follow.
            if pd.name == "alpha" && problem.function == ufl_oracle::FunctionId::FocalLoss {
                continue;
            }
            let Some(est) = fd::param_derivative(&problem, pd.name).unwrap() else {
                continue;
            };
            if !pd.derivative.is_finite() {
                continue;
            }
            let tol = 4.0 * est.error + 1e-12 * pd.derivative.abs();
            let diff = (pd.derivative - est.derivative).abs();
            prop_assert!(
                diff <= tol,
                "d/d{}: forward mode {:e} finite differences {:e} ± {:e}",
                pd.name,
                pd.derivative,
                est.derivative,
                est.error
            );
            let mut w = worst.borrow_mut();
            *w = w.max(diff / tol);
        }
        Ok(())
    });
    println!(
        "worst parameter-derivative disagreement as a fraction of its tolerance: {:.3}",
        worst.borrow()
    );
}
