//! The file protocol for backends in any language.
//!
//! `ufl-oracle cases --out DIR` writes `DIR/cases.json`: a `ufl-fixtures/1` file holding inputs
//! only (no `loss`/`grad`), each case with its `convention`, `layout`, `tags` (its groups) and
//! `seed`; arrays above [`INLINE_LIMIT`] elements are written beside it as `.npy` (float32 or
//! float64, as the case's dtype) and named by a path relative to the file. A backend computes
//! every case and writes a results file:
//!
//! ```json
//! {"format": "ufl-results/1",
//!  "backend": {"name": "...", "precision": "float32", "input_precision": "float32", ...},
//!  "cases": [{"id": "...", "loss": 0.25, "grad": [..flat, in the case's input order..]},
//!            {"id": "...", "loss": [..], "grad": "grads/case-7.npy"},
//!            {"id": "...", "error": "ValueError: ..."},
//!            {"id": "...", "skip": "not implemented"}]}
//! ```
//!
//! Numbers use the fixtures' encoding (`"NaN"`, `"Infinity"`, `"-Infinity"`). `backend` is
//! free-form; its `precision` and `input_precision`, when present, declare the backend's
//! arithmetic and input precision, and its `summation` (`"pairwise"`, the default, or
//! `"sequential"`) how it accumulates sums. `ufl-oracle check` compares: a case without a result is a
//! failure; a result for a case the case files lack is listed as a warning and not checked; a
//! case given twice, a gradient of the wrong length, an `error` or `skip` that is not a string,
//! or a result that gives an output beside an `error` or `skip`, makes the file unusable.
//! Without a declared precision each case is judged at its own dtype.

use crate::conformance::cases::Case;
use crate::conformance::harness::Response;
use crate::protocol::fixtures::FixtureCase;
use crate::protocol::io::read_array;
use crate::spec::error::UflError;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

#[cfg(feature = "case-files")]
pub use crate::conformance::case_files::write_cases;

/// The format tag of results files.
pub const RESULTS_FORMAT: &str = "ufl-results/1";

/// Arrays with more elements than this are written as `.npy` files beside the case file.
pub const INLINE_LIMIT: usize = 1 << 16;

/// A parsed results file.
#[derive(Clone, Debug, PartialEq)]
pub struct Results {
    pub backend: Value,
    pub responses: BTreeMap<String, Response>,
}

impl Results {
    /// The precision the backend declares under `key` (`precision`, `input_precision`).
    pub fn declared(&self, key: &str) -> Result<Option<&str>, UflError> {
        match self.backend.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(bad(
                "results: backend",
                format!(
                    "`{key}` must be a string such as \"float32\", not {}",
                    crate::protocol::files::shorten(&other.to_string())
                ),
            )),
        }
    }

    /// What the file says for the case `id`: [`Response::Missing`] when it says nothing (a
    /// failure for the harness, never a skip).
    pub fn response_for(&self, id: &str) -> Response {
        self.responses.get(id).cloned().unwrap_or(Response::Missing)
    }
}

fn bad(context: &str, message: impl Into<String>) -> UflError {
    UflError::Format {
        context: context.to_string(),
        message: message.into(),
    }
}

/// A results file as written: a closed format (serde refuses unknown and repeated keys), whose
/// arrays are streamed into `Vec<f64>` (8 bytes per number), with `backend` free-form.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ResultsDoc {
    format: Option<String>,
    #[serde(default, deserialize_with = "crate::protocol::json::strict_value")]
    backend: Value,
    cases: Vec<ResultDoc>,
}

/// One result as written.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ResultDoc {
    id: String,
    #[serde(default)]
    loss: Option<crate::protocol::json::Loss>,
    #[serde(default)]
    grad: Option<crate::protocol::json::ListOrPath>,
    /// `error` and `skip` are strings (the message, the reason): a value of another type
    /// (`"skip": false`) says nothing certain about the case.
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    skip: Option<String>,
}

/// Parses a results file's text; `base` is its folder (for gradients given as `.npy` paths).
pub fn parse_results(text: &str, source: &str, base: Option<&Path>) -> Result<Results, UflError> {
    from_doc(
        crate::protocol::json::parse_typed(text, source)?,
        source,
        base,
    )
}

fn from_doc(doc: ResultsDoc, source: &str, base: Option<&Path>) -> Result<Results, UflError> {
    match doc.format.as_deref() {
        Some(RESULTS_FORMAT) => {}
        Some(other) => {
            return Err(bad(
                source,
                format!(
                    "format is \"{}\", expected \"{RESULTS_FORMAT}\"",
                    crate::protocol::files::shorten(other)
                ),
            ))
        }
        None => {
            return Err(bad(
                source,
                format!("missing `format` (\"{RESULTS_FORMAT}\")"),
            ))
        }
    }
    let mut responses = BTreeMap::new();
    for r in doc.cases {
        let ctx = format!(
            "{source}: result for {}",
            crate::protocol::files::shorten(&r.id)
        );
        let id = r.id.clone();
        let response = response_of(r, &ctx, base)?;
        if responses.insert(id.clone(), response).is_some() {
            return Err(bad(
                source,
                format!(
                    "two results for case {}",
                    crate::protocol::files::shorten(&id)
                ),
            ));
        }
    }
    Ok(Results {
        backend: doc.backend,
        responses,
    })
}

fn response_of(r: ResultDoc, ctx: &str, base: Option<&Path>) -> Result<Response, UflError> {
    let output = r.loss.is_some() || r.grad.is_some();
    match (r.error, r.skip) {
        (Some(_), Some(_)) => return Err(bad(ctx, "gives both `error` and `skip`")),
        (Some(_), None) | (None, Some(_)) if output => {
            return Err(bad(
                ctx,
                "gives an output and an `error` or `skip`: a result is one of them",
            ))
        }
        (Some(msg), None) => return Ok(Response::Error(msg)),
        (None, Some(reason)) => return Ok(Response::Skip(reason)),
        (None, None) => {}
    }
    let loss = match r.loss {
        Some(l) => l.values,
        None => return Err(bad(ctx, "needs `loss` and `grad`, or `error`, or `skip`")),
    };
    let grad = match r.grad {
        Some(crate::protocol::json::ListOrPath::Path(rel)) => {
            let base = base.ok_or_else(|| {
                bad(
                    ctx,
                    "a gradient given as a path needs the results file's folder",
                )
            })?;
            let path =
                crate::protocol::files::resolve_inside(base, &rel).map_err(|m| bad(ctx, m))?;
            read_array(&path, "gradient")?.0.data
        }
        Some(crate::protocol::json::ListOrPath::List(g)) => g,
        None => return Err(bad(ctx, "needs `grad`")),
    };
    Ok(Response::Output { loss, grad })
}

/// Reads a results file (a regular file of at most `fixtures::MAX_FILE_BYTES`, parsed strictly
/// from its reader: see [`crate::protocol::json`]).
pub fn read_results(path: &Path) -> Result<Results, UflError> {
    let doc = crate::protocol::json::read_typed(path, crate::protocol::fixtures::MAX_FILE_BYTES)?;
    from_doc(doc, &path.display().to_string(), path.parent())
}

/// Checks results against the cases they answer: every gradient must have one entry per
/// prediction entry. Returns the ids of results that name no case of `cases` (a results file
/// may answer more cases than one run checks: the caller warns of them). Missing results are
/// not an error here (the harness fails those cases).
pub fn check_results_match(results: &Results, cases: &[Case]) -> Result<Vec<String>, UflError> {
    let ids: HashSet<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    let unknown: Vec<String> = results
        .responses
        .keys()
        .filter(|id| !ids.contains(id.as_str()))
        .cloned()
        .collect();
    for c in cases {
        if let Some(Response::Output { grad, .. }) = results.responses.get(&c.id) {
            if grad.len() != c.problem.pred.data.len() {
                return Err(bad(
                    "results",
                    format!(
                        "the gradient for {} has {} entries; the prediction has {}",
                        c.id,
                        grad.len(),
                        c.problem.pred.data.len()
                    ),
                ));
            }
        }
    }
    Ok(unknown)
}

/// A case read from a file, under its own id (`tags` become its groups).
pub fn case_from_file(c: &FixtureCase) -> Result<Case, UflError> {
    let mut groups = c.tags.clone();
    groups.push(c.function.name().to_string());
    groups.push(c.convention.name().to_string());
    Ok(Case {
        id: c.id.clone(),
        groups,
        problem: c.problem()?,
        seed: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_parse_and_refuse_duplicates() {
        let r = parse_results(
            r#"{"format": "ufl-results/1", "backend": {"precision": "float16"},
                "cases": [{"id": "a", "loss": 0.5, "grad": [1, "NaN"]}, {"id": "b", "error": "x"}, {"id": "c", "skip": "no"}]}"#,
            "t",
            None,
        )
        .unwrap();
        assert_eq!(r.declared("precision"), Ok(Some("float16")));
        assert!(matches!(&r.responses["a"], Response::Output { grad, .. } if grad[1].is_nan()));
        assert_eq!(r.responses["b"], Response::Error("x".into()));
        assert_eq!(r.responses["c"], Response::Skip("no".into()));
        let dup = parse_results(
            r#"{"format": "ufl-results/1", "cases": [{"id": "a", "error": "x"}, {"id": "a", "error": "y"}]}"#,
            "t",
            None,
        );
        assert!(dup.unwrap_err().to_string().contains("two results"));
        let wrong = parse_results(r#"{"format": "ufl-results/2", "cases": []}"#, "t", None);
        assert!(wrong.unwrap_err().to_string().contains("ufl-results/1"));
        let no_grad = parse_results(
            r#"{"format": "ufl-results/1", "cases": [{"id": "a", "loss": 1}]}"#,
            "t",
            None,
        );
        assert!(no_grad.unwrap_err().to_string().contains("grad"));
    }
}
