//! Fuzzes the `.npy` reader: every input is read or refused with an error, never a
//! panic (`harness::readers::npy_file`).
#![no_main]

#[path = "../harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::fuzz("npy_file", data));
