//! Fuzzes the `.npy` reader: every input is read or refused with an error, never a
//! panic (`fuzzing::readers::npy_file`).
#![no_main]

use ufl_oracle::fuzzing::{self, CappedAllocator};

#[global_allocator]
static ALLOCATOR: CappedAllocator = CappedAllocator;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::fuzz("npy_file", data));
