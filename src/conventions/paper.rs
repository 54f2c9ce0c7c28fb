//! The `paper` convention: equations (19)–(22) of the paper, generalised.
//!
//! Any rank ≥ 2 in either layout, any number of classes, a set `R` of rare classes (default:
//! every class but 0), probabilities or logits (softmax over classes for C ≥ 2, sigmoid for a
//! single channel, fused in so that the gradient is with respect to the logits). A single
//! channel `p` stands for the two classes `[1-p, p]` (and its target `t` for `[1-t, t]`), with
//! class 1 rare. With `q = clip(p, eps, 1-eps)` and `mTI_c = TI(δ, eps)` per item:
//!
//! - focal part of item b, class c: `F_bc = (1/N) Σ_s w_c·m_c·CE`, `w_c = δ` for `c ∈ R` and
//!   `1-δ` otherwise; `m_c = (1-q)^γ`, except for `c ∈ R` in the asymmetric loss, where `m_c = 1`;
//! - focal Tversky part: `T_bc = (1 - mTI_c)^(1-γ)`, except for `c ∉ R` in the asymmetric loss,
//!   where `T_bc = 1 - mTI_c`; divided by C when `region = class-mean`;
//! - unified: `λ·F_bc + (1-λ)·T_bc`.
//!
//! Reductions: `mean` is `(1/B) Σ_b Σ_c`, `sum` is `Σ_b Σ_c`, `none` gives `Σ_c` per item
//! (shape `(B)`), `none-per-class` every (item, class) (shape `(B, C)`, C after expansion). The
//! gradient is that of the sum of the output's entries. The power `(1-mTI)^(1-γ)` is one power:
//! 0 at a perfect prediction, with the non-finite derivative that point has for γ > 0. The clip
//! passes the gradient on `[lo, hi]` inclusive, as TensorFlow does.

use crate::conventions::params::{internal, Hyper, Reduction};
use crate::conventions::terms::{add_gated, focal, focal_value, tversky, Clip, ClipGradient};
use crate::conventions::{check_unit, Inputs, Outcome};
use crate::numbers::real::{PowRule, Real};
use crate::spec::error::UflError;
use crate::spec::registry::FunctionId;
use crate::spec::tensor::Grid;

const RULE: PowRule = PowRule::TensorFlow;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Parts {
    Focal,
    Tversky,
    Unified,
}

pub(crate) fn evaluate<T: Real>(
    hp: &Hyper<T>,
    x: &Inputs<T>,
    want_grad: bool,
) -> Result<Outcome<T>, UflError> {
    use FunctionId::*;
    let (parts, symmetric) = match hp.function {
        SymmetricFocalLoss => (Parts::Focal, true),
        AsymmetricFocalLoss => (Parts::Focal, false),
        SymmetricFocalTverskyLoss => (Parts::Tversky, true),
        AsymmetricFocalTverskyLoss => (Parts::Tversky, false),
        SymUnifiedFocalLoss => (Parts::Unified, true),
        AsymUnifiedFocalLoss => (Parts::Unified, false),
        other => {
            return Err(UflError::UnsupportedConvention {
                function: other.name().to_string(),
                convention: "paper".to_string(),
            })
        }
    };
    if x.pred_shape != x.target_shape {
        return Err(UflError::ShapeMismatch {
            pred: x.pred_shape.to_vec(),
            target: x.target_shape.to_vec(),
        });
    }
    if x.pred_shape.len() < 2 {
        return Err(UflError::InvalidRank {
            what: "prediction",
            rank: x.pred_shape.len(),
            expected: "the paper convention needs (batch, classes, ...) or (batch, ..., classes)",
        });
    }
    let logits = hp.word("input")? == "logits";
    if !logits {
        check_unit("prediction", x.pred)?;
    }
    check_unit("target", x.target)?;
    let reduction = hp.reduction()?;
    let one = T::one();
    let delta = hp.real("delta")?;
    let (delta_t, delta_f) = (x.tversky_delta(delta), x.focal_delta(delta));
    let gamma = hp.real("gamma")?;
    let eps = hp.real("eps")?;
    let lambda = match parts {
        Parts::Unified => hp.real("lambda")?,
        Parts::Focal => one,
        Parts::Tversky => T::zero(),
    };

    let outer = Grid::of(x.pred_shape, x.layout);
    let single = outer.classes == 1;
    let classes = if single { 2 } else { outer.classes };
    let grid = Grid {
        batch: outer.batch,
        spatial: outer.spatial,
        classes,
        channels_last: true,
    };
    let rare = hp.rare_classes(classes)?;
    let class_mean = parts != Parts::Focal && hp.word("region")? == "class-mean";

    // Probabilities in the internal channels-last (B, N, C) grid, before the clip.
    let (p, y) = expand(x, outer, grid, logits);
    let clip = Clip::dtype_bounds(
        eps,
        x.dtype,
        x.overrides.clip_gradient.unwrap_or(ClipGradient::Inclusive),
    );
    let (q, pass) = clip.apply_all(&p);

    let n = T::cst(grid.spatial as f64);
    let region_scale = if class_mean {
        one / T::cst(classes as f64)
    } else {
        one
    };
    let outer_weight = match reduction {
        Reduction::Mean => one / T::cst(grid.batch as f64),
        Reduction::Sum | Reduction::PerItem | Reduction::PerItemClass | Reduction::PerElement => {
            one
        }
    };
    let mut dq = if want_grad {
        Some(vec![T::zero(); q.len()])
    } else {
        None
    };
    let mut per_bc = Vec::with_capacity(grid.batch * classes);
    for b in 0..grid.batch {
        for (c, &is_rare) in rare.iter().enumerate() {
            let w = if is_rare { delta_f } else { one - delta_f };
            let mut value = T::zero();
            if parts != Parts::Tversky {
                let factor_gamma = if symmetric || !is_rare {
                    Some(gamma)
                } else {
                    None
                };
                let g_elem = outer_weight * lambda * w / n;
                let mut terms = Vec::with_capacity(grid.spatial);
                for s in 0..grid.spatial {
                    let i = grid.at(b, s, c);
                    match dq.as_deref_mut() {
                        Some(g) => {
                            let (v, d) = focal(q[i], y[i], factor_gamma, RULE);
                            terms.push(v);
                            add_gated(&mut g[i], pass[i], g_elem * d);
                        }
                        None => terms.push(focal_value(q[i], y[i], factor_gamma, RULE)),
                    }
                }
                value = value + lambda * (w * T::sum_terms(terms) / n);
            }
            if parts != Parts::Focal {
                let at = |s| grid.at(b, s, c);
                let st = tversky(&q, &y, grid.spatial, at, delta_t, eps);
                let xr = one - st.ti;
                let (term, dterm) = if symmetric || is_rare {
                    let e = one - gamma;
                    (xr.pow_with(e, RULE), RULE.derivative(xr, e))
                } else {
                    (xr, one)
                };
                value = value + (one - lambda) * (region_scale * term);
                if let Some(g) = dq.as_deref_mut() {
                    let g_ti = -(outer_weight * (one - lambda) * region_scale * dterm);
                    st.add_gradient(g, Some(&pass), &y, grid.spatial, at, delta_t, g_ti);
                }
            }
            per_bc.push(value);
        }
    }

    let (loss, loss_shape) = match reduction {
        Reduction::PerItemClass => (per_bc, vec![grid.batch, classes]),
        Reduction::PerItem => (
            per_bc
                .chunks(classes)
                .map(|r| T::sum_terms(r.iter().copied()))
                .collect(),
            vec![grid.batch],
        ),
        Reduction::Sum => (vec![T::sum_terms(per_bc)], vec![]),
        Reduction::Mean => (
            vec![T::sum_terms(per_bc) / T::cst(grid.batch as f64)],
            vec![],
        ),
        Reduction::PerElement => return Err(internal("reduction")),
    };
    let grad = dq.map(|g| chain_to_input(x, outer, grid, logits, &p, &g));
    Ok(Outcome {
        loss,
        loss_shape,
        grad,
    })
}

fn sigmoid<T: Real>(z: T) -> T {
    if z >= T::zero() {
        T::one() / (T::one() + (-z).exp())
    } else {
        let e = z.exp();
        e / (T::one() + e)
    }
}

/// Probabilities and targets in the internal (B, N, C) channels-last grid.
fn expand<T: Real>(x: &Inputs<T>, outer: Grid, grid: Grid, logits: bool) -> (Vec<T>, Vec<T>) {
    let one = T::one();
    let mut p = vec![T::zero(); grid.len()];
    let mut y = vec![T::zero(); grid.len()];
    for b in 0..grid.batch {
        for s in 0..grid.spatial {
            if outer.classes == 1 {
                let i = outer.at(b, s, 0);
                let (p0, p1) = if logits {
                    // Frameworks take the class-0 probability as `1 - σ(z)` of the rounded
                    // `σ(z)` (relative error u·σ/(1-σ) for large z): admitted beside `σ(-z)`.
                    let p1 = sigmoid(x.pred[i]);
                    (sigmoid(-x.pred[i]).widen(one - p1), p1)
                } else {
                    (one - x.pred[i], x.pred[i])
                };
                p[grid.at(b, s, 0)] = p0;
                p[grid.at(b, s, 1)] = p1;
                y[grid.at(b, s, 0)] = one - x.target[i];
                y[grid.at(b, s, 1)] = x.target[i];
                continue;
            }
            for c in 0..grid.classes {
                y[grid.at(b, s, c)] = x.target[outer.at(b, s, c)];
            }
            if logits {
                let shift = (0..grid.classes)
                    .map(|c| x.pred[outer.at(b, s, c)].val())
                    .fold(f64::NEG_INFINITY, f64::max);
                let shift = T::cst(shift);
                let e: Vec<T> = (0..grid.classes)
                    .map(|c| (x.pred[outer.at(b, s, c)] - shift).exp())
                    .collect();
                let total = T::sum_terms(e.iter().copied());
                for c in 0..grid.classes {
                    p[grid.at(b, s, c)] = e[c] / total;
                }
            } else {
                for c in 0..grid.classes {
                    p[grid.at(b, s, c)] = x.pred[outer.at(b, s, c)];
                }
            }
        }
    }
    (p, y)
}

/// Gradient with respect to the caller's input from the (clip-masked) gradient in q.
fn chain_to_input<T: Real>(
    x: &Inputs<T>,
    outer: Grid,
    grid: Grid,
    logits: bool,
    p: &[T],
    g: &[T],
) -> Vec<T> {
    let mut out = vec![T::zero(); x.pred.len()];
    for b in 0..grid.batch {
        for s in 0..grid.spatial {
            if outer.classes == 1 {
                let (i0, i1) = (grid.at(b, s, 0), grid.at(b, s, 1));
                let d = g[i1] - g[i0];
                // σ's backward as frameworks write it, `g·y·(1-y)` with `y = fl(σ(z))`, is
                // admitted beside the oracle's `g·(σ(z)·σ(-z))`.
                out[outer.at(b, s, 0)] = if logits {
                    (d * (p[i1] * p[i0])).widen(d * (p[i1] * (T::one() - p[i1])))
                } else {
                    d
                };
                continue;
            }
            if logits {
                let dot = T::sum_terms(
                    (0..grid.classes).map(|c| p[grid.at(b, s, c)] * g[grid.at(b, s, c)]),
                );
                for c in 0..grid.classes {
                    let i = grid.at(b, s, c);
                    out[outer.at(b, s, c)] = p[i] * (g[i] - dot);
                }
            } else {
                for c in 0..grid.classes {
                    out[outer.at(b, s, c)] = g[grid.at(b, s, c)];
                }
            }
        }
    }
    out
}
