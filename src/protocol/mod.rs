//! Files in and out: bounded, strict readers of JSON and `.npy`, the shipped fixture format,
//! and the paths and limits every reader obeys. Depends on `engine` and the layers below it.

pub mod files;
pub mod fixtures;
pub mod io;
pub mod json;
