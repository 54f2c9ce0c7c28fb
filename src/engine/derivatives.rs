//! Derivatives by forward-mode automatic differentiation of the generic evaluator: directional
//! derivatives (JVP) in one pass, the full gradient for small inputs, and derivatives with
//! respect to the hyper-parameters. They share no derivative code with the closed-form
//! gradients, which they witness (`fd.rs` gives the third witness), but all three rest on the
//! same value code: a wrong value is caught by the fixtures, not here.
//!
//! All derivatives are of the sum of the loss's entries (the loss itself when it is a scalar).

use crate::conventions::params::Hp;
use crate::engine::eval::{Overrides, Prepared, Problem};
use crate::numbers::real::Dual;
use crate::spec::error::UflError;
use crate::spec::registry::Kind;
use crate::spec::tensor::{Dtype, Tensor};

/// The largest prediction whose full gradient [`Problem::forward_mode_gradient`] computes
/// (one pass per element).
pub const FORWARD_MODE_LIMIT: usize = 1 << 14;

/// One loss entry and its derivative along a direction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Directional {
    pub value: f64,
    pub derivative: f64,
}

/// The derivative of the (summed) loss with respect to one hyper-parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamDerivative {
    pub name: &'static str,
    pub value: f64,
    pub derivative: f64,
}

impl Problem {
    /// For every loss entry, its value and its derivative along `direction` (a tensor of the
    /// prediction's shape, in the caller's layout), by forward-mode AD in one pass through the
    /// generic evaluator on [`Dual`] numbers ([`Problem::jvp`] routes to the fast path first).
    pub fn jvp_generic(&self, direction: &Tensor) -> Result<Vec<Directional>, UflError> {
        if direction.shape != self.pred.shape {
            return Err(UflError::ShapeMismatch {
                pred: self.pred.shape.clone(),
                target: direction.shape.clone(),
            });
        }
        direction.check("direction", Dtype::F64)?;
        // Entry by entry as `evaluate` gives them: a per-element loss in the caller's layout.
        let out = self.run_generic(false, Overrides::default(), |prepared| {
            tangent_inputs(prepared, &direction.data)
        })?;
        Ok(out
            .loss
            .iter()
            .map(|d| Directional {
                value: d.x,
                derivative: d.dx,
            })
            .collect())
    }

    /// The gradient of the summed loss by forward-mode AD, one pass per element (in the
    /// caller's layout). Refuses predictions above [`FORWARD_MODE_LIMIT`] elements.
    pub fn forward_mode_gradient(&self) -> Result<Vec<f64>, UflError> {
        let n = self.pred.data.len();
        if n > FORWARD_MODE_LIMIT {
            return Err(UflError::TooLarge {
                what: "prediction (for a forward-mode gradient)",
                shape: self.pred.shape.clone(),
                limit: FORWARD_MODE_LIMIT,
            });
        }
        let mut unit = vec![0.0; n];
        let mut grad = Vec::with_capacity(n);
        for i in 0..n {
            unit[i] = 1.0;
            let out = self.run_generic(false, Overrides::default(), |prepared| {
                tangent_inputs(prepared, &unit)
            })?;
            unit[i] = 0.0;
            grad.push(out.loss.iter().map(|d| d.dx).sum());
        }
        Ok(grad)
    }

    /// The derivative of the summed loss with respect to every real-valued hyper-parameter
    /// that is set (a `null` weight, a list of class weights or a word has none).
    pub fn param_derivatives(&self) -> Result<Vec<ParamDerivative>, UflError> {
        let prepared = self.prepare()?;
        let signature = self
            .function
            .spec()
            .signature(self.convention)
            .ok_or_else(|| UflError::UnsupportedConvention {
                function: self.function.name().to_string(),
                convention: self.convention.name().to_string(),
            })?;
        let pred: Vec<Dual> = prepared.pred.data.iter().map(|&p| Dual::cst(p)).collect();
        let target: Vec<Dual> = prepared.target.data.iter().map(|&t| Dual::cst(t)).collect();
        // The problem is evaluated once whatever its parameters: one without a real-valued
        // parameter has no derivative to give, but it may still be one the oracle refuses.
        prepared.run(&prepared.hyper.cast::<Dual>(), &pred, &target, false)?;
        let mut out = Vec::new();
        for spec in signature.params {
            if !matches!(
                spec.kind,
                Kind::Real | Kind::RealOrNull | Kind::RealOrListOrNull
            ) {
                continue;
            }
            let mut hyper = prepared.hyper.cast::<Dual>();
            let value = match hyper.value(spec.name) {
                Some(Hp::Real(x)) => x.x,
                _ => continue,
            };
            hyper.set_real(spec.name, Dual::new(value, 1.0))?;
            let res = prepared.run(&hyper, &pred, &target, false)?;
            out.push(ParamDerivative {
                name: spec.name,
                value,
                derivative: res.loss.iter().map(|d| d.dx).sum(),
            });
        }
        Ok(out)
    }
}

/// Dual-number inputs: the prediction with the tangent `direction` (given in the caller's
/// layout), the target constant.
fn tangent_inputs(prepared: &Prepared, direction: &[f64]) -> (Vec<Dual>, Vec<Dual>) {
    let dir = prepared.to_native(direction);
    let pred = prepared
        .pred
        .data
        .iter()
        .zip(&dir)
        .map(|(&p, &v)| Dual::new(p, v))
        .collect();
    let target = prepared.target.data.iter().map(|&t| Dual::cst(t)).collect();
    (pred, target)
}
