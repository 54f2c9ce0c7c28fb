//! A float64 backend for the `paper` losses on logits, written apart from the crate's
//! evaluators the way an autograd framework computes them: `σ(z)` and `1 - σ(z)` of the
//! rounded value for one channel, the softmax for several, and the backward through those
//! (`g·y·(1-y)`, `y·(g - Σ g·y)`). Mean reduction and the class-sum region term only; other
//! cases are skipped. With `log_softmax` the cross entropy of several channels takes `ln q`
//! from a log-softmax (`z - max - ln Σ exp`) and its backward (`g - q·Σ g`) where the clip
//! does not bind; with `other_order`, `FN = Σy - TP`, `FP = Σq - TP` and powers as
//! `exp(e·ln x)`. `float32_loss` rounds the loss to float32 (Keras 3.15.1 on torch).

use ufl_oracle::cases::Case;
use ufl_oracle::harness::Response;
use ufl_oracle::params::resolve;
use ufl_oracle::tensor::Grid;
use ufl_oracle::{Convention, FunctionId};

/// How the float64 backend groups its computation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Grouping {
    pub log_softmax: bool,
    pub other_order: bool,
    pub float32_loss: bool,
}

/// Runs the backend on one case.
pub fn run(case: &Case, k: Grouping) -> Response {
    let Grouping {
        log_softmax,
        other_order,
        float32_loss,
    } = k;
    let pow = |x: f64, e: f64| {
        if other_order && x > 0.0 {
            (e * x.ln()).exp()
        } else {
            x.powf(e)
        }
    };
    use FunctionId::*;
    let p = &case.problem;
    let Ok(hp) = resolve(p.function, p.convention, &p.params) else {
        return Response::Error("bad parameters".into());
    };
    let word = |n: &str| hp.word(n).unwrap_or("");
    if p.convention != Convention::Paper
        || word("input") != "logits"
        || word("reduction") != "mean"
        || word("region") == "class-mean"
        || p.target.shape != p.pred.shape
    {
        return Response::Skip("paper logits, mean reduction, class-sum only".into());
    }
    let (focal_part, tversky_part, symmetric) = match p.function {
        SymmetricFocalLoss => (true, false, true),
        AsymmetricFocalLoss => (true, false, false),
        SymmetricFocalTverskyLoss => (false, true, true),
        AsymmetricFocalTverskyLoss => (false, true, false),
        SymUnifiedFocalLoss => (true, true, true),
        AsymUnifiedFocalLoss => (true, true, false),
        _ => return Response::Skip("not a paper function".into()),
    };
    let real = |n: &str| hp.real(n).unwrap_or(0.0);
    let (delta, gamma, eps) = (real("delta"), real("gamma"), real("eps"));
    let lambda = match (focal_part, tversky_part) {
        (true, true) => real("lambda"),
        (true, false) => 1.0,
        _ => 0.0,
    };
    let outer = Grid::of(&p.pred.shape, p.layout);
    let single = outer.classes == 1;
    let classes = if single { 2 } else { outer.classes };
    let rare: Vec<bool> = match hp.classes("rare_classes").ok().flatten() {
        Some(list) => (0..classes).map(|c| list.contains(&c)).collect(),
        None => (0..classes).map(|c| c >= 1).collect(),
    };
    let (b_n, n) = (outer.batch, outer.spatial);
    let at = |b: usize, s: usize, c: usize| (b * n + s) * classes + c;
    let prob_at = at;
    // Forward: probabilities y (the activation's output) and the expanded [1-y, y].
    let z = &p.pred.data;
    let mut act = vec![0.0f64; z.len()];
    let mut log_act = vec![0.0f64; z.len()];
    let mut prob = vec![0.0f64; b_n * n * classes];
    let mut target = vec![0.0f64; prob.len()];
    for b in 0..b_n {
        for s in 0..n {
            if single {
                let i = outer.at(b, s, 0);
                let y = 1.0 / (1.0 + (-z[i]).exp());
                act[i] = y;
                prob[at(b, s, 0)] = 1.0 - y;
                prob[at(b, s, 1)] = y;
                target[at(b, s, 0)] = 1.0 - p.target.data[i];
                target[at(b, s, 1)] = p.target.data[i];
            } else {
                let idx: Vec<usize> = (0..classes).map(|c| outer.at(b, s, c)).collect();
                let m = idx.iter().map(|&i| z[i]).fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = idx.iter().map(|&i| (z[i] - m).exp()).collect();
                let total: f64 = e.iter().sum();
                for (c, &i) in idx.iter().enumerate() {
                    act[i] = e[c] / total;
                    log_act[prob_at(b, s, c)] = (z[i] - m) - total.ln();
                    prob[at(b, s, c)] = act[i];
                    target[at(b, s, c)] = p.target.data[i];
                }
            }
        }
    }
    let (lo, hi) = (eps, 1.0 - eps);
    let q: Vec<f64> = prob.iter().map(|&v| v.clamp(lo, hi)).collect();
    let pass: Vec<bool> = prob.iter().map(|&v| (lo..=hi).contains(&v)).collect();
    let mut loss = 0.0f64;
    let mut dq = vec![0.0f64; q.len()];
    // The gradient reaching ln q through a log-softmax.
    let mut dl = vec![0.0f64; q.len()];
    let use_log = log_softmax && !single;
    let scale = 1.0 / b_n as f64;
    for b in 0..b_n {
        for (c, &is_rare) in rare.iter().enumerate() {
            if focal_part {
                let w = if is_rare { delta } else { 1.0 - delta };
                let factor = symmetric || !is_rare;
                let mut sum = 0.0;
                for s in 0..n {
                    let i = at(b, s, c);
                    let (qi, yi) = (q[i], target[i]);
                    let through_log = use_log && pass[i];
                    let ln_q = if through_log { log_act[i] } else { qi.ln() };
                    let ce = -yi * ln_q;
                    let (f, df) = if factor {
                        let df = if gamma == 0.0 {
                            0.0
                        } else {
                            -gamma * pow(1.0 - qi, gamma - 1.0)
                        };
                        (pow(1.0 - qi, gamma), df)
                    } else {
                        (1.0, 0.0)
                    };
                    sum += f * ce;
                    let k = scale * lambda * w / n as f64;
                    if through_log {
                        dl[i] += k * (f * -yi);
                        dq[i] += k * (ce * df);
                    } else {
                        dq[i] += k * (f * (-yi / qi) + ce * df);
                    }
                }
                loss += scale * lambda * w * sum / n as f64;
            }
            if tversky_part {
                let idx: Vec<usize> = (0..n).map(|s| at(b, s, c)).collect();
                let tp: f64 = idx.iter().map(|&i| target[i] * q[i]).sum();
                let (fn_, fp): (f64, f64) = if other_order {
                    let sum_y: f64 = idx.iter().map(|&i| target[i]).sum();
                    let sum_q: f64 = idx.iter().map(|&i| q[i]).sum();
                    (sum_y - tp, sum_q - tp)
                } else {
                    (
                        idx.iter().map(|&i| target[i] * (1.0 - q[i])).sum(),
                        idx.iter().map(|&i| (1.0 - target[i]) * q[i]).sum(),
                    )
                };
                let num = tp + eps;
                let den = tp + delta * fn_ + (1.0 - delta) * fp + eps;
                let ti = num / den;
                let x = 1.0 - ti;
                let (term, dterm) = if symmetric || is_rare {
                    let e = 1.0 - gamma;
                    (pow(x, e), e * pow(x, e - 1.0))
                } else {
                    (x, 1.0)
                };
                loss += scale * (1.0 - lambda) * term;
                let g_ti = -scale * (1.0 - lambda) * dterm;
                for &i in &idx {
                    let y = target[i];
                    let dden = y - delta * y + (1.0 - delta) * (1.0 - y);
                    dq[i] += g_ti * (y * den - num * dden) / (den * den);
                }
            }
        }
    }
    // Backward through the clip (a select) and the activation.
    let g: Vec<f64> = dq
        .iter()
        .zip(&pass)
        .map(|(&d, &ok)| if ok { d } else { 0.0 })
        .collect();
    let mut grad = vec![0.0f64; z.len()];
    for b in 0..b_n {
        for s in 0..n {
            if single {
                let i = outer.at(b, s, 0);
                let y = act[i];
                grad[i] = (g[at(b, s, 1)] - g[at(b, s, 0)]) * y * (1.0 - y);
            } else {
                let idx: Vec<usize> = (0..classes).map(|c| outer.at(b, s, c)).collect();
                let dot: f64 = (0..classes).map(|c| g[at(b, s, c)] * act[idx[c]]).sum();
                let total_l: f64 = (0..classes).map(|c| dl[at(b, s, c)]).sum();
                for (c, &i) in idx.iter().enumerate() {
                    grad[i] =
                        act[i] * (g[at(b, s, c)] - dot) + (dl[at(b, s, c)] - act[i] * total_l);
                }
            }
        }
    }
    let loss = if float32_loss {
        loss as f32 as f64
    } else {
        loss
    };
    Response::Output {
        loss: vec![loss],
        grad,
    }
}
