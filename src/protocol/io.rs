//! Array files for the CLI: NumPy `.npy` (float32 or float64, C order) and JSON.
//!
//! JSON arrays are either `{"shape": [..], "data": [flat row-major numbers]}` or nested lists;
//! numbers may be the strings `"NaN"`, `"Infinity"`, `"-Infinity"` as in the fixture format.
//! Every file is read through [`super::files`] (regular files only, bounded reads); JSON arrays
//! are streamed by [`super::json`]. A `.npy` header is parsed once, by a strict linear scan of
//! the dictionary numpy writes, and its shape is checked against [`MAX_ELEMENTS`] and against the
//! bytes actually present before anything is allocated for it.
//!
//! Why a parser of its own rather than `ndarray-npy`'s reader (already a dependency, used here
//! to write): measured on ndarray-npy 0.10, its reader is bounded in memory (a header declaring
//! 2 GiB with no body is refused as `MissingData` at a 2.3 MB peak), but it takes a header that
//! gives a key twice, the last one winning (`{'descr': '<i8', 'descr': '<f8', …}` reads as
//! float64), which the oracle refuses for every file it reads.

#[cfg(feature = "case-files")]
use crate::protocol::files::io_err;
use crate::spec::error::UflError;
use crate::spec::tensor::{element_count, Dtype, StoredData, StoredTensor, Tensor, MAX_ELEMENTS};
#[cfg(feature = "case-files")]
use ndarray::{ArrayD, ArrayViewD};
#[cfg(feature = "case-files")]
use ndarray_npy::WriteNpyExt;
use serde_json::Value;
use std::path::Path;

/// Largest array file read, in bytes: the element limit at 8 bytes each, plus a header.
pub const MAX_ARRAY_FILE_BYTES: u64 = 8 * MAX_ELEMENTS as u64 + (1 << 16);

/// Reads an array file; `.npy` by extension (any case), JSON otherwise, through the rules of
/// [`super::files`] (regular files only, at most [`MAX_ARRAY_FILE_BYTES`]). Returns the tensor
/// and the dtype the file holds (JSON: float64). A JSON array is streamed into the tensor's data.
pub fn read_array(path: &Path, what: &'static str) -> Result<(Tensor, Dtype), UflError> {
    if crate::protocol::files::has_extension(path, "npy") {
        let bytes = crate::protocol::files::read_bounded(path, MAX_ARRAY_FILE_BYTES)?;
        read_npy_bytes(&bytes, &path.display().to_string(), what)
    } else {
        Ok((
            crate::protocol::json::read_array_json(path, MAX_ARRAY_FILE_BYTES, what)?,
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
    let text = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| npy_err(source, "the header is not text"))?;
    Ok((text.to_string(), end))
}

/// What a `.npy` header declares.
#[derive(Debug, PartialEq)]
struct NpyHeader {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// A cursor over a header's text.
struct HeaderScanner<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> HeaderScanner<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn skip_space(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }

    /// Consumes `token` (after any space) if it comes next.
    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        if self.rest().starts_with(token) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &str) -> Result<(), String> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(format!(
                "expected `{token}` at byte {} of the header",
                self.at
            ))
        }
    }

    /// A Python string literal without escapes: `'…'` or `"…"`.
    fn string(&mut self) -> Result<&'a str, String> {
        self.skip_space();
        let rest = self.rest();
        let quote = match rest.chars().next() {
            Some(q @ ('\'' | '"')) => q,
            _ => {
                return Err(format!(
                    "expected a string at byte {} of the header",
                    self.at
                ))
            }
        };
        let body = &rest[1..];
        let close = body
            .find(quote)
            .ok_or_else(|| "unterminated string in the header".to_string())?;
        let value = &body[..close];
        if value.contains('\\') {
            return Err("escaped characters in a header string".to_string());
        }
        self.at += close + 2;
        Ok(value)
    }

    /// A non-negative integer (Python 2's `L` suffix allowed), as an axis length.
    fn axis(&mut self) -> Result<usize, String> {
        self.skip_space();
        let rest = self.rest();
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(format!(
                "expected an axis length (a non-negative integer) at byte {} of the header",
                self.at
            ));
        }
        let value = rest[..digits]
            .parse::<usize>()
            .map_err(|_| format!("axis length {} is too large", &rest[..digits.min(40)]))?;
        self.at += digits;
        self.eat("L");
        Ok(value)
    }

    /// A tuple of axis lengths: `()`, `(3,)`, `(2, 3)`, `(2, 3,)`.
    fn shape(&mut self) -> Result<Vec<usize>, String> {
        self.expect("(")?;
        let mut shape = Vec::new();
        let mut comma_after_last = false;
        while !self.eat(")") {
            shape.push(self.axis()?);
            comma_after_last = self.eat(",");
            if !comma_after_last {
                self.expect(")")?;
                break;
            }
        }
        if shape.len() == 1 && !comma_after_last {
            // `(3)` is the integer 3 in Python, not a shape.
            return Err("a shape of one axis is written `(n,)`".to_string());
        }
        Ok(shape)
    }
}

/// Parses the header dictionary numpy writes (`{'descr': '<f8', 'fortran_order': False,
/// 'shape': (2, 3), }`): the three keys once each, in any order, nothing else. A flat scan with
/// no recursion and no backtracking, so any header is parsed in time linear in its length.
fn parse_npy_header(text: &str) -> Result<NpyHeader, String> {
    let mut scan = HeaderScanner { text, at: 0 };
    let (mut descr, mut fortran_order, mut shape) = (None, None, None);
    scan.expect("{")?;
    loop {
        if scan.eat("}") {
            break;
        }
        let key = scan.string()?;
        scan.expect(":")?;
        let duplicate = match key {
            "descr" => descr.replace(scan.string()?.to_string()).is_some(),
            "fortran_order" => {
                let value = if scan.eat("True") {
                    true
                } else if scan.eat("False") {
                    false
                } else {
                    return Err("`fortran_order` must be True or False".to_string());
                };
                fortran_order.replace(value).is_some()
            }
            "shape" => shape.replace(scan.shape()?).is_some(),
            other => return Err(format!("unknown header key `{other}`")),
        };
        if duplicate {
            return Err(format!("header key `{key}` appears twice"));
        }
        if scan.eat("}") {
            break;
        }
        scan.expect(",")?;
    }
    if !scan.rest().trim().is_empty() {
        return Err("text after the header dictionary".to_string());
    }
    Ok(NpyHeader {
        descr: descr.ok_or("the header has no `descr`")?,
        fortran_order: fortran_order.ok_or("the header has no `fortran_order`")?,
        shape: shape.ok_or("the header has no `shape`")?,
    })
}

/// Parses `.npy` bytes holding little-endian float32 or float64 in C order. The header is
/// parsed once, its shape checked against [`MAX_ELEMENTS`] and the data's length against the
/// bytes present (exactly: neither missing nor trailing bytes) before anything is allocated.
pub fn read_npy_bytes(
    bytes: &[u8],
    source: &str,
    what: &'static str,
) -> Result<(Tensor, Dtype), UflError> {
    let stored = read_npy_stored(bytes, source, what)?;
    let dtype = stored.dtype();
    Ok((stored.widen(what)?, dtype))
}

/// Reads an array file as [`read_array`] does, keeping a float32 `.npy` file's elements in
/// float32 (JSON and float64 files are float64).
pub fn read_array_stored(path: &Path, what: &'static str) -> Result<StoredTensor, UflError> {
    if crate::protocol::files::has_extension(path, "npy") {
        read_npy_file_stored(path, what)
    } else {
        let t = crate::protocol::json::read_array_json(path, MAX_ARRAY_FILE_BYTES, what)?;
        Ok(StoredTensor {
            shape: t.shape,
            data: StoredData::F64(t.data),
        })
    }
}

/// What a `.npy` header says about the data after it.
struct NpyLayout {
    shape: Vec<usize>,
    dtype: Dtype,
    /// Offset of the data in the file.
    data_start: usize,
    /// Bytes of data the shape needs.
    needed: usize,
}

/// Parses and checks the header at the start of `prefix` (which holds at least the header).
fn npy_layout(prefix: &[u8], source: &str, what: &'static str) -> Result<NpyLayout, UflError> {
    let (text, data_start) = npy_header(prefix, source)?;
    let header = parse_npy_header(&text).map_err(|m| npy_err(source, m))?;
    let n = element_count(what, &header.shape)?;
    let (width, dtype) = match header.descr.as_str() {
        "<f8" | "|f8" => (8, Dtype::F64),
        "<f4" | "|f4" => (4, Dtype::F32),
        other => {
            return Err(npy_err(
                source,
                format!(
                "dtype `{other}` is not accepted: use little-endian float32 (<f4) or float64 (<f8)"
            ),
            ))
        }
    };
    if header.fortran_order {
        return Err(npy_err(
            source,
            "Fortran-order arrays are not accepted: save a C-order array (numpy.ascontiguousarray)",
        ));
    }
    Ok(NpyLayout {
        shape: header.shape,
        dtype,
        data_start,
        needed: n * width,
    })
}

/// Refuses a body of `len` bytes that is not exactly the `needed` bytes of the shape.
fn check_body_len(layout: &NpyLayout, len: usize, source: &str) -> Result<(), UflError> {
    let needed = layout.needed;
    if len < needed {
        return Err(npy_err(
            source,
            format!(
                "truncated body: shape {:?} needs {needed} bytes of data, the file has {len}",
                layout.shape
            ),
        ));
    }
    if len > needed {
        return Err(npy_err(
            source,
            format!(
                "{} bytes after the data of shape {:?}",
                len - needed,
                layout.shape
            ),
        ));
    }
    Ok(())
}

/// Appends the little-endian elements of `bytes` (whole elements) to `data`.
fn decode_into(bytes: &[u8], data: &mut StoredData) {
    match data {
        StoredData::F64(v) => v.extend(
            bytes
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])),
        ),
        StoredData::F32(v) => v.extend(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        ),
    }
}

fn empty_data(layout: &NpyLayout) -> StoredData {
    match layout.dtype {
        Dtype::F64 => StoredData::F64(Vec::with_capacity(layout.needed / 8)),
        Dtype::F32 => StoredData::F32(Vec::with_capacity(layout.needed / 4)),
    }
}

/// [`read_npy_bytes`] keeping float32 elements in float32.
pub fn read_npy_stored(
    bytes: &[u8],
    source: &str,
    what: &'static str,
) -> Result<StoredTensor, UflError> {
    let layout = npy_layout(bytes, source, what)?;
    let body = &bytes[layout.data_start..];
    check_body_len(&layout, body.len(), source)?;
    let mut data = empty_data(&layout);
    decode_into(body, &mut data);
    Ok(StoredTensor {
        shape: layout.shape,
        data,
    })
}

/// Bytes of a `.npy` file's body decoded per read: the file is never held whole in memory
/// beside its decoded elements.
const NPY_READ_CHUNK: usize = 1 << 20;

/// Reads a `.npy` file as [`read_npy_stored`] parses its bytes, streaming the body in chunks of
/// [`NPY_READ_CHUNK`] bytes into the elements' array (allocated once, at the size the header
/// states and the file's size confirms).
fn read_npy_file_stored(path: &Path, what: &'static str) -> Result<StoredTensor, UflError> {
    use std::io::Read;
    let source = path.display().to_string();
    let (file, size) = crate::protocol::files::open_regular(path)?;
    if size > MAX_ARRAY_FILE_BYTES {
        return Err(UflError::FileTooLarge {
            path: source,
            bytes: size,
            limit: MAX_ARRAY_FILE_BYTES,
        });
    }
    let io = |e| crate::protocol::files::io_err(path, e);
    let mut file = file.take(MAX_ARRAY_FILE_BYTES + 1);
    // The header: its fixed prefix says how long it is.
    let mut prefix = Vec::new();
    (&mut file).take(12).read_to_end(&mut prefix).map_err(io)?;
    let header_len = match prefix.get(6) {
        Some(1) if prefix.len() >= 10 => 10 + u16::from_le_bytes([prefix[8], prefix[9]]) as usize,
        Some(2 | 3) if prefix.len() >= 12 => {
            12 + u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]) as usize
        }
        _ => 0, // npy_header reports what is wrong
    };
    let more = header_len.saturating_sub(prefix.len()) as u64;
    (&mut file)
        .take(more)
        .read_to_end(&mut prefix)
        .map_err(io)?;
    let layout = npy_layout(&prefix, &source, what)?;
    let body_len = (size as usize).saturating_sub(layout.data_start);
    check_body_len(&layout, body_len, &source)?;
    // Body bytes read with the header (only for a header shorter than its fixed prefix).
    let mut carried = prefix.split_off(layout.data_start.min(prefix.len()));
    let mut data = empty_data(&layout);
    let width = match layout.dtype {
        Dtype::F64 => 8,
        Dtype::F32 => 4,
    };
    let mut read = 0usize;
    let mut chunk = vec![0u8; NPY_READ_CHUNK];
    loop {
        // Fill the chunk (a whole number of elements) unless the file ends first.
        let mut filled = carried.len();
        chunk[..filled].copy_from_slice(&carried);
        carried.clear();
        while filled < chunk.len() {
            match file.read(&mut chunk[filled..]).map_err(io)? {
                0 => break,
                n => filled += n,
            }
        }
        if read + filled > layout.needed {
            // Longer than the size read at the start: the file grew while it was read.
            check_body_len(&layout, read + filled, &source)?;
        }
        decode_into(&chunk[..filled / width * width], &mut data);
        read += filled;
        if filled < chunk.len() {
            break;
        }
    }
    check_body_len(&layout, read, &source)?;
    Ok(StoredTensor {
        shape: layout.shape,
        data,
    })
}

/// Parses a JSON array: `{"shape", "data"}` or nested lists, streamed (see [`super::json`]).
pub fn parse_json_array(text: &str, source: &str, what: &'static str) -> Result<Tensor, UflError> {
    crate::protocol::json::parse_array_str(text, source, what)
}

/// Writes an array: `.npy` (float64) by extension, else JSON `{"shape", "data"}` (feature
/// `case-files`).
#[cfg(feature = "case-files")]
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

/// Writes an array as float32 `.npy` (values must be float32 values to round-trip exactly;
/// feature `case-files`).
#[cfg(feature = "case-files")]
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

    /// A `.npy` file with the header text given as is.
    fn npy_with_header(header: &str, body: &[u8]) -> Vec<u8> {
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16 + 1).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn npy_headers_numpy_writes_are_read() {
        let body: Vec<u8> = [0.5f64, 0.25]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        for header in [
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
            "{'shape': (2,), 'fortran_order': False, 'descr': '<f8'}",
            "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (2L,)}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, ), }   ",
        ] {
            let (t, d) = read_npy_bytes(&npy_with_header(header, &body), "t", "x")
                .unwrap_or_else(|e| panic!("{header}: {e}"));
            assert_eq!((t.data, d), (vec![0.5, 0.25], Dtype::F64), "{header}");
        }
        let (t, _) = read_npy_bytes(
            &npy_with_header(
                "{'descr': '<f8', 'fortran_order': False, 'shape': ()}",
                &body[..8],
            ),
            "t",
            "x",
        )
        .unwrap();
        assert_eq!((t.shape, t.data), (vec![], vec![0.5]));
    }

    #[test]
    fn npy_headers_are_parsed_once_strictly_and_in_linear_time() {
        let body = 0.5f64.to_le_bytes();
        let msg = |header: &str| {
            read_npy_bytes(&npy_with_header(header, &body), "t", "x")
                .unwrap_err()
                .to_string()
        };
        // A second `shape` once made another parser allocate what it declared.
        assert!(msg(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'shape': (134217728,)}"
        )
        .contains("twice"));
        assert!(
            msg("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': 1}")
                .contains("unknown header key `x`")
        );
        assert!(msg("{'descr': '<f8', 'shape': (1,)}").contains("fortran_order"));
        assert!(msg("{'descr': '<f8', 'fortran_order': False, 'shape': (1)}").contains("(n,)"));
        assert!(msg("{'descr': '<f8', 'fortran_order':True, 'shape': (1,)}").contains("Fortran"));
        assert!(
            msg("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,)}").contains("axis length")
        );
        assert!(msg(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,)}"
        )
        .contains("too large"));
        // Deep nesting once took time exponential in its depth (20 levels: 20 s).
        let deep = format!(
            "{{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': {}{}}}",
            "[".repeat(30000),
            "]".repeat(30000)
        );
        let start = std::time::Instant::now();
        let mut file = b"\x93NUMPY\x02\x00".to_vec();
        file.extend_from_slice(&(deep.len() as u32 + 1).to_le_bytes());
        file.extend_from_slice(deep.as_bytes());
        file.push(b'\n');
        file.extend_from_slice(&body);
        assert!(read_npy_bytes(&file, "t", "x").is_err());
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        // Bytes after the data are not silently ignored.
        let mut long = body.to_vec();
        long.extend_from_slice(&body);
        assert!(read_npy_bytes(
            &npy_with_header(
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1,)}",
                &long
            ),
            "t",
            "x"
        )
        .unwrap_err()
        .to_string()
        .contains("8 bytes after the data"));
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

    /// The file reader streams the body in chunks; it must read exactly what the bytes reader
    /// reads, and refuse exactly what it refuses, with the same message: bodies across chunk
    /// boundaries, a partial last element, missing and trailing bytes, both dtypes.
    #[test]
    fn npy_file_reader_equals_the_bytes_reader() {
        let dir = std::env::temp_dir().join(format!("ufl-npy-stream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let elements = NPY_READ_CHUNK / 4 + 3; // more than one chunk of float32, a partial one of float64
        for (descr, width) in [("<f4", 4usize), ("<f8", 8)] {
            let full: Vec<u8> = (0..elements * width)
                .map(|i| (i % 251) as u8 & 0x3f)
                .collect();
            let shape = format!("({elements},)");
            for cut in [0isize, -1, -(width as isize), 1, width as isize] {
                let len = (full.len() as isize + cut) as usize;
                let mut body = full.clone();
                body.resize(len, 7);
                let bytes = npy(descr, &shape, false, &body);
                let path = dir.join(format!("a{width}_{cut}.npy"));
                std::fs::write(&path, &bytes).unwrap();
                let from_bytes = read_npy_stored(&bytes, &path.display().to_string(), "x");
                let from_file = read_npy_file_stored(&path, "x");
                match (from_bytes, from_file) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "{descr} {cut}"),
                    (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{descr} {cut}"),
                    (a, b) => panic!("{descr} {cut}: bytes {a:?} file {b:?}"),
                }
                assert_eq!(cut == 0, read_npy_file_stored(&path, "x").is_ok());
            }
        }
        // A header declaring more than the file holds, and no header at all.
        let path = dir.join("short.npy");
        std::fs::write(&path, b"\x93NUMPY\x01\x00\xff\x00{").unwrap();
        assert!(read_npy_file_stored(&path, "x").is_err());
        std::fs::write(&path, b"").unwrap();
        assert!(read_npy_file_stored(&path, "x").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
