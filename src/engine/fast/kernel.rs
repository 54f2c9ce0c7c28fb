//! The element passes of the fast path: per work item (one batch item, a fixed range of
//! positions), the statistics pass (input checks, the three Tversky sums and the focal sum of
//! every channel, and their tangents for a JVP) and the gradient pass (every element's
//! derivative from the per-(item, channel) coefficients), plus the same two passes for the
//! `original` convention's depth-sliced focal part on rank 5.
//!
//! Every per-element expression is the generic evaluator's, operation for operation (see
//! `terms.rs`: the clip, `(-y)·ln q`, `(-y)·(1/q)`, `(1-q)^γ`, `γ·(1-q)^(γ-1)`, the product rule
//! `factor·dce + ce·dfactor`, `y·g_TP - y·g_FN + (1-y)·g_FP`, and the order in which the parts'
//! contributions are added to an element), with [`super::math`] standing in for libm. Positions are
//! processed in blocks of [`BLOCK`]: a channel's values are read in place (channels-first) or
//! gathered into small arrays, and each pass is one loop over the block that the compiler
//! vectorises — clip, terms, focal factor and derivative in registers (`fused_stats`,
//! `fused_gradients`; `fused_*_pair` for two channels that both carry a focal term, with one
//! logarithm per position) — and the block sums are lane sums of the terms (`sum.rs`). Where
//! every caller channel is read directly by one internal channel, the statistics loops check the
//! input values themselves (`CHECK`), so that a block is read from memory once, its loads
//! overlapping the arithmetic; otherwise a block is checked before it is used
//! (`block_is_valid`). Two interleaved channels (channels-last, two classes) are read and written
//! in place by the pair gradient loop (`fused_gradients_pair_interleaved`); the statistics pass
//! splits them into two arrays first (its loop over interleaved data was not vectorised). The
//! forward mode (JVP) and the depth-sliced part keep one loop per step. The inputs are read in
//! order, one block at a time, and left to the processor's own prefetcher: software prefetches
//! of the blocks ahead (one per cache line) were measured to slow both passes on an AVX2 machine
//! (`docs/measurements.md`). The work-item functions are compiled three times — for
//! AVX-512, for AVX2 and for the baseline — and chosen at run time; the arithmetic is the same
//! IEEE operations in each, so the results are identical bit for bit.
//!
//! Assembly (`objdump -d` of `stats_item::avx2` and `gradient_item::avx2`, release build): the
//! fused loops compile to 256-bit `vmulpd`/`vdivpd`/`vsqrtpd`/`vblendvpd` over four positions
//! on AVX2 and to their 512-bit forms over eight on AVX-512. The AVX2 pair loop of the statistics
//! pass is about 110 instructions for four positions (one `vdivpd` and one `vsqrtpd` at the
//! default γ), of which 15 reload constants that its sixteen vector registers cannot hold; on the
//! AMD EPYC machine of `docs/measurements.md` it is bound by that count and by the latency of
//! the logarithm's chain, not by memory. The former separate lane-sum loop
//! of three sums (`lane_sums3`, still used by the JVP) is vectorised by LLVM's SLP pass into
//! 128-bit halves with lane permutes and spills, which is why the value passes sum terms
//! written by the fused loop instead.

use super::input::Values;
use super::math::{ln, PowGeneral, PowHalf, PowOne, PowPair, PowTwo, PowZero, Power};
use super::sum::{block_sum, fold_lanes, Compensated, BLOCK, LANES};
use crate::spec::tensor::Grid;
use std::mem::MaybeUninit;

/// How the prediction is clipped, and where the gradient passes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClipRule {
    /// No clip: `q = p`, the gradient passes everywhere.
    None,
    /// TensorFlow's `K.clip`: passes on `[lo, hi]`.
    Inclusive(f64, f64),
    /// torch's `clamp`: passes on `(lo, hi)`.
    Strict(f64, f64),
}

/// The focal term of a channel: `(1-q)^γ·(-y)·ln q`, or `(-y)·ln q` without a power.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Focal {
    pub power: Option<PowPair>,
    /// torch's `pow` backward: exponent 0 has derivative exactly 0.
    pub torch: bool,
}

/// What one internal channel contributes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Role {
    /// Takes part in a Tversky index (its three sums are needed).
    pub tversky: bool,
    /// Has a focal term summed over its positions.
    pub focal: Option<Focal>,
}

/// How internal channels are read from the caller's channels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Expansion {
    /// Internal channel `c` is caller channel `c`.
    Direct,
    /// One caller channel `p` stands for `[1-p, p]` (and its target `t` for `[1-t, t]`);
    /// `materialise` rounds `1 - p` and `1 - t` to the input dtype, as torch materialises them.
    Single { materialise: bool },
}

/// The per-(item, channel) factors of the gradient pass.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Coeffs {
    /// `(g_TP, g_FN, g_FP)`.
    pub tversky: [f64; 3],
    /// `k1·(k2·(k3·d))` is added for a focal derivative `d`.
    pub focal: [f64; 3],
}

/// The original's focal part on rank 5: pairs of elements on depth slices 0 and 1.
///
/// The gradient array is cut in rows of `row_len` elements; every row holds `pairs` pairs, the
/// slice-0 ("back") element at offset `t` and the slice-1 ("fore") one at `t + pairs`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Depth {
    pub rows: usize,
    pub row_len: usize,
    pub pairs: usize,
    pub back: Focal,
    pub fore: Focal,
}

/// Everything the passes read.
#[derive(Clone, Copy, Debug)]
pub struct Kernel<'a> {
    pub pred: Values<'a>,
    pub target: Values<'a>,
    /// A JVP's direction, in the prediction's layout.
    pub direction: Option<&'a [f64]>,
    /// The caller's grid (layout as given).
    pub grid: Grid,
    /// Inputs must be float32 values.
    pub float32: bool,
    pub clip: ClipRule,
    pub expansion: Expansion,
    pub roles: &'a [Role],
    /// `original` adds the Tversky contribution first; `paper` and `monai` the focal one.
    pub tversky_first: bool,
}

/// One work item: batch item `b`, positions `s0..s1`.
#[derive(Clone, Copy, Debug)]
pub struct Item {
    pub b: usize,
    pub s0: usize,
    pub s1: usize,
}

/// Sums of one internal channel over one item: `TP, FN, FP, focal`, then their tangents.
pub type ChannelSums = [f64; 8];

type Buf = [f64; BLOCK];
type Mask = [bool; BLOCK];

/// Calls `$body` with `$f` bound to the focal factor type of `$focal.power`.
macro_rules! with_factor {
    ($power:expr, $f:ident => $body:expr) => {
        match $power {
            None => {
                let $f = NoFactor;
                $body
            }
            Some(PowPair::Zero) => {
                let $f = WithPower(PowZero);
                $body
            }
            Some(PowPair::Half) => {
                let $f = WithPower(PowHalf);
                $body
            }
            Some(PowPair::One) => {
                let $f = WithPower(PowOne);
                $body
            }
            Some(PowPair::Two) => {
                let $f = WithPower(PowTwo);
                $body
            }
            Some(PowPair::General(g, g1)) => {
                let $f = WithPower(PowGeneral(g, g1));
                $body
            }
        }
    };
}

/// Calls `$body` with `$f` bound to the focal factor type of a role's focal term, [`Absent`]
/// where it has none.
macro_rules! with_role_factor {
    ($focal:expr, $f:ident => $body:expr) => {
        match $focal {
            None => {
                let $f = Absent;
                $body
            }
            Some(focal) => with_factor!(focal.power, $f => $body),
        }
    };
}

/// A clip rule as numbers: `q = min(max(v, lo), hi)` (as `Kernel::clip` writes it), passing
/// the gradient on `[lo, hi]` when `inclusive`, else on `(lo, hi)`. No clip is `[-∞, +∞]`,
/// inclusive: `q = v` and every finite value passes.
#[derive(Clone, Copy, Debug)]
struct Bounds {
    lo: f64,
    hi: f64,
    inclusive: bool,
}

impl Bounds {
    fn of(rule: ClipRule) -> Self {
        let (lo, hi, inclusive) = match rule {
            ClipRule::None => (f64::NEG_INFINITY, f64::INFINITY, true),
            ClipRule::Inclusive(lo, hi) => (lo, hi, true),
            ClipRule::Strict(lo, hi) => (lo, hi, false),
        };
        Bounds { lo, hi, inclusive }
    }

    /// The clipped value and whether the gradient passes.
    #[inline(always)]
    fn clip(self, v: f64) -> (f64, bool) {
        let q = if v < self.lo {
            self.lo
        } else if v > self.hi {
            self.hi
        } else {
            v
        };
        let inside = (v > self.lo) & (v < self.hi);
        let on_bound = (v == self.lo) | (v == self.hi);
        (q, inside | (self.inclusive & on_bound))
    }
}

/// Every element's Tversky terms `y·q`, `y·(1-q)`, `(1-y)·q` and focal value (where the role
/// has one), in one loop over the block; the sums are the caller's ([`block_sum`]). With
/// `CHECK`, also checks the prediction and the target as [`fused_stats_pair`] does; `false` if
/// a value is not acceptable.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn fused_stats<F: Factor, const CHECK: bool, const FLOAT32: bool>(
    f: F,
    bounds: Bounds,
    p: &[f64],
    y: &[f64],
    tp: &mut [f64],
    fn_: &mut [f64],
    fp: &mut [f64],
    focal: &mut [f64],
) -> bool {
    let mut valid = true;
    let outs = tp
        .iter_mut()
        .zip(fn_.iter_mut())
        .zip(fp.iter_mut())
        .zip(focal.iter_mut());
    for ((((tp, fn_), fp), focal), (&v, &y)) in outs.zip(p.iter().zip(y)) {
        if CHECK {
            valid &= unit_value::<FLOAT32>(v) & unit_value::<FLOAT32>(y);
        }
        let (q, _) = bounds.clip(v);
        *tp = y * q;
        *fn_ = y * (1.0 - q);
        *fp = (1.0 - y) * q;
        if F::PRESENT {
            *focal = f.value(q, (-y) * ln(q));
        }
    }
    valid
}

/// Whether `x` is an acceptable input value: in `[0, 1]`, and a float32 value with `FLOAT32`
/// (what `Values::probabilities` checks).
#[inline(always)]
fn unit_value<const FLOAT32: bool>(x: f64) -> bool {
    (0.0..=1.0).contains(&x) & (!FLOAT32 || (x as f32 as f64) == x)
}

/// Every element's derivative in one loop over the block: the clip, the focal derivative
/// `k1·(k2·(k3·d))` (where the role has a focal term) and the Tversky one `y·g_TP - y·g_FN +
/// (1-y)·g_FP` (where it has a Tversky index), added to 0 in the convention's order where the
/// clip passes. A part the role lacks is `+0`, which leaves the sum's bits as they are without
/// it (`0 + x` is never `-0`), so one expression serves every role.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn fused_gradients<F: Factor>(
    f: F,
    torch: bool,
    tversky: bool,
    tversky_first: bool,
    bounds: Bounds,
    k: &Coeffs,
    p: &[f64],
    y: &[f64],
    g: &mut [impl Slot],
) {
    let [g_tp, g_fn, g_fp] = k.tversky;
    let [k1, k2, k3] = k.focal;
    for ((g, &v), &y) in g.iter_mut().zip(p).zip(y) {
        let (q, pass) = bounds.clip(v);
        let t = if tversky {
            y * g_tp - y * g_fn + (1.0 - y) * g_fp
        } else {
            0.0
        };
        let focal = if F::PRESENT {
            let ce = (-y) * ln(q);
            let dce = (-y) * (1.0 / q);
            k1 * (k2 * (k3 * f.derivative(q, ce, dce, torch)))
        } else {
            0.0
        };
        let (first, second) = if tversky_first {
            (t, focal)
        } else {
            (focal, t)
        };
        g.set(if pass { (0.0 + first) + second } else { 0.0 });
    }
}

/// Calls `$body` (as `Some($body)`) with `$a` and `$b` bound to the focal factor types of a
/// two-channel problem whose first channel has a power and whose second has the same power or
/// none, the cases of the unified losses on two classes; `None` for any other pair.
macro_rules! with_pair_factors {
    ($p0:expr, $p1:expr, $a:ident, $b:ident => $body:expr) => {{
        macro_rules! both {
            ($first:expr, $same:expr) => {
                if $p1.is_none() {
                    let ($a, $b) = ($first, NoFactor);
                    Some($body)
                } else {
                    let ($a, $b) = ($first, $same);
                    Some($body)
                }
            };
        }
        match ($p0, $p1) {
            (Some(PowPair::Zero), None | Some(PowPair::Zero)) => {
                both!(WithPower(PowZero), WithPower(PowZero))
            }
            (Some(PowPair::Half), None | Some(PowPair::Half)) => {
                both!(WithPower(PowHalf), WithPower(PowHalf))
            }
            (Some(PowPair::One), None | Some(PowPair::One)) => {
                both!(WithPower(PowOne), WithPower(PowOne))
            }
            (Some(PowPair::Two), None | Some(PowPair::Two)) => {
                both!(WithPower(PowTwo), WithPower(PowTwo))
            }
            (Some(PowPair::General(g, g1)), None) => {
                both!(WithPower(PowGeneral(g, g1)), WithPower(PowGeneral(g, g1)))
            }
            (Some(PowPair::General(g, g1)), Some(PowPair::General(h, h1)))
                if (g, g1) == (h, h1) =>
            {
                both!(WithPower(PowGeneral(g, g1)), WithPower(PowGeneral(g, g1)))
            }
            _ => None,
        }
    }};
}

/// [`fused_stats`] for both channels of a two-channel problem at once, with one logarithm per
/// position: `ln` of the clipped prediction of the channel whose target is not zero
/// (channel 1's where both are zero). Returns `false`, its outputs to be discarded, if a
/// position has both targets other than zero (soft labels): every channel then needs its own.
///
/// Why one logarithm serves both channels: a channel's focal value uses `ln q` only through
/// `ce = (-y)·ln q`. Where `y = ±0` this is a zero whose sign is set by the sign of `ln q`,
/// negative for every clipped prediction (`q ≤ hi < 1`); so the other channel's logarithm gives
/// the same IEEE value bit for bit, and the channel whose target is not zero gets its own.
///
/// With `CHECK`, the loop also checks the four input values of every position as
/// `Kernel::block_is_valid` does (in `[0, 1]`, and float32 values with `FLOAT32`), so that a
/// block read from memory is read once, its loads overlapping the arithmetic; `None` if one is
/// not acceptable (whatever the labels).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn fused_stats_pair<F0: Factor, F1: Factor, const CHECK: bool, const FLOAT32: bool>(
    f0: F0,
    f1: F1,
    bounds: Bounds,
    p: [&[f64]; 2],
    y: [&[f64]; 2],
    t0: &mut [Buf; 4],
    t1: &mut [Buf; 4],
) -> Option<bool> {
    let mut soft = false;
    let mut valid = true;
    let [a0, b0, c0, d0] = t0;
    let [a1, b1, c1, d1] = t1;
    let n = p[0].len();
    let inputs = p[0].iter().zip(y[0]).zip(p[1].iter().zip(y[1]));
    let outs0 = a0[..n]
        .iter_mut()
        .zip(&mut b0[..n])
        .zip(c0[..n].iter_mut().zip(&mut d0[..n]));
    let outs1 = a1[..n]
        .iter_mut()
        .zip(&mut b1[..n])
        .zip(c1[..n].iter_mut().zip(&mut d1[..n]));
    for ((((&v0, &y0), (&v1, &y1)), ((tp0, fn0), (fp0, fo0))), ((tp1, fn1), (fp1, fo1))) in
        inputs.zip(outs0).zip(outs1)
    {
        if CHECK {
            valid &= unit_value::<FLOAT32>(v0)
                & unit_value::<FLOAT32>(v1)
                & unit_value::<FLOAT32>(y0)
                & unit_value::<FLOAT32>(y1);
        }
        let (q0, _) = bounds.clip(v0);
        let (q1, _) = bounds.clip(v1);
        soft |= (y0 != 0.0) & (y1 != 0.0);
        let l = ln(if y0 != 0.0 { q0 } else { q1 });
        *tp0 = y0 * q0;
        *fn0 = y0 * (1.0 - q0);
        *fp0 = (1.0 - y0) * q0;
        *fo0 = f0.value(q0, (-y0) * l);
        *tp1 = y1 * q1;
        *fn1 = y1 * (1.0 - q1);
        *fp1 = (1.0 - y1) * q1;
        *fo1 = f1.value(q1, (-y1) * l);
    }
    valid.then_some(!soft)
}

/// The derivative of both channels at one position of a two-channel problem, with one
/// logarithm (where a channel's power needs it) and one reciprocal, chosen as in
/// [`fused_stats_pair`]: `dce = (-y)·(1/q)` is, where `y = ±0`, a zero whose sign is set by
/// `1/q > 0`, the same for either channel. Only right where not both targets are other than
/// zero (the caller checks).
#[derive(Clone, Copy)]
struct PairGradient<'k, F0, F1> {
    f0: F0,
    f1: F1,
    torch: [bool; 2],
    tversky: bool,
    tversky_first: bool,
    bounds: Bounds,
    k: [&'k Coeffs; 2],
}

impl<F0: Factor, F1: Factor> PairGradient<'_, F0, F1> {
    #[inline(always)]
    fn at(&self, (v0, y0): (f64, f64), (v1, y1): (f64, f64)) -> (f64, f64) {
        let ([t0, f_n0, p0_], [kf0, kf1, kf2]) = (self.k[0].tversky, self.k[0].focal);
        let ([t1, f_n1, p1_], [kg0, kg1, kg2]) = (self.k[1].tversky, self.k[1].focal);
        let (q0, pass0) = self.bounds.clip(v0);
        let (q1, pass1) = self.bounds.clip(v1);
        let hot = if y0 != 0.0 { q0 } else { q1 };
        let (l, r) = (ln(hot), 1.0 / hot);
        let d0 = self.f0.derivative(q0, (-y0) * l, (-y0) * r, self.torch[0]);
        let d1 = self.f1.derivative(q1, (-y1) * l, (-y1) * r, self.torch[1]);
        let focal0 = kf0 * (kf1 * (kf2 * d0));
        let focal1 = kg0 * (kg1 * (kg2 * d1));
        let (tv0, tv1) = if self.tversky {
            (
                y0 * t0 - y0 * f_n0 + (1.0 - y0) * p0_,
                y1 * t1 - y1 * f_n1 + (1.0 - y1) * p1_,
            )
        } else {
            (0.0, 0.0)
        };
        let (a0, b0) = if self.tversky_first {
            (tv0, focal0)
        } else {
            (focal0, tv0)
        };
        let (a1, b1) = if self.tversky_first {
            (tv1, focal1)
        } else {
            (focal1, tv1)
        };
        (
            if pass0 { (0.0 + a0) + b0 } else { 0.0 },
            if pass1 { (0.0 + a1) + b1 } else { 0.0 },
        )
    }
}

/// [`fused_gradients`] for both channels of a two-channel problem at once ([`PairGradient`]),
/// each channel in its own slices. Returns `false`, its outputs to be discarded, where a
/// position has both targets other than zero.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn fused_gradients_pair<F0: Factor, F1: Factor>(
    f0: F0,
    f1: F1,
    torch: [bool; 2],
    tversky: bool,
    tversky_first: bool,
    bounds: Bounds,
    k: [&Coeffs; 2],
    p: [&[f64]; 2],
    y: [&[f64]; 2],
    g: [&mut [impl Slot]; 2],
) -> bool {
    let at = PairGradient {
        f0,
        f1,
        torch,
        tversky,
        tversky_first,
        bounds,
        k,
    };
    let mut soft = false;
    let n = p[0].len();
    let [g0, g1] = g;
    let inputs = p[0].iter().zip(y[0]).zip(p[1].iter().zip(y[1]));
    for (((&v0, &y0), (&v1, &y1)), (g0, g1)) in inputs.zip(g0[..n].iter_mut().zip(&mut g1[..n])) {
        soft |= (y0 != 0.0) & (y1 != 0.0);
        let (a, b) = at.at((v0, y0), (v1, y1));
        g0.set(a);
        g1.set(b);
    }
    !soft
}

/// [`fused_gradients_pair`] on interleaved channels (channels-last, two classes): `p`, `y` and
/// `g` hold channel 0 and channel 1 of each position in turn, read and written in place.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn fused_gradients_pair_interleaved<F0: Factor, F1: Factor>(
    f0: F0,
    f1: F1,
    torch: [bool; 2],
    tversky: bool,
    tversky_first: bool,
    bounds: Bounds,
    k: [&Coeffs; 2],
    p: &[f64],
    y: &[f64],
    g: &mut [impl Slot],
) -> bool {
    let at = PairGradient {
        f0,
        f1,
        torch,
        tversky,
        tversky_first,
        bounds,
        k,
    };
    let mut soft = false;
    let inputs = p.chunks_exact(2).zip(y.chunks_exact(2));
    for ((pc, yc), gc) in inputs.zip(g.chunks_exact_mut(2)) {
        soft |= (yc[0] != 0.0) & (yc[1] != 0.0);
        let (a, b) = at.at((pc[0], yc[0]), (pc[1], yc[1]));
        gc[0].set(a);
        gc[1].set(b);
    }
    !soft
}

/// No focal term: no focal value or derivative is computed.
#[derive(Clone, Copy)]
struct Absent;

impl Factor for Absent {
    const PRESENT: bool = false;
    #[inline(always)]
    fn value(self, _q: f64, _ce: f64) -> f64 {
        0.0
    }
    #[inline(always)]
    fn derivative(self, _q: f64, _ce: f64, _dce: f64, _torch: bool) -> f64 {
        0.0
    }
}

/// The focal factor `(1-q)^γ` of `terms::focal`, or none.
trait Factor: Copy {
    /// Whether the role has a focal term at all.
    const PRESENT: bool = true;
    /// The focal value from `ce = (-y)·ln q`.
    fn value(self, q: f64, ce: f64) -> f64;
    /// The focal derivative from `ce` and `dce = (-y)·(1/q)`.
    fn derivative(self, q: f64, ce: f64, dce: f64, torch: bool) -> f64;
}

#[derive(Clone, Copy)]
struct NoFactor;

#[derive(Clone, Copy)]
struct WithPower<P>(P);

impl Factor for NoFactor {
    #[inline(always)]
    fn value(self, _q: f64, ce: f64) -> f64 {
        ce
    }
    #[inline(always)]
    fn derivative(self, _q: f64, _ce: f64, dce: f64, _torch: bool) -> f64 {
        dce
    }
}

impl<P: Power> Factor for WithPower<P> {
    #[inline(always)]
    fn value(self, q: f64, ce: f64) -> f64 {
        self.0.power(1.0 - q) * ce
    }
    #[inline(always)]
    fn derivative(self, q: f64, ce: f64, dce: f64, torch: bool) -> f64 {
        let base = 1.0 - q;
        let (factor, below) = self.0.both(base);
        let g = self.0.gamma();
        // PowRule::derivative: γ·base^(γ-1), or exactly 0 for torch at γ = 0.
        let slope = if torch && g == 0.0 { 0.0 } else { g * below };
        let dfactor = -slope;
        factor * dce + ce * dfactor
    }
}

#[inline(always)]
fn focal_values<F: Factor>(f: F, q: &[f64], y: &[f64], out: &mut [f64]) {
    for ((o, &q), &y) in out.iter_mut().zip(q).zip(y) {
        let ce = (-y) * ln(q);
        *o = f.value(q, ce);
    }
}

#[inline(always)]
fn focal_values_and_derivatives<F: Factor>(
    f: F,
    torch: bool,
    q: &[f64],
    y: &[f64],
    value: &mut [f64],
    derivative: &mut [f64],
) {
    for (((v, d), &q), &y) in value.iter_mut().zip(derivative.iter_mut()).zip(q).zip(y) {
        let ce = (-y) * ln(q);
        let dce = (-y) * (1.0 / q);
        *v = f.value(q, ce);
        *d = f.derivative(q, ce, dce, torch);
    }
}

#[inline(always)]
fn focal_derivatives<F: Factor>(f: F, torch: bool, q: &[f64], y: &[f64], out: &mut [f64]) {
    for ((o, &q), &y) in out.iter_mut().zip(q).zip(y) {
        let ce = (-y) * ln(q);
        let dce = (-y) * (1.0 / q);
        *o = f.derivative(q, ce, dce, torch);
    }
}

#[inline(always)]
fn finite_values(xs: &[f64]) -> bool {
    let mut ok = true;
    for &v in xs {
        ok &= v.is_finite();
    }
    ok
}

impl Kernel<'_> {
    /// Checks every caller element of positions `s..s+len` of item `b`.
    #[inline(always)]
    fn block_is_valid(&self, b: usize, s: usize, len: usize) -> bool {
        let g = self.grid;
        let mut ok = true;
        if g.channels_last {
            let start = g.at(b, s, 0);
            let range = start..start + len * g.classes;
            ok &= self.pred.probabilities(range.clone(), self.float32);
            ok &= self.target.probabilities(range.clone(), self.float32);
            if let Some(d) = self.direction {
                ok &= finite_values(&d[range]);
            }
        } else {
            for c in 0..g.classes {
                let start = g.at(b, s, c);
                let range = start..start + len;
                ok &= self.pred.probabilities(range.clone(), self.float32);
                ok &= self.target.probabilities(range.clone(), self.float32);
                if let Some(d) = self.direction {
                    ok &= finite_values(&d[range]);
                }
            }
        }
        ok
    }

    /// Copies caller channel `c` at positions `s..s+len` of item `b` into `out`.
    #[inline(always)]
    fn gather_channel(
        &self,
        src: Values<'_>,
        b: usize,
        s: usize,
        c: usize,
        out: &mut Buf,
        len: usize,
    ) {
        let g = self.grid;
        let start = g.at(b, s, c);
        if g.channels_last {
            src.strided(start, g.classes, &mut out[..len]);
        } else if let Values::F64(v) = src {
            out[..len].copy_from_slice(&v[start..start + len]);
        } else {
            src.run(start, &mut out[..len]);
        }
    }

    /// Two internal channels, each with a focal term and both with or both without a Tversky
    /// index: the pair kernels.
    #[inline(always)]
    fn focal_pair(&self) -> Option<[Focal; 2]> {
        match self.roles {
            [a, b] if a.tversky == b.tversky => Some([a.focal?, b.focal?]),
            _ => None,
        }
    }

    /// Two caller channels interleaved (channels-last, C = 2, read directly): both channels of
    /// a block are split in one pass over contiguous memory.
    #[inline(always)]
    fn interleaved_pair(&self) -> bool {
        self.grid.channels_last && self.grid.classes == 2 && self.expansion == Expansion::Direct
    }

    /// Splits positions `s..s+len` of item `b` of a two-channel channels-last array.
    #[inline(always)]
    fn deinterleave(&self, src: Values<'_>, b: usize, s: usize, out: &mut [Buf; 2], len: usize) {
        let [c0, c1] = out;
        src.deinterleave(self.grid.at(b, s, 0), &mut c0[..len], &mut c1[..len]);
    }

    /// Internal channel `ch`'s prediction and target at positions `s..s+len` of item `b`.
    #[inline(always)]
    fn gather(&self, b: usize, s: usize, ch: usize, p: &mut Buf, y: &mut Buf, len: usize) {
        match self.expansion {
            Expansion::Direct => {
                self.gather_channel(self.pred, b, s, ch, p, len);
                self.gather_channel(self.target, b, s, ch, y, len);
            }
            Expansion::Single { materialise } => {
                self.gather_channel(self.pred, b, s, 0, p, len);
                self.gather_channel(self.target, b, s, 0, y, len);
                if ch == 0 {
                    complement(p, len, materialise && self.float32);
                    complement(y, len, materialise && self.float32);
                }
            }
        }
    }

    /// The direction of internal channel `ch` (negated for a complement, as `0 - v`).
    #[inline(always)]
    fn gather_direction(
        &self,
        dir: &[f64],
        b: usize,
        s: usize,
        ch: usize,
        v: &mut Buf,
        len: usize,
    ) {
        match self.expansion {
            Expansion::Direct => self.gather_channel(Values::F64(dir), b, s, ch, v, len),
            Expansion::Single { .. } => {
                self.gather_channel(Values::F64(dir), b, s, 0, v, len);
                if ch == 0 {
                    for x in v.iter_mut().take(len) {
                        *x = 0.0 - *x;
                    }
                }
            }
        }
    }

    /// Internal channel `ch`'s prediction and target at positions `s..s+len` of item `b`: the
    /// caller's arrays themselves where a channel is contiguous (channels-first, read directly),
    /// else gathered into `p` and `y`.
    #[inline(always)]
    fn inputs<'s>(
        &'s self,
        b: usize,
        s: usize,
        ch: usize,
        p: &'s mut Buf,
        y: &'s mut Buf,
        len: usize,
    ) -> (&'s [f64], &'s [f64]) {
        if !self.grid.channels_last && self.expansion == Expansion::Direct {
            let start = self.grid.at(b, s, ch);
            return (
                self.pred.run(start, &mut p[..len]),
                self.target.run(start, &mut y[..len]),
            );
        }
        self.gather(b, s, ch, p, y, len);
        (&p[..len], &y[..len])
    }

    /// The direction of internal channel `ch`, like [`Kernel::inputs`].
    #[inline(always)]
    fn direction_of<'s>(
        &'s self,
        direction: &'s [f64],
        b: usize,
        s: usize,
        ch: usize,
        v: &'s mut Buf,
        len: usize,
    ) -> &'s [f64] {
        if !self.grid.channels_last && self.expansion == Expansion::Direct {
            let start = self.grid.at(b, s, ch);
            return &direction[start..start + len];
        }
        self.gather_direction(direction, b, s, ch, v, len);
        &v[..len]
    }

    #[inline(always)]
    fn clip(&self, p: &[f64], q: &mut [f64], pass: &mut [bool]) {
        match self.clip {
            ClipRule::None => {
                q.copy_from_slice(p);
                pass.fill(true);
            }
            ClipRule::Inclusive(lo, hi) => {
                for ((q, pass), &v) in q.iter_mut().zip(pass.iter_mut()).zip(p) {
                    *q = if v < lo {
                        lo
                    } else if v > hi {
                        hi
                    } else {
                        v
                    };
                    *pass = (v >= lo) & (v <= hi);
                }
            }
            ClipRule::Strict(lo, hi) => {
                for ((q, pass), &v) in q.iter_mut().zip(pass.iter_mut()).zip(p) {
                    *q = if v < lo {
                        lo
                    } else if v > hi {
                        hi
                    } else {
                        v
                    };
                    *pass = (v > lo) & (v < hi);
                }
            }
        }
    }

    /// The statistics pass over one item; `None` if an input value is not acceptable.
    #[inline(always)]
    pub fn stats_item(&self, item: Item) -> Option<Vec<ChannelSums>> {
        let mut acc = vec![[Compensated::default(); 8]; self.roles.len()];
        let (mut pb, mut yb, mut qb, mut vb, mut db, mut rawb, mut dirb) = (
            [0.0; BLOCK],
            [0.0; BLOCK],
            [0.0; BLOCK],
            [0.0; BLOCK],
            [0.0; BLOCK],
            [0.0; BLOCK],
            [0.0; BLOCK],
        );
        let mut passb = [false; BLOCK];
        let mut terms = [[0.0; BLOCK]; 4];
        let (mut pb1, mut yb1) = ([0.0; BLOCK], [0.0; BLOCK]);
        let mut pair_terms = [[[0.0; BLOCK]; 4]; 2];
        let focal_pair = self.focal_pair();
        let pair = self.interleaved_pair();
        let (mut pair_p, mut pair_y, mut pair_dir) =
            ([[0.0; BLOCK]; 2], [[0.0; BLOCK]; 2], [[0.0; BLOCK]; 2]);
        // Where every caller channel is read directly by one internal channel, the loops that
        // compute the terms check the values themselves (one read of a block from memory, its
        // loads overlapping the arithmetic); otherwise the block is checked first.
        let checked_in_loops = self.direction.is_none()
            && self.expansion == Expansion::Direct
            && self.roles.len() == self.grid.classes;
        let mut s = item.s0;
        while s < item.s1 {
            let len = BLOCK.min(item.s1 - s);
            let mut validated = false;
            if !checked_in_loops {
                if !self.block_is_valid(item.b, s, len) {
                    return None;
                }
                validated = true;
            }
            if pair {
                self.deinterleave(self.pred, item.b, s, &mut pair_p, len);
                self.deinterleave(self.target, item.b, s, &mut pair_y, len);
            }
            if let (Some([f0, f1]), None) = (focal_pair, self.direction) {
                let bounds = Bounds::of(self.clip);
                let [t0, t1] = &mut pair_terms;
                let (p0, y0) = if pair {
                    (&pair_p[0][..len], &pair_y[0][..len])
                } else {
                    self.inputs(item.b, s, 0, &mut pb, &mut yb, len)
                };
                let (p1, y1) = if pair {
                    (&pair_p[1][..len], &pair_y[1][..len])
                } else {
                    self.inputs(item.b, s, 1, &mut pb1, &mut yb1, len)
                };
                let (p, y) = ([p0, p1], [y0, y1]);
                let done = with_pair_factors!(f0.power, f1.power, a, b => {
                    match (validated, self.float32) {
                        (true, _) => fused_stats_pair::<_, _, false, false>(
                            a, b, bounds, p, y, t0, t1),
                        (false, false) => fused_stats_pair::<_, _, true, false>(
                            a, b, bounds, p, y, t0, t1),
                        (false, true) => fused_stats_pair::<_, _, true, true>(
                            a, b, bounds, p, y, t0, t1),
                    }
                });
                match done {
                    Some(None) => return None,
                    Some(Some(_)) => validated = true,
                    None => {}
                }
                if done == Some(Some(true)) {
                    for ((a, t), role) in acc.iter_mut().zip(&pair_terms).zip(self.roles) {
                        let from = if role.tversky { 0 } else { 3 };
                        for (a, t) in a[from..4].iter_mut().zip(&t[from..]) {
                            a.add(block_sum(&t[..len]));
                        }
                    }
                    s += len;
                    continue;
                }
            }
            if let (true, Some(direction)) = (pair, self.direction) {
                self.deinterleave(Values::F64(direction), item.b, s, &mut pair_dir, len);
            }
            for (ch, role) in self.roles.iter().enumerate() {
                let a = &mut acc[ch];
                let (p, y) = if pair {
                    (&pair_p[ch][..len], &pair_y[ch][..len])
                } else {
                    self.inputs(item.b, s, ch, &mut pb, &mut yb, len)
                };
                if self.direction.is_none() {
                    let bounds = Bounds::of(self.clip);
                    let [tp, fn_, fp, focal] = &mut terms;
                    let (tp, fn_, fp, focal) = (
                        &mut tp[..len],
                        &mut fn_[..len],
                        &mut fp[..len],
                        &mut focal[..len],
                    );
                    let valid = with_role_factor!(role.focal, f => match (validated, self.float32) {
                        (true, _) => fused_stats::<_, false, false>(f, bounds, p, y, tp, fn_, fp, focal),
                        (false, false) => fused_stats::<_, true, false>(f, bounds, p, y, tp, fn_, fp, focal),
                        (false, true) => fused_stats::<_, true, true>(f, bounds, p, y, tp, fn_, fp, focal),
                    });
                    if !valid {
                        return None;
                    }
                    if role.tversky {
                        a[0].add(block_sum(tp));
                        a[1].add(block_sum(fn_));
                        a[2].add(block_sum(fp));
                    }
                    if role.focal.is_some() {
                        a[3].add(block_sum(focal));
                    }
                    continue;
                }
                let (q, pass) = (&mut qb[..len], &mut passb[..len]);
                self.clip(p, q, pass);
                let dir = &mut dirb[..len];
                if let Some(direction) = self.direction {
                    let raw = if pair {
                        &pair_dir[ch][..len]
                    } else {
                        self.direction_of(direction, item.b, s, ch, &mut rawb, len)
                    };
                    for ((m, &v), &ok) in dir.iter_mut().zip(raw).zip(pass.iter()) {
                        *m = if ok { v } else { 0.0 };
                    }
                }
                if role.tversky {
                    let (tp, fn_, fp) = tversky_sums(q, y);
                    a[0].add(tp);
                    a[1].add(fn_);
                    a[2].add(fp);
                    if self.direction.is_some() {
                        let (tp, fn_, fp) = tversky_tangents(y, dir);
                        a[4].add(tp);
                        a[5].add(fn_);
                        a[6].add(fp);
                    }
                }
                if let Some(focal) = role.focal {
                    let (v, d) = (&mut vb[..len], &mut db[..len]);
                    if self.direction.is_some() {
                        with_factor!(focal.power, f => focal_values_and_derivatives(
                            f, focal.torch, q, y, v, d));
                        for (d, &qdot) in d.iter_mut().zip(dir.iter()) {
                            *d *= qdot;
                        }
                        a[7].add(block_sum(d));
                    } else {
                        with_factor!(focal.power, f => focal_values(f, q, y, v));
                    }
                    a[3].add(block_sum(v));
                }
            }
            s += len;
        }
        Some(acc.iter().map(|a| a.map(|c| c.value())).collect())
    }

    /// The gradient pass over one item, writing into `out` (the item's part of the gradient).
    #[inline(always)]
    pub fn gradient_item(&self, item: Item, coeffs: &[Coeffs], out: &mut ItemOut<'_>) {
        let (mut pb, mut yb, mut gb) = ([0.0; BLOCK], [0.0; BLOCK], [0.0; BLOCK]);
        let mut g0b = [0.0; BLOCK];
        let pair = self.interleaved_pair();
        let in_place = !pair && self.expansion == Expansion::Direct;
        let (mut pair_p, mut pair_y) = ([[0.0; BLOCK]; 2], [[0.0; BLOCK]; 2]);
        let (mut pb1, mut yb1) = ([0.0; BLOCK], [0.0; BLOCK]);
        let mut pair_g = [[0.0; BLOCK]; 2];
        let (mut wide_p, mut wide_y) = ([0.0; 2 * BLOCK], [0.0; 2 * BLOCK]);
        let focal_pair = self.focal_pair();
        let mut s = item.s0;
        while s < item.s1 {
            let len = BLOCK.min(item.s1 - s);
            let local = s - item.s0;
            // Caller channels no internal channel reads (the original's unified losses read
            // channels 0 and 1 only) have derivative 0.
            if self.expansion == Expansion::Direct {
                for ch in self.roles.len()..self.grid.classes {
                    out.write(ch, local, &[0.0; BLOCK][..len]);
                }
            }
            // Two interleaved channels with a focal term each: read and written in place.
            if let (Some([f0, f1]), true) = (focal_pair, pair) {
                let start = self.grid.at(item.b, s, 0);
                let pv = self.pred.run(start, &mut wide_p[..2 * len]);
                let yv = self.target.run(start, &mut wide_y[..2 * len]);
                if let Some(dst) = out.interleaved_pair_mut(local, len) {
                    let bounds = Bounds::of(self.clip);
                    let (torch, first) = ([f0.torch, f1.torch], self.tversky_first);
                    let tversky = self.roles[0].tversky;
                    let k = [&coeffs[0], &coeffs[1]];
                    let done = with_pair_factors!(f0.power, f1.power, a, b =>
                        fused_gradients_pair_interleaved(
                            a, b, torch, tversky, first, bounds, k, pv, yv, dst));
                    if done == Some(true) {
                        s += len;
                        continue;
                    }
                }
            }
            if pair {
                self.deinterleave(self.pred, item.b, s, &mut pair_p, len);
                self.deinterleave(self.target, item.b, s, &mut pair_y, len);
            }
            if let Some([f0, f1]) = focal_pair {
                let (p0, y0) = if pair {
                    (&pair_p[0][..len], &pair_y[0][..len])
                } else {
                    self.inputs(item.b, s, 0, &mut pb, &mut yb, len)
                };
                let (p1, y1) = if pair {
                    (&pair_p[1][..len], &pair_y[1][..len])
                } else {
                    self.inputs(item.b, s, 1, &mut pb1, &mut yb1, len)
                };
                let bounds = Bounds::of(self.clip);
                let (torch, first) = ([f0.torch, f1.torch], self.tversky_first);
                let tversky = self.roles[0].tversky;
                let k = [&coeffs[0], &coeffs[1]];
                let direct = if in_place {
                    out.planar_pair_mut(local, len)
                } else {
                    None
                };
                // Channels-first: into the gradient itself; else into buffers, written below.
                let (done, buffered) = match direct {
                    Some(dst) => (
                        with_pair_factors!(f0.power, f1.power, a, b => fused_gradients_pair(
                            a, b, torch, tversky, first, bounds, k, [p0, p1], [y0, y1], dst)),
                        false,
                    ),
                    None => {
                        let [g0, g1] = &mut pair_g;
                        let dst = [&mut g0[..len], &mut g1[..len]];
                        (
                            with_pair_factors!(f0.power, f1.power, a, b => fused_gradients_pair(
                                a, b, torch, tversky, first, bounds, k, [p0, p1], [y0, y1], dst)),
                            true,
                        )
                    }
                };
                if done == Some(true) && !buffered {
                    s += len;
                    continue;
                }
                if done == Some(true) {
                    let [g0, g1] = &pair_g;
                    match self.expansion {
                        Expansion::Direct if pair => out.write_pair(local, &g0[..len], &g1[..len]),
                        Expansion::Direct => {
                            out.write(0, local, &g0[..len]);
                            out.write(1, local, &g1[..len]);
                        }
                        Expansion::Single { .. } => {
                            // d/dp of [1-p, p]: g[ch 1] - g[ch 0].
                            let g = &mut gb[..len];
                            for ((g, &a), &b) in g.iter_mut().zip(&g1[..len]).zip(&g0[..len]) {
                                *g = a - b;
                            }
                            out.write(0, local, g);
                        }
                    }
                    s += len;
                    continue;
                }
            }
            for (ch, role) in self.roles.iter().enumerate() {
                let k = &coeffs[ch];
                let (p, y) = if pair {
                    (&pair_p[ch][..len], &pair_y[ch][..len])
                } else {
                    self.inputs(item.b, s, ch, &mut pb, &mut yb, len)
                };
                let bounds = Bounds::of(self.clip);
                let torch = role.focal.is_some_and(|f| f.torch);
                let (tversky, first) = (role.tversky, self.tversky_first);
                if in_place {
                    if let Some(dst) = out.channel_mut(ch, local, len) {
                        with_role_factor!(role.focal, f => fused_gradients(
                            f, torch, tversky, first, bounds, k, p, y, dst));
                        continue;
                    }
                }
                let g = &mut gb[..len];
                with_role_factor!(role.focal, f => fused_gradients(
                    f, torch, tversky, first, bounds, k, p, y, g));
                match self.expansion {
                    Expansion::Direct if pair => {
                        if ch == 0 {
                            g0b[..len].copy_from_slice(g);
                        } else {
                            out.write_pair(local, &g0b[..len], g);
                        }
                    }
                    Expansion::Direct => out.write(ch, local, g),
                    Expansion::Single { .. } => {
                        if ch == 0 {
                            g0b[..len].copy_from_slice(g);
                        } else {
                            // d/dp of [1-p, p]: g[ch 1] - g[ch 0].
                            for (g, &g0) in g.iter_mut().zip(&g0b[..len]) {
                                *g -= g0;
                            }
                            out.write(0, local, g);
                        }
                    }
                }
            }
            s += len;
        }
    }
}

/// `1 - v` in place, rounded to float32 when `round` (MONAI's materialised complement).
#[inline(always)]
fn complement(x: &mut Buf, len: usize, round: bool) {
    for v in x.iter_mut().take(len) {
        let c = 1.0 - *v;
        *v = if round {
            c + ((c as f32 as f64) - c)
        } else {
            c
        };
    }
}

/// `Σ y·q`, `Σ y·(1-q)`, `Σ (1-y)·q` of a block, term `i` in lane `i mod 8` (`sum.rs`).
#[inline(always)]
fn tversky_sums(q: &[f64], y: &[f64]) -> (f64, f64, f64) {
    lane_sums3(q, y, |q, y| (y * q, y * (1.0 - q), (1.0 - y) * q))
}

/// The tangents of the three sums for `q̇` (zero where the clip stops the derivative).
#[inline(always)]
fn tversky_tangents(y: &[f64], qdot: &[f64]) -> (f64, f64, f64) {
    lane_sums3(qdot, y, |qd, y| (y * qd, y * (0.0 - qd), (1.0 - y) * qd))
}

/// Three lane sums of `terms(a_i, b_i)` over a block, each folded by the fixed tree.
#[inline(always)]
fn lane_sums3(
    a: &[f64],
    b: &[f64],
    terms: impl Fn(f64, f64) -> (f64, f64, f64),
) -> (f64, f64, f64) {
    let (mut s0, mut s1, mut s2) = ([0.0; LANES], [0.0; LANES], [0.0; LANES]);
    let mut ac = a.chunks_exact(LANES);
    let mut bc = b.chunks_exact(LANES);
    for (x, z) in (&mut ac).zip(&mut bc) {
        for l in 0..LANES {
            let (t0, t1, t2) = terms(x[l], z[l]);
            s0[l] += t0;
            s1[l] += t1;
            s2[l] += t2;
        }
    }
    for (l, (&x, &z)) in ac.remainder().iter().zip(bc.remainder()).enumerate() {
        let (t0, t1, t2) = terms(x, z);
        s0[l] += t0;
        s1[l] += t1;
        s2[l] += t2;
    }
    (fold_lanes(&s0), fold_lanes(&s1), fold_lanes(&s2))
}

/// Where an element's derivative is stored: the gradient array, not yet initialised (every
/// element is written once by the gradient pass), or a block buffer.
pub trait Slot {
    fn set(&mut self, v: f64);
}

impl Slot for f64 {
    #[inline(always)]
    fn set(&mut self, v: f64) {
        *self = v;
    }
}

impl Slot for MaybeUninit<f64> {
    #[inline(always)]
    fn set(&mut self, v: f64) {
        self.write(v);
    }
}

/// The part of the gradient one item writes (every element of it, once).
pub enum ItemOut<'a> {
    /// Channels-last: positions `s0..s1` of the item, all channels interleaved.
    Interleaved {
        data: &'a mut [MaybeUninit<f64>],
        classes: usize,
    },
    /// Channels-first: one slice per caller channel.
    Planar(Vec<&'a mut [MaybeUninit<f64>]>),
}

impl ItemOut<'_> {
    /// Positions `local..local+len` of caller channel `c`, where they are contiguous.
    #[inline(always)]
    fn channel_mut(
        &mut self,
        c: usize,
        local: usize,
        len: usize,
    ) -> Option<&mut [MaybeUninit<f64>]> {
        match self {
            ItemOut::Planar(slices) => Some(&mut slices[c][local..local + len]),
            ItemOut::Interleaved { .. } => None,
        }
    }

    /// Positions `local..local+len` of caller channels 0 and 1, where they are contiguous.
    #[inline(always)]
    fn planar_pair_mut(
        &mut self,
        local: usize,
        len: usize,
    ) -> Option<[&mut [MaybeUninit<f64>]; 2]> {
        match self {
            ItemOut::Planar(slices) => match &mut slices[..] {
                [a, b] => Some([&mut a[local..local + len], &mut b[local..local + len]]),
                _ => None,
            },
            ItemOut::Interleaved { .. } => None,
        }
    }

    /// Positions `local..local+len` of a two-channel interleaved part (channels 0 and 1 of each
    /// position in turn).
    #[inline(always)]
    fn interleaved_pair_mut(
        &mut self,
        local: usize,
        len: usize,
    ) -> Option<&mut [MaybeUninit<f64>]> {
        match self {
            ItemOut::Interleaved { data, classes: 2 } => {
                Some(&mut data[2 * local..2 * (local + len)])
            }
            _ => None,
        }
    }

    /// Writes channels 0 and 1 of a two-channel interleaved part.
    #[inline(always)]
    fn write_pair(&mut self, local: usize, c0: &[f64], c1: &[f64]) {
        match self {
            ItemOut::Interleaved { data, .. } => {
                let dst = &mut data[2 * local..2 * (local + c0.len())];
                for (i, pair) in dst.chunks_exact_mut(2).enumerate() {
                    pair[0].write(c0[i]);
                    pair[1].write(c1[i]);
                }
            }
            ItemOut::Planar(_) => {
                self.write(0, local, c0);
                self.write(1, local, c1);
            }
        }
    }

    #[inline(always)]
    fn write(&mut self, c: usize, local: usize, values: &[f64]) {
        match self {
            ItemOut::Interleaved { data, classes } => {
                for (i, &v) in values.iter().enumerate() {
                    data[(local + i) * *classes + c].write(v);
                }
            }
            ItemOut::Planar(slices) => {
                let dst = &mut slices[c][local..local + values.len()];
                for (d, &v) in dst.iter_mut().zip(values) {
                    d.write(v);
                }
            }
        }
    }
}

/// The depth-sliced focal part of `original` on rank 5.
impl Depth {
    /// Sums of the back and fore focal terms over rows `r0..r1` (and their tangents):
    /// `[back, fore, back', fore']`.
    #[inline(always)]
    pub fn stats_rows(&self, k: &Kernel<'_>, r0: usize, r1: usize) -> [f64; 4] {
        let mut acc = [Compensated::default(); 4];
        let (mut q, mut y, mut v, mut d, mut dir) = (
            [0.0; BLOCK],
            [0.0; BLOCK],
            [0.0; BLOCK],
            [0.0; BLOCK],
            [0.0; BLOCK],
        );
        let mut pass = [false; BLOCK];
        for (slot, focal, offset) in [(0, self.back, 0), (1, self.fore, self.pairs)] {
            let mut gathered = 0;
            let flush = |len: usize,
                         q: &mut Buf,
                         y: &Buf,
                         v: &mut Buf,
                         d: &mut Buf,
                         dir: &Buf,
                         pass: &mut Mask,
                         acc: &mut [Compensated; 4]| {
                let p = *q;
                let (q, y, v, d, pass) = (
                    &mut q[..len],
                    &y[..len],
                    &mut v[..len],
                    &mut d[..len],
                    &mut pass[..len],
                );
                k.clip(&p[..len], q, pass);
                if k.direction.is_some() {
                    with_factor!(focal.power, f => focal_values_and_derivatives(
                        f, focal.torch, q, y, v, d));
                    for ((d, &v), &ok) in d.iter_mut().zip(&dir[..len]).zip(pass.iter()) {
                        *d *= if ok { v } else { 0.0 };
                    }
                    acc[slot + 2].add(block_sum(d));
                } else {
                    with_factor!(focal.power, f => focal_values(f, q, y, v));
                }
                acc[slot].add(block_sum(v));
            };
            for r in r0..r1 {
                for t in 0..self.pairs {
                    let i = r * self.row_len + t + offset;
                    q[gathered] = k.pred.get(i);
                    y[gathered] = k.target.get(i);
                    if let Some(direction) = k.direction {
                        dir[gathered] = direction[i];
                    }
                    gathered += 1;
                    if gathered == BLOCK {
                        flush(BLOCK, &mut q, &y, &mut v, &mut d, &dir, &mut pass, &mut acc);
                        gathered = 0;
                    }
                }
            }
            if gathered > 0 {
                flush(
                    gathered, &mut q, &y, &mut v, &mut d, &dir, &mut pass, &mut acc,
                );
            }
        }
        acc.map(|c| c.value())
    }

    /// Adds the focal derivatives to the rows `rows` (consecutive rows of the gradient, the
    /// first being row `r0`), after the Tversky contributions are in place.
    #[inline(always)]
    pub fn gradient_rows(
        &self,
        k: &Kernel<'_>,
        r0: usize,
        rows: &mut [f64],
        coeffs: &[[f64; 3]; 2],
    ) {
        let mut p = [0.0; BLOCK];
        let mut q = [0.0; BLOCK];
        let mut y = [0.0; BLOCK];
        let mut d = [0.0; BLOCK];
        let mut pass = [false; BLOCK];
        let n_rows = rows.len() / self.row_len;
        for (slot, focal, offset) in [(0, self.back, 0), (1, self.fore, self.pairs)] {
            let [k1, k2, k3] = coeffs[slot];
            // Elements of these rows in blocks: (row, t) in order.
            let total = n_rows * self.pairs;
            let mut start = 0;
            while start < total {
                let len = BLOCK.min(total - start);
                for j in 0..len {
                    let (r, t) = ((start + j) / self.pairs, (start + j) % self.pairs);
                    let i = (r0 + r) * self.row_len + t + offset;
                    p[j] = k.pred.get(i);
                    y[j] = k.target.get(i);
                }
                let (q, pass, d) = (&mut q[..len], &mut pass[..len], &mut d[..len]);
                k.clip(&p[..len], q, pass);
                with_factor!(focal.power, f => focal_derivatives(f, focal.torch, q, &y[..len], d));
                for j in 0..len {
                    let (r, t) = ((start + j) / self.pairs, (start + j) % self.pairs);
                    let local = r * self.row_len + t + offset;
                    if pass[j] {
                        rows[local] += k1 * (k2 * (k3 * d[j]));
                    }
                }
                start += len;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block of hard labels (±0 and 1, one channel hot per position) with predictions inside,
    /// on and outside the clip bounds.
    fn hard_block(seed: u64) -> ([Buf; 2], [Buf; 2]) {
        let mut state = seed;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let (mut p, mut y) = ([[0.0; BLOCK]; 2], [[0.0; BLOCK]; 2]);
        for i in 0..BLOCK {
            let v = match i % 7 {
                0 => 0.0,
                1 => 1e-7,
                2 => 1.0,
                _ => next(),
            };
            p[0][i] = v;
            p[1][i] = 1.0 - v;
            let hot = (next() < 0.3) as usize;
            let zero = if i % 5 == 0 { -0.0 } else { 0.0 };
            y[hot][i] = 1.0;
            y[1 - hot][i] = zero;
        }
        (p, y)
    }

    fn bits(xs: &[f64]) -> Vec<u64> {
        xs.iter().map(|x| x.to_bits()).collect()
    }

    /// The pair kernels' one logarithm and reciprocal per position give the per-channel
    /// kernels' bits on hard labels, and refuse soft ones.
    #[test]
    fn pair_kernels_are_the_per_channel_kernels_bit_for_bit() {
        let bounds = [
            Bounds::of(ClipRule::Inclusive(1e-7, 1.0 - 1e-7)),
            Bounds::of(ClipRule::Strict(1e-7, 1.0 - 1e-7)),
        ];
        let powers = [
            PowPair::Zero,
            PowPair::Half,
            PowPair::One,
            PowPair::Two,
            PowPair::General(0.3, 0.3 - 1.0),
        ];
        let k = [
            Coeffs {
                tversky: [0.1, -0.2, 0.3],
                focal: [0.5, -0.25, 1.5],
            },
            Coeffs {
                tversky: [-0.4, 0.6, 0.05],
                focal: [0.7, 0.125, -2.0],
            },
        ];
        for (seed, &b) in bounds.iter().enumerate() {
            let (p, y) = hard_block(seed as u64 + 1);
            for &power in &powers {
                for second in [None, Some(power)] {
                    let (mut t0, mut t1) = ([[0.0; BLOCK]; 4], [[0.0; BLOCK]; 4]);
                    let done = with_pair_factors!(Some(power), second, a, c =>
                        fused_stats_pair::<_, _, true, false>(
                            a, c, b, [&p[0], &p[1]], [&y[0], &y[1]], &mut t0, &mut t1));
                    assert_eq!(done, Some(Some(true)));
                    for tversky in [true, false] {
                        let mut g = [[0.0; BLOCK]; 2];
                        let [g0, g1] = &mut g;
                        let done = with_pair_factors!(Some(power), second, a, c =>
                            fused_gradients_pair(a, c, [true, false], tversky, false, b,
                                [&k[0], &k[1]], [&p[0], &p[1]], [&y[0], &y[1]],
                                [&mut g0[..], &mut g1[..]]));
                        assert_eq!(done, Some(true));
                        let pairs = [(0, Some(power), &t0, true), (1, second, &t1, false)];
                        for (ch, own, pair_terms, torch) in pairs {
                            let mut t = [[0.0; BLOCK]; 4];
                            let [tp, fn_, fp, focal] = &mut t;
                            let mut own_g = [0.0; BLOCK];
                            with_factor!(own, f => {
                                fused_stats::<_, false, false>(
                                    f, b, &p[ch], &y[ch], tp, fn_, fp, focal);
                                fused_gradients(f, torch, tversky, false, b, &k[ch], &p[ch],
                                    &y[ch], &mut own_g);
                            });
                            for (own, pair) in t.iter().zip(pair_terms.iter()) {
                                assert_eq!(bits(own), bits(pair), "{power:?} {second:?} {ch}");
                            }
                            let what = format!("{power:?} {second:?} {ch} tversky {tversky}");
                            assert_eq!(bits(&own_g), bits(&g[ch]), "{what}");
                        }
                    }
                }
            }
            let mut soft = y;
            soft[0][17] = 0.5;
            soft[1][17] = 0.5;
            let (mut t0, mut t1) = ([[0.0; BLOCK]; 4], [[0.0; BLOCK]; 4]);
            let done = with_pair_factors!(Some(PowPair::Half), None::<PowPair>, a, c =>
                fused_stats_pair::<_, _, true, false>(
                    a, c, b, [&p[0], &p[1]], [&soft[0], &soft[1]], &mut t0, &mut t1));
            assert_eq!(done, Some(Some(false)));
            // A value outside [0, 1] (or not a float32 value where asked) is refused, soft or
            // hard labels alike.
            for (at, bad, float32) in [(3, 1.5, false), (9, -0.25, false), (11, 0.1, true)] {
                let mut q = p;
                q[1][at] = bad;
                let (mut t0, mut t1) = ([[0.0; BLOCK]; 4], [[0.0; BLOCK]; 4]);
                let done = with_pair_factors!(Some(PowPair::Two), None::<PowPair>, a, c => {
                    if float32 {
                        fused_stats_pair::<_, _, true, true>(
                            a, c, b, [&q[0], &q[1]], [&y[0], &y[1]], &mut t0, &mut t1)
                    } else {
                        fused_stats_pair::<_, _, true, false>(
                            a, c, b, [&q[0], &q[1]], [&y[0], &y[1]], &mut t0, &mut t1)
                    }
                });
                assert_eq!(done, Some(None), "{bad} at {at}");
            }
        }
    }
}
