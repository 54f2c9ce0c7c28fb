//! Fuzzes the JSON array reader: read or refused, and what is read survives the
//! oracle's own round trip (`harness::readers::json_array`).
#![no_main]

#[path = "../harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::fuzz("json_array", data));
