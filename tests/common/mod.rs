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
