//! A backend in a second style, checked as a backend crate would check it: the original
//! code's `dice_loss`, `tversky_loss` and `focal_tversky_loss` written from their definitions,
//! with the gradient from a small reverse-mode tape (record every operation, sweep back once)
//! instead of a derivative worked out by hand, and no tensor library. It computes in float64
//! whatever the case's dtype (the harness judges each case at its own, and float64 is more
//! accurate than a float32 case asks), reads each case's layout through `Case::extents`, and
//! skips every other function.
//!
//! `cargo run --release --example tape_backend` (filter with `UFL_ORACLE_TEST`, e.g.
//! `function=focal_tversky_loss`); it exits 1 unless the report is ok.

use ufl_oracle::cases::{Case, Extents};
use ufl_oracle::harness::{Harness, Judging, Response};
use ufl_oracle::registry::KERAS_EPSILON;
use ufl_oracle::tolerance::multi_index;
use ufl_oracle::{Dtype, FunctionId};

/// A value on the tape.
#[derive(Clone, Copy)]
struct Var(usize);

/// Every value computed, with the local derivative towards each of its operands.
#[derive(Default)]
struct Tape {
    values: Vec<f64>,
    operands: Vec<Vec<(usize, f64)>>,
}

impl Tape {
    fn push(&mut self, value: f64, operands: Vec<(usize, f64)>) -> Var {
        self.values.push(value);
        self.operands.push(operands);
        Var(self.values.len() - 1)
    }
    fn input(&mut self, x: f64) -> Var {
        self.push(x, Vec::new())
    }
    fn value(&self, v: Var) -> f64 {
        self.values[v.0]
    }
    /// `Σ c_i·x_i + k`.
    fn linear(&mut self, terms: &[(f64, Var)], k: f64) -> Var {
        let value = terms.iter().map(|&(c, x)| c * self.value(x)).sum::<f64>() + k;
        self.push(value, terms.iter().map(|&(c, x)| (x.0, c)).collect())
    }
    fn div(&mut self, a: Var, b: Var) -> Var {
        let (x, y) = (self.value(a), self.value(b));
        self.push(x / y, vec![(a.0, 1.0 / y), (b.0, -x / (y * y))])
    }
    /// `x^e` for a constant exponent, with the power rule's slope `e·x^(e-1)` (0 at e = 0).
    fn powf(&mut self, a: Var, e: f64) -> Var {
        let x = self.value(a);
        let slope = if e == 0.0 { 0.0 } else { e * x.powf(e - 1.0) };
        self.push(x.powf(e), vec![(a.0, slope)])
    }
    /// `clamp(x, lo, hi)`, passing the gradient on `[lo, hi]` inclusive (TensorFlow's `K.clip`).
    fn clip(&mut self, a: Var, lo: f64, hi: f64) -> Var {
        let x = self.value(a);
        let inside = (lo..=hi).contains(&x);
        self.push(x.clamp(lo, hi), vec![(a.0, if inside { 1.0 } else { 0.0 })])
    }
    /// d out / d every value, by one sweep from `out` back to the inputs.
    fn gradient(&self, out: Var) -> Vec<f64> {
        let mut adjoint = vec![0.0; self.values.len()];
        adjoint[out.0] = 1.0;
        for i in (0..=out.0).rev() {
            if adjoint[i] == 0.0 {
                continue;
            }
            for &(j, d) in &self.operands[i] {
                adjoint[j] += adjoint[i] * d;
            }
        }
        adjoint
    }
}

/// The original's Tversky-family losses on one case: the mean over items and classes of
/// `(1 - TI)^γ`, `TI = (TP + k) / (TP + δ·FN + (1-δ)·FP + k)` summed over the spatial axes; the
/// focal Tversky loss clips the prediction to `[ε, 1-ε]` first.
fn tversky_family(case: &Case) -> Result<(Vec<f64>, Vec<f64>), String> {
    let x: Extents = case.extents();
    if !(2..=3).contains(&x.spatial.len()) {
        // The original's `identify_axis`.
        return Err("ValueError: Metric: Shape of tensor is neither 2D or 3D.".into());
    }
    if case.target_extents() != x {
        return Err("the target's shape is not the prediction's".into());
    }
    let p = case.params().map_err(|e| e.to_string())?;
    let (delta, smooth) = (p.real("delta").unwrap(), p.real("smooth").unwrap());
    let focal = case.problem.function == FunctionId::FocalTverskyLoss;
    let gamma = if focal { p.real("gamma").unwrap() } else { 1.0 };
    let (lo, hi) = match case.dtype() {
        Dtype::F32 => (
            KERAS_EPSILON as f32 as f64,
            (1.0 - KERAS_EPSILON as f32) as f64,
        ),
        Dtype::F64 => (KERAS_EPSILON, 1.0 - KERAS_EPSILON),
    };
    let (pred, target) = (case.pred_f64(), case.target_f64());
    let mut tape = Tape::default();
    let inputs: Vec<Var> = pred.iter().map(|&v| tape.input(v)).collect();
    let q: Vec<Var> = if focal {
        inputs.iter().map(|&v| tape.clip(v, lo, hi)).collect()
    } else {
        inputs.clone()
    };
    // Every position of every item by its spatial multi-index.
    let positions: Vec<Vec<usize>> = (0..x.positions())
        .map(|k| multi_index(&x.spatial, k))
        .collect();
    let mut terms = Vec::new();
    for b in 0..x.batch {
        for c in 0..x.classes {
            let at: Vec<usize> = positions.iter().map(|s| x.index(b, s, c)).collect();
            // TP = Σ y·q, FN = Σ y·(1-q), FP = Σ (1-y)·q.
            let tp = tape.linear(
                &at.iter().map(|&i| (target[i], q[i])).collect::<Vec<_>>(),
                0.0,
            );
            let sum_y: f64 = at.iter().map(|&i| target[i]).sum();
            let fn_ = tape.linear(
                &at.iter().map(|&i| (-target[i], q[i])).collect::<Vec<_>>(),
                sum_y,
            );
            let fp = tape.linear(
                &at.iter()
                    .map(|&i| (1.0 - target[i], q[i]))
                    .collect::<Vec<_>>(),
                0.0,
            );
            let numerator = tape.linear(&[(1.0, tp)], smooth);
            let denominator = tape.linear(&[(1.0, tp), (delta, fn_), (1.0 - delta, fp)], smooth);
            let ti = tape.div(numerator, denominator);
            let base = tape.linear(&[(-1.0, ti)], 1.0);
            terms.push(if focal { tape.powf(base, gamma) } else { base });
        }
    }
    let n = terms.len() as f64;
    let loss = tape.linear(
        &terms.iter().map(|&t| (1.0 / n, t)).collect::<Vec<_>>(),
        0.0,
    );
    let adjoint = tape.gradient(loss);
    let grad = inputs.iter().map(|v| adjoint[v.0]).collect();
    Ok((vec![tape.value(loss)], grad))
}

fn main() {
    let harness = Harness::from_env(Judging::PER_CASE);
    let report = harness.run(|case| match case.problem.function {
        FunctionId::DiceLoss | FunctionId::TverskyLoss | FunctionId::FocalTverskyLoss
            if case.problem.convention == ufl_oracle::Convention::Original =>
        {
            match tversky_family(case) {
                Ok((loss, grad)) => case.respond(&loss, &grad),
                Err(e) => Response::Error(e),
            }
        }
        _ => Response::Skip("the tape backend implements the original's Tversky family".into()),
    });
    println!("{report}");
    if !report.is_ok() {
        std::process::exit(1);
    }
}
