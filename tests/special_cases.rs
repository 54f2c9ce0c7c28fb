//! The paper's special cases (Figure 1) as properties of the `paper` convention, the
//! equivalent relations in `original`, and the conversion between `monai` and `original` —
//! each with its exact constant factors, and the slack from ε or smoothing where there is one.
//!
//! Two sides of a relation are different expressions of one value; they must agree to
//! `2·(e_a + e_b)`, their float64 error bounds (`Bounded<53>`). Direct formulas written here
//! (cross entropy, Tversky and Dice from their definitions) are independent of the crate's code.

mod common;

use common::{check, inputs, num, word, Rng};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use ufl_oracle::bound::F64Bound;
use ufl_oracle::tensor::Grid;
use ufl_oracle::{Convention, Dtype, FunctionId, Layout, ParamValue, Params, Problem, Tensor};

/// Value and gradient of both sides agree, `a = factor·b`, within their float64 bounds.
fn agree(a: &Problem, b: &Problem, factor: f64) -> Result<(), TestCaseError> {
    let (va, vb) = (a.evaluate().unwrap(), b.evaluate().unwrap());
    let (ba, bb) = (
        a.evaluate_in::<F64Bound>(true).unwrap(),
        b.evaluate_in::<F64Bound>(true).unwrap(),
    );
    for i in 0..va.loss.len() {
        let tol = 2.0 * (ba.loss[i].e + factor.abs() * bb.loss[i].e);
        prop_assert!(
            (va.loss[i] - factor * vb.loss[i]).abs() <= tol,
            "loss[{i}]: {} vs {factor}·{} (tol {tol:e})",
            va.loss[i],
            vb.loss[i]
        );
    }
    let (ga, gb) = (ba.grad.unwrap(), bb.grad.unwrap());
    for i in 0..va.grad.len() {
        let tol = 2.0 * (ga[i].e + factor.abs() * gb[i].e);
        prop_assert!(
            (va.grad[i] - factor * vb.grad[i]).abs() <= tol,
            "grad[{i}]: {} vs {factor}·{} (tol {tol:e})",
            va.grad[i],
            vb.grad[i]
        );
    }
    Ok(())
}

/// A value agrees with a directly computed one within the bound of the former plus `slack`.
fn agree_value(a: &Problem, direct: f64, slack: f64) -> Result<(), TestCaseError> {
    let v = a.evaluate().unwrap().loss.iter().sum::<f64>();
    let e = a
        .evaluate_in::<F64Bound>(false)
        .unwrap()
        .loss
        .iter()
        .map(|b| b.e)
        .sum::<f64>();
    let tol = 2.0 * e + 64.0 * f64::EPSILON * direct.abs() + slack;
    prop_assert!(
        (v - direct).abs() <= tol,
        "{v} vs direct {direct} (tol {tol:e})"
    );
    Ok(())
}

fn with(p: &Problem, function: FunctionId, pairs: &[(&str, ParamValue)]) -> Problem {
    let mut q = p.clone();
    q.function = function;
    q.params = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect::<Params>();
    q
}

/// Draws for the relations: shape, classes, δ, γ, λ, seed.
#[derive(Clone, Debug)]
struct Rel {
    spatial: Vec<usize>,
    classes: usize,
    batch: usize,
    delta: f64,
    gamma: f64,
    lambda: f64,
    seed: u64,
    float32: bool,
}

fn rels(classes: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Rel> {
    (
        proptest::collection::vec(2usize..5, 2..=3),
        classes,
        1usize..=2,
        1u32..64,
        0.0f64..0.95,
        0.0f64..1.0,
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(
            |(spatial, classes, batch, d, gamma, lambda, seed, float32)| Rel {
                spatial,
                classes,
                batch,
                delta: d as f64 / 64.0, // exact in float32, so focal_loss's rounding of alpha is exact
                gamma,
                lambda,
                seed,
                float32,
            },
        )
}

fn problem(r: &Rel, convention: Convention, layout: Layout) -> Problem {
    let mut shape = vec![r.batch];
    match layout {
        Layout::ChannelsFirst => {
            shape.push(r.classes);
            shape.extend(&r.spatial);
        }
        Layout::ChannelsLast => {
            shape.extend(&r.spatial);
            shape.push(r.classes);
        }
    }
    let dtype = if r.float32 { Dtype::F32 } else { Dtype::F64 };
    let (pred, target) = inputs(&shape, layout, dtype, 1.5, r.seed);
    Problem {
        function: FunctionId::AsymUnifiedFocalLoss,
        convention,
        params: Params::new(),
        pred,
        target,
        layout,
        dtype,
    }
}

/// Clipped probabilities and targets of a paper problem, indexed (b, s, c).
struct Direct {
    q: Vec<f64>,
    y: Vec<f64>,
    grid: Grid,
}

impl Direct {
    fn of(p: &Problem, eps: f64) -> Self {
        let grid = Grid::of(&p.pred.shape, p.layout);
        Direct {
            q: p.pred
                .data
                .iter()
                .map(|&x| x.clamp(eps, 1.0 - eps))
                .collect(),
            y: p.target.data.clone(),
            grid,
        }
    }
    fn stats(&self, b: usize, c: usize) -> (f64, f64, f64) {
        let (mut tp, mut fn_, mut fp) = (0.0, 0.0, 0.0);
        for s in 0..self.grid.spatial {
            let i = self.grid.at(b, s, c);
            tp += self.y[i] * self.q[i];
            fn_ += self.y[i] * (1.0 - self.q[i]);
            fp += (1.0 - self.y[i]) * self.q[i];
        }
        (tp, fn_, fp)
    }
    /// (1/B) Σ_b Σ_c (1 - TI(δ, k))
    fn tversky(&self, delta: f64, k: f64) -> f64 {
        let g = self.grid;
        let mut total = 0.0;
        for b in 0..g.batch {
            for c in 0..g.classes {
                let (tp, fn_, fp) = self.stats(b, c);
                total += 1.0 - (tp + k) / (tp + delta * fn_ + (1.0 - delta) * fp + k);
            }
        }
        total / g.batch as f64
    }
    /// (1/B) Σ_b Σ_c (1 - DSC) with DSC = (2TP + 2k)/(2TP + FN + FP + 2k)
    fn dice(&self, k: f64) -> f64 {
        let g = self.grid;
        let mut total = 0.0;
        for b in 0..g.batch {
            for c in 0..g.classes {
                let (tp, fn_, fp) = self.stats(b, c);
                total += 1.0 - (2.0 * tp + 2.0 * k) / (2.0 * tp + fn_ + fp + 2.0 * k);
            }
        }
        total / g.batch as f64
    }
    /// (1/BN) Σ_{b,s} Σ_c w_c·CE with w = δ on classes ≥ 1 and 1-δ on class 0.
    fn weighted_ce(&self, delta: f64) -> f64 {
        let g = self.grid;
        let mut total = 0.0;
        for b in 0..g.batch {
            for s in 0..g.spatial {
                for c in 0..g.classes {
                    let i = self.grid.at(b, s, c);
                    let w = if c == 0 { 1.0 - delta } else { delta };
                    total += w * -self.y[i] * self.q[i].ln();
                }
            }
        }
        total / (g.batch * g.spatial) as f64
    }
}

#[test]
fn figure_1_in_the_paper_convention() {
    check("paper special cases", 48, rels(2..=5), |r| {
        let r = Rel {
            float32: false,
            ..r
        };
        let base = problem(&r, Convention::Paper, Layout::ChannelsFirst);
        let (d, g, l) = (num(r.delta), num(r.gamma), num(r.lambda));
        let direct = Direct::of(&base, 1e-7);
        use FunctionId::*;
        for (unified, focal, tversky) in [
            (
                SymUnifiedFocalLoss,
                SymmetricFocalLoss,
                SymmetricFocalTverskyLoss,
            ),
            (
                AsymUnifiedFocalLoss,
                AsymmetricFocalLoss,
                AsymmetricFocalTverskyLoss,
            ),
        ] {
            // λ picks a side.
            agree(
                &with(
                    &base,
                    unified,
                    &[
                        ("lambda", num(1.0)),
                        ("delta", d.clone()),
                        ("gamma", g.clone()),
                    ],
                ),
                &with(&base, focal, &[("delta", d.clone()), ("gamma", g.clone())]),
                1.0,
            )?;
            agree(
                &with(
                    &base,
                    unified,
                    &[
                        ("lambda", num(0.0)),
                        ("delta", d.clone()),
                        ("gamma", g.clone()),
                    ],
                ),
                &with(
                    &base,
                    tversky,
                    &[("delta", d.clone()), ("gamma", g.clone())],
                ),
                1.0,
            )?;
            // γ = 0: focal → weighted cross entropy, focal Tversky → Tversky.
            agree_value(
                &with(&base, focal, &[("delta", d.clone()), ("gamma", num(0.0))]),
                direct.weighted_ce(r.delta),
                0.0,
            )?;
            agree_value(
                &with(&base, tversky, &[("delta", d.clone()), ("gamma", num(0.0))]),
                direct.tversky(r.delta, 1e-7),
                0.0,
            )?;
            // δ = 0.5: Tversky → Dice, weighted CE → 0.5·CE.
            agree_value(
                &with(&base, tversky, &[("delta", num(0.5)), ("gamma", num(0.0))]),
                direct.dice(1e-7),
                0.0,
            )?;
            agree_value(
                &with(&base, focal, &[("delta", num(0.5)), ("gamma", num(0.0))]),
                0.5 * direct.weighted_ce(0.0) + 0.5 * direct.weighted_ce(1.0),
                0.0,
            )?;
            // γ = 0 with λ between: a Combo-like sum of weighted CE and Tversky.
            let combo = r.lambda * direct.weighted_ce(r.delta)
                + (1.0 - r.lambda) * direct.tversky(r.delta, 1e-7);
            agree_value(
                &with(
                    &base,
                    unified,
                    &[
                        ("lambda", l.clone()),
                        ("delta", d.clone()),
                        ("gamma", num(0.0)),
                    ],
                ),
                combo,
                0.0,
            )?;
        }
        Ok(())
    });
}

#[test]
fn relations_in_the_original_convention() {
    check("original relations", 48, rels(2..=2), |r| {
        let base = problem(&r, Convention::Original, Layout::ChannelsLast);
        let rank4 = base.pred.shape.len() == 4;
        let eps = base.dtype.round(1e-7);
        let (d, g) = (num(r.delta), num(r.gamma));
        use FunctionId::*;
        for (unified, focal, tversky) in [
            (
                SymUnifiedFocalLoss,
                SymmetricFocalLoss,
                SymmetricFocalTverskyLoss,
            ),
            (
                AsymUnifiedFocalLoss,
                AsymmetricFocalLoss,
                AsymmetricFocalTverskyLoss,
            ),
        ] {
            // weight = 1 is the Tversky part, weight = 0 the focal part (weight is on Tversky).
            agree(
                &with(
                    &base,
                    unified,
                    &[
                        ("weight", num(1.0)),
                        ("delta", d.clone()),
                        ("gamma", g.clone()),
                    ],
                ),
                &with(
                    &base,
                    tversky,
                    &[("delta", d.clone()), ("gamma", g.clone())],
                ),
                1.0,
            )?;
            agree(
                &with(
                    &base,
                    unified,
                    &[
                        ("weight", num(0.0)),
                        ("delta", d.clone()),
                        ("gamma", g.clone()),
                    ],
                ),
                &with(&base, focal, &[("delta", d.clone()), ("gamma", g.clone())]),
                1.0,
            )?;
            // γ = 0: the focal part is Combo's β-weighted cross entropy with β = 1-δ (class 0).
            // Rank 4 only: on rank 5 the focal part slices depth, not classes.
            if rank4 {
                agree(
                    &with(&base, focal, &[("delta", d.clone()), ("gamma", num(0.0))]),
                    &with(
                        &base,
                        ComboLoss,
                        &[("alpha", num(1.0)), ("beta", num(1.0 - r.delta))],
                    ),
                    1.0,
                )?;
            }
        }
        // symmetric_focal_loss(δ, γ) is focal_loss(alpha = [1-δ, δ], gamma_f = γ) (δ is a
        // multiple of 1/64, so the float32 rounding of alpha is exact); rank 4 only.
        if rank4 {
            agree(
                &with(
                    &base,
                    SymmetricFocalLoss,
                    &[("delta", d.clone()), ("gamma", g.clone())],
                ),
                &with(
                    &base,
                    FocalLoss,
                    &[
                        ("alpha", ParamValue::List(vec![1.0 - r.delta, r.delta])),
                        ("gamma_f", g.clone()),
                    ],
                ),
                1.0,
            )?;
        }
        // symmetric_focal_tversky_loss(γ) is focal_tversky_loss(gamma = 1-γ) with the same
        // smoothing (the dtype's 1e-7) ...
        let sftl = with(
            &base,
            SymmetricFocalTverskyLoss,
            &[("delta", d.clone()), ("gamma", g.clone())],
        );
        agree(
            &sftl,
            &with(
                &base,
                FocalTverskyLoss,
                &[
                    ("delta", d.clone()),
                    ("gamma", num(1.0 - r.gamma)),
                    ("smooth", num(eps)),
                ],
            ),
            1.0,
        )?;
        // ... and with the default smoothing 1e-6 differs by at most |Δk|·max|∂L/∂k|.
        let ftl_default = with(
            &base,
            FocalTverskyLoss,
            &[("delta", d.clone()), ("gamma", num(1.0 - r.gamma))],
        );
        let dk = ftl_default
            .param_derivatives()
            .unwrap()
            .into_iter()
            .find(|p| p.name == "smooth")
            .unwrap()
            .derivative;
        let slack = 2.0 * dk.abs() * (1e-6 - eps);
        agree_value(&sftl, ftl_default.evaluate().unwrap().loss[0], slack)?;
        // δ = 0.5 gives Dice: focal_tversky_loss(δ, γ = 1) is tversky_loss(δ) on unclipped inputs.
        if base
            .pred
            .data
            .iter()
            .all(|&p| p > eps && p < base.dtype.round(1.0 - 1e-7))
        {
            agree(
                &with(
                    &base,
                    FocalTverskyLoss,
                    &[("delta", num(0.5)), ("gamma", num(1.0))],
                ),
                &with(&base, DiceLoss, &[]),
                1.0,
            )?;
        }
        agree(
            &with(&base, TverskyLoss, &[("delta", num(0.5))]),
            &with(&base, DiceLoss, &[]),
            1.0,
        )?;
        Ok(())
    });
}

/// Reorders a channels-last (B, H, W, D, C) array as (B, D, H, W, C).
fn depth_to_axis_1(t: &Tensor) -> Tensor {
    let s = &t.shape;
    let (b, h, w, d, c) = (s[0], s[1], s[2], s[3], s[4]);
    let mut out = vec![0.0; t.data.len()];
    for bi in 0..b {
        for hi in 0..h {
            for wi in 0..w {
                for di in 0..d {
                    for ci in 0..c {
                        out[((((bi * d + di) * h + hi) * w + wi) * c) + ci] =
                            t.data[((((bi * h + hi) * w + wi) * d + di) * c) + ci];
                    }
                }
            }
        }
    }
    Tensor {
        shape: vec![b, d, h, w, c],
        data: out,
    }
}

#[test]
fn monai_is_the_original_with_weight_moved_and_focal_halved() {
    check("monai conversion", 48, rels(2..=3), |r| {
        let r = Rel {
            float32: false,
            spatial: r.spatial[..2].to_vec(),
            ..r
        };
        let base = problem(&r, Convention::Original, Layout::ChannelsLast);
        let (d, g, w) = (num(r.delta), num(r.gamma), r.lambda);
        use FunctionId::*;
        let afl = with(
            &base,
            AsymmetricFocalLoss,
            &[("delta", d.clone()), ("gamma", g.clone())],
        );
        let aftl = with(
            &base,
            AsymmetricFocalTverskyLoss,
            &[("delta", d.clone()), ("gamma", g.clone())],
        );
        let monai = |f, pairs: &[(&str, ParamValue)]| {
            let mut m = with(&base, f, pairs);
            m.convention = Convention::Monai;
            m
        };
        // F = AFL/2 and T = AFTL (rank 4, any C ≥ 2).
        agree(
            &afl,
            &monai(
                AsymmetricFocalLoss,
                &[("delta", d.clone()), ("gamma", g.clone())],
            ),
            2.0,
        )?;
        agree(
            &aftl,
            &monai(
                AsymmetricFocalTverskyLoss,
                &[("delta", d.clone()), ("gamma", g.clone())],
            ),
            1.0,
        )?;
        // U(w) = (w/2)·AFL + (1-w)·AFTL.
        let u = monai(
            AsymUnifiedFocalLoss,
            &[
                ("weight", num(w)),
                ("delta", d.clone()),
                ("gamma", g.clone()),
            ],
        );
        let (uv, av, tv) = (
            u.evaluate().unwrap(),
            afl.evaluate().unwrap(),
            aftl.evaluate().unwrap(),
        );
        let expected = w / 2.0 * av.loss[0] + (1.0 - w) * tv.loss[0];
        prop_assert!(
            (uv.loss[0] - expected).abs() <= 1e-14 * expected.abs(),
            "{} vs {expected}",
            uv.loss[0]
        );
        for i in 0..uv.grad.len() {
            let e = w / 2.0 * av.grad[i] + (1.0 - w) * tv.grad[i];
            prop_assert!(
                (uv.grad[i] - e).abs() <= 1e-13 * (av.grad[i].abs() + tv.grad[i].abs()) + 1e-300
            );
        }
        Ok(())
    });
}

#[test]
fn the_depth_slice_quirk_is_monai_on_the_depth_axis() {
    check("depth slice", 32, rels(2..=3), |r| {
        let spatial = vec![
            r.spatial[0],
            r.spatial[1],
            r.spatial.get(2).copied().unwrap_or(2).max(2),
        ];
        let r = Rel {
            float32: false,
            spatial,
            ..r
        };
        let base = problem(&r, Convention::Original, Layout::ChannelsLast);
        let ps = [("delta", num(r.delta)), ("gamma", num(r.gamma))];
        let afl = with(&base, FunctionId::AsymmetricFocalLoss, &ps);
        let mut monai = with(&base, FunctionId::AsymmetricFocalLoss, &ps);
        monai.convention = Convention::Monai;
        monai.layout = Layout::ChannelsFirst; // the depth axis plays the channels
        monai.pred = depth_to_axis_1(&base.pred);
        monai.target = depth_to_axis_1(&base.target);
        let (a, m) = (afl.evaluate().unwrap(), monai.evaluate().unwrap());
        prop_assert!((a.loss[0] - 2.0 * m.loss[0]).abs() <= 1e-14 * a.loss[0].abs());
        let ga = depth_to_axis_1(&Tensor {
            shape: base.pred.shape.clone(),
            data: a.grad.clone(),
        });
        for i in 0..ga.data.len() {
            prop_assert!(
                (ga.data[i] - 2.0 * m.grad[i]).abs() <= 1e-13 * ga.data[i].abs().max(1e-12)
            );
        }
        Ok(())
    });
}

fn permute_first_spatial_axis(t: &Tensor, layout: Layout, perm: &[usize]) -> Tensor {
    // Axis 1 (channels-last) or 2 (channels-first) is reordered by `perm`.
    let axis = if layout == Layout::ChannelsLast { 1 } else { 2 };
    let outer: usize = t.shape[..axis].iter().product();
    let n = t.shape[axis];
    let inner: usize = t.shape[axis + 1..].iter().product();
    let mut out = vec![0.0; t.data.len()];
    for o in 0..outer {
        for (k, &src) in perm.iter().enumerate() {
            for i in 0..inner {
                out[(o * n + k) * inner + i] = t.data[(o * n + src) * inner + i];
            }
        }
    }
    Tensor {
        shape: t.shape.clone(),
        data: out,
    }
}

#[test]
fn invariances() {
    check("invariances", 48, common::draws(), |d| {
        let p = common::build(&d);
        let base = p.evaluate().unwrap();
        let tol = |x: f64| 1e-13 * x.abs().max(1e-12);
        let sorted = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v
        };
        // Reordering positions along the first spatial axis: same loss, gradient reordered.
        let axis = if p.layout == Layout::ChannelsLast {
            1
        } else {
            2
        };
        if p.pred.shape.len() > axis + usize::from(p.layout == Layout::ChannelsLast) {
            let n = p.pred.shape[axis];
            let mut rng = Rng::new(d.seed);
            let mut perm: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                perm.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
            }
            let mut q = p.clone();
            q.pred = permute_first_spatial_axis(&p.pred, p.layout, &perm);
            q.target = permute_first_spatial_axis(&p.target, p.layout, &perm);
            let moved = q.evaluate().unwrap();
            // A per-element loss (MONAI's reduction none) is reordered with the positions.
            for (a, b) in sorted(&base.loss).iter().zip(&sorted(&moved.loss)) {
                prop_assert!(
                    (a - b).abs() <= tol(*a),
                    "loss {a} vs {b} after reordering positions"
                );
            }
            let g = permute_first_spatial_axis(
                &Tensor {
                    shape: p.pred.shape.clone(),
                    data: base.grad.clone(),
                },
                p.layout,
                &perm,
            );
            for (a, b) in g.data.iter().zip(&moved.grad) {
                prop_assert!((a - b).abs() <= tol(*a) || (a.is_nan() && b.is_nan()));
            }
        }
        // The other layout: the same loss, the transposed gradient (conventions with a native
        // layout transpose internally; paper computes in either).
        let mut other = p.clone();
        let (pred, target) = match p.layout {
            Layout::ChannelsFirst => (
                p.pred.channels_first_to_last(),
                p.target.channels_first_to_last(),
            ),
            Layout::ChannelsLast => (
                p.pred.channels_last_to_first(),
                p.target.channels_last_to_first(),
            ),
        };
        if p.target.shape == p.pred.shape {
            other.pred = pred;
            other.target = target;
            other.layout = if p.layout == Layout::ChannelsFirst {
                Layout::ChannelsLast
            } else {
                Layout::ChannelsFirst
            };
            let o = other.evaluate().unwrap();
            // A per-element loss comes back in the caller's layout: compare as multisets.
            let (a, b) = (sorted(&base.loss), sorted(&o.loss));
            prop_assert!(a.len() == b.len());
            for (a, b) in a.iter().zip(&b) {
                prop_assert!(
                    (a - b).abs() <= tol(*a),
                    "loss {a} vs {b} in the other layout"
                );
            }
        }
        Ok(())
    });
}

#[test]
fn a_batch_is_the_mean_of_its_items() {
    check("batch mean", 48, rels(2..=4), |r| {
        let r = Rel {
            batch: 2,
            float32: false,
            ..r
        };
        use FunctionId::*;
        for (convention, layout, f, params) in [
            (
                Convention::Original,
                Layout::ChannelsLast,
                DiceLoss,
                vec![("delta", num(r.delta))],
            ),
            (
                Convention::Original,
                Layout::ChannelsLast,
                FocalLoss,
                vec![("gamma_f", num(r.gamma * 2.0))],
            ),
            (
                Convention::Original,
                Layout::ChannelsLast,
                AsymUnifiedFocalLoss,
                vec![("delta", num(r.delta))],
            ),
            (
                Convention::Paper,
                Layout::ChannelsFirst,
                SymUnifiedFocalLoss,
                vec![("lambda", num(r.lambda)), ("gamma", num(r.gamma))],
            ),
            (
                Convention::Monai,
                Layout::ChannelsFirst,
                AsymUnifiedFocalLoss,
                vec![("weight", num(r.lambda))],
            ),
        ] {
            let whole = with(&problem(&r, convention, layout), f, &params);
            let half = |b: usize| {
                let n = whole.pred.data.len() / 2;
                let mut shape = whole.pred.shape.clone();
                shape[0] = 1;
                let mut q = whole.clone();
                q.pred = Tensor {
                    shape: shape.clone(),
                    data: whole.pred.data[b * n..(b + 1) * n].to_vec(),
                };
                q.target = Tensor {
                    shape,
                    data: whole.target.data[b * n..(b + 1) * n].to_vec(),
                };
                q.evaluate().unwrap().loss[0]
            };
            let l = whole.evaluate().unwrap().loss[0];
            let mean = (half(0) + half(1)) / 2.0;
            prop_assert!(
                (l - mean).abs() <= 1e-14 * l.abs(),
                "{f:?} {convention}: {l} vs mean of items {mean}"
            );
        }
        Ok(())
    });
}

#[test]
fn relabelling_classes_changes_nothing_where_the_settings_are_symmetric() {
    check("class relabelling", 48, rels(2..=5), |r| {
        let r = Rel {
            float32: false,
            ..r
        };
        let base = problem(&r, Convention::Paper, Layout::ChannelsFirst);
        let c = r.classes;
        let perm: Vec<usize> = (0..c).map(|k| (k + 1) % c).collect(); // class k takes class k+1's data
        let relabel = |t: &Tensor| {
            let g = Grid::of(&t.shape, Layout::ChannelsFirst);
            let mut out = t.data.clone();
            for b in 0..g.batch {
                for s in 0..g.spatial {
                    for k in 0..c {
                        out[g.at(b, s, k)] = t.data[g.at(b, s, perm[k])];
                    }
                }
            }
            Tensor {
                shape: t.shape.clone(),
                data: out,
            }
        };
        let mut moved = base.clone();
        moved.pred = relabel(&base.pred);
        moved.target = relabel(&base.target);
        // Paper, symmetric loss: relabel R with the classes.
        let rare: Vec<f64> = (0..c).filter(|&k| perm[k] >= 1).map(|k| k as f64).collect();
        let ps = |rare: ParamValue| {
            vec![
                ("delta", num(r.delta)),
                ("gamma", num(r.gamma)),
                ("lambda", num(r.lambda)),
                ("rare_classes", rare),
            ]
        };
        let a = with(
            &base,
            FunctionId::SymUnifiedFocalLoss,
            &ps(ParamValue::Null),
        )
        .evaluate()
        .unwrap()
        .loss[0];
        let b = with(
            &moved,
            FunctionId::SymUnifiedFocalLoss,
            &ps(ParamValue::List(rare)),
        )
        .evaluate()
        .unwrap()
        .loss[0];
        prop_assert!((a - b).abs() <= 1e-14 * a.abs(), "{a} vs {b}");
        // Original losses that treat every class alike.
        for f in [
            FunctionId::DiceLoss,
            FunctionId::FocalTverskyLoss,
            FunctionId::FocalLoss,
            FunctionId::DiceCoefficient,
        ] {
            let mut x = with(&base, f, &[]);
            let mut y = with(&moved, f, &[]);
            x.convention = Convention::Original;
            y.convention = Convention::Original;
            let (a, b) = (x.evaluate().unwrap().loss[0], y.evaluate().unwrap().loss[0]);
            prop_assert!((a - b).abs() <= 1e-14 * a.abs(), "{f:?}: {a} vs {b}");
        }
        Ok(())
    });
}

#[test]
fn ranges_and_signs() {
    check("ranges and signs", 96, common::draws(), |d| {
        let p = common::build(&d);
        let v = p.evaluate().unwrap();
        match p.function {
            // alpha·CE - (1-alpha)·Dice is negative whenever the Dice term dominates.
            FunctionId::ComboLoss => {}
            FunctionId::DiceCoefficient => prop_assert!(
                v.loss.iter().all(|&x| (0.0..=1.0).contains(&x)),
                "{:?}",
                v.loss
            ),
            _ => prop_assert!(
                v.loss.iter().all(|&x| x >= 0.0),
                "negative loss {:?}",
                v.loss
            ),
        }
        Ok(())
    });
}

#[test]
fn clipped_entries_get_no_gradient_and_the_bounds_follow_each_reference() {
    // Predictions at 0, at the clip bounds, and strictly inside; one-hot targets.
    let (lo, hi) = Dtype::F32.clip_bounds(1e-7);
    let values = [0.0, lo, 0.5, hi, 1.0, 0.25];
    let shape = vec![1, 3, 2, 2];
    let mut pred = Vec::new();
    for v in values {
        pred.push(v);
        pred.push(1.0 - v);
    }
    let pred: Vec<f64> = pred.into_iter().map(|x| x as f32 as f64).collect();
    let target: Vec<f64> = (0..12)
        .map(|i| if i % 2 == (i / 2) % 2 { 1.0 } else { 0.0 })
        .collect();
    let t = |d: Vec<f64>| Tensor::new("x", shape.clone(), d).unwrap();
    let original = Problem {
        function: FunctionId::AsymUnifiedFocalLoss,
        convention: Convention::Original,
        params: Params::new(),
        pred: t(pred.clone()),
        target: t(target.clone()),
        layout: Layout::ChannelsLast,
        dtype: Dtype::F32,
    };
    let g = original.evaluate().unwrap().grad;
    for (i, &p) in original.pred.data.iter().enumerate() {
        if p < lo || p > hi {
            assert_eq!(g[i], 0.0, "original: entry {i} (p = {p}) is clipped");
        } else {
            assert_ne!(g[i], 0.0, "original: entry {i} (p = {p}) is inside or on a bound, TensorFlow passes its gradient");
        }
    }
    let monai = Problem {
        convention: Convention::Monai,
        params: common::params(&[("weight", num(0.5))]),
        ..original.clone()
    };
    let g = monai.evaluate().unwrap().grad;
    for (i, &p) in monai.pred.data.iter().enumerate() {
        if p <= lo || p >= hi {
            assert_eq!(
                g[i], 0.0,
                "monai: entry {i} (p = {p}) is clamped or on a bound, torch passes nothing"
            );
        } else {
            assert_ne!(g[i], 0.0);
        }
    }
    let _ = word("x");
}
