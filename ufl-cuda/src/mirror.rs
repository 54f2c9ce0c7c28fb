//! The kernels replayed on the host: the same three passes, the same partition of the work
//! (`geometry.rs`), the same float32 expressions in the same order, the same summation tree
//! (`reduce.rs`), and library functions evaluated in f64 and rounded once, as the kernels do.
//!
//! It exists so that the algorithm the kernels implement — expressions, accumulation order and
//! all — can be checked against the oracle on any machine, GPU or not, and so that on a GPU the
//! device's Tversky statistics (sums of products, no library function involved) can be required
//! to equal the replay bit for bit. The library functions are the one place where device and
//! host may differ: each is within one ulp of exact on both, not necessarily the same ulp.

use crate::geometry::{FINALIZE_THREADS, STATISTICS, STATS_ITEMS, STATS_THREADS};
use crate::reduce::{block_sum, strided_block_sum};
use crate::spec::{
    KernelConvention, Spec, REDUCTION_MEAN, REDUCTION_PER_ITEM, REDUCTION_PER_ITEM_CLASS,
    REDUCTION_SUM,
};

/// Everything the three passes produce.
#[derive(Clone, Debug, PartialEq)]
pub struct Replay {
    /// The loss entries.
    pub loss: Vec<f32>,
    /// d(sum of the loss entries)/d(input), in the input's layout.
    pub grad: Vec<f32>,
    /// Per (item, class): TP, FN, FP, focal sum.
    pub stats: Vec<f32>,
    /// Per (item, class): the gradient coefficients g_TP, g_FN, g_FP and the focal scale.
    pub coef: Vec<f32>,
}

fn ln(x: f32) -> f32 {
    (x as f64).ln() as f32
}

fn pow(x: f32, e: f32) -> f32 {
    (x as f64).powf(e as f64) as f32
}

fn pow_positive(x: f32, e: f32) -> f32 {
    ((e as f64) * (x as f64).ln()).exp() as f32
}

fn clip(p: f32, lo: f32, hi: f32) -> (f32, bool) {
    let pass = p >= lo && p <= hi;
    let q = if p < lo {
        lo
    } else if p > hi {
        hi
    } else {
        p
    };
    (q, pass)
}

fn focal_value(q: f32, y: f32, modulated: bool, gamma: f32) -> f32 {
    let ce = (-y) * ln(q);
    if !modulated {
        return ce;
    }
    let factor = pow_positive(1.0 - q, gamma);
    factor * ce
}

fn focal_derivative(q: f32, y: f32, modulated: bool, gamma: f32) -> f32 {
    let dce = (-y) * (1.0 / q);
    if !modulated {
        return dce;
    }
    let ce = (-y) * ln(q);
    let base = 1.0 - q;
    let factor = pow_positive(base, gamma);
    let dfactor = -(gamma * pow_positive(base, gamma - 1.0));
    factor * dce + ce * dfactor
}

struct Tversky {
    num: f32,
    den: f32,
    ti: f32,
}

fn tversky(st: &[f32], delta: f32, smooth: f32) -> Tversky {
    let num = st[0] + smooth;
    let den = ((st[0] + delta * st[1]) + (1.0 - delta) * st[2]) + smooth;
    Tversky {
        num,
        den,
        ti: num / den,
    }
}

fn statistic_gradients(tv: &Tversky, delta: f32, g_ti: f32, coef: &mut [f32]) {
    let g_num = g_ti / tv.den;
    let g_den = g_ti * ((-tv.num / tv.den) / tv.den);
    coef[0] = g_num + g_den;
    coef[1] = delta * g_den;
    coef[2] = (1.0 - delta) * g_den;
}

/// Index of element (item, position, channel) of the input.
fn index(spec: &Spec, b: usize, s: usize, c: usize) -> usize {
    let v = &spec.variant;
    let n = spec.geometry.spatial as usize;
    if v.channels_last {
        (b * n + s) * v.channels + c
    } else {
        (b * v.channels + c) * n + s
    }
}

/// Prediction and target of class `c` at position `s` of item `b`, after the single-channel
/// expansion.
fn load(spec: &Spec, pred: &[f32], target: &[f32], b: usize, s: usize, c: usize) -> (f32, f32) {
    if spec.variant.single_channel() {
        let i = b * spec.geometry.spatial as usize + s;
        if c == 0 {
            (1.0 - pred[i], 1.0 - target[i])
        } else {
            (pred[i], target[i])
        }
    } else {
        let i = index(spec, b, s, c);
        (pred[i], target[i])
    }
}

fn modulated(spec: &Spec, c: usize) -> bool {
    let v = &spec.variant;
    match v.convention {
        KernelConvention::Original => v.symmetric || c == 0,
        KernelConvention::Paper => v.symmetric || spec.rare[c] == 0,
    }
}

/// Pass 1: the partial sums of every statistics block.
pub fn stats_pass(spec: &Spec, pred: &[f32], target: &[f32]) -> Vec<f32> {
    let g = &spec.geometry;
    let v = &spec.variant;
    let sc = &spec.scalars;
    let classes = v.classes;
    let group = g.group as usize;
    let threads = STATS_THREADS as usize;
    let mut partial = vec![0.0f32; g.partial_len];
    // Per thread, per class of the group: TP, FN, FP, focal.
    let mut acc = vec![[0.0f32; STATISTICS]; threads * group];
    for block in 0..g.stats_blocks {
        let (b, grp, chunk) = g.stats_block(block);
        let (b, first_class) = (b as usize, grp as usize * group);
        acc.iter_mut().for_each(|a| *a = [0.0; STATISTICS]);
        for t in 0..threads {
            for it in 0..STATS_ITEMS {
                let s0 = g.stats_position(chunk, it, t as u32, v.stats_vec as u32);
                if s0 >= g.spatial as u64 {
                    break;
                }
                for k in 0..v.stats_vec {
                    let s = s0 as usize + k;
                    let mut q = [0.0f32; crate::geometry::MAX_GROUP];
                    let mut y = [0.0f32; crate::geometry::MAX_GROUP];
                    for gi in 0..group {
                        let c = first_class + gi;
                        if c >= classes {
                            continue;
                        }
                        let (p, yy) = load(spec, pred, target, b, s, c);
                        q[gi] = clip(p, sc.lo, sc.hi).0;
                        y[gi] = yy;
                        if v.parts.tversky() {
                            let a = &mut acc[t * group + gi];
                            a[0] += y[gi] * q[gi];
                            a[1] += y[gi] * (1.0 - q[gi]);
                            a[2] += (1.0 - y[gi]) * q[gi];
                        }
                    }
                    if !v.parts.focal() {
                        continue;
                    }
                    match v.convention {
                        KernelConvention::Original => {
                            let back = focal_value(q[0], y[0], true, sc.gamma);
                            let fore = focal_value(q[1], y[1], v.symmetric, sc.gamma);
                            let a = &mut acc[t * group];
                            a[3] += (1.0 - sc.delta) * back + sc.delta * fore;
                        }
                        KernelConvention::Paper => {
                            for gi in 0..group {
                                let c = first_class + gi;
                                if c < classes {
                                    acc[t * group + gi][3] +=
                                        focal_value(q[gi], y[gi], modulated(spec, c), sc.gamma);
                                }
                            }
                        }
                    }
                }
            }
        }
        for gi in 0..group {
            let c = first_class + gi;
            if c >= classes {
                break;
            }
            let plane = b * classes + c;
            for j in 0..STATISTICS {
                let per_thread: Vec<f32> = (0..threads).map(|t| acc[t * group + gi][j]).collect();
                partial[g.partial_index(plane, chunk as usize, j)] = block_sum(&per_thread);
            }
        }
    }
    partial
}

/// Pass 2: combined statistics, gradient coefficients and the loss.
pub fn finalize_pass(spec: &Spec, partial: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let g = &spec.geometry;
    let v = &spec.variant;
    let sc = &spec.scalars;
    let classes = v.classes;
    let mut stats = vec![0.0f32; g.planes * STATISTICS];
    for plane in 0..g.planes {
        for j in 0..STATISTICS {
            stats[plane * STATISTICS + j] =
                strided_block_sum(g.chunks as usize, FINALIZE_THREADS as usize, |k| {
                    partial[g.partial_index(plane, k, j)]
                });
        }
    }
    let mut coef = vec![0.0f32; g.planes * STATISTICS];
    let mut loss = vec![0.0f32; spec.loss_len];
    let (one, delta) = (1.0f32, sc.delta);
    let batch = g.batch as usize;
    match v.convention {
        KernelConvention::Original => {
            let (mut w_tversky, mut w_focal) = (one, one);
            if sc.has_weight != 0 {
                w_tversky = sc.lambda;
                w_focal = one - sc.lambda;
            }
            let (mut tversky_part, mut focal_part) = (0.0f32, 0.0f32);
            if v.parts.tversky() {
                let count = (2 * g.batch) as f32;
                let neg_gamma = -sc.gamma;
                let mut total = 0.0f32;
                for b in 0..batch {
                    for c in 0..2 {
                        let plane = b * 2 + c;
                        let tv = tversky(&stats[plane * 4..], delta, sc.smooth);
                        let x = one - tv.ti;
                        let (value, dx) = if v.symmetric || c == 1 {
                            let f = pow(x, neg_gamma);
                            (x * f, f + x * (neg_gamma * pow(x, neg_gamma - one)))
                        } else {
                            (x, one)
                        };
                        total += value;
                        let g_ti = -(w_tversky * (dx / count));
                        statistic_gradients(&tv, delta, g_ti, &mut coef[plane * 4..]);
                    }
                }
                tversky_part = total / count;
            }
            if v.parts.focal() {
                let count = (g.batch as u64 * g.spatial as u64) as f32;
                let mut total = 0.0f32;
                for b in 0..batch {
                    total += stats[(b * 2) * 4 + 3];
                }
                focal_part = total / count;
                let g_position = w_focal / count;
                for plane in 0..g.planes {
                    coef[plane * 4 + 3] = g_position;
                }
            }
            loss[0] = match (v.parts.tversky(), v.parts.focal()) {
                (true, true) if sc.has_weight != 0 => {
                    w_tversky * tversky_part + w_focal * focal_part
                }
                (true, true) => tversky_part + focal_part,
                (true, false) => tversky_part,
                _ => focal_part,
            };
        }
        KernelConvention::Paper => {
            let lambda = sc.lambda;
            let outer = if sc.reduction == REDUCTION_MEAN {
                one / g.batch as f32
            } else {
                one
            };
            let region = if sc.class_mean != 0 {
                one / classes as f32
            } else {
                one
            };
            let n = g.spatial as f32;
            let mut total = 0.0f32;
            for b in 0..batch {
                let mut item = 0.0f32;
                for c in 0..classes {
                    let plane = b * classes + c;
                    let is_rare = spec.rare[c] != 0;
                    let w = if is_rare { delta } else { one - delta };
                    let mut value = 0.0f32;
                    if v.parts.focal() {
                        coef[plane * 4 + 3] = ((outer * lambda) * w) / n;
                        value += lambda * ((w * stats[plane * 4 + 3]) / n);
                    }
                    if v.parts.tversky() {
                        let tv = tversky(&stats[plane * 4..], delta, sc.smooth);
                        let xr = one - tv.ti;
                        let (term, dterm) = if v.symmetric || is_rare {
                            let e = one - sc.gamma;
                            (pow(xr, e), e * pow(xr, e - one))
                        } else {
                            (xr, one)
                        };
                        value += (one - lambda) * (region * term);
                        let g_ti = -(((outer * (one - lambda)) * region) * dterm);
                        statistic_gradients(&tv, delta, g_ti, &mut coef[plane * 4..]);
                    }
                    if sc.reduction == REDUCTION_PER_ITEM_CLASS {
                        loss[plane] = value;
                    }
                    item += value;
                    total += value;
                }
                if sc.reduction == REDUCTION_PER_ITEM {
                    loss[b] = item;
                }
            }
            if sc.reduction == REDUCTION_MEAN {
                loss[0] = total / g.batch as f32;
            }
            if sc.reduction == REDUCTION_SUM {
                loss[0] = total;
            }
        }
    }
    (stats, coef, loss)
}

fn class_gradient(spec: &Spec, coef: &[f32], b: usize, c: usize, p: f32, t: f32) -> f32 {
    let v = &spec.variant;
    let sc = &spec.scalars;
    let (q, pass) = clip(p, sc.lo, sc.hi);
    if !pass {
        return 0.0;
    }
    let k = &coef[(b * v.classes + c) * 4..];
    let one = 1.0f32;
    let tversky = |g: f32| g + ((t * k[0] - t * k[1]) + (one - t) * k[2]);
    let mut g = 0.0f32;
    match v.convention {
        KernelConvention::Original => {
            if v.parts.tversky() {
                g = tversky(g);
            }
            if v.parts.focal() {
                let d = focal_derivative(q, t, modulated(spec, c), sc.gamma);
                let w = if c == 0 { one - sc.delta } else { sc.delta };
                g += k[3] * (w * d);
            }
        }
        KernelConvention::Paper => {
            if v.parts.focal() {
                let d = focal_derivative(q, t, modulated(spec, c), sc.gamma);
                g += k[3] * d;
            }
            if v.parts.tversky() {
                g = tversky(g);
            }
        }
    }
    g
}

/// Pass 3: the gradient in the input's layout.
pub fn gradient_pass(spec: &Spec, pred: &[f32], target: &[f32], coef: &[f32]) -> Vec<f32> {
    let v = &spec.variant;
    let n = spec.geometry.spatial as usize;
    (0..pred.len())
        .map(|e| {
            let (p, t) = (pred[e], target[e]);
            if v.single_channel() {
                let b = e / n;
                let g1 = class_gradient(spec, coef, b, 1, p, t);
                let g0 = class_gradient(spec, coef, b, 0, 1.0 - p, 1.0 - t);
                return g1 - g0;
            }
            let (b, c) = if v.channels_last {
                ((e / v.channels) / n, e % v.channels)
            } else {
                ((e / n) / v.channels, (e / n) % v.channels)
            };
            if c >= v.classes {
                0.0
            } else {
                class_gradient(spec, coef, b, c, p, t)
            }
        })
        .collect()
}

/// All three passes on float32 inputs in the problem's layout.
pub fn replay(spec: &Spec, pred: &[f32], target: &[f32]) -> Replay {
    let partial = stats_pass(spec, pred, target);
    let (stats, coef, loss) = finalize_pass(spec, &partial);
    let grad = gradient_pass(spec, pred, target, &coef);
    Replay {
        loss,
        grad,
        stats,
        coef,
    }
}
