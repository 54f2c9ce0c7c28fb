//! Every way an evaluation can be refused, as one typed error.
//!
//! Three families: bad input to the oracle itself (unknown names, out-of-range parameters,
//! malformed arrays, non-finite or out-of-range values); behaviours of a reference
//! implementation that the oracle reproduces (the original TensorFlow code and MONAI raise on
//! certain inputs, and so does the oracle, with the same meaning); and unreadable files.
//! [`UflError::reference_exception`] gives, for the second family, the exception type and the
//! message fragment the reference raises, which is how fixture `error` cases are matched.

use thiserror::Error;

/// Formats a shape as torch prints it: `torch.Size([2, 2, 8])`.
fn torch_size(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("torch.Size([{}])", dims.join(", "))
}

/// Formats a shape as TensorFlow prints it in an `Incompatible shapes` message: `[2,6,6,3]`.
fn tf_shape(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(","))
}

/// An evaluation, a file or an argument the oracle refuses.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum UflError {
    // ---- names and parameters -------------------------------------------------------------
    #[error("unknown function `{0}` (run `ufl-oracle list` for the functions)")]
    UnknownFunction(String),
    #[error("unknown convention `{0}`: expected `original`, `paper` or `monai`")]
    UnknownConvention(String),
    #[error("`{function}` is not defined in the `{convention}` convention")]
    UnsupportedConvention {
        function: String,
        convention: String,
    },
    #[error("`{function}` has no parameter `{name}` in the `{convention}` convention")]
    UnknownParameter {
        function: String,
        convention: String,
        name: String,
    },
    #[error("parameter `{name}` = {value}: {reason}")]
    InvalidParameter {
        name: String,
        value: String,
        reason: String,
    },

    // ---- shapes and values ----------------------------------------------------------------
    #[error("{what} has rank {rank}; {expected}")]
    InvalidRank {
        what: &'static str,
        rank: usize,
        expected: &'static str,
    },
    #[error("{what} has shape {shape:?} with an empty axis {axis}")]
    EmptyAxis {
        what: &'static str,
        shape: Vec<usize>,
        axis: usize,
    },
    #[error("{what} has shape {shape:?}, whose element count overflows or exceeds the limit of {limit} elements")]
    TooLarge {
        what: &'static str,
        shape: Vec<usize>,
        limit: usize,
    },
    #[error("{what} holds {len} values but its shape {shape:?} needs {expected}")]
    LengthMismatch {
        what: &'static str,
        shape: Vec<usize>,
        len: usize,
        expected: usize,
    },
    #[error("prediction shape {pred:?} and target shape {target:?} differ")]
    ShapeMismatch {
        pred: Vec<usize>,
        target: Vec<usize>,
    },
    #[error("{what}[{index}] = {value} is not finite")]
    NonFinite {
        what: &'static str,
        index: usize,
        value: f64,
    },
    #[error("{what}[{index}] = {value} is outside [0, 1]")]
    OutsideUnitInterval {
        what: &'static str,
        index: usize,
        value: f64,
    },
    #[error("{what}[{index}] = {value} is not a class index (a non-negative integer)")]
    NotAClassIndex {
        what: &'static str,
        index: usize,
        value: f64,
    },
    #[error(
        "{what}[{index}] = {value} is not representable in {dtype} (the declared input dtype)"
    )]
    NotRepresentable {
        what: &'static str,
        index: usize,
        value: f64,
        dtype: &'static str,
    },
    #[error("layout `{0}` is not one of `channels-first`, `channels-last`")]
    UnknownLayout(String),
    #[error("dtype `{0}` is not one of `float32`, `float64`")]
    UnknownDtype(String),

    // ---- behaviours of the original TensorFlow code ---------------------------------------
    #[error("the original raises ValueError: Metric: Shape of tensor is neither 2D or 3D. (rank {rank})")]
    OriginalRank { rank: usize },
    #[error("the original raises InvalidArgumentError: slice index {index} of dimension {dimension} out of bounds (size {size})")]
    OriginalSliceOutOfBounds {
        index: usize,
        dimension: usize,
        size: usize,
    },
    #[error("the original raises InvalidArgumentError: Incompatible shapes: [{weights}] vs. {}", tf_shape(.shape))]
    OriginalIncompatibleWeights { weights: usize, shape: Vec<usize> },

    // ---- behaviours of MONAI 1.6.1 --------------------------------------------------------
    #[error("MONAI raises ValueError: input shape must be 4 or 5, but got {}", torch_size(.shape))]
    MonaiRank { shape: Vec<usize> },
    #[error("MONAI raises ValueError: ground truth has different shape ({}) from input ({})", torch_size(.target), torch_size(.input))]
    MonaiShapeMismatch {
        target: Vec<usize>,
        input: Vec<usize>,
    },
    #[error("MONAI raises IndexError: index 1 is out of bounds for dimension 1 with size {size}")]
    MonaiChannelIndex { size: usize },
    #[error("MONAI raises RuntimeError: index {label} is out of bounds for dimension 1 with size {classes}")]
    MonaiOneHotOutOfRange { label: usize, classes: usize },
    #[error(
        "MONAI raises ValueError: Invalid class index found. Maximum class should be {max_class}"
    )]
    MonaiInvalidClassIndex { max_class: usize },

    // ---- files ----------------------------------------------------------------------------
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("{path}: {kind}, not a regular file (only regular files are read)")]
    NotRegularFile { path: String, kind: &'static str },
    #[error("{path}: larger than the limit of {limit} bytes (at least {bytes} bytes)")]
    FileTooLarge {
        path: String,
        bytes: u64,
        limit: u64,
    },
    #[error("{context}: invalid JSON: {message}")]
    Json { context: String, message: String },
    #[error("{context}: {message}")]
    Format { context: String, message: String },
    #[error("{path}: unusable .npy file: {message}")]
    Npy { path: String, message: String },
}

impl UflError {
    /// For a reproduced behaviour: the exception type the reference raises and the fragment of
    /// its message that identifies it. `None` for the oracle's own refusals.
    pub fn reference_exception(&self) -> Option<(&'static str, String)> {
        Some(match self {
            UflError::OriginalRank { .. } => (
                "ValueError",
                "Metric: Shape of tensor is neither 2D or 3D.".to_string(),
            ),
            UflError::OriginalSliceOutOfBounds {
                index, dimension, ..
            } => (
                "InvalidArgumentError",
                format!("slice index {index} of dimension {dimension} out of bounds"),
            ),
            UflError::OriginalIncompatibleWeights { weights, shape } => (
                "InvalidArgumentError",
                format!("Incompatible shapes: [{weights}] vs. {}", tf_shape(shape)),
            ),
            UflError::MonaiRank { shape } => (
                "ValueError",
                format!("input shape must be 4 or 5, but got {}", torch_size(shape)),
            ),
            UflError::MonaiShapeMismatch { target, input } => (
                "ValueError",
                format!(
                    "ground truth has different shape ({}) from input ({})",
                    torch_size(target),
                    torch_size(input)
                ),
            ),
            UflError::MonaiChannelIndex { size } => (
                "IndexError",
                format!("index 1 is out of bounds for dimension 1 with size {size}"),
            ),
            UflError::MonaiOneHotOutOfRange { label, classes } => (
                "RuntimeError",
                format!("index {label} is out of bounds for dimension 1 with size {classes}"),
            ),
            UflError::MonaiInvalidClassIndex { max_class } => (
                "ValueError",
                format!("Invalid class index found. Maximum class should be {max_class}"),
            ),
            _ => return None,
        })
    }

    /// True when `recorded` (`"ExceptionType: message"`, as fixtures write it) is the exception
    /// this error stands for.
    pub fn matches_recorded(&self, recorded: &str) -> bool {
        match self.reference_exception() {
            Some((kind, fragment)) => {
                recorded.starts_with(&format!("{kind}:")) && recorded.contains(&fragment)
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_what_the_references_print() {
        let e = UflError::MonaiShapeMismatch {
            target: vec![3, 1, 5, 7],
            input: vec![3, 2, 5, 7],
        };
        assert!(e.matches_recorded(
            "ValueError: ground truth has different shape (torch.Size([3, 1, 5, 7])) from input (torch.Size([3, 2, 5, 7]))"
        ));
        let e = UflError::OriginalIncompatibleWeights {
            weights: 2,
            shape: vec![2, 6, 6, 3],
        };
        assert!(e.matches_recorded("InvalidArgumentError: {{function_node __wrapped__Mul}} Incompatible shapes: [2] vs. [2,6,6,3] [Op:Mul]"));
        assert!(!e.matches_recorded("ValueError: Incompatible shapes: [2] vs. [2,6,6,3]"));
        assert!(!UflError::UnknownFunction("x".into()).matches_recorded("ValueError: x"));
    }
}
