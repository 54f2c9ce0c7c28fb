//! Central finite differences in f64: the witness that shares nothing with the code it checks
//! except the value.
//!
//! **Step rule.** For a coordinate `x`, `h = ε^(1/3)·max(|x|, s)` with `ε = 2⁻⁵²` and a floor
//! `s` (0.01 for probabilities, 1 for logits and hyper-parameters). `ε^(1/3) ≈ 6.1e-6` balances
//! the truncation error of a central difference, `h²·|f'''|/6`, against the rounding error,
//! `ε_f·|f|/h`.
//!
//! **Estimate and error.** With `D(h) = (f(x+h) - f(x-h))/(2h)`, the estimate is Richardson's
//! `(4·D(h/2) - D(h))/3` and its error estimate is `|D(h) - D(h/2)|/3 + 3·e/h`: the first term
//! is the truncation error of `D(h/2)` (which bounds that of the extrapolation), the second the
//! rounding of the values, `e` the largest bound on the rounding error of the four `f` values
//! (the extrapolation's weights amplify a value error `e` at most to `3e/h`). The loss's `e`
//! comes from the same evaluator on [`F64Bound`] numbers: it is set by the magnitude of the
//! loss's terms, not of their sum, so a loss whose parts cancel (combo's `α·CE - (1-α)·Dice`
//! near 0) carries the rounding of its parts. A coordinate whose stencil `[x-h, x+h]` would cross a kink of the function (a clip
//! bound, 0 or 1) or leave the parameter's range is not differenced: the function is not smooth
//! there, and the estimate would be meaningless.

use crate::conventions::params::{resolve, Hp, ParamValue};
use crate::engine::eval::Problem;
use crate::numbers::bound::F64Bound;
use crate::numbers::real::Real;
use crate::spec::error::UflError;

/// ε^(1/3) for f64.
pub const STEP_SCALE: f64 = 6.055454452393343e-6;

/// A finite-difference derivative with its error estimate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FdEstimate {
    pub derivative: f64,
    pub error: f64,
}

impl FdEstimate {
    /// True when `value` agrees with this estimate within `factor` error estimates.
    pub fn agrees(&self, value: f64, factor: f64) -> bool {
        (value - self.derivative).abs() <= factor * self.error
    }
}

/// Richardson-extrapolated central difference of `f` at `x` with floor `floor` for the step;
/// `f` gives its value and a bound on that value's rounding error.
pub fn central_difference(
    mut f: impl FnMut(f64) -> Result<(f64, f64), UflError>,
    x: f64,
    floor: f64,
) -> Result<FdEstimate, UflError> {
    let h = STEP_SCALE * x.abs().max(floor);
    let ((fp, ep), (fm, em)) = (f(x + h)?, f(x - h)?);
    let ((fp2, ep2), (fm2, em2)) = (f(x + h / 2.0)?, f(x - h / 2.0)?);
    let d1 = (fp - fm) / (2.0 * h);
    let d2 = (fp2 - fm2) / h;
    let rounding = 3.0 * ep.max(em).max(ep2).max(em2) / h;
    Ok(FdEstimate {
        derivative: (4.0 * d2 - d1) / 3.0,
        error: (d1 - d2).abs() / 3.0 + rounding,
    })
}

/// A summed loss evaluated on [`F64Bound`] numbers: its value and the bound on its rounding
/// error (infinite where the bound is lost).
fn value_and_bound(loss: &[F64Bound]) -> (f64, f64) {
    let total = loss.iter().fold(F64Bound::cst(0.0), |acc, &l| acc + l);
    (total.v, if total.lost { f64::INFINITY } else { total.e })
}

/// The summed loss of `problem` with the bound on its rounding.
fn total(problem: &Problem) -> Result<(f64, f64), UflError> {
    Ok(value_and_bound(
        &problem.evaluate_in::<F64Bound>(false)?.loss,
    ))
}

/// Where the function of a probability has kinks: 0, 1 and the clip bounds of the convention
/// (with a single channel expanded, also one minus each bound).
fn kinks(problem: &Problem) -> Result<Vec<f64>, UflError> {
    let hyper = resolve(problem.function, problem.convention, &problem.params)?;
    let (lo, hi) = problem.dtype.clip_bounds(hyper.clip_epsilon());
    Ok(vec![0.0, 1.0, lo, hi, 1.0 - lo, 1.0 - hi])
}

fn is_logits(problem: &Problem) -> bool {
    problem.params.get("input") == Some(&ParamValue::Text("logits".into()))
}

/// Finite-difference gradient of the summed loss with respect to every prediction entry (in
/// the caller's layout); `None` where the stencil would cross a kink. The inputs are checked
/// once; the perturbed values need not be representable in the problem's dtype, which only
/// fixes the references' constants (clip bounds).
pub fn input_gradient(problem: &Problem) -> Result<Vec<Option<FdEstimate>>, UflError> {
    let logits = is_logits(problem);
    let kinks = if logits { Vec::new() } else { kinks(problem)? };
    let floor = if logits { 1.0 } else { 0.01 };
    let prepared = problem.prepare()?;
    let n = problem.pred.data.len();
    // native[j] is the caller index of native position j; invert it.
    let native = prepared.to_native(&(0..n).collect::<Vec<usize>>());
    let mut position = vec![0; n];
    for (j, &i) in native.iter().enumerate() {
        position[i] = j;
    }
    let hyper = prepared.hyper.cast::<F64Bound>();
    let mut pred: Vec<F64Bound> = prepared
        .pred
        .data
        .iter()
        .map(|&x| F64Bound::cst(x))
        .collect();
    let target: Vec<F64Bound> = prepared
        .target
        .data
        .iter()
        .map(|&x| F64Bound::cst(x))
        .collect();
    let mut out = Vec::with_capacity(n);
    for (i, &x) in problem.pred.data.iter().enumerate() {
        let h = STEP_SCALE * x.abs().max(floor);
        if kinks.iter().any(|&k| (x - k).abs() <= h) {
            out.push(None);
            continue;
        }
        let j = position[i];
        let est = central_difference(
            |v| {
                pred[j] = F64Bound::cst(v);
                Ok(value_and_bound(
                    &prepared.run(&hyper, &pred, &target, false)?.loss,
                ))
            },
            x,
            floor,
        );
        pred[j] = F64Bound::cst(x);
        out.push(Some(est?));
    }
    Ok(out)
}

/// Finite-difference derivative of the summed loss with respect to the real parameter `name`,
/// or `None` when the stencil would leave the parameter's valid range.
pub fn param_derivative(problem: &Problem, name: &str) -> Result<Option<FdEstimate>, UflError> {
    let hyper = resolve(problem.function, problem.convention, &problem.params)?;
    let x = match hyper.value(name) {
        Some(Hp::Real(x)) => x,
        _ => {
            return Err(UflError::InvalidParameter {
                name: name.to_string(),
                value: "?".into(),
                reason: "not a real-valued parameter of this function".into(),
            })
        }
    };
    let spec = problem
        .function
        .spec()
        .signature(problem.convention)
        .and_then(|s| s.params.iter().find(|p| p.name == name));
    let h = STEP_SCALE * x.abs().max(1.0);
    if let Some(spec) = spec {
        if !spec.range.contains(x - h) || !spec.range.contains(x + h) {
            return Ok(None);
        }
    }
    let mut work = problem.clone();
    central_difference(
        |v| {
            work.params.insert(name.to_string(), ParamValue::Number(v));
            total(&work)
        },
        x,
        1.0,
    )
    .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn central_difference_of_smooth_functions() {
        let rounded = |v: f64| Ok((v, 4.0 * f64::EPSILON * v.abs()));
        let est = central_difference(|x| rounded(x.sin() * x.exp()), 0.7, 1.0).unwrap();
        let exact = 0.7f64.cos() * 0.7f64.exp() + 0.7f64.sin() * 0.7f64.exp();
        assert!(est.agrees(exact, 1.0), "{est:?} vs {exact}");
        assert!(est.error < 1e-8, "{est:?}");
        // A wrong derivative is outside the estimate's error.
        assert!(!est.agrees(exact * (1.0 + 1e-6), 1.0));
        let est = central_difference(|x| rounded(x.ln()), 1e-3, 1e-3).unwrap();
        assert!(est.agrees(1e3, 1.0), "{est:?}");
    }
}
