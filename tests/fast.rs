//! The fast path against the generic evaluator: the same answer within the float64 error bound,
//! the same non-finite entries, the same errors (by falling back), the same bits for any thread
//! count and any instruction set, and the fused forward mode against the generic one.
//!
//! Tolerances. `e` is an entry's float64 error bound (`Problem::evaluate_in::<F64Bound>`): any
//! float64 evaluation of the generic expressions, summing in any order, with library functions
//! within 1 ulp, is within `e` of the exact value. Both the generic f64 evaluator and the fast
//! path are such evaluations (`src/engine/fast/mod.rs`), so they must agree within `2·e`. Non-finite
//! entries must be the same (both NaN, or the same infinity). For a JVP, the derivative along
//! `v` is `⟨grad, v⟩`: each forward mode is within `Σ e_i·|v_i|` (the entries' bounds) plus the
//! bound of a sum of `n` products, `min(n-1, 8√(n-1))·u·Σ|g_i·v_i|`, of it; they must agree
//! within twice that.

mod common;

use common::{num, params, word, Rng};
use rayon::ThreadPoolBuilder;
use ufl_oracle::bound::{F64Bound, SUM_LAMBDA};
use ufl_oracle::fast::{self, Isa};
use ufl_oracle::tensor::Grid;
use ufl_oracle::{Dtype, Layout, ParamValue, Params, Problem, Tensor};

/// How the prediction's values are drawn.
#[derive(Clone, Copy, Debug)]
enum Values {
    /// Softmax of normal logits (a sigmoid for one channel).
    Random,
    /// As `Random`, with a quarter of the entries set on, just inside or just outside a clip
    /// bound, or to 0 or 1.
    NearBounds,
    /// The prediction equals the one-hot target.
    Perfect,
    /// As `Random`, with every target soft (`0.7` on the label, `0.3` shared by the others):
    /// two channels have a target other than zero at every position.
    SoftTargets,
    /// As `Random`, with one soft target, at the first position of the first item: the pair
    /// kernels fall back on that block only.
    OneSoftTarget,
}

struct Case {
    function: &'static str,
    convention: &'static str,
    shape: Vec<usize>,
    layout: Layout,
    dtype: Dtype,
    params: Params,
    values: Values,
    seed: u64,
}

/// The values near the clip bounds every convention uses, in the input dtype.
fn bound_values(dtype: Dtype) -> Vec<f64> {
    let (lo, hi) = dtype.clip_bounds(1e-7);
    let step = |x: f64, up: bool| match dtype {
        Dtype::F32 => {
            let b = (x as f32).to_bits();
            f32::from_bits(if up { b + 1 } else { b - 1 }) as f64
        }
        Dtype::F64 => {
            let b = x.to_bits();
            f64::from_bits(if up { b + 1 } else { b - 1 })
        }
    };
    vec![
        0.0,
        1.0,
        lo,
        hi,
        step(lo, true),
        step(lo, false),
        step(hi, true),
        step(hi, false),
        dtype.round(1e-7),
        dtype.round(1.0 - 1e-7),
    ]
}

fn build(case: &Case) -> Problem {
    let mut rng = Rng::new(case.seed);
    let grid = Grid::of(&case.shape, case.layout);
    let n: usize = case.shape.iter().product();
    let (mut p, mut y) = (vec![0.0; n], vec![0.0; n]);
    let specials = bound_values(case.dtype);
    for b in 0..grid.batch {
        for s in 0..grid.spatial {
            let label = (rng.next_u64() % grid.classes.max(2) as u64) as usize;
            let soft = match case.values {
                Values::SoftTargets => true,
                Values::OneSoftTarget => b == 0 && s == 0,
                _ => false,
            };
            let target = |c: usize, classes: usize| match (soft, c == label) {
                (false, hot) => hot as u8 as f64,
                (true, true) => case.dtype.round(0.7),
                (true, false) => case.dtype.round(0.3 / (classes - 1) as f64),
            };
            if grid.classes == 1 {
                let z = 1.5 * rng.normal();
                y[grid.at(b, s, 0)] = target(1, 2);
                p[grid.at(b, s, 0)] = 1.0 / (1.0 + (-z).exp());
            } else {
                let z: Vec<f64> = (0..grid.classes).map(|_| 1.5 * rng.normal()).collect();
                let total: f64 = z.iter().map(|v| v.exp()).sum();
                for c in 0..grid.classes {
                    y[grid.at(b, s, c)] = target(c, grid.classes);
                    p[grid.at(b, s, c)] = z[c].exp() / total;
                }
            }
            for c in 0..grid.classes {
                let i = grid.at(b, s, c);
                p[i] = match case.values {
                    Values::Random | Values::SoftTargets | Values::OneSoftTarget => p[i],
                    Values::Perfect => y[i],
                    Values::NearBounds if rng.uniform() < 0.25 => {
                        specials[(rng.next_u64() % specials.len() as u64) as usize]
                    }
                    Values::NearBounds => p[i],
                };
                p[i] = case.dtype.round(p[i]);
            }
        }
    }
    Problem::named(
        case.function,
        case.convention,
        case.params.clone(),
        Tensor::new("prediction", case.shape.clone(), p).unwrap(),
        Tensor::new("target", case.shape.clone(), y).unwrap(),
        case.layout,
        case.dtype,
    )
    .unwrap()
}

/// Same non-finite pattern; finite entries within `2·e`. Returns the worst `|diff| / (2e)`.
fn agree(name: &str, what: &str, fast: &[f64], generic: &[f64], bound: &[F64Bound]) -> f64 {
    assert_eq!(fast.len(), generic.len(), "{name}: {what} lengths");
    let mut worst: f64 = 0.0;
    for i in 0..fast.len() {
        let (f, g, e) = (fast[i], generic[i], bound[i].e);
        if !g.is_finite() {
            assert!(
                (g.is_nan() && f.is_nan()) || f == g,
                "{name}: {what}[{i}] fast {f} generic {g}"
            );
            continue;
        }
        let diff = (f - g).abs();
        assert!(
            diff <= 2.0 * e,
            "{name}: {what}[{i}] fast {f:e} generic {g:e} |diff| {diff:e} > 2e = {:e}",
            2.0 * e
        );
        if e > 0.0 {
            worst = worst.max(diff / (2.0 * e));
        }
    }
    worst
}

/// Fast against generic for one case; returns the worst fractions of the tolerance (loss, grad).
fn check_case(case: &Case) -> (f64, f64) {
    let problem = build(case);
    let name = format!(
        "{}/{}/{:?}/{}/{}/{:?}/{:?}",
        case.function,
        case.convention,
        case.shape,
        case.layout.name(),
        case.dtype.name(),
        case.params,
        case.values
    );
    assert!(fast::covers(&problem), "{name}: not covered");
    let fast = fast::evaluate(&problem).unwrap_or_else(|| panic!("{name}: fast path refused"));
    let generic = problem.evaluate_in::<f64>(true).unwrap();
    let bound = problem.evaluate_in::<F64Bound>(true).unwrap();
    assert_eq!(fast.loss_shape, generic.loss_shape, "{name}");
    let loss = agree(&name, "loss", &fast.loss, &generic.loss, &bound.loss);
    let grad = agree(
        &name,
        "grad",
        &fast.grad,
        generic.grad.as_ref().unwrap(),
        bound.grad.as_ref().unwrap(),
    );
    // Problem::evaluate is the fast path for a covered problem.
    let via_problem = problem.evaluate().unwrap();
    assert_eq!(bits(&via_problem.grad), bits(&fast.grad), "{name}");
    // The value alone is the same computation.
    let (value, shape) = fast::value(&problem).unwrap();
    assert_eq!(
        (bits(&value), shape),
        (bits(&fast.loss), fast.loss_shape),
        "{name}"
    );
    (loss, grad)
}

fn bits(xs: &[f64]) -> Vec<u64> {
    xs.iter().map(|x| x.to_bits()).collect()
}

fn p(pairs: &[(&str, f64)]) -> Params {
    params(
        &pairs
            .iter()
            .map(|&(k, v)| (k, num(v)))
            .collect::<Vec<(&str, ParamValue)>>(),
    )
}

/// Every covered (function, convention, layout) with parameters at and away from the defaults.
fn sweep() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut seed = 1;
    let mut push = |function: &'static str,
                    convention: &'static str,
                    shape: Vec<usize>,
                    layout: Layout,
                    params: Params| {
        for dtype in [Dtype::F64, Dtype::F32] {
            for values in [
                Values::Random,
                Values::NearBounds,
                Values::Perfect,
                Values::SoftTargets,
                Values::OneSoftTarget,
            ] {
                seed += 1;
                cases.push(Case {
                    function,
                    convention,
                    shape: shape.clone(),
                    layout,
                    dtype,
                    params: params.clone(),
                    values,
                    seed,
                });
            }
        }
    };
    let cl = Layout::ChannelsLast;
    let cf = Layout::ChannelsFirst;
    for (shape, layout) in [
        (vec![2, 5, 7, 2], cl),
        (vec![1, 4, 3, 3], cl),
        (vec![2, 3, 4, 3, 2], cl),
        (vec![2, 3, 5, 7], cf),
        (vec![1, 2, 3, 4, 5], cf),
    ] {
        for (f, params) in [
            ("dice_loss", p(&[])),
            ("dice_loss", p(&[("delta", 0.8), ("smooth", 1.0)])),
            ("tversky_loss", p(&[])),
            ("dice_coefficient", p(&[("delta", 0.3)])),
            ("focal_tversky_loss", p(&[])),
            ("focal_tversky_loss", p(&[("delta", 0.2), ("gamma", 1.9)])),
            ("asym_unified_focal_loss", p(&[])),
            ("sym_unified_focal_loss", p(&[])),
            (
                "asym_unified_focal_loss",
                params(&[
                    ("weight", ParamValue::Null),
                    ("delta", num(0.35)),
                    ("gamma", num(0.0)),
                ]),
            ),
            (
                "sym_unified_focal_loss",
                p(&[("weight", 0.2), ("delta", 0.9), ("gamma", 1.7)]),
            ),
            (
                "asym_unified_focal_loss",
                p(&[("weight", 1.0), ("gamma", 2.0)]),
            ),
            (
                "sym_unified_focal_loss",
                p(&[("weight", 0.0), ("gamma", 1.0)]),
            ),
            ("symmetric_focal_loss", p(&[])),
            (
                "asymmetric_focal_loss",
                p(&[("delta", 0.4), ("gamma", 0.5)]),
            ),
            ("symmetric_focal_tversky_loss", p(&[("gamma", 1.3)])),
            ("asymmetric_focal_tversky_loss", p(&[])),
        ] {
            push(f, "original", shape.clone(), layout, params);
        }
    }
    for (shape, layout) in [
        (vec![2, 3, 4, 5], cf),
        (vec![2, 4, 5, 3], cl),
        (vec![2, 1, 4, 5], cf),
        (vec![3, 4, 1], cl),
        (vec![2, 2, 3, 2, 2], cf),
        (vec![2, 3], cl),
    ] {
        for f in ["asym_unified_focal_loss", "sym_unified_focal_loss"] {
            for params in [
                p(&[]),
                params(&[
                    ("delta", num(0.75)),
                    ("gamma", num(0.3)),
                    ("lambda", num(0.2)),
                    ("reduction", word("sum")),
                    ("region", word("class-mean")),
                ]),
                params(&[
                    ("gamma", num(0.0)),
                    ("lambda", num(1.0)),
                    ("eps", num(1e-4)),
                    ("reduction", word("none")),
                ]),
                params(&[
                    ("gamma", num(0.93)),
                    ("lambda", num(0.0)),
                    ("reduction", word("none-per-class")),
                    ("rare_classes", ParamValue::List(vec![0.0])),
                ]),
            ] {
                push(f, "paper", shape.clone(), layout, params);
            }
        }
        for f in [
            "symmetric_focal_loss",
            "asymmetric_focal_loss",
            "symmetric_focal_tversky_loss",
            "asymmetric_focal_tversky_loss",
        ] {
            let region = if f.ends_with("tversky_loss") {
                vec![("region", word("class-mean"))]
            } else {
                vec![]
            };
            for mut params_list in [
                vec![],
                vec![
                    ("delta", num(0.75)),
                    ("gamma", num(0.3)),
                    ("reduction", word("sum")),
                ],
                vec![("gamma", num(0.0)), ("reduction", word("none"))],
                vec![
                    ("gamma", num(0.9)),
                    ("reduction", word("none-per-class")),
                    ("rare_classes", ParamValue::List(vec![0.0])),
                ],
            ] {
                params_list.extend(region.iter().cloned());
                push(f, "paper", shape.clone(), layout, params(&params_list));
            }
        }
    }
    for (shape, layout) in [
        (vec![2, 2, 5, 7], cf),
        (vec![1, 2, 3, 4, 5], cf),
        (vec![2, 3, 4, 4], cf),
        (vec![2, 1, 5, 4], cf),
        (vec![1, 1, 3, 3, 2], cf),
        (vec![2, 4, 5, 2], cl),
    ] {
        for params in [
            p(&[]),
            p(&[("delta", 0.4), ("gamma", 0.0), ("weight", 0.8)]),
            p(&[
                ("delta", 1.0),
                ("gamma", 3.5),
                ("weight", 0.0),
                ("num_classes", 3.0),
            ]),
            p(&[("gamma", 1.0), ("weight", 1.0)]),
        ] {
            push(
                "asym_unified_focal_loss",
                "monai",
                shape.clone(),
                layout,
                params,
            );
        }
    }
    for (shape, layout) in [
        (vec![2, 2, 5, 7], cf),
        (vec![1, 3, 4, 5], cf),
        (vec![2, 2, 9], cf),
        (vec![1, 2, 3, 2, 4], cf),
    ] {
        for f in ["asymmetric_focal_loss", "asymmetric_focal_tversky_loss"] {
            for params in [
                p(&[]),
                params(&[
                    ("delta", num(0.4)),
                    ("gamma", num(0.0)),
                    ("reduction", word("sum")),
                ]),
                params(&[
                    ("gamma", num(3.5)),
                    ("epsilon", num(1e-4)),
                    ("reduction", word("mean")),
                ]),
                params(&[("gamma", num(1.0)), ("reduction", word("sum"))]),
            ] {
                push(f, "monai", shape.clone(), layout, params);
            }
        }
        push(
            "asymmetric_focal_tversky_loss",
            "monai",
            shape.clone(),
            layout,
            params(&[("reduction", word("none"))]),
        );
    }
    cases
}

#[test]
fn fast_path_equals_the_generic_evaluator_within_the_error_bound() {
    let cases = sweep();
    let mut worst = (0.0f64, 0.0f64);
    for case in &cases {
        let (l, g) = check_case(case);
        worst = (worst.0.max(l), worst.1.max(g));
    }
    println!(
        "{} cases: worst disagreement as a fraction of 2e: loss {:.3}, gradient {:.3}",
        cases.len(),
        worst.0,
        worst.1
    );
    assert!(cases.len() > 300);
}

#[test]
fn several_work_items_and_partial_blocks_agree_too() {
    // 130·129 = 16770 positions: two work items of 16384 and 386, the last block partial.
    for (function, convention, shape, layout) in [
        (
            "asym_unified_focal_loss",
            "monai",
            vec![1, 2, 130, 129],
            Layout::ChannelsFirst,
        ),
        (
            "asym_unified_focal_loss",
            "original",
            vec![2, 130, 129, 2],
            Layout::ChannelsLast,
        ),
        (
            "sym_unified_focal_loss",
            "paper",
            vec![1, 130, 129, 3],
            Layout::ChannelsLast,
        ),
        (
            "dice_loss",
            "original",
            vec![1, 3, 130, 129],
            Layout::ChannelsFirst,
        ),
        (
            "asym_unified_focal_loss",
            "original",
            vec![1, 70, 60, 4, 2],
            Layout::ChannelsLast,
        ),
    ] {
        for dtype in [Dtype::F64, Dtype::F32] {
            check_case(&Case {
                function,
                convention,
                shape: shape.clone(),
                layout,
                dtype,
                params: p(&[("gamma", 0.7)])
                    .into_iter()
                    .filter(|_| function != "dice_loss")
                    .collect(),
                values: Values::NearBounds,
                seed: 17,
            });
        }
    }
}

#[test]
fn a_zero_base_gives_the_references_nan_in_the_same_entries() {
    // δ = 1 on a class absent from the target: TI ≡ 1, x = 0, and the original's x·x^(-γ)
    // is 0·∞ = NaN in the loss and, through TensorFlow's product rule, in the gradient.
    let shape = vec![1, 3, 3, 2];
    let p = vec![
        0.6, 0.4, 0.7, 0.3, 0.55, 0.45, 0.8, 0.2, 0.9, 0.1, 0.65, 0.35, 0.75, 0.25, 0.6, 0.4, 0.7,
        0.3,
    ];
    let y: Vec<f64> = (0..18)
        .map(|i| if i % 2 == 0 { 1.0 } else { 0.0 })
        .collect();
    let problem = Problem::named(
        "asym_unified_focal_loss",
        "original",
        params(&[("delta", num(1.0))]),
        Tensor::new("prediction", shape.clone(), p).unwrap(),
        Tensor::new("target", shape, y).unwrap(),
        Layout::ChannelsLast,
        Dtype::F64,
    )
    .unwrap();
    let fast = fast::evaluate(&problem).unwrap();
    let generic = problem.evaluate_in::<f64>(true).unwrap();
    assert!(fast.loss[0].is_nan() && generic.loss[0].is_nan());
    let g = generic.grad.unwrap();
    assert!(g.iter().any(|x| x.is_nan()));
    for (a, b) in fast.grad.iter().zip(&g) {
        assert_eq!(a.is_nan(), b.is_nan(), "{a} {b}");
    }
}

/// Problems large enough for several work items, in every covered convention.
fn large_problems() -> Vec<Problem> {
    [
        (
            "asym_unified_focal_loss",
            "monai",
            vec![1, 2, 40, 40, 24],
            Layout::ChannelsFirst,
            p(&[]),
        ),
        (
            "asym_unified_focal_loss",
            "original",
            vec![2, 40, 40, 12, 2],
            Layout::ChannelsLast,
            p(&[("gamma", 0.7)]),
        ),
        (
            "sym_unified_focal_loss",
            "paper",
            vec![2, 3, 150, 120],
            Layout::ChannelsFirst,
            p(&[]),
        ),
        (
            "focal_tversky_loss",
            "original",
            vec![2, 150, 120, 3],
            Layout::ChannelsLast,
            p(&[]),
        ),
        (
            "asymmetric_focal_loss",
            "monai",
            vec![1, 2, 130, 150],
            Layout::ChannelsFirst,
            p(&[]),
        ),
        (
            "symmetric_focal_loss",
            "original",
            vec![2, 120, 110, 2],
            Layout::ChannelsLast,
            p(&[("gamma", 1.5)]),
        ),
    ]
    .into_iter()
    .enumerate()
    .map(|(k, (function, convention, shape, layout, params))| {
        build(&Case {
            function,
            convention,
            shape,
            layout,
            dtype: Dtype::F32,
            params,
            values: Values::NearBounds,
            seed: 100 + k as u64,
        })
    })
    .collect()
}

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
fn results_are_the_same_bits_for_one_two_and_four_threads() {
    for problem in large_problems() {
        let v = direction(&problem.pred.shape, 5);
        let run = |threads: usize| {
            let pool = ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let e = fast::evaluate(&problem).unwrap();
                let j: Vec<f64> = fast::jvp(&problem, &v)
                    .unwrap()
                    .iter()
                    .flat_map(|d| [d.value, d.derivative])
                    .collect();
                (bits(&e.loss), bits(&e.grad), bits(&j))
            })
        };
        let one = run(1);
        assert!(one.1.len() > 2 * fast::CHUNK);
        assert_eq!(one, run(2), "{:?}", problem.function);
        assert_eq!(one, run(4), "{:?}", problem.function);
    }
}

#[test]
fn results_are_the_same_bits_for_every_instruction_set() {
    let isas = Isa::available();
    println!("instruction sets on this processor: {isas:?}");
    for problem in large_problems() {
        let v = direction(&problem.pred.shape, 6);
        let run = |isa: Isa| {
            let e = fast::evaluate_with(&problem, isa).unwrap();
            let j: Vec<f64> = fast::jvp_with(&problem, &v, isa)
                .unwrap()
                .iter()
                .flat_map(|d| [d.value, d.derivative])
                .collect();
            (bits(&e.loss), bits(&e.grad), bits(&j))
        };
        let reference = run(Isa::Scalar);
        for &isa in &isas {
            assert_eq!(reference, run(isa), "{:?} {isa:?}", problem.function);
        }
    }
}

#[test]
fn fused_forward_mode_agrees_with_the_generic_forward_mode() {
    let mut worst: f64 = 0.0;
    let mut cases = sweep();
    cases.retain(|c| matches!(c.values, Values::Random | Values::NearBounds));
    for (k, case) in cases.iter().enumerate() {
        let problem = build(case);
        let v = direction(&problem.pred.shape, k as u64);
        let fast = fast::jvp(&problem, &v).unwrap();
        let generic = problem.jvp_generic(&v).unwrap();
        assert_eq!(fast.len(), generic.len());
        let grad = problem.evaluate_in::<f64>(true).unwrap().grad.unwrap();
        let bound = problem.evaluate_in::<F64Bound>(true).unwrap();
        let e = bound.grad.unwrap();
        let n = grad.len() as f64;
        let sum_factor = (n - 1.0).min(SUM_LAMBDA * (n - 1.0).sqrt()) * F64Bound::U;
        let tol_derivative = 2.0
            * (e.iter()
                .zip(&v.data)
                .map(|(e, v)| e.e * v.abs())
                .sum::<f64>()
                + sum_factor
                    * grad
                        .iter()
                        .zip(&v.data)
                        .map(|(g, v)| (g * v).abs())
                        .sum::<f64>());
        for (i, (f, g)) in fast.iter().zip(&generic).enumerate() {
            if !g.derivative.is_finite() || !tol_derivative.is_finite() {
                assert_eq!(f.derivative.is_nan(), g.derivative.is_nan());
                continue;
            }
            let tol_value = 2.0 * bound.loss[i].e;
            assert!(
                (f.value - g.value).abs() <= tol_value,
                "{k}: value {} vs {}",
                f.value,
                g.value
            );
            let diff = (f.derivative - g.derivative).abs();
            assert!(
                diff <= tol_derivative,
                "case {k} ({} {}): derivative {:e} vs {:e}, |diff| {diff:e} > {tol_derivative:e}",
                case.function,
                case.convention,
                f.derivative,
                g.derivative
            );
            worst = worst.max(diff / tol_derivative);
        }
    }
    println!("worst JVP disagreement as a fraction of its tolerance: {worst:.3}");
}

#[test]
fn uncovered_problems_and_bad_values_go_to_the_generic_evaluator() {
    let good = build(&Case {
        function: "asym_unified_focal_loss",
        convention: "monai",
        shape: vec![1, 2, 4, 4],
        layout: Layout::ChannelsFirst,
        dtype: Dtype::F32,
        params: p(&[]),
        values: Values::Random,
        seed: 3,
    });
    assert!(fast::evaluate(&good).is_some());
    // Not covered: other functions, logits, one-hot conversion, ignore masks.
    let mut other = good.clone();
    other.function = "focal_loss".parse().unwrap();
    other.convention = "original".parse().unwrap();
    assert!(!fast::covers(&other));
    let mut per_element = good.clone();
    per_element.function = "asymmetric_focal_loss".parse().unwrap();
    per_element.params = params(&[("reduction", word("none"))]);
    assert!(!fast::covers(&per_element));
    let mut onehot = good.clone();
    onehot.params = params(&[("to_onehot_y", ParamValue::Bool(true))]);
    assert!(!fast::covers(&onehot));
    let mut ignore = good.clone();
    ignore.params = p(&[("ignore_index", 1.0)]);
    assert!(!fast::covers(&ignore));
    let mut logits = good.clone();
    logits.convention = "paper".parse().unwrap();
    logits.params = params(&[("input", word("logits"))]);
    assert!(!fast::covers(&logits));
    // Covered, but a value is bad: the fast path declines, and Problem::evaluate reports the
    // generic evaluator's error. The values are checked by the pair loop (two channels read
    // directly), by the per-channel loops (every channel read by one), or before the block
    // (a channel no loop reads, one channel expanded to two, soft labels): each is tried, with
    // hard and soft labels.
    let bad_values: [(usize, f64, &str); 4] = [
        (3, 1.5, "prediction"),
        (5, 0.1, "prediction"),
        (7, 2.0, "target"),
        (8, -0.5, "target"),
    ];
    let checked_by = [
        (
            "asym_unified_focal_loss",
            "monai",
            vec![1, 2, 4, 4],
            Layout::ChannelsFirst,
        ),
        (
            "asym_unified_focal_loss",
            "monai",
            vec![1, 1, 4, 4],
            Layout::ChannelsFirst,
        ),
        (
            "asym_unified_focal_loss",
            "original",
            vec![1, 4, 4, 2],
            Layout::ChannelsLast,
        ),
        (
            "asym_unified_focal_loss",
            "original",
            vec![1, 4, 4, 3],
            Layout::ChannelsLast,
        ),
        (
            "dice_loss",
            "original",
            vec![1, 4, 4, 3],
            Layout::ChannelsLast,
        ),
        (
            "sym_unified_focal_loss",
            "paper",
            vec![1, 3, 4, 4],
            Layout::ChannelsFirst,
        ),
    ];
    for (function, convention, shape, layout) in checked_by {
        for (values, dtype) in [
            (Values::Random, Dtype::F32),
            (Values::Random, Dtype::F64),
            (Values::SoftTargets, Dtype::F32),
        ] {
            let good = build(&Case {
                function,
                convention,
                shape: shape.clone(),
                layout,
                dtype,
                params: p(&[]),
                values,
                seed: 5,
            });
            assert!(
                fast::evaluate(&good).is_some(),
                "{function} {convention} {shape:?}"
            );
            for (index, value, which) in bad_values {
                if value == 0.1 && dtype == Dtype::F64 {
                    continue; // a float64 value
                }
                let mut bad = good.clone();
                match which {
                    "prediction" => bad.pred.data[index] = value,
                    _ => bad.target.data[index] = value,
                }
                let name = format!(
                    "{function} {convention} {shape:?} {values:?} {dtype:?}: {value} at {index}"
                );
                assert!(fast::covers(&bad), "{name}");
                assert!(fast::evaluate(&bad).is_none(), "{name}");
                assert!(fast::value(&bad).is_none(), "{name}");
                let expected = bad.evaluate_in::<f64>(true).unwrap_err().to_string();
                assert_eq!(bad.evaluate().unwrap_err().to_string(), expected, "{name}");
            }
        }
    }
    let mut nan_direction = direction(&good.pred.shape, 1);
    nan_direction.data[2] = f64::NAN;
    assert!(fast::jvp(&good, &nan_direction).is_none());
    assert_eq!(
        good.jvp(&nan_direction).unwrap_err().to_string(),
        good.jvp_generic(&nan_direction).unwrap_err().to_string()
    );
    // A shape the original refuses.
    let mut rank3 = good.clone();
    rank3.convention = "original".parse().unwrap();
    rank3.pred = Tensor::new("prediction", vec![2, 4, 2], good.pred.data[..16].to_vec()).unwrap();
    rank3.target = Tensor::new("target", vec![2, 4, 2], good.target.data[..16].to_vec()).unwrap();
    assert!(!fast::covers(&rank3));
    assert!(rank3.evaluate().is_err());
}

/// Float32 inputs kept in float32 (as the command line reads a float32 `.npy` file) give the
/// bits of the same inputs widened to float64, in every covered configuration; a value the
/// float64 path refuses is refused too.
#[test]
fn float32_storage_gives_the_bits_of_the_widened_inputs() {
    use ufl_oracle::fast::input::Values;
    use ufl_oracle::fast::plan::Spec;
    let mut compared = 0;
    for case in sweep().into_iter().filter(|c| c.dtype == Dtype::F32) {
        let problem = build(&case);
        let narrow = |t: &Tensor| -> Vec<f32> { t.data.iter().map(|&x| x as f32).collect() };
        let (p32, t32) = (narrow(&problem.pred), narrow(&problem.target));
        let spec = Spec::of(&problem);
        let stored = fast::evaluate_stored(&spec, Values::F32(&p32), Values::F32(&t32))
            .unwrap_or_else(|| panic!("{:?}: refused", case.function));
        let widened = fast::evaluate(&problem).unwrap();
        assert_eq!(bits(&stored.loss), bits(&widened.loss), "{}", case.function);
        assert_eq!(bits(&stored.grad), bits(&widened.grad), "{}", case.function);
        compared += 1;
    }
    assert!(compared > 100, "{compared}");
    for problem in large_problems() {
        let narrow = |t: &Tensor| -> Vec<f32> { t.data.iter().map(|&x| x as f32).collect() };
        let (mut p32, t32) = (narrow(&problem.pred), narrow(&problem.target));
        let spec = Spec::of(&problem);
        let stored = fast::evaluate_stored(&spec, Values::F32(&p32), Values::F32(&t32)).unwrap();
        assert_eq!(
            bits(&stored.grad),
            bits(&fast::evaluate(&problem).unwrap().grad)
        );
        p32[12345] = 1.5;
        assert!(fast::evaluate_stored(&spec, Values::F32(&p32), Values::F32(&t32)).is_none());
        assert!(fast::evaluate_stored(&spec, Values::F32(&p32[1..]), Values::F32(&t32)).is_none());
    }
}

/// MONAI's `to_onehot_y` on a `(B, 1, S…)` label map: the fast path expands the labels and
/// agrees with the generic evaluator (which expands them as MONAI does) within the bound, the
/// JVP included; a label that is not a class index, `ignore_index`, or a class count other than
/// the channels' sends the problem to the generic evaluator, which gives its answer or error.
#[test]
fn to_onehot_y_label_maps_take_the_fast_path() {
    let mut compared = 0;
    for (function, shape, extra) in [
        ("asym_unified_focal_loss", vec![2, 2, 5, 7], vec![]),
        (
            "asym_unified_focal_loss",
            vec![1, 3, 3, 4, 5],
            vec![("num_classes", num(3.0))],
        ),
        (
            "asymmetric_focal_loss",
            vec![1, 3, 4, 5],
            vec![("reduction", word("sum"))],
        ),
        ("asymmetric_focal_loss", vec![2, 2, 9], vec![]),
        (
            "asymmetric_focal_tversky_loss",
            vec![1, 3, 4, 5],
            vec![("reduction", word("none"))],
        ),
        (
            "asymmetric_focal_tversky_loss",
            vec![2, 2, 3, 2, 4],
            vec![("gamma", num(0.3))],
        ),
    ] {
        for dtype in [Dtype::F64, Dtype::F32] {
            let one_hot = build(&Case {
                function,
                convention: "monai",
                shape: shape.clone(),
                layout: Layout::ChannelsFirst,
                dtype,
                params: p(&[]),
                values: Values::NearBounds,
                seed: 900 + compared,
            });
            let (b, c) = (shape[0], shape[1]);
            let s: usize = shape[2..].iter().product();
            let labels: Vec<f64> = (0..b * s)
                .map(|i| {
                    let (bi, si) = (i / s, i % s);
                    (0..c)
                        .find(|&ci| one_hot.target.data[(bi * c + ci) * s + si] == 1.0)
                        .unwrap() as f64
                })
                .collect();
            let mut labels_shape = shape.clone();
            labels_shape[1] = 1;
            let mut pairs = extra.clone();
            pairs.push(("to_onehot_y", ParamValue::Bool(true)));
            let mut problem = one_hot.clone();
            problem.params = params(&pairs);
            problem.target = Tensor::new("target", labels_shape, labels).unwrap();
            let name = format!("{function} {shape:?} {dtype:?}");
            assert!(fast::covers(&problem), "{name}");
            let fast = fast::evaluate(&problem).unwrap_or_else(|| panic!("{name}: refused"));
            let generic = problem.evaluate_in::<f64>(true).unwrap();
            let bound = problem.evaluate_in::<F64Bound>(true).unwrap();
            assert_eq!(fast.loss_shape, generic.loss_shape, "{name}");
            agree(&name, "loss", &fast.loss, &generic.loss, &bound.loss);
            let (gg, ge) = (generic.grad.unwrap(), bound.grad.unwrap());
            agree(&name, "grad", &fast.grad, &gg, &ge);
            // The same bits as the one-hot target given directly (whose JVP the forward-mode
            // test checks against the generic one), the JVP included.
            let mut direct = one_hot.clone();
            direct.params = params(&extra);
            let direct_answer = fast::evaluate(&direct).unwrap();
            assert_eq!(bits(&fast.grad), bits(&direct_answer.grad), "{name}");
            assert_eq!(bits(&fast.loss), bits(&direct_answer.loss), "{name}");
            let v = direction(&shape, 5);
            let jvp_bits = |d: Vec<ufl_oracle::derivatives::Directional>| {
                d.iter()
                    .map(|d| (d.value.to_bits(), d.derivative.to_bits()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                jvp_bits(fast::jvp(&problem, &v).unwrap()),
                jvp_bits(fast::jvp(&direct, &v).unwrap()),
                "{name}: jvp"
            );
            assert_eq!(problem.jvp(&v).unwrap().len(), fast.loss.len(), "{name}");
            // Labels the fast path does not take.
            for bad in [c as f64, 0.5, -1.0, f64::NAN] {
                let mut wrong = problem.clone();
                wrong.target.data[3] = bad;
                assert!(fast::evaluate(&wrong).is_none(), "{name}: label {bad}");
                let generic = wrong.evaluate_in::<f64>(true).map(|e| e.loss);
                let answered = wrong.evaluate().map(|e| e.loss);
                assert_eq!(
                    format!("{answered:?}"),
                    format!("{generic:?}"),
                    "{name}: label {bad}"
                );
            }
            let mut ignore = problem.clone();
            ignore.params.insert("ignore_index".into(), num(5.0));
            assert!(!fast::covers(&ignore), "{name}");
            compared += 1;
        }
    }
    let mut classes = build(&Case {
        function: "asym_unified_focal_loss",
        convention: "monai",
        shape: vec![1, 2, 3, 3],
        layout: Layout::ChannelsFirst,
        dtype: Dtype::F64,
        params: params(&[
            ("to_onehot_y", ParamValue::Bool(true)),
            ("num_classes", num(3.0)),
        ]),
        values: Values::Random,
        seed: 3,
    });
    classes.target = Tensor::new("target", vec![1, 1, 3, 3], vec![1.0; 9]).unwrap();
    assert!(!fast::covers(&classes));
    assert_eq!(compared, 12);
}
