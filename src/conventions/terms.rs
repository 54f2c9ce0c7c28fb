//! The building blocks every convention assembles its losses from, each with its closed-form
//! derivative: the clip, the Tversky index of one (item, class), and the focal cross-entropy
//! term of one element.
//!
//! Gradients are accumulated in the shape TensorFlow's and torch's autodiff give them, so that
//! non-finite cases come out the same way: the Tversky index passes its upstream gradient to
//! `TP`, `FN` and `FP` through the quotient rule (`∞ - ∞ = NaN` when the upstream is infinite),
//! and every element then receives `y·g_TP - y·g_FN + (1-y)·g_FP`.

use crate::numbers::real::{PowRule, Real};
use crate::spec::tensor::Dtype;

/// The term a region loss takes of a Tversky index `TI`: `1 - TI` (Dice, Tversky), `TI` itself
/// (the Dice coefficient), or `(1 - TI)^γ` (focal Tversky). The one such type of the crate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RegionTerm<T> {
    OneMinusTi,
    Ti,
    Pow(T),
}

/// Which elements a clip lets the gradient through: the rules shipped libraries differ by at
/// an input exactly on a bound, where the clip has no derivative. Measured on the CPU for every
/// torch release from 2.11.0 to 2.15.0, float32 and float64 (`tests/recorded/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClipGradient {
    /// TensorFlow's `K.clip` (`minimum` then `maximum`), and torch's `clamp` up to torch 2.13
    /// (scalar or tensor bounds): through on `[lo, hi]` inclusive (1 on a bound).
    Inclusive,
    /// torch's `clamp` with scalar bounds from torch 2.14.0 on: through only strictly inside
    /// `(lo, hi)` (0 on a bound).
    Strict,
    /// torch's `clamp` with tensor bounds from torch 2.14.0 on, and `minimum(maximum(x, lo),
    /// hi)` in every torch release (a tie splits the gradient): ½ on a bound, 1 strictly inside.
    /// Closed form only: a dual number keeps its whole tangent there.
    Half,
}

impl ClipGradient {
    pub const ALL: [ClipGradient; 3] = [
        ClipGradient::Inclusive,
        ClipGradient::Strict,
        ClipGradient::Half,
    ];

    /// The gradient an input exactly on a bound receives, as a factor.
    pub fn on_bound(self) -> f64 {
        match self {
            ClipGradient::Inclusive => 1.0,
            ClipGradient::Strict => 0.0,
            ClipGradient::Half => 0.5,
        }
    }

    /// The rule in words, with the libraries that follow it.
    pub fn describe(self) -> &'static str {
        match self {
            ClipGradient::Inclusive => {
                "clip gradient 1 on the bounds (TensorFlow's K.clip; torch.clamp up to torch 2.13)"
            }
            ClipGradient::Strict => {
                "clip gradient 0 on the bounds (torch.clamp with scalar bounds from torch 2.14 on)"
            }
            ClipGradient::Half => {
                "clip gradient ½ on the bounds (torch.clamp with tensor bounds from torch 2.14 on; torch.minimum/maximum)"
            }
        }
    }
}

/// A clip to `[lo, hi]` with its gradient rule. The bounds are numbers of the evaluator's type,
/// so that a derivative with respect to the clip's epsilon can be taken.
#[derive(Clone, Copy, Debug)]
pub struct Clip<T> {
    pub lo: T,
    pub hi: T,
    pub gradient: ClipGradient,
}

impl<T: Real> Clip<T> {
    /// A clip whose bounds are f64 constants.
    pub fn new(lo: f64, hi: f64, gradient: ClipGradient) -> Self {
        Clip {
            lo: T::cst(lo),
            hi: T::cst(hi),
            gradient,
        }
    }

    /// The clip to `[dtype(eps), dtype(1 - eps)]` that a backend holding its inputs in `dtype`
    /// applies: `1 - eps` computed in f64 (a Python float), each bound then converted to the
    /// dtype once. Both bounds are constants every correct implementation shares, so they carry
    /// no rounding error of their own (see [`Real::rounded_constant`]); a derivative with
    /// respect to `eps` passes through them.
    pub fn dtype_bounds(eps: T, dtype: Dtype, gradient: ClipGradient) -> Self {
        let in_dtype = |v: T| v.rounded_constant(dtype.round(v.val()));
        Clip {
            lo: in_dtype(eps),
            hi: in_dtype(T::one() - eps),
            gradient,
        }
    }

    /// The clipped value and its gradient gate: 1 where the gradient passes, 0 where it does
    /// not. Written with comparisons so that a dual number keeps its derivative exactly where
    /// the gradient passes. For the error-bound type, a value whose bound straddles a clip bound
    /// gets the undetermined gate (the decision can go either way in the modelled precision:
    /// the gate's bound covers 0 and 1) and keeps its own value and error.
    #[inline]
    pub fn apply(&self, p: T) -> (T, T) {
        let (lo, hi) = (self.lo, self.hi);
        if p.straddles(lo) || p.straddles(hi) {
            return (p, T::undetermined_gate());
        }
        let q = if p < lo {
            lo
        } else if p > hi {
            hi
        } else {
            p
        };
        let inside = p > lo && p < hi;
        let on_bound = p == lo || p == hi;
        let gate = if inside {
            T::one()
        } else if on_bound {
            T::cst(self.gradient.on_bound())
        } else {
            T::zero()
        };
        // torch's clamp returns the input itself on a bound, with gradient 0 there.
        let q = if gate == T::zero() && q == p {
            T::cst(p.val())
        } else {
            q
        };
        (q, gate)
    }

    /// Clips a whole array: values and gates.
    pub fn apply_all(&self, p: &[T]) -> (Vec<T>, Vec<T>) {
        p.iter().map(|&x| self.apply(x)).unzip()
    }
}

/// Adds `d` to `g` through a gate: nothing where the gate is 0 (a select: a NaN in `d` does not
/// reach a clipped entry), `gate·d` elsewhere.
#[inline]
pub fn add_gated<T: Real>(g: &mut T, gate: T, d: T) {
    if gate != T::zero() {
        *g = *g + gate * d;
    }
}

/// The Tversky statistics of one (item, class) and the index built from them.
#[derive(Clone, Copy, Debug)]
pub struct Tversky<T> {
    pub tp: T,
    pub fn_: T,
    pub fp: T,
    /// `TP + k`
    pub num: T,
    /// `TP + δ·FN + (1-δ)·FP + k`, added left to right
    pub den: T,
    /// `num / den`
    pub ti: T,
}

/// The spatial positions of one (item, class) as flat indices.
pub trait Positions: Fn(usize) -> usize {}
impl<F: Fn(usize) -> usize> Positions for F {}

/// `TI(δ, k)` over `count` positions whose flat index is `at(s)`.
pub fn tversky<T: Real>(
    q: &[T],
    y: &[T],
    count: usize,
    at: impl Positions,
    delta: T,
    smooth: T,
) -> Tversky<T> {
    let one = T::one();
    let tp = T::sum_terms((0..count).map(|s| y[at(s)] * q[at(s)]));
    let mut fn_ = T::sum_terms((0..count).map(|s| y[at(s)] * (one - q[at(s)])));
    let mut fp = T::sum_terms((0..count).map(|s| (one - y[at(s)]) * q[at(s)]));
    if T::tracks_error() {
        // Implementations also take FN = Σy - TP and FP = Σq - TP.
        let sum_y = T::sum_terms((0..count).map(|s| y[at(s)]));
        let sum_q = T::sum_terms((0..count).map(|s| q[at(s)]));
        fn_ = fn_.widen(sum_y - tp);
        fp = fp.widen(sum_q - tp);
    }
    let num = tp + smooth;
    let den = tp + delta * fn_ + (one - delta) * fp + smooth;
    let mut ti = num.quotient(den);
    if T::tracks_error() {
        // ... and TI as the complement of (δ·FN + (1-δ)·FP)/den, the direct form of 1 - TI.
        ti = ti.widen(one - (delta * fn_ + (one - delta) * fp) / den);
    }
    Tversky {
        tp,
        fn_,
        fp,
        num,
        den,
        ti,
    }
}

impl<T: Real> Tversky<T> {
    /// The index from its three sums, `TP`, `FN = Σ y·(1-q)` and `FP = Σ (1-y)·q`.
    pub fn from_sums(tp: T, fn_: T, fp: T, delta: T, smooth: T) -> Self {
        let one = T::one();
        let num = tp + smooth;
        let den = tp + delta * fn_ + (one - delta) * fp + smooth;
        Tversky {
            tp,
            fn_,
            fp,
            num,
            den,
            ti: num.quotient(den),
        }
    }

    /// The per-statistic gradients `(g_TP, g_FN, g_FP)` for an upstream `g_TI`.
    pub fn statistic_gradients(&self, delta: T, g_ti: T) -> (T, T, T) {
        let g_num = g_ti / self.den;
        let g_den = g_ti * ((-self.num / self.den) / self.den);
        (g_num + g_den, delta * g_den, (T::one() - delta) * g_den)
    }

    /// Adds `dL/dq` to `grad` for every position through its gate (`None`: everywhere).
    #[allow(clippy::too_many_arguments)]
    pub fn add_gradient(
        &self,
        grad: &mut [T],
        gate: Option<&[T]>,
        y: &[T],
        count: usize,
        at: impl Positions,
        delta: T,
        g_ti: T,
    ) {
        let (g_tp, g_fn, g_fp) = self.statistic_gradients(delta, g_ti);
        let one = T::one();
        for s in 0..count {
            let i = at(s);
            let mut d = y[i] * g_tp - y[i] * g_fn + (one - y[i]) * g_fp;
            if T::tracks_error() {
                // ... or the simplified form g_TI·(y - (1-δ)·TI)/den.
                d = d.widen(g_ti * ((y[i] - (one - delta) * self.ti) / self.den));
            }
            add_gated(&mut grad[i], gate.map_or(one, |g| g[i]), d);
        }
    }
}

/// `(-y)·ln q`, the cross-entropy of one element, as the references write it.
#[inline]
pub fn cross_entropy<T: Real>(q: T, y: T) -> T {
    (-y) * q.ln()
}

/// `(1-q)^γ · CE` (or `CE` alone when `gamma` is `None`) and its derivative in `q`.
#[inline]
pub fn focal<T: Real>(q: T, y: T, gamma: Option<T>, rule: PowRule) -> (T, T) {
    let ce = cross_entropy(q, y);
    // d CE / dq = (-y)·(1/q)
    let dce = (-y) * q.recip();
    match gamma {
        None => (ce, dce),
        Some(g) => {
            let base = T::one() - q;
            let factor = base.pow_with(g, rule);
            let dfactor = -rule.derivative(base, g);
            (factor * ce, factor * dce + ce * dfactor)
        }
    }
}

/// Like [`focal`], without the derivative (for value-only evaluation).
#[inline]
pub fn focal_value<T: Real>(q: T, y: T, gamma: Option<T>, rule: PowRule) -> T {
    let ce = cross_entropy(q, y);
    match gamma {
        None => ce,
        Some(g) => (T::one() - q).pow_with(g, rule) * ce,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numbers::real::Dual;

    #[test]
    fn dtype_bounds_are_exact_constants_that_keep_the_eps_tangent() {
        use crate::numbers::bound::{F32Bound, F64Bound};
        let eps = 1e-7;
        let (lo, hi) = Dtype::F32.clip_bounds(eps);
        // The error-bound types hold the bounds without an error of their own, so an input
        // exactly on a bound is decided (the gate is the convention's, not undetermined).
        let c64 = Clip::dtype_bounds(F64Bound::cst(eps), Dtype::F32, ClipGradient::Strict);
        assert_eq!((c64.lo.v, c64.lo.e, c64.hi.v, c64.hi.e), (lo, 0.0, hi, 0.0));
        let (_, gate) = c64.apply(F64Bound::exact(lo));
        assert_eq!((gate.v, gate.lost), (0.0, false));
        let c32 = Clip::dtype_bounds(F32Bound::cst(eps), Dtype::F32, ClipGradient::Inclusive);
        assert_eq!((c32.lo.e, c32.hi.e), (0.0, 0.0));
        let (_, gate) = c32.apply(F32Bound::exact(hi));
        assert_eq!((gate.v, gate.lost), (1.0, false));
        // A dual number keeps d(bound)/d(eps): +1 for the lower bound, -1 for the upper.
        let dual = Clip::dtype_bounds(Dual::new(eps, 1.0), Dtype::F32, ClipGradient::Strict);
        assert_eq!(
            (dual.lo.x, dual.lo.dx, dual.hi.x, dual.hi.dx),
            (lo, 1.0, hi, -1.0)
        );
    }

    #[test]
    fn clip_gradient_rules_at_the_bounds() {
        let tf = Clip::<f64>::new(0.1, 0.9, ClipGradient::Inclusive);
        let torch = Clip {
            gradient: ClipGradient::Strict,
            ..tf
        };
        let tf_dual = Clip::<Dual>::new(0.1, 0.9, ClipGradient::Inclusive);
        let torch_dual = Clip {
            gradient: ClipGradient::Strict,
            ..tf_dual
        };
        assert_eq!(tf.apply(0.1), (0.1, 1.0));
        assert_eq!(torch.apply(0.1), (0.1, 0.0));
        assert_eq!(tf.apply(0.05), (0.1, 0.0));
        assert_eq!(tf.apply(0.95), (0.9, 0.0));
        assert_eq!(torch.apply(0.5), (0.5, 1.0));
        // A dual keeps its derivative exactly where the gradient passes.
        assert_eq!(tf_dual.apply(Dual::new(0.1, 1.0)).0.dx, 1.0);
        assert_eq!(torch_dual.apply(Dual::new(0.1, 1.0)).0.dx, 0.0);
        assert_eq!(tf_dual.apply(Dual::new(0.95, 1.0)).0.dx, 0.0);
    }

    #[test]
    fn tversky_gradient_matches_the_simplified_form() {
        let q = [0.2, 0.7, 0.4, 0.9];
        let y = [0.0, 1.0, 1.0, 0.0];
        let st = tversky(&q, &y, 4, |s| s, 0.7, 1e-6);
        let mut g = [0.0f64; 4];
        st.add_gradient(&mut g, None, &y, 4, |s| s, 0.7, 1.0);
        for i in 0..4 {
            let expected = (y[i] - (1.0 - 0.7) * st.ti) / st.den;
            assert!(
                (g[i] - expected).abs() < 1e-14,
                "{i}: {} vs {expected}",
                g[i]
            );
        }
    }

    #[test]
    fn focal_derivative_matches_forward_mode() {
        for &(q, y, g) in &[(0.3, 1.0, 2.0), (0.8, 0.4, 0.5), (0.6, 0.0, 0.0)] {
            let (_, d) = focal(q, y, Some(g), PowRule::TensorFlow);
            let dual = focal_value(
                Dual::new(q, 1.0),
                Dual::cst(y),
                Some(Dual::cst(g)),
                PowRule::TensorFlow,
            );
            assert!(
                (d - dual.dx).abs() < 1e-12,
                "{q} {y} {g}: {d} vs {}",
                dual.dx
            );
        }
    }
}
