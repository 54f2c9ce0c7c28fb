//! The `monai` convention: MONAI 1.6.1's `AsymmetricFocalLoss`, `AsymmetricFocalTverskyLoss`
//! and `AsymmetricUnifiedFocalLoss`, as `pip install monai==1.6.1` gives them (not MONAI's later
//! development branch, which rewrote `AsymmetricUnifiedFocalLoss`: every channel ≥ 1 rare,
//! `clamp(1 - TI, ε)` before the power, the reduction honoured).
//!
//! Channels-first `(B, C, spatial...)`, binary: only channels 0 and 1 are ever read. What is
//! reproduced (see `fixtures/README-monai.md` for the measured behaviour):
//!
//! - `q = clamp(p, ε, 1-ε)` with torch 2.15's gradient: passed strictly inside `(ε, 1-ε)` only
//!   (torch ≥ 2.14.0 with scalar bounds; up to 2.13 `clamp` passes it on the bounds too, so the
//!   harness accepts each release's rule at an input exactly on a bound: `terms::ClipGradient`);
//! - focal part `[(1-δ)(1-q₀)^γ·CE₀, δ·CE₁]`, its mean taken over batch, **both classes** and
//!   space (half the original's value);
//! - Tversky part `[1 - TI₀, (1 - TI₁)^(1-γ)]` with `TI = TI(δ, ε)`, one power;
//! - the unified loss `weight·focal + (1-weight)·tversky` (weight on the **focal** part), with
//!   ε fixed at 1e-7, its `reduction` ignored, a single channel expanded to `[1-p, p]` (the
//!   tensor torch materialises, so channel 0 is `1-p` rounded to the input dtype), and the
//!   checks and errors of the class (rank, shapes, class indices);
//! - `to_onehot_y` and `ignore_index` as MONAI applies them;
//! - torch's `pow` backward: exponent 0 has derivative 0.

use crate::conventions::params::{internal, Hyper, Reduction};
use crate::conventions::terms::{add_gated, focal, tversky, Clip, ClipGradient};
use crate::conventions::{check_unit, Inputs, Outcome};
use crate::numbers::real::{PowRule, Real};
use crate::spec::error::UflError;
use crate::spec::registry::{FunctionId, MONAI_DEFAULT_EPSILON};
use crate::spec::tensor::{split_first, Dtype};

const RULE: PowRule = PowRule::Torch;

pub(crate) fn evaluate<T: Real>(
    hp: &Hyper<T>,
    x: &Inputs<T>,
    want_grad: bool,
) -> Result<Outcome<T>, UflError> {
    match hp.function {
        FunctionId::AsymmetricFocalLoss | FunctionId::AsymmetricFocalTverskyLoss => {
            part_class(hp, x, want_grad)
        }
        FunctionId::AsymUnifiedFocalLoss => unified_class(hp, x, want_grad),
        other => Err(UflError::UnsupportedConvention {
            function: other.name().to_string(),
            convention: "monai".to_string(),
        }),
    }
}

/// A class-index value: a non-negative integer.
fn label<T: Real>(v: T, index: usize) -> Result<usize, UflError> {
    let x = v.val();
    if x >= 0.0 && x.fract() == 0.0 && x < 1e9 {
        Ok(x as usize)
    } else {
        Err(UflError::NotAClassIndex {
            what: "target",
            index,
            value: x,
        })
    }
}

/// The class indices of a `(B, 1, S...)` target, after replacing labels equal to `replace` by
/// 0, checked as MONAI's `one_hot` checks them, and the shape of their one-hot expansion to
/// `classes` channels. Nothing of that shape is allocated: a caller first compares it with the
/// prediction's, so that a target of another size is refused, as MONAI refuses it, without
/// materialising what it would expand to.
fn one_hot_labels<T: Real>(
    y: &[T],
    shape: &[usize],
    classes: usize,
    replace: Option<i64>,
) -> Result<(Vec<usize>, Vec<usize>), UflError> {
    let (b, c, s) = split_first(shape);
    if c != 1 {
        return Err(UflError::ShapeMismatch {
            pred: vec![b, 1],
            target: shape.to_vec(),
        });
    }
    let mut labels = Vec::with_capacity(b * s);
    for (i, v) in y.iter().enumerate() {
        let mut l = v.val();
        if replace.is_some_and(|r| r as f64 == l) {
            l = 0.0;
        }
        let l = label(T::cst(l), i)?;
        if l >= classes {
            return Err(UflError::MonaiOneHotOutOfRange { label: l, classes });
        }
        labels.push(l);
    }
    let mut new_shape = shape.to_vec();
    new_shape[1] = classes;
    Ok((labels, new_shape))
}

/// MONAI's `one_hot`: the `(B, classes, S...)` expansion of checked labels.
fn one_hot<T: Real>(labels: &[usize], shape: &[usize], classes: usize) -> Vec<T> {
    let (b, _, s) = split_first(shape);
    let mut out = vec![T::zero(); b * classes * s];
    for bi in 0..b {
        for si in 0..s {
            out[(bi * classes + labels[bi * s + si]) * s + si] = T::one();
        }
    }
    out
}

/// MONAI's `create_ignore_mask`: one value per (item, position), from the target as given.
fn ignore_mask<T: Real>(y: &[T], shape: &[usize], ignore: Option<i64>) -> Option<Vec<T>> {
    let ii = ignore?;
    let (b, c, s) = split_first(shape);
    let mut m = vec![T::zero(); b * s];
    for bi in 0..b {
        for si in 0..s {
            let at = |ci: usize| y[(bi * c + ci) * s + si];
            m[bi * s + si] = if c == 1 {
                if at(0).val() != ii as f64 {
                    T::one()
                } else {
                    T::zero()
                }
            } else if ii >= 0 && (ii as usize) < c {
                T::one() - at(ii as usize)
            } else {
                let total = T::sum_terms((0..c).map(at));
                if total > T::zero() {
                    T::one()
                } else {
                    T::zero()
                }
            };
        }
    }
    Some(m)
}

/// The focal and Tversky classes (`AsymmetricFocalLoss`, `AsymmetricFocalTverskyLoss`).
fn part_class<T: Real>(
    hp: &Hyper<T>,
    x: &Inputs<T>,
    want_grad: bool,
) -> Result<Outcome<T>, UflError> {
    if x.pred_shape.len() < 3 {
        return Err(UflError::InvalidRank {
            what: "prediction",
            rank: x.pred_shape.len(),
            expected: "MONAI's losses need (batch, channels, spatial...)",
        });
    }
    check_unit("prediction", x.pred)?;
    let channels = x.pred_shape[1];
    let ignore = hp.int("ignore_index")?;
    let mask = ignore_mask(x.target, x.target_shape, ignore);
    let (y, y_shape) = if hp.flag("to_onehot_y")? && channels != 1 {
        let replace = ignore.filter(|&ii| ii < 0 || ii >= channels as i64);
        let (labels, y_shape) = one_hot_labels(x.target, x.target_shape, channels, replace)?;
        if y_shape != x.pred_shape {
            return Err(UflError::MonaiShapeMismatch {
                target: y_shape,
                input: x.pred_shape.to_vec(),
            });
        }
        (one_hot(&labels, &y_shape, channels), y_shape)
    } else {
        (x.target.to_vec(), x.target_shape.to_vec())
    };
    if y_shape != x.pred_shape {
        return Err(UflError::MonaiShapeMismatch {
            target: y_shape,
            input: x.pred_shape.to_vec(),
        });
    }
    if channels < 2 {
        return Err(UflError::MonaiChannelIndex { size: channels });
    }
    check_unit("target", &y)?;
    let eps = hp.real("epsilon")?;
    let (delta, gamma) = (hp.real("delta")?, hp.real("gamma")?);
    let reduction = hp.reduction()?;
    let mut grad = if want_grad {
        Some(vec![T::zero(); x.pred.len()])
    } else {
        None
    };
    let part = Part {
        shape: x.pred_shape,
        dtype: x.dtype,
        eps,
        delta: x.tversky_delta(delta),
        gamma,
        reduction,
        mask: mask.as_deref(),
        clip_gradient: x.overrides.clip_gradient,
        focal_delta: x.focal_delta(delta),
    };
    let (loss, loss_shape) = if hp.function == FunctionId::AsymmetricFocalLoss {
        focal_part(&part, x.pred, &y, T::one(), grad.as_deref_mut())?
    } else {
        tversky_part(&part, x.pred, &y, T::one(), grad.as_deref_mut())?
    };
    Ok(Outcome {
        loss,
        loss_shape,
        grad,
    })
}

/// `torch.clamp(p, ε, 1-ε)`: strict on the bounds (torch 2.15, on which the fixtures were
/// recorded), unless the caller asks for another release's rule.
fn clamp<T: Real>(dtype: Dtype, eps: T, rule: Option<ClipGradient>) -> Clip<T> {
    Clip::dtype_bounds(eps, dtype, rule.unwrap_or(ClipGradient::Strict))
}

/// What the focal and Tversky classes share once their inputs are checked.
#[derive(Clone, Copy)]
struct Part<'a, T> {
    shape: &'a [usize],
    dtype: Dtype,
    eps: T,
    delta: T,
    gamma: T,
    reduction: Reduction,
    /// `ignore_index`'s mask, one value per (item, position).
    mask: Option<&'a [T]>,
    clip_gradient: Option<ClipGradient>,
    /// δ of the focal class weights (`delta` is the Tversky index's); the same but under a
    /// diagnosis override.
    focal_delta: T,
}

/// `AsymmetricFocalLoss.forward` after its checks.
fn focal_part<T: Real>(
    part: &Part<T>,
    p: &[T],
    y: &[T],
    scale: T,
    grad: Option<&mut [T]>,
) -> Result<(Vec<T>, Vec<usize>), UflError> {
    let Part {
        shape,
        dtype,
        eps,
        gamma,
        reduction,
        mask,
        clip_gradient,
        focal_delta: delta,
        ..
    } = *part;
    let (b, c, s) = split_first(shape);
    let one = T::one();
    let clip = clamp(dtype, eps, clip_gradient);
    let mut terms = Vec::with_capacity(2 * b * s);
    let mut derivs = Vec::with_capacity(2 * b * s);
    for bi in 0..b {
        for ch in 0..2 {
            for si in 0..s {
                let i = (bi * c + ch) * s + si;
                let (q, pass) = clip.apply(p[i]);
                let m = mask.map(|m| m[bi * s + si]);
                // CE·m, then (1-q₀)^γ·CE₀·(1-δ) or δ·CE₁.
                let (mut v, mut d) = if ch == 0 {
                    focal(q, y[i], Some(gamma), RULE)
                } else {
                    focal(q, y[i], None, RULE)
                };
                if let Some(m) = m {
                    v = v * m;
                    d = d * m;
                }
                let w = if ch == 0 { one - delta } else { delta };
                terms.push(if ch == 0 { v * w } else { w * v });
                derivs.push((i, pass, w * d, m));
            }
        }
    }
    let shape_none = {
        let mut sh = shape.to_vec();
        sh[1] = 2;
        sh
    };
    let (loss, loss_shape, g_entry, mask_total) = match reduction {
        Reduction::PerElement => (terms.clone(), shape_none, one, None),
        Reduction::PerItem | Reduction::PerItemClass => return Err(internal("reduction")),
        Reduction::Sum => (vec![T::sum_terms(terms.iter().copied())], vec![], one, None),
        Reduction::Mean => match mask {
            Some(m) => {
                let denom = (T::cst(2.0) * T::sum_terms(m.iter().copied())).max(eps);
                let masked: Vec<T> = terms
                    .iter()
                    .zip(&derivs)
                    .map(|(&v, &(_, _, _, mm))| v * mm.unwrap_or(one))
                    .collect();
                (
                    vec![T::sum_terms(masked).quotient(denom)],
                    vec![],
                    one / denom,
                    Some(()),
                )
            }
            None => {
                let count = T::cst((2 * b * s) as f64);
                (
                    vec![T::sum_terms(terms.iter().copied()) / count],
                    vec![],
                    one / count,
                    None,
                )
            }
        },
    };
    if let Some(g) = grad {
        for &(i, pass, d, m) in &derivs {
            let d = match (mask_total, m) {
                (Some(()), Some(m)) => d * m,
                _ => d,
            };
            add_gated(&mut g[i], pass, scale * (g_entry * d));
        }
    }
    Ok((loss, loss_shape))
}

/// `AsymmetricFocalTverskyLoss.forward` after its checks.
fn tversky_part<T: Real>(
    part: &Part<T>,
    p: &[T],
    y: &[T],
    scale: T,
    grad: Option<&mut [T]>,
) -> Result<(Vec<T>, Vec<usize>), UflError> {
    let Part {
        shape,
        dtype,
        eps,
        delta,
        gamma,
        reduction,
        mask,
        clip_gradient,
        ..
    } = *part;
    let (b, c, s) = split_first(shape);
    let one = T::one();
    let clip = clamp(dtype, eps, clip_gradient);
    let (mut q, pass) = clip.apply_all(p);
    let mut y = y.to_vec();
    let mut factor = vec![one; p.len()];
    if let Some(m) = mask {
        for bi in 0..b {
            for ch in 0..c {
                for si in 0..s {
                    let i = (bi * c + ch) * s + si;
                    q[i] = q[i] * m[bi * s + si];
                    y[i] = y[i] * m[bi * s + si];
                    factor[i] = m[bi * s + si];
                }
            }
        }
    }
    let mut terms = Vec::with_capacity(2 * b);
    let mut dq = grad.as_ref().map(|_| vec![T::zero(); p.len()]);
    let g_entry = match reduction {
        Reduction::Mean => one / T::cst((2 * b) as f64),
        Reduction::Sum | Reduction::PerItem | Reduction::PerItemClass | Reduction::PerElement => {
            one
        }
    };
    for bi in 0..b {
        for ch in 0..2 {
            let at = |si| (bi * c + ch) * s + si;
            let st = tversky(&q, &y, s, at, delta, eps);
            let x = one - st.ti;
            let (v, dx) = if ch == 0 {
                (x, one)
            } else {
                let e = one - gamma;
                (x.pow_with(e, RULE), RULE.derivative(x, e))
            };
            terms.push(v);
            if let Some(g) = dq.as_deref_mut() {
                st.add_gradient(g, None, &y, s, at, delta, -(scale * (g_entry * dx)));
            }
        }
    }
    if let (Some(g), Some(dq)) = (grad, dq) {
        for i in 0..p.len() {
            add_gated(&mut g[i], pass[i], dq[i] * factor[i]);
        }
    }
    Ok(match reduction {
        Reduction::PerItemClass => (terms, vec![b, 2]),
        Reduction::Sum => (vec![T::sum_terms(terms)], vec![]),
        Reduction::Mean => (vec![T::sum_terms(terms) / T::cst((2 * b) as f64)], vec![]),
        Reduction::PerItem | Reduction::PerElement => return Err(internal("reduction")),
    })
}

/// `AsymmetricUnifiedFocalLoss.forward`.
fn unified_class<T: Real>(
    hp: &Hyper<T>,
    x: &Inputs<T>,
    want_grad: bool,
) -> Result<Outcome<T>, UflError> {
    let shape = x.pred_shape;
    if shape.len() != 4 && shape.len() != 5 {
        return Err(UflError::MonaiRank {
            shape: shape.to_vec(),
        });
    }
    check_unit("prediction", x.pred)?;
    let channels = shape[1];
    let to_onehot = hp.flag("to_onehot_y")?;
    let ignore = hp.int("ignore_index")?;
    let classes = hp.int("num_classes")?.unwrap_or(2).max(1) as usize;
    let target_channels = x.target_shape.get(1).copied().unwrap_or(0);
    let exempt = (to_onehot && channels != 1) || (channels == 1 && target_channels == 1);
    if !exempt && x.target_shape != shape {
        return Err(UflError::MonaiShapeMismatch {
            target: x.target_shape.to_vec(),
            input: shape.to_vec(),
        });
    }
    if x.target_shape.len() != shape.len()
        || x.target_shape[0] != shape[0]
        || x.target_shape[2..] != shape[2..]
    {
        return Err(UflError::ShapeMismatch {
            pred: shape.to_vec(),
            target: x.target_shape.to_vec(),
        });
    }
    let (b, _, s) = split_first(shape);
    let one = T::one();

    // A single channel stands for [1-p, p], materialised in the input dtype: channel 0 is
    // dtype(1 - p), which can land exactly on a clamp bound where 1 - p does not.
    let complement = |v: T| v.complement_in(x.dtype);
    let (p2, p2_shape) = if channels == 1 {
        let mut p2 = Vec::with_capacity(2 * x.pred.len());
        for bi in 0..b {
            p2.extend((0..s).map(|si| complement(x.pred[bi * s + si])));
            p2.extend((0..s).map(|si| x.pred[bi * s + si]));
        }
        let mut sh = shape.to_vec();
        sh[1] = 2;
        (p2, sh)
    } else {
        (x.pred.to_vec(), shape.to_vec())
    };
    let (y, y_shape) = if to_onehot && channels != 1 {
        let replace = ignore.filter(|&ii| ii < 0 || ii >= classes as i64);
        let (labels, y_shape) = one_hot_labels(x.target, x.target_shape, classes, replace)?;
        if y_shape != p2_shape {
            // What MONAI raises next for a one-hot target of another shape: the class-index
            // check (every one-hot target holds a 1, above the only class when there is
            // one), then the shape check.
            if ignore.is_none() && classes == 1 {
                return Err(UflError::MonaiInvalidClassIndex { max_class: 0 });
            }
            return Err(UflError::MonaiShapeMismatch {
                target: y_shape,
                input: p2_shape,
            });
        }
        (one_hot(&labels, &y_shape, classes), y_shape)
    } else if target_channels == 1 && p2_shape[1] == 2 {
        let mut y2 = Vec::with_capacity(2 * x.target.len());
        for bi in 0..b {
            y2.extend((0..s).map(|si| complement(x.target[bi * s + si])));
            y2.extend((0..s).map(|si| x.target[bi * s + si]));
        }
        let mut sh = x.target_shape.to_vec();
        sh[1] = 2;
        (y2, sh)
    } else {
        (x.target.to_vec(), x.target_shape.to_vec())
    };
    if ignore.is_none() {
        let max = y.iter().map(|v| v.val()).fold(f64::NEG_INFINITY, f64::max);
        if max > (classes - 1) as f64 {
            return Err(UflError::MonaiInvalidClassIndex {
                max_class: classes - 1,
            });
        }
    }
    let use_mask = ignore.is_some_and(|ii| ii < 0 || ii >= classes as i64);
    let mask = if use_mask {
        ignore_mask(x.target, x.target_shape, ignore)
    } else {
        None
    };
    let (mut pm, mut ym) = (p2, y);
    if let Some(m) = &mask {
        let c2 = p2_shape[1];
        let cy = y_shape[1];
        for bi in 0..b {
            for si in 0..s {
                let mv = m[bi * s + si];
                for ch in 0..c2 {
                    pm[(bi * c2 + ch) * s + si] = pm[(bi * c2 + ch) * s + si] * mv;
                }
                for ch in 0..cy {
                    ym[(bi * cy + ch) * s + si] = ym[(bi * cy + ch) * s + si] * mv;
                }
            }
        }
    }
    // The inner classes: shape check, then the binary-only parts, with ε fixed.
    if y_shape != p2_shape {
        return Err(UflError::MonaiShapeMismatch {
            target: y_shape,
            input: p2_shape,
        });
    }
    check_unit("target", &ym)?;
    let eps = T::cst(MONAI_DEFAULT_EPSILON);
    let (delta, gamma, weight) = (hp.real("delta")?, hp.real("gamma")?, hp.real("weight")?);
    let mut g2 = if want_grad {
        Some(vec![T::zero(); pm.len()])
    } else {
        None
    };
    let part = Part {
        shape: &p2_shape,
        dtype: x.dtype,
        eps,
        delta: x.tversky_delta(delta),
        gamma,
        reduction: Reduction::Mean,
        mask: None,
        clip_gradient: x.overrides.clip_gradient,
        focal_delta: x.focal_delta(delta),
    };
    let (f, _) = focal_part(&part, &pm, &ym, weight, g2.as_deref_mut())?;
    let (t, _) = tversky_part(&part, &pm, &ym, one - weight, g2.as_deref_mut())?;
    let loss = weight * f[0] + (one - weight) * t[0];

    let grad = g2.map(|g2| {
        let c2 = p2_shape[1];
        let m_at = |bi: usize, si: usize| mask.as_ref().map_or(one, |m| m[bi * s + si]);
        if channels == 1 {
            let mut g = vec![T::zero(); x.pred.len()];
            for bi in 0..b {
                for si in 0..s {
                    let d = g2[(bi * c2 + 1) * s + si] - g2[(bi * c2) * s + si];
                    g[bi * s + si] = d * m_at(bi, si);
                }
            }
            g
        } else {
            let mut g = g2;
            for bi in 0..b {
                for ch in 0..c2 {
                    for si in 0..s {
                        let i = (bi * c2 + ch) * s + si;
                        g[i] = g[i] * m_at(bi, si);
                    }
                }
            }
            g
        }
    });
    Ok(Outcome {
        loss: vec![loss],
        loss_shape: vec![],
        grad,
    })
}
