//! Fuzzes the `ufl-fixtures/1` reader and the verifier on whatever it accepts: neither may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(file) = ufl_oracle::fixtures::parse(text, "fuzz") {
            for case in file.cases.iter().take(4) {
                if case.y_pred.len() <= 4096 {
                    let _ = ufl_oracle::verify::verify_case(case);
                }
            }
        }
    }
});
