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
//! An operand whose bound reaches its own magnitude (`e ≥ |v| > 0`) carries no significant digit,
//! and a first-order bound through a step singular at 0 (a division, `ln`, a power, a square
//! root) would say nothing sound. Such a step is evaluated by interval instead: the
//! implementation's operand is either 0 or a float of magnitude at least a known floor
//! ([`Bounded::least_nonzero`]: a sum or difference of floats is 0 or at least the finer spacing
//! of its operands — `1 - TI` in float32 with `TI` just below 1 is 0 or at least `2^-24` — a
//! product or quotient at least the product or quotient of the operands' least magnitudes), or,
//! for a grouping more accurate than the one modelled, within a factor 4 of the exact value. The
//! bound is the widest distance from the exact result to the step's image of those operands;
//! where the image holds a NaN or an infinity (the operand 0 through `x^-¼`) the result is marked
//! [`Bounded::lost`]: a correct implementation may return a non-finite value there, and a
//! comparison leaves such a value undecided, while a finite answer outside the bound is wrong.

use crate::numbers::real::Real;
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
    /// True when a correct implementation may compute a NaN or an infinity here: an operand
    /// that may be zero (or of either sign) entered a step that is singular there.
    pub lost: bool,
    /// A lower bound, beyond `|v| - e`, on the magnitude of the implementation's value when it
    /// is not zero (0 where nothing more is known): a sum or difference of floats is zero or at
    /// least the finer spacing of its operands, a product at least the product of their least
    /// magnitudes.
    pub min_nonzero: f64,
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
            min_nonzero: 0.0,
        }
    }

    /// A constant: its rounding to `P` bits is its error.
    pub fn constant(v: f64) -> Self {
        Self {
            v,
            e: (v - round_to_bits(v, P)).abs(),
            lost: false,
            min_nonzero: 0.0,
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

    /// The smallest positive value of the modelled format (its least subnormal).
    fn smallest_positive() -> f64 {
        match P {
            8 => (-133f64).exp2(),
            11 => (-24f64).exp2(),
            24 => (-149f64).exp2(),
            _ => f64::from_bits(1),
        }
    }

    /// A lower bound on the magnitude of the implementation's value when it is not zero
    /// (infinite for an exact zero, which is never anything else).
    pub fn least_nonzero(&self) -> f64 {
        if self.e == 0.0 {
            return if self.v == 0.0 {
                f64::INFINITY
            } else {
                self.v.abs()
            };
        }
        (self.v.abs() - self.e)
            .max(self.min_nonzero)
            .max(Self::smallest_positive())
    }

    /// The spacing of the `P`-bit floats the implementation's value can be (infinite for an
    /// exact zero): its ulp at [`Bounded::least_nonzero`]. Every such value is a multiple of it.
    fn spacing(&self) -> f64 {
        let least = self.least_nonzero();
        if !least.is_finite() {
            return f64::INFINITY;
        }
        if least < f64::MIN_POSITIVE {
            return Self::smallest_positive();
        }
        let exponent = ((least.to_bits() >> 52) & 0x7ff) as i32 - 1023;
        2f64.powi(exponent - (P as i32 - 1))
            .max(Self::smallest_positive())
    }

    /// `m` rounded down by one rounding of the format (a rounded product or quotient of
    /// magnitude at least `m` is at least this), 0 where nothing is known.
    fn rounded_down(m: f64) -> f64 {
        let r = m * (1.0 - 2.0 * Self::U) - Self::smallest_positive();
        if r.is_finite() {
            r.max(0.0)
        } else if m.is_infinite() {
            f64::INFINITY
        } else {
            0.0
        }
    }

    /// `f` of an operand without a significant digit, by interval: the implementation's
    /// operand is 0, or of magnitude at least [`Bounded::least_nonzero`] (the float lattice
    /// floor) within `v ± e`, or — for a grouping more accurate than the expression modelled —
    /// within a factor 4 of `v`; `f` is monotone on each side of 0 (every singular step of the
    /// losses is). The result's bound is the largest distance from `f(v)` to the image of any
    /// admissible operand, plus `rounding(x, f(x))` there (the step's own rounding); an image
    /// that is NaN or infinite means a correct implementation may return it (`lost`), and a
    /// range that crosses the edge of `f`'s domain or overflows makes the bound infinite.
    fn image(self, v: f64, f: impl Fn(f64) -> f64, rounding: impl Fn(f64, f64) -> f64) -> Self {
        let floor = if self.v == 0.0 {
            self.least_nonzero()
        } else {
            self.least_nonzero().min(self.v.abs() / 4.0)
        };
        let mut e: f64 = 0.0;
        let mut singular = false;
        for zero in [0.0, -0.0] {
            let y = f(zero);
            if y.is_finite() {
                e = e.max((y - v).abs() + rounding(zero, y));
            } else {
                singular = true;
            }
        }
        for (lo, hi) in [(floor, self.v + self.e), (self.v - self.e, -floor)] {
            if lo > hi {
                continue;
            }
            let (a, b) = (f(lo), f(hi));
            if a.is_nan() && b.is_nan() {
                // Outside the domain on this side: the implementation's value is NaN.
                singular = true;
            } else if a.is_finite() && b.is_finite() {
                e = e
                    .max((a - v).abs() + rounding(lo, a))
                    .max((b - v).abs() + rounding(hi, b));
            } else {
                e = f64::INFINITY;
            }
        }
        Self {
            v,
            e,
            lost: self.lost || singular,
            min_nonzero: 0.0,
        }
    }

    /// A step that is singular at 0 (`ln`, a square root, a negative power, …): by
    /// [`Bounded::image`] when the operand has no significant digit, else to first order.
    fn nonlinear(self, f: fn(f64) -> f64, slope: f64) -> Self {
        let v = f(self.v);
        if self.insignificant() {
            self.image(v, f, |_, y| 2.0 * Self::U * y.abs())
        } else {
            self.unary(v, slope)
        }
    }

    /// A smooth step, to first order (see [`Bounded::nonlinear`] for the singular ones).
    fn unary(self, v: f64, slope: f64) -> Self {
        let propagated = if self.e == 0.0 {
            0.0
        } else {
            slope.abs() * self.e
        };
        Self {
            v,
            e: propagated + 2.0 * Self::U * v.abs(),
            lost: self.lost,
            min_nonzero: 0.0,
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
            min_nonzero: self.spacing().min(o.spacing()),
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
            min_nonzero: self.spacing().min(o.spacing()),
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
            min_nonzero: Self::rounded_down(self.least_nonzero() * o.least_nonzero()),
        }
    }
}

impl<const P: u32, const A: bool> Div for Bounded<P, A> {
    type Output = Self;
    fn div(self, o: Self) -> Self {
        let v = self.v / o.v;
        if o.insignificant() {
            // The divisor may be 0 or tiny: the reciprocal by interval, then the product.
            let recip = o.image(1.0 / o.v, |x| 1.0 / x, |_, y| Self::U * y.abs());
            return Self { v, ..self * recip };
        }
        let e = (self.e + v.abs() * o.e) / o.v.abs() + Self::U * v.abs();
        Self {
            v,
            e,
            lost: self.lost || o.lost,
            min_nonzero: Self::rounded_down(self.least_nonzero() / (o.v.abs() + o.e)),
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
            min_nonzero: 0.0,
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
        if self.insignificant() && n != 0 && n != 1 {
            return self.image(v, |x| x.powi(n), |_, y| 2.0 * Self::U * y.abs());
        }
        let slope = if n == 0 {
            0.0
        } else {
            n as f64 * self.v.powi(n - 1)
        };
        self.unary(v, slope)
    }
    fn powf(self, n: Self) -> Self {
        let v = self.v.powf(n.v);
        let integer_exponent = n.e == 0.0 && n.v.fract() == 0.0 && n.v >= 0.0;
        // x^n·|ln x|, taken as 0 at x = 0 (where x^n is 0 for n > 0, or singular).
        let log_scaled = |x: f64, y: f64| {
            if x == 0.0 {
                0.0
            } else {
                (y * x.abs().ln()).abs()
            }
        };
        // An uncertain exponent moves the result by |x^n·ln x|·e_n. A power evaluated as
        // exp(n·ln x) rounds ln x (absolute error u·|ln x|), which n·ln x carries into the
        // result relatively: u·|n·ln x|·|r| beyond the 2u|r| of a direct pow.
        let own = |x: f64, y: f64| {
            let via_logarithm = if integer_exponent {
                0.0
            } else {
                Self::U * n.v.abs() * log_scaled(x, y)
            };
            2.0 * Self::U * y.abs() + via_logarithm + n.e * log_scaled(x, y)
        };
        if self.v == 0.0 && self.e == 0.0 {
            return Self {
                v,
                e: 0.0,
                lost: self.lost || n.lost,
                min_nonzero: 0.0,
            };
        }
        if self.insignificant() {
            let r = self.image(v, |x| x.powf(n.v), own);
            return Self {
                lost: r.lost || n.lost,
                ..r
            };
        }
        let base = self.unary(v, n.v * self.v.powf(n.v - 1.0));
        Self {
            e: base.e + own(self.v, v) - 2.0 * Self::U * v.abs(),
            lost: base.lost || n.lost,
            ..base
        }
    }
    fn sqrt(self) -> Self {
        let v = self.v.sqrt();
        self.nonlinear(f64::sqrt, 0.5 / v)
    }
    fn exp(self) -> Self {
        let v = self.v.exp();
        self.unary(v, v)
    }
    fn exp2(self) -> Self {
        let v = self.v.exp2();
        self.unary(v, v * std::f64::consts::LN_2)
    }
    fn ln(self) -> Self {
        self.nonlinear(f64::ln, 1.0 / self.v)
    }
    fn log(self, base: Self) -> Self {
        self.ln() / base.ln()
    }
    fn log2(self) -> Self {
        self.nonlinear(f64::log2, 1.0 / (self.v * std::f64::consts::LN_2))
    }
    fn log10(self) -> Self {
        self.nonlinear(f64::log10, 1.0 / (self.v * std::f64::consts::LN_10))
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
        self.nonlinear(f64::cbrt, 1.0 / (3.0 * v * v))
    }
    fn hypot(self, other: Self) -> Self {
        (self * self + other * other).sqrt()
    }
    fn sin(self) -> Self {
        self.unary(self.v.sin(), self.v.cos())
    }
    fn cos(self) -> Self {
        self.unary(self.v.cos(), -self.v.sin())
    }
    fn tan(self) -> Self {
        let c = self.v.cos();
        self.unary(self.v.tan(), 1.0 / (c * c))
    }
    fn asin(self) -> Self {
        self.nonlinear(f64::asin, 1.0 / (1.0 - self.v * self.v).sqrt())
    }
    fn acos(self) -> Self {
        self.nonlinear(f64::acos, -1.0 / (1.0 - self.v * self.v).sqrt())
    }
    fn atan(self) -> Self {
        self.unary(self.v.atan(), 1.0 / (1.0 + self.v * self.v))
    }
    fn atan2(self, other: Self) -> Self {
        (self / other).atan()
    }
    fn sin_cos(self) -> (Self, Self) {
        (self.sin(), self.cos())
    }
    fn exp_m1(self) -> Self {
        self.unary(self.v.exp_m1(), self.v.exp())
    }
    fn ln_1p(self) -> Self {
        self.nonlinear(f64::ln_1p, 1.0 / (1.0 + self.v))
    }
    fn sinh(self) -> Self {
        self.unary(self.v.sinh(), self.v.cosh())
    }
    fn cosh(self) -> Self {
        self.unary(self.v.cosh(), self.v.sinh())
    }
    fn tanh(self) -> Self {
        let t = self.v.tanh();
        self.unary(t, 1.0 - t * t)
    }
    fn asinh(self) -> Self {
        self.unary(self.v.asinh(), 1.0 / (self.v * self.v + 1.0).sqrt())
    }
    fn acosh(self) -> Self {
        self.nonlinear(f64::acosh, 1.0 / (self.v * self.v - 1.0).sqrt())
    }
    fn atanh(self) -> Self {
        self.nonlinear(f64::atanh, 1.0 / (1.0 - self.v * self.v))
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
            min_nonzero: self.least_nonzero().min(alternative.least_nonzero()),
            ..self
        }
    }

    fn in_dtype(self, dtype: crate::spec::tensor::Dtype) -> Self {
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
        // Rounding to the dtype keeps a non-zero value non-zero and within one rounding of its
        // floor, above every dtype's subnormal range (2^-14 is float16's least normal).
        let least = self.least_nonzero();
        let min_nonzero = if P < bits {
            self.min_nonzero
        } else if least >= (-14f64).exp2() {
            least * (1.0 - 2f64.powi(1 - bits as i32))
        } else {
            0.0
        };
        Self {
            v,
            e,
            min_nonzero,
            ..self
        }
    }

    fn complement_in(self, dtype: crate::spec::tensor::Dtype) -> Self {
        if self.e == 0.0 && P >= dtype.significand_bits() {
            return Self {
                v: dtype.round(1.0 - self.v),
                e: 0.0,
                lost: self.lost,
                min_nonzero: 0.0,
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
            min_nonzero: 0.0,
        }
    }

    fn sum_terms<I: IntoIterator<Item = Self>>(terms: I) -> Self {
        let mut values = Vec::new();
        let mut propagated = 0.0;
        let mut magnitude = 0.0;
        let mut lost = false;
        // Every partial sum, in any order, is a multiple of the finest spacing of the terms.
        let mut spacing = f64::INFINITY;
        for t in terms {
            values.push(t.v);
            propagated += t.e;
            magnitude += t.v.abs();
            lost |= t.lost;
            spacing = spacing.min(t.spacing());
        }
        let additions = values.len().saturating_sub(1) as f64;
        let factor = if A {
            additions
        } else {
            additions.min(SUM_LAMBDA * additions.sqrt())
        };
        Self {
            v: crate::numbers::real::neumaier(values),
            e: propagated + factor * Self::U * magnitude,
            lost,
            min_nonzero: spacing,
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
        use crate::spec::tensor::Dtype;
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
            min_nonzero: 0.0,
        }
        .in_dtype(Dtype::F32);
        assert_eq!(near.e, f32::EPSILON as f64);
        // A narrower model keeps its own error and the move of the value.
        let half = Bounded::<11> {
            v: 0.1,
            e: 1e-4,
            lost: false,
            min_nonzero: 0.0,
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
    fn a_singular_step_of_an_insignificant_operand_is_bounded_by_the_float_lattice() {
        // TI just below 1 with an error of a few ulps: 1 - TI has no significant digit.
        let ti = F32Bound {
            v: 1.0 - 1.5e-7,
            e: 4e-7,
            lost: false,
            min_nonzero: 0.0,
        };
        let x = F32Bound::one() - ti;
        assert!(x.e >= x.v.abs());
        // In float32 it is 0 or at least 2^-24 (the spacing just below 1).
        assert_eq!(x.least_nonzero(), (-24f64).exp2());
        let slope = x.powf(F32Bound::constant(-0.25));
        assert!(slope.e.is_finite() && slope.lost, "{slope:?}");
        // Every float32 value the implementation can hold for x, and the exact one, is
        // within the bound; a value 10⁶ times larger is not.
        for k in [1.0f64, 2.0, 3.0, 7.0] {
            let xf = k * (-24f64).exp2();
            if xf <= x.v + x.e {
                let y = (xf as f32).powf(-0.25) as f64;
                assert!((y - slope.v).abs() <= slope.e, "{xf}: {y} vs {slope:?}");
            }
        }
        assert!((1e6 * slope.v - slope.v).abs() > 2.0 * slope.e);
        // A division by it and its logarithm are bounded the same way.
        let q = F32Bound::one() / x;
        assert!(q.e.is_finite() && q.lost, "{q:?}");
        assert!(((1u32 << 24) as f64 - q.v).abs() <= q.e);
        let l = x.ln();
        assert!(
            l.e.is_finite() && l.lost && (-16.7 - l.v).abs() <= l.e,
            "{l:?}"
        );
        // A positive power is finite at 0: no NaN from the operand 0, one from a negative one.
        let p = x.powf(F32Bound::constant(0.75));
        assert!(p.e.is_finite() && p.e >= p.v, "{p:?}");
        // With nothing known about the operand's floor the bound is still finite (the format's
        // least subnormal), only much wider.
        let unknown = F32Bound {
            v: 1e-7,
            e: 2e-7,
            lost: false,
            min_nonzero: 0.0,
        };
        let wide = unknown.powf(F32Bound::constant(-0.25));
        assert!(wide.e > 1e3 * slope.e && wide.e.is_finite(), "{wide:?}");
    }

    #[test]
    fn sums_keep_the_spacing_of_their_terms() {
        // Float32 multiples of 2^-24 (0.5, 1 - 2^-24) and of 2^-25 (0.25): every partial sum
        // is a multiple of 2^-25.
        let terms = [0.5, 0.25, 1.0 - (-24f64).exp2()].map(F32Bound::exact);
        let s = F32Bound::sum_terms(terms);
        assert_eq!(s.min_nonzero, (-25f64).exp2());
        let p = F32Bound::exact(0.5) * F32Bound::exact(1e-3);
        assert!(p.min_nonzero <= 5e-4 && p.min_nonzero > 4.99e-4, "{p:?}");
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
