//! Fuzzes the JSON array reader: read or refused, and what is read survives the
//! oracle's own round trip (`fuzzing::readers::json_array`).
#![no_main]

use ufl_oracle::fuzzing::{self, CappedAllocator};

#[global_allocator]
static ALLOCATOR: CappedAllocator = CappedAllocator;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::fuzz("json_array", data));
