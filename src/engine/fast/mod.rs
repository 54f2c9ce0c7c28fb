//! The fast path: the same answers as the generic evaluators for the region and unified
//! families — `dice_loss` (and `tversky_loss`, `dice_coefficient`), `focal_tversky_loss`, the
//! two unified losses and their four parts (`symmetric_`/`asymmetric_focal_loss`,
//! `symmetric_`/`asymmetric_focal_tversky_loss`) in `original`, the unified losses and their
//! parts in `paper` (probabilities, any layout, class count, rare set, reduction and region),
//! and in `monai` `AsymmetricUnifiedFocalLoss` (including a single channel's `[1-p, p]`
//! expansion), `AsymmetricFocalLoss` and `AsymmetricFocalTverskyLoss` (every reduction but the
//! focal loss's per-element one) — computed in two fused passes over the caller's arrays, in
//! parallel, without copies. What stays with the generic evaluator, and why, is listed in
//! the README ("What the fast path covers").
//!
//! **How.** A [`plan`](plan::plan) decides whether the fast path takes a problem. The
//! statistics pass reads every element once: it checks the value (a probability the input dtype
//! can hold; any other value sends the problem to the generic evaluator, which reports the
//! error), clips it, and accumulates per (item, channel) the Tversky sums `TP`, `FN`, `FP` and the
//! focal sum. The scalar tail ([`tail`]) turns the sums into the loss and into the factors of
//! the gradient, with the generic code's expressions. The gradient pass reads every element
//! again and writes its derivative, in the caller's layout. No array the size of the input is
//! allocated except the gradient. A JVP runs the statistics pass with tangents (the directional
//! derivative of every sum) and the tail on dual numbers, which is forward-mode automatic
//! differentiation of the same value code, fused.
//!
//! **Cost per position.** Only channels with a focal term call `math.rs`; the Tversky sums
//! and their gradient are products and sums. Each pass is one loop over a block of positions
//! per channel (clip, terms, focal factor, derivative, all in registers; `kernel.rs`), or one
//! loop over both channels at once for two channels that both carry a focal term (every
//! two-class unified loss, and the focal parts alone). That pair loop takes one logarithm per position, of the clipped
//! prediction of the channel whose target is not zero: the other channel's `(-y)·ln q` is a
//! signed zero that any clipped prediction's logarithm gives bit for bit (`kernel.rs`,
//! `fused_stats_pair`). A block where both targets of a position are not zero (soft labels)
//! is computed again per channel. Per position of a two-class problem:
//!
//! | pass | labels | `ln` | `1/q` | focal factor `(1-q)^γ` (and `(1-q)^(γ-1)` in the gradient pass), per channel with a power |
//! |---|---|---|---|---|
//! | statistics | hard | 1 | 0 | none for γ ∈ {0, 1, 2}; one `sqrt` for γ = ½; otherwise `ln_dd` + `exp_dd` (2) |
//! | statistics | soft | 2 | 0 | as above |
//! | gradient | hard | 1 (0 if no channel has a power) | 1 | none for γ ∈ {0, 1, 2}; `sqrt` and a division for γ = ½; otherwise `ln_dd` + 2 `exp_dd` (3) |
//! | gradient | soft | 1 per channel with a power | 2 | as above |
//!
//! So a two-class `asym_unified_focal_loss` with hard labels (a focal term on both channels,
//! the power on the background only) costs per position, at its default γ = ½ in every
//! convention, 1 `ln` and 1 `sqrt` in the statistics pass and 1 `ln`, 1 `sqrt` and 2 divisions
//! in the gradient pass (each `ln` holds one division more); at any other γ, 1 `ln` + 2 and
//! 1 `ln` + 3 + 1 division. `sym_unified_focal_loss` carries the power on both channels. With
//! C > 2 classes (`paper`) every focal channel takes its own `ln` (and `1/q` in the gradient
//! pass). The focal parts alone (`symmetric_`/`asymmetric_focal_loss`,
//! MONAI's `AsymmetricFocalLoss`) take the same counts as the unified loss of their symmetry.
//! `dice_loss`, `tversky_loss`, `focal_tversky_loss` and the focal Tversky parts call none
//! (their powers act on per-(item, class) sums, in the tail). The logarithm is recomputed in the gradient pass rather
//! than stored. Storing it would hold one float64 per position (16 MiB on a 128³ volume, a
//! quarter of what the command line holds for float32 inputs and their gradient) and cost a
//! write and a read of that array, about 2 ms on the machines measured; the logarithm it saves
//! costs about 1 ms per pass with AVX-512 and more with AVX2, where the passes are bound by
//! arithmetic (`docs/measurements.md`). Storing was not built, so its gain on AVX2 is not
//! measured.
//!
//! **Same semantics.** Every per-element expression and the order in which the parts add into
//! an element are the generic evaluator's (`kernel.rs`); the clip rules, the dtype-rounded
//! bounds, MONAI's materialised `1 - p`, the NaN of the original's `x·x^(-γ)` at `x = 0` and
//! torch's derivative of a zero exponent come out the same because the same expressions are
//! evaluated. Only two things differ: the order of summation of the long sums (a fixed tree,
//! `sum.rs`), and the logarithm and powers (`math.rs`, within 1 ulp instead of libm's 0.52).
//!
//! **Error bound.** The generic evaluator in [`crate::numbers::bound::F64Bound`] bounds the
//! error of *any* float64 evaluation of these expressions that sums in any order and whose library
//! functions are within 1 ulp (`2u·|r|`). The fast path is such an evaluation, so its result is
//! within that bound `e` of the exact value, as the generic f64 result is; the two therefore
//! agree within `2·e` per entry (`tests/fast.rs` checks exactly this).
//!
//! **Determinism.** Work is cut in items of [`CHUNK`] positions of one batch item, fixed by the
//! shape alone; items run on rayon's pool (feature `parallel`, else in turn: `threads`) and their sums are combined in item order, so the
//! result is the same bit for bit for any number of threads. The element code is compiled for
//! AVX-512, AVX2 and the baseline and chosen at run time ([`Isa`]); all three perform the same
//! IEEE operations, so the choice does not change a bit either.

pub mod input;
pub mod kernel;
pub mod labels;
pub mod math;
pub mod plan;
pub mod sum;
pub mod tail;
mod threads;

use crate::engine::derivatives::Directional;
use crate::engine::eval::{Evaluation, Problem};
use crate::numbers::real::Dual;
use crate::spec::tensor::Tensor;
use input::Values;
use kernel::{ChannelSums, Coeffs, Depth, Item, ItemOut, Kernel};
use plan::{Plan, Spec};
use sum::{Compensated, BLOCK};
use tail::{Sums, TailOut};
use threads::*;

/// Positions of one batch item per work item.
pub const CHUNK: usize = 64 * BLOCK;

/// The instruction sets the element passes are compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// Baseline x86-64 (SSE2) or any other target.
    Scalar,
    /// x86-64 with AVX2.
    Avx2,
    /// x86-64 with AVX-512F (when the compiler is Rust 1.89 or later: `build.rs`).
    Avx512,
}

impl Isa {
    /// The widest instruction set this processor has.
    pub fn best() -> Isa {
        *Isa::available().last().unwrap_or(&Isa::Scalar)
    }

    /// Every instruction set this processor can run, narrowest first.
    pub fn available() -> Vec<Isa> {
        let mut out = vec![Isa::Scalar];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                out.push(Isa::Avx2);
            }
            // Compiled only where the compiler accepts AVX-512 target features (`build.rs`).
            #[cfg(ufl_avx512)]
            if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx2") {
                out.push(Isa::Avx512);
            }
        }
        out
    }
}

/// Defines `$name(isa, args…)`, which runs `$body(args…)` compiled for `isa`. An `isa` this
/// processor lacks runs the baseline code.
macro_rules! per_isa {
    ($name:ident, $body:expr, ($($arg:ident : $ty:ty),*) -> $ret:ty) => {
        #[allow(clippy::too_many_arguments)]
        fn $name(isa: Isa, $($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[cfg(ufl_avx512)]
                #[target_feature(enable = "avx512f,avx2")]
                unsafe fn wide($($arg: $ty),*) -> $ret {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($($arg: $ty),*) -> $ret {
                    $body($($arg),*)
                }
                let detected = Isa::available();
                #[cfg(ufl_avx512)]
                if isa == Isa::Avx512 && detected.contains(&Isa::Avx512) {
                    // SAFETY: the processor has AVX-512F and AVX2 (detected just above).
                    return unsafe { wide($($arg),*) };
                }
                if isa == Isa::Avx2 && detected.contains(&Isa::Avx2) {
                    // SAFETY: the processor has AVX2 (detected just above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}

per_isa!(stats_item, |k: &Kernel<'_>, item: Item| k.stats_item(item),
    (k: &Kernel<'_>, item: Item) -> Option<Vec<ChannelSums>>);
per_isa!(gradient_item, |k: &Kernel<'_>, item: Item, c: &[Coeffs], out: &mut ItemOut<'_>| k
    .gradient_item(item, c, out),
    (k: &Kernel<'_>, item: Item, c: &[Coeffs], out: &mut ItemOut<'_>) -> ());
per_isa!(depth_stats, |d: &Depth, k: &Kernel<'_>, r0: usize, r1: usize| d.stats_rows(k, r0, r1),
    (d: &Depth, k: &Kernel<'_>, r0: usize, r1: usize) -> [f64; 4]);
per_isa!(depth_gradient,
    |d: &Depth, k: &Kernel<'_>, r0: usize, rows: &mut [f64], c: &[[f64; 3]; 2]| d
        .gradient_rows(k, r0, rows, c),
    (d: &Depth, k: &Kernel<'_>, r0: usize, rows: &mut [f64], c: &[[f64; 3]; 2]) -> ());

/// Whether the fast path takes `problem` (its input values are checked when it runs).
pub fn covers(problem: &Problem) -> bool {
    let spec = Spec::of(problem);
    plan::plan_spec(&spec).is_some()
        || labels::applies(&spec).is_some_and(|params| {
            let lengths = (spec.lengths.0, spec.lengths.0);
            let spec = Spec {
                params: &params,
                target_shape: spec.shape,
                lengths,
                ..spec
            };
            plan::plan_spec(&spec).is_some()
        })
}

/// Runs `f` with the plan of `spec` and its inputs; where the problem has none but MONAI's
/// `to_onehot_y` is what stops it, with the plan of the problem on the expanded target
/// (`labels.rs`). `None` where there is no plan, a label is not acceptable, or the arrays'
/// lengths are not the ones `spec` states.
fn with_plan<R>(
    spec: &Spec<'_>,
    (pred, target): (Values<'_>, Values<'_>),
    f: impl FnOnce(&Spec<'_>, (Values<'_>, Values<'_>), &Plan) -> Option<R>,
) -> Option<R> {
    if spec.lengths != (pred.len(), target.len()) {
        return None;
    }
    if let Some(plan) = plan::plan_spec(spec) {
        return f(spec, (pred, target), &plan);
    }
    let onehot = labels::expand(spec, target)?;
    let spec = onehot.spec(spec);
    let plan = plan::plan_spec(&spec)?;
    f(&spec, (pred, Values::F64(&onehot.data)), &plan)
}

/// The oracle's answer (value and gradient in f64), if the fast path takes the problem and its
/// inputs are valid; `None` sends it to the generic evaluator.
pub fn evaluate(problem: &Problem) -> Option<Evaluation> {
    evaluate_with(problem, Isa::best())
}

/// [`evaluate`] with the element code of `isa`.
pub fn evaluate_with(problem: &Problem, isa: Isa) -> Option<Evaluation> {
    let inputs = (
        Values::F64(&problem.pred.data),
        Values::F64(&problem.target.data),
    );
    evaluate_stored_with(&Spec::of(problem), inputs, isa)
}

/// The answer [`evaluate`] gives, for inputs kept in the precision they were read in
/// (`Values`: float64, or float32 elements widened one by one as the passes read them, so the
/// same float64 values and the same bits): a float32 input is never copied whole into float64.
/// `None` where the fast path does not take the problem, an input value is not acceptable, or
/// the arrays' lengths are not the ones `spec` states.
pub fn evaluate_stored(
    spec: &Spec<'_>,
    pred: Values<'_>,
    target: Values<'_>,
) -> Option<Evaluation> {
    evaluate_stored_with(spec, (pred, target), Isa::best())
}

fn evaluate_stored_with(
    spec: &Spec<'_>,
    (pred, target): (Values<'_>, Values<'_>),
    isa: Isa,
) -> Option<Evaluation> {
    with_plan(spec, (pred, target), |spec, inputs, plan| {
        let run = Run::new(spec, inputs, plan, None, isa);
        let out = run.tail_f64()?;
        let grad = run.gradient(&out);
        Some(Evaluation {
            loss: out.loss,
            loss_shape: out.loss_shape,
            grad,
        })
    })
}

/// The loss alone (entries and shape), as [`evaluate`] computes it.
pub fn value(problem: &Problem) -> Option<(Vec<f64>, Vec<usize>)> {
    value_with(problem, Isa::best())
}

/// [`value`] with the element code of `isa`.
pub fn value_with(problem: &Problem, isa: Isa) -> Option<(Vec<f64>, Vec<usize>)> {
    with_plan(
        &Spec::of(problem),
        inputs_of(problem),
        |spec, inputs, plan| {
            let out = Run::new(spec, inputs, plan, None, isa).tail_f64()?;
            Some((out.loss, out.loss_shape))
        },
    )
}

/// Forward-mode derivative of every loss entry along `direction` (the prediction's shape, in
/// the caller's layout), as [`Problem::jvp`] defines it, in one fused pass.
pub fn jvp(problem: &Problem, direction: &Tensor) -> Option<Vec<Directional>> {
    jvp_with(problem, direction, Isa::best())
}

/// [`jvp`] with the element code of `isa`.
pub fn jvp_with(problem: &Problem, direction: &Tensor, isa: Isa) -> Option<Vec<Directional>> {
    if direction.shape != problem.pred.shape || direction.data.len() != problem.pred.data.len() {
        return None;
    }
    with_plan(
        &Spec::of(problem),
        inputs_of(problem),
        |spec, inputs, plan| {
            let run = Run::new(spec, inputs, plan, Some(&direction.data), isa);
            let sums = run.statistics()?;
            let out = plan.tail.run::<Dual>(
                plan.grid.batch,
                plan.roles.len(),
                plan.grid.spatial,
                &sums.in_dual(),
            );
            Some(
                out.loss
                    .iter()
                    .map(|d| Directional {
                        value: d.x,
                        derivative: d.dx,
                    })
                    .collect(),
            )
        },
    )
}

fn inputs_of(problem: &Problem) -> (Values<'_>, Values<'_>) {
    (
        Values::F64(&problem.pred.data),
        Values::F64(&problem.target.data),
    )
}

/// The sums of the statistics pass with their tangents.
struct AllSums {
    channels: Vec<ChannelSums>,
    depth: Option<[f64; 4]>,
}

impl AllSums {
    fn in_f64(&self) -> Sums<f64> {
        Sums {
            channels: self
                .channels
                .iter()
                .map(|s| [s[0], s[1], s[2], s[3]])
                .collect(),
            depth: self.depth.map(|d| [d[0], d[1]]),
        }
    }

    fn in_dual(&self) -> Sums<Dual> {
        let dual = |v: f64, t: f64| Dual::new(v, t);
        Sums {
            channels: self
                .channels
                .iter()
                .map(|s| {
                    [
                        dual(s[0], s[4]),
                        dual(s[1], s[5]),
                        dual(s[2], s[6]),
                        dual(s[3], s[7]),
                    ]
                })
                .collect(),
            depth: self.depth.map(|d| [dual(d[0], d[2]), dual(d[1], d[3])]),
        }
    }
}

/// One evaluation: the kernel's view of the arrays and the fixed work items.
struct Run<'a> {
    plan: &'a Plan,
    kernel: Kernel<'a>,
    items: Vec<Item>,
    isa: Isa,
}

impl<'a> Run<'a> {
    fn new(
        spec: &Spec<'_>,
        (pred, target): (Values<'a>, Values<'a>),
        plan: &'a Plan,
        direction: Option<&'a [f64]>,
        isa: Isa,
    ) -> Self {
        let grid = plan.grid;
        let items = (0..grid.batch)
            .flat_map(|b| {
                (0..grid.spatial.div_ceil(CHUNK)).map(move |k| Item {
                    b,
                    s0: k * CHUNK,
                    s1: grid.spatial.min((k + 1) * CHUNK),
                })
            })
            .collect();
        Run {
            plan,
            kernel: Kernel {
                pred,
                target,
                direction,
                grid,
                float32: spec.dtype == crate::spec::tensor::Dtype::F32,
                clip: plan.clip,
                expansion: plan.expansion,
                roles: &plan.roles,
                tversky_first: plan.tversky_first,
            },
            items,
            isa,
        }
    }

    /// Rows of the depth-sliced focal part per work item.
    fn depth_rows(depth: &Depth) -> usize {
        (CHUNK / depth.pairs).max(1)
    }

    /// The statistics pass and the tail in f64; `None` if an input value is not acceptable.
    fn tail_f64(&self) -> Option<TailOut<f64>> {
        let sums = self.statistics()?;
        let grid = self.plan.grid;
        let channels = self.plan.roles.len();
        Some(
            self.plan
                .tail
                .run::<f64>(grid.batch, channels, grid.spatial, &sums.in_f64()),
        )
    }

    /// The statistics pass; `None` if an input value is not acceptable.
    fn statistics(&self) -> Option<AllSums> {
        let (k, isa) = (&self.kernel, self.isa);
        let per_item: Vec<Option<Vec<ChannelSums>>> = self
            .items
            .par_iter()
            .map(|&item| stats_item(isa, k, item))
            .collect();
        let channels = self.plan.roles.len();
        let mut acc = vec![[Compensated::default(); 8]; self.plan.grid.batch * channels];
        for (item, sums) in self.items.iter().zip(per_item) {
            for (ch, s) in sums?.iter().enumerate() {
                for (a, &x) in acc[item.b * channels + ch].iter_mut().zip(s) {
                    a.add(x);
                }
            }
        }
        let depth = self.plan.depth.as_ref().map(|d| {
            let step = Self::depth_rows(d);
            let parts: Vec<[f64; 4]> = (0..d.rows.div_ceil(step))
                .into_par_iter()
                .map(|g| depth_stats(isa, d, k, g * step, d.rows.min((g + 1) * step)))
                .collect();
            let mut total = [Compensated::default(); 4];
            for p in parts {
                total.iter_mut().zip(p).for_each(|(t, x)| t.add(x));
            }
            total.map(|t| t.value())
        });
        Some(AllSums {
            channels: acc.iter().map(|a| a.map(|c| c.value())).collect(),
            depth,
        })
    }

    /// The gradient pass, in the caller's layout.
    fn gradient(&self, out: &TailOut<f64>) -> Vec<f64> {
        let (coeffs, depth_coeffs) = out.coeffs_f64();
        let grid = self.plan.grid;
        let channels = self.plan.roles.len();
        let (k, isa) = (&self.kernel, self.isa);
        let n = grid.len();
        let mut grad = gradient_buffer(n);
        let per_batch = grid.spatial * grid.classes;
        let memory = &mut grad.spare_capacity_mut()[..n];
        // Debug builds (the tests) poison the memory with NaN first, so that an element the pass
        // failed to write shows up as a NaN against the generic evaluator.
        #[cfg(debug_assertions)]
        memory.fill(std::mem::MaybeUninit::new(f64::from_bits(
            0x7ff4_dead_beef_0000,
        )));
        let pieces: Vec<(Item, ItemOut<'_>)> = if grid.channels_last {
            memory
                .chunks_mut(per_batch)
                .zip(0..)
                .flat_map(|(row, b)| {
                    row.chunks_mut(CHUNK * grid.classes)
                        .zip(0..)
                        .map(move |(data, j)| {
                            let item = Item {
                                b,
                                s0: j * CHUNK,
                                s1: grid.spatial.min((j + 1) * CHUNK),
                            };
                            let out = ItemOut::Interleaved {
                                data,
                                classes: grid.classes,
                            };
                            (item, out)
                        })
                })
                .collect()
        } else {
            let per_row = grid.spatial.div_ceil(CHUNK);
            let mut slices: Vec<Vec<&mut [std::mem::MaybeUninit<f64>]>> = (0..grid.batch * per_row)
                .map(|_| Vec::with_capacity(grid.classes))
                .collect();
            for (r, row) in memory.chunks_mut(grid.spatial).enumerate() {
                let b = r / grid.classes;
                for (j, piece) in row.chunks_mut(CHUNK).enumerate() {
                    slices[b * per_row + j].push(piece);
                }
            }
            slices
                .into_iter()
                .enumerate()
                .map(|(i, s)| {
                    let (b, j) = (i / per_row, i % per_row);
                    let item = Item {
                        b,
                        s0: j * CHUNK,
                        s1: grid.spatial.min((j + 1) * CHUNK),
                    };
                    (item, ItemOut::Planar(s))
                })
                .collect()
        };
        pieces.into_par_iter().for_each(|(item, mut out)| {
            let c = &coeffs[item.b * channels..(item.b + 1) * channels];
            gradient_item(isa, k, item, c, &mut out);
        });
        // SAFETY: the pieces cover the n elements (channels-last: every batch row cut in
        // consecutive runs of CHUNK positions; channels-first: every (item, channel) row cut
        // likewise), and `Kernel::gradient_item` writes every element of its piece, in every
        // branch (one value per position and caller channel: `ItemOut` has no other way in).
        unsafe { grad.set_len(n) };
        if let Some(d) = &self.plan.depth {
            let step = Self::depth_rows(d);
            grad.par_chunks_mut(step * d.row_len)
                .enumerate()
                .for_each(|(g, rows)| depth_gradient(isa, d, k, g * step, rows, &depth_coeffs));
        }
        grad
    }
}

/// Room for the gradient, not initialised: the gradient pass writes every element, so zeroing
/// it first (glibc's `calloc` clears reused memory; measured at 9% of the value and gradient of
/// a 128³ two-class volume) would be wasted. On Linux, the kernel is asked to back it with
/// transparent huge pages where the system allows it (`madvise`): a fresh 33 MB array then costs
/// 16 page faults instead of 8192, which is most of the cost of writing it once (12 ms against 3
/// ms measured on a 128³ two-class gradient).
fn gradient_buffer(n: usize) -> Vec<f64> {
    let v = Vec::with_capacity(n);
    #[cfg(target_os = "linux")]
    advise_huge_pages(v.as_ptr() as usize, n * std::mem::size_of::<f64>());
    v
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(start: usize, bytes: usize) {
    const HUGE: usize = 1 << 21;
    let first = start.next_multiple_of(HUGE);
    let end = (start + bytes) & !(HUGE - 1);
    if end > first {
        // SAFETY: [first, end) lies inside the vector's allocation. MADV_HUGEPAGE changes only
        // how the kernel backs those pages, never their contents (not yet written here), and a
        // refusal leaves them as they were; the result is therefore ignored.
        unsafe {
            libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
        }
    }
}
