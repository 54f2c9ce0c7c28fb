//! Reading files in the `ufl-fixtures/1` format (described in `fixtures/README.md` and
//! `fixtures/README-monai.md`): reference losses, gradients and errors recorded from a real
//! implementation, one case per input.
//!
//! Numbers are JSON numbers or the strings `"NaN"`, `"Infinity"`, `"-Infinity"`. A case's
//! convention follows from its `function` (a MONAI class name means `monai`, a function name
//! `original`) unless the case names one in an optional `convention` field; its layout is the
//! convention's (channels-last for `original`, channels-first for `monai`) unless an optional
//! `layout` field says otherwise.

use crate::conventions::params::{ParamValue, Params};
use crate::engine::eval::{native_layout, Problem};
use crate::protocol::json::{ListOrPath, Loss, Numbers};
use crate::spec::error::UflError;
use crate::spec::registry::{lookup_reference_name, Convention, FunctionId};
use crate::spec::tensor::{Dtype, Layout, Tensor};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The format tag of fixture files.
pub const FORMAT: &str = "ufl-fixtures/1";

/// The largest fixture file read (bytes): larger files are refused before reading.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// What the reference produced for a case.
#[derive(Clone, Debug, PartialEq)]
pub enum Expected {
    /// It raised: `"ExceptionType: message"`.
    Error(String),
    /// Nothing recorded: the case holds inputs only (a case file for backends).
    Inputs,
    /// It returned a loss (a scalar when `loss_shape` is empty) and a gradient.
    Value {
        loss: Vec<f64>,
        loss_shape: Vec<usize>,
        grad: Option<Vec<f64>>,
    },
}

/// One case of a fixture file.
#[derive(Clone, Debug, PartialEq)]
pub struct FixtureCase {
    pub id: String,
    /// The name as the file writes it (a function or MONAI class name).
    pub function_name: String,
    pub function: FunctionId,
    pub convention: Convention,
    pub params: Params,
    pub dtype: Dtype,
    pub layout: Layout,
    pub shape: Vec<usize>,
    pub target_shape: Vec<usize>,
    pub y_pred: Vec<f64>,
    pub y_true: Vec<f64>,
    pub expected: Expected,
    pub tags: Vec<String>,
}

impl FixtureCase {
    /// The evaluation this case records.
    pub fn problem(&self) -> Result<Problem, UflError> {
        Ok(Problem {
            function: self.function,
            convention: self.convention,
            params: self.params.clone(),
            pred: Tensor::new("prediction", self.shape.clone(), self.y_pred.clone())?,
            target: Tensor::new("target", self.target_shape.clone(), self.y_true.clone())?,
            layout: self.layout,
            dtype: self.dtype,
        })
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }
}

/// A parsed fixture file.
#[derive(Clone, Debug)]
pub struct FixtureFile {
    pub source: String,
    pub generator: Value,
    pub cases: Vec<FixtureCase>,
}

fn format_error(context: &str, message: impl Into<String>) -> UflError {
    UflError::Format {
        context: context.to_string(),
        message: message.into(),
    }
}

/// A fixture or case file as written: a closed format (serde refuses unknown and repeated
/// keys), whose arrays are streamed into `Vec<f64>` (8 bytes per number), with `generator`,
/// `params` and `defaults` free-form but strictly parsed.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    format: Option<String>,
    #[serde(default, deserialize_with = "crate::protocol::json::strict_value")]
    generator: Value,
    cases: Vec<CaseDoc>,
}

/// One case as written (see `fixtures/README.md`).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseDoc {
    id: String,
    function: String,
    #[serde(default)]
    convention: Option<String>,
    #[serde(default)]
    layout: Option<String>,
    #[serde(deserialize_with = "crate::protocol::json::strict_object")]
    params: Map<String, Value>,
    /// The defaults the reference used for the parameters not given (documentation).
    #[serde(default, deserialize_with = "crate::protocol::json::strict_value")]
    #[allow(dead_code)]
    defaults: Value,
    dtype: String,
    shape: Vec<usize>,
    #[serde(default)]
    target_shape: Option<Vec<usize>>,
    y_pred: ListOrPath,
    y_true: ListOrPath,
    #[serde(default)]
    loss: Option<Loss>,
    #[serde(default)]
    loss_shape: Option<Vec<usize>>,
    #[serde(default)]
    grad: Option<Numbers>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    /// The seed a generated case's inputs were drawn from (case files).
    #[serde(default)]
    #[allow(dead_code)]
    seed: Option<u64>,
}

/// An array field: a list of numbers, or (in case files) the path of a `.npy` file inside the
/// case file's folder `base`.
fn array_field(
    field: ListOrPath,
    name: &str,
    context: &str,
    base: Option<&Path>,
) -> Result<Vec<f64>, UflError> {
    let ctx = format!("{context}: {name}");
    match field {
        ListOrPath::Path(rel) => {
            let base = base.ok_or_else(|| {
                format_error(
                    &ctx,
                    "an array given as a file path needs the case file's folder",
                )
            })?;
            let path = crate::protocol::files::resolve_inside(base, &rel)
                .map_err(|m| format_error(&ctx, m))?;
            let what = if name == "y_true" {
                "target"
            } else {
                "prediction"
            };
            let (t, _) = crate::protocol::io::read_array(&path, what)?;
            Ok(t.data)
        }
        ListOrPath::List(values) => Ok(values),
    }
}

/// One case from its document; `base` is the folder of its file, for arrays given as paths.
fn case_from_doc(c: CaseDoc, context: &str, base: Option<&Path>) -> Result<FixtureCase, UflError> {
    let ctx = format!("{context}: case {}", crate::protocol::files::shorten(&c.id));
    let (function, implied) = lookup_reference_name(&c.function)
        .ok_or_else(|| UflError::UnknownFunction(crate::protocol::files::shorten(&c.function)))?;
    let convention = match &c.convention {
        Some(name) => name.parse()?,
        None => implied.unwrap_or(Convention::Original),
    };
    let layout = match &c.layout {
        Some(l) => Layout::parse(l)?,
        None => native_layout(convention).unwrap_or(Layout::ChannelsLast),
    };
    let params = c
        .params
        .iter()
        .map(|(k, v)| Ok((k.clone(), ParamValue::from_json(k, v)?)))
        .collect::<Result<Params, UflError>>()?;
    let dtype = Dtype::parse(&c.dtype)?;
    let pred_shape = c.shape;
    let target_shape = c.target_shape.unwrap_or_else(|| pred_shape.clone());
    let y_pred = array_field(c.y_pred, "y_pred", &ctx, base)?;
    let y_true = array_field(c.y_true, "y_true", &ctx, base)?;
    let expected = match (c.error, c.loss) {
        (Some(e), _) => Expected::Error(e),
        (None, None) => Expected::Inputs,
        (None, Some(loss)) => {
            let loss_shape = match c.loss_shape {
                Some(s) => s,
                None if loss.scalar => vec![],
                None => vec![loss.values.len()],
            };
            let loss = loss.values;
            let expected_len = crate::spec::tensor::element_count("loss", &loss_shape)?;
            if expected_len != loss.len() {
                return Err(format_error(
                    &ctx,
                    format!(
                        "loss holds {} values but loss_shape {loss_shape:?} needs {expected_len}",
                        loss.len()
                    ),
                ));
            }
            // A recorded loss without its gradient would verify the loss alone.
            let Some(Numbers(grad)) = c.grad else {
                return Err(format_error(
                    &ctx,
                    "a case with a loss needs its `grad` (a list of numbers); \
                     `null` or no `grad` would leave the gradient unchecked",
                ));
            };
            if grad.len() != y_pred.len() {
                return Err(format_error(
                    &ctx,
                    format!(
                        "grad holds {} values but y_pred holds {}",
                        grad.len(),
                        y_pred.len()
                    ),
                ));
            }
            Expected::Value {
                loss,
                loss_shape,
                grad: Some(grad),
            }
        }
    };
    Ok(FixtureCase {
        id: c.id,
        function_name: c.function,
        function,
        convention,
        params,
        dtype,
        layout,
        shape: pred_shape,
        target_shape,
        y_pred,
        y_true,
        expected,
        tags: c.tags,
    })
}

/// Parses a whole fixture file's text. `source` names it in messages.
pub fn parse(text: &str, source: &str) -> Result<FixtureFile, UflError> {
    parse_in(text, source, None)
}

/// Parses a fixture file's text whose arrays may be `.npy` paths relative to `base`.
pub fn parse_in(text: &str, source: &str, base: Option<&Path>) -> Result<FixtureFile, UflError> {
    from_doc(
        crate::protocol::json::parse_typed(text, source)?,
        source,
        base,
    )
}

/// A fixture file from its document.
fn from_doc(doc: FileDoc, source: &str, base: Option<&Path>) -> Result<FixtureFile, UflError> {
    match doc.format.as_deref() {
        Some(FORMAT) => {}
        Some(format) => {
            return Err(format_error(
                source,
                format!(
                    "format is \"{}\", expected \"{FORMAT}\"",
                    crate::protocol::files::shorten(format)
                ),
            ))
        }
        None => return Err(format_error(source, "missing field `format`")),
    }
    let cases = doc
        .cases
        .into_iter()
        .map(|c| case_from_doc(c, source, base))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(FixtureFile {
        source: source.to_string(),
        generator: doc.generator,
        cases,
    })
}

/// Reads and parses one fixture file (a regular file of at most [`MAX_FILE_BYTES`], parsed
/// strictly from its reader: see [`super::json`]).
pub fn read(path: &Path) -> Result<FixtureFile, UflError> {
    let doc = crate::protocol::json::read_typed(path, MAX_FILE_BYTES)?;
    from_doc(doc, &path.display().to_string(), path.parent())
}

/// The files a list of paths names: each file named explicitly (whatever its extension), and
/// in each folder (searched recursively, see [`super::files::walk`]) every `.json` file (any
/// case) whose `format` field is [`FORMAT`]. Every other JSON file or entry of a searched folder
/// is returned in `skipped` with the reason, never silently dropped.
#[derive(Debug, Default)]
pub struct Collected {
    pub files: Vec<PathBuf>,
    pub skipped: Vec<(PathBuf, String)>,
}

/// See [`Collected`].
pub fn collect(paths: &[PathBuf]) -> Result<Collected, UflError> {
    let mut out = Collected::default();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| crate::protocol::files::io_err(p, e))?;
        if !meta.is_dir() {
            out.files.push(p.clone());
            continue;
        }
        let walk = crate::protocol::files::walk(p, "json")?;
        out.skipped.extend(walk.skipped);
        for f in walk.files {
            match crate::protocol::json::declared_format(&f, MAX_FILE_BYTES) {
                Ok(Some(format)) if format == FORMAT => out.files.push(f),
                Ok(Some(format)) => out.skipped.push((
                    f,
                    format!(
                        "declares format \"{}\", not \"{FORMAT}\"",
                        crate::protocol::files::shorten(&format)
                    ),
                )),
                Ok(None) => out.skipped.push((f, "has no `format` field".into())),
                Err(e) => out.skipped.push((f, format!("not read: {e}"))),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_decode_the_non_finite_strings() {
        let file = parse(
            r#"{"format": "ufl-fixtures/1", "cases": [{"id": "c", "function": "dice_loss",
                "params": {}, "dtype": "float64", "shape": [1, 1, 1, 5],
                "y_pred": [1.5, "NaN", "Infinity", "-Infinity", -0.0], "y_true": [1, 0, 0, 0, 0]}]}"#,
            "t",
        )
        .unwrap();
        let xs = &file.cases[0].y_pred;
        assert_eq!(xs[0], 1.5);
        assert!(xs[1].is_nan());
        assert_eq!(xs[2], f64::INFINITY);
        assert_eq!(xs[3], f64::NEG_INFINITY);
        assert!(xs[4] == 0.0 && xs[4].is_sign_negative());
        let nan = parse(
            r#"{"format": "ufl-fixtures/1", "cases": [{"id": "c", "function": "dice_loss",
                "params": {}, "dtype": "float64", "shape": [1, 1, 1, 1],
                "y_pred": ["nan"], "y_true": [1]}]}"#,
            "t",
        );
        assert!(nan
            .unwrap_err()
            .to_string()
            .contains("\"nan\" is not a number"));
    }

    #[test]
    fn keys_given_twice_or_unknown_are_refused() {
        let case = r#"{"id": "c", "function": "dice_loss", "params": {"delta": 0.5, "delta": 0.6},
            "dtype": "float64", "shape": [1, 1, 1, 1], "y_pred": [0.5], "y_true": [1]}"#;
        let e = parse(
            &format!(r#"{{"format": "ufl-fixtures/1", "cases": [{case}]}}"#),
            "t",
        );
        assert!(e.unwrap_err().to_string().contains("duplicate key `delta`"));
        let e = parse(
            r#"{"format": "ufl-fixtures/1", "format": "ufl-fixtures/1", "cases": []}"#,
            "t",
        );
        assert!(e
            .unwrap_err()
            .to_string()
            .contains("duplicate field `format`"));
        let e = parse(
            r#"{"format": "ufl-fixtures/1", "cases": [], "note": 1}"#,
            "t",
        );
        assert!(e.unwrap_err().to_string().contains("unknown field `note`"));
    }

    #[test]
    fn wrong_format_is_refused() {
        let e = parse(r#"{"format": "ufl-fixtures/2", "cases": []}"#, "t").unwrap_err();
        assert!(matches!(e, UflError::Format { .. }), "{e}");
        assert!(matches!(
            parse("{", "t").unwrap_err(),
            UflError::Json { .. }
        ));
    }
}
