//! The oracle's answer to a problem: the fast path where it covers the problem, else the
//! generic evaluator. The top of the engine: it is the only module that routes between the two,
//! so the generic pipeline (`eval`, `derivatives`) never calls the fast path that is checked
//! against it.

use crate::engine::derivatives::Directional;
use crate::engine::eval::{Evaluation, Overrides, Problem};
use crate::engine::fast;
use crate::spec::error::UflError;
use crate::spec::tensor::Tensor;

impl Problem {
    /// The oracle's answer: value and gradient in f64. Problems the fast path covers are
    /// answered by it (`fast`: the same expressions, within the same error bound);
    /// [`Problem::evaluate_with`] and `evaluate_in::<f64>(true)` always run the generic
    /// evaluator.
    pub fn evaluate(&self) -> Result<Evaluation, UflError> {
        match fast::evaluate(self) {
            Some(answer) => Ok(answer),
            None => self.evaluate_with(Overrides::default()),
        }
    }

    /// For every loss entry, its value and its derivative along `direction` (a tensor of the
    /// prediction's shape, in the caller's layout), by forward-mode AD in one pass. Problems
    /// the fast path covers get its fused forward mode (`fast::jvp`); [`Problem::jvp_generic`]
    /// always runs the generic evaluator on dual numbers.
    pub fn jvp(&self, direction: &Tensor) -> Result<Vec<Directional>, UflError> {
        if let Some(answer) = fast::jvp(self, direction) {
            return Ok(answer);
        }
        self.jvp_generic(direction)
    }
}
