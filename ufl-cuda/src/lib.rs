//! # ufl-cuda
//!
//! A CUDA backend for the Unified Focal loss family, and the worked example of checking a GPU
//! implementation with `ufl-oracle`: float32 forward and backward kernels for the symmetric and
//! asymmetric focal, focal Tversky and unified losses in the `original` convention (rank 4,
//! either layout, classes 0 and 1) and the `paper` convention (any rank ≥ 2, either layout, any
//! class count, a rare-class set, every reduction), compiled at run time with NVRTC.
//!
//! Three passes per evaluation: a fused reduction (per (item, class) TP, FN, FP and focal sums,
//! as per-block partials), a one-block finalize (partials combined in a fixed order; loss;
//! gradient coefficients), and a fused element-wise gradient. No floating-point atomics: the
//! result is the same bit for bit from run to run.
//!
//! ```no_run
//! # fn main() -> Result<(), ufl_cuda::CudaLossError> {
//! # let problem: ufl_oracle::Problem = unimplemented!();
//! let backend = ufl_cuda::CudaBackend::new()?;          // NoDevice where CUDA is absent
//! let (loss, grad) = backend.evaluate(&problem)?;     // float32, grad in the problem's layout
//! # Ok(()) }
//! ```
//!
//! Modules: [`spec`] (validation and the kernels' parameters), [`geometry`] (the fixed
//! partition of the work), [`reduce`] (the fixed summation tree), [`source`] (the CUDA source
//! of each variant), [`mirror`] (the kernels replayed on the host), `device` (the CUDA side).

mod device;
pub mod error;
pub mod geometry;
pub mod mirror;
pub mod reduce;
pub mod source;
pub mod spec;

/// The cudarc this crate is built on, for device buffers and streams of the same version.
pub use cudarc;
pub use device::{
    compile_ptx, libraries_missing, nvrtc_present, CudaBackend, DeviceResult, Kernels, Launch,
};
pub use error::{CudaLossError, Unsupported};
pub use spec::{Spec, Variant};
