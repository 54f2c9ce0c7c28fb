//! Fuzzes the `.npy` reader: every input is read or refused with an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ufl_oracle::io::read_npy_bytes(data, "fuzz", "prediction");
});
