//! Which problems the fast path takes, and how: a [`Plan`] says, for a problem it covers,
//! which internal channels exist, what each contributes, how the prediction is clipped, and
//! which tail assembles the loss. A problem it does not cover — another function, logits,
//! `to_onehot_y` (which `labels.rs` expands first, where it can), `ignore_index`, a shape or a
//! parameter the reference would refuse, an exponent outside the range of `math.rs` — gets no
//! plan, and the generic evaluator answers it (with its errors, where it has one). Input values
//! are checked later, in the statistics pass.

use super::kernel::{ClipRule, Depth, Expansion, Focal, Role};
use super::math::PowPair;
use super::tail::{Part, Tail};
use crate::conventions::params::Params;
use crate::conventions::params::Reduction;
use crate::conventions::params::{resolve, Hyper};
use crate::conventions::terms::RegionTerm;
use crate::engine::eval::Problem;
use crate::spec::registry::{Convention, FunctionId, KERAS_EPSILON, MONAI_DEFAULT_EPSILON};
use crate::spec::tensor::{Dtype, Grid, Layout};

/// The largest focal exponent the fast path takes (`math::pow`'s domain).
pub const MAX_GAMMA: f64 = 1024.0;

/// How the fast path evaluates one problem.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The caller's grid.
    pub grid: Grid,
    pub clip: ClipRule,
    pub expansion: Expansion,
    /// One per internal channel.
    pub roles: Vec<Role>,
    pub tversky_first: bool,
    pub depth: Option<Depth>,
    pub tail: Tail,
}

/// What a plan reads of a problem: everything but the element values, which may be stored in
/// float64 (a [`Problem`]) or float32 (`input.rs`).
#[derive(Clone, Copy, Debug)]
pub struct Spec<'a> {
    pub function: FunctionId,
    pub convention: Convention,
    pub params: &'a Params,
    /// The prediction's shape.
    pub shape: &'a [usize],
    pub target_shape: &'a [usize],
    /// The element counts of the prediction and the target as stored.
    pub lengths: (usize, usize),
    pub layout: Layout,
    pub dtype: Dtype,
}

impl<'a> Spec<'a> {
    pub fn of(problem: &'a Problem) -> Self {
        Spec {
            function: problem.function,
            convention: problem.convention,
            params: &problem.params,
            shape: &problem.pred.shape,
            target_shape: &problem.target.shape,
            lengths: (problem.pred.data.len(), problem.target.data.len()),
            layout: problem.layout,
            dtype: problem.dtype,
        }
    }
}

fn well_formed(shape: &[usize], len: usize) -> bool {
    shape.len() >= 2
        && shape.iter().all(|&d| d > 0)
        && shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .is_some_and(|n| n == len)
}

/// `[dtype(eps), dtype(1 - eps)]` as `paper.rs` and `monai.rs` write it, if the fast path's
/// logarithms can take it (`lo` normal, `hi < 1`).
fn rounded_bounds(dtype: Dtype, eps: f64) -> Option<(f64, f64)> {
    let lo = eps + (dtype.round(eps) - eps);
    let hi_exact = 1.0 - eps;
    let hi = hi_exact + (dtype.round(hi_exact) - hi_exact);
    (lo >= f64::MIN_POSITIVE && hi < 1.0).then_some((lo, hi))
}

fn focal_power(gamma: f64) -> Option<PowPair> {
    (gamma.is_finite() && (0.0..=MAX_GAMMA).contains(&gamma)).then(|| PowPair::new(gamma))
}

/// For a unified loss or one of its parts: which part alone (`None`: both) and whether it is
/// the symmetric one; `None` for any other function.
fn unified_family(function: FunctionId) -> Option<(Option<Part>, bool)> {
    use FunctionId as F;
    Some(match function {
        F::SymUnifiedFocalLoss => (None, true),
        F::AsymUnifiedFocalLoss => (None, false),
        F::SymmetricFocalLoss => (Some(Part::Focal), true),
        F::AsymmetricFocalLoss => (Some(Part::Focal), false),
        F::SymmetricFocalTverskyLoss => (Some(Part::Tversky), true),
        F::AsymmetricFocalTverskyLoss => (Some(Part::Tversky), false),
        _ => return None,
    })
}

/// The plan for `problem`, or `None` where the generic evaluator must answer.
pub fn plan(problem: &Problem) -> Option<Plan> {
    plan_spec(&Spec::of(problem))
}

/// [`plan`] from a problem's description.
pub fn plan_spec(problem: &Spec<'_>) -> Option<Plan> {
    if !well_formed(problem.shape, problem.lengths.0)
        || !well_formed(problem.target_shape, problem.lengths.1)
    {
        return None;
    }
    if problem.shape != problem.target_shape {
        return None;
    }
    let hyper = resolve(problem.function, problem.convention, problem.params).ok()?;
    match problem.convention {
        Convention::Original => original(problem, &hyper),
        Convention::Paper => paper(problem, &hyper),
        Convention::Monai => monai(problem, &hyper),
    }
}

fn original(problem: &Spec<'_>, hp: &Hyper<f64>) -> Option<Plan> {
    let shape = problem.shape;
    let rank = shape.len();
    if rank != 4 && rank != 5 {
        return None;
    }
    let grid = Grid::of(shape, problem.layout);
    let (lo, hi) = problem.dtype.clip_bounds(KERAS_EPSILON);
    let region = |term: RegionTerm<f64>, clip: ClipRule| -> Option<Plan> {
        let role = Role {
            tversky: true,
            focal: None,
        };
        Some(Plan {
            grid,
            clip,
            expansion: Expansion::Direct,
            roles: vec![role; grid.classes],
            tversky_first: true,
            depth: None,
            tail: Tail::OriginalRegion {
                term,
                delta: hp.real("delta").ok()?,
                smooth: hp.real("smooth").ok()?,
            },
        })
    };
    match problem.function {
        FunctionId::DiceLoss | FunctionId::TverskyLoss => {
            region(RegionTerm::OneMinusTi, ClipRule::None)
        }
        FunctionId::DiceCoefficient => region(RegionTerm::Ti, ClipRule::None),
        FunctionId::FocalTverskyLoss => region(
            RegionTerm::Pow(hp.real("gamma").ok()?),
            ClipRule::Inclusive(lo, hi),
        ),
        // The unified losses and their parts; any other function is the generic evaluator's.
        function => {
            let (only, symmetric) = unified_family(function)?;
            let (delta, gamma) = (hp.real("delta").ok()?, hp.real("gamma").ok()?);
            // The parts have no weight: each is the unified loss's term with factor 1.
            let weight = match only {
                None => hp.opt_real("weight").ok()?,
                Some(_) => None,
            };
            let power = focal_power(gamma)?;
            let (tversky, focal) = (only != Some(Part::Focal), only != Some(Part::Tversky));
            // The native (channels-last) shape: its axis 3 is what the focal part slices.
            let native: Vec<usize> = match problem.layout {
                Layout::ChannelsFirst => {
                    let mut s = vec![shape[0]];
                    s.extend_from_slice(&shape[2..]);
                    s.push(shape[1]);
                    s
                }
                Layout::ChannelsLast => shape.to_vec(),
            };
            if grid.classes < 2 || (focal && native[3] < 2) {
                // The original's slicing errors (and its focal part alone on rank 5 with one
                // class, which slices depth only: the generic evaluator answers it).
                return None;
            }
            let back = Focal {
                power: Some(power),
                torch: false,
            };
            let fore = Focal {
                power: symmetric.then_some(power),
                torch: false,
            };
            let (roles, depth, positions) = if rank == 4 || !focal {
                (
                    vec![
                        Role {
                            tversky,
                            focal: focal.then_some(back),
                        },
                        Role {
                            tversky,
                            focal: focal.then_some(fore),
                        },
                    ],
                    None,
                    grid.batch * grid.spatial,
                )
            } else {
                // (B, H, W, D, C): pairs (depth 0, depth 1) of every (b, h, w, c).
                let depth_len = native[3];
                let (rows, row_len, pairs) = if grid.channels_last {
                    (
                        grid.batch * grid.spatial / depth_len,
                        depth_len * grid.classes,
                        grid.classes,
                    )
                } else {
                    (
                        grid.batch * grid.classes * grid.spatial / depth_len,
                        depth_len,
                        1,
                    )
                };
                let tversky_only = Role {
                    tversky,
                    focal: None,
                };
                (
                    vec![tversky_only; 2],
                    Some(Depth {
                        rows,
                        row_len,
                        pairs,
                        back,
                        fore,
                    }),
                    rows * pairs,
                )
            };
            Some(Plan {
                grid,
                clip: ClipRule::Inclusive(lo, hi),
                expansion: Expansion::Direct,
                roles,
                tversky_first: true,
                depth,
                tail: Tail::OriginalUnified {
                    only,
                    symmetric,
                    delta,
                    gamma,
                    weight,
                    smooth: problem.dtype.round(KERAS_EPSILON),
                    positions,
                },
            })
        }
    }
}

fn paper(problem: &Spec<'_>, hp: &Hyper<f64>) -> Option<Plan> {
    let (only, symmetric) = unified_family(problem.function)?;
    if hp.word("input").ok()? != "probabilities" {
        return None;
    }
    let reduction = hp.reduction().ok()?;
    if reduction == Reduction::PerElement {
        return None;
    }
    let grid = Grid::of(problem.shape, problem.layout);
    let single = grid.classes == 1;
    let classes = if single { 2 } else { grid.classes };
    let mut rare = vec![false; classes];
    match hp.classes("rare_classes").ok()? {
        None => rare.iter_mut().skip(1).for_each(|r| *r = true),
        Some(list) => {
            for &c in list {
                *rare.get_mut(c)? = true; // a class that does not exist: the generic error
            }
        }
    }
    let (delta, gamma, eps) = (
        hp.real("delta").ok()?,
        hp.real("gamma").ok()?,
        hp.real("eps").ok()?,
    );
    // A part alone is the unified loss at λ = 1 (focal) or 0 (Tversky), its other part absent.
    let lambda = match only {
        None => hp.real("lambda").ok()?,
        Some(Part::Focal) => 1.0,
        Some(Part::Tversky) => 0.0,
    };
    let class_mean = only != Some(Part::Focal) && hp.word("region").ok()? == "class-mean";
    let power = focal_power(gamma)?;
    let (lo, hi) = rounded_bounds(problem.dtype, eps)?;
    let roles = rare
        .iter()
        .map(|&is_rare| Role {
            tversky: only != Some(Part::Focal),
            focal: (only != Some(Part::Tversky)).then_some(Focal {
                power: (symmetric || !is_rare).then_some(power),
                torch: false,
            }),
        })
        .collect();
    Some(Plan {
        grid,
        clip: ClipRule::Inclusive(lo, hi),
        expansion: if single {
            Expansion::Single { materialise: false }
        } else {
            Expansion::Direct
        },
        roles,
        tversky_first: false,
        depth: None,
        tail: Tail::Paper {
            only,
            symmetric,
            delta,
            gamma,
            eps,
            lambda,
            rare,
            reduction,
            class_mean,
        },
    })
}

fn monai(problem: &Spec<'_>, hp: &Hyper<f64>) -> Option<Plan> {
    match problem.function {
        FunctionId::AsymmetricFocalLoss | FunctionId::AsymmetricFocalTverskyLoss => {
            return monai_part(problem, hp)
        }
        FunctionId::AsymUnifiedFocalLoss => {}
        _ => return None,
    }
    let rank = problem.shape.len();
    if rank != 4 && rank != 5 {
        return None;
    }
    // One-hot conversion and ignore masks are the generic evaluator's; a class count below 2
    // makes every target above 0 an error there.
    if hp.flag("to_onehot_y").ok()? || hp.int("ignore_index").ok()?.is_some() {
        return None;
    }
    if hp.int("num_classes").ok()?.unwrap_or(2) < 2 {
        return None;
    }
    let (delta, gamma, weight) = (
        hp.real("delta").ok()?,
        hp.real("gamma").ok()?,
        hp.real("weight").ok()?,
    );
    let power = focal_power(gamma)?;
    let grid = Grid::of(problem.shape, problem.layout);
    let (lo, hi) = rounded_bounds(problem.dtype, MONAI_DEFAULT_EPSILON)?;
    let roles = vec![
        Role {
            tversky: true,
            focal: Some(Focal {
                power: Some(power),
                torch: true,
            }),
        },
        Role {
            tversky: true,
            focal: Some(Focal {
                power: None,
                torch: true,
            }),
        },
    ];
    Some(Plan {
        grid,
        clip: ClipRule::Strict(lo, hi),
        expansion: if grid.classes == 1 {
            Expansion::Single { materialise: true }
        } else {
            Expansion::Direct
        },
        roles,
        tversky_first: false,
        depth: None,
        tail: Tail::Monai {
            delta,
            gamma,
            weight,
        },
    })
}

/// MONAI's `AsymmetricFocalLoss` and `AsymmetricFocalTverskyLoss`: channels 0 and 1 of at least
/// two, any rank from 3, every reduction but the focal class's per-element one (its loss is an
/// array the size of the input: the generic evaluator writes it).
fn monai_part(problem: &Spec<'_>, hp: &Hyper<f64>) -> Option<Plan> {
    if problem.shape.len() < 3 {
        return None;
    }
    if hp.flag("to_onehot_y").ok()? || hp.int("ignore_index").ok()?.is_some() {
        return None;
    }
    let grid = Grid::of(problem.shape, problem.layout);
    if grid.channels_last || grid.classes < 2 {
        return None; // MONAI's layout; a single channel is the generic evaluator's error
    }
    let focal = problem.function == FunctionId::AsymmetricFocalLoss;
    let reduction = hp.reduction().ok()?;
    if focal && reduction == Reduction::PerElement {
        return None;
    }
    let (delta, gamma, eps) = (
        hp.real("delta").ok()?,
        hp.real("gamma").ok()?,
        hp.real("epsilon").ok()?,
    );
    let power = focal_power(gamma)?;
    let (lo, hi) = rounded_bounds(problem.dtype, eps)?;
    let focal_of = |power: Option<PowPair>| focal.then_some(Focal { power, torch: true });
    let roles = vec![
        Role {
            tversky: !focal,
            focal: focal_of(Some(power)),
        },
        Role {
            tversky: !focal,
            focal: focal_of(None),
        },
    ];
    Some(Plan {
        grid,
        clip: ClipRule::Strict(lo, hi),
        expansion: Expansion::Direct,
        roles,
        tversky_first: false,
        depth: None,
        tail: Tail::MonaiPart {
            focal,
            delta,
            gamma,
            eps,
            reduction,
        },
    })
}
