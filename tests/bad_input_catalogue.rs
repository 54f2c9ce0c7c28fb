//! The catalogue of bad input: every kind of input an oracle running unattended may be handed
//! (non-finite and out-of-range values, impossible shapes, sizes declared but never present,
//! malformed, truncated, nested or oversized files, wrong versions and dtypes, out-of-range
//! parameters, unknown names) is refused with the typed error that names it, without a panic
//! and without allocating what a file merely declares.
//!
//! Each case states the refusal it expects (a [`UflError`] variant) and words its message must
//! contain; the whole catalogue runs under an allocator that records the largest single
//! allocation of each case, which must stay below [`DECLARED_NEVER_ALLOCATED`]. The command
//! line's exit codes and messages are checked for a representative subset at the end.

mod common;

use common::{default_problem, num, params, word};
use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;
use ufl_oracle::io::{parse_json_array, read_array, read_npy_bytes};
use ufl_oracle::tensor::{element_count, MAX_ELEMENTS};
use ufl_oracle::verify::parse_deviations;
use ufl_oracle::{
    fixtures, Convention, Dtype, FunctionId, Layout, ParamValue, Problem, Tensor, UflError,
};

// ---- the largest allocation of a case ------------------------------------------------------

/// No case may allocate this much at once: the inputs here are small, whatever they declare.
const DECLARED_NEVER_ALLOCATED: usize = 64 << 20;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|largest| {
        if size > largest.get() {
            largest.set(size)
        }
    });
}

/// The system allocator, recording the largest request of the current thread.
struct Recording;

unsafe impl GlobalAlloc for Recording {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: AllocLayout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Recording = Recording;

// ---- building blocks ------------------------------------------------------------------------

/// One entry of the catalogue.
struct Case {
    name: &'static str,
    run: Box<dyn Fn() -> Result<(), UflError>>,
    expect: fn(&UflError) -> bool,
    says: &'static str,
}

macro_rules! case {
    ($cases:ident, $name:expr, $body:expr, $pattern:pat, $says:expr) => {
        $cases.push(Case {
            name: $name,
            run: Box::new(move || $body),
            expect: |e| matches!(e, $pattern),
            says: $says,
        })
    };
}

fn problem(
    function: FunctionId,
    convention: Convention,
    shape: &[usize],
    layout: Layout,
) -> Problem {
    default_problem(function, convention, shape, layout, 17)
}

/// `asym_unified_focal_loss` in `original`, (1, 3, 3, 2) channels-last.
fn original() -> Problem {
    problem(
        FunctionId::AsymUnifiedFocalLoss,
        Convention::Original,
        &[1, 3, 3, 2],
        Layout::ChannelsLast,
    )
}

/// `asym_unified_focal_loss` in `paper`, (2, 3, 4) channels-first.
fn paper() -> Problem {
    problem(
        FunctionId::AsymUnifiedFocalLoss,
        Convention::Paper,
        &[2, 3, 4],
        Layout::ChannelsFirst,
    )
}

/// `function` in `monai`, (1, 2, 3, 3) channels-first.
fn monai(function: FunctionId) -> Problem {
    problem(
        function,
        Convention::Monai,
        &[1, 2, 3, 3],
        Layout::ChannelsFirst,
    )
}

fn with(mut p: Problem, pairs: &[(&str, ParamValue)]) -> Problem {
    p.params = params(pairs);
    p
}

fn evaluate(p: Problem) -> Result<(), UflError> {
    p.evaluate().map(drop)
}

/// A `.npy` file: magic, version 1, the header text as given, then `body`.
fn npy(header: &str, body: &[u8]) -> Vec<u8> {
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16 + 1).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(body);
    out
}

fn f64_bytes(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn read_npy(bytes: &[u8]) -> Result<(), UflError> {
    read_npy_bytes(bytes, "case.npy", "prediction").map(drop)
}

fn read_json(text: &str) -> Result<(), UflError> {
    parse_json_array(text, "case.json", "prediction").map(drop)
}

fn read_fixture(text: &str) -> Result<(), UflError> {
    fixtures::parse(text, "case.json").map(drop)
}

/// A one-case fixture file around `case` (JSON object text without braces).
fn fixture(case: &str) -> String {
    format!(
        r#"{{"format": "ufl-fixtures/1", "cases": [{{"id": "c", "function": "dice_loss", "params": {{}}, "dtype": "float64", "shape": [1, 1, 1, 2], "y_pred": [0.5, 0.5], "y_true": [1, 0], {case}}}]}}"#
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ufl-oracle-catalogue-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A sparse file of `len` bytes (no disk is used for its size).
fn sparse(path: &Path, len: u64) -> PathBuf {
    let file = std::fs::File::create(path).unwrap();
    file.set_len(len).unwrap();
    path.to_path_buf()
}

// ---- the catalogue --------------------------------------------------------------------------

fn catalogue() -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();

    // Values in predictions and targets.
    case!(
        cases,
        "NaN in the prediction",
        {
            let mut p = original();
            p.pred.data[4] = f64::NAN;
            evaluate(p)
        },
        UflError::NonFinite {
            what: "prediction",
            index: 4,
            ..
        },
        "prediction[4] = NaN is not finite"
    );
    case!(
        cases,
        "+Inf in the prediction",
        {
            let mut p = paper();
            p.pred.data[0] = f64::INFINITY;
            evaluate(p)
        },
        UflError::NonFinite {
            what: "prediction",
            index: 0,
            ..
        },
        "prediction[0] = inf is not finite"
    );
    case!(
        cases,
        "-Inf in logits",
        {
            let mut p = with(paper(), &[("input", word("logits"))]);
            p.pred.data[2] = f64::NEG_INFINITY;
            evaluate(p)
        },
        UflError::NonFinite {
            what: "prediction",
            index: 2,
            ..
        },
        "prediction[2] = -inf is not finite"
    );
    case!(
        cases,
        "NaN in the target",
        {
            let mut p = monai(FunctionId::AsymmetricFocalLoss);
            p.target.data[5] = f64::NAN;
            evaluate(p)
        },
        UflError::NonFinite {
            what: "target",
            index: 5,
            ..
        },
        "target[5] = NaN is not finite"
    );
    case!(
        cases,
        "-Inf in the target",
        {
            let mut p = original();
            p.target.data[1] = f64::NEG_INFINITY;
            evaluate(p)
        },
        UflError::NonFinite { what: "target", .. },
        "target[1] = -inf"
    );
    case!(
        cases,
        "a negative prediction",
        {
            let mut p = original();
            p.pred.data[3] = -0.25;
            evaluate(p)
        },
        UflError::OutsideUnitInterval {
            what: "prediction",
            index: 3,
            ..
        },
        "prediction[3] = -0.25 is outside [0, 1]"
    );
    case!(
        cases,
        "a prediction above 1",
        {
            let mut p = monai(FunctionId::AsymUnifiedFocalLoss);
            p.pred.data[0] = 1.0000000000000002;
            evaluate(p)
        },
        UflError::OutsideUnitInterval {
            what: "prediction",
            ..
        },
        "is outside [0, 1]"
    );
    case!(
        cases,
        "a negative target",
        {
            let mut p = paper();
            p.target.data[7] = -1.0;
            evaluate(p)
        },
        UflError::OutsideUnitInterval {
            what: "target",
            index: 7,
            ..
        },
        "target[7] = -1 is outside [0, 1]"
    );
    case!(
        cases,
        "a target above 1",
        {
            let mut p = monai(FunctionId::AsymmetricFocalTverskyLoss);
            p.target.data[2] = 2.0;
            evaluate(p)
        },
        UflError::OutsideUnitInterval { what: "target", .. },
        "target[2] = 2 is outside [0, 1]"
    );
    case!(
        cases,
        "a float64 value declared float32",
        {
            let mut p = original();
            p.dtype = Dtype::F32;
            p.pred.data[0] = 0.1;
            evaluate(p)
        },
        UflError::NotRepresentable {
            dtype: "float32",
            ..
        },
        "not representable in float32"
    );
    case!(
        cases,
        "a class index that is not an integer",
        {
            let mut p = with(
                monai(FunctionId::AsymmetricFocalLoss),
                &[("to_onehot_y", ParamValue::Bool(true))],
            );
            p.target = Tensor::new(
                "target",
                vec![1, 1, 3, 3],
                vec![0.0, 1.0, 0.5, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0],
            )
            .unwrap();
            evaluate(p)
        },
        UflError::NotAClassIndex { index: 2, .. },
        "is not a class index"
    );

    // Shapes.
    case!(
        cases,
        "prediction and target shapes differ (original)",
        {
            let mut p = original();
            p.target = Tensor::new("target", vec![1, 3, 2, 3], p.target.data.clone())?;
            evaluate(p)
        },
        UflError::ShapeMismatch { .. },
        "prediction shape [1, 3, 3, 2] and target shape [1, 3, 2, 3] differ"
    );
    case!(
        cases,
        "prediction and target shapes differ (paper)",
        {
            let mut p = paper();
            p.target = Tensor::new("target", vec![2, 4, 3], p.target.data.clone())?;
            evaluate(p)
        },
        UflError::ShapeMismatch { .. },
        "differ"
    );
    case!(
        cases,
        "prediction and target shapes differ (MONAI)",
        {
            let mut p = monai(FunctionId::AsymmetricFocalTverskyLoss);
            p.target = Tensor::new("target", vec![1, 2, 9], p.target.data.clone())?;
            evaluate(p)
        },
        UflError::MonaiShapeMismatch { .. },
        "ground truth has different shape"
    );
    case!(
        cases,
        "class indices that would expand to 2^28 one-hot values (a MONAI part)",
        {
            let mut p = with(
                monai(FunctionId::AsymmetricFocalLoss),
                &[("to_onehot_y", ParamValue::Bool(true))],
            );
            p.pred = Tensor::new("prediction", vec![1, 4096, 1], vec![0.5; 4096])?;
            p.target = Tensor::new("target", vec![1, 1, 65536], vec![1.0; 65536])?;
            evaluate(p)
        },
        UflError::MonaiShapeMismatch { .. },
        "ground truth has different shape (torch.Size([1, 4096, 65536])) from input (torch.Size([1, 4096, 1]))"
    );
    case!(
        cases,
        "class indices that would expand to 2^28 one-hot values (MONAI's unified loss)",
        {
            let mut p = with(
                problem(
                    FunctionId::AsymUnifiedFocalLoss,
                    Convention::Monai,
                    &[1, 2, 64, 64],
                    Layout::ChannelsFirst,
                ),
                &[
                    ("to_onehot_y", ParamValue::Bool(true)),
                    ("num_classes", num(65536.0)),
                ],
            );
            p.target = Tensor::new("target", vec![1, 1, 64, 64], vec![1.0; 4096])?;
            evaluate(p)
        },
        UflError::MonaiShapeMismatch { .. },
        "torch.Size([1, 65536, 64, 64])"
    );
    case!(
        cases,
        "an empty axis",
        {
            let mut p = paper();
            p.pred = Tensor::new("prediction", vec![2, 0, 4], vec![])?;
            p.target = p.pred.clone();
            evaluate(p)
        },
        UflError::EmptyAxis { axis: 1, .. },
        "with an empty axis 1"
    );
    case!(
        cases,
        "a zero-size batch",
        {
            let mut p = original();
            p.pred = Tensor::new("prediction", vec![0, 3, 3, 2], vec![])?;
            p.target = p.pred.clone();
            evaluate(p)
        },
        UflError::EmptyAxis { axis: 0, .. },
        "empty axis 0"
    );
    case!(
        cases,
        "rank 0 (a scalar)",
        {
            let mut p = paper();
            p.pred = Tensor::new("prediction", vec![], vec![0.5])?;
            p.target = p.pred.clone();
            evaluate(p)
        },
        UflError::InvalidRank { rank: 0, .. },
        "has rank 0"
    );
    case!(
        cases,
        "rank 1",
        {
            let mut p = paper();
            p.pred = Tensor::new("prediction", vec![4], vec![0.5; 4])?;
            p.target = p.pred.clone();
            evaluate(p)
        },
        UflError::InvalidRank { rank: 1, .. },
        "has rank 1"
    );
    case!(
        cases,
        "rank 3 where the original takes 4 or 5",
        {
            evaluate(problem(
                FunctionId::DiceLoss,
                Convention::Original,
                &[2, 8, 2],
                Layout::ChannelsLast,
            ))
        },
        UflError::OriginalRank { rank: 3 },
        "neither 2D or 3D"
    );
    case!(
        cases,
        "one class in the original's unified loss",
        {
            evaluate(problem(
                FunctionId::AsymUnifiedFocalLoss,
                Convention::Original,
                &[1, 4, 4, 1],
                Layout::ChannelsLast,
            ))
        },
        UflError::OriginalSliceOutOfBounds {
            index: 1,
            dimension: 1,
            size: 1
        },
        "slice index 1 of dimension 1 out of bounds"
    );
    case!(
        cases,
        "one class in MONAI's focal loss",
        {
            evaluate(problem(
                FunctionId::AsymmetricFocalLoss,
                Convention::Monai,
                &[1, 1, 4, 4],
                Layout::ChannelsFirst,
            ))
        },
        UflError::MonaiChannelIndex { size: 1 },
        "index 1 is out of bounds for dimension 1 with size 1"
    );
    case!(
        cases,
        "data of the wrong length for its shape",
        { Tensor::new("prediction", vec![2, 3], vec![0.5; 5]).map(drop) },
        UflError::LengthMismatch {
            len: 5,
            expected: 6,
            ..
        },
        "holds 5 values but its shape [2, 3] needs 6"
    );
    case!(
        cases,
        "an element count that overflows",
        { element_count("prediction", &[usize::MAX, 2]).map(drop) },
        UflError::TooLarge { .. },
        "overflows or exceeds the limit of 268435456 elements"
    );
    case!(
        cases,
        "an element count above the limit",
        { element_count("prediction", &[1 << 15, 1 << 14]).map(drop) },
        UflError::TooLarge {
            limit: MAX_ELEMENTS,
            ..
        },
        "exceeds the limit"
    );
    case!(
        cases,
        "a .npy header declaring 2^60 elements",
        {
            read_npy(&npy(
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1073741824, 1073741824), }",
                &[],
            ))
        },
        UflError::TooLarge { .. },
        "[1073741824, 1073741824]"
    );
    case!(
        cases,
        "a .npy header declaring the limit with 8 bytes present",
        {
            read_npy(&npy(
                "{'descr': '<f8', 'fortran_order': False, 'shape': (268435456,), }",
                &f64_bytes(&[0.5]),
            ))
        },
        UflError::Npy { .. },
        "truncated body: shape [268435456] needs 2147483648 bytes of data, the file has 8"
    );
    case!(
        cases,
        "a JSON array declaring 2^80 elements",
        { read_json(r#"{"shape": [1099511627776, 1099511627776], "data": []}"#) },
        UflError::TooLarge { .. },
        "overflows or exceeds"
    );
    case!(
        cases,
        "nested JSON lists whose first elements declare 2^28 elements",
        {
            // 4.5 KB: the first element of each level holds 1000, 1000 and 268 items.
            let inner = format!("[{}]", vec!["0"; 268].join(","));
            let middle = format!("[{inner},{}]", vec!["0"; 999].join(","));
            read_json(&format!("[{middle},{}]", vec!["0"; 999].join(",")))
        },
        UflError::Format { .. },
        "ragged nested lists"
    );
    case!(
        cases,
        "a JSON array declaring the limit with no data",
        { read_json(r#"{"shape": [16384, 16384], "data": []}"#) },
        UflError::LengthMismatch {
            len: 0,
            expected: 268435456,
            ..
        },
        "holds 0 values"
    );

    // .npy files.
    case!(
        cases,
        ".npy of integers",
        {
            read_npy(&npy(
                "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }",
                &[0; 8],
            ))
        },
        UflError::Npy { .. },
        "dtype `<i4` is not accepted"
    );
    case!(
        cases,
        ".npy big-endian",
        {
            read_npy(&npy(
                "{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }",
                &[0; 8],
            ))
        },
        UflError::Npy { .. },
        "dtype `>f8` is not accepted"
    );
    case!(
        cases,
        ".npy in Fortran order",
        {
            read_npy(&npy(
                "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }",
                &f64_bytes(&[0.5; 4]),
            ))
        },
        UflError::Npy { .. },
        "Fortran-order arrays are not accepted"
    );
    case!(
        cases,
        ".npy with a truncated body",
        {
            read_npy(&npy(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
                &[0; 15],
            ))
        },
        UflError::Npy { .. },
        "needs 16 bytes of data, the file has 15"
    );
    case!(
        cases,
        ".npy with a truncated header",
        {
            let mut bytes = npy(
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
                &[],
            );
            bytes.truncate(30);
            read_npy(&bytes)
        },
        UflError::Npy { .. },
        "truncated header"
    );
    case!(
        cases,
        ".npy without the magic string",
        { read_npy(b"PK\x03\x04 a zip file") },
        UflError::Npy { .. },
        "magic string"
    );
    case!(
        cases,
        ".npy of an unknown format version",
        {
            let mut bytes = npy(
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
                &[0; 8],
            );
            bytes[6] = 9;
            read_npy(&bytes)
        },
        UflError::Npy { .. },
        "unsupported format version 9"
    );

    // JSON array files.
    case!(
        cases,
        "a ragged JSON array",
        { read_json("[[0.5, 0.5], [0.5]]") },
        UflError::Format { .. },
        "ragged nested lists"
    );
    case!(
        cases,
        "a truncated JSON array",
        { read_json("[[0.5, 0.5], [0.5, 0.") },
        UflError::Json { .. },
        "invalid JSON"
    );
    case!(
        cases,
        "a JSON array nested 40 levels",
        { read_json(&format!("{}0.5{}", "[".repeat(40), "]".repeat(40))) },
        UflError::Format { .. },
        "nested more than 32 levels deep"
    );
    case!(
        cases,
        "JSON nested 100000 levels",
        { read_json(&format!("{}{}", "[".repeat(100_000), "]".repeat(100_000))) },
        UflError::Format { .. },
        "nested more than 32 levels deep"
    );
    case!(
        cases,
        "a JSON number spelled as a word",
        { read_json(r#"[[0.5, "nan"]]"#) },
        UflError::Format { .. },
        "\"nan\" is not a number"
    );
    case!(
        cases,
        "a JSON array that is a string",
        { read_json(r#""0.5, 0.5""#) },
        UflError::Format { .. },
        "expected an array"
    );
    case!(
        cases,
        "an array file above the size limit",
        {
            let path = sparse(
                &scratch("array-limit").join("huge.npy"),
                ufl_oracle::io::MAX_ARRAY_FILE_BYTES + 1,
            );
            let result = read_array(&path, "prediction").map(drop);
            let _ = std::fs::remove_file(&path);
            result
        },
        UflError::FileTooLarge { .. },
        "larger than the limit of 2147549184 bytes"
    );

    // Fixture files.
    case!(
        cases,
        "a fixture file that is not JSON",
        { read_fixture("format: ufl-fixtures/1") },
        UflError::Json { .. },
        "invalid JSON"
    );
    case!(
        cases,
        "a truncated fixture file",
        {
            let text = fixture(r#""loss": 0.5"#);
            read_fixture(&text[..text.len() / 2])
        },
        UflError::Json { .. },
        "EOF while parsing"
    );
    case!(
        cases,
        "a fixture file nested 10000 levels",
        {
            read_fixture(&format!(
                r#"{{"format": "ufl-fixtures/1", "cases": {}{}}}"#,
                "[".repeat(10_000),
                "]".repeat(10_000)
            ))
        },
        UflError::Json { .. },
        "invalid type: sequence"
    );
    case!(
        cases,
        "a fixture file of a later format version",
        { read_fixture(r#"{"format": "ufl-fixtures/2", "cases": []}"#) },
        UflError::Format { .. },
        "format is \"ufl-fixtures/2\", expected \"ufl-fixtures/1\""
    );
    case!(
        cases,
        "a fixture file without cases",
        { read_fixture(r#"{"format": "ufl-fixtures/1"}"#) },
        UflError::Json { .. },
        "missing field `cases`"
    );
    case!(
        cases,
        "a fixture gradient of the wrong length",
        { read_fixture(&fixture(r#""loss": 0.5, "grad": [0.1, 0.2, 0.3]"#)) },
        UflError::Format { .. },
        "grad holds 3 values but y_pred holds 2"
    );
    case!(
        cases,
        "a fixture loss shape whose element count overflows",
        {
            read_fixture(&fixture(
                r#""loss": [], "loss_shape": [9223372036854775808, 2]"#,
            ))
        },
        UflError::TooLarge { what: "loss", .. },
        "loss has shape [9223372036854775808, 2]"
    );
    case!(
        cases,
        "a fixture of an unknown function",
        { read_fixture(&fixture(r#""loss": 0.5"#).replace("dice_loss", "lovasz_loss")) },
        UflError::UnknownFunction(_),
        "unknown function `lovasz_loss`"
    );
    case!(
        cases,
        "a fixture of an unknown convention",
        { read_fixture(&fixture(r#""loss": 0.5, "convention": "keras""#)) },
        UflError::UnknownConvention(_),
        "unknown convention `keras`"
    );
    case!(
        cases,
        "a fixture of an unknown dtype",
        { read_fixture(&fixture(r#""loss": 0.5"#).replace("float64", "bfloat16")) },
        UflError::UnknownDtype(_),
        "dtype `bfloat16`"
    );
    case!(
        cases,
        "a fixture file above the size limit",
        {
            let path = sparse(
                &scratch("fixture-limit").join("huge.json"),
                fixtures::MAX_FILE_BYTES + 1,
            );
            let result = fixtures::read(&path).map(drop);
            let _ = std::fs::remove_file(&path);
            result
        },
        UflError::FileTooLarge { .. },
        "larger than the limit of 1073741824 bytes"
    );
    case!(
        cases,
        "a results file above the size limit",
        {
            let path = sparse(
                &scratch("results-limit").join("results.json"),
                fixtures::MAX_FILE_BYTES + 1,
            );
            let result = ufl_oracle::results::read_results(&path).map(drop);
            let _ = std::fs::remove_file(&path);
            result
        },
        UflError::FileTooLarge { .. },
        "larger than the limit of 1073741824 bytes"
    );
    case!(
        cases,
        "a deviation list of another format",
        {
            parse_deviations(
                r#"{"format": "ufl-deviations/0", "deviations": []}"#,
                "list.json",
            )
            .map(drop)
        },
        UflError::Format { .. },
        "format must be \"ufl-deviations/1\""
    );

    // Parameters and names.
    case!(
        cases,
        "delta above 1",
        { evaluate(with(original(), &[("delta", num(1.5))])) },
        UflError::InvalidParameter { .. },
        "parameter `delta` = 1.5: must lie in [0, 1]"
    );
    case!(
        cases,
        "gamma NaN",
        { evaluate(with(original(), &[("gamma", num(f64::NAN))])) },
        UflError::InvalidParameter { .. },
        "parameter `gamma` = NaN: must be finite"
    );
    case!(
        cases,
        "a negative smoothing",
        {
            evaluate(with(
                problem(
                    FunctionId::DiceLoss,
                    Convention::Original,
                    &[1, 2, 2, 2],
                    Layout::ChannelsLast,
                ),
                &[("smooth", num(-1e-6))],
            ))
        },
        UflError::InvalidParameter { .. },
        "`smooth` = -0.000001: must lie in [0, inf)"
    );
    case!(
        cases,
        "the paper's gamma at 1",
        { evaluate(with(paper(), &[("gamma", num(1.0))])) },
        UflError::InvalidParameter { .. },
        "`gamma` = 1: must lie in [0, 1)"
    );
    case!(
        cases,
        "the paper's eps at 0",
        { evaluate(with(paper(), &[("eps", num(0.0))])) },
        UflError::InvalidParameter { .. },
        "`eps` = 0: must lie in (0, 0.5)"
    );
    case!(
        cases,
        "a rare class that does not exist",
        {
            evaluate(with(
                paper(),
                &[("rare_classes", ParamValue::List(vec![1.0, 3.0]))],
            ))
        },
        UflError::InvalidParameter { .. },
        "class 3 does not exist: there are 3 classes"
    );
    case!(
        cases,
        "num_classes 0",
        {
            evaluate(with(
                monai(FunctionId::AsymUnifiedFocalLoss),
                &[("num_classes", num(0.0))],
            ))
        },
        UflError::InvalidParameter { .. },
        "`num_classes` = 0: must lie in [1, 65536]"
    );
    case!(
        cases,
        "a word for a number",
        { evaluate(with(original(), &[("weight", word("half"))])) },
        UflError::InvalidParameter { .. },
        "expected a number or null"
    );
    case!(
        cases,
        "an unknown reduction",
        { evaluate(with(paper(), &[("reduction", word("median"))])) },
        UflError::InvalidParameter { .. },
        "must be one of mean, sum, none, none-per-class"
    );
    case!(
        cases,
        "a parameter of another convention",
        { evaluate(with(original(), &[("lambda", num(0.5))])) },
        UflError::UnknownParameter { .. },
        "has no parameter `lambda` in the `original` convention"
    );
    case!(
        cases,
        "an unknown function",
        { "lovasz_loss".parse::<FunctionId>().map(drop) },
        UflError::UnknownFunction(_),
        "unknown function `lovasz_loss`"
    );
    case!(
        cases,
        "an unknown convention",
        { "keras".parse::<Convention>().map(drop) },
        UflError::UnknownConvention(_),
        "unknown convention `keras`"
    );
    case!(
        cases,
        "a function its convention does not define",
        {
            evaluate(problem(
                FunctionId::DiceLoss,
                Convention::Monai,
                &[1, 2, 3, 3],
                Layout::ChannelsFirst,
            ))
        },
        UflError::UnsupportedConvention { .. },
        "`dice_loss` is not defined in the `monai` convention"
    );
    case!(
        cases,
        "an unknown layout",
        { Layout::parse("nhwc").map(drop) },
        UflError::UnknownLayout(_),
        "layout `nhwc`"
    );
    case!(
        cases,
        "an unknown dtype",
        { Dtype::parse("float16").map(drop) },
        UflError::UnknownDtype(_),
        "dtype `float16`"
    );

    // Directions for forward mode.
    case!(
        cases,
        "a direction of the wrong shape",
        {
            let p = original();
            p.jvp(&Tensor::new("direction", vec![1, 3, 2, 3], vec![0.5; 18])?)
                .map(drop)
        },
        UflError::ShapeMismatch { .. },
        "[1, 3, 2, 3]"
    );
    case!(
        cases,
        "a NaN direction",
        {
            let p = original();
            let mut v = p.pred.clone();
            v.data[0] = f64::NAN;
            p.jvp(&v).map(drop)
        },
        UflError::NonFinite {
            what: "direction",
            ..
        },
        "direction[0] = NaN"
    );
    case!(
        cases,
        "parameter derivatives of a problem without real-valued parameters",
        {
            let mut p = with(
                problem(
                    FunctionId::ComboLoss,
                    Convention::Original,
                    &[1, 2, 2, 2],
                    Layout::ChannelsLast,
                ),
                &[("alpha", ParamValue::Null), ("beta", ParamValue::Null)],
            );
            p.target.data[0] = 1e308;
            p.param_derivatives().map(drop)
        },
        UflError::OutsideUnitInterval { what: "target", .. },
        "target[0] = 100000000"
    );
    case!(
        cases,
        "a full forward-mode gradient above its limit",
        {
            let mut p = paper();
            p.pred = Tensor::new("prediction", vec![1, 2, 8193], vec![0.5; 16386])?;
            p.target = p.pred.clone();
            p.forward_mode_gradient().map(drop)
        },
        UflError::TooLarge { limit: 16384, .. },
        "exceeds the limit of 16384 elements"
    );

    cases
}

#[test]
fn every_bad_input_gets_the_typed_error_that_names_it() {
    let cases = catalogue();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "two cases share a name");
    let mut problems = Vec::new();
    for case in &cases {
        LARGEST.with(|l| l.set(0));
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (case.run)()));
        let largest = LARGEST.with(|l| l.get());
        match outcome {
            Err(_) => problems.push(format!("{}: panicked", case.name)),
            Ok(Ok(())) => problems.push(format!("{}: accepted", case.name)),
            Ok(Err(e)) => {
                if !(case.expect)(&e) {
                    problems.push(format!("{}: refused with another error: {e:?}", case.name));
                } else if !e.to_string().contains(case.says) {
                    problems.push(format!(
                        "{}: the message `{e}` does not say `{}`",
                        case.name, case.says
                    ));
                }
            }
        }
        if largest > DECLARED_NEVER_ALLOCATED {
            problems.push(format!("{}: allocated {largest} bytes at once", case.name));
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} cases:\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n")
    );
    println!("{} bad inputs refused as catalogued", cases.len());
}

// ---- the command line -----------------------------------------------------------------------

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ufl-oracle"))
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `eval` on the given prediction and target files (written into a scratch folder).
fn eval(
    dir: &Path,
    pred: (&str, &[u8]),
    target: (&str, &[u8]),
    extra: &[&str],
) -> (i32, String, String) {
    let (pred_path, target_path) = (dir.join(pred.0), dir.join(target.0));
    std::fs::write(&pred_path, pred.1).unwrap();
    std::fs::write(&target_path, target.1).unwrap();
    run(bin()
        .args(["eval", "-f", "asym_unified_focal_loss"])
        .args(extra)
        .arg("--pred")
        .arg(&pred_path)
        .arg("--target")
        .arg(&target_path))
}

const PRED: &[u8] = b"[[[[0.9, 0.1], [0.2, 0.8]], [[0.6, 0.4], [0.3, 0.7]]]]";
const TARGET: &[u8] = b"[[[[1, 0], [0, 1]], [[1, 0], [0, 1]]]]";

#[test]
fn the_command_line_refuses_unusable_input_with_exit_2_and_the_problem_named() {
    let dir = scratch("cli");
    let refusals: Vec<(&str, (i32, String, String), &str)> = vec![
        (
            "NaN in the prediction",
            eval(&dir, ("p.json", b"[[[[\"NaN\", 0.1], [0.2, 0.8]], [[0.6, 0.4], [0.3, 0.7]]]]"), ("t.json", TARGET), &[]),
            "prediction[0] = NaN is not finite",
        ),
        (
            "a prediction above 1",
            eval(&dir, ("p.json", b"[[[[1.5, 0.1], [0.2, 0.8]], [[0.6, 0.4], [0.3, 0.7]]]]"), ("t.json", TARGET), &[]),
            "prediction[0] = 1.5 is outside [0, 1]",
        ),
        (
            "mismatched shapes",
            eval(&dir, ("p.json", PRED), ("t.json", b"[[[1, 0], [0, 1]]]"), &[]),
            "differ",
        ),
        (
            "a .npy header declaring 2^60 elements",
            eval(
                &dir,
                ("p.npy", &npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1073741824, 1073741824), }", &[])),
                ("t.json", TARGET),
                &[],
            ),
            "exceeds the limit",
        ),
        (
            "a .npy of integers",
            eval(&dir, ("p.npy", &npy("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", &[0; 8])), ("t.json", TARGET), &[]),
            "dtype `<i8` is not accepted",
        ),
        (
            "a truncated JSON array",
            eval(&dir, ("p.json", &PRED[..20]), ("t.json", TARGET), &[]),
            "invalid JSON",
        ),
        (
            "an out-of-range parameter",
            eval(&dir, ("p.json", PRED), ("t.json", TARGET), &["-p", "delta=2"]),
            "parameter `delta` = 2: must lie in [0, 1]",
        ),
        (
            "an unknown parameter",
            eval(&dir, ("p.json", PRED), ("t.json", TARGET), &["-p", "lambda=0.5"]),
            "has no parameter `lambda`",
        ),
        (
            "an unknown convention",
            eval(&dir, ("p.json", PRED), ("t.json", TARGET), &["-c", "keras"]),
            "unknown convention `keras`",
        ),
        (
            "an unknown layout",
            eval(&dir, ("p.json", PRED), ("t.json", TARGET), &["--layout", "nhwc"]),
            "layout `nhwc`",
        ),
        (
            "a parameter without a value",
            eval(&dir, ("p.json", PRED), ("t.json", TARGET), &["-p", "delta"]),
            "expected name=value",
        ),
    ];
    for (name, (code, out, err), says) in refusals {
        assert_eq!(code, 2, "{name}: exit {code}\n{out}\n{err}");
        assert!(
            err.contains(says),
            "{name}: stderr does not say `{says}`:\n{err}"
        );
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert!(out.is_empty(), "{name}: printed a result:\n{out}");
    }
}

#[test]
fn verify_fixtures_never_reports_a_pass_for_what_it_could_not_check() {
    let dir = scratch("cli-fixtures");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let files = [
        (
            "malformed",
            write(
                "malformed.json",
                "{\"format\": \"ufl-fixtures/1\", \"cases\": [{",
            ),
            "invalid JSON",
        ),
        (
            "a later version",
            write("v2.json", r#"{"format": "ufl-fixtures/2", "cases": []}"#),
            "expected \"ufl-fixtures/1\"",
        ),
        (
            "no cases",
            write("empty.json", r#"{"format": "ufl-fixtures/1", "cases": []}"#),
            "empty.json: no cases to check",
        ),
        (
            "a gradient of the wrong length",
            write("grad.json", &fixture(r#""loss": 0.5, "grad": [0.1]"#)),
            "grad holds 1 values but y_pred holds 2",
        ),
    ];
    for (name, path, says) in files {
        let (code, out, err) = run(bin().arg("verify-fixtures").arg(&path));
        assert_eq!(code, 2, "{name}: exit {code}\n{out}\n{err}");
        assert!(err.contains(says), "{name}: {err}");
        assert!(!out.contains("passed"), "{name}: {out}");
    }
    // A case the oracle cannot evaluate (a prediction outside [0, 1]) is unusable, never a pass.
    let path = write(
        "unusable.json",
        &fixture(r#""loss": 0.5, "grad": [0.1, 0.1]"#).replace("[0.5, 0.5]", "[1.5, 0.5]"),
    );
    let (code, out, _) = run(bin().arg("verify-fixtures").arg(&path));
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("UNUSABLE  c: the oracle cannot evaluate this case: prediction[0] = 1.5 is outside [0, 1]"), "{out}");
    assert!(out.contains("0 passed"), "{out}");
}

// ---- hostile files ----------------------------------------------------------------------------

/// Runs the command with a deadline: a command still running after 30 s is killed and the test
/// fails (a hang is a finding, not a slow test).
fn run_bounded(cmd: &mut Command) -> (i32, String, String) {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let (mut out, mut err) = (String::new(), String::new());
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code().unwrap_or(-1), out, err);
        }
        if start.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            panic!("{cmd:?} still running after 30 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// One value case of the shipped fixtures (the reference's own numbers), as a fixture file.
fn shipped_case() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/original/symmetric.json");
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let case = file["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c.get("loss").is_some_and(|l| l.is_number()) && c["dtype"] == "float64")
        .unwrap()
        .clone();
    serde_json::json!({"format": "ufl-fixtures/1", "cases": [case]})
}

fn mkfifo(path: &Path) -> bool {
    Command::new("mkfifo")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) {
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(target, link).unwrap();
}

/// `eval -f dice_loss --pred PRED --target TARGET EXTRA...` as arguments.
#[cfg(unix)]
fn eval_args(pred: &Path, target: &Path, extra: &[&str]) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec!["eval".into(), "-f".into(), "dice_loss".into()];
    args.extend([
        "--pred".into(),
        pred.into(),
        "--target".into(),
        target.into(),
    ]);
    args.extend(extra.iter().map(|a| a.into()));
    args
}

#[cfg(unix)]
#[test]
fn non_regular_files_are_refused_by_type_before_they_are_read() {
    let dir = scratch("non-regular");
    let target = dir.join("t.json");
    std::fs::write(&target, TARGET).unwrap();
    let pred = dir.join("p.json");
    std::fs::write(&pred, PRED).unwrap();
    let fifo = dir.join("pipe.json");
    let _ = std::fs::remove_file(&fifo);
    let have_fifo = mkfifo(&fifo);
    if !have_fifo {
        println!("SKIPPED the FIFO cases: mkfifo is not available here");
    }
    let zero = Path::new("/dev/zero");
    let link_to_zero = dir.join("zero.npy");
    symlink(zero, &link_to_zero);
    let mut runs: Vec<(&str, Vec<std::ffi::OsString>, &str)> = vec![
        (
            "--pred /dev/zero",
            eval_args(zero, &target, &[]),
            "/dev/zero: a character device, not a regular file",
        ),
        (
            "--pred a symlink to /dev/zero",
            eval_args(&link_to_zero, &target, &[]),
            "a character device, not a regular file",
        ),
        (
            "--jvp /dev/zero",
            eval_args(&pred, &target, &["--jvp", "/dev/zero"]),
            "a character device, not a regular file",
        ),
        (
            "--results /dev/zero",
            vec![
                "check".into(),
                "--cases".into(),
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("fixtures/original/symmetric.json")
                    .into(),
                "--results".into(),
                zero.into(),
            ],
            "a character device, not a regular file",
        ),
        (
            "--deviations /dev/zero",
            vec![
                "verify-fixtures".into(),
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("fixtures/original/symmetric.json")
                    .into(),
                "--deviations".into(),
                zero.into(),
            ],
            "a character device, not a regular file",
        ),
        (
            "a fixture path /dev/zero",
            vec!["verify-fixtures".into(), zero.into()],
            "a character device, not a regular file",
        ),
        (
            "a folder where a file is expected",
            eval_args(&dir, &target, &[]),
            "a directory, not a regular file",
        ),
    ];
    if have_fifo {
        runs.push((
            "--pred a FIFO with no writer",
            eval_args(&fifo, &target, &[]),
            "a FIFO (named pipe), not a regular file",
        ));
    }
    for (name, args, says) in runs {
        let (code, out, err) = run_bounded(bin().args(&args));
        assert_eq!(code, 2, "{name}: exit {code}\n{out}\n{err}");
        assert!(
            err.contains(says),
            "{name}: stderr does not say `{says}`:\n{err}"
        );
    }
}

#[cfg(unix)]
#[test]
fn folder_walks_take_regular_files_once_and_name_what_they_skip() {
    let dir = scratch("walk");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // One real fixture, with an upper-case extension, written as serde writes it: sorted keys,
    // so `format` comes after `cases` (a byte sniff of the head would miss it).
    let text = serde_json::to_string(&shipped_case()).unwrap();
    assert!(
        text.find("\"format\"").unwrap() > 256,
        "the test needs a late format"
    );
    std::fs::write(dir.join("B.JSON"), &text).unwrap();
    // Two links to the folder itself, a FIFO named like a fixture, a JSON file of another kind.
    symlink(Path::new("."), &dir.join("a"));
    symlink(Path::new("."), &dir.join("b"));
    let have_fifo = mkfifo(&dir.join("pipe.json"));
    std::fs::write(dir.join("notes.json"), r#"{"about": "not a fixture"}"#).unwrap();
    let (code, out, err) = run_bounded(bin().arg("verify-fixtures").arg(&dir));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("1 cases in 1 files: 1 passed"), "{out}");
    assert!(
        err.contains("a: a symbolic link to a folder (not followed)"),
        "{err}"
    );
    assert!(err.contains("notes.json: has no `format` field"), "{err}");
    if have_fifo {
        assert!(
            err.contains("pipe.json: a FIFO (named pipe), not a regular file"),
            "{err}"
        );
    } else {
        println!("SKIPPED the FIFO in a folder: mkfifo is not available here");
    }

    // The same fixture with a wrong loss is a mismatch, however late its format comes.
    let mut wrong = shipped_case();
    let loss = wrong["cases"][0]["loss"].as_f64().unwrap();
    wrong["cases"][0]["loss"] = serde_json::json!(loss * 1.5 + 0.1);
    let wrong_dir = scratch("walk-wrong");
    std::fs::write(
        wrong_dir.join("f.json"),
        serde_json::to_string(&wrong).unwrap(),
    )
    .unwrap();
    let (code, out, err) = run_bounded(bin().arg("verify-fixtures").arg(&wrong_dir));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("MISMATCH"), "{out}");

    // The same case id in two files is refused, not counted twice.
    let twice = scratch("walk-twice");
    std::fs::write(twice.join("one.json"), &text).unwrap();
    std::fs::write(twice.join("two.json"), &text).unwrap();
    let (code, out, err) = run_bounded(bin().arg("verify-fixtures").arg(&twice));
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("is also in"), "{err}");
}

#[cfg(unix)]
#[test]
fn arrays_named_inside_files_stay_inside_their_folder() {
    let dir = scratch("inside");
    let outside = scratch("inside-outside");
    std::fs::write(
        outside.join("p.npy"),
        npy(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
            &[0; 16],
        ),
    )
    .unwrap();
    let case = |pred: &str| {
        format!(
            r#"{{"format": "ufl-fixtures/1", "cases": [{{"id": "c", "function": "dice_loss", "params": {{}}, "dtype": "float64", "shape": [1, 1, 1, 2], "y_pred": "{pred}", "y_true": [1, 0]}}]}}"#
        )
    };
    symlink(Path::new("/dev/zero"), &dir.join("zero.npy"));
    symlink(&outside.join("p.npy"), &dir.join("elsewhere.npy"));
    for (pred, says) in [
        (
            "zero.npy",
            "resolves to /dev/zero, outside the file's folder",
        ),
        ("elsewhere.npy", "outside the file's folder"),
        (
            "../inside-outside/p.npy",
            "must be a path inside the file's folder",
        ),
    ] {
        let cases = dir.join("cases.json");
        std::fs::write(&cases, case(pred)).unwrap();
        let results = dir.join("results.json");
        std::fs::write(&results, r#"{"format": "ufl-results/1", "cases": []}"#).unwrap();
        let (code, out, err) = run_bounded(
            bin()
                .arg("check")
                .arg("--cases")
                .arg(&cases)
                .arg("--results")
                .arg(&results),
        );
        assert_eq!(code, 2, "{pred}: {out}\n{err}");
        assert!(
            err.contains(says),
            "{pred}: stderr does not say `{says}`:\n{err}"
        );
    }
}

#[test]
fn what_a_file_says_twice_or_wrongly_is_refused_by_name() {
    let dir = scratch("twice");
    let cases = dir.join("cases.json");
    std::fs::write(&cases, serde_json::to_string(&shipped_case()).unwrap()).unwrap();
    let id = shipped_case()["cases"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let check = |results: &str, extra: &[&str]| {
        let path = dir.join("results.json");
        std::fs::write(&path, results).unwrap();
        run_bounded(
            bin()
                .arg("check")
                .arg("--cases")
                .arg(&cases)
                .arg("--results")
                .arg(&path)
                .args(extra),
        )
    };
    let refusals: Vec<(&str, (i32, String, String), &str)> = vec![
        (
            "two formats",
            check(
                r#"{"format": "ufl-results/2", "format": "ufl-results/1", "cases": []}"#,
                &[],
            ),
            "duplicate field `format`",
        ),
        (
            "two losses",
            check(
                &format!(
                    r#"{{"format": "ufl-results/1", "cases": [{{"id": "{id}", "loss": 1, "loss": 2, "grad": []}}]}}"#
                ),
                &[],
            ),
            "duplicate field `loss`",
        ),
        (
            "a precision given as a number",
            check(
                r#"{"format": "ufl-results/1", "backend": {"precision": 64}, "cases": []}"#,
                &[],
            ),
            "`precision` must be a string",
        ),
        (
            "a byte-order mark",
            check(
                "\u{feff}{\"format\": \"ufl-results/1\", \"cases\": []}",
                &[],
            ),
            "byte-order mark",
        ),
        (
            "an unknown key in a result",
            check(
                &format!(
                    r#"{{"format": "ufl-results/1", "cases": [{{"id": "{id}", "error": "x", "note": 1}}]}}"#
                ),
                &[],
            ),
            "unknown field `note`",
        ),
    ];
    for (name, (code, out, err), says) in refusals {
        assert_eq!(code, 2, "{name}: exit {code}\n{out}\n{err}");
        assert!(
            err.contains(says),
            "{name}: stderr does not say `{says}`:\n{err}"
        );
    }
    // A fixture case whose gradient is null would be verified on its loss alone.
    let mut no_grad = shipped_case();
    no_grad["cases"][0]["grad"] = serde_json::Value::Null;
    let path = dir.join("no-grad.json");
    std::fs::write(&path, no_grad.to_string()).unwrap();
    let (code, out, err) = run_bounded(bin().arg("verify-fixtures").arg(&path));
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("needs its `grad`"), "{err}");
    // A parameter given twice on the command line.
    let (code, _, err) = eval(
        &dir,
        ("p.json", PRED),
        ("t.json", TARGET),
        &["-p", "delta=0.2", "-p", "delta=0.9"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("given twice"), "{err}");
    // A 1 MB id is echoed cut short.
    let mut long = shipped_case();
    long["cases"][0]["id"] = serde_json::json!("x".repeat(1 << 20));
    long["cases"][0]["dtype"] = serde_json::json!("float8");
    let path = dir.join("long-id.json");
    std::fs::write(&path, long.to_string()).unwrap();
    let (code, out, err) = run_bounded(bin().arg("verify-fixtures").arg(&path));
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.len() < 2000, "{} bytes of stderr", err.len());
    // An upper-case .NPY is read as .npy, not as JSON text.
    let (code, _, err) = eval(
        &dir,
        (
            "P.NPY",
            &npy(
                "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }",
                &[0; 8],
            ),
        ),
        ("t.json", TARGET),
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("dtype `<i8` is not accepted"), "{err}");
}

#[test]
fn check_writes_a_report_only_where_asked_and_never_over_an_input() {
    let dir = scratch("report");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cases = dir.join("cases.json");
    std::fs::write(&cases, serde_json::to_string(&shipped_case()).unwrap()).unwrap();
    let id = shipped_case()["cases"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let grad_len = shipped_case()["cases"][0]["grad"].as_array().unwrap().len();
    // A wrong answer: a verified mismatch.
    let results = dir.join("results.json");
    let text = serde_json::json!({"format": "ufl-results/1", "cases": [
        {"id": id, "loss": 123.0, "grad": vec![0.0; grad_len]}]})
    .to_string();
    std::fs::write(&results, &text).unwrap();
    let (code, out, err) = run_bounded(
        bin()
            .arg("check")
            .arg("--cases")
            .arg(&cases)
            .arg("--results")
            .arg(&results),
    );
    assert_eq!(code, 1, "{out}\n{err}");
    let listed: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        listed.len(),
        2,
        "check wrote next to its inputs: {listed:?}"
    );
    // The report may not overwrite an input.
    let (code, out, err) = run_bounded(
        bin()
            .arg("check")
            .arg("--cases")
            .arg(&cases)
            .arg("--results")
            .arg(&results)
            .arg("--report")
            .arg(&results),
    );
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("must not overwrite an input"), "{err}");
    assert_eq!(std::fs::read_to_string(&results).unwrap(), text);
    // A report that cannot be written is a warning; the mismatch's exit code stands.
    let (code, out, err) = run_bounded(
        bin()
            .arg("check")
            .arg("--cases")
            .arg(&cases)
            .arg("--results")
            .arg(&results)
            .arg("--report")
            .arg(dir.join("no-such-folder").join("r.json")),
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("warning: the JSON report could not be written"),
        "{err}"
    );
}
