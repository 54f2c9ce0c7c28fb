//! Deterministic inputs for the integration tests: softmax predictions and one-hot targets in
//! either layout, from a small xorshift generator (no randomness between runs).

#![allow(dead_code)]

use ufl_oracle::{Convention, Dtype, FunctionId, Layout, ParamValue, Params, Problem, Tensor};

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Approximately standard normal (sum of 12 uniforms).
    pub fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.uniform()).sum::<f64>() - 6.0
    }
}

/// Softmax probabilities and one-hot targets of `shape` in `layout` (C = 1: a sigmoid and a
/// binary mask), rounded to `dtype`.
pub fn inputs(
    shape: &[usize],
    layout: Layout,
    dtype: Dtype,
    scale: f64,
    seed: u64,
) -> (Tensor, Tensor) {
    let mut rng = Rng::new(seed);
    let grid = ufl_oracle::tensor::Grid::of(shape, layout);
    let n: usize = shape.iter().product();
    let mut p = vec![0.0; n];
    let mut y = vec![0.0; n];
    for b in 0..grid.batch {
        for s in 0..grid.spatial {
            if grid.classes == 1 {
                let z = scale * rng.normal();
                p[grid.at(b, s, 0)] = dtype.round(1.0 / (1.0 + (-z).exp()));
                y[grid.at(b, s, 0)] = if rng.uniform() < 0.3 { 1.0 } else { 0.0 };
                continue;
            }
            let z: Vec<f64> = (0..grid.classes).map(|_| scale * rng.normal()).collect();
            let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
            let total: f64 = e.iter().sum();
            for c in 0..grid.classes {
                p[grid.at(b, s, c)] = dtype.round(e[c] / total);
            }
            let label = if rng.uniform() < 0.6 {
                0
            } else {
                1 + (rng.next_u64() as usize) % (grid.classes - 1)
            };
            y[grid.at(b, s, label)] = 1.0;
        }
    }
    (
        Tensor::new("prediction", shape.to_vec(), p).unwrap(),
        Tensor::new("target", shape.to_vec(), y).unwrap(),
    )
}

pub fn params(pairs: &[(&str, ParamValue)]) -> Params {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

pub fn num(x: f64) -> ParamValue {
    ParamValue::Number(x)
}

pub fn word(w: &str) -> ParamValue {
    ParamValue::Text(w.to_string())
}

/// One representative problem per (function, convention, shape family) that every convention
/// accepts, with parameters away from the defaults.
pub fn sample_problems() -> Vec<(String, Problem)> {
    let mut out = Vec::new();
    for f in ufl_oracle::FUNCTIONS {
        for conv in f.conventions() {
            let shapes: Vec<(Vec<usize>, Layout)> = match conv {
                Convention::Original => vec![
                    (vec![2, 5, 4, 2], Layout::ChannelsLast),
                    (vec![1, 3, 4, 3, 2], Layout::ChannelsLast),
                    (vec![2, 2, 5, 4], Layout::ChannelsFirst),
                ],
                Convention::Paper => vec![
                    (vec![2, 3, 4, 4], Layout::ChannelsFirst),
                    (vec![2, 4, 4, 3], Layout::ChannelsLast),
                    (vec![2, 1, 3, 3, 2], Layout::ChannelsFirst),
                ],
                Convention::Monai => vec![
                    (vec![2, 2, 4, 5], Layout::ChannelsFirst),
                    (vec![1, 2, 3, 3, 2], Layout::ChannelsFirst),
                ],
            };
            for (k, (shape, layout)) in shapes.into_iter().enumerate() {
                let mut p = Params::new();
                match (f.id, conv) {
                    (FunctionId::FocalLoss, _) => {
                        p.insert("gamma_f".into(), num(1.5));
                        if shape[shape.len() - 1] == 2 && layout == Layout::ChannelsLast {
                            p.insert("alpha".into(), ParamValue::List(vec![0.3, 0.7]));
                        }
                    }
                    (FunctionId::ComboLoss, _) => {
                        p.insert("alpha".into(), num(0.4));
                    }
                    (
                        FunctionId::DiceLoss
                        | FunctionId::TverskyLoss
                        | FunctionId::DiceCoefficient,
                        _,
                    ) => {
                        p.insert("delta".into(), num(0.65));
                    }
                    (_, Convention::Paper) => {
                        p.insert("delta".into(), num(0.7));
                        p.insert("gamma".into(), num(0.3));
                        if matches!(
                            f.id,
                            FunctionId::SymUnifiedFocalLoss | FunctionId::AsymUnifiedFocalLoss
                        ) {
                            p.insert("lambda".into(), num(0.35));
                        }
                        if k == 1 {
                            p.insert("input".into(), word("logits"));
                            p.insert("reduction".into(), word("sum"));
                        }
                        if k == 2
                            && f.id != FunctionId::SymmetricFocalLoss
                            && f.id != FunctionId::AsymmetricFocalLoss
                        {
                            p.insert("region".into(), word("class-mean"));
                        }
                    }
                    (_, _) => {
                        p.insert("delta".into(), num(0.65));
                        p.insert("gamma".into(), num(0.3));
                        if matches!(
                            f.id,
                            FunctionId::SymUnifiedFocalLoss | FunctionId::AsymUnifiedFocalLoss
                        ) {
                            p.insert("weight".into(), num(0.35));
                        }
                    }
                }
                let (pred, target) = inputs(
                    &shape,
                    layout,
                    Dtype::F64,
                    1.5,
                    7 + k as u64 * 31 + f.id as u64,
                );
                let logits = p.get("input") == Some(&word("logits"));
                let pred = if logits {
                    // Logits: the log of the probabilities, shifted.
                    Tensor::new(
                        "prediction",
                        pred.shape.clone(),
                        pred.data.iter().map(|&x| x.ln() + 0.3).collect(),
                    )
                    .unwrap()
                } else {
                    pred
                };
                let name = format!("{}/{}/{:?}/{}", f.name, conv, shape, layout.name());
                out.push((
                    name,
                    Problem {
                        function: f.id,
                        convention: conv,
                        params: p,
                        pred,
                        target,
                        layout,
                        dtype: Dtype::F64,
                    },
                ));
            }
        }
    }
    out
}

/// The raw draws a generated problem is built from; printed by proptest on failure, so a
/// failing case can be rebuilt with [`build`].
#[derive(Clone, Debug)]
pub struct Draw {
    pub function: usize,
    pub convention: usize,
    pub spatial: Vec<usize>,
    pub classes: usize,
    pub batch: usize,
    pub channels_last: bool,
    pub float32: bool,
    pub logits: bool,
    pub seed: u64,
    pub scale: f64,
    pub delta: f64,
    pub gamma: f64,
    pub weight: f64,
    pub choice: usize,
}

/// Runs a property over `PROPTEST_CASES` generated draws (default `default_cases`), with the
/// seed from `PROPTEST_RNG_SEED` or a fresh one, always printed. A failure is shrunk to a
/// minimal draw, and the panic message says how to replay it.
pub fn check<S, F>(name: &str, default_cases: u32, strategy: S, property: F)
where
    S: proptest::strategy::Strategy,
    S::Value: std::fmt::Debug,
    F: Fn(S::Value) -> Result<(), proptest::test_runner::TestCaseError>,
{
    use proptest::test_runner::{Config, RngSeed, TestRunner};
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1);
            t ^ (std::process::id() as u64).rotate_left(32)
        });
    println!("{name}: {cases} cases, seed {seed} (replay: PROPTEST_RNG_SEED={seed} PROPTEST_CASES={cases})");
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, property) {
        panic!("{name} failed: {e}\nreplay with PROPTEST_RNG_SEED={seed} PROPTEST_CASES={cases}");
    }
}

pub fn draws() -> impl proptest::strategy::Strategy<Value = Draw> {
    use proptest::prelude::*;
    (
        (
            0usize..12,
            0usize..3,
            proptest::collection::vec(1usize..5, 1..=3),
            1usize..=5,
            1usize..=2,
        ),
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<u64>(),
            0.3f64..3.0,
        ),
        (0.05f64..0.95, 0.0f64..0.95, 0.0f64..1.0, 0usize..1000),
    )
        .prop_map(
            |(
                (function, convention, spatial, classes, batch),
                (channels_last, float32, logits, seed, scale),
                (delta, gamma, weight, choice),
            )| Draw {
                function,
                convention,
                spatial,
                classes,
                batch,
                channels_last,
                float32,
                logits,
                seed,
                scale,
                delta,
                gamma,
                weight,
                choice,
            },
        )
}

/// Builds a valid problem from a draw: the convention is one the function has, the shape one
/// the convention accepts, the parameters drawn away from the defaults (δ, γ, λ anywhere in
/// their ranges) and in range.
pub fn build(d: &Draw) -> Problem {
    use ufl_oracle::FUNCTIONS;
    let spec = &FUNCTIONS[d.function];
    let conventions: Vec<Convention> = spec.conventions().collect();
    let convention = conventions[d.convention % conventions.len()];
    let f = spec.id;
    let mut spatial = d.spatial.clone();
    let mut classes = d.classes.max(2);
    let mut layout = if d.channels_last {
        Layout::ChannelsLast
    } else {
        Layout::ChannelsFirst
    };
    let binary_parts = matches!(
        f,
        FunctionId::SymmetricFocalLoss
            | FunctionId::AsymmetricFocalLoss
            | FunctionId::SymUnifiedFocalLoss
            | FunctionId::AsymUnifiedFocalLoss
    );
    let mut params = Params::new();
    match convention {
        Convention::Original => {
            if spatial.len() == 1 {
                spatial.push(1);
            }
            if spatial.len() == 3 && binary_parts {
                spatial[2] = spatial[2].max(2); // the depth slice needs D ≥ 2
            }
            match f {
                FunctionId::DiceLoss | FunctionId::TverskyLoss | FunctionId::DiceCoefficient => {
                    params.insert("delta".into(), num(d.delta));
                    params.insert(
                        "smooth".into(),
                        num(if d.choice % 2 == 0 { 1e-6 } else { 1.0 }),
                    );
                }
                FunctionId::FocalTverskyLoss => {
                    params.insert("delta".into(), num(d.delta));
                    params.insert("gamma".into(), num(d.gamma * 2.0));
                }
                FunctionId::FocalLoss => {
                    params.insert("gamma_f".into(), num(d.gamma * 3.0));
                    let alpha = match d.choice % 3 {
                        0 => ParamValue::Null,
                        1 => num(0.25 + d.weight / 2.0),
                        _ => ParamValue::List((0..classes).map(|c| 0.2 + 0.1 * c as f64).collect()),
                    };
                    params.insert("alpha".into(), alpha);
                }
                FunctionId::ComboLoss => {
                    params.insert(
                        "alpha".into(),
                        if d.choice % 4 == 0 {
                            ParamValue::Null
                        } else {
                            num(d.weight)
                        },
                    );
                    let beta = if classes > 2 || d.choice % 3 == 0 {
                        ParamValue::Null
                    } else {
                        num(d.delta)
                    };
                    params.insert("beta".into(), beta);
                }
                _ => {
                    params.insert("delta".into(), num(d.delta));
                    params.insert("gamma".into(), num(d.gamma));
                    if binary_parts
                        && matches!(
                            f,
                            FunctionId::SymUnifiedFocalLoss | FunctionId::AsymUnifiedFocalLoss
                        )
                    {
                        params.insert(
                            "weight".into(),
                            if d.choice % 5 == 0 {
                                ParamValue::Null
                            } else {
                                num(d.weight)
                            },
                        );
                    }
                }
            }
        }
        Convention::Paper => {
            classes = d.classes; // 1 is a single channel
            params.insert("delta".into(), num(d.delta));
            params.insert("gamma".into(), num(d.gamma));
            if matches!(
                f,
                FunctionId::SymUnifiedFocalLoss | FunctionId::AsymUnifiedFocalLoss
            ) {
                params.insert("lambda".into(), num(d.weight));
            }
            if d.logits {
                params.insert("input".into(), word("logits"));
            }
            let reductions = ["mean", "sum", "none", "none-per-class"];
            params.insert("reduction".into(), word(reductions[d.choice % 4]));
            if !matches!(
                f,
                FunctionId::SymmetricFocalLoss | FunctionId::AsymmetricFocalLoss
            ) && (d.choice / 4) % 2 == 1
            {
                params.insert("region".into(), word("class-mean"));
            }
            let effective = classes.max(2);
            if (d.choice / 8) % 3 == 1 && effective > 2 {
                params.insert(
                    "rare_classes".into(),
                    ParamValue::List(vec![(effective - 1) as f64]),
                );
            }
        }
        Convention::Monai => {
            layout = Layout::ChannelsFirst;
            params.insert("delta".into(), num(d.delta));
            params.insert("gamma".into(), num(d.gamma));
            if f == FunctionId::AsymUnifiedFocalLoss {
                if spatial.len() == 1 {
                    spatial.push(2);
                }
                params.insert("weight".into(), num(d.weight));
                if d.choice % 3 == 0 {
                    classes = 1;
                }
            } else {
                params.insert(
                    "reduction".into(),
                    word(["mean", "sum", "none"][d.choice % 3]),
                );
                if d.choice % 4 == 1 {
                    params.insert("epsilon".into(), num(1e-5));
                }
            }
        }
    }
    let dtype = if d.float32 { Dtype::F32 } else { Dtype::F64 };
    let mut shape = vec![d.batch];
    match layout {
        Layout::ChannelsFirst => {
            shape.push(classes);
            shape.extend(&spatial);
        }
        Layout::ChannelsLast => {
            shape.extend(&spatial);
            shape.push(classes);
        }
    }
    let (mut pred, target) = inputs(&shape, layout, dtype, d.scale, d.seed);
    if convention == Convention::Paper && d.logits {
        pred.data
            .iter_mut()
            .for_each(|p| *p = dtype.round(p.max(1e-30).ln() + 0.25));
    }
    Problem {
        function: f,
        convention,
        params,
        pred,
        target,
        layout,
        dtype,
    }
}
