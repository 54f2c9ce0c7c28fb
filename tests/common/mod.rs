//! Deterministic inputs for the integration tests: softmax predictions and one-hot targets in
//! either layout, from a small xorshift generator (no randomness between runs).

#![allow(dead_code, unused_imports)]

pub use ufl_oracle::cases::{build, inputs, Draw, Rng};
pub use ufl_oracle::strategies::draws;

use ufl_oracle::{Convention, Dtype, FunctionId, Layout, ParamValue, Params, Problem, Tensor};

/// A float64 problem with default parameters on the deterministic inputs of `seed`.
pub fn default_problem(
    function: FunctionId,
    convention: Convention,
    shape: &[usize],
    layout: Layout,
    seed: u64,
) -> Problem {
    let (pred, target) = inputs(shape, layout, Dtype::F64, 1.0, seed);
    Problem {
        function,
        convention,
        params: Params::new(),
        pred,
        target,
        layout,
        dtype: Dtype::F64,
    }
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
