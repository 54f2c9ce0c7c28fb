//! Fuzzes the closed-form gradient against forward-mode automatic differentiation on
//! small valid problems (`harness::problems::differential`).
#![no_main]

#[path = "../harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::fuzz("differential", data));
