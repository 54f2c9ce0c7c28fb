//! Fuzzes evaluation: any function, convention, parameters, shape, layout, dtype and
//! values, evaluated or refused alike in every number type (`harness::problems::evaluate`).
#![no_main]

#[path = "../harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::fuzz("evaluate", data));
