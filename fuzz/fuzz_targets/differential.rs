//! Fuzzes the closed-form gradient against forward-mode automatic differentiation on
//! small valid problems (`fuzzing::problems::differential`).
#![no_main]

use ufl_oracle::fuzzing::{self, CappedAllocator};

#[global_allocator]
static ALLOCATOR: CappedAllocator = CappedAllocator;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::fuzz("differential", data));
