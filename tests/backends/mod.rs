//! Backends for testing the harness: an implementation of the loss family written apart from
//! the crate's evaluators, in float32, with knobs for legitimate differences (summation order,
//! operation order, half-precision inputs) and a catalogue of real bugs to plant.
//!
//! It covers the unified losses and their parts in every convention, plus dice_loss,
//! tversky_loss and focal_tversky_loss in `original`; other functions and MONAI's
//! `to_onehot_y`/`ignore_index` are skipped.

#![allow(dead_code, clippy::too_many_arguments, clippy::needless_range_loop)]

pub mod float64;

use ufl_oracle::cases::Case;
use ufl_oracle::harness::Response;
use ufl_oracle::params::resolve;
use ufl_oracle::tensor::{first_to_last, last_to_first, Grid, Layout};
use ufl_oracle::tolerance::Precision;
use ufl_oracle::{Convention, FunctionId};

/// How sums are accumulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Summation {
    Sequential,
    Pairwise,
    /// Every partial sum rounded to float16's significand (a bug for a float32 backend).
    Half,
}

/// A plausible real bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    LambdaSwapped,
    TverskyClassSum,
    DeltaOnFalsePositives,
    NoClip,
    ClipGradientHalvedOnBounds,
    ClipGradientEverywhere,
    ForegroundIsLastClass,
    SlicesClassesNotDepth,
    GammaNotOneMinusGamma,
    RareTermWithoutLabel,
    FocalFactorOnRareClass,
    StatisticsOverBatch,
    Smoothing1e6,
    GradientSignFlipClass1,
    SkipsLastPosition,
    KerasTverskyAlphaBetaSwapped,
    FocalTverskyPowerAfterMean,
    FocalMeanOverClassesToo,
    BackgroundWeightDelta,
    ClipEpsilon1e6,
    NoneWeightAsHalf,
    CrossEntropyUnclipped,
    TverskyPartOverAllClasses,
    LayoutIgnored,
    SigmoidOfTheOtherClass,
    NoneReturnsTheBatchMean,
    SigmoidOnSeveralChannels,
    PresentClassesOnly,
    EmptyClassesZeroed,
    SmoothingInDenominatorOnly,
    GradientProjected,
    HalfGradientWhereEqual,
}

impl Bug {
    pub const ALL: [Bug; 32] = [
        Bug::LambdaSwapped,
        Bug::TverskyClassSum,
        Bug::DeltaOnFalsePositives,
        Bug::NoClip,
        Bug::ClipGradientHalvedOnBounds,
        Bug::ClipGradientEverywhere,
        Bug::ForegroundIsLastClass,
        Bug::SlicesClassesNotDepth,
        Bug::GammaNotOneMinusGamma,
        Bug::RareTermWithoutLabel,
        Bug::FocalFactorOnRareClass,
        Bug::StatisticsOverBatch,
        Bug::Smoothing1e6,
        Bug::GradientSignFlipClass1,
        Bug::SkipsLastPosition,
        Bug::KerasTverskyAlphaBetaSwapped,
        Bug::FocalTverskyPowerAfterMean,
        Bug::FocalMeanOverClassesToo,
        Bug::BackgroundWeightDelta,
        Bug::ClipEpsilon1e6,
        Bug::NoneWeightAsHalf,
        Bug::CrossEntropyUnclipped,
        Bug::TverskyPartOverAllClasses,
        Bug::LayoutIgnored,
        Bug::SigmoidOfTheOtherClass,
        Bug::NoneReturnsTheBatchMean,
        Bug::SigmoidOnSeveralChannels,
        Bug::PresentClassesOnly,
        Bug::EmptyClassesZeroed,
        Bug::SmoothingInDenominatorOnly,
        Bug::GradientProjected,
        Bug::HalfGradientWhereEqual,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            Bug::LambdaSwapped => "λ (weight) on the other term",
            Bug::TverskyClassSum => "Tversky part summed over classes instead of averaged",
            Bug::DeltaOnFalsePositives => "δ weights false positives instead of false negatives",
            Bug::NoClip => "predictions not clipped",
            Bug::ClipGradientHalvedOnBounds => "clip gradient halved on the bounds",
            Bug::ClipGradientEverywhere => "clip gradient passed outside the bounds too",
            Bug::ForegroundIsLastClass => "foreground read from the last class instead of class 1",
            Bug::SlicesClassesNotDepth => "rank-5 focal part slices classes, not depth (the quirk 'fixed')",
            Bug::GammaNotOneMinusGamma => "Tversky power γ instead of 1-γ",
            Bug::RareTermWithoutLabel => "rare-class term -δ·ln p_r at every pixel (eq. 20 read without the label)",
            Bug::FocalFactorOnRareClass => "asymmetric loss applies the focal factor to the rare class",
            Bug::StatisticsOverBatch => "TP/FN/FP summed over the whole batch",
            Bug::Smoothing1e6 => "Tversky smoothing 1e-6 instead of 1e-7",
            Bug::GradientSignFlipClass1 => "gradient sign flipped on class 1",
            Bug::SkipsLastPosition => "off-by-one spatial extent (last position ignored)",
            Bug::KerasTverskyAlphaBetaSwapped => "tversky_loss with α/β swapped (δ on false positives), as Keras 3.15.1 ships it",
            Bug::FocalTverskyPowerAfterMean => "focal Tversky power applied after the class mean, as segmentation_models_pytorch 0.6.0 does",
            Bug::FocalMeanOverClassesToo => "focal part averaged over classes too",
            Bug::BackgroundWeightDelta => "focal weights swapped: δ on the background",
            Bug::ClipEpsilon1e6 => "clip bound 1e-6 instead of 1e-7",
            Bug::NoneWeightAsHalf => "weight None treated as 0.5",
            Bug::CrossEntropyUnclipped => "cross entropy of the unclipped prediction",
            Bug::TverskyPartOverAllClasses => "Tversky part over all classes instead of classes 0 and 1",
            Bug::SigmoidOfTheOtherClass => "single-channel logits read as the other class (σ(-z) for class 1)",
            Bug::NoneReturnsTheBatchMean => "reduction none returns the batch mean in every entry",
            Bug::SigmoidOnSeveralChannels => "a sigmoid per channel applied to several-channel logits instead of the softmax",
            Bug::PresentClassesOnly => "region loss averaged over the classes present only, as kornia 0.9 tversky_loss",
            Bug::EmptyClassesZeroed => "region loss zero for classes without a positive pixel, as segmentation_models_pytorch",
            Bug::SmoothingInDenominatorOnly => "region loss smoothed in the denominator only, as Keras and kornia",
            Bug::GradientProjected => "gradient projected onto the simplex (a softmax taken twice)",
            Bug::HalfGradientWhereEqual => "gradient halved where p == y (TP as an L1 form, sign(0) = 0)",
            Bug::LayoutIgnored => "the case's layout ignored (the buffer read as the backend's own layout: channels-last for original, channels-first otherwise)",
        }
    }
}

/// How the backend computes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Knobs {
    pub summation: Summation,
    /// FN = Σy - TP, FP = Σq - TP, powers through exp/ln, the simplified Tversky gradient.
    pub other_order: bool,
    /// Inputs rounded to this precision before anything is computed.
    pub inputs: Option<Precision>,
    pub bug: Option<Bug>,
}

impl Knobs {
    pub const PLAIN: Knobs = Knobs {
        summation: Summation::Sequential,
        other_order: false,
        inputs: None,
        bug: None,
    };

    pub fn with_bug(bug: Bug) -> Knobs {
        let mut k = Knobs {
            bug: Some(bug),
            ..Knobs::PLAIN
        };
        if bug == Bug::StatisticsOverBatch {
            k.summation = Summation::Sequential;
        }
        k
    }

    fn bug(&self, b: Bug) -> bool {
        self.bug == Some(b)
    }

    fn sum(&self, xs: &[f32]) -> f32 {
        match self.summation {
            Summation::Sequential => xs.iter().fold(0.0, |a, &x| a + x),
            Summation::Pairwise => pairwise(xs),
            Summation::Half => xs
                .iter()
                .fold(0.0f32, |a, &x| Precision::F16.round((a + x) as f64) as f32),
        }
    }

    fn pow(&self, x: f32, e: f32) -> f32 {
        if self.other_order && x > 0.0 {
            (e * x.ln()).exp()
        } else {
            x.powf(e)
        }
    }
}

fn pairwise(xs: &[f32]) -> f32 {
    if xs.len() <= 8 {
        return xs.iter().fold(0.0, |a, &x| a + x);
    }
    let (a, b) = xs.split_at(xs.len() / 2);
    pairwise(a) + pairwise(b)
}

/// Runs the backend on one case.
pub fn run(case: &Case, k: &Knobs) -> Response {
    let p = &case.problem;
    let Ok(hp) = resolve(p.function, p.convention, &p.params) else {
        return Response::Error("bad parameters".into());
    };
    let real = |n: &str| hp.real(n).ok().map(|x| x as f32);
    let word = |n: &str| hp.word(n).unwrap_or("");
    if p.convention == Convention::Monai
        && (hp.flag("to_onehot_y").unwrap_or(false)
            || hp.int("ignore_index").ok().flatten().is_some())
    {
        return Response::Skip("to_onehot_y and ignore_index are not implemented".into());
    }
    let logits = p.convention == Convention::Paper && word("input") == "logits";
    if p.target.shape != p.pred.shape {
        return Response::Skip("class-index targets are not implemented".into());
    }
    let round = |x: f64| -> f32 { k.inputs.map_or(x, |pr| pr.round(x)) as f32 };
    let pred: Vec<f32> = p.pred.data.iter().map(|&x| round(x)).collect();
    let target: Vec<f32> = p.target.data.iter().map(|&x| round(x)).collect();
    let rank = p.pred.shape.len();
    // The original works channels-last and MONAI channels-first: move the arrays there and the
    // gradient back.
    let native = match p.convention {
        Convention::Original => Layout::ChannelsLast,
        Convention::Monai => Layout::ChannelsFirst,
        Convention::Paper => p.layout,
    };
    // The bug: the buffer taken to be in the backend's own layout whatever the case says.
    let ignored = k.bug(Bug::LayoutIgnored);
    let (native, given) = match (ignored, p.convention) {
        (true, Convention::Paper) => (Layout::ChannelsFirst, Layout::ChannelsFirst),
        (true, _) => (native, native),
        (false, _) => (native, p.layout),
    };
    let (pred, target, shape) = if native == given || rank < 3 {
        (pred, target, p.pred.shape.clone())
    } else if native == Layout::ChannelsLast {
        let mut shape = vec![p.pred.shape[0]];
        shape.extend_from_slice(&p.pred.shape[2..]);
        shape.push(p.pred.shape[1]);
        (
            first_to_last(&pred, &p.pred.shape),
            first_to_last(&target, &p.pred.shape),
            shape,
        )
    } else {
        let mut shape = vec![p.pred.shape[0], p.pred.shape[rank - 1]];
        shape.extend_from_slice(&p.pred.shape[1..rank - 1]);
        (
            last_to_first(&pred, &p.pred.shape),
            last_to_first(&target, &p.pred.shape),
            shape,
        )
    };
    let out = match p.convention {
        Convention::Original => {
            if rank != 4 && rank != 5 {
                return Response::Error(
                    "ValueError: Metric: Shape of tensor is neither 2D or 3D.".into(),
                );
            }
            original(p.function, &hp, &shape, &pred, &target, k)
        }
        Convention::Paper if logits => {
            // Probabilities as frameworks make them, then autograd's backward through them.
            let probabilities = activate(&pred, &shape, given, k);
            paper(
                p.function,
                &hp,
                &shape,
                given,
                &probabilities,
                &target,
                k,
                real("delta"),
                real("gamma"),
            )
            .map(|(loss, g)| {
                (
                    loss,
                    activation_backward(&probabilities, &g, &shape, given, k),
                )
            })
        }
        Convention::Paper => paper(
            p.function,
            &hp,
            &shape,
            given,
            &pred,
            &target,
            k,
            real("delta"),
            real("gamma"),
        ),
        Convention::Monai => monai(p.function, &hp, &shape, &pred, &target, k),
    };
    match out {
        Ok((loss, grad)) => {
            let mut grad = if native == given || rank < 3 {
                grad
            } else if native == Layout::ChannelsLast {
                last_to_first(&grad, &shape)
            } else {
                first_to_last(&grad, &shape)
            };
            if k.bug(Bug::GradientProjected) && rank >= 2 {
                let g = Grid::of(&p.pred.shape, p.layout);
                if g.classes >= 2 {
                    for b in 0..g.batch {
                        for s in 0..g.spatial {
                            let mean = (0..g.classes).map(|c| grad[g.at(b, s, c)]).sum::<f32>()
                                / g.classes as f32;
                            (0..g.classes).for_each(|c| grad[g.at(b, s, c)] -= mean);
                        }
                    }
                }
            }
            if k.bug(Bug::HalfGradientWhereEqual) {
                for (i, v) in grad.iter_mut().enumerate() {
                    if p.pred.data[i] == p.target.data[i] {
                        *v *= 0.5;
                    }
                }
            }
            Response::from_f32(&loss, &grad)
        }
        Err(Outcome::Skip(s)) => Response::Skip(s),
        Err(Outcome::Error(s)) => Response::Error(s),
    }
}

pub enum Outcome {
    Skip(String),
    Error(String),
}

type Out = Result<(Vec<f32>, Vec<f32>), Outcome>;

const EPS: f64 = 1e-7;

/// One (item, class) as flat indices into the arrays.
struct Stats {
    tp: f32,
    fn_: f32,
    fp: f32,
    num: f32,
    den: f32,
    ti: f32,
}

fn stats(q: &[f32], y: &[f32], idx: &[usize], delta: f32, smooth: f32, k: &Knobs) -> Stats {
    let idx = if k.bug(Bug::SkipsLastPosition) && idx.len() > 1 {
        &idx[..idx.len() - 1]
    } else {
        idx
    };
    let d = if k.bug(Bug::DeltaOnFalsePositives) {
        1.0 - delta
    } else {
        delta
    };
    let tp = k.sum(&idx.iter().map(|&i| y[i] * q[i]).collect::<Vec<_>>());
    let (fn_, fp) = if k.other_order {
        let sy = k.sum(&idx.iter().map(|&i| y[i]).collect::<Vec<_>>());
        let sq = k.sum(&idx.iter().map(|&i| q[i]).collect::<Vec<_>>());
        (sy - tp, sq - tp)
    } else {
        (
            k.sum(&idx.iter().map(|&i| y[i] * (1.0 - q[i])).collect::<Vec<_>>()),
            k.sum(&idx.iter().map(|&i| (1.0 - y[i]) * q[i]).collect::<Vec<_>>()),
        )
    };
    let num = tp + smooth;
    let den = tp + d * fn_ + (1.0 - d) * fp + smooth;
    let ti = if k.other_order {
        1.0 - (d * fn_ + (1.0 - d) * fp) / den
    } else {
        num / den
    };
    Stats {
        tp,
        fn_,
        fp,
        num,
        den,
        ti,
    }
}

/// Adds g_TI·dTI/dq to `g` over `idx`, where `pass` lets it through.
fn tversky_grad(
    g: &mut [f32],
    pass: &[bool],
    y: &[f32],
    idx: &[usize],
    st: &Stats,
    delta: f32,
    g_ti: f32,
    k: &Knobs,
) {
    let idx = if k.bug(Bug::SkipsLastPosition) && idx.len() > 1 {
        &idx[..idx.len() - 1]
    } else {
        idx
    };
    let d = if k.bug(Bug::DeltaOnFalsePositives) {
        1.0 - delta
    } else {
        delta
    };
    for &i in idx {
        if !pass[i] {
            continue;
        }
        let dq = if k.other_order {
            g_ti * (y[i] - (1.0 - d) * st.ti) / st.den
        } else {
            let g_num = g_ti / st.den;
            let g_den = -g_ti * st.num / (st.den * st.den);
            y[i] * (g_num + g_den) - y[i] * (d * g_den) + (1.0 - y[i]) * ((1.0 - d) * g_den)
        };
        g[i] += dq;
    }
}

/// Clip with its gradient rule; `inclusive` is TensorFlow's.
fn clip(p: &[f32], inclusive: bool, eps: f64, k: &Knobs) -> (Vec<f32>, Vec<bool>, Vec<f32>) {
    let eps = if k.bug(Bug::ClipEpsilon1e6) {
        1e-6
    } else {
        eps
    };
    let lo = eps as f32;
    let hi = (1.0 - eps) as f32;
    let mut q = Vec::with_capacity(p.len());
    let mut pass = Vec::with_capacity(p.len());
    let mut scale = Vec::with_capacity(p.len());
    for &x in p {
        if k.bug(Bug::NoClip) {
            q.push(x);
            pass.push(true);
            scale.push(1.0);
            continue;
        }
        q.push(x.clamp(lo, hi));
        let on = x == lo || x == hi;
        let inside = x > lo && x < hi;
        let passes = inside || (inclusive && on) || k.bug(Bug::ClipGradientEverywhere);
        pass.push(passes);
        scale.push(if on && k.bug(Bug::ClipGradientHalvedOnBounds) {
            0.5
        } else {
            1.0
        });
    }
    (q, pass, scale)
}

/// (1-q)^γ·(-y ln q) and its derivative in q; `gamma` None: the plain cross entropy.
fn focal(q: f32, y: f32, gamma: Option<f32>, raw: f32, k: &Knobs) -> (f32, f32) {
    let qq = if k.bug(Bug::CrossEntropyUnclipped) {
        raw.max(f32::MIN_POSITIVE)
    } else {
        q
    };
    let ce = -y * qq.ln();
    let dce = -y / qq;
    match gamma {
        None => (ce, dce),
        Some(g) => {
            let f = k.pow(1.0 - q, g);
            let df = if g == 0.0 {
                0.0
            } else {
                -g * k.pow(1.0 - q, g - 1.0)
            };
            (f * ce, f * dce + ce * df)
        }
    }
}

/// The focal part's rare-class term (asymmetric: no focal factor), with the label bug.
fn rare_term(q: f32, y: f32, gamma: Option<f32>, raw: f32, k: &Knobs) -> (f32, f32) {
    if k.bug(Bug::RareTermWithoutLabel) {
        return (-q.ln(), -1.0 / q);
    }
    focal(q, y, gamma, raw, k)
}

fn original(
    f: FunctionId,
    hp: &ufl_oracle::params::Hyper<f64>,
    shape: &[usize],
    p: &[f32],
    y: &[f32],
    k: &Knobs,
) -> Out {
    use FunctionId::*;
    let grid = Grid::of(shape, Layout::ChannelsLast);
    let (b_n, n, c_n) = (grid.batch, grid.spatial, grid.classes);
    let idx = |b: usize, c: usize| -> Vec<usize> { (0..n).map(|s| grid.at(b, s, c)).collect() };
    let mut g = vec![0.0f32; p.len()];
    let r = |name: &str| hp.real(name).map(|x| x as f32).unwrap_or(0.0);
    match f {
        DiceLoss | TverskyLoss | FocalTverskyLoss => {
            let (delta, smooth) = (r("delta"), r("smooth"));
            let delta = if f == TverskyLoss && k.bug(Bug::KerasTverskyAlphaBetaSwapped) {
                1.0 - delta
            } else {
                delta
            };
            let (q, pass, _) = if f == FocalTverskyLoss {
                clip(p, true, EPS, k)
            } else {
                (p.to_vec(), vec![true; p.len()], vec![1.0; p.len()])
            };
            let gamma = if f == FocalTverskyLoss {
                r("gamma")
            } else {
                1.0
            };
            let mut terms = Vec::new();
            let mut xs = Vec::new();
            let pooled = k.bug(Bug::StatisticsOverBatch);
            let items = if pooled { 1 } else { b_n };
            let region_ix = |b: usize, c: usize| -> Vec<usize> {
                if pooled {
                    (0..b_n).flat_map(|bb| idx(bb, c)).collect()
                } else {
                    idx(b, c)
                }
            };
            let present = |ix: &[usize]| ix.iter().any(|&i| y[i] > 0.0);
            let count = if k.bug(Bug::PresentClassesOnly) {
                let n = (0..items)
                    .flat_map(|b| (0..c_n).map(move |c| (b, c)))
                    .filter(|&(b, c)| present(&region_ix(b, c)))
                    .count();
                n.max(1) as f32
            } else {
                (items * c_n) as f32
            };
            for b in 0..items {
                for c in 0..c_n {
                    let ix = region_ix(b, c);
                    if !present(&ix)
                        && (k.bug(Bug::PresentClassesOnly) || k.bug(Bug::EmptyClassesZeroed))
                    {
                        continue;
                    }
                    let mut st = stats(&q, y, &ix, delta, smooth, k);
                    if k.bug(Bug::SmoothingInDenominatorOnly) {
                        st.num = st.tp;
                        st.ti = st.num / st.den;
                    }
                    let x = 1.0 - st.ti;
                    xs.push(x);
                    let (v, dx) =
                        if f == FocalTverskyLoss && !k.bug(Bug::FocalTverskyPowerAfterMean) {
                            (k.pow(x, gamma), gamma * k.pow(x, gamma - 1.0))
                        } else {
                            (x, 1.0)
                        };
                    terms.push(v);
                    tversky_grad(&mut g, &pass, y, &ix, &st, delta, -dx / count, k);
                }
            }
            let mut loss = k.sum(&terms) / count;
            if f == FocalTverskyLoss && k.bug(Bug::FocalTverskyPowerAfterMean) {
                let m = loss;
                loss = k.pow(m, gamma);
                let s = gamma * k.pow(m, gamma - 1.0);
                g.iter_mut().for_each(|v| *v *= s);
            }
            Ok((vec![loss], g))
        }
        SymmetricFocalLoss
        | AsymmetricFocalLoss
        | SymmetricFocalTverskyLoss
        | AsymmetricFocalTverskyLoss
        | SymUnifiedFocalLoss
        | AsymUnifiedFocalLoss => {
            let symmetric = matches!(
                f,
                SymmetricFocalLoss | SymmetricFocalTverskyLoss | SymUnifiedFocalLoss
            );
            let (delta, gamma) = (r("delta"), r("gamma"));
            let (w_t, w_f) = match f {
                SymmetricFocalLoss | AsymmetricFocalLoss => (0.0, 1.0),
                SymmetricFocalTverskyLoss | AsymmetricFocalTverskyLoss => (1.0, 0.0),
                _ => match hp.opt_real("weight").ok().flatten() {
                    Some(w) => (w as f32, 1.0 - w as f32),
                    None if k.bug(Bug::NoneWeightAsHalf) => (0.5, 0.5),
                    None => (1.0, 1.0),
                },
            };
            // λ exists in the unified losses only: their parts are not swapped into each other.
            let unified = matches!(f, SymUnifiedFocalLoss | AsymUnifiedFocalLoss);
            let (w_t, w_f) =
                if k.bug(Bug::LambdaSwapped) && unified && w_t + w_f == 1.0 && w_t != w_f {
                    (w_f, w_t)
                } else {
                    (w_t, w_f)
                };
            let (q, pass, scale) = clip(p, true, EPS, k);
            let mut loss = 0.0f32;
            if w_t != 0.0 {
                if c_n < 2 {
                    return Err(Outcome::Error(
                        "InvalidArgumentError: slice index 1 of dimension 1 out of bounds".into(),
                    ));
                }
                let fore = if k.bug(Bug::ForegroundIsLastClass) {
                    c_n - 1
                } else {
                    1
                };
                let classes: Vec<usize> = if k.bug(Bug::TverskyPartOverAllClasses) {
                    (0..c_n).collect()
                } else {
                    vec![0, fore]
                };
                let mut count = (classes.len() * b_n) as f32;
                if k.bug(Bug::TverskyClassSum) {
                    count /= classes.len() as f32;
                }
                let smooth = if k.bug(Bug::Smoothing1e6) {
                    1e-6
                } else {
                    EPS as f32
                };
                let mut terms = Vec::new();
                let mut gs = vec![0.0f32; p.len()];
                let batch_idx =
                    |c: usize| -> Vec<usize> { (0..b_n).flat_map(|b| idx(b, c)).collect() };
                for b in 0..b_n {
                    for &c in &classes {
                        let ix = if k.bug(Bug::StatisticsOverBatch) {
                            batch_idx(c)
                        } else {
                            idx(b, c)
                        };
                        let st = stats(&q, y, &ix, delta, smooth, k);
                        let x = 1.0 - st.ti;
                        let e = if k.bug(Bug::GammaNotOneMinusGamma) {
                            gamma
                        } else {
                            1.0 - gamma
                        };
                        let (v, dx) = if symmetric || c != 0 {
                            (x * k.pow(x, e - 1.0), e * k.pow(x, e - 1.0))
                        } else {
                            (x, 1.0)
                        };
                        terms.push(v);
                        tversky_grad(&mut gs, &pass, y, &ix, &st, delta, -w_t * dx / count, k);
                    }
                }
                loss += w_t * (k.sum(&terms) / count);
                for i in 0..g.len() {
                    g[i] += gs[i] * scale[i];
                }
            }
            if w_f != 0.0 {
                let sliced_axis = if k.bug(Bug::SlicesClassesNotDepth) {
                    shape.len() - 1
                } else {
                    3
                };
                let d3 = shape[sliced_axis];
                if d3 < 2 {
                    return Err(Outcome::Error(
                        "InvalidArgumentError: slice index 1 of dimension 3 out of bounds".into(),
                    ));
                }
                let outer: usize = shape[..sliced_axis].iter().product();
                let inner: usize = shape[sliced_axis + 1..].iter().product();
                let fore = if k.bug(Bug::ForegroundIsLastClass) && sliced_axis == shape.len() - 1 {
                    d3 - 1
                } else {
                    1
                };
                let mut count = (outer * inner) as f32;
                if k.bug(Bug::FocalMeanOverClassesToo) {
                    count *= 2.0;
                }
                let (wb, wr) = if k.bug(Bug::BackgroundWeightDelta) {
                    (delta, 1.0 - delta)
                } else {
                    (1.0 - delta, delta)
                };
                let mut sums = Vec::new();
                for o in 0..outer {
                    for i in 0..inner {
                        let i0 = (o * d3) * inner + i;
                        let i1 = (o * d3 + fore) * inner + i;
                        let (bv, bd) = focal(q[i0], y[i0], Some(gamma), p[i0], k);
                        let rare_gamma = if symmetric || k.bug(Bug::FocalFactorOnRareClass) {
                            Some(gamma)
                        } else {
                            None
                        };
                        let (fv, fd) = rare_term(q[i1], y[i1], rare_gamma, p[i1], k);
                        sums.push(wb * bv + wr * fv);
                        if pass[i0] {
                            g[i0] += w_f * wb * bd / count * scale[i0];
                        }
                        if pass[i1] {
                            g[i1] += w_f * wr * fd / count * scale[i1];
                        }
                    }
                }
                loss += w_f * (k.sum(&sums) / count);
            }
            if k.bug(Bug::GradientSignFlipClass1) {
                for (i, v) in g.iter_mut().enumerate() {
                    if i % c_n == 1 {
                        *v = -*v;
                    }
                }
            }
            Ok((vec![loss], g))
        }
        _ => Err(Outcome::Skip(format!("{} is not implemented", f.name()))),
    }
}

#[allow(clippy::too_many_arguments)]
fn paper(
    f: FunctionId,
    hp: &ufl_oracle::params::Hyper<f64>,
    shape: &[usize],
    layout: Layout,
    p_in: &[f32],
    y_in: &[f32],
    k: &Knobs,
    delta: Option<f32>,
    gamma: Option<f32>,
) -> Out {
    use FunctionId::*;
    let (delta, gamma) = (delta.unwrap_or(0.6), gamma.unwrap_or(0.5));
    let outer = Grid::of(shape, layout);
    let single = outer.classes == 1;
    let c_n = if single { 2 } else { outer.classes };
    let grid = Grid {
        batch: outer.batch,
        spatial: outer.spatial,
        classes: c_n,
        channels_last: true,
    };
    let (b_n, n) = (grid.batch, grid.spatial);
    let mut p = vec![0.0f32; grid.len()];
    let mut y = vec![0.0f32; grid.len()];
    for b in 0..b_n {
        for s in 0..n {
            for c in 0..c_n {
                let (pv, yv) = if single {
                    let i = outer.at(b, s, 0);
                    if c == 0 {
                        (1.0 - p_in[i], 1.0 - y_in[i])
                    } else {
                        (p_in[i], y_in[i])
                    }
                } else {
                    let i = outer.at(b, s, c);
                    (p_in[i], y_in[i])
                };
                p[grid.at(b, s, c)] = pv;
                y[grid.at(b, s, c)] = yv;
            }
        }
    }
    let eps = hp.real("eps").unwrap_or(EPS);
    let (q, pass, scale) = clip(&p, true, eps, k);
    let rare: Vec<bool> = match hp.classes("rare_classes").ok().flatten() {
        Some(list) => (0..c_n).map(|c| list.contains(&c)).collect(),
        None => (0..c_n).map(|c| c >= 1).collect(),
    };
    let (parts_f, parts_t, symmetric) = match f {
        SymmetricFocalLoss => (true, false, true),
        AsymmetricFocalLoss => (true, false, false),
        SymmetricFocalTverskyLoss => (false, true, true),
        AsymmetricFocalTverskyLoss => (false, true, false),
        SymUnifiedFocalLoss => (true, true, true),
        AsymUnifiedFocalLoss => (true, true, false),
        _ => return Err(Outcome::Skip("not in the paper convention".into())),
    };
    let lambda = if parts_f && parts_t {
        hp.real("lambda").unwrap_or(0.5) as f32
    } else if parts_f {
        1.0
    } else {
        0.0
    };
    let lambda = if k.bug(Bug::LambdaSwapped) && parts_f && parts_t {
        1.0 - lambda
    } else {
        lambda
    };
    let mut region_scale = if hp.word("region").unwrap_or("class-sum") == "class-mean" {
        1.0 / c_n as f32
    } else {
        1.0
    };
    if k.bug(Bug::TverskyClassSum) {
        region_scale = 1.0;
    }
    let reduction = hp.word("reduction").unwrap_or("mean");
    let outer_w = if reduction == "mean" {
        1.0 / b_n as f32
    } else {
        1.0
    };
    let smooth = if k.bug(Bug::Smoothing1e6) {
        1e-6
    } else {
        eps as f32
    };
    let mut dq = vec![0.0f32; q.len()];
    let mut per_bc = Vec::new();
    for b in 0..b_n {
        for c in 0..c_n {
            let mut v = 0.0f32;
            if parts_f {
                let w = if rare[c] != k.bug(Bug::BackgroundWeightDelta) {
                    delta
                } else {
                    1.0 - delta
                };
                let fg = if symmetric || !rare[c] || k.bug(Bug::FocalFactorOnRareClass) {
                    Some(gamma)
                } else {
                    None
                };
                let mut terms = Vec::new();
                for s in 0..n {
                    let i = grid.at(b, s, c);
                    let (tv, td) = if rare[c] {
                        rare_term(q[i], y[i], fg, p[i], k)
                    } else {
                        focal(q[i], y[i], fg, p[i], k)
                    };
                    terms.push(tv);
                    if pass[i] {
                        dq[i] += outer_w * lambda * w / n as f32 * td * scale[i];
                    }
                }
                v += lambda * (w * k.sum(&terms) / n as f32);
            }
            if parts_t {
                let ix: Vec<usize> = if k.bug(Bug::StatisticsOverBatch) {
                    (0..b_n)
                        .flat_map(|bb| (0..n).map(move |s| grid.at(bb, s, c)))
                        .collect()
                } else {
                    (0..n).map(|s| grid.at(b, s, c)).collect()
                };
                let st = stats(&q, &y, &ix, delta, smooth, k);
                let x = 1.0 - st.ti;
                let e = if k.bug(Bug::GammaNotOneMinusGamma) {
                    gamma
                } else {
                    1.0 - gamma
                };
                let (t, dt) = if symmetric || rare[c] {
                    (k.pow(x, e), e * k.pow(x, e - 1.0))
                } else {
                    (x, 1.0)
                };
                v += (1.0 - lambda) * (region_scale * t);
                let mut gtmp = vec![0.0f32; q.len()];
                tversky_grad(
                    &mut gtmp,
                    &pass,
                    &y,
                    &ix,
                    &st,
                    delta,
                    -(outer_w * (1.0 - lambda) * region_scale * dt),
                    k,
                );
                for i in 0..q.len() {
                    dq[i] += gtmp[i] * scale[i];
                }
            }
            per_bc.push(v);
        }
    }
    let mut loss: Vec<f32> = match reduction {
        "none" => per_bc.chunks(c_n).map(|r| k.sum(r)).collect(),
        "none-per-class" => per_bc,
        "sum" => vec![k.sum(&per_bc)],
        _ => vec![k.sum(&per_bc) / b_n as f32],
    };
    if k.bug(Bug::NoneReturnsTheBatchMean) && reduction.starts_with("none") {
        // Every item's entry replaced by the mean over the items (the gradient of the sum is
        // unchanged: only the loss shows it).
        let per_item = loss.len() / b_n;
        let means: Vec<f32> = (0..per_item)
            .map(|j| (0..b_n).map(|b| loss[b * per_item + j]).sum::<f32>() / b_n as f32)
            .collect();
        for (i, l) in loss.iter_mut().enumerate() {
            *l = means[i % per_item];
        }
    }
    let mut g = vec![0.0f32; p_in.len()];
    for b in 0..b_n {
        for s in 0..n {
            if single {
                g[outer.at(b, s, 0)] = dq[grid.at(b, s, 1)] - dq[grid.at(b, s, 0)];
            } else {
                for c in 0..c_n {
                    let d = dq[grid.at(b, s, c)];
                    g[outer.at(b, s, c)] = if k.bug(Bug::GradientSignFlipClass1) && c == 1 {
                        -d
                    } else {
                        d
                    };
                }
            }
        }
    }
    Ok((loss, g))
}

fn monai(
    f: FunctionId,
    hp: &ufl_oracle::params::Hyper<f64>,
    shape: &[usize],
    p_in: &[f32],
    y_in: &[f32],
    k: &Knobs,
) -> Out {
    use FunctionId::*;
    let rank = shape.len();
    let c_in = shape[1];
    if f == AsymUnifiedFocalLoss && rank != 4 && rank != 5 {
        return Err(Outcome::Error(
            "ValueError: input shape must be 4 or 5".into(),
        ));
    }
    if rank < 3 {
        return Err(Outcome::Skip("rank < 3".into()));
    }
    let single = c_in == 1 && f == AsymUnifiedFocalLoss;
    if c_in < 2 && !single {
        return Err(Outcome::Error(
            "IndexError: index 1 is out of bounds for dimension 1 with size 1".into(),
        ));
    }
    let c_n = if single { 2 } else { c_in };
    let (b_n, n) = (shape[0], shape[2..].iter().product::<usize>());
    let at = |b: usize, c: usize, s: usize| (b * c_n + c) * n + s;
    let mut p = vec![0.0f32; b_n * c_n * n];
    let mut y = vec![0.0f32; b_n * c_n * n];
    for b in 0..b_n {
        for s in 0..n {
            for c in 0..c_n {
                let (pv, yv) = if single {
                    let i = b * n + s;
                    if c == 0 {
                        (1.0 - p_in[i], 1.0 - y_in[i])
                    } else {
                        (p_in[i], y_in[i])
                    }
                } else {
                    let i = (b * c_in + c) * n + s;
                    (p_in[i], y_in[i])
                };
                p[at(b, c, s)] = pv;
                y[at(b, c, s)] = yv;
            }
        }
    }
    if f == AsymUnifiedFocalLoss && y.iter().any(|&v| v > 1.0) {
        return Err(Outcome::Error(
            "ValueError: Invalid class index found".into(),
        ));
    }
    let eps = if f == AsymUnifiedFocalLoss {
        EPS
    } else {
        hp.real("epsilon").unwrap_or(EPS)
    };
    let (q, pass, scale) = clip(&p, false, eps, k);
    let r = |name: &str| hp.real(name).map(|x| x as f32).unwrap_or(0.0);
    let (delta, gamma) = (r("delta"), r("gamma"));
    let (w_f, w_t) = match f {
        AsymmetricFocalLoss => (1.0, 0.0),
        AsymmetricFocalTverskyLoss => (0.0, 1.0),
        _ => {
            let w = r("weight");
            if k.bug(Bug::LambdaSwapped) {
                (1.0 - w, w)
            } else {
                (w, 1.0 - w)
            }
        }
    };
    let reduction = if f == AsymUnifiedFocalLoss {
        "mean"
    } else {
        hp.word("reduction").unwrap_or("mean")
    };
    let mut dq = vec![0.0f32; q.len()];
    let mut loss_f = Vec::new();
    let mut loss_t = Vec::new();
    if w_f != 0.0 {
        let count = if reduction == "mean" {
            (2 * b_n * n) as f32
        } else {
            1.0
        };
        for b in 0..b_n {
            for c in 0..2 {
                for s in 0..n {
                    let i = at(b, c, s);
                    let (v, d) = if c == 0 {
                        focal(q[i], y[i], Some(gamma), p[i], k)
                    } else {
                        rare_term(
                            q[i],
                            y[i],
                            if k.bug(Bug::FocalFactorOnRareClass) {
                                Some(gamma)
                            } else {
                                None
                            },
                            p[i],
                            k,
                        )
                    };
                    let wc = if (c == 0) != k.bug(Bug::BackgroundWeightDelta) {
                        1.0 - delta
                    } else {
                        delta
                    };
                    loss_f.push(wc * v);
                    if pass[i] {
                        dq[i] += w_f * wc * d / count * scale[i];
                    }
                }
            }
        }
    }
    if w_t != 0.0 {
        let count = if reduction == "mean" {
            (2 * b_n) as f32
        } else {
            1.0
        };
        let count = if k.bug(Bug::TverskyClassSum) {
            count / 2.0
        } else {
            count
        };
        let smooth = if k.bug(Bug::Smoothing1e6) {
            1e-6
        } else {
            eps as f32
        };
        for b in 0..b_n {
            for c in 0..2 {
                let ix: Vec<usize> = if k.bug(Bug::StatisticsOverBatch) {
                    (0..b_n)
                        .flat_map(|bb| (0..n).map(move |s| at(bb, c, s)))
                        .collect()
                } else {
                    (0..n).map(|s| at(b, c, s)).collect()
                };
                let st = stats(&q, &y, &ix, delta, smooth, k);
                let x = 1.0 - st.ti;
                let e = if k.bug(Bug::GammaNotOneMinusGamma) {
                    gamma
                } else {
                    1.0 - gamma
                };
                let (v, dx) = if c == 0 {
                    (x, 1.0)
                } else {
                    (
                        k.pow(x, e),
                        if e == 0.0 { 0.0 } else { e * k.pow(x, e - 1.0) },
                    )
                };
                loss_t.push(v);
                let mut gtmp = vec![0.0f32; q.len()];
                tversky_grad(
                    &mut gtmp,
                    &pass,
                    &y,
                    &ix,
                    &st,
                    delta,
                    -(w_t * dx / count),
                    k,
                );
                for i in 0..q.len() {
                    dq[i] += gtmp[i] * scale[i];
                }
            }
        }
    }
    let loss = match (f, reduction) {
        (AsymmetricFocalLoss, "none") => loss_f,
        (AsymmetricFocalTverskyLoss, "none") => loss_t,
        (AsymmetricFocalLoss, "sum") => vec![k.sum(&loss_f)],
        (AsymmetricFocalTverskyLoss, "sum") => vec![k.sum(&loss_t)],
        (AsymmetricFocalLoss, _) => vec![k.sum(&loss_f) / (2 * b_n * n) as f32],
        (AsymmetricFocalTverskyLoss, _) => vec![
            k.sum(&loss_t) / (2 * b_n) as f32
                * if k.bug(Bug::TverskyClassSum) {
                    2.0
                } else {
                    1.0
                },
        ],
        _ => {
            let fl = if loss_f.is_empty() {
                0.0
            } else {
                k.sum(&loss_f) / (2 * b_n * n) as f32
            };
            let tl = if loss_t.is_empty() {
                0.0
            } else {
                k.sum(&loss_t) / (2 * b_n) as f32
                    * if k.bug(Bug::TverskyClassSum) {
                        2.0
                    } else {
                        1.0
                    }
            };
            vec![w_f * fl + w_t * tl]
        }
    };
    let mut g = vec![0.0f32; p_in.len()];
    for b in 0..b_n {
        for s in 0..n {
            if single {
                g[b * n + s] = dq[at(b, 1, s)] - dq[at(b, 0, s)];
            } else {
                for c in 0..c_n {
                    let d = dq[at(b, c, s)];
                    g[(b * c_in + c) * n + s] = if k.bug(Bug::GradientSignFlipClass1) && c == 1 {
                        -d
                    } else {
                        d
                    };
                }
            }
        }
    }
    Ok((loss, g))
}

/// Logits to probabilities in float32, as frameworks compute them: `σ(z)` for one channel,
/// the softmax (`exp(z - max)` normalised) over several.
fn activate(z: &[f32], shape: &[usize], layout: Layout, k: &Knobs) -> Vec<f32> {
    let sigmoid = |x: f32| 1.0 / (1.0 + (-x).exp());
    let grid = Grid::of(shape, layout);
    let mut p = vec![0.0f32; z.len()];
    for b in 0..grid.batch {
        for s in 0..grid.spatial {
            if grid.classes == 1 || k.bug(Bug::SigmoidOnSeveralChannels) {
                for c in 0..grid.classes {
                    let i = grid.at(b, s, c);
                    let x = if k.bug(Bug::SigmoidOfTheOtherClass) {
                        -z[i]
                    } else {
                        z[i]
                    };
                    p[i] = sigmoid(x);
                }
                continue;
            }
            let at: Vec<usize> = (0..grid.classes).map(|c| grid.at(b, s, c)).collect();
            let m = at.iter().map(|&i| z[i]).fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f32> = at.iter().map(|&i| (z[i] - m).exp()).collect();
            let total: f32 = e.iter().sum();
            for (j, &i) in at.iter().enumerate() {
                p[i] = e[j] / total;
            }
        }
    }
    p
}

/// Autograd's backward through [`activate`]: `g·y·(1-y)` for the sigmoid (`y` the rounded
/// `σ(z)`), `y·(g - Σ g·y)` for the softmax.
fn activation_backward(
    y: &[f32],
    g: &[f32],
    shape: &[usize],
    layout: Layout,
    k: &Knobs,
) -> Vec<f32> {
    let grid = Grid::of(shape, layout);
    let mut out = vec![0.0f32; y.len()];
    for b in 0..grid.batch {
        for s in 0..grid.spatial {
            if grid.classes == 1 || k.bug(Bug::SigmoidOnSeveralChannels) {
                for c in 0..grid.classes {
                    let i = grid.at(b, s, c);
                    let d = g[i] * y[i] * (1.0 - y[i]);
                    out[i] = if k.bug(Bug::SigmoidOfTheOtherClass) {
                        -d
                    } else {
                        d
                    };
                }
                continue;
            }
            let at: Vec<usize> = (0..grid.classes).map(|c| grid.at(b, s, c)).collect();
            let dot: f32 = at.iter().map(|&i| g[i] * y[i]).sum();
            for &i in &at {
                out[i] = y[i] * (g[i] - dot);
            }
        }
    }
    out
}
