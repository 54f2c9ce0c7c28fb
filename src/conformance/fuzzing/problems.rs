//! Evaluation problems drawn from fuzz bytes, and the checks on them: any function, convention,
//! parameters, rank, shape, layout, dtype and values must be evaluated or refused with a typed
//! error, consistently in every number type (`evaluate`); and on small valid problems the
//! closed-form gradient must agree with forward-mode automatic differentiation (`differential`).
//!
//! Bytes are read with `arbitrary::Unstructured`: when they run out every choice takes its
//! first option, so every input, however short, is a problem.

use super::Finding;
use crate::conventions::params::{resolve, Hp};
use crate::conventions::params::{ParamValue, Params};
use crate::engine::eval::Problem;
use crate::numbers::bound::{F32Bound, F64Bound};
use crate::spec::registry::{Convention, FunctionId, FUNCTIONS};
use crate::spec::registry::{Kind, ParamSpec, Range, KERAS_EPSILON};
use crate::spec::tensor::{element_count, Grid};
use crate::spec::tensor::{Dtype, Layout, Tensor};
use arbitrary::{Result as Draw, Unstructured};

/// Largest array of the `evaluate` target.
pub const EVALUATE_MAX_ELEMENTS: usize = 256;
/// Largest array of the `differential` target (its witness takes one pass per element).
pub const DIFFERENTIAL_MAX_ELEMENTS: usize = 48;

/// Absolute slack for results in the subnormal range, which the error-bound type does not
/// model (`bound.rs`: the exponent range is not modelled): there a float64 result is only good
/// to the subnormal spacing, whatever its relative bound says.
pub const UNDERFLOW: f64 = 4.0 * f64::MIN_POSITIVE;

/// A drawn problem and a direction of the prediction's shape.
pub struct Drawn {
    pub problem: Problem,
    pub direction: Tensor,
}

/// How far a draw may stray from valid input.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Anything: non-finite values, wrong shapes, unknown names, out-of-range parameters.
    Hostile,
    /// Valid names, parameters in range, finite values in range, shapes the convention takes.
    Valid,
}

/// One in `n`, in hostile mode only.
fn now_and_then(u: &mut Unstructured, mode: Mode, n: u32) -> Draw<bool> {
    Ok(mode == Mode::Hostile && u.ratio(1, n)?)
}

fn uniform(u: &mut Unstructured) -> Draw<f64> {
    Ok((u.arbitrary::<u64>()? >> 11) as f64 / (1u64 << 53) as f64)
}

/// A value that no check should let through.
fn hostile_value(u: &mut Unstructured) -> Draw<f64> {
    Ok(*u.choose(&[
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.5,
        -1e-300,
        1.0000000000000002,
        2.0,
        1e308,
        f64::MAX,
        0.1,
    ])?)
}

/// A probability, often on an edge: 0, 1, the clip bounds, tiny, 1 - 2⁻⁵³; in hostile mode
/// also subnormal or so small that a Tversky denominator's reciprocal overflows, where reverse
/// mode (the references', the closed form's) gives `∞ - ∞ = NaN` and forward mode does not.
fn probability(u: &mut Unstructured, dtype: Dtype, mode: Mode) -> Draw<f64> {
    let (lo, hi) = dtype.clip_bounds(KERAS_EPSILON);
    let x = match u.int_in_range(0..=12)? {
        0 => 0.0,
        1 => 1.0,
        2 => 0.5,
        3 => lo,
        4 => hi,
        5 if mode == Mode::Hostile => *u.choose(&[5e-324, 1e-310, 1e-300])?,
        5 => *u.choose(&[1e-30, 1e-8, 1.0 - f64::EPSILON / 2.0, 0.25])?,
        _ => uniform(u)?,
    };
    Ok(dtype.round(x))
}

/// A logit: moderate most of the time, sometimes far out.
fn logit(u: &mut Unstructured, dtype: Dtype) -> Draw<f64> {
    let x = match u.int_in_range(0..=9)? {
        0 => 0.0,
        1 => *u.choose(&[-745.0, -40.0, 40.0, 710.0, 1e300, -1e300])?,
        _ => 16.0 * (uniform(u)? - 0.5),
    };
    Ok(dtype.round(x))
}

/// A number for a parameter of range `range`: an edge, a common value, or anything inside.
fn in_range(u: &mut Unstructured, range: &Range) -> Draw<f64> {
    let top = if range.hi.is_finite() {
        range.hi
    } else {
        range.lo + 4.0
    };
    let candidates = [
        range.lo,
        range.hi,
        0.0,
        0.5,
        1.0,
        2.0,
        1e-7,
        1e-12,
        1.0 - f64::EPSILON / 2.0,
        range.lo + (top - range.lo) * uniform(u)?,
    ];
    let x = *u.choose(&candidates)?;
    Ok(if range.contains(x) {
        x
    } else {
        range.lo + (top - range.lo) * 0.5
    })
}

/// A number for a parameter, out of range in hostile mode now and then.
fn number(u: &mut Unstructured, spec: &ParamSpec, mode: Mode) -> Draw<f64> {
    if now_and_then(u, mode, 8)? {
        return Ok(*u.choose(&[
            spec.range.lo - 0.25,
            spec.range.hi + 0.25,
            f64::NAN,
            f64::INFINITY,
            -1.0,
            1e300,
        ])?);
    }
    in_range(u, &spec.range)
}

fn param_value(u: &mut Unstructured, spec: &ParamSpec, mode: Mode) -> Draw<ParamValue> {
    if now_and_then(u, mode, 16)? {
        // A value of the wrong kind.
        return Ok(u
            .choose(&[
                ParamValue::Text("half".into()),
                ParamValue::Bool(true),
                ParamValue::List(vec![]),
                ParamValue::Null,
                ParamValue::Number(0.5),
            ])?
            .clone());
    }
    Ok(match spec.kind {
        Kind::Real => ParamValue::Number(number(u, spec, mode)?),
        Kind::RealOrNull => {
            if u.ratio(1, 4)? {
                ParamValue::Null
            } else {
                ParamValue::Number(number(u, spec, mode)?)
            }
        }
        Kind::RealOrListOrNull => match u.int_in_range(0..=3)? {
            0 => ParamValue::Null,
            1 => ParamValue::Number(number(u, spec, mode)?),
            _ => {
                let n = u.int_in_range(1..=4)?;
                ParamValue::List((0..n).map(|_| number(u, spec, mode)).collect::<Draw<_>>()?)
            }
        },
        Kind::Bool => ParamValue::Bool(u.arbitrary()?),
        Kind::Int => {
            if now_and_then(u, mode, 4)? {
                ParamValue::Number(*u.choose(&[0.0, 1.5, 65536.0, 65537.0, 1e10])?)
            } else {
                ParamValue::Number(u.int_in_range(1..=4)? as f64)
            }
        }
        Kind::IntOrNull => {
            if u.ratio(1, 2)? {
                ParamValue::Null
            } else if now_and_then(u, mode, 4)? {
                ParamValue::Number(*u.choose(&[0.5, 1e10, -1e10, f64::NAN])?)
            } else {
                ParamValue::Number(u.int_in_range(-2..=4)? as f64)
            }
        }
        Kind::Choice(words) => {
            if now_and_then(u, mode, 8)? {
                ParamValue::Text("median".into())
            } else {
                ParamValue::Text(u.choose(words)?.to_string())
            }
        }
        Kind::ClassesOrNull => {
            if u.ratio(1, 2)? {
                ParamValue::Null
            } else {
                let n = u.int_in_range(0..=3)?;
                let mut classes = Vec::new();
                for _ in 0..n {
                    classes.push(if now_and_then(u, mode, 8)? {
                        *u.choose(&[-1.0, 1.5, 1e9])?
                    } else {
                        u.int_in_range(0..=4)? as f64
                    });
                }
                if mode == Mode::Valid {
                    classes.sort_by(f64::total_cmp);
                    classes.dedup();
                }
                ParamValue::List(classes)
            }
        }
    })
}

fn draw_params(
    u: &mut Unstructured,
    function: FunctionId,
    convention: Convention,
    mode: Mode,
) -> Draw<Params> {
    let mut params = Params::new();
    let spec = function.spec();
    // A convention that does not define the function still gets some other signature's names.
    let signature = spec.signature(convention).unwrap_or(&spec.signatures[0]);
    for p in signature.params {
        if u.ratio(1, 2)? {
            params.insert(p.name.to_string(), param_value(u, p, mode)?);
        }
    }
    if now_and_then(u, mode, 32)? {
        params.insert("no_such_parameter".into(), ParamValue::Number(1.0));
    }
    Ok(params)
}

/// A shape of `rank` whose element count stays within `max`; axes of length 0 in hostile mode.
fn draw_shape(u: &mut Unstructured, rank: usize, max: usize, mode: Mode) -> Draw<Vec<usize>> {
    let mut shape = Vec::with_capacity(rank);
    for _ in 0..rank {
        shape.push(if now_and_then(u, mode, 32)? {
            0
        } else {
            u.int_in_range(1..=4)?
        });
    }
    while shape.iter().product::<usize>() > max {
        if let Some(d) = shape.iter_mut().max() {
            *d = (*d / 2).max(1);
        }
    }
    Ok(shape)
}

/// The ranks a convention's function takes (a hostile draw takes any rank from 0 to 6).
fn valid_rank(u: &mut Unstructured, function: FunctionId, convention: Convention) -> Draw<usize> {
    Ok(match convention {
        Convention::Original => u.int_in_range(4..=5)?,
        Convention::Paper => u.int_in_range(2..=5)?,
        Convention::Monai if function == FunctionId::AsymUnifiedFocalLoss => {
            u.int_in_range(4..=5)?
        }
        Convention::Monai => u.int_in_range(3..=5)?,
    })
}

fn flag(params: &Params, name: &str) -> bool {
    params.get(name) == Some(&ParamValue::Bool(true))
}

/// A prediction, a target and a direction for the drawn function; `max` elements per array.
fn draw(u: &mut Unstructured, max: usize, mode: Mode) -> Draw<Drawn> {
    let spec = u.choose(FUNCTIONS)?;
    let conventions: Vec<Convention> = spec.conventions().collect();
    let convention = if now_and_then(u, mode, 16)? {
        *u.choose(&Convention::ALL)?
    } else {
        *u.choose(&conventions)?
    };
    let function = spec.id;
    let params = draw_params(u, function, convention, mode)?;
    let dtype = if u.arbitrary()? {
        Dtype::F32
    } else {
        Dtype::F64
    };
    let rank = if now_and_then(u, mode, 8)? {
        u.int_in_range(0..=6)?
    } else {
        valid_rank(u, function, convention)?
    };
    // Arrays are drawn channels-first (the class axis is 1) and moved to channels-last when
    // the drawn layout says so.
    let shape = draw_shape(u, rank, max, mode)?;
    let layout = match convention {
        Convention::Original if !u.ratio(1, 4)? => Layout::ChannelsLast,
        Convention::Monai if !u.ratio(1, 4)? => Layout::ChannelsFirst,
        _ => {
            if u.arbitrary()? {
                Layout::ChannelsFirst
            } else {
                Layout::ChannelsLast
            }
        }
    };
    let n: usize = shape.iter().product();
    let logits = params.get("input") == Some(&ParamValue::Text("logits".into()));
    let mut pred = Vec::with_capacity(n);
    for _ in 0..n {
        pred.push(if now_and_then(u, mode, 64)? {
            hostile_value(u)?
        } else if logits {
            logit(u, dtype)?
        } else {
            probability(u, dtype, mode)?
        });
    }
    // Targets: class indices (B, 1, ...) where MONAI converts them, else the prediction's
    // shape; one-hot, hard or soft; another shape now and then.
    let channels = shape.get(1).copied().unwrap_or(1);
    let class_indices = convention == Convention::Monai
        && flag(&params, "to_onehot_y")
        && channels != 1
        && rank >= 2;
    let target_shape = if now_and_then(u, mode, 16)? {
        let rank = u.int_in_range(0..=6)?;
        draw_shape(u, rank, max, mode)?
    } else if class_indices {
        let mut s = shape.clone();
        s[1] = 1;
        s
    } else {
        shape.clone()
    };
    let m: usize = target_shape.iter().product();
    let style = u.int_in_range(0..=3)?;
    let grid = Grid::of(&target_shape, Layout::ChannelsFirst);
    let mut target = vec![0.0; m];
    for b in 0..grid.batch {
        for s in 0..grid.spatial {
            let hot = u.int_in_range(0..=grid.classes.max(1))?;
            for c in 0..grid.classes {
                let i = grid.at(b, s, c);
                target[i] = if now_and_then(u, mode, 64)? {
                    hostile_value(u)?
                } else if class_indices {
                    hot as f64
                } else {
                    match style {
                        0 => (c == hot) as u8 as f64,
                        1 => u.int_in_range(0..=1)? as f64,
                        2 => probability(u, dtype, mode)?,
                        _ => (c == hot.min(grid.classes - 1)) as u8 as f64,
                    }
                };
            }
        }
    }
    let mut direction = Vec::with_capacity(n);
    for _ in 0..n {
        direction.push(match u.int_in_range(0..=7)? {
            0 => 0.0,
            1 => 1.0,
            _ => 2.0 * uniform(u)? - 1.0,
        });
    }
    let tensor = |shape: &[usize], data| {
        let t = Tensor {
            shape: shape.to_vec(),
            data,
        };
        match layout {
            Layout::ChannelsFirst => t,
            Layout::ChannelsLast => t.channels_first_to_last(),
        }
    };
    Ok(Drawn {
        problem: Problem {
            function,
            convention,
            params,
            pred: tensor(&shape, pred),
            target: tensor(&target_shape, target),
            layout,
            dtype,
        },
        direction: tensor(&shape, direction),
    })
}

fn describe(problem: &Problem) -> String {
    format!(
        "{} / {} / {:?} / {:?} / {:?}\n  params {:?}\n  pred {:?} {:?}\n  target {:?} {:?}",
        problem.function,
        problem.convention,
        problem.layout,
        problem.dtype,
        problem.pred.shape,
        problem.params,
        problem.pred.shape,
        problem.pred.data,
        problem.target.shape,
        problem.target.data
    )
}

/// Any problem: evaluated or refused, the same way in f64, in the float64 bound type and in
/// forward mode; an answer has the shapes it promises and comes only for finite input.
pub fn evaluate(data: &[u8]) -> Result<(), Finding> {
    let mut u = Unstructured::new(data);
    let mode = if u.ratio(1, 3).unwrap_or(false) {
        Mode::Hostile
    } else {
        Mode::Valid
    };
    let Ok(Drawn { problem, direction }) = draw(&mut u, EVALUATE_MAX_ELEMENTS, mode) else {
        return Ok(());
    };
    let said = |what: &str| format!("{what}\n  {}", describe(&problem));
    let answer = problem.evaluate();
    let bounded = problem.evaluate_in::<F64Bound>(true);
    match (&answer, &bounded) {
        (Ok(_), Ok(_)) => {}
        (Err(a), Err(b)) if a.to_string() == b.to_string() => {}
        (a, b) => {
            return Err(said(&format!(
                "f64 and the float64 bound type disagree: {:?} vs {:?}",
                a.as_ref().err(),
                b.as_ref().err()
            )))
        }
    }
    if let Ok(ev) = &answer {
        let finite = |t: &Tensor| t.data.iter().all(|x| x.is_finite());
        if !finite(&problem.pred) || !finite(&problem.target) {
            return Err(said("answered for non-finite input"));
        }
        if ev.grad.len() != problem.pred.data.len() {
            return Err(said(&format!("gradient of {} entries", ev.grad.len())));
        }
        if element_count("loss", &ev.loss_shape).ok() != Some(ev.loss.len()) {
            return Err(said(&format!(
                "loss of {} entries for loss shape {:?}",
                ev.loss.len(),
                ev.loss_shape
            )));
        }
        let b = bounded.as_ref().map_err(|e| said(&e.to_string()))?;
        if b.grad.as_ref().map(Vec::len) != Some(ev.grad.len()) || b.loss.len() != ev.loss.len() {
            return Err(said("the bound type's outputs have other shapes"));
        }
    }
    // Every other number type runs to an answer or an error, never a panic.
    let _ = problem.evaluate_in::<f32>(true);
    let _ = problem.evaluate_in::<F32Bound>(true);
    let _ = problem.evaluate_in::<crate::numbers::real::Dual32>(false);
    if problem.param_derivatives().is_ok() != answer.is_ok() {
        return Err(said(
            "parameter derivatives and f64 disagree on whether to answer",
        ));
    }
    match (problem.jvp(&direction), &answer) {
        (Ok(j), Ok(ev)) if j.len() == ev.loss.len() => Ok(()),
        (Err(_), Err(_)) => Ok(()),
        (j, a) => Err(said(&format!(
            "forward mode and f64 disagree on whether to answer: {:?} vs {:?}",
            j.err(),
            a.as_ref().err()
        ))),
    }
}

/// Small valid problems: the closed-form gradient's directional derivative `⟨g, v⟩` must equal
/// forward mode's (`Problem::jvp`) within the float64 error bound of the gradient, or both be
/// non-finite. The legitimate exceptions are [`moves_a_powered_base`] and a loss the float64
/// bound marks as lost.
pub fn differential(data: &[u8]) -> Result<(), Finding> {
    let mut u = Unstructured::new(data);
    let Ok(Drawn { problem, direction }) = draw(&mut u, DIFFERENTIAL_MAX_ELEMENTS, Mode::Valid)
    else {
        return Ok(());
    };
    let Ok(oracle) = problem.evaluate() else {
        return Ok(());
    };
    let said = |what: String| {
        format!(
            "{what}\n  {}\n  direction {:?}",
            describe(&problem),
            direction.data
        )
    };
    let bound = problem
        .evaluate_in::<F64Bound>(true)
        .map_err(|e| said(format!("the bound type refuses what f64 answers: {e}")))?;
    let e: Vec<f64> = bound.grad.unwrap_or_default().iter().map(|b| b.e).collect();
    let directional = problem
        .jvp(&direction)
        .map_err(|e| said(format!("forward mode refuses what f64 answers: {e}")))?;
    // The values first: forward mode evaluates the same loss.
    for (i, (d, (l, b))) in directional
        .iter()
        .zip(oracle.loss.iter().zip(&bound.loss))
        .enumerate()
    {
        let agree = if l.is_finite() {
            d.value == *l || (d.value - l).abs() <= 4.0 * b.e + UNDERFLOW
        } else {
            !d.value.is_finite()
        };
        if !agree {
            return Err(said(format!(
                "loss[{i}]: f64 {l:e}, forward mode {:e}, bound {:e}",
                d.value, b.e
            )));
        }
    }
    // A loss that is not a number has no derivative to compare.
    if oracle.loss.iter().any(|l| !l.is_finite()) {
        return Ok(());
    }
    let jvp: f64 = directional.iter().map(|d| d.derivative).sum();
    // Entries the direction does not move take no part in a finite derivative (∞·0 is not
    // one); a non-finite forward-mode derivative needs a non-finite gradient entry somewhere
    // (the point is singular, and forward mode's own products and quotients may see it too).
    // A finite entry the direction moves whose float64 bound is not finite cannot be bounded:
    // float64 does not determine it (a base `1 - TI` within its rounding error of 0 behind a
    // power, where forward mode's tangent of `TI` cancels and the closed form's does not; a
    // clip decision the bound type cannot make). No finite tolerance covers the directional
    // derivative then: it is undetermined, and the entries that are bounded are compared one
    // by one instead (closed form against forward mode, each within its own bound).
    let unbounded = oracle
        .grad
        .iter()
        .zip(&direction.data)
        .zip(&e)
        .any(|((g, v), e)| *v != 0.0 && g.is_finite() && !e.is_finite());
    if unbounded && jvp.is_finite() {
        return finite_entries_agree(&problem, &oracle.grad, &e).map_err(said);
    }
    let (mut dot, mut magnitude, mut bounded) = (0.0, 0.0, 0.0);
    for ((g, v), e) in oracle.grad.iter().zip(&direction.data).zip(&e) {
        if *v != 0.0 {
            dot += g * v;
            magnitude += (g * v).abs();
            bounded += e * v.abs();
        }
    }
    let n = oracle.grad.len() as f64;
    let moved: f64 = direction.data.iter().map(|v| v.abs()).sum();
    let tol = 4.0 * bounded + 4.0 * f64::EPSILON * magnitude * n.sqrt() + UNDERFLOW * moved;
    let grad_finite = oracle.grad.iter().all(|g| g.is_finite());
    // A loss the float64 bound marks as lost (or bounds by ∞ or NaN) went through a step
    // float64 cannot determine: a base `1 - TI` within its rounding error of 0, where reverse
    // mode's slope is infinite and forward mode's tangent may round to 0, or a 0/0 Tversky
    // index hidden by NaN^0 = 1, which reverse mode's clip select drops and forward mode's
    // tangent keeps. There the two may differ in finiteness, not in a finite value.
    let singular = bound.loss.iter().any(|b| b.lost || !b.e.is_finite());
    match (jvp.is_finite(), dot.is_finite()) {
        (true, true) => {
            // Equal values agree whatever the tolerance; a tolerance that is not a number
            // (a bound lost at a singular step) accepts nothing else, as in `check_entry`.
            let diff = (jvp - dot).abs();
            if diff == 0.0 || diff <= tol {
                Ok(())
            } else {
                Err(said(format!(
                    "jvp {jvp:e} vs <grad, v> {dot:e}: |diff| {diff:e} > tolerance {tol:e}\n  grad {:?}\n  bound {e:?}",
                    oracle.grad
                )))
            }
        }
        (false, _) if !grad_finite || singular => Ok(()),
        (true, false)
            if dot.is_nan()
                && (singular
                    || nan_entries_move_no_powered_base(
                        &problem,
                        &oracle.grad,
                        &direction.data,
                    )) =>
        {
            finite_entries_agree(&problem, &oracle.grad, &e).map_err(said)
        }
        _ => Err(said(format!(
            "jvp {jvp:e} vs <grad, v> {dot:e}: one finite, the other not\n  grad {:?}",
            oracle.grad
        ))),
    }
}

/// True when every non-finite closed-form entry the direction moves is reverse mode's `∞·0`
/// at a power's zero base: an entry that moves no powered Tversky base (see
/// [`moves_a_powered_base`]) or one at a focal factor whose base is 0 (see
/// [`at_a_focal_factor_of_base_zero`]).
fn nan_entries_move_no_powered_base(problem: &Problem, grad: &[f64], direction: &[f64]) -> bool {
    let movers = moves_a_powered_base(problem);
    let focal = at_a_focal_factor_of_base_zero(problem);
    (0..grad.len()).all(|i| grad[i].is_finite() || direction[i] == 0.0 || !movers[i] || focal[i])
}

/// For every prediction entry (in the caller's layout): whether its position may have a class
/// whose focal factor `(1-q)^γ`, `γ < 1`, sits at base 0. Only the paper convention lets the
/// clip's upper bound round to 1 (an `eps` below float32's or float64's resolution at 1); a
/// probability of exactly 1 then has the factor's infinite slope (or `0·∞` at γ = 0) times a
/// cross entropy of 0, which reverse mode gives as NaN, spread over the position's logits by the
/// softmax. A logit gives probability 1 when it exceeds every other of its position by more
/// than 36 (`e^-36` is below half an ulp of 1), a single logit when it exceeds 36.
pub fn at_a_focal_factor_of_base_zero(problem: &Problem) -> Vec<bool> {
    let nowhere = vec![false; problem.pred.data.len()];
    if problem.convention != Convention::Paper
        || matches!(
            problem.function,
            FunctionId::SymmetricFocalTverskyLoss | FunctionId::AsymmetricFocalTverskyLoss
        )
    {
        return nowhere;
    }
    let Ok(hyper) = resolve(problem.function, problem.convention, &problem.params) else {
        return nowhere;
    };
    let (Some(Hp::Real(gamma)), Some(Hp::Real(eps))) = (hyper.value("gamma"), hyper.value("eps"))
    else {
        return nowhere;
    };
    if gamma >= 1.0 || problem.dtype.round(1.0 - eps) != 1.0 {
        return nowhere;
    }
    let logits = matches!(hyper.value("input"), Some(Hp::Word("logits")));
    let grid = Grid::of(&problem.pred.shape, problem.layout);
    let mut out = nowhere;
    for b in 0..grid.batch {
        for s in 0..grid.spatial {
            let z = |c: usize| problem.pred.data[grid.at(b, s, c)];
            let saturated = if grid.classes == 1 {
                // [1-p, p]: either class may be 1.
                if logits {
                    z(0).abs() > 36.0
                } else {
                    z(0) == 0.0 || z(0) == 1.0
                }
            } else if logits {
                (0..grid.classes).any(|c| (0..grid.classes).all(|k| k == c || z(c) - z(k) > 36.0))
            } else {
                (0..grid.classes).any(|c| z(c) == 1.0)
            };
            if saturated {
                for c in 0..grid.classes {
                    out[grid.at(b, s, c)] = true;
                }
            }
        }
    }
    out
}

/// Where a Tversky term is stuck or its base is lost in rounding, entry by entry: a finite
/// closed-form entry with a finite bound has a finite forward-mode entry within 4× its bound;
/// a NaN closed-form entry (behind such a term) is the reverse-mode answer the references
/// give; an entry whose bound is not finite is undetermined (float64 cannot bound it).
fn finite_entries_agree(problem: &Problem, grad: &[f64], e: &[f64]) -> Result<(), Finding> {
    let forward = problem
        .forward_mode_gradient()
        .map_err(|e| format!("forward mode refuses a full gradient: {e}"))?;
    for i in 0..grad.len() {
        if !grad[i].is_finite() || !e[i].is_finite() {
            continue;
        }
        let agree = grad[i] == forward[i]
            || (forward[i].is_finite() && (grad[i] - forward[i]).abs() <= 4.0 * e[i] + UNDERFLOW);
        if !agree {
            return Err(format!(
                "entry {i}: closed form {:e}, forward mode {:e}, bound {:e}",
                grad[i], forward[i], e[i]
            ));
        }
    }
    Ok(())
}

/// For every prediction entry (in the caller's layout): whether it moves the base `1 - TI` of
/// some focal Tversky term, i.e. of an (item, class) whose term is a power of its base.
///
/// Where such a base is exactly 0, its power's slope is infinite (or, at exponent 0 under
/// TensorFlow's rule, `0·∞`): the closed form, like TensorFlow's and torch's reverse mode,
/// propagates `∞·0 = NaN` to every entry of the (item, class), including those that do not move
/// the base, while forward mode gives those the true derivative of a term that does not depend
/// on them, 0. An entry of probabilities moves only its own class's base, and not even that
/// when `δ = 1` and its target is 0 (`TI = (TP+k)/(TP+FN+k)` reads `q` only through `y·q`), when
/// MONAI's `ignore_index` masks its position, or when its (item, class) is stuck (`δ·FN +
/// (1-δ)·FP` vanishes whatever the prediction: `δ = 1` on a class absent from the target, `δ =
/// 0` on one present everywhere, or every position masked) or, in the original convention,
/// its base is 0 to within float64's rounding. A logit moves every class of its position.
pub fn moves_a_powered_base(problem: &Problem) -> Vec<bool> {
    let everywhere = vec![true; problem.pred.data.len()];
    let Ok(hyper) = resolve(problem.function, problem.convention, &problem.params) else {
        return everywhere;
    };
    let Some(Hp::Real(delta)) = hyper.value("delta") else {
        return everywhere;
    };
    if matches!(
        problem.function,
        FunctionId::SymmetricFocalLoss
            | FunctionId::AsymmetricFocalLoss
            | FunctionId::FocalLoss
            | FunctionId::ComboLoss
            | FunctionId::DiceLoss
            | FunctionId::TverskyLoss
            | FunctionId::DiceCoefficient
    ) {
        return everywhere;
    }
    let target = &problem.target;
    let tgrid = Grid::of(&target.shape, problem.layout);
    let pgrid = Grid::of(&problem.pred.shape, problem.layout);
    let symmetric = matches!(
        problem.function,
        FunctionId::SymmetricFocalTverskyLoss
            | FunctionId::SymUnifiedFocalLoss
            | FunctionId::FocalTverskyLoss
    );
    let single = pgrid.classes == 1;
    let logits = matches!(hyper.value("input"), Some(Hp::Word("logits")));
    // Which internal classes carry a power, and the target of every (item, position, class)
    // the Tversky terms read (None where masked).
    let powered: Vec<bool>;
    let value: Box<dyn Fn(usize, usize, usize) -> Option<f64>>;
    // An (item, class) whose base is 0 to within float64's rounding, though it moves: the
    // original's power of exponent 0 (`x·x^(-0)`, `x^0`) has TensorFlow's slope `0·x^(-1)`,
    // NaN at 0, where forward mode's tangent of the base may round to 0 too. (Other exponents
    // at such a base make the float64 bound mark the loss as lost.)
    let mut base_at_zero: Box<dyn Fn(usize, usize) -> bool> = Box::new(|_, _| false);
    match problem.convention {
        Convention::Original => {
            let read = if problem.function == FunctionId::FocalTverskyLoss {
                tgrid.classes
            } else {
                tgrid.classes.min(2)
            };
            powered = (0..read).map(|c| symmetric || c == 1).collect();
            value = Box::new(move |b, s, c| Some(target.data[tgrid.at(b, s, c)]));
            let (lo, hi) = problem.dtype.clip_bounds(KERAS_EPSILON);
            let smooth = match hyper.value("smooth") {
                Some(Hp::Real(k)) => k,
                _ => problem.dtype.round(KERAS_EPSILON),
            };
            let pred = &problem.pred;
            base_at_zero = Box::new(move |b, c| {
                let (mut tp, mut fn_, mut fp) = (0.0, 0.0, 0.0);
                for s in 0..pgrid.spatial {
                    let q = pred.data[pgrid.at(b, s, c)].clamp(lo, hi);
                    let y = target.data[tgrid.at(b, s, c)];
                    tp += y * q;
                    fn_ += y * (1.0 - q);
                    fp += (1.0 - y) * q;
                }
                let ti = (tp + smooth) / (tp + delta * fn_ + (1.0 - delta) * fp + smooth);
                (1.0 - ti).abs() <= 4.0 * f64::EPSILON
            });
        }
        Convention::Paper => {
            let classes = if single { 2 } else { tgrid.classes };
            let mut rare = vec![false; classes];
            match hyper.classes("rare_classes") {
                Ok(Some(list)) => list
                    .iter()
                    .filter(|&&c| c < classes)
                    .for_each(|&c| rare[c] = true),
                _ => rare.iter_mut().skip(1).for_each(|r| *r = true),
            }
            powered = rare.iter().map(|&r| symmetric || r).collect();
            value = Box::new(move |b, s, c| {
                Some(if single {
                    let t = target.data[tgrid.at(b, s, 0)];
                    if c == 0 {
                        1.0 - t
                    } else {
                        t
                    }
                } else {
                    target.data[tgrid.at(b, s, c)]
                })
            });
        }
        Convention::Monai => {
            let unified = problem.function == FunctionId::AsymUnifiedFocalLoss;
            let to_onehot = matches!(hyper.value("to_onehot_y"), Some(Hp::Bool(true)));
            let ignore = match hyper.value("ignore_index") {
                Some(Hp::Int(i)) => Some(i),
                _ => None,
            };
            let classes = match hyper.value("num_classes") {
                Some(Hp::Int(k)) => k.max(1) as usize,
                _ => pgrid.classes,
            };
            let onehot = to_onehot && !single;
            let onehot_classes = if unified { classes } else { pgrid.classes };
            let masked_by = if unified {
                ignore.filter(|&i| i < 0 || i >= classes as i64)
            } else {
                ignore
            };
            let replace = ignore.filter(|&i| i < 0 || i >= onehot_classes as i64);
            powered = vec![false, true];
            value = Box::new(move |b, s, c| {
                let at = |ch: usize| target.data[tgrid.at(b, s, ch)];
                if let Some(ii) = masked_by {
                    let m = if tgrid.classes == 1 {
                        (at(0) != ii as f64) as u8 as f64
                    } else if ii >= 0 && (ii as usize) < tgrid.classes {
                        1.0 - at(ii as usize)
                    } else {
                        ((0..tgrid.classes).map(at).sum::<f64>() > 0.0) as u8 as f64
                    };
                    if m == 0.0 {
                        return None;
                    }
                }
                Some(if onehot {
                    let mut label = at(0);
                    if replace.is_some_and(|r| r as f64 == label) {
                        label = 0.0;
                    }
                    (label == c as f64) as u8 as f64
                } else if tgrid.classes == 1 {
                    if c == 0 {
                        1.0 - at(0)
                    } else {
                        at(0)
                    }
                } else {
                    at(c)
                })
            });
        }
    }
    let inert = |y: Option<f64>| match y {
        None => true,
        Some(y) => delta == 1.0 && y == 0.0,
    };
    let stuck = |b: usize, c: usize| {
        base_at_zero(b, c)
            || (0..tgrid.spatial).all(|s| match value(b, s, c) {
                None => true,
                Some(y) => (delta == 1.0 && y == 0.0) || (delta == 0.0 && y == 1.0),
            })
    };
    // Whether the probability of internal class c at (b, s) moves a powered base.
    let moves = |b: usize, s: usize, c: usize| {
        powered.get(c).copied().unwrap_or(false) && !stuck(b, c) && !inert(value(b, s, c))
    };
    let mut out = vec![true; problem.pred.data.len()];
    for b in 0..pgrid.batch {
        for s in 0..pgrid.spatial {
            for c in 0..pgrid.classes {
                out[pgrid.at(b, s, c)] = if logits || single {
                    // A logit moves every class of its position; a single channel p stands
                    // for the classes [1-p, p].
                    (0..powered.len()).any(|k| moves(b, s, k))
                } else {
                    moves(b, s, c)
                };
            }
        }
    }
    out
}
