//! Fuzzes the `ufl-fixtures/1` reader and the verifier: no panic, and no pass that
//! was not checked (`fuzzing::readers::fixture_file`).
#![no_main]

use ufl_oracle::fuzzing::{self, CappedAllocator};

#[global_allocator]
static ALLOCATOR: CappedAllocator = CappedAllocator;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::fuzz("fixture_file", data));
