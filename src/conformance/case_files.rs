//! Writing case files (feature `case-files`): the inputs of a case set as a `ufl-fixtures/1`
//! file for a backend in another language, arrays above [`INLINE_LIMIT`] elements beside it as
//! `.npy` in the case's dtype (the file protocol is described in `results`).

use crate::conformance::cases::Case;
use crate::conformance::results::INLINE_LIMIT;
use crate::conventions::params::ParamValue;
use crate::protocol::io::{json_number, write_array, write_array_f32};
use crate::spec::error::UflError;
use crate::spec::tensor::Dtype;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// A parameter as JSON: integer parameters (`ignore_index`, `num_classes`, `rare_classes`)
/// as JSON integers, as Python and serde readers expect them; the readers here still accept
/// integral floats such as `255.0` there, as files written before hold them.
fn param_json(v: &ParamValue, integer: bool) -> Value {
    let number = |x: f64| {
        if integer && x.fract() == 0.0 && x.abs() < 9.0e15 {
            Value::from(x as i64)
        } else {
            json_number(x)
        }
    };
    match v {
        ParamValue::Null => Value::Null,
        ParamValue::Bool(b) => Value::Bool(*b),
        ParamValue::Number(x) => number(*x),
        ParamValue::List(xs) => xs.iter().map(|&x| number(x)).collect(),
        ParamValue::Text(t) => Value::from(t.clone()),
    }
}

/// Whether the parameter `name` of `problem`'s function takes integers.
fn integer_param(problem: &crate::engine::eval::Problem, name: &str) -> bool {
    use crate::spec::registry::Kind;
    problem
        .function
        .spec()
        .signature(problem.convention)
        .and_then(|sig| sig.params.iter().find(|p| p.name == name))
        .is_some_and(|p| matches!(p.kind, Kind::Int | Kind::IntOrNull | Kind::ClassesOrNull))
}

/// A problem's parameters as a JSON object, integer parameters as JSON integers (what case
/// files hold, and what the Python package hands out).
pub fn params_json(p: &crate::engine::eval::Problem) -> Map<String, Value> {
    p.params
        .iter()
        .map(|(k, v)| (k.clone(), param_json(v, integer_param(p, k))))
        .collect()
}

/// Writes `cases` as `dir/cases.json` (and `.npy` files under `dir/arrays/`); returns its path.
pub fn write_cases(cases: &[Case], dir: &Path) -> Result<PathBuf, UflError> {
    let io = |e: std::io::Error| UflError::Io {
        path: dir.display().to_string(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut list = Vec::with_capacity(cases.len());
    for (k, c) in cases.iter().enumerate() {
        let p = &c.problem;
        let array = |name: &str, shape: &[usize], data: &[f64]| -> Result<Value, UflError> {
            if data.len() <= INLINE_LIMIT {
                return Ok(data.iter().map(|&x| json_number(x)).collect());
            }
            std::fs::create_dir_all(dir.join("arrays")).map_err(io)?;
            let rel = format!("arrays/{k:05}-{name}.npy");
            match p.dtype {
                Dtype::F32 => write_array_f32(&dir.join(&rel), shape, data)?,
                Dtype::F64 => write_array(&dir.join(&rel), shape, data)?,
            }
            Ok(Value::from(rel))
        };
        let mut obj = json!({
            "id": c.id,
            "function": p.function.name(),
            "convention": p.convention.name(),
            "layout": p.layout.name(),
            "params": params_json(p),
            "dtype": p.dtype.name(),
            "shape": p.pred.shape,
            "y_pred": array("pred", &p.pred.shape, &p.pred.data)?,
            "y_true": array("target", &p.target.shape, &p.target.data)?,
            "tags": c.groups,
            "seed": c.seed,
        });
        if p.target.shape != p.pred.shape {
            obj["target_shape"] = json!(p.target.shape);
        }
        list.push(obj);
    }
    let root = json!({
        "format": crate::protocol::fixtures::FORMAT,
        "generator": {"implementation": "ufl-oracle", "version": env!("CARGO_PKG_VERSION"), "kind": "cases (inputs only)"},
        "cases": list,
    });
    let path = dir.join("cases.json");
    std::fs::write(&path, root.to_string()).map_err(|e| UflError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(path)
}
