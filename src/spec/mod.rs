//! What a loss is, before any arithmetic: the registry of functions, conventions and their
//! parameters (the one description of every loss), tensors with their layouts and dtypes, and
//! the crate's error type. Depends on nothing else in the crate.

pub mod error;
pub mod registry;
pub mod tensor;
