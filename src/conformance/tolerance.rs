//! The tolerance model: how far a correct implementation in a declared precision may be from
//! the oracle, per case and per output entry.
//!
//! A backend declares the precision it computes in and the precision its inputs are stored in
//! ([`Declared`]). For each case the oracle evaluates the same expressions in
//! [`crate::numbers::bound::Bounded`] for the compute precision, with every input carrying its rounding
//! to the input precision as an initial error. That gives, next to every loss and gradient
//! entry, a first-order bound `e` built from the magnitudes summed, the number of terms, the
//! unit roundoff and the conditioning of each step (a cancellation such as `1 - TI` near a
//! perfect prediction, then a power of it, grows `e` accordingly). The tolerance is `s·e`, with
//! the safety factor `s` of [`safety_factor`], one exhaustive match over (function, precision).
//! An entry whose bound reaches its magnitude is *undetermined* in that precision; it is still
//! compared against its bound where that bound is finite (see [`check_entry`]), and only a NaN
//! or infinity the bound admits, or a bound that is not finite, leaves it undecided: counted and
//! reported, never silently passed.

use crate::engine::eval::{Outcome, Overrides, Problem};
use crate::numbers::bound::{round_to_bits, Bounded};
use crate::spec::error::UflError;
use crate::spec::registry::FunctionId;
use std::fmt;

/// A binary floating-point format a backend computes or stores in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Precision {
    F64,
    F32,
    F16,
    BF16,
}

impl Precision {
    pub const ALL: [Precision; 4] = [
        Precision::F64,
        Precision::F32,
        Precision::F16,
        Precision::BF16,
    ];

    /// Significand bits, the implicit one included.
    pub fn bits(self) -> u32 {
        match self {
            Precision::F64 => 53,
            Precision::F32 => 24,
            Precision::F16 => 11,
            Precision::BF16 => 8,
        }
    }

    /// Unit roundoff `2^-bits`.
    pub fn unit_roundoff(self) -> f64 {
        0.5f64.powi(self.bits() as i32)
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::F64 => "float64",
            Precision::F32 => "float32",
            Precision::F16 => "float16",
            Precision::BF16 => "bfloat16",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UflError> {
        match s {
            "float64" | "f64" | "double" => Ok(Precision::F64),
            "float32" | "f32" | "float" | "single" => Ok(Precision::F32),
            "float16" | "f16" | "half" => Ok(Precision::F16),
            "bfloat16" | "bf16" => Ok(Precision::BF16),
            _ => Err(UflError::InvalidParameter {
                name: "precision".into(),
                value: s.into(),
                reason: "expected float64, float32, float16 or bfloat16".into(),
            }),
        }
    }

    /// Rounds a value to this format (range not modelled).
    pub fn round(self, x: f64) -> f64 {
        round_to_bits(x, self.bits())
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a backend accumulates its sums.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Summation {
    /// Pairwise, tree or blocked sums (what torch, TensorFlow, JAX and NumPy reductions do),
    /// or any order whose rounding errors behave as independent: bounded by the smaller of
    /// `(n-1)·u·Σ|x|` and Higham & Mary's `λ√(n-1)·u·Σ|x|` (the default assumption).
    #[default]
    Pairwise,
    /// A plain sequential loop (`iter().sum()`, a naive CUDA loop): over near-uniform data its
    /// error grows like `n·u·Σ|x|`, beyond the probabilistic bound; judged by the deterministic
    /// any-order bound `(n-1)·u·Σ|x|` only.
    Sequential,
}

impl Summation {
    pub fn name(self) -> &'static str {
        match self {
            Summation::Pairwise => "pairwise",
            Summation::Sequential => "sequential",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UflError> {
        match s {
            "pairwise" | "tree" | "blocked" => Ok(Summation::Pairwise),
            "sequential" => Ok(Summation::Sequential),
            _ => Err(UflError::InvalidParameter {
                name: "summation".into(),
                value: s.into(),
                reason: "expected pairwise or sequential".into(),
            }),
        }
    }
}

/// What a backend says of its arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Declared {
    /// The precision its arithmetic (and accumulation) is done in.
    pub compute: Precision,
    /// The precision it stores its inputs in (inputs are rounded to it before computing).
    pub inputs: Precision,
    /// How it accumulates its sums.
    pub summation: Summation,
}

impl Declared {
    /// Inputs and arithmetic in one precision, pairwise sums.
    pub const fn uniform(p: Precision) -> Self {
        Declared {
            compute: p,
            inputs: p,
            summation: Summation::Pairwise,
        }
    }

    /// float32 arithmetic on float32 inputs, pairwise sums.
    pub const F32: Declared = Declared::uniform(Precision::F32);
    /// float64 arithmetic on float64 inputs, pairwise sums.
    pub const F64: Declared = Declared::uniform(Precision::F64);

    /// Arithmetic in `compute` on inputs stored in `inputs`, pairwise sums.
    pub const fn mixed(compute: Precision, inputs: Precision) -> Self {
        Declared {
            compute,
            inputs,
            summation: Summation::Pairwise,
        }
    }

    /// The same with sums accumulated as `summation` says.
    pub const fn with_summation(self, summation: Summation) -> Self {
        Declared { summation, ..self }
    }
}

impl fmt::Display for Declared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.compute == self.inputs {
            write!(f, "{}", self.compute)?;
        } else {
            write!(f, "{} inputs, {} arithmetic", self.inputs, self.compute)?;
        }
        if self.summation == Summation::Sequential {
            write!(f, ", sequential sums")?;
        }
        Ok(())
    }
}

/// The safety factor on the first-order bound, per (function, precision).
///
/// The bound follows the oracle's expressions, which mirror the references' expression by
/// expression; sums are bounded for any order, and the regroupings real implementations make
/// are admitted explicitly: `FN = Σy - TP` and `FP = Σq - TP` beside `Σ y·(1-q)` and
/// `Σ (1-y)·q`, `TI` as the complement of `(δ·FN + (1-δ)·FP)/den`, and powers as
/// `exp(n·ln x)` (each statistic's bound is the larger of its groupings'). What it leaves out:
/// second-order terms (below `e²/|v|` relative), and regroupings of a few operations (the
/// quotient rule against TensorFlow's `g·((-x/y)/y)`), each a few `u|r|`. A factor of 2 covers
/// both in f64 and f32. In f16 and bf16 the relative errors of single steps reach 1e-3 to
/// 1e-2, where the second-order terms are no longer negligible beside the first: a factor of 4
/// there.
pub fn safety_factor(function: FunctionId, precision: Precision) -> f64 {
    use FunctionId::*;
    use Precision::*;
    match (function, precision) {
        // Region losses: sums of non-negative products, one quotient, one subtraction.
        (DiceLoss | TverskyLoss | DiceCoefficient, F64 | F32) => 2.0,
        (DiceLoss | TverskyLoss | DiceCoefficient, F16 | BF16) => 4.0,
        // A power of 1 - TI, or x·x^(-γ): the bound carries the power's conditioning.
        (FocalTverskyLoss | SymmetricFocalTverskyLoss | AsymmetricFocalTverskyLoss, F64 | F32) => {
            2.0
        }
        (FocalTverskyLoss | SymmetricFocalTverskyLoss | AsymmetricFocalTverskyLoss, F16 | BF16) => {
            4.0
        }
        // Element-wise (1-q)^γ·ln q and a mean: well conditioned on the clipped range.
        (FocalLoss | SymmetricFocalLoss | AsymmetricFocalLoss, F64 | F32) => 2.0,
        (FocalLoss | SymmetricFocalLoss | AsymmetricFocalLoss, F16 | BF16) => 4.0,
        // Sums of the above; Combo's CE - Dice can cancel, which the bound carries.
        (ComboLoss | SymUnifiedFocalLoss | AsymUnifiedFocalLoss, F64 | F32) => 2.0,
        (ComboLoss | SymUnifiedFocalLoss | AsymUnifiedFocalLoss, F16 | BF16) => 4.0,
    }
}

/// The tolerance of one output entry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EntryTolerance {
    /// `s·e`.
    pub tol: f64,
    /// The declared precision cannot determine this entry.
    pub undetermined: bool,
    /// A correct implementation may return NaN or an infinity here (an operand that may be 0
    /// went through a step singular there); a finite answer is still compared against `tol`.
    pub lost: bool,
}

/// Per-entry tolerances of one evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct Tolerances {
    pub loss: Vec<EntryTolerance>,
    pub grad: Vec<EntryTolerance>,
}

impl Problem {
    /// Evaluates in `Bounded<P, A>` with every input carrying its rounding to `input_bits`
    /// (loss and gradient in the caller's layout, as [`Problem::evaluate`] gives them).
    pub fn evaluate_bounded<const P: u32, const A: bool>(
        &self,
        input_bits: u32,
        want_grad: bool,
        overrides: Overrides,
    ) -> Result<Outcome<Bounded<P, A>>, UflError> {
        self.run_generic(want_grad, overrides, |prepared| {
            let lift = |xs: &[f64]| {
                xs.iter()
                    .map(|&x| Bounded::<P, A> {
                        v: x,
                        e: (x - round_to_bits(x, input_bits)).abs(),
                        lost: false,
                        min_nonzero: 0.0,
                    })
                    .collect()
            };
            (lift(&prepared.pred.data), lift(&prepared.target.data))
        })
    }

    /// The tolerances a backend declaring `declared` gets on this problem.
    pub fn tolerances(&self, declared: Declared) -> Result<Tolerances, UflError> {
        self.tolerances_with(declared, Overrides::default())
    }

    /// [`Problem::tolerances`] of the problem evaluated with its semantics changed by
    /// `overrides` (see [`Problem::evaluate_with`]).
    pub fn tolerances_with(
        &self,
        declared: Declared,
        overrides: Overrides,
    ) -> Result<Tolerances, UflError> {
        let s = safety_factor(self.function, declared.compute);
        let bits = declared.inputs.bits();
        fn entries<const P: u32, const A: bool>(out: Outcome<Bounded<P, A>>, s: f64) -> Tolerances {
            let e = |b: &Bounded<P, A>| EntryTolerance {
                tol: s * b.e,
                undetermined: b.undetermined(),
                lost: b.lost,
            };
            Tolerances {
                loss: out.loss.iter().map(e).collect(),
                grad: out.grad.as_deref().unwrap_or(&[]).iter().map(e).collect(),
            }
        }
        let o = overrides;
        Ok(match (declared.compute, declared.summation) {
            (Precision::F64, Summation::Pairwise) => {
                entries(self.evaluate_bounded::<53, false>(bits, true, o)?, s)
            }
            (Precision::F32, Summation::Pairwise) => {
                entries(self.evaluate_bounded::<24, false>(bits, true, o)?, s)
            }
            (Precision::F16, Summation::Pairwise) => {
                entries(self.evaluate_bounded::<11, false>(bits, true, o)?, s)
            }
            (Precision::BF16, Summation::Pairwise) => {
                entries(self.evaluate_bounded::<8, false>(bits, true, o)?, s)
            }
            (Precision::F64, Summation::Sequential) => {
                entries(self.evaluate_bounded::<53, true>(bits, true, o)?, s)
            }
            (Precision::F32, Summation::Sequential) => {
                entries(self.evaluate_bounded::<24, true>(bits, true, o)?, s)
            }
            (Precision::F16, Summation::Sequential) => {
                entries(self.evaluate_bounded::<11, true>(bits, true, o)?, s)
            }
            (Precision::BF16, Summation::Sequential) => {
                entries(self.evaluate_bounded::<8, true>(bits, true, o)?, s)
            }
        })
    }
}

/// How one entry compares.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EntryCheck {
    /// Within tolerance; the fraction of the tolerance used.
    Ok(f64),
    /// Not decided: the entry's bound is not finite, or one side is NaN or infinite where the
    /// other is finite and the declared precision cannot determine the entry.
    Undetermined,
    Bad,
}

/// Compares one entry: NaN matches NaN; equal values (infinities included) match; otherwise the
/// difference must be within a finite tolerance.
///
/// An entry the declared precision cannot determine (its bound reaches its magnitude) is still
/// compared against its bound where that bound is finite and both values are finite: an answer
/// outside even that bound is wrong. It is undetermined only where nothing can be compared: a
/// bound that is not finite, or a NaN or infinity against a finite value (a float32
/// implementation may round `1 - TI` to 0 and return `0·∞`). Where an operand without a
/// significant digit went through a singular step, the bound is the interval one of
/// [`crate::numbers::bound::Bounded`] (the operand is 0 or on the float lattice): sound, so a finite
/// answer outside it is wrong.
pub fn check_entry(expected: f64, got: f64, tol: EntryTolerance) -> EntryCheck {
    if expected.is_nan() && got.is_nan() || expected == got {
        return EntryCheck::Ok(0.0);
    }
    let diff = (expected - got).abs();
    let comparable = tol.tol.is_finite() && diff.is_finite();
    if comparable && diff <= tol.tol {
        EntryCheck::Ok(if tol.tol > 0.0 { diff / tol.tol } else { 0.0 })
    } else if tol.undetermined && !comparable {
        EntryCheck::Undetermined
    } else {
        EntryCheck::Bad
    }
}

/// The outcome of comparing one output array.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Comparison {
    /// Largest fraction of a tolerance used by a passing entry.
    pub used: f64,
    /// Entries compared against a finite tolerance (passed or bad).
    pub compared: usize,
    /// Entries within tolerance.
    pub passed: usize,
    /// Entries that nothing could be compared in (see [`check_entry`]).
    pub undetermined: Vec<usize>,
    /// Entries outside tolerance.
    pub bad: Vec<usize>,
}

/// Compares `got` against `expected` entry by entry. An entry that one of the three arrays
/// lacks (a backend output of the wrong length) is bad: nothing is compared by position
/// beyond what both outputs hold.
pub fn compare(expected: &[f64], got: &[f64], tol: &[EntryTolerance]) -> Comparison {
    let mut c = Comparison::default();
    for i in 0..expected.len().max(got.len()) {
        let check = match (expected.get(i), got.get(i), tol.get(i)) {
            (Some(&e), Some(&g), Some(&t)) => check_entry(e, g, t),
            _ => EntryCheck::Bad,
        };
        match check {
            EntryCheck::Ok(u) => {
                c.used = c.used.max(u);
                c.compared += 1;
                c.passed += 1;
            }
            EntryCheck::Undetermined => c.undetermined.push(i),
            EntryCheck::Bad => {
                c.compared += 1;
                c.bad.push(i)
            }
        }
    }
    c
}

/// The multi-index of flat entry `flat` of an array of `shape` (row-major, the last axis
/// fastest); `[]` for a scalar.
pub fn multi_index(shape: &[usize], flat: usize) -> Vec<usize> {
    let mut rest = flat;
    let mut index = vec![0; shape.len()];
    for (i, &n) in shape.iter().enumerate().rev() {
        if n > 0 {
            index[i] = rest % n;
            rest /= n;
        }
    }
    index
}

/// An entry by its flat index and, for an array of rank 2 or more, its multi-index:
/// `[14] = (0, 1, 0, 1, 0)` in a (1, 3, 3, 2, 2) array.
fn entry_name(shape: &[usize], flat: usize) -> String {
    if shape.len() < 2 {
        return format!("[{flat}]");
    }
    let index: Vec<String> = multi_index(shape, flat)
        .iter()
        .map(usize::to_string)
        .collect();
    format!("[{flat}] = ({})", index.join(", "))
}

/// Describes the first few bad entries of an output of `shape`, each with its bound, then
/// "N more".
pub fn describe_bad(
    name: &str,
    shape: &[usize],
    expected: &[f64],
    got: &[f64],
    tol: &[EntryTolerance],
    bad: &[usize],
) -> String {
    let mut s = format!(
        "{name}: {} of {} entries outside tolerance",
        bad.len(),
        expected.len()
    );
    if got.len() != expected.len() {
        s.push_str(&format!(
            " (the output has {} entries, the oracle {})",
            got.len(),
            expected.len()
        ));
    }
    for &i in bad.iter().take(4) {
        let at = entry_name(shape, i);
        let (Some(&e), Some(&g), Some(t)) = (expected.get(i), got.get(i), tol.get(i)) else {
            s.push_str(&format!("\n    {at} missing on one side"));
            continue;
        };
        s.push_str(&format!(
            "\n    {at} expected {:e} ({:#018x}) got {:e} ({:#018x}) |diff| {:.3e} > bound {:.3e}",
            e,
            e.to_bits(),
            g,
            g.to_bits(),
            (e - g).abs(),
            t.tol
        ));
    }
    if bad.len() > 4 {
        s.push_str(&format!("\n    ... {} more", bad.len() - 4));
    }
    s
}

/// Describes the first few undetermined entries of an output of `shape`: the oracle's value,
/// the answer and the bound, and why nothing could be compared there.
pub fn describe_undetermined(
    name: &str,
    shape: &[usize],
    expected: &[f64],
    got: &[f64],
    tol: &[EntryTolerance],
    undetermined: &[usize],
) -> String {
    let mut s = format!(
        "{name}: {} of {} entries not comparable",
        undetermined.len(),
        expected.len()
    );
    for &i in undetermined.iter().take(4) {
        let (Some(&e), Some(&g), Some(t)) = (expected.get(i), got.get(i), tol.get(i)) else {
            continue;
        };
        let why = if !t.tol.is_finite() {
            "the bound is not finite"
        } else {
            "a NaN or an infinity against a finite value"
        };
        s.push_str(&format!(
            "\n    {} expected {:e} got {:e} bound {:.3e}: {why}",
            entry_name(shape, i),
            e,
            g,
            t.tol
        ));
    }
    if undetermined.len() > 4 {
        s.push_str(&format!("\n    ... {} more", undetermined.len() - 4));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_of_the_wrong_length_compare_as_bad_without_panicking() {
        let tol = vec![
            EntryTolerance {
                tol: 1e-6,
                undetermined: false,
                lost: false,
            };
            2
        ];
        let short = compare(&[1.0, 2.0], &[1.0], &tol);
        assert_eq!(short.bad, vec![1]);
        let long = compare(&[1.0, 2.0], &[1.0, 2.0, 3.0], &tol);
        assert_eq!(long.bad, vec![2]);
        let empty = compare(&[1.0, 2.0], &[], &tol);
        assert_eq!(empty.bad, vec![0, 1]);
        let text = describe_bad("loss", &[2], &[1.0, 2.0], &[], &tol, &empty.bad);
        assert!(
            text.contains("the output has 0 entries, the oracle 2"),
            "{text}"
        );
        assert!(text.contains("[1] missing on one side"), "{text}");
    }

    #[test]
    fn entries_are_named_by_their_flat_and_multi_index() {
        assert_eq!(multi_index(&[1, 3, 3, 2, 2], 14), vec![0, 1, 0, 1, 0]);
        assert_eq!(multi_index(&[1, 3, 3, 2, 2], 12), vec![0, 1, 0, 0, 0]);
        assert_eq!(multi_index(&[2, 3], 5), vec![1, 2]);
        assert_eq!(entry_name(&[1, 3, 3, 2, 2], 14), "[14] = (0, 1, 0, 1, 0)");
        assert_eq!(entry_name(&[], 0), "[0]");
        assert_eq!(entry_name(&[4], 3), "[3]");
        let tol = [EntryTolerance {
            tol: f64::INFINITY,
            undetermined: true,
            lost: true,
        }];
        let text = describe_undetermined("grad", &[1, 1], &[1.0], &[f64::NAN], &tol, &[0]);
        assert!(
            text.contains("[0] = (0, 0) expected 1e0 got NaN bound inf: the bound is not finite"),
            "{text}"
        );
    }

    #[test]
    fn unit_roundoffs() {
        assert_eq!(Precision::F32.unit_roundoff(), f32::EPSILON as f64 / 2.0);
        assert_eq!(Precision::F64.unit_roundoff(), f64::EPSILON / 2.0);
        assert_eq!(Precision::F16.unit_roundoff(), 2f64.powi(-11));
        assert_eq!(Precision::BF16.round(1.0 + 1.0 / 512.0), 1.0);
    }

    #[test]
    fn entry_checks() {
        let t = EntryTolerance {
            tol: 1e-6,
            undetermined: false,
            lost: false,
        };
        assert!(
            matches!(check_entry(1.0, 1.0 + 5e-7, t), EntryCheck::Ok(u) if (u - 0.5).abs() < 1e-6)
        );
        assert_eq!(check_entry(1.0, 1.0 + 2e-6, t), EntryCheck::Bad);
        assert_eq!(check_entry(f64::NAN, f64::NAN, t), EntryCheck::Ok(0.0));
        assert_eq!(check_entry(f64::NAN, 1.0, t), EntryCheck::Bad);
        let u = EntryTolerance {
            undetermined: true,
            ..t
        };
        assert_eq!(check_entry(f64::NAN, 1.0, u), EntryCheck::Undetermined);
        assert_eq!(check_entry(1.0, f64::INFINITY, u), EntryCheck::Undetermined);
        // An undetermined entry with a finite bound is still compared against it.
        assert!(matches!(check_entry(1.0, 1.0 + 5e-7, u), EntryCheck::Ok(_)));
        assert_eq!(check_entry(1.0, 1.0 + 2e-6, u), EntryCheck::Bad);
        let unbounded = EntryTolerance {
            tol: f64::INFINITY,
            undetermined: true,
            lost: false,
        };
        assert_eq!(check_entry(1.0, 1e6, unbounded), EntryCheck::Undetermined);
        // An entry a correct implementation may return as NaN is undetermined when NaN, and
        // compared against its (interval) bound when finite.
        let lost = EntryTolerance { lost: true, ..u };
        assert!(matches!(
            check_entry(1.0, 1.0 + 5e-7, lost),
            EntryCheck::Ok(_)
        ));
        assert_eq!(check_entry(1.0, f64::NAN, lost), EntryCheck::Undetermined);
        assert_eq!(check_entry(1.0, 1.0 + 2e-6, lost), EntryCheck::Bad);
        let c = compare(&[1.0, f64::NAN, 3.0], &[1.0, 2.0, 4.0], &[t, u, t]);
        assert_eq!((c.compared, c.passed), (2, 1));
        assert_eq!((c.undetermined, c.bad), (vec![1], vec![2]));
    }
}
