//! Running error analysis: how far a lower-precision implementation may stray from the exact value.
//!
//! [`Bounded<P, A>`] carries a value computed in f64 and a first-order bound on the absolute error that
//! an implementation computing the *same expression* in a binary floating-point format with a
//! `P`-bit significand (unit roundoff `u = 2^-P`; `P = 24` is float32) may have. Running an
//! evaluator on it gives, next to every output, the tolerance that output deserves: the bound
//! grows with the number of terms summed, their magnitudes, and the conditioning of every step
//! (a cancellation such as `1 - TI` with `TI ≈ 1` amplifies it by `TI/(1-TI)`).
//!
//! The model, per operation on operands `a ± ea`, `b ± eb` with exact result `r`:
//!
//! | operation | propagated error | own rounding |
//! |---|---|---|
//! | `a ± b` | `ea + eb` | `u·|r|` (0 when exact, see below) |
//! | `a · b` | `|a|·eb + |b|·ea + ea·eb` | `u·|r|` (0 when exact) |
//! | `a / b` | `(ea + |r|·eb) / |b|` | `u·|r|` |
//! | `f(a)` for `ln`, `exp`, … | `|f'(a)|·ea` | `2u·|r|` (libm is within 1 ulp) |
//! | `a^n` (non-integer `n`) | `|n·a^(n-1)|·ea` | `(2 + |n·ln a|)·u·|r|` (a library pow, or `exp(n·ln a)`) |
//! | a constant `c` given in f64 | `|c - round_P(c)|` | — |
//! | a sum of `n` terms (any order) | `Σ e_i` | `min(n-1, λ√(n-1))·u·Σ|x_i|` |
//!
//! A sum, difference or product of two operands known exactly (`ea = eb = 0`) whose exact result
//! is representable in `P` bits (`1 - p` for `p ∈ [½, 1]`, `p · 1` under a mask of ones) is
//! computed exactly by every IEEE implementation: it has no rounding error. The f64 value is
//! checked to be that exact result (by the error-free transformations TwoSum and FMA) before the
//! rounding term is dropped.
//!
//! Storing a value in a tensor of another dtype ([`Real::in_dtype`]) rounds every value the
//! bound allows: the result may be any of `round_d(v - e) … round_d(v + e)`, so a value known
//! exactly stays exact, and one within its bound of a rounding boundary spreads to both
//! neighbours. The complement `dtype(1 - p)` of an exact input `p`, computed in the dtype
//! ([`Real::complement_in`]), is one correctly rounded subtraction: exact, whatever the
//! rounding boundaries.
//!
//! The sum's own rounding is the smaller of the deterministic worst case (valid for every
//! summation order) and Higham & Mary's probabilistic bound (SIAM J. Sci. Comput. 41(5), 2019,
//! Theorem 3.1) with `λ = 8`: under their model of independent rounding errors it is exceeded with
//! probability below `2(n-1)·e^(-32) ≈ (n-1)·2.5e-14`, i.e. never in practice even for 10⁷ terms.
//!
//! An operand whose bound reaches its own magnitude (`e ≥ |v| > 0`) carries no significant digit;
//! when it enters a non-linear operation (a division, `ln`, a power, a square root) the result is
//! marked [`Bounded::lost`]: the target precision cannot determine it, and a reference comparison
//! must report it as such rather than pass or fail it.

use crate::real::Real;
use num_traits::{Float, Num, NumCast, One, ToPrimitive, Zero};
use std::cmp::Ordering;
use std::num::FpCategory;
use std::ops::{Add, Div, Mul, Neg, Rem, Sub};

/// `λ` of the probabilistic summation bound (see the module documentation).
pub const SUM_LAMBDA: f64 = 8.0;

/// A value with a first-order bound on the error of a `P`-bit implementation of the same
/// expression. `Bounded<24>` models float32, `Bounded<11>` float16, `Bounded<8>` bfloat16.
/// `A` (for *any order*): sums are bounded by the deterministic `(n-1)·u·Σ|x|` only, valid for a
/// sequential loop over near-uniform data, which the probabilistic bound does not cover (a
/// backend that declares `summation = sequential`); by default the smaller of the two.
#[derive(Clone, Copy, Debug)]
pub struct Bounded<const P: u32, const A: bool = false> {
    /// The value, computed in f64.
    pub v: f64,
    /// Bound on the absolute error of a `P`-bit implementation.
    pub e: f64,
    /// True when an operand without a significant digit entered a non-linear step.
    pub lost: bool,
}

/// float32's error model.
pub type F32Bound = Bounded<24>;

/// float64's error model (the error of a float64 implementation, such as a reference run in
/// float64, of the same expressions).
pub type F64Bound = Bounded<53>;

impl<const P: u32, const A: bool> Bounded<P, A> {
    /// Unit roundoff of the modelled format.
    pub const U: f64 = {
        let mut u = 1.0;
        let mut i = 0;
        while i < P {
            u /= 2.0;
            i += 1;
        }
        u
    };

    /// An exact input value (already representable in the modelled format).
    pub fn exact(v: f64) -> Self {
        Self {
            v,
            e: 0.0,
            lost: false,
        }
    }

    /// A constant: its rounding to `P` bits is its error.
    pub fn constant(v: f64) -> Self {
        Self {
            v,
            e: (v - round_to_bits(v, P)).abs(),
            lost: false,
        }
    }

    /// True when the value is not determined in the modelled precision: marked lost, a bound
    /// that is not finite, or a bound at least as large as the value itself.
    pub fn undetermined(&self) -> bool {
        self.lost || !self.e.is_finite() || (self.e > 0.0 && self.e >= self.v.abs())
    }

    fn insignificant(&self) -> bool {
        self.e > 0.0 && self.e >= self.v.abs()
    }

    fn unary(self, v: f64, slope: f64, nonlinear: bool) -> Self {
        let propagated = if self.e == 0.0 {
            0.0
        } else {
            slope.abs() * self.e
        };
        Self {
            v,
            e: propagated + 2.0 * Self::U * v.abs(),
            lost: self.lost || (nonlinear && self.insignificant()),
        }
    }
}

/// True when `r`, the f64 sum `a + b`, is the exact sum and fits in `bits` bits (TwoSum).
fn exact_sum(a: f64, b: f64, r: f64, bits: u32) -> bool {
    let bb = r - a;
    let error = (a - (r - bb)) + (b - bb);
    r.is_finite() && error == 0.0 && round_to_bits(r, bits) == r
}

/// True when `r`, the f64 product `a · b`, is the exact product and fits in `bits` bits (FMA).
fn exact_product(a: f64, b: f64, r: f64, bits: u32) -> bool {
    r.is_finite()
        && (r == 0.0 || r.abs() >= f64::MIN_POSITIVE)
        && a.mul_add(b, -r) == 0.0
        && round_to_bits(r, bits) == r
}

/// Rounds `x` to the nearest value with a `bits`-bit significand (Veltkamp splitting; exponent
/// range is not modelled, which only matters for subnormals of the narrow formats).
pub fn round_to_bits(x: f64, bits: u32) -> f64 {
    if bits >= 53 || !x.is_finite() || x == 0.0 {
        return x;
    }
    if bits == 24 {
        return x as f32 as f64;
    }
    let factor = (1u64 << (53 - bits)) as f64 + 1.0;
    let c = factor * x;
    if !c.is_finite() {
        return x;
    }
    c - (c - x)
}

impl<const P: u32, const A: bool> PartialEq for Bounded<P, A> {
    fn eq(&self, other: &Self) -> bool {
        self.v == other.v
    }
}

impl<const P: u32, const A: bool> PartialOrd for Bounded<P, A> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.v.partial_cmp(&other.v)
    }
}

impl<const P: u32, const A: bool> Add for Bounded<P, A> {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        let v = self.v + o.v;
        let exact = self.e == 0.0 && o.e == 0.0 && exact_sum(self.v, o.v, v, P);
        Self {
            v,
            e: self.e + o.e + if exact { 0.0 } else { Self::U * v.abs() },
            lost: self.lost || o.lost,
        }
    }
}

impl<const P: u32, const A: bool> Sub for Bounded<P, A> {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        let v = self.v - o.v;
        let exact = self.e == 0.0 && o.e == 0.0 && exact_sum(self.v, -o.v, v, P);
        Self {
            v,
            e: self.e + o.e + if exact { 0.0 } else { Self::U * v.abs() },
            lost: self.lost || o.lost,
        }
    }
}

impl<const P: u32, const A: bool> Mul for Bounded<P, A> {
    type Output = Self;
    fn mul(self, o: Self) -> Self {
        let v = self.v * o.v;
        let exact = self.e == 0.0 && o.e == 0.0 && exact_product(self.v, o.v, v, P);
        let rounding = if exact { 0.0 } else { Self::U * v.abs() };
        let e = self.v.abs() * o.e + o.v.abs() * self.e + self.e * o.e + rounding;
        Self {
            v,
            e,
            lost: self.lost || o.lost,
        }
    }
}

impl<const P: u32, const A: bool> Div for Bounded<P, A> {
    type Output = Self;
    fn div(self, o: Self) -> Self {
        let v = self.v / o.v;
        let e = (self.e + v.abs() * o.e) / o.v.abs() + Self::U * v.abs();
        Self {
            v,
            e,
            lost: self.lost || o.lost || o.insignificant(),
        }
    }
}

impl<const P: u32, const A: bool> Rem for Bounded<P, A> {
    type Output = Self;
    fn rem(self, o: Self) -> Self {
        let v = self.v % o.v;
        Self {
            v,
            e: self.e + o.e,
            lost: self.lost || o.lost,
        }
    }
}

impl<const P: u32, const A: bool> Neg for Bounded<P, A> {
    type Output = Self;
    fn neg(self) -> Self {
        Self { v: -self.v, ..self }
    }
}

impl<const P: u32, const A: bool> Zero for Bounded<P, A> {
    fn zero() -> Self {
        Self::exact(0.0)
    }
    fn is_zero(&self) -> bool {
        self.v == 0.0
    }
}

impl<const P: u32, const A: bool> One for Bounded<P, A> {
    fn one() -> Self {
        Self::exact(1.0)
    }
}

impl<const P: u32, const A: bool> Num for Bounded<P, A> {
    type FromStrRadixErr = <f64 as Num>::FromStrRadixErr;
    fn from_str_radix(s: &str, radix: u32) -> Result<Self, Self::FromStrRadixErr> {
        f64::from_str_radix(s, radix).map(Self::constant)
    }
}

impl<const P: u32, const A: bool> ToPrimitive for Bounded<P, A> {
    fn to_i64(&self) -> Option<i64> {
        self.v.to_i64()
    }
    fn to_u64(&self) -> Option<u64> {
        self.v.to_u64()
    }
    fn to_f64(&self) -> Option<f64> {
        Some(self.v)
    }
}

impl<const P: u32, const A: bool> NumCast for Bounded<P, A> {
    fn from<N: ToPrimitive>(n: N) -> Option<Self> {
        n.to_f64().map(Self::constant)
    }
}

impl<const P: u32, const A: bool> Float for Bounded<P, A> {
    fn nan() -> Self {
        Self::exact(f64::NAN)
    }
    fn infinity() -> Self {
        Self::exact(f64::INFINITY)
    }
    fn neg_infinity() -> Self {
        Self::exact(f64::NEG_INFINITY)
    }
    fn neg_zero() -> Self {
        Self::exact(-0.0)
    }
    fn min_value() -> Self {
        Self::exact(f64::MIN)
    }
    fn min_positive_value() -> Self {
        Self::exact(f64::MIN_POSITIVE)
    }
    fn max_value() -> Self {
        Self::exact(f64::MAX)
    }
    fn is_nan(self) -> bool {
        self.v.is_nan()
    }
    fn is_infinite(self) -> bool {
        self.v.is_infinite()
    }
    fn is_finite(self) -> bool {
        self.v.is_finite()
    }
    fn is_normal(self) -> bool {
        self.v.is_normal()
    }
    fn classify(self) -> FpCategory {
        self.v.classify()
    }
    fn floor(self) -> Self {
        Self {
            v: self.v.floor(),
            ..self
        }
    }
    fn ceil(self) -> Self {
        Self {
            v: self.v.ceil(),
            ..self
        }
    }
    fn round(self) -> Self {
        Self {
            v: self.v.round(),
            ..self
        }
    }
    fn trunc(self) -> Self {
        Self {
            v: self.v.trunc(),
            ..self
        }
    }
    fn fract(self) -> Self {
        Self {
            v: self.v.fract(),
            ..self
        }
    }
    fn abs(self) -> Self {
        Self {
            v: self.v.abs(),
            ..self
        }
    }
    fn signum(self) -> Self {
        Self::exact(self.v.signum())
    }
    fn is_sign_positive(self) -> bool {
        self.v.is_sign_positive()
    }
    fn is_sign_negative(self) -> bool {
        self.v.is_sign_negative()
    }
    fn mul_add(self, a: Self, b: Self) -> Self {
        self * a + b
    }
    fn recip(self) -> Self {
        Self::one() / self
    }
    fn powi(self, n: i32) -> Self {
        let v = self.v.powi(n);
        let slope = if n == 0 {
            0.0
        } else {
            n as f64 * self.v.powi(n - 1)
        };
        self.unary(v, slope, n < 0)
    }
    fn powf(self, n: Self) -> Self {
        let v = self.v.powf(n.v);
        let integer_exponent = n.e == 0.0 && n.v.fract() == 0.0 && n.v >= 0.0;
        if self.v == 0.0 {
            // Not differentiable (or infinite slope) at zero: bound by the power of the error.
            let e = if self.e == 0.0 { 0.0 } else { self.e.powf(n.v) };
            return Self {
                v,
                e,
                lost: self.lost || n.lost || (self.e > 0.0 && !integer_exponent),
            };
        }
        let base = self.unary(v, n.v * self.v.powf(n.v - 1.0), !integer_exponent);
        let from_exponent = if n.e == 0.0 {
            0.0
        } else {
            (v * self.v.abs().ln()).abs() * n.e
        };
        // A power evaluated as exp(n·ln x) rounds ln x (absolute error u·|ln x|), which n·ln x
        // carries into the result relatively: u·|n·ln x|·|r| beyond the 2u|r| of a direct pow.
        let via_logarithm = if integer_exponent {
            0.0
        } else {
            Self::U * v.abs() * (n.v * self.v.abs().ln()).abs()
        };
        Self {
            e: base.e + from_exponent + via_logarithm,
            lost: base.lost || n.lost,
            ..base
        }
    }
    fn sqrt(self) -> Self {
        let v = self.v.sqrt();
        self.unary(v, 0.5 / v, true)
    }
    fn exp(self) -> Self {
        let v = self.v.exp();
        self.unary(v, v, false)
    }
    fn exp2(self) -> Self {
        let v = self.v.exp2();
        self.unary(v, v * std::f64::consts::LN_2, false)
    }
    fn ln(self) -> Self {
        self.unary(self.v.ln(), 1.0 / self.v, true)
    }
    fn log(self, base: Self) -> Self {
        self.ln() / base.ln()
    }
    fn log2(self) -> Self {
        self.unary(self.v.log2(), 1.0 / (self.v * std::f64::consts::LN_2), true)
    }
    fn log10(self) -> Self {
        self.unary(
            self.v.log10(),
            1.0 / (self.v * std::f64::consts::LN_10),
            true,
        )
    }
    fn max(self, other: Self) -> Self {
        if self.v < other.v {
            other
        } else {
            self
        }
    }
    fn min(self, other: Self) -> Self {
        if self.v > other.v {
            other
        } else {
            self
        }
    }
    fn abs_sub(self, other: Self) -> Self {
        if self.v > other.v {
            self - other
        } else {
            Self::zero()
        }
    }
    fn cbrt(self) -> Self {
        let v = self.v.cbrt();
        self.unary(v, 1.0 / (3.0 * v * v), true)
    }
    fn hypot(self, other: Self) -> Self {
        (self * self + other * other).sqrt()
    }
    fn sin(self) -> Self {
        self.unary(self.v.sin(), self.v.cos(), false)
    }
    fn cos(self) -> Self {
        self.unary(self.v.cos(), -self.v.sin(), false)
    }
    fn tan(self) -> Self {
        let c = self.v.cos();
        self.unary(self.v.tan(), 1.0 / (c * c), false)
    }
    fn asin(self) -> Self {
        self.unary(self.v.asin(), 1.0 / (1.0 - self.v * self.v).sqrt(), true)
    }
    fn acos(self) -> Self {
        self.unary(self.v.acos(), -1.0 / (1.0 - self.v * self.v).sqrt(), true)
    }
    fn atan(self) -> Self {
        self.unary(self.v.atan(), 1.0 / (1.0 + self.v * self.v), false)
    }
    fn atan2(self, other: Self) -> Self {
        (self / other).atan()
    }
    fn sin_cos(self) -> (Self, Self) {
        (self.sin(), self.cos())
    }
    fn exp_m1(self) -> Self {
        self.unary(self.v.exp_m1(), self.v.exp(), false)
    }
    fn ln_1p(self) -> Self {
        self.unary(self.v.ln_1p(), 1.0 / (1.0 + self.v), true)
    }
    fn sinh(self) -> Self {
        self.unary(self.v.sinh(), self.v.cosh(), false)
    }
    fn cosh(self) -> Self {
        self.unary(self.v.cosh(), self.v.sinh(), false)
    }
    fn tanh(self) -> Self {
        let t = self.v.tanh();
        self.unary(t, 1.0 - t * t, false)
    }
    fn asinh(self) -> Self {
        self.unary(self.v.asinh(), 1.0 / (self.v * self.v + 1.0).sqrt(), false)
    }
    fn acosh(self) -> Self {
        self.unary(self.v.acosh(), 1.0 / (self.v * self.v - 1.0).sqrt(), true)
    }
    fn atanh(self) -> Self {
        self.unary(self.v.atanh(), 1.0 / (1.0 - self.v * self.v), true)
    }
    fn integer_decode(self) -> (u64, i16, i8) {
        self.v.integer_decode()
    }
}

impl<const P: u32, const A: bool> Real for Bounded<P, A> {
    fn tracks_error() -> bool {
        true
    }

    fn widen(self, alternative: Self) -> Self {
        Self {
            e: self.e.max(alternative.e + (alternative.v - self.v).abs()),
            ..self
        }
    }

    fn in_dtype(self, dtype: crate::tensor::Dtype) -> Self {
        let bits = dtype.significand_bits();
        let v = dtype.round(self.v);
        if !self.e.is_finite() || !v.is_finite() {
            return Self { v, ..self };
        }
        let e = if P < bits {
            // The implementation holds P bits anyway: storing in the wider dtype moves only
            // the model's value.
            self.e + (v - self.v).abs()
        } else {
            let low = dtype.round(self.v - self.e);
            let high = dtype.round(self.v + self.e);
            (v - low).abs().max((high - v).abs())
        };
        Self { v, e, ..self }
    }

    fn complement_in(self, dtype: crate::tensor::Dtype) -> Self {
        if self.e == 0.0 && P >= dtype.significand_bits() {
            return Self {
                v: dtype.round(1.0 - self.v),
                e: 0.0,
                lost: self.lost,
            };
        }
        (Self::one() - self).in_dtype(dtype)
    }

    fn rounded_constant(self, value: f64) -> Self {
        Self {
            lost: self.lost,
            ..Self::constant(value)
        }
    }

    fn straddles(self, bound: Self) -> bool {
        let margin = self.e + bound.e;
        margin > 0.0 && (self.v - bound.v).abs() <= margin
    }

    /// Either decision, as an interval: `1 ± 1` covers the gate 0 of a clipped entry and the
    /// gate 1 of a passed one, so every derivative behind it is bounded for both (its
    /// magnitude joins the error). A derivative that is not finite makes the bound infinite:
    /// undetermined.
    fn undetermined_gate() -> Self {
        Self {
            v: 1.0,
            e: 1.0,
            lost: false,
        }
    }

    fn sum_terms<I: IntoIterator<Item = Self>>(terms: I) -> Self {
        let mut values = Vec::new();
        let mut propagated = 0.0;
        let mut magnitude = 0.0;
        let mut lost = false;
        for t in terms {
            values.push(t.v);
            propagated += t.e;
            magnitude += t.v.abs();
            lost |= t.lost;
        }
        let additions = values.len().saturating_sub(1) as f64;
        let factor = if A {
            additions
        } else {
            additions.min(SUM_LAMBDA * additions.sqrt())
        };
        Self {
            v: crate::real::neumaier(values),
            e: propagated + factor * Self::U * magnitude,
            lost,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_roundoff_of_float32() {
        assert_eq!(F32Bound::U, f32::EPSILON as f64 / 2.0);
    }

    #[test]
    fn exact_operations_on_exact_operands_add_no_rounding() {
        let p = F32Bound::exact(0.75);
        let one = F32Bound::exact(1.0);
        // 1 - 0.75 and 0.75·1 are exact in float32.
        assert_eq!((one - p).e, 0.0);
        assert_eq!((p * one).e, 0.0);
        assert_eq!((p + p).e, 0.0);
        // 1 - 2^-30 and 0.1·3 are not: they keep their rounding term.
        let tiny = F32Bound::exact((-30f64).exp2());
        assert_eq!((one - tiny).e, F32Bound::U * (1.0 - tiny.v));
        let third = F32Bound::exact(0.1f32 as f64) * F32Bound::exact(3.0);
        assert!(third.e > 0.0);
        // An operand with an error of its own always adds the rounding term.
        let inexact = F32Bound { e: 1e-9, ..p };
        assert!((inexact * one).e > 1e-9);
    }

    #[test]
    fn storing_in_a_dtype_rounds_the_whole_interval() {
        use crate::tensor::Dtype;
        // 1 - dtype(1e-7) is exact in float64 and stored as float32's 1 - 2^-23·(...): exact.
        let p = F64Bound::exact(1e-7f32 as f64);
        let stored = (F64Bound::exact(1.0) - p).in_dtype(Dtype::F32);
        assert_eq!((stored.v, stored.e), ((1.0 - p.v) as f32 as f64, 0.0));
        // A value within its bound of a float32 rounding boundary may land on either side.
        let midpoint = 1.0 + (-24f64).exp2();
        let near = F64Bound {
            v: midpoint,
            e: 1e-12,
            lost: false,
        }
        .in_dtype(Dtype::F32);
        assert_eq!(near.e, f32::EPSILON as f64);
        // A narrower model keeps its own error and the move of the value.
        let half = Bounded::<11> {
            v: 0.1,
            e: 1e-4,
            lost: false,
        }
        .in_dtype(Dtype::F32);
        assert_eq!(half.e, 1e-4 + (0.1 - 0.1f32 as f64).abs());
    }

    #[test]
    fn constants_carry_their_rounding() {
        assert_eq!(F32Bound::constant(0.5).e, 0.0);
        let c = F32Bound::constant(0.7);
        assert_eq!(c.e, (0.7 - 0.7f32 as f64).abs());
        assert_eq!(round_to_bits(1.0 + 1.0 / 4096.0, 11), 1.0);
        assert_eq!(round_to_bits(1.0 + 3.0 / 2048.0, 11), 1.0 + 2.0 / 1024.0);
    }

    #[test]
    fn cancellation_amplifies_and_is_detected() {
        let t = F32Bound::exact(1.0 - 1e-7) * F32Bound::exact(1.0);
        let x = F32Bound::one() - t;
        assert!(x.e >= x.v.abs() * 0.5, "{x:?}");
        let lost = (F32Bound::exact(1.0)
            - F32Bound::exact(1.0 - 3e-8) * F32Bound::constant(1.0 + 1e-9))
        .powf(F32Bound::constant(-0.5));
        assert!(lost.undetermined(), "{lost:?}");
    }

    #[test]
    fn sum_bound_uses_the_smaller_model() {
        let s = F32Bound::sum_terms((0..4).map(|_| F32Bound::exact(1.0)));
        assert_eq!(s.v, 4.0);
        assert_eq!(s.e, 3.0 * F32Bound::U * 4.0);
        let n = 1_000_000;
        let s = F32Bound::sum_terms((0..n).map(|_| F32Bound::exact(1.0)));
        let expected = SUM_LAMBDA * ((n - 1) as f64).sqrt() * F32Bound::U * n as f64;
        assert!((s.e - expected).abs() <= 1e-12 * expected);
    }

    #[test]
    fn the_bound_covers_a_real_float32_sum() {
        // 10⁴ terms of a smooth sequence, summed sequentially in float32.
        let xs: Vec<f32> = (0..10_000)
            .map(|i| ((i as f32) * 0.37).sin().abs() + 0.01)
            .collect();
        let plain = xs.iter().fold(0f32, |a, &x| a + x) as f64;
        let bounded = F32Bound::sum_terms(xs.iter().map(|&x| F32Bound::exact(x as f64)));
        assert!(
            (plain - bounded.v).abs() <= bounded.e,
            "{plain} {bounded:?}"
        );
    }
}
