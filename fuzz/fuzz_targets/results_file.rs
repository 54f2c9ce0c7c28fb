//! Fuzzes the results-file reader and the harness's verdicts on what it reads
//! (`harness::readers::results_file`).
#![no_main]

#[path = "../harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::fuzz("results_file", data));
