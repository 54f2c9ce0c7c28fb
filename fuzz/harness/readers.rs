//! Checks for the readers of untrusted files: fixture files, `.npy` arrays and JSON arrays.
//! Each reader must read or refuse without panicking; what it accepts must be consistent (the
//! shape holds the data), and a fixture case the verifier passes must really have been
//! checked.

use super::Finding;
use ufl_oracle::fixtures::{self, Expected, FixtureCase};
use ufl_oracle::io::{json_number, parse_json_array, read_npy_bytes};
use ufl_oracle::tensor::element_count;
use ufl_oracle::verify::{verify_case, Verdict};
use ufl_oracle::{Dtype, Tensor};

/// At most this many cases of one fuzzed fixture file are verified (each is an evaluation).
const CASES_VERIFIED: usize = 4;

/// Fixture text: parsed or refused; every case the verifier passes was checked entry by entry.
pub fn fixture_file(data: &[u8]) -> Result<(), Finding> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let Ok(file) = fixtures::parse(text, "fuzz") else {
        return Ok(());
    };
    for case in file.cases.iter().take(CASES_VERIFIED) {
        let report = verify_case(case);
        if let Verdict::Pass { .. } = report.verdict {
            pass_was_verified(case)?;
        }
    }
    Ok(())
}

/// A passing case: the oracle gave the recorded error, or a value whose every entry was
/// compared (both NaN, equal, or both finite, so that a tolerance was applied to a difference).
fn pass_was_verified(case: &FixtureCase) -> Result<(), Finding> {
    let answer = case.problem().and_then(|p| p.evaluate());
    match (&case.expected, answer) {
        (Expected::Error(recorded), Err(e)) if e.matches_recorded(recorded) => Ok(()),
        (Expected::Error(recorded), other) => Err(format!(
            "case {} passed, but the reference raised `{recorded}` and the oracle gives {other:?}",
            case.id
        )),
        (Expected::Value { .. }, Err(e)) => Err(format!(
            "case {} passed, but the oracle refuses it: {e}",
            case.id
        )),
        (Expected::Inputs, _) => Err(format!(
            "case {} passed, but it records no reference output to pass against",
            case.id
        )),
        (
            Expected::Value {
                loss,
                loss_shape,
                grad,
            },
            Ok(ev),
        ) => {
            if *loss_shape != ev.loss_shape {
                return Err(format!(
                    "case {} passed with loss shape {loss_shape:?} against the oracle's {:?}",
                    case.id, ev.loss_shape
                ));
            }
            entries_compared(&case.id, "loss", loss, &ev.loss)?;
            if let Some(g) = grad {
                entries_compared(&case.id, "grad", g, &ev.grad)?;
            }
            Ok(())
        }
    }
}

fn entries_compared(id: &str, name: &str, reference: &[f64], got: &[f64]) -> Result<(), Finding> {
    if reference.len() != got.len() {
        return Err(format!(
            "case {id} passed with {} {name} entries against the oracle's {}",
            reference.len(),
            got.len()
        ));
    }
    for (i, (&r, &g)) in reference.iter().zip(got).enumerate() {
        let compared = (r.is_nan() && g.is_nan()) || r == g || (r.is_finite() && g.is_finite());
        if !compared {
            return Err(format!(
                "case {id} passed, but {name}[{i}] is {r:e} in the reference and {g:e} in the oracle"
            ));
        }
    }
    Ok(())
}

/// `.npy` bytes: read or refused; what is read fills its shape, and float32 files give float32
/// values.
pub fn npy_file(data: &[u8]) -> Result<(), Finding> {
    let Ok((tensor, dtype)) = read_npy_bytes(data, "fuzz", "prediction") else {
        return Ok(());
    };
    holds_its_shape(&tensor)?;
    if dtype == Dtype::F32 {
        if let Some(x) = tensor
            .data
            .iter()
            .find(|x| !x.is_nan() && Dtype::F32.round(**x) != **x)
        {
            return Err(format!("a float32 file gave the non-float32 value {x:e}"));
        }
    }
    Ok(())
}

/// JSON array text: read or refused; what is read fills its shape and survives the round trip
/// through the `{"shape", "data"}` form the oracle writes, bit for bit.
pub fn json_array(data: &[u8]) -> Result<(), Finding> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let Ok(tensor) = parse_json_array(text, "fuzz", "prediction") else {
        return Ok(());
    };
    holds_its_shape(&tensor)?;
    let written = serde_json::json!({
        "shape": tensor.shape,
        "data": tensor.data.iter().map(|&x| json_number(x)).collect::<Vec<_>>(),
    })
    .to_string();
    let back = parse_json_array(&written, "round trip", "prediction")
        .map_err(|e| format!("the oracle cannot read what it writes: {e}\n{written}"))?;
    let same = back.shape == tensor.shape
        && back.data.len() == tensor.data.len()
        && back
            .data
            .iter()
            .zip(&tensor.data)
            .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
    if !same {
        return Err(format!(
            "round trip changed the array: {:?} {:?} became {:?} {:?}",
            tensor.shape, tensor.data, back.shape, back.data
        ));
    }
    Ok(())
}

fn holds_its_shape(tensor: &Tensor) -> Result<(), Finding> {
    match element_count("array", &tensor.shape) {
        Ok(n) if n == tensor.data.len() => Ok(()),
        other => Err(format!(
            "accepted shape {:?} with {} values ({other:?})",
            tensor.shape,
            tensor.data.len()
        )),
    }
}
