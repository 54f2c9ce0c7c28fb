//! Every way the CUDA backend can refuse or fail, as one typed error.
//!
//! Four families: a problem the oracle itself refuses ([`CudaLossError::Invalid`], with the
//! oracle's own error, so that the backend and the oracle agree on what is malformed); a valid
//! problem outside what the kernels cover ([`CudaLossError::Unsupported`]); no usable CUDA
//! installation ([`CudaLossError::NoDevice`], which the GPU tests turn into a reported skip);
//! and failures of NVRTC or the driver once a device is in use.

use thiserror::Error;
use ufl_oracle::UflError;

/// A valid problem that the kernels do not compute.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Unsupported {
    #[error("{dtype} inputs: the kernels take float32 (the clip bounds depend on the dtype)")]
    Dtype { dtype: &'static str },
    #[error("`{function}` in the `{convention}` convention: the kernels cover the symmetric and asymmetric focal, focal Tversky and unified losses in `original` and `paper`")]
    Function {
        function: &'static str,
        convention: &'static str,
    },
    #[error("rank {rank} in the `original` convention: the kernels cover rank 4 (B, H, W, C); rank 5 slices the depth axis, a quirk they do not reproduce")]
    OriginalRank { rank: usize },
    #[error("`input = logits`: the kernels take probabilities")]
    Logits,
}

/// What [`crate::CudaBackend`] returns instead of a result.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CudaLossError {
    /// The oracle refuses the problem (bad parameter, shape, value, or one of the reference
    /// implementations' own errors); the backend refuses it with the same error.
    #[error("invalid problem: {0}")]
    Invalid(#[from] UflError),
    /// The problem is valid, but the kernels do not compute it.
    #[error("not covered by the CUDA kernels: {0}")]
    Unsupported(#[from] Unsupported),
    /// No CUDA driver, no NVRTC library, or no device: nothing can run here.
    #[error("no usable CUDA device: {0}")]
    NoDevice(String),
    /// NVRTC rejected a generated kernel source (a bug of this crate, or an unusable NVRTC).
    #[error("NVRTC could not compile the kernels for {variant}: {log}")]
    Compile { variant: String, log: String },
    /// A driver call failed (or the CUDA library misbehaved) while doing `during`.
    #[error("CUDA failed while {during}: {message}")]
    Driver {
        during: &'static str,
        message: String,
    },
    /// A host or device array whose length is not the problem's element count.
    #[error("the {what} holds {len} values; the problem has {expected} elements")]
    BufferLength {
        what: &'static str,
        len: usize,
        expected: usize,
    },
    /// A size that the launch geometry cannot express.
    #[error("{what} = {value} exceeds what one launch can address ({limit})")]
    TooLarge {
        what: &'static str,
        value: u64,
        limit: u64,
    },
}
