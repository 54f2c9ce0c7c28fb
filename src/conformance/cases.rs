//! The cases a backend is checked on: named, deterministic generators grouped so a backend can
//! skip groups by name.
//!
//! | group | what |
//! |---|---|
//! | `edge` | every function in every convention on small shapes: empty, full and one-pixel foregrounds, predictions at 0, 1 and the clip bounds, perfect predictions (exact and on the bounds), soft labels; and parameters at and away from the defaults (γ = 0, δ = 0.5, δ near 0 and 1, λ = 0 and 1, and an off-default set) |
//! | `random` | problems drawn from a seed (`UFL_ORACLE_SEED`, default [`DEFAULT_SEED`]): any function and convention, 1-D to 3-D, 1 to 5 classes, both layouts, logits, parameters anywhere in their ranges |
//! | `fixture` | the inputs of the shipped fixture files |
//! | `large` | two realistic volumes, `(1, 2, 128, 128, 128)` channels-first and `(4, 256, 256, 2)` channels-last (not in the default set) |
//! | `f16` | the edge cases with inputs rounded to float16, for half-precision backends (not in the default set) |
//!
//! Every case also carries its function and convention names as groups, `quirk` when it exercises
//! a reproduced quirk of the original (depth slice, binary-only classes, broadcasting), and
//! `error` when the reference raises on it. [`Filter`] selects cases from a spec such as
//! `asym,-large` (the `UFL_ORACLE_TEST` variable of the harness).

use crate::conventions::params::{resolve, Hyper, ParamValue, Params};
use crate::engine::eval::Problem;
use crate::spec::error::UflError;
use crate::spec::registry::{Convention, FunctionId, ParamSpec, Sample, FUNCTIONS};
use crate::spec::tensor::{Dtype, Grid, Layout, Tensor};

/// The seed of the default random cases.
pub const DEFAULT_SEED: u64 = 20_221_102;

/// The variable that sets the seed of the random cases.
pub const SEED_ENV: &str = "UFL_ORACLE_SEED";

/// How many random cases the default set holds.
pub const DEFAULT_RANDOM_CASES: usize = 160;

/// One case: an evaluation with its name and groups.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// Unique, `group/...`.
    pub id: String,
    pub groups: Vec<String>,
    pub problem: Problem,
    /// The seed its inputs were drawn from, if any.
    pub seed: Option<u64>,
}

impl Case {
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// The precision the case's inputs hold, and the one its backend computes in when each
    /// case is judged at its own dtype ([`crate::conformance::harness::Judging::PER_CASE`]).
    pub fn dtype(&self) -> Dtype {
        self.problem.dtype
    }

    /// The prediction, flat in the case's layout, as float64 (no copy; a float32 case holds
    /// float32 values, which convert exactly).
    pub fn pred_f64(&self) -> &[f64] {
        &self.problem.pred.data
    }

    /// The target, flat in the case's layout, as float64 (no copy).
    pub fn target_f64(&self) -> &[f64] {
        &self.problem.target.data
    }

    /// The prediction as float32 (a copy; exact for a float32 case, rounded for a float64
    /// one).
    pub fn pred_f32(&self) -> Vec<f32> {
        self.problem.pred.data.iter().map(|&x| x as f32).collect()
    }

    /// The target as float32 (a copy).
    pub fn target_f32(&self) -> Vec<f32> {
        self.problem.target.data.iter().map(|&x| x as f32).collect()
    }

    /// The prediction's axes by name, with the layout its flat arrays are in.
    pub fn extents(&self) -> Extents {
        Extents::of(&self.problem.pred.shape, self.problem.layout)
    }

    /// The target's axes by name (MONAI's class-index targets have one channel).
    pub fn target_extents(&self) -> Extents {
        Extents::of(&self.problem.target.shape, self.problem.layout)
    }

    /// The parameters with every default filled in and checked against the registry, typed:
    /// `case.params()?.real("delta")?`, `.word("reduction")?`, `.reduction()?`.
    pub fn params(&self) -> Result<Hyper<f64>, UflError> {
        resolve(
            self.problem.function,
            self.problem.convention,
            &self.problem.params,
        )
    }
}

/// The axes of a case's array: (batch, spatial..., classes) whatever the layout, and the layout
/// the flat data is in (channels-last: `[b][s...][c]`; channels-first: `[b][c][s...]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extents {
    pub batch: usize,
    /// The spatial axes, in order.
    pub spatial: Vec<usize>,
    pub classes: usize,
    pub layout: Layout,
}

impl Extents {
    /// The extents of `shape` in `layout` (a rank-1 shape is a batch of one class).
    pub fn of(shape: &[usize], layout: Layout) -> Extents {
        let batch = shape.first().copied().unwrap_or(1);
        let rest = shape.get(1..).unwrap_or(&[]);
        let (classes, spatial) = match layout {
            Layout::ChannelsLast => match rest.split_last() {
                Some((&c, s)) => (c, s.to_vec()),
                None => (1, Vec::new()),
            },
            Layout::ChannelsFirst => match rest.split_first() {
                Some((&c, s)) => (c, s.to_vec()),
                None => (1, Vec::new()),
            },
        };
        Extents {
            batch,
            spatial,
            classes,
            layout,
        }
    }

    /// The number of spatial positions of one item.
    pub fn positions(&self) -> usize {
        self.spatial.iter().product()
    }

    /// The flat index of (item `b`, spatial multi-index `s`, class `c`) in the layout.
    pub fn index(&self, b: usize, s: &[usize], c: usize) -> usize {
        let position = s
            .iter()
            .zip(&self.spatial)
            .fold(0, |acc, (&i, &n)| acc * n + i);
        Grid {
            batch: self.batch,
            spatial: self.positions(),
            classes: self.classes,
            channels_last: self.layout == Layout::ChannelsLast,
        }
        .at(b, position, c)
    }
}

/// The seed of the random cases: `UFL_ORACLE_SEED` if set to an integer, else [`DEFAULT_SEED`].
pub fn seed_from_env() -> u64 {
    std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

fn num(x: f64) -> ParamValue {
    ParamValue::Number(x)
}

fn word(w: &str) -> ParamValue {
    ParamValue::Text(w.to_string())
}

/// A small deterministic generator (xorshift64); every case derives its inputs from a seed.
#[derive(Clone, Debug)]
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

/// What a generated target holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Targets {
    /// One-hot labels, class 0 at 60 % of the positions (C = 1: a binary mask, 30 % ones).
    OneHot,
    /// Soft labels: every entry uniform in [0, 1), independently.
    Soft,
}

/// Softmax probabilities and one-hot targets of `shape` in `layout` (C = 1: a sigmoid and a
/// binary mask), rounded to `dtype`: [`inputs_with`] with [`Targets::OneHot`].
pub fn inputs(
    shape: &[usize],
    layout: Layout,
    dtype: Dtype,
    scale: f64,
    seed: u64,
) -> (Tensor, Tensor) {
    inputs_with(shape, layout, dtype, scale, Targets::OneHot, seed)
}

/// Softmax probabilities of logits `scale·N(0, 1)` (C = 1: a sigmoid) and `targets` of `shape`
/// in `layout`, rounded to `dtype`, drawn from `seed`.
pub fn inputs_with(
    shape: &[usize],
    layout: Layout,
    dtype: Dtype,
    scale: f64,
    targets: Targets,
    seed: u64,
) -> (Tensor, Tensor) {
    let mut rng = Rng::new(seed);
    let grid = crate::spec::tensor::Grid::of(shape, layout);
    let n: usize = shape.iter().product();
    let mut p = vec![0.0; n];
    let mut y = vec![0.0; n];
    for b in 0..grid.batch {
        for s in 0..grid.spatial {
            if grid.classes == 1 {
                let z = scale * rng.normal();
                p[grid.at(b, s, 0)] = dtype.round(1.0 / (1.0 + (-z).exp()));
                y[grid.at(b, s, 0)] = match targets {
                    Targets::OneHot => (rng.uniform() < 0.3) as u8 as f64,
                    Targets::Soft => dtype.round(rng.uniform()),
                };
                continue;
            }
            let z: Vec<f64> = (0..grid.classes).map(|_| scale * rng.normal()).collect();
            let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
            let total: f64 = e.iter().sum();
            for c in 0..grid.classes {
                p[grid.at(b, s, c)] = dtype.round(e[c] / total);
            }
            match targets {
                Targets::OneHot => {
                    let label = if rng.uniform() < 0.6 {
                        0
                    } else {
                        1 + (rng.next_u64() as usize) % (grid.classes - 1)
                    };
                    y[grid.at(b, s, label)] = 1.0;
                }
                Targets::Soft => {
                    for c in 0..grid.classes {
                        y[grid.at(b, s, c)] = dtype.round(rng.uniform());
                    }
                }
            }
        }
    }
    (
        Tensor::new("prediction", shape.to_vec(), p).unwrap(),
        Tensor::new("target", shape.to_vec(), y).unwrap(),
    )
}

/// Replaces every 7th prediction by a float32 value on or next to the clip bounds `[lo, hi]`:
/// each bound, one and two float32 steps either side, 0 and 1 in turn.
pub fn plant_f32_bounds(p: &mut [f64], lo: f32, hi: f32) {
    let down = |x: f32| f32::from_bits(x.to_bits() - 1);
    let up = |x: f32| f32::from_bits(x.to_bits() + 1);
    let values = [
        lo,
        hi,
        down(lo),
        up(lo),
        down(hi),
        up(hi),
        0.0,
        1.0,
        up(up(lo)),
        down(down(hi)),
    ];
    for (k, i) in (0..p.len()).step_by(7).enumerate() {
        p[i] = values[k % values.len()] as f64;
    }
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
    /// The seed of the inputs ([`inputs`]).
    pub seed: u64,
    /// The spread of the logits the predictions are the softmax of.
    pub scale: f64,
    /// The seed of the parameters ([`draw_params`]) and of the convention's shape choices.
    pub params_seed: u64,
}

/// Builds a valid problem from a draw: the convention is one the function has, the shape one
/// the convention accepts, and every parameter drawn as its registry entry's [`Sample`] says
/// (away from the defaults, in range).
pub fn build(d: &Draw) -> Problem {
    let spec = &FUNCTIONS[d.function % FUNCTIONS.len()];
    let signature = &spec.signatures[d.convention % spec.signatures.len()];
    let convention = signature.convention;
    let f = spec.id;
    let mut rng = Rng::new(d.params_seed);
    let mut spatial = d.spatial.clone();
    let mut classes = d.classes.max(2);
    let mut layout = if d.channels_last {
        Layout::ChannelsLast
    } else {
        Layout::ChannelsFirst
    };
    // The shapes each convention accepts.
    match convention {
        Convention::Original => {
            if spatial.len() == 1 {
                spatial.push(1);
            }
            let binary_parts = matches!(
                f,
                FunctionId::SymmetricFocalLoss
                    | FunctionId::AsymmetricFocalLoss
                    | FunctionId::SymUnifiedFocalLoss
                    | FunctionId::AsymUnifiedFocalLoss
            );
            if spatial.len() == 3 && binary_parts {
                spatial[2] = spatial[2].max(2); // the depth slice needs D ≥ 2
            }
        }
        Convention::Paper => classes = d.classes, // 1 is a single channel
        Convention::Monai => {
            layout = Layout::ChannelsFirst;
            if f == FunctionId::AsymUnifiedFocalLoss {
                if spatial.len() == 1 {
                    spatial.push(2);
                }
                if rng.next_u64() % 3 == 0 {
                    classes = 1;
                }
            }
        }
    }
    let params = draw_params(signature.params, classes, &mut rng);
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
    if params.get("input") == Some(&word("logits")) {
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

/// Draws each of `specs` as its [`Sample`] says, for a problem of `classes` classes; a
/// parameter left at its default is not written.
pub fn draw_params(specs: &[ParamSpec], classes: usize, rng: &mut Rng) -> Params {
    let mut params = Params::new();
    for spec in specs {
        let mut pick = |n: usize| (rng.next_u64() % n as u64) as usize;
        let value = match spec.sample {
            Sample::Default(_) => continue,
            Sample::Uniform(lo, hi) => num(lo + (hi - lo) * rng.uniform()),
            Sample::NullOrUniform { every, lo, hi } => {
                if rng.next_u64() % every == 0 {
                    ParamValue::Null
                } else {
                    num(lo + (hi - lo) * rng.uniform())
                }
            }
            Sample::OneOf(values) => num(values[pick(values.len())]),
            Sample::Words(words) => word(words[pick(words.len())]),
            Sample::ClassWeights { lo, hi } => match pick(3) {
                0 => ParamValue::Null,
                1 => num(lo + (hi - lo) * rng.uniform()),
                _ => ParamValue::List(
                    (0..classes)
                        .map(|_| lo + (hi - lo) * rng.uniform())
                        .collect(),
                ),
            },
            Sample::PairWeightOrNull { every, lo, hi } => {
                if rng.next_u64() % every == 0 || classes > 2 {
                    ParamValue::Null
                } else {
                    num(lo + (hi - lo) * rng.uniform())
                }
            }
            Sample::LastClassOrNull { every } => {
                let effective = classes.max(2);
                if rng.next_u64() % every != 0 || effective <= 2 {
                    continue;
                }
                ParamValue::List(vec![(effective - 1) as f64])
            }
        };
        params.insert(spec.name.to_string(), value);
    }
    params
}

// ---- edge cases ------------------------------------------------------------------------------

/// What the predictions and targets of an edge case look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Softmax,
    Empty,
    Full,
    OnePixel,
    Bounds,
    Perfect,
    PerfectOnBounds,
    Soft,
}

impl Kind {
    const ALL: [Kind; 8] = [
        Kind::Softmax,
        Kind::Empty,
        Kind::Full,
        Kind::OnePixel,
        Kind::Bounds,
        Kind::Perfect,
        Kind::PerfectOnBounds,
        Kind::Soft,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Softmax => "softmax",
            Kind::Empty => "empty-foreground",
            Kind::Full => "full-foreground",
            Kind::OnePixel => "one-pixel",
            Kind::Bounds => "bounds",
            Kind::Perfect => "perfect",
            Kind::PerfectOnBounds => "perfect-on-bounds",
            Kind::Soft => "soft",
        }
    }
}

/// Inputs of `kind` for `shape` in `layout` (float32 values).
fn kind_inputs(kind: Kind, shape: &[usize], layout: Layout, seed: u64) -> (Tensor, Tensor) {
    let (pred, target) = inputs(shape, layout, Dtype::F32, 1.5, seed);
    let grid = Grid::of(shape, layout);
    let (lo, hi) = Dtype::F32.clip_bounds(crate::spec::registry::KERAS_EPSILON);
    let mut rng = Rng::new(seed ^ 0xED6E);
    let mut p = pred.data;
    let mut y = target.data;
    let single = grid.classes == 1;
    // The class of every position, for the kinds that rewrite the target.
    let set_label = |y: &mut Vec<f64>, b: usize, s: usize, label: usize| {
        if single {
            y[grid.at(b, s, 0)] = if label >= 1 { 1.0 } else { 0.0 };
        } else {
            for c in 0..grid.classes {
                y[grid.at(b, s, c)] = if c == label { 1.0 } else { 0.0 };
            }
        }
    };
    match kind {
        Kind::Softmax => {}
        Kind::Empty | Kind::Full | Kind::OnePixel => {
            for b in 0..grid.batch {
                for s in 0..grid.spatial {
                    let label = match kind {
                        Kind::Empty => 0,
                        Kind::Full => 1,
                        _ => usize::from(s == grid.spatial / 2),
                    };
                    set_label(&mut y, b, s, label);
                }
            }
        }
        Kind::Bounds => {
            let values = [0.0, lo, 1e-9, 0.5, hi, 1.0];
            for v in p.iter_mut() {
                *v = Dtype::F32.round(values[(rng.next_u64() % 6) as usize]);
            }
        }
        Kind::Perfect | Kind::PerfectOnBounds => {
            for (v, t) in p.iter_mut().zip(&y) {
                *v = match (kind, *t >= 0.5) {
                    (Kind::Perfect, true) => 1.0,
                    (Kind::Perfect, false) => 0.0,
                    (_, true) => hi,
                    (_, false) => lo,
                };
            }
        }
        Kind::Soft => {
            for b in 0..grid.batch {
                for s in 0..grid.spatial {
                    let w: Vec<f64> = (0..grid.classes).map(|_| rng.uniform() + 0.05).collect();
                    let total: f64 = w.iter().sum();
                    for c in 0..grid.classes {
                        y[grid.at(b, s, c)] = Dtype::F32.round(w[c] / total);
                    }
                }
            }
        }
    }
    (
        Tensor {
            shape: shape.to_vec(),
            data: p,
        },
        Tensor {
            shape: shape.to_vec(),
            data: y,
        },
    )
}

/// Parameter settings of the edge cases: at the defaults and away from them.
const SETTINGS: [&str; 9] = [
    "default",
    "gamma=0",
    "delta=0.5",
    "delta=0.05",
    "delta=0.95",
    "lambda=0",
    "lambda=1",
    "lambda=null",
    "off-default",
];

/// The parameters of `setting` for a function in a convention (only those it has).
fn setting_params(function: FunctionId, convention: Convention, setting: &str) -> Option<Params> {
    let sig = function.spec().signature(convention)?;
    let has = |n: &str| sig.params.iter().any(|p| p.name == n);
    let mut p = Params::new();
    let lambda = if has("lambda") {
        "lambda"
    } else if has("weight") {
        "weight"
    } else if has("alpha") && function == FunctionId::ComboLoss {
        "alpha"
    } else {
        ""
    };
    let delta = if has("delta") {
        "delta"
    } else if has("beta") {
        "beta"
    } else {
        ""
    };
    let gamma = if has("gamma") {
        "gamma"
    } else if has("gamma_f") {
        "gamma_f"
    } else {
        ""
    };
    match setting {
        "default" => {}
        "gamma=0" if !gamma.is_empty() => {
            p.insert(gamma.into(), num(0.0));
        }
        "delta=0.5" if !delta.is_empty() => {
            p.insert(delta.into(), num(0.5));
        }
        "delta=0.05" if !delta.is_empty() => {
            p.insert(delta.into(), num(0.05));
        }
        "delta=0.95" if !delta.is_empty() => {
            p.insert(delta.into(), num(0.95));
        }
        "lambda=0" if !lambda.is_empty() => {
            p.insert(lambda.into(), num(0.0));
        }
        "lambda=1" if !lambda.is_empty() => {
            p.insert(lambda.into(), num(1.0));
        }
        // The original's `weight=None` (and Combo's `alpha=None`): a plain sum of the parts.
        "lambda=null"
            if !lambda.is_empty()
                && sig.params.iter().any(|s| {
                    s.name == lambda && s.kind == crate::spec::registry::Kind::RealOrNull
                }) =>
        {
            p.insert(lambda.into(), ParamValue::Null);
        }
        "off-default" => {
            if !delta.is_empty() {
                p.insert(delta.into(), num(0.37));
            }
            if !gamma.is_empty() {
                // Region powers in the paper need γ < 1; elsewhere any γ ≥ 0.
                let g = if gamma == "gamma_f" {
                    1.3
                } else if function == FunctionId::FocalTverskyLoss {
                    1.6
                } else {
                    0.15
                };
                p.insert(gamma.into(), num(g));
            }
            if !lambda.is_empty() {
                p.insert(lambda.into(), num(0.8));
            }
            if has("smooth") {
                p.insert("smooth".into(), num(1.0));
            }
        }
        _ => return None,
    }
    Some(p)
}

/// The edge shapes of a function in a convention, with the quirk they exercise if any.
fn edge_shapes(
    function: FunctionId,
    convention: Convention,
) -> Vec<(Vec<usize>, Layout, Option<&'static str>)> {
    let binary_parts = matches!(
        function,
        FunctionId::SymmetricFocalLoss
            | FunctionId::AsymmetricFocalLoss
            | FunctionId::SymmetricFocalTverskyLoss
            | FunctionId::AsymmetricFocalTverskyLoss
            | FunctionId::SymUnifiedFocalLoss
            | FunctionId::AsymUnifiedFocalLoss
    );
    let slices_depth = binary_parts
        && !matches!(
            function,
            FunctionId::SymmetricFocalTverskyLoss | FunctionId::AsymmetricFocalTverskyLoss
        );
    match convention {
        Convention::Original => vec![
            (vec![1, 4, 4, 2], Layout::ChannelsLast, None),
            (
                vec![1, 3, 3, 2, 2],
                Layout::ChannelsLast,
                slices_depth.then_some("quirk:depth-slice"),
            ),
            (
                vec![2, 3, 3, 3],
                Layout::ChannelsLast,
                binary_parts.then_some("quirk:binary-only"),
            ),
        ],
        Convention::Paper => vec![
            (vec![1, 2, 4, 4], Layout::ChannelsFirst, None),
            (vec![2, 3, 3, 4], Layout::ChannelsLast, None),
            (vec![1, 1, 4, 4], Layout::ChannelsFirst, None),
        ],
        Convention::Monai => {
            let mut v = vec![
                (vec![1, 2, 4, 4], Layout::ChannelsFirst, None),
                (vec![1, 2, 3, 3, 2], Layout::ChannelsFirst, None),
            ];
            if function == FunctionId::AsymUnifiedFocalLoss {
                v.push((vec![1, 1, 4, 4], Layout::ChannelsFirst, None));
            }
            v
        }
    }
}

fn shape_name(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

/// The `edge` group (see the module documentation). Deterministic.
pub fn edge_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let mut seed = 1u64;
    let mut layout_seed = 1u64 << 32;
    for spec in FUNCTIONS {
        for convention in spec.conventions() {
            for (shape, layout, quirk) in edge_shapes(spec.id, convention) {
                let mut add = |kind: Kind, setting: &str, out: &mut Vec<Case>| {
                    let Some(params) = setting_params(spec.id, convention, setting) else {
                        return;
                    };
                    seed += 1;
                    let (pred, target) = kind_inputs(kind, &shape, layout, seed);
                    let mut groups = vec![
                        "edge".to_string(),
                        spec.name.to_string(),
                        convention.name().to_string(),
                        kind.name().to_string(),
                    ];
                    if let Some(q) = quirk {
                        groups.push("quirk".into());
                        groups.push(q.into());
                    }
                    let problem = Problem {
                        function: spec.id,
                        convention,
                        params,
                        pred,
                        target,
                        layout,
                        dtype: Dtype::F32,
                    };
                    let id = format!(
                        "edge/{}/{}/{}/{}/{}",
                        spec.name,
                        convention,
                        shape_name(&shape),
                        kind.name(),
                        setting
                    );
                    out.push(Case {
                        id,
                        groups,
                        problem,
                        seed: Some(seed),
                    });
                };
                for kind in Kind::ALL {
                    add(kind, "default", &mut out);
                }
                for setting in &SETTINGS[1..] {
                    add(Kind::Softmax, setting, &mut out);
                }
            }
            // Both layouts with batch, space and classes of distinct extents, so that reading
            // one layout as the other is never a symmetry of the input (the `layout` group).
            let classes = if convention == Convention::Paper {
                3
            } else {
                2
            };
            for layout in [Layout::ChannelsLast, Layout::ChannelsFirst] {
                let shape = match layout {
                    Layout::ChannelsLast => vec![2, 3, 4, classes],
                    Layout::ChannelsFirst => vec![2, classes, 3, 4],
                };
                for setting in ["default", "gamma=0", "delta=0.5", "off-default"] {
                    let Some(params) = setting_params(spec.id, convention, setting) else {
                        continue;
                    };
                    // A counter of their own: the other edge cases keep their inputs.
                    layout_seed += 1;
                    let (pred, target) = kind_inputs(Kind::Softmax, &shape, layout, layout_seed);
                    out.push(Case {
                        id: format!(
                            "edge/{}/{}/{}/layout-{}/{setting}",
                            spec.name,
                            convention,
                            shape_name(&shape),
                            layout.name()
                        ),
                        groups: vec![
                            "edge".to_string(),
                            "layout".to_string(),
                            spec.name.to_string(),
                            convention.name().to_string(),
                        ],
                        problem: Problem {
                            function: spec.id,
                            convention,
                            params,
                            pred,
                            target,
                            layout,
                            dtype: Dtype::F32,
                        },
                        seed: Some(layout_seed),
                    });
                }
            }
            if convention == Convention::Paper {
                out.extend(paper_input_cases(spec, &mut layout_seed));
            }
        }
    }
    mark_errors(out)
}

/// Logits at saturation for `paper` (one channel through the sigmoid, several through the
/// softmax; `|z|` up to 15, where a framework's `1 - σ(z)` keeps few digits), rare sets (empty,
/// {0}, several classes), and the per-item reductions on a batch of two (the `logits`, `rare`
/// and `reduction` groups).
fn paper_input_cases(spec: &crate::spec::registry::FunctionSpec, seed: &mut u64) -> Vec<Case> {
    const LOGITS: [f64; 12] = [
        1.0, 4.0, 8.0, -8.0, 12.0, -12.0, 15.0, -15.0, 0.5, -2.0, 6.0, -6.0,
    ];
    let mut out = Vec::new();
    let mut push = |case_seed: u64,
                    name: String,
                    group: &str,
                    shape: Vec<usize>,
                    layout,
                    params: Params,
                    pred,
                    target| {
        out.push(Case {
            id: format!("edge/{}/paper/{}/{name}", spec.name, shape_name(&shape)),
            groups: vec![
                "edge".to_string(),
                group.to_string(),
                spec.name.to_string(),
                "paper".to_string(),
            ],
            problem: Problem {
                function: spec.id,
                convention: Convention::Paper,
                params,
                pred,
                target,
                layout,
                dtype: Dtype::F32,
            },
            seed: Some(case_seed),
        });
    };
    for (shape, layout) in [
        (vec![2, 1, 3, 4], Layout::ChannelsFirst),
        (vec![2, 3, 4, 1], Layout::ChannelsLast),
        (vec![2, 3, 4, 3], Layout::ChannelsLast),
        (vec![2, 3, 3, 4], Layout::ChannelsFirst),
    ] {
        for setting in ["default", "off-default"] {
            let Some(mut params) = setting_params(spec.id, Convention::Paper, setting) else {
                continue;
            };
            params.insert("input".into(), ParamValue::Text("logits".into()));
            *seed += 1;
            let (_, target) = kind_inputs(Kind::Softmax, &shape, layout, *seed);
            let mut rng = Rng::new(*seed);
            let z: Vec<f64> = (0..target.data.len())
                .map(|_| LOGITS[(rng.next_u64() % LOGITS.len() as u64) as usize])
                .collect();
            let pred = Tensor::new("prediction", shape.clone(), z).expect("a valid shape");
            push(
                *seed,
                format!("logits/{setting}"),
                "logits",
                shape.clone(),
                layout,
                params,
                pred,
                target,
            );
        }
    }
    for rare in [&[][..], &[0.0][..], &[1.0, 3.0][..]] {
        let shape = vec![1, 4, 3, 4];
        let mut params = Params::new();
        params.insert("rare_classes".into(), ParamValue::List(rare.to_vec()));
        *seed += 1;
        let (pred, target) = kind_inputs(Kind::Softmax, &shape, Layout::ChannelsFirst, *seed);
        let name: Vec<String> = rare.iter().map(|c| format!("{c}")).collect();
        push(
            *seed,
            format!("rare-[{}]/default", name.join(",")),
            "rare",
            shape,
            Layout::ChannelsFirst,
            params,
            pred,
            target,
        );
    }
    for reduction in ["none", "none-per-class"] {
        let shape = vec![2, 3, 4, 3];
        let mut params = Params::new();
        params.insert("reduction".into(), ParamValue::Text(reduction.into()));
        *seed += 1;
        let (pred, target) = kind_inputs(Kind::Softmax, &shape, Layout::ChannelsLast, *seed);
        push(
            *seed,
            format!("reduction-{reduction}/default"),
            "reduction",
            shape,
            Layout::ChannelsLast,
            params,
            pred,
            target,
        );
    }
    out
}

/// Adds the `error` group to cases on which the reference raises, and drops cases the oracle
/// itself refuses (none of the generators should make one; they would test nothing).
fn mark_errors(cases: Vec<Case>) -> Vec<Case> {
    cases
        .into_iter()
        .filter_map(|mut c| match c.problem.evaluate_in::<f64>(false) {
            Ok(_) => Some(c),
            Err(e) if e.reference_exception().is_some() => {
                c.groups.push("error".into());
                Some(c)
            }
            Err(_) => None,
        })
        .collect()
}

// ---- random, fixture and large cases --------------------------------------------------------

/// `count` problems drawn from `seed` (the `random` group).
pub fn random_cases(seed: u64, count: usize) -> Vec<Case> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let draw = Draw {
            function: (rng.next_u64() % 12) as usize,
            convention: (rng.next_u64() % 3) as usize,
            spatial: (0..1 + rng.next_u64() % 3)
                .map(|_| 1 + (rng.next_u64() % 4) as usize)
                .collect(),
            classes: 1 + (rng.next_u64() % 5) as usize,
            batch: 1 + (rng.next_u64() % 2) as usize,
            channels_last: rng.next_u64() % 2 == 0,
            float32: rng.next_u64() % 4 != 0,
            seed: rng.next_u64(),
            scale: 0.3 + 2.7 * rng.uniform(),
            params_seed: rng.next_u64(),
        };
        let problem = build(&draw);
        let name = problem.function.name();
        let id = format!("random/{seed}/{i:03}/{name}/{}", problem.convention);
        let groups = vec![
            "random".to_string(),
            name.to_string(),
            problem.convention.name().to_string(),
        ];
        out.push(Case {
            id,
            groups,
            problem,
            seed: Some(draw.seed),
        });
    }
    mark_errors(out)
}

/// The inputs of every shipped fixture case (the `fixture` group); empty if the fixtures are
/// not where the crate was built.
pub fn fixture_cases() -> Vec<Case> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let Ok(crate::protocol::fixtures::Collected { files, .. }) =
        crate::protocol::fixtures::collect(&[root])
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for f in files {
        let Ok(file) = crate::protocol::fixtures::read(&f) else {
            continue;
        };
        out.extend(file.cases.iter().filter_map(|c| fixture_case(c).ok()));
    }
    out
}

/// A fixture case as a harness case (its inputs; the oracle computes the expectation).
pub fn fixture_case(
    c: &crate::protocol::fixtures::FixtureCase,
) -> Result<Case, crate::spec::error::UflError> {
    let mut groups = vec![
        "fixture".to_string(),
        c.function.name().to_string(),
        c.convention.name().to_string(),
    ];
    if c.tags.iter().any(|t| t.starts_with("quirk:")) {
        groups.push("quirk".into());
    }
    if matches!(c.expected, crate::protocol::fixtures::Expected::Error(_)) {
        groups.push("error".into());
    }
    groups.extend(c.tags.iter().filter(|t| t.starts_with("quirk:")).cloned());
    Ok(Case {
        id: format!("fixture/{}", c.id),
        groups,
        problem: c.problem()?,
        seed: None,
    })
}

/// The `large` group: two realistic volumes.
pub fn large_cases() -> Vec<Case> {
    let specs = [
        (
            FunctionId::AsymUnifiedFocalLoss,
            Convention::Paper,
            vec![1, 2, 128, 128, 128],
            Layout::ChannelsFirst,
        ),
        (
            FunctionId::AsymUnifiedFocalLoss,
            Convention::Original,
            vec![4, 256, 256, 2],
            Layout::ChannelsLast,
        ),
    ];
    specs
        .into_iter()
        .enumerate()
        .map(|(i, (f, convention, shape, layout))| {
            let (pred, target) = inputs(&shape, layout, Dtype::F32, 2.0, 9000 + i as u64);
            Case {
                id: format!("large/{}/{}/{}", f.name(), convention, shape_name(&shape)),
                groups: vec!["large".into(), f.name().into(), convention.name().into()],
                problem: Problem {
                    function: f,
                    convention,
                    params: Params::new(),
                    pred,
                    target,
                    layout,
                    dtype: Dtype::F32,
                },
                seed: Some(9000 + i as u64),
            }
        })
        .collect()
}

/// The `f16` group: the edge cases with inputs rounded to float16, for backends that store
/// half-precision inputs (their inputs are then exactly what such a backend holds).
pub fn float16_cases() -> Vec<Case> {
    edge_cases()
        .into_iter()
        .map(|mut c| {
            for x in c
                .problem
                .pred
                .data
                .iter_mut()
                .chain(c.problem.target.data.iter_mut())
            {
                *x = crate::numbers::bound::round_to_bits(*x, 11);
            }
            c.id = c.id.replacen("edge/", "f16/", 1);
            c.groups[0] = "f16".to_string();
            c
        })
        .collect()
}

/// The default case set: `edge`, `random` (from `seed`) and `fixture`.
pub fn default_cases(seed: u64) -> Vec<Case> {
    let mut cases = edge_cases();
    cases.extend(default_random_cases(seed));
    cases.extend(fixture_cases());
    cases
}

/// The `random` group of the default set: [`DEFAULT_RANDOM_CASES`] draws, and for every
/// (function, convention) drawn in one layout only, its first case again in the other layout
/// (the same problem transposed, id suffixed `/other-layout`), so that both layouts of every
/// drawn pair are checked whatever the seed.
pub fn default_random_cases(seed: u64) -> Vec<Case> {
    let mut cases = random_cases(seed, DEFAULT_RANDOM_CASES);
    let mut seen: Vec<(FunctionId, Convention, Layout)> = cases
        .iter()
        .map(|c| (c.problem.function, c.problem.convention, c.problem.layout))
        .collect();
    let mut extra = Vec::new();
    for c in &cases {
        let p = &c.problem;
        if p.pred.shape.len() < 3 || p.target.shape != p.pred.shape {
            continue;
        }
        let other = match p.layout {
            Layout::ChannelsLast => Layout::ChannelsFirst,
            Layout::ChannelsFirst => Layout::ChannelsLast,
        };
        if seen.contains(&(p.function, p.convention, other)) {
            continue;
        }
        seen.push((p.function, p.convention, other));
        let (pred, target) = match p.layout {
            Layout::ChannelsLast => (
                p.pred.channels_last_to_first(),
                p.target.channels_last_to_first(),
            ),
            Layout::ChannelsFirst => (
                p.pred.channels_first_to_last(),
                p.target.channels_first_to_last(),
            ),
        };
        let mut twin = c.clone();
        twin.id = format!("{}/other-layout", c.id);
        twin.groups.retain(|g| g != "error");
        twin.problem.pred = pred;
        twin.problem.target = target;
        twin.problem.layout = other;
        extra.push(twin);
    }
    cases.extend(mark_errors(extra));
    cases
}

/// Cases named by groups: any of `edge`, `random`, `fixture`, `large`, `f16`, `default`.
pub fn cases_of_groups(groups: &[&str], seed: u64) -> Vec<Case> {
    let mut out = Vec::new();
    for g in groups {
        match *g {
            "edge" => out.extend(edge_cases()),
            "random" => out.extend(default_random_cases(seed)),
            "fixture" => out.extend(fixture_cases()),
            "large" => out.extend(large_cases()),
            "f16" => out.extend(float16_cases()),
            "default" => out.extend(default_cases(seed)),
            _ => {}
        }
    }
    out
}

/// A selection of cases, from a spec such as `asym,-large` or
/// `function=asym_unified_focal_loss,convention=paper|monai,dtype=float32`.
///
/// - A plain token matches a case when it equals one of its groups or occurs in its id; the
///   case is taken when any plain token matches (every case, with none).
/// - `function=`, `convention=`, `dtype=` (`float32`, `float64`) and `layout=`
///   (`channels-last`, `channels-first`) match the case's own: every key given must match
///   (AND between keys), any of its values (OR within one: `convention=paper|monai`, or the key
///   given twice).
/// - A token starting with `-` excludes what it matches, plain or keyed.
/// - `id=` takes the one case of that exact id; the rest of the spec is the id (ids may hold
///   commas), so it comes last. Every failure in a report prints the line that re-runs it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// Keyed constraints: key, then the values any of which may match.
    pub keys: Vec<(FilterKey, Vec<String>)>,
    /// Keyed exclusions.
    pub excluded_keys: Vec<(FilterKey, Vec<String>)>,
    /// An exact case id.
    pub id: Option<String>,
}

/// What a keyed filter token compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterKey {
    Function,
    Convention,
    Dtype,
    Layout,
}

impl FilterKey {
    const ALL: [(&'static str, FilterKey); 4] = [
        ("function", FilterKey::Function),
        ("convention", FilterKey::Convention),
        ("dtype", FilterKey::Dtype),
        ("layout", FilterKey::Layout),
    ];

    /// The case's value for this key.
    fn of(self, case: &Case) -> &'static str {
        match self {
            FilterKey::Function => case.problem.function.name(),
            FilterKey::Convention => case.problem.convention.name(),
            FilterKey::Dtype => case.problem.dtype.name(),
            FilterKey::Layout => case.problem.layout.name(),
        }
    }
}

impl Filter {
    pub fn parse(spec: &str) -> Filter {
        let mut f = Filter::default();
        let (tokens, id) = match spec
            .find("id=")
            .filter(|&at| at == 0 || spec[..at].ends_with(','))
        {
            Some(at) => (&spec[..at], Some(spec[at + 3..].trim().to_string())),
            None => (spec, None),
        };
        f.id = id;
        for token in tokens.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (negative, body) = match token.strip_prefix('-') {
                Some(t) => (true, t),
                None => (false, token),
            };
            let keyed = body.split_once('=').and_then(|(k, v)| {
                let key = FilterKey::ALL.iter().find(|(name, _)| *name == k)?.1;
                Some((
                    key,
                    v.split('|')
                        .map(|v| v.trim().to_string())
                        .collect::<Vec<_>>(),
                ))
            });
            match (negative, keyed) {
                (false, Some((key, values))) => match f.keys.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, known)) => known.extend(values),
                    None => f.keys.push((key, values)),
                },
                (true, Some(kv)) => f.excluded_keys.push(kv),
                (false, None) => f.include.push(body.to_string()),
                (true, None) => f.exclude.push(body.to_string()),
            }
        }
        f
    }

    fn token_matches(token: &str, case: &Case) -> bool {
        case.in_group(token) || case.id.contains(token)
    }

    fn key_matches(key: FilterKey, values: &[String], case: &Case) -> bool {
        values.iter().any(|v| v == key.of(case))
    }

    pub fn matches(&self, case: &Case) -> bool {
        self.id.as_ref().is_none_or(|id| *id == case.id)
            && (self.include.is_empty()
                || self.include.iter().any(|t| Self::token_matches(t, case)))
            && self
                .keys
                .iter()
                .all(|(k, v)| Self::key_matches(*k, v, case))
            && !self.exclude.iter().any(|t| Self::token_matches(t, case))
            && !self
                .excluded_keys
                .iter()
                .any(|(k, v)| Self::key_matches(*k, v, case))
    }

    /// Whether the selection may take a case of the `group` the default set leaves out
    /// (`large`, `f16`): named as a token, or the group of the exact id.
    pub fn names_group(&self, group: &str) -> bool {
        self.include.iter().any(|t| t == group)
            || self
                .id
                .as_ref()
                .is_some_and(|id| id.starts_with(&format!("{group}/")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_cases_cover_every_function_and_convention() {
        let cases = edge_cases();
        for spec in FUNCTIONS {
            for conv in spec.conventions() {
                assert!(
                    cases
                        .iter()
                        .any(|c| c.problem.function == spec.id && c.problem.convention == conv),
                    "{} {conv}",
                    spec.name
                );
            }
        }
        let ids: std::collections::BTreeSet<_> = cases.iter().map(|c| c.id.clone()).collect();
        assert_eq!(ids.len(), cases.len(), "ids are unique");
        assert!(cases.iter().any(|c| c.in_group("error")));
        assert!(cases.iter().any(|c| c.in_group("quirk:depth-slice")));
    }

    #[test]
    fn random_cases_are_reproducible_from_their_seed() {
        assert_eq!(random_cases(7, 20), random_cases(7, 20));
        assert_ne!(random_cases(7, 20), random_cases(8, 20));
    }

    #[test]
    fn extents_name_the_axes_and_index_as_the_layout_stores() {
        for (shape, layout) in [
            (vec![2, 3, 4, 5], Layout::ChannelsLast),
            (vec![2, 5, 3, 4], Layout::ChannelsFirst),
        ] {
            let x = Extents::of(&shape, layout);
            assert_eq!((x.batch, x.spatial.clone(), x.classes), (2, vec![3, 4], 5));
            let grid = Grid::of(&shape, layout);
            for b in 0..2 {
                for (s, (i, j)) in (0..3).flat_map(|i| (0..4).map(move |j| (i, j))).enumerate() {
                    for c in 0..5 {
                        assert_eq!(x.index(b, &[i, j], c), grid.at(b, s, c));
                    }
                }
            }
        }
        let case = &default_cases(DEFAULT_SEED)[0];
        assert_eq!(case.pred_f64().len(), case.pred_f32().len());
        assert!(case.params().is_ok());
    }

    #[test]
    fn filters() {
        let cases = edge_cases();
        let f = Filter::parse("asym,-paper");
        let picked: Vec<_> = cases.iter().filter(|c| f.matches(c)).collect();
        assert!(!picked.is_empty());
        assert!(picked
            .iter()
            .all(|c| c.id.contains("asym") && c.problem.convention != Convention::Paper));
        assert!(cases.iter().all(|c| Filter::parse("").matches(c)));
        assert!(!cases.iter().any(|c| Filter::parse("-edge").matches(c)));
        // Keys: AND between them, OR within one.
        let keyed = Filter::parse(
            "function=asym_unified_focal_loss,convention=paper|monai,layout=channels-first",
        );
        let picked: Vec<_> = cases.iter().filter(|c| keyed.matches(c)).collect();
        assert!(!picked.is_empty());
        assert!(picked
            .iter()
            .all(|c| c.problem.function == FunctionId::AsymUnifiedFocalLoss
                && c.problem.convention != Convention::Original
                && c.problem.layout == Layout::ChannelsFirst));
        assert!(picked
            .iter()
            .any(|c| c.problem.convention == Convention::Paper));
        assert!(picked
            .iter()
            .any(|c| c.problem.convention == Convention::Monai));
        let twice = Filter::parse("convention=paper,convention=monai,-dtype=float32");
        assert!(
            cases
                .iter()
                .filter(|c| twice.matches(c))
                .all(|c| c.problem.convention != Convention::Original
                    && c.problem.dtype == Dtype::F64)
        );
        // A setting in an id is still a plain token.
        assert!(cases
            .iter()
            .filter(|c| Filter::parse("delta=0.5").matches(c))
            .all(|c| c.id.contains("delta=0.5")));
        // An exact id, commas and all, takes that case only.
        let fixture = fixture_cases();
        let with_comma = fixture
            .iter()
            .find(|c| c.id.contains(','))
            .expect("a fixture id with a comma");
        let one = Filter::parse(&format!("id={}", with_comma.id));
        assert_eq!(fixture.iter().filter(|c| one.matches(c)).count(), 1);
        let random = random_cases(3, 10);
        let exact = Filter::parse(&format!("fixture,id={}", random[0].id));
        assert!(
            !random.iter().any(|c| exact.matches(c)),
            "plain tokens still apply"
        );
        assert!(Filter::parse("id=large/x").names_group("large"));
    }
}
