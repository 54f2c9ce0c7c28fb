//! The number types every evaluator is generic over.
//!
//! [`Real`] extends [`num_traits::Float`] with the three things a loss evaluator needs and
//! `Float` does not say: how a long sum is accumulated, how a constant enters the computation,
//! and what derivative a power has at a zero base. It is implemented for
//!
//! - `f64`: the oracle's own precision, with Neumaier-compensated sums (error `≤ 2u|Σx|` plus a
//!   second-order term, so the sum is as good as exact for any input this crate accepts);
//! - `f32`: a plain float32 implementation with sequential sums, i.e. what a straightforward
//!   single-precision backend computes;
//! - [`Dual`] (`autodiff::FT<f64>`): forward-mode automatic differentiation, and [`Dual32`]
//!   over f32, which the autodiff crate gives no scalar-on-the-left operations (the evaluators
//!   use none, and instantiating them for it proves so);
//! - [`super::bound::Bounded`]: a running first-order error bound for an implementation in a
//!   lower precision (see `bound.rs`).
//!
//! Pitfalls of the dual type that the evaluators avoid: comparisons look at the value only (the
//! clip is written as explicit comparisons, never `max`/`min`, whose ties return `self`), its
//! `powf` gives derivative 0 at a zero base, so powers go through [`Real::pow_with`], and its
//! quotient rule squares the denominator, so quotients whose denominator can be tiny or huge go
//! through [`Real::quotient`].

use autodiff::FT;
use num_traits::Float;
use std::fmt::Debug;

/// Forward-mode dual number over `f64`: value and one directional derivative.
pub type Dual = FT<f64>;

/// How the derivative of `x^e` is taken where it is not a plain product rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowRule {
    /// TensorFlow's `Pow` gradient, `e·x^(e-1)`, evaluated as written: at `x = 0` it is `∞` for
    /// `0 < e < 1` and `0·∞ = NaN` for `e = 0`.
    TensorFlow,
    /// torch's `pow` backward: as TensorFlow, except that exponent 0 has derivative exactly 0.
    Torch,
}

impl PowRule {
    /// `d(x^e)/dx` under this rule, in `T`.
    pub fn derivative<T: Real>(self, x: T, e: T) -> T {
        if self == PowRule::Torch && e == T::zero() {
            return T::zero();
        }
        e * x.powf(e - T::one())
    }
}

/// A scalar the evaluators can run on. See the module documentation.
pub trait Real: Float + Debug + Send + Sync + 'static {
    /// Sums `terms` the way this type models a reduction.
    fn sum_terms<I: IntoIterator<Item = Self>>(terms: I) -> Self {
        neumaier(terms)
    }

    /// A constant given in f64 (a hyper-parameter or a bound), rounded to this type.
    fn cst(x: f64) -> Self {
        <Self as num_traits::NumCast>::from(x).unwrap_or_else(Self::nan)
    }

    /// The value as f64 (for a dual: its value part; for a bound: its computed value).
    fn val(self) -> f64 {
        self.to_f64().unwrap_or(f64::NAN)
    }

    /// True when this value's error bound lets it lie on either side of `bound` (only the
    /// error-bound type has such a bound; exact types never straddle).
    fn straddles(self, _bound: Self) -> bool {
        false
    }

    /// Whether [`Real::widen`] does anything: evaluators compute the alternative groupings a
    /// correct implementation may use only for types that track errors.
    fn tracks_error() -> bool {
        false
    }

    /// The value, with its error bound widened to cover `alternative`, the same quantity
    /// computed with another grouping (for exact types: `self`).
    fn widen(self, _alternative: Self) -> Self {
        self
    }

    /// The gate of a clip decision the precision cannot determine: for the error-bound type an
    /// interval covering both decisions, 0 and 1 (for exact types, plain 1).
    fn undetermined_gate() -> Self {
        Self::one()
    }

    /// `self` with its value replaced by `value`, a rounding of it that the modelled
    /// implementation makes once and exactly (a constant such as a clip bound converted to the
    /// input dtype). Dual numbers keep their tangent (the derivative of the rounding is taken as
    /// 1); the error-bound type keeps only the error of representing `value` in its precision,
    /// since every correct implementation holds the same constant.
    fn rounded_constant(self, value: f64) -> Self {
        self + Self::cst(value - self.val())
    }

    /// `self` as an implementation holding its tensors in `dtype` stores it (the value rounded
    /// to the dtype; a dual keeps its tangent). The error-bound type rounds the whole interval
    /// its bound allows, so a value known exactly stays exact once stored.
    fn in_dtype(self, dtype: crate::spec::tensor::Dtype) -> Self {
        self.rounded_constant(dtype.round(self.val()))
    }

    /// `dtype(1 - self)`: the complement an implementation computes elementwise in the dtype
    /// its tensors hold (MONAI's single channel `[1-p, p]`). The error-bound type knows it
    /// exactly when `self` is exact and its precision at least the dtype's: one correctly
    /// rounded subtraction of exact operands, the value the oracle holds.
    fn complement_in(self, dtype: crate::spec::tensor::Dtype) -> Self {
        (Self::one() - self).in_dtype(dtype)
    }

    /// `self^e` whose derivative (for types that carry one) follows `rule`, including at a zero
    /// base. For plain floats this is `powf`.
    fn pow_with(self, e: Self, _rule: PowRule) -> Self {
        self.powf(e)
    }

    /// `self / rhs` where the denominator may be far from 1 (a Tversky index, a mean over a
    /// mask). For plain floats this is `/`; a dual number takes the quotient rule as
    /// `(dx - (x/y)·dy) / y`, which stays correct where the autodiff crate's `y²` would
    /// underflow (|y| below 1e-154) or overflow (above 1e154).
    fn quotient(self, rhs: Self) -> Self {
        self / rhs
    }
}

/// Neumaier's compensated sum. Falls back to the plain sum when that is not finite, so that an
/// infinity is reported as such rather than as the NaN of `∞ - ∞` in the correction.
pub fn neumaier<T: Float, I: IntoIterator<Item = T>>(terms: I) -> T {
    let mut sum = T::zero();
    let mut correction = T::zero();
    for x in terms {
        let t = sum + x;
        if sum.abs() >= x.abs() {
            correction = correction + ((sum - t) + x);
        } else {
            correction = correction + ((x - t) + sum);
        }
        sum = t;
    }
    if !sum.is_finite() || !correction.is_finite() {
        return sum;
    }
    sum + correction
}

impl Real for f64 {}

impl Real for f32 {
    fn sum_terms<I: IntoIterator<Item = Self>>(terms: I) -> Self {
        terms.into_iter().fold(0.0, |a, x| a + x)
    }
}

/// Forward-mode dual number over `f32` (the autodiff crate has no scalar-on-the-left
/// operations for it: the evaluators never use them, and this type proves it by compiling).
pub type Dual32 = FT<f32>;

macro_rules! dual_real {
    ($dual:ty, $v:ty) => {
        impl Real for $dual {
            fn pow_with(self, e: Self, rule: PowRule) -> Self {
                let value = self.x.powf(e.x);
                let zero: $v = 0.0;
                // A base that does not move (dx = 0) contributes nothing, even where the slope
                // e·x^(e-1) is infinite: forward mode then gives the true derivative of a
                // function that is locally constant, where reverse mode (TensorFlow's, the
                // closed form's) propagates ∞·0 = NaN.
                let d_base = if self.dx == zero {
                    zero
                } else {
                    self.dx * rule.derivative(self.x, e.x)
                };
                // d(x^e)/de = x^e·ln x, taken as 0 where x = 0 (as TensorFlow does for x ≤ 0).
                let d_exp = if e.dx == zero || self.x <= zero {
                    zero
                } else {
                    e.dx * value * self.x.ln()
                };
                <$dual>::new(value, d_base + d_exp)
            }

            fn quotient(self, rhs: Self) -> Self {
                let q = self.x / rhs.x;
                <$dual>::new(q, (self.dx - q * rhs.dx) / rhs.x)
            }
        }
    };
}

dual_real!(Dual, f64);
dual_real!(Dual32, f32);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neumaier_recovers_what_a_plain_sum_loses() {
        let terms = [1.0, 1e-16, 1e-16, 1e-16, 1e-16, -1.0];
        assert_eq!(terms.iter().copied().fold(0.0, |a, x| a + x), 0.0);
        let s = neumaier(terms);
        assert!((s - 4e-16).abs() < 1e-30, "{s}");
    }

    #[test]
    fn neumaier_keeps_infinities() {
        assert_eq!(neumaier([1.0, f64::INFINITY, 2.0]), f64::INFINITY);
    }

    #[test]
    fn dual_pow_has_the_rule_derivative_at_zero_base() {
        let x = Dual::new(0.0, 1.0);
        // autodiff's own powf reports 0 here; the rule says e·0^(e-1) = ∞.
        assert_eq!(x.powf(Dual::cst(0.5)).dx, 0.0);
        assert_eq!(
            x.pow_with(Dual::cst(0.5), PowRule::TensorFlow).dx,
            f64::INFINITY
        );
        assert!(x.pow_with(Dual::cst(0.0), PowRule::TensorFlow).dx.is_nan());
        assert_eq!(x.pow_with(Dual::cst(0.0), PowRule::Torch).dx, 0.0);
        let y = Dual::new(0.25, 1.0).pow_with(Dual::cst(0.5), PowRule::TensorFlow);
        assert!((y.x - 0.5).abs() < 1e-15 && (y.dx - 1.0).abs() < 1e-15);
    }

    #[test]
    fn dual_quotient_survives_tiny_and_huge_denominators() {
        // A constant quotient of tiny numbers: the crate's rule gives (0·y - 0·x)/y² = 0/0.
        let (a, b) = (Dual::new(1e-300, 0.0), Dual::new(1e-300, 0.0));
        assert!((a / b).dx.is_nan());
        assert_eq!(a.quotient(b), Dual::new(1.0, 0.0));
        // d(x/y) = (dx·y - x·dy)/y² at x = 2e-200, y = 1e-200, dx = 1, dy = 1: -1e200.
        let q = Dual::new(2e-200, 1.0).quotient(Dual::new(1e-200, 1.0));
        assert!((q.dx + 1e200).abs() <= 1e185, "{}", q.dx);
        // d(x/y) = -x·dy/y² at x = 1e180, y = 1e200, dy = 1: -1e-220; the crate's y² overflows
        // and its derivative vanishes.
        let (a, b) = (Dual::new(1e180, 0.0), Dual::new(1e200, 1.0));
        assert_eq!((a / b).dx, 0.0);
        assert!(
            (a.quotient(b).dx + 1e-220).abs() <= 1e-234,
            "{}",
            a.quotient(b).dx
        );
        let q = Dual::new(3.0, 1.0).quotient(Dual::new(2.0, 0.5));
        assert!((q.x - 1.5).abs() < 1e-15 && (q.dx - 0.125).abs() < 1e-15);
    }

    #[test]
    fn dual_pow_derivative_in_the_exponent() {
        let y = Dual::cst(2.0).pow_with(Dual::new(3.0, 1.0), PowRule::TensorFlow);
        assert!((y.dx - 8.0 * 2f64.ln()).abs() < 1e-12);
    }
}
