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
//! processed in blocks of [`BLOCK`]: each channel's values are gathered into small arrays and
//! every step is a loop over them that the compiler vectorises. The work-item functions are
//! compiled three times — for AVX-512, for AVX2 and for the baseline — and chosen at run time;
//! the arithmetic is the same IEEE operations in each, so the results are identical bit for bit.

use super::math::{ln, PowGeneral, PowHalf, PowOne, PowPair, PowTwo, PowZero, Power};
use super::sum::{block_sum, fold_lanes, Compensated, BLOCK, LANES};
use crate::spec::tensor::Grid;

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
    pub pred: &'a [f64],
    pub target: &'a [f64],
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

/// The focal factor `(1-q)^γ` of `terms::focal`, or none.
trait Factor: Copy {
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

/// Whether every value is a probability the dtype can hold.
#[inline(always)]
fn valid_values(xs: &[f64], float32: bool) -> bool {
    let mut ok = true;
    if float32 {
        for &v in xs {
            ok &= (0.0..=1.0).contains(&v) & ((v as f32 as f64) == v);
        }
    } else {
        for &v in xs {
            ok &= (0.0..=1.0).contains(&v);
        }
    }
    ok
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
            ok &= valid_values(&self.pred[range.clone()], self.float32);
            ok &= valid_values(&self.target[range.clone()], self.float32);
            if let Some(d) = self.direction {
                ok &= finite_values(&d[range]);
            }
        } else {
            for c in 0..g.classes {
                let start = g.at(b, s, c);
                let range = start..start + len;
                ok &= valid_values(&self.pred[range.clone()], self.float32);
                ok &= valid_values(&self.target[range.clone()], self.float32);
                if let Some(d) = self.direction {
                    ok &= finite_values(&d[range]);
                }
            }
        }
        ok
    }

    /// Copies caller channel `c` at positions `s..s+len` of item `b` into `out`.
    #[inline(always)]
    fn gather_channel(&self, src: &[f64], b: usize, s: usize, c: usize, out: &mut Buf, len: usize) {
        let g = self.grid;
        let start = g.at(b, s, c);
        if g.channels_last {
            let stride = g.classes;
            if stride == 2 {
                let pairs = &src[start..start + 2 * len - 1];
                for i in 0..len {
                    out[i] = pairs[2 * i];
                }
            } else {
                for i in 0..len {
                    out[i] = src[start + i * stride];
                }
            }
        } else {
            out[..len].copy_from_slice(&src[start..start + len]);
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
    fn deinterleave(&self, src: &[f64], b: usize, s: usize, out: &mut [Buf; 2], len: usize) {
        let start = self.grid.at(b, s, 0);
        let [c0, c1] = out;
        for (i, pair) in src[start..start + 2 * len].chunks_exact(2).enumerate() {
            c0[i] = pair[0];
            c1[i] = pair[1];
        }
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
            Expansion::Direct => self.gather_channel(dir, b, s, ch, v, len),
            Expansion::Single { .. } => {
                self.gather_channel(dir, b, s, 0, v, len);
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
                &self.pred[start..start + len],
                &self.target[start..start + len],
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
        let pair = self.interleaved_pair();
        let (mut pair_p, mut pair_y, mut pair_dir) =
            ([[0.0; BLOCK]; 2], [[0.0; BLOCK]; 2], [[0.0; BLOCK]; 2]);
        let mut s = item.s0;
        while s < item.s1 {
            let len = BLOCK.min(item.s1 - s);
            if !self.block_is_valid(item.b, s, len) {
                return None;
            }
            if pair {
                self.deinterleave(self.pred, item.b, s, &mut pair_p, len);
                self.deinterleave(self.target, item.b, s, &mut pair_y, len);
                if let Some(direction) = self.direction {
                    self.deinterleave(direction, item.b, s, &mut pair_dir, len);
                }
            }
            for (ch, role) in self.roles.iter().enumerate() {
                let a = &mut acc[ch];
                let (p, y) = if pair {
                    (&pair_p[ch][..len], &pair_y[ch][..len])
                } else {
                    self.inputs(item.b, s, ch, &mut pb, &mut yb, len)
                };
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
        let (mut pb, mut yb, mut qb, mut db, mut g0b, mut gb) = (
            [0.0; BLOCK],
            [0.0; BLOCK],
            [0.0; BLOCK],
            [0.0; BLOCK],
            [0.0; BLOCK],
            [0.0; BLOCK],
        );
        let mut passb = [false; BLOCK];
        let pair = self.interleaved_pair();
        let in_place = !pair && self.expansion == Expansion::Direct;
        let (mut pair_p, mut pair_y) = ([[0.0; BLOCK]; 2], [[0.0; BLOCK]; 2]);
        let mut s = item.s0;
        while s < item.s1 {
            let len = BLOCK.min(item.s1 - s);
            let local = s - item.s0;
            if pair {
                self.deinterleave(self.pred, item.b, s, &mut pair_p, len);
                self.deinterleave(self.target, item.b, s, &mut pair_y, len);
            }
            for (ch, role) in self.roles.iter().enumerate() {
                let k = &coeffs[ch];
                let (p, y) = if pair {
                    (&pair_p[ch][..len], &pair_y[ch][..len])
                } else {
                    self.inputs(item.b, s, ch, &mut pb, &mut yb, len)
                };
                let (q, pass, d) = (&mut qb[..len], &mut passb[..len], &mut db[..len]);
                self.clip(p, q, pass);
                if let Some(focal) = role.focal {
                    with_factor!(focal.power, f => focal_derivatives(f, focal.torch, q, y, d));
                }
                if in_place {
                    if let Some(dst) = out.channel_mut(ch, local, len) {
                        element_gradients(role, k, self.tversky_first, y, d, pass, dst);
                        continue;
                    }
                }
                let g = &mut gb[..len];
                element_gradients(role, k, self.tversky_first, y, d, pass, g);
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

/// Every element's derivative: `y·g_TP - y·g_FN + (1-y)·g_FP` and `k1·(k2·(k3·d))`, each added
/// to 0 where the clip passes, in the convention's order.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn element_gradients(
    role: &Role,
    k: &Coeffs,
    tversky_first: bool,
    y: &[f64],
    d: &[f64],
    pass: &[bool],
    g: &mut [f64],
) {
    let [g_tp, g_fn, g_fp] = k.tversky;
    let [k1, k2, k3] = k.focal;
    let elements = g.iter_mut().zip(y).zip(d).zip(pass);
    match (role.tversky, role.focal.is_some(), tversky_first) {
        (true, true, true) => {
            for (((g, &y), &d), &pass) in elements {
                let t = y * g_tp - y * g_fn + (1.0 - y) * g_fp;
                let f = k1 * (k2 * (k3 * d));
                *g = if pass { (0.0 + t) + f } else { 0.0 };
            }
        }
        (true, true, false) => {
            for (((g, &y), &d), &pass) in elements {
                let t = y * g_tp - y * g_fn + (1.0 - y) * g_fp;
                let f = k1 * (k2 * (k3 * d));
                *g = if pass { (0.0 + f) + t } else { 0.0 };
            }
        }
        (true, false, _) => {
            for (((g, &y), _), &pass) in elements {
                let t = y * g_tp - y * g_fn + (1.0 - y) * g_fp;
                *g = if pass { 0.0 + t } else { 0.0 };
            }
        }
        (false, true, _) => {
            for (((g, _), &d), &pass) in elements {
                let f = k1 * (k2 * (k3 * d));
                *g = if pass { 0.0 + f } else { 0.0 };
            }
        }
        (false, false, _) => g.fill(0.0),
    }
}

/// The part of the gradient one item writes.
pub enum ItemOut<'a> {
    /// Channels-last: positions `s0..s1` of the item, all channels interleaved.
    Interleaved { data: &'a mut [f64], classes: usize },
    /// Channels-first: one slice per caller channel.
    Planar(Vec<&'a mut [f64]>),
}

impl ItemOut<'_> {
    /// Positions `local..local+len` of caller channel `c`, where they are contiguous.
    #[inline(always)]
    fn channel_mut(&mut self, c: usize, local: usize, len: usize) -> Option<&mut [f64]> {
        match self {
            ItemOut::Planar(slices) => Some(&mut slices[c][local..local + len]),
            ItemOut::Interleaved { .. } => None,
        }
    }

    /// Writes channels 0 and 1 of a two-channel interleaved part.
    #[inline(always)]
    fn write_pair(&mut self, local: usize, c0: &[f64], c1: &[f64]) {
        match self {
            ItemOut::Interleaved { data, .. } => {
                let dst = &mut data[2 * local..2 * (local + c0.len())];
                for (i, pair) in dst.chunks_exact_mut(2).enumerate() {
                    pair[0] = c0[i];
                    pair[1] = c1[i];
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
                    data[(local + i) * *classes + c] = v;
                }
            }
            ItemOut::Planar(slices) => {
                slices[c][local..local + values.len()].copy_from_slice(values);
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
                    q[gathered] = k.pred[i];
                    y[gathered] = k.target[i];
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
                    p[j] = k.pred[i];
                    y[j] = k.target[i];
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
