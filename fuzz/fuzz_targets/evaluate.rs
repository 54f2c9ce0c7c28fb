//! Fuzzes evaluation: any function, convention, parameters, shape, layout, dtype and
//! values, evaluated or refused alike in every number type (`fuzzing::problems::evaluate`).
#![no_main]

use ufl_oracle::fuzzing::{self, CappedAllocator};

#[global_allocator]
static ALLOCATOR: CappedAllocator = CappedAllocator;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::fuzz("evaluate", data));
