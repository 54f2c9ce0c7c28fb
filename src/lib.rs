//! # ufl-oracle
//!
//! Reference values and gradients for the Unified Focal loss family (Yeung et al., CMIG 2022):
//! Dice, Tversky, focal Tversky, focal, Combo, and the symmetric and asymmetric Unified Focal
//! losses, in three conventions — the original TensorFlow code (`original`), the paper's
//! equations generalised (`paper`) and MONAI 1.6.1 (`monai`).
//!
//! Checking an implementation: the oracle's value and gradient, and the float32 error bound
//! that says how far a correct float32 implementation may be from them. Here the crate's own
//! plain float32 evaluator plays the implementation under test.
//!
//! ```
//! use ufl_oracle::bound::F32Bound;
//! use ufl_oracle::{Dtype, Layout, Params, Problem, Tensor};
//!
//! # fn main() -> Result<(), ufl_oracle::UflError> {
//! let pred = Tensor::new("prediction", vec![1, 2, 2, 2], vec![0.875, 0.125, 0.25, 0.75, 0.625, 0.375, 0.3125, 0.6875])?;
//! let target = Tensor::new("target", vec![1, 2, 2, 2], vec![1., 0., 0., 1., 1., 0., 0., 1.])?;
//! let problem = Problem::named("asym_unified_focal_loss", "original", Params::new(), pred, target,
//!                              Layout::ChannelsLast, Dtype::F32)?;
//! let oracle = problem.evaluate()?;                     // exact value and gradient (f64)
//! let bound = problem.evaluate_in::<F32Bound>(true)?;   // what float32 may legitimately differ by
//! let yours = problem.evaluate_in::<f32>(true)?;        // the implementation under test
//! let (loss, grad) = (yours.loss[0] as f64, yours.grad.unwrap());
//! assert!((loss - oracle.loss[0]).abs() <= 2.0 * bound.loss[0].e);
//! for (i, g) in grad.iter().enumerate() {
//!     assert!((*g as f64 - oracle.grad[i]).abs() <= 2.0 * bound.grad.as_ref().unwrap()[i].e);
//! }
//! # Ok(())
//! # }
//! ```

// The layers, bottom to top; a module imports only from its own layer and those below it
// (tests/layers.rs checks this).
#[cfg(feature = "cli")]
pub mod command;
pub mod conformance;
pub mod conventions;
pub mod engine;
pub mod numbers;
pub mod protocol;
pub mod spec;

// Every module also at the crate root, where users have always found it.
#[cfg(feature = "fuzzing")]
pub use conformance::fuzzing;
#[cfg(feature = "proptest")]
pub use conformance::strategies;
pub use conformance::{cases, diagnose, harness, results, tolerance, verify};
pub use conventions::{monai, original, paper, params, terms};
pub use engine::{derivatives, eval, fast, fd};
pub use numbers::{bound, real};
pub use protocol::{files, fixtures, io, json};
pub use spec::{error, registry, tensor};

pub use error::UflError;
pub use eval::{Evaluation, Outcome, Problem};
pub use params::{ParamValue, Params};
pub use real::{Dual, Real};
pub use registry::{Convention, FunctionId, FUNCTIONS};
pub use tensor::{Dtype, Layout, Tensor};

/// The README's Rust examples, compiled by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
