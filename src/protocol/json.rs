//! Strict, bounded JSON reading for every JSON file the oracle takes (fixtures, cases,
//! results, deviation lists, arrays).
//!
//! - Files are parsed straight from their (bounded, regular-file) reader: the text is never
//!   held whole.
//! - The formats are typed documents (`#[derive(Deserialize)]` with `deny_unknown_fields` in
//!   `fixtures`, `results`, `verify`): a key given twice (`{"format": .., "format": ..}`) or
//!   unknown is an error with its line and column, never "the last one wins"; an error in a
//!   typed document names its JSON path too (`serde_path_to_error`).
//! - Arrays are streamed straight into `Vec<f64>` ([`Number`], [`Loss`], [`Numbers`],
//!   [`ListOrPath`], and the array-file reader [`read_array_json`]): 8 bytes per element and a
//!   constant, whatever the text's layout; `"NaN"`, `"Infinity"`, `"-Infinity"` are numbers.
//! - Free-form fields (`backend`, `params`, `generator`, `defaults`) become a
//!   `serde_json::Value` that refuses duplicate keys and holds at most [`MAX_TREE_VALUES`]
//!   values, counted while parsing.
//! - A file's format is recognised by parsing its `format` field ([`declared_format`]), not
//!   by looking for bytes.

use crate::protocol::files;
use crate::spec::error::UflError;
use crate::spec::tensor::{element_count, Tensor, MAX_ELEMENTS};
use serde::de::{self, Deserialize, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::Read;
use std::path::Path;

/// Most values (numbers, strings, lists, objects, …) one free-form JSON field may hold: about 4
/// million, a few hundred MB of tree at most.
pub const MAX_TREE_VALUES: usize = 1 << 22;

/// A reader that refuses to deliver more than `limit` bytes (and remembers that it did).
struct Capped<R> {
    inner: R,
    left: u64,
    over: bool,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // One more byte means the file is over its limit.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? > 0 {
                self.over = true;
                return Err(std::io::Error::other("file larger than its limit"));
            }
            return Ok(0);
        }
        let n = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let got = self.inner.read(&mut buf[..n])?;
        self.left -= got as u64;
        Ok(got)
    }
}

fn json_error(source: &str, e: serde_json::Error) -> UflError {
    UflError::Json {
        context: source.to_string(),
        message: e.to_string(),
    }
}

/// Parses the regular file at `path` (at most `limit` bytes) with `parse`, mapping a read past
/// the limit and a byte-order mark to their own errors (invalid UTF-8 is serde_json's error,
/// with its line and column).
fn parse_file<T>(
    path: &Path,
    limit: u64,
    parse: impl FnOnce(
        &mut serde_json::Deserializer<
            serde_json::de::IoRead<&mut Capped<std::io::BufReader<std::fs::File>>>,
        >,
    ) -> Result<T, serde_json::Error>,
) -> Result<T, UflError> {
    let (file, size) = files::open_regular(path)?;
    let source = path.display().to_string();
    if size > limit {
        return Err(UflError::FileTooLarge {
            path: source,
            bytes: size,
            limit,
        });
    }
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    {
        use std::io::BufRead;
        let head = reader.fill_buf().map_err(|e| UflError::Io {
            path: source.clone(),
            message: e.to_string(),
        })?;
        if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
            return Err(files::bom_error(&source));
        }
    }
    let mut capped = Capped {
        inner: reader,
        left: limit,
        over: false,
    };
    let result = {
        let mut de = serde_json::Deserializer::from_reader(&mut capped);
        parse(&mut de).and_then(|v| de.end().map(|()| v))
    };
    if capped.over {
        return Err(UflError::FileTooLarge {
            path: source,
            bytes: limit + 1,
            limit,
        });
    }
    result.map_err(|e| json_error(&source, e))
}

/// Builds a `serde_json::Value`, refusing duplicate keys and more than a budget of values.
struct Strict<'a> {
    budget: &'a Cell<usize>,
}

impl Strict<'_> {
    fn spend<E: de::Error>(&self) -> Result<(), E> {
        let left = self.budget.get();
        if left == 0 {
            return Err(E::custom(format!(
                "more than {MAX_TREE_VALUES} JSON values in one free-form field"
            )));
        }
        self.budget.set(left - 1);
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Bool(b))
    }
    fn visit_i64<E: de::Error>(self, x: i64) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::from(x))
    }
    fn visit_u64<E: de::Error>(self, x: u64) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::from(x))
    }
    fn visit_f64<E: de::Error>(self, x: f64) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::from(x))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::String(s.to_string()))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::String(s))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.spend()?;
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict {
            budget: self.budget,
        })? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.spend()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "duplicate key `{}`",
                    files::shorten(&key)
                )));
            }
            let v = map.next_value_seed(Strict {
                budget: self.budget,
            })?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// Parses JSON text strictly (duplicate keys refused, at most [`MAX_TREE_VALUES`] values): the
/// free-form-field parser on a whole text, for its tests.
#[cfg(test)]
fn parse_str(text: &str, source: &str) -> Result<Value, UflError> {
    if text.starts_with('\u{feff}') {
        return Err(files::bom_error(source));
    }
    let budget = Cell::new(MAX_TREE_VALUES);
    let mut de = serde_json::Deserializer::from_str(text);
    Strict { budget: &budget }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| json_error(source, e))
}

/// The `format` a JSON file declares: `Ok(None)` for an object without one, an error for a
/// file that is not a JSON object (or declares it twice). Reads the file without building it.
pub fn declared_format(path: &Path, limit: u64) -> Result<Option<String>, UflError> {
    struct Head;
    impl<'de> Visitor<'de> for Head {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut format: Option<String> = None;
            let mut seen = false;
            while let Some(key) = map.next_key::<String>()? {
                if key == "format" {
                    if seen {
                        return Err(de::Error::custom("duplicate key `format`"));
                    }
                    seen = true;
                    format = map.next_value::<Option<String>>()?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(format)
        }
    }
    parse_file(path, limit, |de| {
        de::Deserializer::deserialize_any(de, Head)
    })
}

/// Where an array visitor leaves the typed error behind the message it gives serde, so that
/// the caller gets [`UflError::TooLarge`], [`UflError::LengthMismatch`] or
/// [`UflError::Format`] rather than a string.
struct Slot<'a> {
    error: &'a RefCell<Option<UflError>>,
    source: &'a str,
}

impl Slot<'_> {
    fn fail<E: de::Error>(&self, e: UflError) -> E {
        let message = e.to_string();
        self.error.replace(Some(e));
        E::custom(message)
    }
    fn format<E: de::Error>(&self, message: impl Into<String>) -> E {
        self.fail(UflError::Format {
            context: self.source.to_string(),
            message: message.into(),
        })
    }
}

/// One number of an array: a JSON number or `"NaN"`, `"Infinity"`, `"-Infinity"`.
fn decode_number<E: de::Error>(s: &str, slot: &Slot) -> Result<f64, E> {
    match s {
        "NaN" => Ok(f64::NAN),
        "Infinity" => Ok(f64::INFINITY),
        "-Infinity" => Ok(f64::NEG_INFINITY),
        other => Err(slot.format(format!("\"{}\" is not a number", files::shorten(other)))),
    }
}

/// The flat row-major data of a (nested) list being streamed, and what its levels must be.
#[derive(Default)]
struct Levels {
    data: Vec<f64>,
    /// The length of each level, fixed by its first list.
    lengths: Vec<Option<usize>>,
    /// The depth of the numbers, fixed by the first one.
    rank: Option<usize>,
}

/// Streams a nested list (or a flat list) of numbers into [`Levels`], checking that every
/// level is rectangular and that the count stays within [`MAX_ELEMENTS`].
struct Nested<'a> {
    levels: &'a mut Levels,
    depth: usize,
    slot: &'a Slot<'a>,
}

impl<'de> DeserializeSeed<'de> for Nested<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Nested<'_> {
    fn leaf<E: de::Error>(self, x: f64) -> Result<(), E> {
        let rank = *self.levels.rank.get_or_insert(self.depth);
        if self.depth != rank {
            return Err(self.slot.format(format!(
                "ragged nested lists: a number at depth {} where the first number is at depth {rank}",
                self.depth
            )));
        }
        if self.depth == 0 {
            return Err(self
                .slot
                .format("expected a list of numbers, found a number"));
        }
        if self.levels.data.len() >= MAX_ELEMENTS {
            return Err(self
                .slot
                .format(format!("more than {MAX_ELEMENTS} elements")));
        }
        self.levels.data.push(x);
        Ok(())
    }
}

impl<'de> Visitor<'de> for Nested<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a (nested) list of numbers")
    }
    fn visit_f64<E: de::Error>(self, x: f64) -> Result<(), E> {
        self.leaf(x)
    }
    fn visit_i64<E: de::Error>(self, x: i64) -> Result<(), E> {
        self.leaf(x as f64)
    }
    fn visit_u64<E: de::Error>(self, x: u64) -> Result<(), E> {
        self.leaf(x as f64)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        let x = decode_number(s, self.slot)?;
        self.leaf(x)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(self.slot.format("expected a number, found a boolean"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.slot.format("expected a number, found null"))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.slot.format("expected a number, found an object"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let depth = self.depth;
        if let Some(rank) = self.levels.rank {
            if depth >= rank {
                return Err(self.slot.format(format!(
                    "ragged nested lists: a list at depth {depth} where the first number is at depth {rank}"
                )));
            }
        }
        if depth >= 32 {
            return Err(self.slot.format("nested more than 32 levels deep"));
        }
        if self.levels.lengths.len() == depth {
            self.levels.lengths.push(None);
        }
        let mut n = 0usize;
        while seq
            .next_element_seed(Nested {
                levels: &mut *self.levels,
                depth: depth + 1,
                slot: self.slot,
            })?
            .is_some()
        {
            n += 1;
        }
        match self.levels.lengths[depth] {
            None => self.levels.lengths[depth] = Some(n),
            Some(m) if m == n => {}
            Some(m) => {
                return Err(self.slot.format(format!(
                    "ragged nested lists: level {depth} holds {n} entries where an earlier list holds {m}"
                )))
            }
        }
        Ok(())
    }
}

/// `{"shape": [..], "data": [..]}` or a nested list, streamed into a tensor.
struct ArrayFile<'a> {
    what: &'static str,
    slot: &'a Slot<'a>,
}

impl ArrayFile<'_> {
    fn not_an_array<E: de::Error>(&self, found: &str) -> E {
        self.slot.format(format!(
            "expected an array (nested lists, or an object with `shape` and `data`), found {found}"
        ))
    }
}

impl<'de> Visitor<'de> for ArrayFile<'_> {
    type Value = Tensor;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("{\"shape\": [...], \"data\": [...]} or a nested list of numbers")
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Tensor, E> {
        Err(self.not_an_array("a string"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Tensor, E> {
        Err(self.not_an_array("a number"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Tensor, E> {
        Err(self.not_an_array("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Tensor, E> {
        Err(self.not_an_array("a number"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Tensor, E> {
        Err(self.not_an_array("a boolean"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Tensor, E> {
        Err(self.not_an_array("null"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Tensor, A::Error> {
        let mut levels = Levels::default();
        Nested {
            levels: &mut levels,
            depth: 0,
            slot: self.slot,
        }
        .visit_seq(seq)?;
        // Below an empty list nothing is known: the shape ends at the first empty level.
        let dims: Vec<usize> = levels
            .lengths
            .iter()
            .map(|d| d.unwrap_or(0))
            .scan(false, |ended, d| {
                if *ended {
                    return None;
                }
                *ended = d == 0;
                Some(d)
            })
            .collect();
        Tensor::new(self.what, dims, levels.data).map_err(|e| self.slot.fail(e))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tensor, A::Error> {
        let mut shape: Option<Vec<usize>> = None;
        let mut data: Option<Vec<f64>> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "shape" if shape.is_some() => {
                    return Err(self.slot.format("duplicate key `shape`"))
                }
                "data" if data.is_some() => return Err(self.slot.format("duplicate key `data`")),
                "shape" => {
                    let s: Vec<usize> = map.next_value()?;
                    element_count(self.what, &s).map_err(|e| self.slot.fail(e))?;
                    shape = Some(s);
                }
                "data" => {
                    // Nothing is reserved on the shape's word: the data grows with the values
                    // actually present.
                    let mut levels = Levels::default();
                    map.next_value_seed(Nested {
                        levels: &mut levels,
                        depth: 0,
                        slot: self.slot,
                    })?;
                    if levels.lengths.len() != 1 {
                        return Err(self.slot.format("`data` must be a flat list of numbers"));
                    }
                    data = Some(levels.data);
                }
                other => {
                    return Err(self.slot.format(format!(
                        "unknown key `{}` (an array file has `shape` and `data`)",
                        files::shorten(other)
                    )))
                }
            }
        }
        let shape = shape.ok_or_else(|| self.slot.format("missing `shape`"))?;
        let data = data.ok_or_else(|| self.slot.format("missing `data`"))?;
        Tensor::new(self.what, shape, data).map_err(|e| self.slot.fail(e))
    }
}

/// Parses an array given as JSON text (see [`crate::protocol::io`] for the two forms).
pub fn parse_array_str(text: &str, source: &str, what: &'static str) -> Result<Tensor, UflError> {
    if text.starts_with('\u{feff}') {
        return Err(files::bom_error(source));
    }
    let error = RefCell::new(None);
    let slot = Slot {
        error: &error,
        source,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let result = de::Deserializer::deserialize_any(&mut de, ArrayFile { what, slot: &slot })
        .and_then(|t| de.end().map(|()| t));
    match (result, error.into_inner()) {
        (Ok(t), _) => Ok(t),
        (Err(_), Some(typed)) => Err(typed),
        (Err(e), None) => Err(json_error(source, e)),
    }
}

/// Reads an array file (JSON, at most `limit` bytes) straight into a tensor.
pub fn read_array_json(path: &Path, limit: u64, what: &'static str) -> Result<Tensor, UflError> {
    let source = path.display().to_string();
    let error = RefCell::new(None);
    let slot = Slot {
        error: &error,
        source: &source,
    };
    let result = parse_file(path, limit, |de| {
        de::Deserializer::deserialize_any(de, ArrayFile { what, slot: &slot })
    });
    match (result, error.into_inner()) {
        (Err(UflError::Json { .. }), Some(typed)) => Err(typed),
        (result, _) => result,
    }
}

/// A JSON value of a free-form field (a results file's `backend`), parsed strictly (duplicate
/// keys refused) within its own budget of [`MAX_TREE_VALUES`] values.
pub fn strict_value<'de, D: de::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    let budget = Cell::new(MAX_TREE_VALUES);
    Strict { budget: &budget }.deserialize(d)
}

/// One number as the file formats write it: a JSON number or `"NaN"`, `"Infinity"`,
/// `"-Infinity"`.
pub struct Number(pub f64);

impl<'de> de::Deserialize<'de> for Number {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number (or \"NaN\", \"Infinity\", \"-Infinity\")")
            }
            fn visit_f64<E: de::Error>(self, x: f64) -> Result<Number, E> {
                Ok(Number(x))
            }
            fn visit_i64<E: de::Error>(self, x: i64) -> Result<Number, E> {
                Ok(Number(x as f64))
            }
            fn visit_u64<E: de::Error>(self, x: u64) -> Result<Number, E> {
                Ok(Number(x as f64))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Number, E> {
                match s {
                    "NaN" => Ok(Number(f64::NAN)),
                    "Infinity" => Ok(Number(f64::INFINITY)),
                    "-Infinity" => Ok(Number(f64::NEG_INFINITY)),
                    other => Err(E::custom(format!(
                        "\"{}\" is not a number",
                        files::shorten(other)
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A flat list of numbers, streamed into a `Vec<f64>` (at most [`MAX_ELEMENTS`]).
fn number_list<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Vec<f64>, A::Error> {
    let mut out = Vec::new();
    while let Some(Number(x)) = seq.next_element()? {
        if out.len() >= MAX_ELEMENTS {
            return Err(de::Error::custom(format!(
                "more than {MAX_ELEMENTS} numbers"
            )));
        }
        out.push(x);
    }
    Ok(out)
}

/// A loss as the file formats write it: one number (`scalar`) or a flat list.
pub struct Loss {
    pub values: Vec<f64>,
    pub scalar: bool,
}

impl Loss {
    fn one(x: f64) -> Self {
        Loss {
            values: vec![x],
            scalar: true,
        }
    }
}

impl<'de> de::Deserialize<'de> for Loss {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Loss;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a list of numbers")
            }
            fn visit_f64<E: de::Error>(self, x: f64) -> Result<Loss, E> {
                Ok(Loss::one(x))
            }
            fn visit_i64<E: de::Error>(self, x: i64) -> Result<Loss, E> {
                Ok(Loss::one(x as f64))
            }
            fn visit_u64<E: de::Error>(self, x: u64) -> Result<Loss, E> {
                Ok(Loss::one(x as f64))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Loss, E> {
                let Number(x) = Number::deserialize(de::value::StrDeserializer::<E>::new(s))?;
                Ok(Loss::one(x))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Loss, A::Error> {
                number_list(seq).map(|values| Loss {
                    values,
                    scalar: false,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A flat list of numbers (a fixture's gradient).
#[derive(Debug)]
pub struct Numbers(pub Vec<f64>);

impl<'de> de::Deserialize<'de> for Numbers {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Numbers;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of numbers")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Numbers, A::Error> {
                number_list(seq).map(Numbers)
            }
        }
        d.deserialize_any(V)
    }
}

/// A JSON object of a free-form field (a case's `params`), parsed strictly (duplicate keys
/// refused).
pub fn strict_object<'de, D: de::Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    match strict_value(d)? {
        Value::Object(m) => Ok(m),
        other => Err(de::Error::custom(format!(
            "expected an object, found {}",
            match other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "a list",
                Value::Object(_) => "an object",
            }
        ))),
    }
}

/// An array as the file formats write it: a flat list of numbers, or the path of a `.npy` file.
pub enum ListOrPath {
    List(Vec<f64>),
    Path(String),
}

impl<'de> de::Deserialize<'de> for ListOrPath {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ListOrPath;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of numbers or the path of a .npy file")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ListOrPath, E> {
                Ok(ListOrPath::Path(s.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ListOrPath, A::Error> {
                number_list(seq).map(ListOrPath::List)
            }
        }
        d.deserialize_any(V)
    }
}

/// A typed error's message with the JSON path where it occurred (`cases[3].grad[17]: invalid
/// type: …`), as serde_json's own error (which keeps the line and column).
fn with_path(e: serde_path_to_error::Error<serde_json::Error>) -> serde_json::Error {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if path.is_empty() || path == "." || inner.is_io() || inner.is_eof() || inner.is_syntax() {
        return inner;
    }
    <serde_json::Error as de::Error>::custom(format!("at `{}`: {inner}", files::shorten(&path)))
}

/// Parses JSON text into a typed document (serde's derive refuses repeated and, where the
/// type says so, unknown fields); errors name their JSON path, line and column.
pub fn parse_typed<T: de::DeserializeOwned>(text: &str, source: &str) -> Result<T, UflError> {
    if text.starts_with('\u{feff}') {
        return Err(files::bom_error(source));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de)
        .map_err(with_path)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| json_error(source, e))
}

/// Reads the JSON file at `path` (a regular file of at most `limit` bytes) into a typed
/// document, from its reader; errors name their JSON path, line and column.
pub fn read_typed<T: de::DeserializeOwned>(path: &Path, limit: u64) -> Result<T, UflError> {
    parse_file(path, limit, |de| {
        serde_path_to_error::deserialize(de).map_err(with_path)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_every_level() {
        let e = parse_str(r#"{"format": "a", "format": "b"}"#, "t").unwrap_err();
        assert!(e.to_string().contains("duplicate key `format`"), "{e}");
        assert!(e.to_string().contains("line 1"), "{e}");
        let e = parse_str(r#"{"cases": [{"loss": 1, "loss": 2}]}"#, "t").unwrap_err();
        assert!(e.to_string().contains("duplicate key `loss`"), "{e}");
        assert!(parse_str(r#"{"a": {"x": 1}, "b": {"x": 2}}"#, "t").is_ok());
    }

    #[test]
    fn typed_errors_name_their_json_path_and_position() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Doc {
            cases: Vec<Item>,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Item {
            grad: Numbers,
        }
        let e = parse_typed::<Doc>(r#"{"cases": [{"grad": [1]}, {"grad": [1, "x"]}]}"#, "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("at `cases[1].grad[1]`"), "{e}");
        assert!(
            e.contains("\"x\" is not a number") && e.contains("line 1 column"),
            "{e}"
        );
    }

    #[test]
    fn a_bom_is_named() {
        let e = parse_str("\u{feff}{}", "t").unwrap_err();
        assert!(e.to_string().contains("byte-order mark"), "{e}");
    }

    #[test]
    fn arrays_stream_in_both_forms_and_refuse_what_is_not_rectangular() {
        let t = parse_array_str(
            r#"{"shape": [2, 2], "data": [1, "NaN", 3, 4]}"#,
            "t",
            "prediction",
        )
        .unwrap();
        assert_eq!(t.shape, vec![2, 2]);
        assert!(t.data[1].is_nan());
        let t = parse_array_str("[[1, 2, 3], [4, 5, 6]]", "t", "prediction").unwrap();
        assert_eq!(
            (t.shape.clone(), t.data.clone()),
            (vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        );
        for bad in [
            "[[1, 2], [3]]",
            "[[1, 2], 3]",
            "[1, [2, 3]]",
            r#"{"shape": [2], "data": [1, 2], "data": [3, 4]}"#,
            r#"{"shape": [2], "data": [[1], [2]]}"#,
            r#"{"shape": [3], "data": [1, 2]}"#,
            r#"{"shape": [2], "data": [1, 2], "extra": 1}"#,
            r#"["1", 2]"#,
        ] {
            assert!(parse_array_str(bad, "t", "prediction").is_err(), "{bad}");
        }
    }

    #[test]
    fn the_tree_budget_is_enforced_while_parsing() {
        let n = MAX_TREE_VALUES + 10;
        let text = format!("[{}0]", "0,".repeat(n));
        let e = parse_str(&text, "t").unwrap_err();
        assert!(
            e.to_string().contains("JSON values in one free-form field"),
            "{e}"
        );
    }
}
