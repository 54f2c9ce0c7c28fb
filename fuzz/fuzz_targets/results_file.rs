//! Fuzzes the results-file reader and the harness's verdicts on what it reads
//! (`fuzzing::readers::results_file`).
#![no_main]

use ufl_oracle::fuzzing::{self, CappedAllocator};

#[global_allocator]
static ALLOCATOR: CappedAllocator = CappedAllocator;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::fuzz("results_file", data));
