//! Fuzzes the `ufl-fixtures/1` reader and the verifier: no panic, and no pass that
//! was not checked (`harness::readers::fixture_file`).
#![no_main]

#[path = "../harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::fuzz("fixture_file", data));
