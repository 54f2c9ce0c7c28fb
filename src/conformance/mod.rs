//! Judging an implementation: per-entry tolerances from the error bound, the case generator,
//! the harness a backend runs in `cargo test`, diagnosis of a failure, fixture verification and
//! results files. The top layer: it may use every layer below, nothing uses it.

#[cfg(feature = "case-files")]
pub mod case_files;
pub mod cases;
pub mod diagnose;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod harness;
pub mod results;
#[cfg(feature = "proptest")]
pub mod strategies;
pub mod tolerance;
pub mod verify;
