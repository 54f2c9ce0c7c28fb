//! The `original` convention: the public TensorFlow/Keras code (`loss_functions.py` of
//! mlyg/unified-focal-loss, commit 411c9c5), bug for bug.
//!
//! Inputs are channels-last, rank 4 `(B, H, W, C)` or rank 5 `(B, H, W, D, C)`. Every function
//! is computed expression by expression in the order of the source, so that the running error
//! bound (`bound.rs`) describes the original's own float32 arithmetic. The quirks reproduced:
//!
//! - the focal parts of the symmetric, asymmetric and unified losses index `[:, :, :, 0]` and
//!   `[:, :, :, 1]`, which is the class axis for rank 4 and the **depth** axis for rank 5;
//! - those losses use classes 0 and 1 only;
//! - their Tversky parts compute `x·x^(-γ)` with `x = 1 - TI`, which is `0·∞ = NaN` at `x = 0`;
//! - `weight` multiplies the focal Tversky part;
//! - combo_loss weights class 0 by `beta`, broadcasts a single channel to two columns, and
//!   takes its Dice term on the unclipped prediction;
//! - focal_loss rounds `alpha` to float32 whatever the input dtype;
//! - gradients are TensorFlow's: the clip passes the gradient on `[lo, hi]` inclusive, and is 0
//!   strictly outside, as a select (an upstream NaN does not reach clipped elements).

use crate::conventions::params::Hyper;
use crate::conventions::terms::RegionTerm;
use crate::conventions::terms::{
    add_gated, focal, focal_value, tversky, Clip, ClipGradient, Tversky,
};
use crate::conventions::{check_unit, Inputs, Outcome, RegionVariant};
use crate::numbers::real::{PowRule, Real};
use crate::spec::error::UflError;
use crate::spec::registry::FunctionId;
use crate::spec::registry::KERAS_EPSILON;
use crate::spec::tensor::{Dtype, Grid};

const RULE: PowRule = PowRule::TensorFlow;

/// Everything one evaluation shares: the inputs in channels-last order and their clipped copy.
struct Ctx<'a, T> {
    p: &'a [T],
    y: &'a [T],
    shape: &'a [usize],
    grid: Grid,
    dtype: Dtype,
    /// TensorFlow's inclusive rule unless the caller asks for another (for diagnosis).
    clip_gradient: ClipGradient,
    /// Another library's region loss, for diagnosis.
    region: Option<RegionVariant>,
    clipped: Option<(Vec<T>, Vec<T>)>,
}

impl<'a, T: Real> Ctx<'a, T> {
    /// `K.clip(y_pred, K.epsilon(), 1 - K.epsilon())`, computed once per evaluation.
    fn clip(&mut self) {
        if self.clipped.is_none() {
            let (lo, hi) = self.dtype.clip_bounds(KERAS_EPSILON);
            let clip = Clip::<T>::new(lo, hi, self.clip_gradient);
            self.clipped = Some(clip.apply_all(self.p));
        }
    }

    /// The clipped prediction and where the clip passes the gradient (after [`Ctx::clip`]).
    fn clipped(&self) -> (&[T], &[T]) {
        match &self.clipped {
            Some((q, pass)) => (q, pass),
            None => (&[], &[]),
        }
    }

    /// `K.epsilon()` in the tensor dtype, as the smoothing of the focal Tversky parts.
    fn epsilon(&self) -> T {
        T::cst(self.dtype.round(KERAS_EPSILON))
    }
}

/// `identify_axis`: the original accepts rank 4 and 5 only.
fn identify_axis(shape: &[usize]) -> Result<Grid, UflError> {
    match shape.len() {
        4 | 5 => Ok(Grid::of(shape, crate::spec::tensor::Layout::ChannelsLast)),
        rank => Err(UflError::OriginalRank { rank }),
    }
}

pub(crate) fn evaluate<T: Real>(
    hp: &Hyper<T>,
    x: &Inputs<T>,
    want_grad: bool,
) -> Result<Outcome<T>, UflError> {
    if x.pred_shape != x.target_shape {
        return Err(UflError::ShapeMismatch {
            pred: x.pred_shape.to_vec(),
            target: x.target_shape.to_vec(),
        });
    }
    let grid = identify_axis(x.target_shape)?;
    check_unit("prediction", x.pred)?;
    check_unit("target", x.target)?;
    let mut ctx = Ctx {
        p: x.pred,
        y: x.target,
        shape: x.pred_shape,
        grid,
        dtype: x.dtype,
        clip_gradient: x.overrides.clip_gradient.unwrap_or(ClipGradient::Inclusive),
        region: x.overrides.region,
        clipped: None,
    };
    let mut grad = if want_grad {
        Some(vec![T::zero(); x.pred.len()])
    } else {
        None
    };
    let g = grad.as_deref_mut();
    let one = T::one();
    let loss = match hp.function {
        FunctionId::DiceLoss | FunctionId::TverskyLoss => {
            let (delta, smooth) = (x.tversky_delta(hp.real("delta")?), hp.real("smooth")?);
            region_mean(&ctx, None, delta, smooth, RegionTerm::OneMinusTi, one, g)
        }
        FunctionId::DiceCoefficient => {
            let (delta, smooth) = (x.tversky_delta(hp.real("delta")?), hp.real("smooth")?);
            region_mean(&ctx, None, delta, smooth, RegionTerm::Ti, one, g)
        }
        FunctionId::FocalTverskyLoss => {
            let (delta, gamma, smooth) = (
                x.tversky_delta(hp.real("delta")?),
                hp.real("gamma")?,
                hp.real("smooth")?,
            );
            ctx.clip();
            let clipped = (ctx.region != Some(RegionVariant::NoClip)).then(|| ctx.clipped());
            region_mean(&ctx, clipped, delta, smooth, RegionTerm::Pow(gamma), one, g)
        }
        FunctionId::ComboLoss => combo(&mut ctx, hp, g)?,
        FunctionId::FocalLoss => focal_loss(&mut ctx, hp, g)?,
        FunctionId::SymmetricFocalLoss | FunctionId::AsymmetricFocalLoss => {
            let symmetric = hp.function == FunctionId::SymmetricFocalLoss;
            focal_part(
                &mut ctx,
                x.focal_delta(hp.real("delta")?),
                hp.real("gamma")?,
                symmetric,
                one,
                g,
            )?
        }
        FunctionId::SymmetricFocalTverskyLoss | FunctionId::AsymmetricFocalTverskyLoss => {
            let symmetric = hp.function == FunctionId::SymmetricFocalTverskyLoss;
            tversky_part(
                &mut ctx,
                x.tversky_delta(hp.real("delta")?),
                hp.real("gamma")?,
                symmetric,
                one,
                g,
            )?
        }
        FunctionId::SymUnifiedFocalLoss | FunctionId::AsymUnifiedFocalLoss => {
            let symmetric = hp.function == FunctionId::SymUnifiedFocalLoss;
            let (delta, gamma) = (hp.real("delta")?, hp.real("gamma")?);
            let weight = hp.opt_real("weight")?;
            let (w_ftl, w_fl) = match weight {
                Some(w) => (w, one - w),
                None => (one, one),
            };
            let mut g = g;
            let (delta_t, delta_f) = (x.tversky_delta(delta), x.focal_delta(delta));
            let ftl = tversky_part(&mut ctx, delta_t, gamma, symmetric, w_ftl, g.as_deref_mut())?;
            let fl = focal_part(&mut ctx, delta_f, gamma, symmetric, w_fl, g)?;
            match weight {
                Some(_) => w_ftl * ftl + w_fl * fl,
                None => ftl + fl,
            }
        }
    };
    Ok(Outcome {
        loss: vec![loss],
        loss_shape: vec![],
        grad,
    })
}

/// `K.mean(term(TI))` over every (item, class); `clipped` is `Some((q, pass))` for the
/// functions that clip. Gradients are added times `scale`. Under a [`RegionVariant`] the loss
/// is computed as that library does instead.
fn region_mean<T: Real>(
    ctx: &Ctx<T>,
    clipped: Option<(&[T], &[T])>,
    delta: T,
    smooth: T,
    term: RegionTerm<T>,
    scale: T,
    grad: Option<&mut [T]>,
) -> T {
    use RegionVariant::*;
    let grid = ctx.grid;
    let (q, pass) = match clipped {
        Some((q, pass)) => (q, Some(pass)),
        None => (ctx.p, None),
    };
    let one = T::one();
    let pooled = ctx.region == Some(PooledBatch);
    let (items, count_positions) = if pooled {
        (1, grid.batch * grid.spatial)
    } else {
        (grid.batch, grid.spatial)
    };
    let at = |b: usize, c: usize| {
        move |s: usize| {
            if pooled {
                grid.at(s / grid.spatial, s % grid.spatial, c)
            } else {
                grid.at(b, s, c)
            }
        }
    };
    // The index of every (item, class) and whether its target has a positive entry.
    let mut stats = Vec::with_capacity(items * grid.classes);
    for b in 0..items {
        for c in 0..grid.classes {
            let mut st = tversky(q, ctx.y, count_positions, at(b, c), delta, smooth);
            if ctx.region == Some(SmoothingInDenominatorOnly) {
                st.num = st.tp;
                st.ti = st.num.quotient(st.den);
            }
            let present = (0..count_positions).any(|s| ctx.y[at(b, c)(s)].val() > 0.0);
            stats.push((b, c, st, present));
        }
    }
    let counted = |present: bool| ctx.region != Some(PresentClassesOnly) || present;
    let zeroed = |present: bool| ctx.region == Some(EmptyClassesZeroed) && !present;
    let count = T::cst(
        stats
            .iter()
            .filter(|(_, _, _, p)| counted(*p))
            .count()
            .max(1) as f64,
    );
    let mut terms = Vec::with_capacity(stats.len());
    let mut slopes = Vec::with_capacity(stats.len());
    for (_, _, st, present) in &stats {
        let x = one - st.ti;
        let (value, g_ti) = match term {
            RegionTerm::OneMinusTi => (x, -one),
            RegionTerm::Ti => (st.ti, one),
            RegionTerm::Pow(_) if ctx.region == Some(PowerAfterMean) => (x, -one),
            RegionTerm::Pow(gamma) => (x.pow_with(gamma, RULE), -RULE.derivative(x, gamma)),
        };
        let keep = counted(*present) && !zeroed(*present);
        terms.push(if keep { value } else { T::zero() });
        slopes.push(if keep { g_ti } else { T::zero() });
    }
    let mut loss = T::sum_terms(terms) / count;
    let mut outer = one;
    if let (RegionTerm::Pow(gamma), Some(PowerAfterMean)) = (term, ctx.region) {
        outer = RULE.derivative(loss, gamma);
        loss = loss.pow_with(gamma, RULE);
    }
    if let Some(g) = grad {
        for ((b, c, st, _), g_ti) in stats.iter().zip(slopes) {
            st.add_gradient(
                g,
                pass,
                ctx.y,
                count_positions,
                at(*b, *c),
                delta,
                scale * (outer * g_ti / count),
            );
        }
    }
    loss
}

/// The Tversky part of the symmetric/asymmetric losses: mean over items and classes 0, 1 of
/// `1 - TI₀` (asymmetric) or `(1-TI₀)·(1-TI₀)^(-γ)`, and `(1-TI₁)·(1-TI₁)^(-γ)`.
fn tversky_part<T: Real>(
    ctx: &mut Ctx<T>,
    delta: T,
    gamma: T,
    symmetric: bool,
    scale: T,
    mut grad: Option<&mut [T]>,
) -> Result<T, UflError> {
    let grid = ctx.grid;
    if grid.classes < 2 {
        return Err(UflError::OriginalSliceOutOfBounds {
            index: 1,
            dimension: 1,
            size: grid.classes,
        });
    }
    let eps = ctx.epsilon();
    ctx.clip();
    let (q, pass) = ctx.clipped();
    let one = T::one();
    let count = T::cst((2 * grid.batch) as f64);
    let neg_gamma = -gamma;
    let mut terms = Vec::with_capacity(2 * grid.batch);
    for b in 0..grid.batch {
        for c in 0..2 {
            let at = |s| grid.at(b, s, c);
            let st: Tversky<T> = tversky(q, ctx.y, grid.spatial, at, delta, eps);
            let x = one - st.ti;
            let modulated = symmetric || c == 1;
            let (value, dx) = if modulated {
                // x · x^(-γ): product rule as TensorFlow applies it.
                let f = x.pow_with(neg_gamma, RULE);
                (x * f, f + x * RULE.derivative(x, neg_gamma))
            } else {
                (x, one)
            };
            terms.push(value);
            if let Some(g) = grad.as_deref_mut() {
                st.add_gradient(
                    g,
                    Some(pass),
                    ctx.y,
                    grid.spatial,
                    at,
                    delta,
                    -(scale * (dx / count)),
                );
            }
        }
    }
    Ok(T::sum_terms(terms) / count)
}

/// The focal part of the symmetric/asymmetric losses, slicing axis 3 (the depth quirk).
fn focal_part<T: Real>(
    ctx: &mut Ctx<T>,
    delta: T,
    gamma: T,
    symmetric: bool,
    scale: T,
    mut grad: Option<&mut [T]>,
) -> Result<T, UflError> {
    let shape = ctx.shape;
    let d3 = shape[3];
    if d3 < 2 {
        return Err(UflError::OriginalSliceOutOfBounds {
            index: 1,
            dimension: 3,
            size: d3,
        });
    }
    let outer: usize = shape[..3].iter().product();
    let inner: usize = shape[4..].iter().product();
    let positions = outer * inner;
    let y = ctx.y;
    ctx.clip();
    let (q, pass) = ctx.clipped();
    let one = T::one();
    let count = T::cst(positions as f64);
    let g_pos = scale / count;
    let mut sums = Vec::with_capacity(positions);
    for o in 0..outer {
        for i in 0..inner {
            let i0 = (o * d3) * inner + i;
            let i1 = (o * d3 + 1) * inner + i;
            let (back, dback) = focal(q[i0], y[i0], Some(gamma), RULE);
            let fore_gamma = if symmetric { Some(gamma) } else { None };
            let (fore, dfore) = focal(q[i1], y[i1], fore_gamma, RULE);
            sums.push((one - delta) * back + delta * fore);
            if let Some(g) = grad.as_deref_mut() {
                add_gated(&mut g[i0], pass[i0], g_pos * ((one - delta) * dback));
                add_gated(&mut g[i1], pass[i1], g_pos * (delta * dfore));
            }
        }
    }
    Ok(T::sum_terms(sums) / count)
}

/// Broadcasts a weight list against the class axis as NumPy/TensorFlow do: the result lists,
/// for every output column, its weight and the class it reads.
fn broadcast_weights<T: Real>(weights: &[T], shape: &[usize]) -> Result<Vec<(T, usize)>, UflError> {
    let classes = shape[shape.len() - 1];
    let l = weights.len();
    if l == classes {
        Ok(weights.iter().copied().zip(0..classes).collect())
    } else if classes == 1 {
        Ok(weights.iter().map(|&w| (w, 0)).collect())
    } else if l == 1 {
        Ok((0..classes).map(|c| (weights[0], c)).collect())
    } else {
        Err(UflError::OriginalIncompatibleWeights {
            weights: l,
            shape: shape.to_vec(),
        })
    }
}

/// `K.mean(K.sum(w · term, axis=-1))` over positions, for focal_loss and combo_loss's CE.
fn weighted_position_mean<T: Real>(
    ctx: &mut Ctx<T>,
    columns: &[(Option<T>, usize)],
    gamma: Option<T>,
    scale: T,
    mut grad: Option<&mut [T]>,
) -> T {
    let grid = ctx.grid;
    let y = ctx.y;
    ctx.clip();
    let (q, pass) = ctx.clipped();
    let positions = grid.batch * grid.spatial;
    let count = T::cst(positions as f64);
    let g_pos = scale / count;
    let mut sums = Vec::with_capacity(positions);
    for b in 0..grid.batch {
        for s in 0..grid.spatial {
            let mut row = Vec::with_capacity(columns.len());
            for &(w, c) in columns {
                let i = grid.at(b, s, c);
                let (value, d) = match grad {
                    Some(_) => focal(q[i], y[i], gamma, RULE),
                    None => (focal_value(q[i], y[i], gamma, RULE), T::zero()),
                };
                row.push(match w {
                    Some(w) => w * value,
                    None => value,
                });
                if let Some(g) = grad.as_deref_mut() {
                    let d = match w {
                        Some(w) => w * d,
                        None => d,
                    };
                    add_gated(&mut g[i], pass[i], g_pos * d);
                }
            }
            sums.push(T::sum_terms(row));
        }
    }
    T::sum_terms(sums) / count
}

fn focal_loss<T: Real>(
    ctx: &mut Ctx<T>,
    hp: &Hyper<T>,
    grad: Option<&mut [T]>,
) -> Result<T, UflError> {
    let gamma = hp.real("gamma_f")?;
    let classes = ctx.grid.classes;
    let columns: Vec<(Option<T>, usize)> = match hp.weights("alpha")? {
        None => (0..classes).map(|c| (None, c)).collect(),
        Some((alpha, _)) => {
            // np.array(alpha, dtype=np.float32), whatever the tensor dtype.
            let alpha: Vec<T> = alpha.iter().map(|&a| round_f32(a)).collect();
            broadcast_weights(&alpha, ctx.shape)?
                .into_iter()
                .map(|(w, c)| (Some(w), c))
                .collect()
        }
    };
    Ok(weighted_position_mean(
        ctx,
        &columns,
        Some(gamma),
        T::one(),
        grad,
    ))
}

/// Rounds a (possibly dual) parameter to float32, keeping its derivative.
fn round_f32<T: Real>(a: T) -> T {
    a + T::cst((a.val() as f32 as f64) - a.val())
}

fn combo<T: Real>(
    ctx: &mut Ctx<T>,
    hp: &Hyper<T>,
    mut grad: Option<&mut [T]>,
) -> Result<T, UflError> {
    let alpha = hp.opt_real("alpha")?;
    let beta = hp.opt_real("beta")?;
    let one = T::one();
    let classes = ctx.grid.classes;
    // dice_coefficient() with its defaults, on the unclipped prediction; the rank check has
    // already happened, as it does first in the original.
    let (w_ce, w_dice) = match alpha {
        Some(a) => (a, one - a),
        None => (one, one),
    };
    let dice = region_mean(
        ctx,
        None,
        T::cst(0.5),
        T::cst(1e-6),
        RegionTerm::Ti,
        -w_dice,
        grad.as_deref_mut(),
    );
    let columns: Vec<(Option<T>, usize)> = match beta {
        None => (0..classes).map(|c| (None, c)).collect(),
        Some(b) => broadcast_weights(&[b, one - b], ctx.shape)?
            .into_iter()
            .map(|(w, c)| (Some(w), c))
            .collect(),
    };
    let ce = weighted_position_mean(ctx, &columns, None, w_ce, grad);
    Ok(match alpha {
        Some(a) => a * ce - (one - a) * dice,
        None => ce - dice,
    })
}
