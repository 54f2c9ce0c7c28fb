//! Array files for the CLI: NumPy `.npy` (float32 or float64, C order) and JSON.
//!
//! JSON arrays are either `{"shape": [..], "data": [flat row-major numbers]}` or nested lists;
//! numbers may be the strings `"NaN"`, `"Infinity"`, `"-Infinity"` as in the fixture format.
//! Every file is size-checked before it is read, and a `.npy` header's shape is checked against
//! [`MAX_ELEMENTS`] and against the bytes actually present before anything is allocated for it.

use crate::error::UflError;
use crate::fixtures::number;
use crate::tensor::{element_count, Dtype, Tensor, MAX_ELEMENTS};
use ndarray::{ArrayD, ArrayViewD};
use ndarray_npy::{ReadNpyError, ReadNpyExt, WriteNpyExt};
use serde_json::Value;
use std::path::Path;

/// Largest array file read, in bytes: the element limit at 8 bytes each, plus a header.
pub const MAX_ARRAY_FILE_BYTES: u64 = 8 * MAX_ELEMENTS as u64 + (1 << 16);

fn io_err(path: &Path, e: impl std::fmt::Display) -> UflError {
    UflError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn read_limited(path: &Path) -> Result<Vec<u8>, UflError> {
    let size = std::fs::metadata(path).map_err(|e| io_err(path, e))?.len();
    if size > MAX_ARRAY_FILE_BYTES {
        return Err(io_err(
            path,
            format!("{size} bytes exceeds the limit of {MAX_ARRAY_FILE_BYTES}"),
        ));
    }
    std::fs::read(path).map_err(|e| io_err(path, e))
}

/// Reads an array file; `.npy` by extension, JSON otherwise. Returns the tensor and the dtype
/// the file holds (JSON: float64).
pub fn read_array(path: &Path, what: &'static str) -> Result<(Tensor, Dtype), UflError> {
    let bytes = read_limited(path)?;
    if path.extension().is_some_and(|e| e == "npy") {
        read_npy_bytes(&bytes, &path.display().to_string(), what)
    } else {
        let text = String::from_utf8(bytes).map_err(|_| UflError::Json {
            context: path.display().to_string(),
            message: "not UTF-8 text".into(),
        })?;
        Ok((
            parse_json_array(&text, &path.display().to_string(), what)?,
            Dtype::F64,
        ))
    }
}

fn npy_err(source: &str, message: impl Into<String>) -> UflError {
    UflError::Npy {
        path: source.to_string(),
        message: message.into(),
    }
}

/// The header of a `.npy` file: its text and the offset where the data starts.
fn npy_header(bytes: &[u8], source: &str) -> Result<(String, usize), UflError> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(npy_err(source, "missing the \\x93NUMPY magic string"));
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(npy_err(source, "truncated header"));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(npy_err(source, format!("unsupported format version {v}"))),
    };
    let end = start
        .checked_add(len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| npy_err(source, "truncated header"))?;
    let text = String::from_utf8_lossy(&bytes[start..end]).into_owned();
    Ok((text, end))
}

/// The `'shape': (..)` of a header, parsed without allocating per its values.
fn header_shape(header: &str, source: &str) -> Result<Vec<usize>, UflError> {
    let at = header
        .find("'shape'")
        .ok_or_else(|| npy_err(source, "header has no 'shape'"))?;
    let rest = &header[at..];
    let open = rest
        .find('(')
        .ok_or_else(|| npy_err(source, "malformed 'shape'"))?;
    let close = rest
        .find(')')
        .ok_or_else(|| npy_err(source, "malformed 'shape'"))?;
    if close < open {
        return Err(npy_err(source, "malformed 'shape'"));
    }
    rest[open + 1..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L').parse::<usize>().map_err(|_| {
                npy_err(
                    source,
                    format!("axis length `{s}` is not a non-negative integer"),
                )
            })
        })
        .collect()
}

fn header_descr(header: &str) -> String {
    header
        .find("'descr'")
        .and_then(|at| {
            let rest = &header[at + 7..];
            let q1 = rest.find('\'')?;
            let q2 = rest[q1 + 1..].find('\'')?;
            Some(rest[q1 + 1..q1 + 1 + q2].to_string())
        })
        .unwrap_or_else(|| "?".to_string())
}

/// Parses `.npy` bytes holding float32 or float64 in C order.
pub fn read_npy_bytes(
    bytes: &[u8],
    source: &str,
    what: &'static str,
) -> Result<(Tensor, Dtype), UflError> {
    let (header, data_start) = npy_header(bytes, source)?;
    let shape = header_shape(&header, source)?;
    let n = element_count(what, &shape)?;
    let descr = header_descr(&header);
    let width = match descr.as_str() {
        "<f8" | "|f8" => 8,
        "<f4" | "|f4" => 4,
        other => {
            return Err(npy_err(
                source,
                format!(
                "dtype `{other}` is not accepted: use little-endian float32 (<f4) or float64 (<f8)"
            ),
            ))
        }
    };
    if header.contains("'fortran_order': True") {
        return Err(npy_err(
            source,
            "Fortran-order arrays are not accepted: save a C-order array (numpy.ascontiguousarray)",
        ));
    }
    let have = bytes.len() - data_start;
    if have < n * width {
        return Err(npy_err(
            source,
            format!(
                "truncated body: shape {shape:?} needs {} bytes of data, the file has {have}",
                n * width
            ),
        ));
    }
    let map = |e: ReadNpyError| npy_err(source, e.to_string());
    let (data, dtype) = if width == 8 {
        let a = ArrayD::<f64>::read_npy(bytes).map_err(map)?;
        // A C-order array's buffer is the data in order: taken over, not copied.
        let data = if a.is_standard_layout() {
            let (v, offset) = a.into_raw_vec_and_offset();
            match offset {
                Some(0) | None => v,
                Some(o) => v[o..].to_vec(),
            }
        } else {
            a.iter().copied().collect::<Vec<f64>>()
        };
        (data, Dtype::F64)
    } else {
        let a = ArrayD::<f32>::read_npy(bytes).map_err(map)?;
        (
            a.iter().map(|&x| x as f64).collect::<Vec<f64>>(),
            Dtype::F32,
        )
    };
    Ok((Tensor::new(what, shape, data)?, dtype))
}

/// Parses a JSON array: `{"shape", "data"}` or nested lists.
pub fn parse_json_array(text: &str, source: &str, what: &'static str) -> Result<Tensor, UflError> {
    let v: Value = serde_json::from_str(text).map_err(|e| UflError::Json {
        context: source.to_string(),
        message: e.to_string(),
    })?;
    json_array(&v, source, what)
}

/// Converts a JSON value holding an array.
pub fn json_array(v: &Value, source: &str, what: &'static str) -> Result<Tensor, UflError> {
    let bad = |m: String| UflError::Format {
        context: source.to_string(),
        message: m,
    };
    if let Some(obj) = v.as_object() {
        let shape = crate::fixtures::shape(
            obj.get("shape")
                .ok_or_else(|| bad("missing `shape`".into()))?,
            source,
        )?;
        let data = crate::fixtures::numbers(
            obj.get("data")
                .ok_or_else(|| bad("missing `data`".into()))?,
            source,
        )?;
        return Tensor::new(what, shape, data);
    }
    // Nested lists: the shape is read off the first element of every level.
    let mut shape = Vec::new();
    let mut level = v;
    while let Value::Array(items) = level {
        shape.push(items.len());
        match items.first() {
            Some(first) => level = first,
            None => break,
        }
        if shape.len() > 32 {
            return Err(bad("nested more than 32 levels deep".into()));
        }
    }
    if shape.is_empty() {
        return Err(bad(
            "expected an array (nested lists, or an object with `shape` and `data`)".into(),
        ));
    }
    let n = element_count(what, &shape)?;
    let mut data = Vec::with_capacity(n);
    flatten(v, &shape, 0, source, &mut data)?;
    Tensor::new(what, shape, data)
}

fn flatten(
    v: &Value,
    shape: &[usize],
    depth: usize,
    source: &str,
    out: &mut Vec<f64>,
) -> Result<(), UflError> {
    let bad = |m: String| UflError::Format {
        context: source.to_string(),
        message: m,
    };
    if depth == shape.len() {
        out.push(number(v, source)?);
        return Ok(());
    }
    match v {
        Value::Array(items) if items.len() == shape[depth] => items
            .iter()
            .try_for_each(|x| flatten(x, shape, depth + 1, source, out)),
        _ => Err(bad(format!(
            "ragged nested lists: level {depth} should hold {} entries",
            shape[depth]
        ))),
    }
}

/// Writes an array: `.npy` (float64) by extension, else JSON `{"shape", "data"}`.
pub fn write_array(path: &Path, shape: &[usize], data: &[f64]) -> Result<(), UflError> {
    if path.extension().is_some_and(|e| e == "npy") {
        // A view: the data is written from where it is, not copied first.
        let a = ArrayViewD::from_shape(shape.to_vec(), data).map_err(|e| io_err(path, e))?;
        let f = std::fs::File::create(path).map_err(|e| io_err(path, e))?;
        a.write_npy(std::io::BufWriter::new(f))
            .map_err(|e| io_err(path, e))
    } else {
        let v = serde_json::json!({"shape": shape, "data": data.iter().map(|&x| json_number(x)).collect::<Vec<_>>()});
        std::fs::write(path, v.to_string()).map_err(|e| io_err(path, e))
    }
}

/// Writes an array as float32 `.npy` (values must be float32 values to round-trip exactly).
pub fn write_array_f32(path: &Path, shape: &[usize], data: &[f64]) -> Result<(), UflError> {
    let a = ArrayD::from_shape_vec(shape.to_vec(), data.iter().map(|&x| x as f32).collect())
        .map_err(|e| io_err(path, e))?;
    let f = std::fs::File::create(path).map_err(|e| io_err(path, e))?;
    a.write_npy(std::io::BufWriter::new(f))
        .map_err(|e| io_err(path, e))
}

/// A number in the fixture encoding (non-finite values as strings).
pub fn json_number(x: f64) -> Value {
    if x.is_nan() {
        Value::from("NaN")
    } else if x == f64::INFINITY {
        Value::from("Infinity")
    } else if x == f64::NEG_INFINITY {
        Value::from("-Infinity")
    } else {
        Value::from(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, fortran: bool, body: &[u8]) -> Vec<u8> {
        let mut h = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(h.len() as u16).to_le_bytes());
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn npy_float32_and_float64_read() {
        let body: Vec<u8> = [0.25f32, 0.5, 0.75, 1.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let (t, d) = read_npy_bytes(&npy("<f4", "(2, 2)", false, &body), "t", "x").unwrap();
        assert_eq!((t.shape.clone(), d), (vec![2, 2], Dtype::F32));
        assert_eq!(t.data, vec![0.25, 0.5, 0.75, 1.0]);
        let body: Vec<u8> = [0.1f64, 0.2].iter().flat_map(|x| x.to_le_bytes()).collect();
        let (t, d) = read_npy_bytes(&npy("<f8", "(2,)", false, &body), "t", "x").unwrap();
        assert_eq!((t.data, d), (vec![0.1, 0.2], Dtype::F64));
    }

    #[test]
    fn npy_refusals_name_the_problem() {
        let body = [0u8; 16];
        let msg = |b: Vec<u8>| read_npy_bytes(&b, "t", "x").unwrap_err().to_string();
        assert!(msg(npy("<i4", "(4,)", false, &body)).contains("<i4"));
        assert!(msg(npy("<f4", "(2, 2)", true, &body)).contains("Fortran"));
        assert!(msg(npy("<f8", "(4,)", false, &body)).contains("truncated"));
        assert!(msg(npy("<f8", "(100000, 100000, 100000)", false, &body)).contains("limit"));
        assert!(msg(b"not numpy".to_vec()).contains("magic"));
    }

    #[test]
    fn json_arrays_in_both_forms() {
        let a = parse_json_array("[[0.1, 0.2], [0.3, \"NaN\"]]", "t", "x").unwrap();
        assert_eq!(a.shape, vec![2, 2]);
        assert!(a.data[3].is_nan());
        let b = parse_json_array(r#"{"shape": [2, 1], "data": [1, 0]}"#, "t", "x").unwrap();
        assert_eq!(b.data, vec![1.0, 0.0]);
        assert!(parse_json_array("[[1, 2], [3]]", "t", "x").is_err());
        assert!(parse_json_array(r#"{"shape": [3], "data": [1, 0]}"#, "t", "x").is_err());
    }
}
