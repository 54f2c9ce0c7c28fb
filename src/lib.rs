//! # ufl-oracle
//!
//! Reference values and gradients for the Unified Focal loss family (Yeung et al., CMIG 2022):
//! Dice, Tversky, focal Tversky, focal, Combo, and the symmetric and asymmetric Unified Focal
//! losses, in three conventions — the original TensorFlow code (`original`), the paper's
//! equations generalised (`paper`) and MONAI 1.6.1 (`monai`).
//!
//! ```
//! use ufl_oracle::{Dtype, Layout, Params, Problem, Tensor};
//!
//! let pred = Tensor::new("prediction", vec![1, 2, 2, 2], vec![0.9, 0.1, 0.2, 0.8, 0.6, 0.4, 0.3, 0.7]).unwrap();
//! let target = Tensor::new("target", vec![1, 2, 2, 2], vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]).unwrap();
//! let problem = Problem::named("asym_unified_focal_loss", "original", Params::new(), pred, target,
//!                              Layout::ChannelsLast, Dtype::F64).unwrap();
//! let answer = problem.evaluate().unwrap();
//! assert!(answer.scalar().unwrap() > 0.0);
//! assert_eq!(answer.grad.len(), 8);
//! ```

pub mod bound;
pub mod error;
pub mod eval;
pub mod fixtures;
pub mod io;
pub mod monai;
pub mod original;
pub mod paper;
pub mod params;
pub mod real;
pub mod registry;
pub mod tensor;
pub mod terms;
pub mod verify;

pub use error::UflError;
pub use eval::{Evaluation, Outcome, Problem};
pub use params::{ParamValue, Params};
pub use real::{Dual, Real};
pub use registry::{Convention, FunctionId, FUNCTIONS};
pub use tensor::{Dtype, Layout, Tensor};
