//! The native module of the Python package `ufl_oracle` (`ufl_oracle._native`): the oracle in
//! process, no files and no subprocess. It owns the crossing between numpy and the oracle's
//! types and nothing else; `ufl_oracle/__init__.py` is the Python API built on it.
//!
//! Arrays come in as C-contiguous float64 numpy arrays (the Python side converts once where
//! the dtype needs it) and are read in place; parameters cross as JSON text, read by the same
//! reader as case files (`ParamValue::from_json`), so a Python int, float, bool, None, str or
//! list means what it means in a case file.

use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{IntoPyArray, PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::collections::HashMap;
use ufl_oracle::cases::{cases_of_groups, Case, Filter};
use ufl_oracle::conformance::case_files::params_json;
use ufl_oracle::harness::{Harness, Judging, Response};
use ufl_oracle::tolerance::{Declared, Precision, Summation};
use ufl_oracle::{Dtype, Layout, ParamValue, Params, Problem, Tensor, UflError};

fn value_error(e: UflError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn params_from_json(text: &str) -> PyResult<Params> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let object = value
        .as_object()
        .ok_or_else(|| PyValueError::new_err("the parameters are not a mapping"))?;
    object
        .iter()
        .map(|(k, v)| Ok((k.clone(), ParamValue::from_json(k, v).map_err(value_error)?)))
        .collect()
}

fn tensor(what: &'static str, a: &PyReadonlyArrayDyn<'_, f64>) -> PyResult<Tensor> {
    let data = a
        .as_slice()
        .map_err(|_| PyValueError::new_err(format!("the {what} is not C-contiguous")))?;
    Tensor::new(what, a.shape().to_vec(), data.to_vec()).map_err(value_error)
}

/// A problem as Python passes it: `(function, convention, layout, dtype, params as JSON,
/// prediction, target)`.
#[derive(FromPyObject)]
struct ProblemArgs<'py>(
    String,
    String,
    String,
    String,
    String,
    PyReadonlyArrayDyn<'py, f64>,
    PyReadonlyArrayDyn<'py, f64>,
);

impl ProblemArgs<'_> {
    fn problem(&self) -> PyResult<Problem> {
        let ProblemArgs(function, convention, layout, dtype, params, pred, target) = self;
        Problem::named(
            function,
            convention,
            params_from_json(params)?,
            tensor("prediction", pred)?,
            tensor("target", target)?,
            Layout::parse(layout).map_err(value_error)?,
            Dtype::parse(dtype).map_err(value_error)?,
        )
        .map_err(value_error)
    }
}

/// Two float64 numpy arrays (loss and gradient, or values and derivatives).
type Pair<'py> = (Bound<'py, PyArrayDyn<f64>>, Bound<'py, PyArrayDyn<f64>>);

/// One backend answer: `(id, kind, loss, grad, message)`.
type PyResponse<'py> = (
    String,
    String,
    Option<PyReadonlyArrayDyn<'py, f64>>,
    Option<PyReadonlyArrayDyn<'py, f64>>,
    String,
);

fn array<'py>(
    py: Python<'py>,
    shape: &[usize],
    data: Vec<f64>,
) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    let a = ArrayD::from_shape_vec(IxDyn(shape), data)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(a.into_pyarray(py))
}

/// The oracle's loss (in its shape) and gradient (in the prediction's) in float64.
#[pyfunction]
fn evaluate<'py>(py: Python<'py>, args: ProblemArgs<'py>) -> PyResult<Pair<'py>> {
    let p = args.problem()?;
    let e = p.evaluate().map_err(value_error)?;
    Ok((
        array(py, &e.loss_shape, e.loss)?,
        array(py, &p.pred.shape, e.grad)?,
    ))
}

/// Every loss entry's value and its derivative along `direction` (forward mode), flat in the
/// loss's order (one pass; the loss's shape is `evaluate`'s).
#[pyfunction]
fn jvp<'py>(
    py: Python<'py>,
    args: ProblemArgs<'py>,
    direction: PyReadonlyArrayDyn<'py, f64>,
) -> PyResult<Pair<'py>> {
    let p = args.problem()?;
    let d = p
        .jvp(&tensor("direction", &direction)?)
        .map_err(value_error)?;
    let (values, derivatives) = d.iter().map(|x| (x.value, x.derivative)).unzip();
    Ok((
        array(py, &[d.len()], values)?,
        array(py, &[d.len()], derivatives)?,
    ))
}

/// d(sum of the loss)/d(each real parameter): `(name, value, derivative)`.
#[pyfunction]
fn param_derivatives(args: ProblemArgs<'_>) -> PyResult<Vec<(String, f64, f64)>> {
    let p = args.problem()?;
    Ok(p.param_derivatives()
        .map_err(value_error)?
        .into_iter()
        .map(|d| (d.name.to_string(), d.value, d.derivative))
        .collect())
}

/// A case as Python reads it: id, function, convention, layout, dtype, parameters (JSON, ints
/// as ints), tags, prediction, target (numpy arrays in the case's dtype and layout).
type PyCase<'py> = (
    String,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    String,
    Vec<String>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
);

fn numpy_in_dtype<'py>(py: Python<'py>, t: &Tensor, dtype: Dtype) -> PyResult<Bound<'py, PyAny>> {
    Ok(match dtype {
        Dtype::F64 => array(py, &t.shape, t.data.clone())?.into_any(),
        Dtype::F32 => {
            let data: Vec<f32> = t.data.iter().map(|&x| x as f32).collect();
            ArrayD::from_shape_vec(IxDyn(&t.shape), data)
                .map_err(|e| PyValueError::new_err(e.to_string()))?
                .into_pyarray(py)
                .into_any()
        }
    })
}

/// A case set, named by groups, a seed and a filter (`cases::Filter`), kept in the oracle so
/// that a check judges exactly the cases it handed out.
#[pyclass(unsendable)]
struct CaseSet {
    cases: Vec<Case>,
    seed: u64,
    filter: String,
}

fn judging(precision: Option<&str>, summation: Option<&str>) -> PyResult<Judging> {
    let summation = summation
        .map(Summation::parse)
        .transpose()
        .map_err(value_error)?
        .unwrap_or_default();
    Ok(match precision {
        None => Judging::PerCase(summation),
        Some(p) => Judging::Fixed(
            Declared::uniform(Precision::parse(p).map_err(value_error)?).with_summation(summation),
        ),
    })
}

#[pymethods]
impl CaseSet {
    #[new]
    fn new(groups: Vec<String>, seed: u64, filter: &str) -> CaseSet {
        let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
        let f = Filter::parse(filter);
        let cases = cases_of_groups(&groups, seed)
            .into_iter()
            .filter(|c| f.matches(c))
            .collect();
        CaseSet {
            cases,
            seed,
            filter: filter.to_string(),
        }
    }

    /// A set of the caller's own problems, each `(id, problem)`: the case `custom/<id>` in
    /// group `custom`, judged as any other.
    #[staticmethod]
    fn custom(problems: Vec<(String, ProblemArgs<'_>)>) -> PyResult<CaseSet> {
        let mut cases: Vec<Case> = Vec::with_capacity(problems.len());
        for (id, args) in problems {
            let id = format!("custom/{id}");
            if cases.iter().any(|c| c.id == id) {
                return Err(PyValueError::new_err(format!("two cases named {id}")));
            }
            cases.push(Case {
                id,
                groups: vec!["custom".to_string()],
                problem: args.problem()?,
                seed: None,
            });
        }
        Ok(CaseSet {
            cases,
            seed: ufl_oracle::cases::DEFAULT_SEED,
            filter: String::new(),
        })
    }

    fn __len__(&self) -> usize {
        self.cases.len()
    }

    /// Case `k` in the Python form ([`PyCase`]).
    fn case<'py>(&self, py: Python<'py>, k: usize) -> PyResult<PyCase<'py>> {
        let c = self
            .cases
            .get(k)
            .ok_or_else(|| PyValueError::new_err(format!("no case {k}")))?;
        let p = &c.problem;
        Ok((
            c.id.clone(),
            p.function.name(),
            p.convention.name(),
            p.layout.name(),
            p.dtype.name(),
            serde_json::Value::Object(params_json(p)).to_string(),
            c.groups.clone(),
            numpy_in_dtype(py, &p.pred, p.dtype)?,
            numpy_in_dtype(py, &p.target, p.dtype)?,
        ))
    }

    /// Judges the responses to the cases they name, as `ufl-oracle check` does: a case of the
    /// set without a response fails. A response is `(id, kind, loss, grad, message)` with kind
    /// `output` (loss and grad float64 arrays), `error` or `skip` (the message). Returns the text
    /// report, the JSON report, whether it is ok, and the command line's exit code.
    #[pyo3(signature = (ids, responses, precision=None, summation=None))]
    fn judge(
        &self,
        ids: Vec<String>,
        responses: Vec<PyResponse<'_>>,
        precision: Option<&str>,
        summation: Option<&str>,
    ) -> PyResult<(String, String, bool, u8)> {
        let wanted: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
        let cases: Vec<Case> = self
            .cases
            .iter()
            .filter(|c| wanted.contains(c.id.as_str()))
            .cloned()
            .collect();
        let mut answers: HashMap<String, Response> = HashMap::new();
        for (id, kind, loss, grad, message) in responses {
            let response = match kind.as_str() {
                "output" => {
                    let flat = |a: Option<PyReadonlyArrayDyn<'_, f64>>,
                                what: &str|
                     -> PyResult<Vec<f64>> {
                        let a =
                            a.ok_or_else(|| PyValueError::new_err(format!("{id}: no {what}")))?;
                        Ok(a.as_slice()
                            .map_err(|_| {
                                PyValueError::new_err(format!(
                                    "{id}: the {what} is not C-contiguous"
                                ))
                            })?
                            .to_vec())
                    };
                    Response::Output {
                        loss: flat(loss, "loss")?,
                        grad: flat(grad, "gradient")?,
                    }
                }
                "error" => Response::Error(message),
                "skip" => Response::Skip(message),
                other => {
                    return Err(PyValueError::new_err(format!(
                        "{id}: unknown response kind {other:?}"
                    )))
                }
            };
            answers.insert(id, response);
        }
        let mut harness = Harness::new(cases, judging(precision, summation)?);
        harness.seed = self.seed;
        harness.filter = self.filter.clone();
        let report =
            harness.run(|case| answers.get(&case.id).cloned().unwrap_or(Response::Missing));
        let t = report.tally();
        let code = if report.is_ok() {
            0
        } else if t.unusable > 0 {
            2
        } else {
            1
        };
        Ok((
            report.to_string(),
            report.to_json().to_string(),
            report.is_ok(),
            code,
        ))
    }
}

/// The names of every function, with the conventions that define it.
#[pyfunction]
fn functions() -> Vec<(&'static str, Vec<&'static str>)> {
    ufl_oracle::FUNCTIONS
        .iter()
        .map(|f| (f.name, f.conventions().map(|c| c.name()).collect()))
        .collect()
}

/// The `ufl-oracle` command line on `argv` (the program name first); returns its exit code.
#[pyfunction]
fn main(argv: Vec<String>) -> u8 {
    ufl_oracle::command::run(argv)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(jvp, m)?)?;
    m.add_function(wrap_pyfunction!(param_derivatives, m)?)?;
    m.add_function(wrap_pyfunction!(functions, m)?)?;
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add_class::<CaseSet>()?;
    m.add("DEFAULT_SEED", ufl_oracle::cases::DEFAULT_SEED)?;
    Ok(())
}
