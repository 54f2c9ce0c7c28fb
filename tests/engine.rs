//! The engine on inputs of its own (the fixtures are checked in `tests/fixtures.rs`): every
//! function in every convention, instantiated for f64, f32 and forward-mode duals; the closed
//! form gradient against forward-mode derivatives; the plain float32 path within its error
//! bound; and the documented relations between the conventions.

mod common;

use common::{inputs, num, params, sample_problems, word, Rng};
use ufl_oracle::bound::F32Bound;
use ufl_oracle::tolerance::{safety_factor, Precision};
use ufl_oracle::{Dtype, FunctionId, Layout, ParamValue, Problem, Tensor};

fn direction(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = Rng::new(seed);
    let n: usize = shape.iter().product();
    Tensor::new(
        "direction",
        shape.to_vec(),
        (0..n).map(|_| rng.uniform() - 0.5).collect(),
    )
    .unwrap()
}

#[test]
fn closed_form_gradient_equals_forward_mode_derivative() {
    let problems = sample_problems();
    assert!(problems.len() >= 40, "{}", problems.len());
    let mut worst: f64 = 0.0;
    for (name, problem) in &problems {
        let answer = problem.evaluate().unwrap_or_else(|e| panic!("{name}: {e}"));
        let v = direction(&problem.pred.shape, 99);
        let jvp = problem.jvp(&v).unwrap();
        let dot: f64 = answer.grad.iter().zip(&v.data).map(|(g, d)| g * d).sum();
        let scale: f64 = answer
            .grad
            .iter()
            .zip(&v.data)
            .map(|(g, d)| (g * d).abs())
            .sum();
        let total_derivative: f64 = jvp.iter().map(|d| d.derivative).sum();
        let value_sum: f64 = answer.loss.iter().sum();
        let jvp_value: f64 = jvp.iter().map(|d| d.value).sum();
        assert!(
            (value_sum - jvp_value).abs() <= 1e-13 * value_sum.abs().max(1e-300),
            "{name}: value {value_sum} vs dual {jvp_value}"
        );
        let err = (dot - total_derivative).abs() / scale.max(1e-300);
        worst = worst.max(err);
        assert!(err <= 1e-12, "{name}: <grad, v> = {dot} but forward mode gives {total_derivative} (relative {err:e})");
    }
    println!(
        "worst relative disagreement closed form vs forward mode: {worst:e} over {} problems",
        problems.len()
    );
}

#[test]
fn plain_float32_stays_within_its_error_bound() {
    // Entries where float32 arithmetic really differs from the exact answer: without some, the
    // test would compare nothing the bound is about.
    let mut rounded = 0usize;
    let mut entries = 0usize;
    for (name, problem) in sample_problems() {
        let mut p32 = problem.clone();
        p32.dtype = Dtype::F32;
        p32.pred.data.iter_mut().for_each(|x| *x = *x as f32 as f64);
        p32.target
            .data
            .iter_mut()
            .for_each(|x| *x = *x as f32 as f64);
        let exact = p32.evaluate().unwrap();
        let plain = p32.evaluate_in::<f32>(true).unwrap();
        let bound = p32.evaluate_in::<F32Bound>(true).unwrap();
        let s = safety_factor(problem.function, Precision::F32);
        for (i, (&e, b)) in exact.loss.iter().zip(&bound.loss).enumerate() {
            let d = (e - plain.loss[i] as f64).abs();
            assert!(
                d <= s * b.e,
                "{name}: loss[{i}] f32 {} exact {e} |diff| {d:e} > {:e}",
                plain.loss[i],
                s * b.e
            );
            assert!(b.e.is_finite(), "{name}: loss[{i}] has no finite bound");
            rounded += usize::from(d > 0.0);
        }
        let pg = plain.grad.unwrap();
        for (i, b) in bound.grad.unwrap().iter().enumerate() {
            let d = (exact.grad[i] - pg[i] as f64).abs();
            rounded += usize::from(d > 0.0);
            assert!(
                d <= s * b.e,
                "{name}: grad[{i}] f32 {} exact {} |diff| {d:e} > {:e}",
                pg[i],
                exact.grad[i],
                s * b.e
            );
        }
        entries += exact.loss.len() + pg.len();
    }
    println!("{rounded} of {entries} entries differ from the exact answer in float32");
    assert!(
        rounded * 2 >= entries,
        "only {rounded} of {entries} entries round at all: the sample does not exercise the bound"
    );
}

#[test]
fn float32_bound_is_not_vacuous() {
    // The bound must stay small where float32 is accurate: a few hundred ulps, not a blanket.
    for (name, problem) in sample_problems() {
        let mut p32 = problem.clone();
        p32.dtype = Dtype::F32;
        p32.pred.data.iter_mut().for_each(|x| *x = *x as f32 as f64);
        let bound = p32.evaluate_in::<F32Bound>(false).unwrap();
        for b in &bound.loss {
            assert!(
                b.e <= 1e-4 * b.v.abs().max(1e-3),
                "{name}: bound {:e} on {:e}",
                b.e,
                b.v
            );
        }
    }
}

fn binary_problem(
    function: FunctionId,
    convention: &str,
    params: ufl_oracle::Params,
    shape: &[usize],
    seed: u64,
) -> Problem {
    let (pred, target) = inputs(shape, Layout::ChannelsLast, Dtype::F64, 1.0, seed);
    Problem {
        function,
        convention: convention.parse().unwrap(),
        params,
        pred,
        target,
        layout: Layout::ChannelsLast,
        dtype: Dtype::F64,
    }
}

fn assert_close(name: &str, a: &[f64], b: &[f64], factor: f64, rtol: f64) {
    let scale = a.iter().chain(b).fold(0.0f64, |m, x| m.max(x.abs()));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - factor * y).abs() <= rtol * scale,
            "{name}[{i}]: {x} vs {factor}·{y}"
        );
    }
}

#[test]
fn paper_with_class_mean_is_the_original_in_the_binary_case() {
    // original: weight on the Tversky part, class-mean region term; paper: λ on the focal part.
    let shape = [2, 6, 5, 2];
    for (f, w) in [
        (FunctionId::AsymUnifiedFocalLoss, 0.3),
        (FunctionId::SymUnifiedFocalLoss, 0.8),
    ] {
        let orig = binary_problem(
            f,
            "original",
            params(&[
                ("weight", num(w)),
                ("delta", num(0.65)),
                ("gamma", num(0.4)),
            ]),
            &shape,
            3,
        );
        let mut paper = orig.clone();
        paper.convention = "paper".parse().unwrap();
        paper.params = params(&[
            ("lambda", num(1.0 - w)),
            ("delta", num(0.65)),
            ("gamma", num(0.4)),
            ("region", word("class-mean")),
        ]);
        let (a, b) = (orig.evaluate().unwrap(), paper.evaluate().unwrap());
        assert_close(f.name(), &a.loss, &b.loss, 1.0, 1e-14);
        assert_close(f.name(), &a.grad, &b.grad, 1.0, 1e-13);
    }
    for f in [
        FunctionId::AsymmetricFocalLoss,
        FunctionId::SymmetricFocalLoss,
        FunctionId::AsymmetricFocalTverskyLoss,
        FunctionId::SymmetricFocalTverskyLoss,
    ] {
        let ps = params(&[("delta", num(0.55)), ("gamma", num(0.25))]);
        let orig = binary_problem(f, "original", ps.clone(), &shape, 5);
        let mut paper = orig.clone();
        paper.convention = "paper".parse().unwrap();
        paper.params = ps;
        if matches!(
            f,
            FunctionId::AsymmetricFocalTverskyLoss | FunctionId::SymmetricFocalTverskyLoss
        ) {
            paper.params.insert("region".into(), word("class-mean"));
        }
        let (a, b) = (orig.evaluate().unwrap(), paper.evaluate().unwrap());
        assert_close(f.name(), &a.loss, &b.loss, 1.0, 1e-14);
        assert_close(f.name(), &a.grad, &b.grad, 1.0, 1e-13);
    }
}

#[test]
fn monai_is_the_original_with_the_weight_moved_and_the_focal_part_halved() {
    // U(w) = (w/2)·AFL + (1-w)·AFTL (fixtures/README-monai.md), here on inputs inside the bounds.
    let shape = [2, 5, 6, 2];
    let (w, delta, gamma) = (0.6, 0.7, 0.5);
    let ps = params(&[("delta", num(delta)), ("gamma", num(gamma))]);
    let afl = binary_problem(
        FunctionId::AsymmetricFocalLoss,
        "original",
        ps.clone(),
        &shape,
        11,
    )
    .evaluate()
    .unwrap();
    let aftl = binary_problem(
        FunctionId::AsymmetricFocalTverskyLoss,
        "original",
        ps,
        &shape,
        11,
    )
    .evaluate()
    .unwrap();
    let mut monai = binary_problem(
        FunctionId::AsymUnifiedFocalLoss,
        "monai",
        params(&[
            ("weight", num(w)),
            ("delta", num(delta)),
            ("gamma", num(gamma)),
        ]),
        &shape,
        11,
    );
    monai.layout = Layout::ChannelsLast; // transposed to channels-first inside
    let u = monai.evaluate().unwrap();
    let expected = w / 2.0 * afl.loss[0] + (1.0 - w) * aftl.loss[0];
    assert!(
        (u.loss[0] - expected).abs() <= 1e-14 * expected,
        "{} vs {expected}",
        u.loss[0]
    );
    let g: Vec<f64> = afl
        .grad
        .iter()
        .zip(&aftl.grad)
        .map(|(a, t)| w / 2.0 * a + (1.0 - w) * t)
        .collect();
    assert_close("grad", &u.grad, &g, 1.0, 1e-13);
}

#[test]
fn paper_layouts_and_input_kinds_agree() {
    let shape_first = [2, 3, 4, 5];
    let (pred, target) = inputs(&shape_first, Layout::ChannelsFirst, Dtype::F64, 1.2, 21);
    let ps = params(&[
        ("delta", num(0.6)),
        ("gamma", num(0.35)),
        ("lambda", num(0.45)),
        ("rare_classes", ParamValue::List(vec![2.0])),
    ]);
    let first = Problem {
        function: FunctionId::AsymUnifiedFocalLoss,
        convention: "paper".parse().unwrap(),
        params: ps.clone(),
        pred: pred.clone(),
        target: target.clone(),
        layout: Layout::ChannelsFirst,
        dtype: Dtype::F64,
    };
    let last = Problem {
        pred: pred.channels_first_to_last(),
        target: target.channels_first_to_last(),
        layout: Layout::ChannelsLast,
        ..first.clone()
    };
    let (a, b) = (first.evaluate().unwrap(), last.evaluate().unwrap());
    assert_eq!(a.loss, b.loss);
    let b_back = Tensor::new("g", last.pred.shape.clone(), b.grad)
        .unwrap()
        .channels_last_to_first();
    assert_eq!(a.grad, b_back.data);
    // Logits with the softmax fused give the value of the probabilities they map to.
    let logits = Tensor::new(
        "z",
        pred.shape.clone(),
        pred.data.iter().map(|p| p.ln() - 1.0).collect(),
    )
    .unwrap();
    let mut ps_logits = ps;
    ps_logits.insert("input".into(), word("logits"));
    let z = Problem {
        params: ps_logits,
        pred: logits,
        ..first.clone()
    };
    let zv = z.evaluate().unwrap();
    assert!((zv.loss[0] - a.loss[0]).abs() <= 1e-14 * a.loss[0]);
    // ... and a gradient whose softmax Jacobian-vector product is the probability gradient's.
    let v = direction(&pred.shape, 5);
    let jz: f64 = zv.grad.iter().zip(&v.data).map(|(g, d)| g * d).sum();
    let grid = ufl_oracle::tensor::Grid::of(&pred.shape, Layout::ChannelsFirst);
    let mut jp = 0.0;
    for bi in 0..grid.batch {
        for s in 0..grid.spatial {
            let dot: f64 = (0..grid.classes)
                .map(|c| pred.data[grid.at(bi, s, c)] * v.data[grid.at(bi, s, c)])
                .sum();
            for c in 0..grid.classes {
                let i = grid.at(bi, s, c);
                jp += a.grad[i] * pred.data[i] * (v.data[i] - dot);
            }
        }
    }
    assert!(
        (jz - jp).abs() <= 1e-12 * jp.abs().max(1e-12),
        "{jz} vs {jp}"
    );
}

#[test]
fn paper_reductions_are_consistent() {
    let shape = [3, 2, 4, 4];
    let (pred, target) = inputs(&shape, Layout::ChannelsFirst, Dtype::F64, 1.0, 8);
    let mk = |red: &str| Problem {
        function: FunctionId::SymUnifiedFocalLoss,
        convention: "paper".parse().unwrap(),
        params: params(&[("reduction", word(red))]),
        pred: pred.clone(),
        target: target.clone(),
        layout: Layout::ChannelsFirst,
        dtype: Dtype::F64,
    };
    let mean = mk("mean").evaluate().unwrap();
    let sum = mk("sum").evaluate().unwrap();
    let none = mk("none").evaluate().unwrap();
    let per = mk("none-per-class").evaluate().unwrap();
    assert_eq!(none.loss_shape, vec![3]);
    assert_eq!(per.loss_shape, vec![3, 2]);
    let tot: f64 = none.loss.iter().sum();
    assert!((tot - sum.loss[0]).abs() <= 1e-14 * tot);
    assert!((sum.loss[0] / 3.0 - mean.loss[0]).abs() <= 1e-14 * tot);
    let tot_pc: f64 = per.loss.iter().sum();
    assert!((tot_pc - tot).abs() <= 1e-14 * tot);
    assert_close("grad", &sum.grad, &none.grad, 1.0, 1e-15);
    assert_close("grad", &sum.grad, &mean.grad, 3.0, 1e-14);
}

#[test]
fn evaluators_run_in_every_number_type() {
    // f32 and the bound type give the f64 value to their precision; duals carry it exactly.
    for (name, problem) in sample_problems() {
        let x = problem.evaluate().unwrap().loss[0];
        let f = problem.evaluate_in::<f32>(false).unwrap().loss[0] as f64;
        let d = problem.evaluate_in::<ufl_oracle::Dual>(false).unwrap().loss[0].x;
        assert!(
            (f - x).abs() <= 1e-4 * x.abs().max(1e-6),
            "{name}: f32 {f} vs {x}"
        );
        assert!(
            (d - x).abs() <= 1e-13 * x.abs().max(1e-300),
            "{name}: dual {d} vs {x}"
        );
    }
}

#[test]
fn forward_mode_is_correct_under_the_dual_types_pitfalls() {
    // focal_tversky_loss with δ = 1 on a class absent from the target: TI = k/k = 1 whatever the
    // prediction, so 1 - TI = 0 and (1 - TI)^γ sits at a zero base with an infinite slope.
    let shape = vec![1, 2, 2, 2];
    let pred = Tensor::new(
        "p",
        shape.clone(),
        vec![0.625, 0.375, 0.75, 0.25, 0.5, 0.5, 0.875, 0.125],
    )
    .unwrap();
    let target = Tensor::new("t", shape, vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]).unwrap();
    let problem = Problem {
        function: FunctionId::FocalTverskyLoss,
        convention: "original".parse().unwrap(),
        params: params(&[("delta", num(1.0)), ("gamma", num(0.75))]),
        pred,
        target,
        layout: Layout::ChannelsLast,
        dtype: Dtype::F64,
    };
    let closed = problem.evaluate().unwrap().grad;
    let forward = problem.forward_mode_gradient().unwrap();
    for i in 0..closed.len() {
        if i % 2 == 1 {
            // TensorFlow's reverse mode gives ∞·0 = NaN on the absent class; forward mode the
            // true derivative of a term that does not depend on these entries, 0.
            assert!(closed[i].is_nan(), "closed form entry {i}: {}", closed[i]);
            assert_eq!(forward[i], 0.0, "forward mode entry {i}");
        } else {
            assert!(
                (closed[i] - forward[i]).abs() <= 1e-15 * closed[i].abs(),
                "entry {i}: {} vs {}",
                closed[i],
                forward[i]
            );
        }
    }
    // d/dγ of 0^γ is 0 (TensorFlow's convention for a base ≤ 0); the autodiff crate's own powf
    // gives 0·ln 0 = NaN there.
    let dgamma = problem
        .param_derivatives()
        .unwrap()
        .into_iter()
        .find(|d| d.name == "gamma")
        .unwrap()
        .derivative;
    let fd = ufl_oracle::fd::param_derivative(&problem, "gamma")
        .unwrap()
        .unwrap();
    assert!(
        dgamma.is_finite() && fd.agrees(dgamma, 4.0),
        "d/dγ {dgamma} vs finite differences {fd:?}"
    );
    // The same evaluators run on duals over f32, which have no scalar-on-the-left operations.
    for (name, problem) in sample_problems().into_iter().take(12) {
        let d32 = problem
            .evaluate_in::<ufl_oracle::real::Dual32>(false)
            .unwrap();
        let x = problem.evaluate().unwrap().loss[0];
        assert!(
            (d32.loss[0].x as f64 - x).abs() <= 1e-4 * x.abs().max(1e-6),
            "{name}"
        );
    }
}

#[test]
fn jvp_gives_the_loss_entries_in_the_order_evaluate_gives_them() {
    // MONAI's per-element loss (B, 2, spatial...) given channels-last comes back channels-last,
    // from evaluate and from forward mode alike.
    for layout in [Layout::ChannelsFirst, Layout::ChannelsLast] {
        let shape = match layout {
            Layout::ChannelsFirst => vec![2, 2, 3, 2],
            Layout::ChannelsLast => vec![2, 3, 2, 2],
        };
        let (pred, target) = inputs(&shape, layout, Dtype::F64, 1.5, 11);
        let problem = Problem {
            function: FunctionId::AsymmetricFocalLoss,
            convention: "monai".parse().unwrap(),
            params: params(&[("reduction", word("none"))]),
            pred,
            target,
            layout,
            dtype: Dtype::F64,
        };
        let answer = problem.evaluate().unwrap();
        assert_eq!(answer.loss.len(), 24);
        let jvp = problem.jvp(&direction(&shape, 5)).unwrap();
        assert_eq!(jvp.len(), answer.loss.len());
        for (i, (d, l)) in jvp.iter().zip(&answer.loss).enumerate() {
            assert!(
                (d.value - l).abs() <= 1e-15 * l.abs(),
                "{layout:?} entry {i}: forward mode {} vs evaluate {l}",
                d.value
            );
        }
    }
}

#[test]
fn forward_mode_survives_tversky_denominators_far_from_one() {
    // Smoothing 0 and a prediction of 1e-300: TI = TP/TP = 1 with TP = 1e-300, a constant, so
    // every derivative is 0. A quotient rule that squares the denominator gives 0/0 there.
    let shape = vec![1, 1, 4, 1];
    let problem = Problem {
        function: FunctionId::DiceCoefficient,
        convention: "original".parse().unwrap(),
        params: params(&[("delta", num(0.0)), ("smooth", num(0.0))]),
        pred: Tensor::new("p", shape.clone(), vec![1e-300, 0.0, 0.0, 0.0]).unwrap(),
        target: Tensor::new("t", shape.clone(), vec![1.0; 4]).unwrap(),
        layout: Layout::ChannelsLast,
        dtype: Dtype::F64,
    };
    assert_eq!(problem.evaluate().unwrap().grad, vec![0.0; 4]);
    assert_eq!(problem.forward_mode_gradient().unwrap(), vec![0.0; 4]);
    // A smoothing of 1e160: the denominator's square overflows, yet the derivatives are of
    // order 1e-161 and must come out as the closed form gives them.
    let (pred, target) = inputs(&[2, 3, 3, 2], Layout::ChannelsLast, Dtype::F64, 1.0, 4);
    let problem = Problem {
        function: FunctionId::DiceCoefficient,
        convention: "original".parse().unwrap(),
        params: params(&[("smooth", num(1e160))]),
        pred,
        target,
        layout: Layout::ChannelsLast,
        dtype: Dtype::F64,
    };
    let closed = problem.evaluate().unwrap().grad;
    let forward = problem.forward_mode_gradient().unwrap();
    for (i, (c, f)) in closed.iter().zip(&forward).enumerate() {
        assert!(*c != 0.0, "entry {i}");
        assert!(
            (c - f).abs() <= 1e-12 * c.abs(),
            "entry {i}: {c:e} vs {f:e}"
        );
    }
}

/// MONAI's strict clamp with predictions exactly on `dtype(ε)` and `dtype(1-ε)`, in a single
/// channel (so that `1 - p` is materialised on the other bound) and under a mask of ones
/// (`ignore_index` naming no class): every clip decision is the reference's, so every
/// gradient entry has a finite float64 and float32 tolerance and none is undetermined (the
/// fuzz inputs `fuzz/regressions/differential/input-*-clip-bound*` found them undetermined,
/// with a NaN bound).
#[test]
fn inputs_exactly_on_the_clamp_bounds_are_decided() {
    use ufl_oracle::tolerance::Declared;
    let (lo, hi) = Dtype::F32.clip_bounds(1e-7);
    for ignore in [None, Some(3.0)] {
        let mut p = params(&[("delta", num(0.3))]);
        if let Some(i) = ignore {
            p.insert("ignore_index".into(), num(i));
        }
        let problem = Problem {
            function: FunctionId::AsymUnifiedFocalLoss,
            convention: ufl_oracle::Convention::Monai,
            params: p,
            pred: Tensor::new("pred", vec![1, 1, 2, 2], vec![lo, hi, 0.5, lo]).unwrap(),
            target: Tensor::new("target", vec![1, 1, 2, 2], vec![1.0, 0.0, 1.0, 0.0]).unwrap(),
            layout: Layout::ChannelsFirst,
            dtype: Dtype::F32,
        };
        let answer = problem.evaluate().unwrap();
        for precision in [Precision::F64, Precision::F32] {
            let declared = Declared::uniform(precision);
            let tol = problem.tolerances(declared).unwrap();
            for (i, t) in tol.grad.iter().enumerate() {
                assert!(
                    t.tol.is_finite() && !t.undetermined,
                    "{ignore:?} {precision:?}: grad[{i}] = {} has tolerance {t:?}",
                    answer.grad[i]
                );
            }
        }
        // On the bounds the strict clamp passes no gradient through the focal part: only the
        // interior entry's and the Tversky part's own terms remain, all finite.
        assert!(
            answer.grad.iter().all(|g| g.is_finite()),
            "{:?}",
            answer.grad
        );
    }
}

/// One pipeline moves the loss and its bound to the caller's layout alike: a per-element loss
/// (MONAI's part losses with `reduction=none`, paper's `none-per-class`) on channels-last input
/// has every tolerance beside its own entry, and the entries differ, so a misalignment shows.
#[test]
fn per_element_losses_and_their_bounds_share_the_callers_layout() {
    use ufl_oracle::tolerance::Declared;
    use ufl_oracle::Convention;
    let cases = [
        (
            FunctionId::AsymmetricFocalLoss,
            Convention::Monai,
            "reduction",
            "none",
        ),
        (
            FunctionId::AsymmetricFocalTverskyLoss,
            Convention::Monai,
            "reduction",
            "none",
        ),
        (
            FunctionId::AsymUnifiedFocalLoss,
            Convention::Paper,
            "reduction",
            "none-per-class",
        ),
    ];
    for (function, convention, key, value) in cases {
        for layout in [Layout::ChannelsLast, Layout::ChannelsFirst] {
            let shape = match layout {
                Layout::ChannelsLast => vec![2, 3, 4, 2],
                Layout::ChannelsFirst => vec![2, 2, 3, 4],
            };
            let (pred, target) = inputs(&shape, layout, Dtype::F32, 1.5, 7);
            let problem = Problem {
                function,
                convention,
                params: params(&[(key, word(value))]),
                pred,
                target,
                layout,
                dtype: Dtype::F32,
            };
            let answer = problem.evaluate().unwrap();
            let bound = problem.evaluate_in::<F32Bound>(true).unwrap();
            let tolerances = problem.tolerances(Declared::F32).unwrap();
            assert!(
                answer.loss.len() > 2,
                "{function:?}: {:?}",
                answer.loss_shape
            );
            assert_eq!(bound.loss.len(), answer.loss.len());
            assert_eq!(tolerances.loss.len(), answer.loss.len());
            let distinct = answer.loss.windows(2).filter(|w| w[0] != w[1]).count();
            assert!(distinct > 0, "{function:?}: the loss entries must differ");
            for (i, (b, a)) in bound.loss.iter().zip(&answer.loss).enumerate() {
                assert!(
                    (b.v - a).abs() <= 1e-12 * a.abs().max(1e-300),
                    "{function:?} {layout:?} loss[{i}]: bound value {} beside {a}",
                    b.v
                );
                assert!(tolerances.loss[i].tol >= 2.0 * b.e * 0.999);
            }
        }
    }
}
