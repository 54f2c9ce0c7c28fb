//! What each convention does with the sums of the statistics pass: the per-(item, class)
//! Tversky indices and focal means, the loss and its reduction, and the factors the gradient
//! pass needs. These are the scalar parts of `original.rs`, `paper.rs` and `monai.rs`, written
//! with the same expressions in the same order, and generic over [`Real`]: in `f64` for the
//! oracle's answer, in [`Dual`](crate::numbers::real::Dual) for a JVP (the sums then carry
//! their tangents).

use super::kernel::Coeffs;
use crate::conventions::params::Reduction;
use crate::conventions::terms::{RegionTerm, Tversky};
use crate::numbers::real::{PowRule, Real};

/// Which loss the sums are assembled into, with its parameters in f64.
#[derive(Clone, Debug, PartialEq)]
pub enum Tail {
    /// `original`'s dice_loss / tversky_loss (`1 - TI`), dice_coefficient (`TI`) and
    /// focal_tversky_loss (`(1 - TI)^γ`): the mean over every (item, class).
    OriginalRegion {
        term: RegionTerm<f64>,
        delta: f64,
        smooth: f64,
    },
    /// `original`'s sym_/asym_unified_focal_loss (Tversky part on classes 0, 1; focal part over
    /// `positions` pairs), or one of its parts alone (`only`: the symmetric/asymmetric focal
    /// and focal Tversky losses, each the unified loss's term with factor 1).
    OriginalUnified {
        only: Option<Part>,
        symmetric: bool,
        delta: f64,
        gamma: f64,
        weight: Option<f64>,
        /// `K.epsilon()` in the tensor dtype.
        smooth: f64,
        positions: usize,
    },
    /// `paper`'s sym_/asym_unified_focal_loss, or one of its parts alone (`only`, with
    /// `lambda` 1 for the focal part and 0 for the Tversky part).
    Paper {
        only: Option<Part>,
        symmetric: bool,
        delta: f64,
        gamma: f64,
        eps: f64,
        lambda: f64,
        rare: Vec<bool>,
        /// Never [`Reduction::PerElement`], which `paper` does not have (the plan refuses it).
        reduction: Reduction,
        class_mean: bool,
    },
    /// MONAI's `AsymmetricUnifiedFocalLoss`.
    Monai { delta: f64, gamma: f64, weight: f64 },
    /// MONAI's `AsymmetricFocalLoss` (`focal`) or `AsymmetricFocalTverskyLoss`, alone.
    MonaiPart {
        focal: bool,
        delta: f64,
        gamma: f64,
        /// The smoothing of the Tversky index (and the clip bound).
        eps: f64,
        /// Never the focal class's [`Reduction::PerElement`] (the plan refuses it).
        reduction: Reduction,
    },
}

/// One part of `original`'s unified losses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// symmetric_/asymmetric_focal_tversky_loss.
    Tversky,
    /// symmetric_/asymmetric_focal_loss.
    Focal,
}

/// The sums of the statistics pass, in `T`.
pub struct Sums<T> {
    /// Per (item, internal channel), item-major: `[TP, FN, FP, Σ focal]`.
    pub channels: Vec<[T; 4]>,
    /// The original's depth-sliced focal part on rank 5: `[Σ back, Σ fore]`.
    pub depth: Option<[T; 2]>,
}

/// The loss and the gradient pass's factors.
pub struct TailOut<T> {
    pub loss: Vec<T>,
    pub loss_shape: Vec<usize>,
    /// Per (item, internal channel).
    pub coeffs: Vec<[[T; 3]; 2]>,
    /// The depth-sliced focal part's `[back, fore]` factors.
    pub depth: [[T; 3]; 2],
}

impl<T: Real> TailOut<T> {
    /// The factors in f64.
    pub fn coeffs_f64(&self) -> (Vec<Coeffs>, [[f64; 3]; 2]) {
        let v = |a: &[T; 3]| a.map(|x| x.val());
        (
            self.coeffs
                .iter()
                .map(|[t, f]| Coeffs {
                    tversky: v(t),
                    focal: v(f),
                })
                .collect(),
            [v(&self.depth[0]), v(&self.depth[1])],
        )
    }
}

impl Tail {
    /// Assembles the loss of `batch` items with `channels` internal channels each.
    pub fn run<T: Real>(
        &self,
        batch: usize,
        channels: usize,
        spatial: usize,
        sums: &Sums<T>,
    ) -> TailOut<T> {
        let one = T::one();
        let zero3 = [T::zero(); 3];
        let mut coeffs = vec![[zero3, zero3]; batch * channels];
        let mut depth = [zero3, zero3];
        let stat = |b: usize, c: usize| sums.channels[b * channels + c];
        let (loss, loss_shape) = match *self {
            Tail::OriginalRegion {
                term,
                delta,
                smooth,
            } => {
                let rule = PowRule::TensorFlow;
                let (delta, smooth) = (T::cst(delta), T::cst(smooth));
                let count = T::cst((batch * channels) as f64);
                let mut terms = Vec::with_capacity(batch * channels);
                for b in 0..batch {
                    for c in 0..channels {
                        let [tp, fn_, fp, _] = stat(b, c);
                        let st = Tversky::from_sums(tp, fn_, fp, delta, smooth);
                        let x = one - st.ti;
                        let (value, g_ti) = match term {
                            RegionTerm::OneMinusTi => (x, -one),
                            RegionTerm::Ti => (st.ti, one),
                            RegionTerm::Pow(g) => {
                                let g = T::cst(g);
                                (x.pow_with(g, rule), -rule.derivative(x, g))
                            }
                        };
                        terms.push(value);
                        let (a, b2, c2) = st.statistic_gradients(delta, one * (g_ti / count));
                        coeffs[b * channels + c][0] = [a, b2, c2];
                    }
                }
                (vec![T::sum_terms(terms) / count], vec![])
            }
            Tail::OriginalUnified {
                only,
                symmetric,
                delta,
                gamma,
                weight,
                smooth,
                positions,
            } => {
                let rule = PowRule::TensorFlow;
                let (delta, gamma, eps) = (T::cst(delta), T::cst(gamma), T::cst(smooth));
                let weight = weight.map(T::cst);
                let (w_ftl, w_fl) = match weight {
                    Some(w) => (w, one - w),
                    None => (one, one),
                };
                // tversky_part
                let count = T::cst((2 * batch) as f64);
                let neg_gamma = -gamma;
                let mut terms = Vec::with_capacity(2 * batch);
                let tversky_batch = if only == Some(Part::Focal) { 0 } else { batch };
                for b in 0..tversky_batch {
                    for c in 0..2 {
                        let [tp, fn_, fp, _] = stat(b, c);
                        let st = Tversky::from_sums(tp, fn_, fp, delta, eps);
                        let x = one - st.ti;
                        let (value, dx) = if symmetric || c == 1 {
                            let f = x.pow_with(neg_gamma, rule);
                            (x * f, f + x * rule.derivative(x, neg_gamma))
                        } else {
                            (x, one)
                        };
                        terms.push(value);
                        let (a, b2, c2) = st.statistic_gradients(delta, -(w_ftl * (dx / count)));
                        coeffs[b * channels + c][0] = [a, b2, c2];
                    }
                }
                let ftl = T::sum_terms(terms) / count;
                if only == Some(Part::Tversky) {
                    return TailOut {
                        loss: vec![ftl],
                        loss_shape: vec![],
                        coeffs,
                        depth,
                    };
                }
                // focal_part
                let (back, fore) = match sums.depth {
                    Some([back, fore]) => (back, fore),
                    None => (
                        T::sum_terms((0..batch).map(|b| stat(b, 0)[3])),
                        T::sum_terms((0..batch).map(|b| stat(b, 1)[3])),
                    ),
                };
                let count = T::cst(positions as f64);
                let g_pos = w_fl / count;
                let fl = ((one - delta) * back + delta * fore) / count;
                let back_k = [one, g_pos, one - delta];
                let fore_k = [one, g_pos, delta];
                if sums.depth.is_some() {
                    depth = [back_k, fore_k];
                } else {
                    for b in 0..batch {
                        coeffs[b * channels][1] = back_k;
                        coeffs[b * channels + 1][1] = fore_k;
                    }
                }
                let loss = match (only, weight) {
                    (Some(_), _) => fl,
                    (None, Some(_)) => w_ftl * ftl + w_fl * fl,
                    (None, None) => ftl + fl,
                };
                (vec![loss], vec![])
            }
            Tail::Paper {
                only,
                symmetric,
                delta,
                gamma,
                eps,
                lambda,
                ref rare,
                reduction,
                class_mean,
            } => {
                let rule = PowRule::TensorFlow;
                let (delta, gamma, eps, lambda) =
                    (T::cst(delta), T::cst(gamma), T::cst(eps), T::cst(lambda));
                let n = T::cst(spatial as f64);
                let region_scale = if class_mean {
                    one / T::cst(channels as f64)
                } else {
                    one
                };
                let outer_weight = match reduction {
                    Reduction::Mean => one / T::cst(batch as f64),
                    Reduction::Sum
                    | Reduction::PerItem
                    | Reduction::PerItemClass
                    | Reduction::PerElement => one,
                };
                let mut per_bc = Vec::with_capacity(batch * channels);
                for b in 0..batch {
                    for (c, &is_rare) in rare.iter().enumerate() {
                        let [tp, fn_, fp, focal] = stat(b, c);
                        let w = if is_rare { delta } else { one - delta };
                        let mut value = T::zero();
                        if only != Some(Part::Tversky) {
                            let g_elem = outer_weight * lambda * w / n;
                            value = value + lambda * (w * focal / n);
                            coeffs[b * channels + c][1] = [one, one, g_elem];
                        }
                        if only == Some(Part::Focal) {
                            per_bc.push(value);
                            continue;
                        }
                        let st = Tversky::from_sums(tp, fn_, fp, delta, eps);
                        let xr = one - st.ti;
                        let (term, dterm) = if symmetric || is_rare {
                            let e = one - gamma;
                            (xr.pow_with(e, rule), rule.derivative(xr, e))
                        } else {
                            (xr, one)
                        };
                        value = value + (one - lambda) * (region_scale * term);
                        let g_ti = -(outer_weight * (one - lambda) * region_scale * dterm);
                        let (a, b2, c2) = st.statistic_gradients(delta, g_ti);
                        coeffs[b * channels + c][0] = [a, b2, c2];
                        per_bc.push(value);
                    }
                }
                match reduction {
                    Reduction::PerItemClass => (per_bc, vec![batch, channels]),
                    Reduction::PerItem => (
                        per_bc
                            .chunks(channels)
                            .map(|r| T::sum_terms(r.iter().copied()))
                            .collect(),
                        vec![batch],
                    ),
                    Reduction::Sum => (vec![T::sum_terms(per_bc)], vec![]),
                    Reduction::Mean => (vec![T::sum_terms(per_bc) / T::cst(batch as f64)], vec![]),
                    Reduction::PerElement => {
                        unreachable!("the fast plan builds no paper tail that reduces per element")
                    }
                }
            }
            Tail::Monai {
                delta,
                gamma,
                weight,
            } => {
                let (delta, gamma, weight) = (T::cst(delta), T::cst(gamma), T::cst(weight));
                let eps = T::cst(crate::spec::registry::MONAI_DEFAULT_EPSILON);
                // AsymmetricFocalLoss: the mean over (items, 2 classes, positions).
                let count = T::cst((2 * batch * spatial) as f64);
                let parts = MonaiParts {
                    batch,
                    channels,
                    delta,
                };
                let f = parts.focal(&stat, weight, one / count, &mut coeffs) / count;
                // AsymmetricFocalTverskyLoss: the mean over (items, 2).
                let items = T::cst((2 * batch) as f64);
                let g = (one - weight, one / items);
                let terms = parts.tversky(&stat, gamma, eps, g, &mut coeffs);
                let t = T::sum_terms(terms) / items;
                (vec![weight * f + (one - weight) * t], vec![])
            }
            Tail::MonaiPart {
                focal: true,
                delta,
                gamma: _,
                eps: _,
                reduction,
            } => {
                let count = T::cst((2 * batch * spatial) as f64);
                let g_entry = match reduction {
                    Reduction::Mean => one / count,
                    _ => one,
                };
                let parts = MonaiParts {
                    batch,
                    channels,
                    delta: T::cst(delta),
                };
                let total = parts.focal(&stat, one, g_entry, &mut coeffs);
                let loss = match reduction {
                    Reduction::Mean => total / count,
                    _ => total,
                };
                (vec![loss], vec![])
            }
            Tail::MonaiPart {
                focal: false,
                delta,
                gamma,
                eps,
                reduction,
            } => {
                let items = T::cst((2 * batch) as f64);
                let g_entry = match reduction {
                    Reduction::Mean => one / items,
                    _ => one,
                };
                let parts = MonaiParts {
                    batch,
                    channels,
                    delta: T::cst(delta),
                };
                let g = (one, g_entry);
                let terms = parts.tversky(&stat, T::cst(gamma), T::cst(eps), g, &mut coeffs);
                match reduction {
                    Reduction::PerItemClass => (terms, vec![batch, 2]),
                    Reduction::Sum => (vec![T::sum_terms(terms)], vec![]),
                    _ => (vec![T::sum_terms(terms) / items], vec![]),
                }
            }
        };
        TailOut {
            loss,
            loss_shape,
            coeffs,
            depth,
        }
    }
}

/// The two classes of MONAI's `AsymmetricUnifiedFocalLoss`, shared by it and by the part losses
/// alone: the sums of the statistics pass into each part's terms and gradient factors.
struct MonaiParts<T> {
    batch: usize,
    channels: usize,
    delta: T,
}

impl<T: Real> MonaiParts<T> {
    /// `AsymmetricFocalLoss`: Σ over (items, 2 classes) of `w_c · Σ focal`, with `w = [1-δ, δ]`
    /// (the focal factor `(1-q₀)^γ` is in channel 0's sum); the gradient factors of channel
    /// `c` are `[outer, g_entry, w_c]`.
    fn focal(
        &self,
        stat: &impl Fn(usize, usize) -> [T; 4],
        outer: T,
        g_entry: T,
        coeffs: &mut [[[T; 3]; 2]],
    ) -> T {
        let w = [T::one() - self.delta, self.delta];
        let terms = (0..self.batch).flat_map(|b| (0..2).map(move |c| (b, c)));
        let total = T::sum_terms(terms.map(|(b, c)| w[c] * stat(b, c)[3]));
        for b in 0..self.batch {
            for (c, &wc) in w.iter().enumerate() {
                coeffs[b * self.channels + c][1] = [outer, g_entry, wc];
            }
        }
        total
    }

    /// `AsymmetricFocalTverskyLoss`: `[1 - TI₀, (1 - TI₁)^(1-γ)]` per item, item-major; the
    /// gradient factors of each index are those of `-(scale · (g_entry · dterm))`, with `(scale,
    /// g_entry) = g`.
    fn tversky(
        &self,
        stat: &impl Fn(usize, usize) -> [T; 4],
        gamma: T,
        eps: T,
        (scale, g_entry): (T, T),
        coeffs: &mut [[[T; 3]; 2]],
    ) -> Vec<T> {
        let (one, rule) = (T::one(), PowRule::Torch);
        let mut terms = Vec::with_capacity(2 * self.batch);
        for b in 0..self.batch {
            for c in 0..2 {
                let [tp, fn_, fp, _] = stat(b, c);
                let st = Tversky::from_sums(tp, fn_, fp, self.delta, eps);
                let x = one - st.ti;
                let (v, dx) = if c == 0 {
                    (x, one)
                } else {
                    let e = one - gamma;
                    (x.pow_with(e, rule), rule.derivative(x, e))
                };
                terms.push(v);
                let (a, b2, c2) = st.statistic_gradients(self.delta, -(scale * (g_entry * dx)));
                coeffs[b * self.channels + c][0] = [a, b2, c2];
            }
        }
        terms
    }
}
