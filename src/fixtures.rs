//! Reading files in the `ufl-fixtures/1` format (described in `fixtures/README.md` and
//! `fixtures/README-monai.md`): reference losses, gradients and errors recorded from a real
//! implementation, one case per input.
//!
//! Numbers are JSON numbers or the strings `"NaN"`, `"Infinity"`, `"-Infinity"`. A case's
//! convention follows from its `function` (a MONAI class name means `monai`, a function name
//! `original`) unless the case names one in an optional `convention` field; its layout is the
//! convention's (channels-last for `original`, channels-first for `monai`) unless an optional
//! `layout` field says otherwise.

use crate::error::UflError;
use crate::eval::{native_layout, Problem};
use crate::params::{ParamValue, Params};
use crate::registry::{lookup_reference_name, Convention, FunctionId};
use crate::tensor::{Dtype, Layout, Tensor};
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

/// Decodes a fixture number: a JSON number or one of the non-finite strings.
pub fn number(v: &Value, context: &str) -> Result<f64, UflError> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| format_error(context, format!("{n} is not a number"))),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => Err(format_error(
                context,
                format!("\"{other}\" is not a number"),
            )),
        },
        other => Err(format_error(
            context,
            format!("expected a number, found {}", kind_of(other)),
        )),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Decodes a list of fixture numbers.
pub fn numbers(v: &Value, context: &str) -> Result<Vec<f64>, UflError> {
    match v {
        Value::Array(items) => items.iter().map(|x| number(x, context)).collect(),
        other => Err(format_error(
            context,
            format!("expected a list of numbers, found {}", kind_of(other)),
        )),
    }
}

/// Decodes a shape: a list of non-negative integers.
pub fn shape(v: &Value, context: &str) -> Result<Vec<usize>, UflError> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|x| {
                x.as_u64()
                    .and_then(|d| usize::try_from(d).ok())
                    .ok_or_else(|| format_error(context, format!("{x} is not an axis length")))
            })
            .collect(),
        other => Err(format_error(
            context,
            format!("expected a shape, found {}", kind_of(other)),
        )),
    }
}

fn field<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    context: &str,
) -> Result<&'a Value, UflError> {
    obj.get(name)
        .ok_or_else(|| format_error(context, format!("missing field `{name}`")))
}

fn text<'a>(obj: &'a Map<String, Value>, name: &str, context: &str) -> Result<&'a str, UflError> {
    field(obj, name, context)?
        .as_str()
        .ok_or_else(|| format_error(context, format!("`{name}` must be a string")))
}

/// An array field: a list of numbers, or (in case files) the path of a `.npy` file relative
/// to the file's folder `base`.
fn array_field(
    obj: &Map<String, Value>,
    name: &str,
    context: &str,
    base: Option<&Path>,
) -> Result<Vec<f64>, UflError> {
    let ctx = format!("{context}: {name}");
    match field(obj, name, context)? {
        Value::String(rel) => {
            let base = base.ok_or_else(|| {
                format_error(
                    &ctx,
                    "an array given as a file path needs the case file's folder",
                )
            })?;
            let path =
                crate::files::resolve_inside(base, rel).map_err(|m| format_error(&ctx, m))?;
            let what = if name == "y_true" {
                "target"
            } else {
                "prediction"
            };
            let (t, _) = crate::io::read_array(&path, what)?;
            Ok(t.data)
        }
        other => numbers(other, &ctx),
    }
}

/// Parses one case object; `base` is the folder of its file, for arrays given as paths.
pub fn parse_case(v: &Value, context: &str, base: Option<&Path>) -> Result<FixtureCase, UflError> {
    let obj = v
        .as_object()
        .ok_or_else(|| format_error(context, "a case must be an object"))?;
    let id = text(obj, "id", context)?.to_string();
    let ctx = format!("{context}: case {}", crate::files::shorten(&id));
    let function_name = text(obj, "function", &ctx)?.to_string();
    let (function, implied) = lookup_reference_name(&function_name)
        .ok_or_else(|| UflError::UnknownFunction(function_name.clone()))?;
    let convention = match obj.get("convention") {
        Some(c) => c
            .as_str()
            .ok_or_else(|| format_error(&ctx, "`convention` must be a string"))?
            .parse()?,
        None => implied.unwrap_or(Convention::Original),
    };
    let layout = match obj.get("layout") {
        Some(l) => Layout::parse(
            l.as_str()
                .ok_or_else(|| format_error(&ctx, "`layout` must be a string"))?,
        )?,
        None => native_layout(convention).unwrap_or(Layout::ChannelsLast),
    };
    let params = match field(obj, "params", &ctx)? {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| Ok((k.clone(), ParamValue::from_json(k, v)?)))
            .collect::<Result<Params, UflError>>()?,
        other => {
            return Err(format_error(
                &ctx,
                format!("`params` must be an object, found {}", kind_of(other)),
            ))
        }
    };
    let dtype = Dtype::parse(text(obj, "dtype", &ctx)?)?;
    let pred_shape = shape(field(obj, "shape", &ctx)?, &ctx)?;
    let target_shape = match obj.get("target_shape") {
        Some(s) if !s.is_null() => shape(s, &ctx)?,
        _ => pred_shape.clone(),
    };
    let y_pred = array_field(obj, "y_pred", &ctx, base)?;
    let y_true = array_field(obj, "y_true", &ctx, base)?;
    let expected = match obj.get("error") {
        Some(Value::String(e)) => Expected::Error(e.clone()),
        Some(Value::Null) | None if obj.get("loss").is_none_or(Value::is_null) => Expected::Inputs,
        Some(Value::Null) | None => {
            let loss_field = field(obj, "loss", &ctx)?;
            let (loss, loss_shape) = match loss_field {
                Value::Array(_) => {
                    let loss = numbers(loss_field, &format!("{ctx}: loss"))?;
                    let loss_shape = match obj.get("loss_shape") {
                        Some(s) => shape(s, &ctx)?,
                        None => vec![loss.len()],
                    };
                    (loss, loss_shape)
                }
                scalar => (vec![number(scalar, &format!("{ctx}: loss"))?], vec![]),
            };
            let expected_len = crate::tensor::element_count("loss", &loss_shape)?;
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
            let grad = match obj.get("grad") {
                Some(Value::Null) | None => {
                    return Err(format_error(
                        &ctx,
                        "a case with a loss needs its `grad` (a list of numbers); \
                         `null` or no `grad` would leave the gradient unchecked",
                    ))
                }
                Some(g) => Some(numbers(g, &format!("{ctx}: grad"))?),
            };
            if let Some(g) = &grad {
                if g.len() != y_pred.len() {
                    return Err(format_error(
                        &ctx,
                        format!(
                            "grad holds {} values but y_pred holds {}",
                            g.len(),
                            y_pred.len()
                        ),
                    ));
                }
            }
            Expected::Value {
                loss,
                loss_shape,
                grad,
            }
        }
        Some(other) => {
            return Err(format_error(
                &ctx,
                format!("`error` must be a string or null, found {}", kind_of(other)),
            ))
        }
    };
    let tags = match obj.get("tags") {
        Some(Value::Array(t)) => t
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    Ok(FixtureCase {
        id,
        function_name,
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
        tags,
    })
}

/// Parses a whole fixture file's text. `source` names it in messages.
pub fn parse(text: &str, source: &str) -> Result<FixtureFile, UflError> {
    parse_in(text, source, None)
}

/// Parses a fixture file's text whose arrays may be `.npy` paths relative to `base`.
pub fn parse_in(text: &str, source: &str, base: Option<&Path>) -> Result<FixtureFile, UflError> {
    from_value(&crate::json::parse_str(text, source)?, source, base)
}

/// A fixture file from its (strictly parsed) JSON tree.
fn from_value(root: &Value, source: &str, base: Option<&Path>) -> Result<FixtureFile, UflError> {
    let obj = root
        .as_object()
        .ok_or_else(|| format_error(source, "the top level must be an object"))?;
    let format = text_field(obj, "format", source)?;
    if format != FORMAT {
        return Err(format_error(
            source,
            format!(
                "format is \"{}\", expected \"{FORMAT}\"",
                crate::files::shorten(format)
            ),
        ));
    }
    let cases = match field(obj, "cases", source)? {
        Value::Array(items) => items
            .iter()
            .map(|c| parse_case(c, source, base))
            .collect::<Result<Vec<_>, _>>()?,
        other => {
            return Err(format_error(
                source,
                format!("`cases` must be a list, found {}", kind_of(other)),
            ))
        }
    };
    Ok(FixtureFile {
        source: source.to_string(),
        generator: obj.get("generator").cloned().unwrap_or(Value::Null),
        cases,
    })
}

fn text_field<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    context: &str,
) -> Result<&'a str, UflError> {
    text(obj, name, context)
}

/// Reads and parses one fixture file (a regular file of at most [`MAX_FILE_BYTES`], parsed
/// strictly from its reader: see [`crate::json`]).
pub fn read(path: &Path) -> Result<FixtureFile, UflError> {
    let root = crate::json::read_file(path, MAX_FILE_BYTES)?;
    from_value(&root, &path.display().to_string(), path.parent())
}

/// The files a list of paths names: each file named explicitly (whatever its extension), and
/// in each folder (searched recursively, see [`crate::files::walk`]) every `.json` file (any
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
        let meta = std::fs::metadata(p).map_err(|e| crate::files::io_err(p, e))?;
        if !meta.is_dir() {
            out.files.push(p.clone());
            continue;
        }
        let walk = crate::files::walk(p, "json")?;
        out.skipped.extend(walk.skipped);
        for f in walk.files {
            match crate::json::declared_format(&f, MAX_FILE_BYTES) {
                Ok(Some(format)) if format == FORMAT => out.files.push(f),
                Ok(Some(format)) => out.skipped.push((
                    f,
                    format!(
                        "declares format \"{}\", not \"{FORMAT}\"",
                        crate::files::shorten(&format)
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
        let v: Value =
            serde_json::from_str(r#"[1.5, "NaN", "Infinity", "-Infinity", -0.0]"#).unwrap();
        let xs = numbers(&v, "t").unwrap();
        assert_eq!(xs[0], 1.5);
        assert!(xs[1].is_nan());
        assert_eq!(xs[2], f64::INFINITY);
        assert_eq!(xs[3], f64::NEG_INFINITY);
        assert!(xs[4] == 0.0 && xs[4].is_sign_negative());
        assert!(numbers(&serde_json::from_str(r#"["nan"]"#).unwrap(), "t").is_err());
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
