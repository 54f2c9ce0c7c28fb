//! The public entry point: a [`Problem`] (function, convention, parameters, arrays, layout,
//! dtype) is checked, brought into its convention's native layout, evaluated by the generic
//! evaluator of that convention, and its gradient returned in the caller's layout.
//!
//! [`Problem::evaluate`] is the oracle's answer: value and closed-form gradient computed in f64
//! with compensated sums. [`Problem::evaluate_in`] runs the same evaluator in any [`Real`] type:
//! `f32` (a plain single-precision implementation), [`Dual`](crate::numbers::real::Dual)
//! (forward-mode derivatives), or [`crate::numbers::bound::Bounded`] (the error bound of a
//! lower-precision implementation).

use crate::conventions::params::{resolve, Hyper, Params};
use crate::conventions::terms::ClipGradient;
use crate::conventions::{monai, original, paper};
pub use crate::conventions::{Inputs, Outcome, Overrides, RegionVariant};
use crate::numbers::real::Real;
use crate::spec::error::UflError;
use crate::spec::registry::{Convention, FunctionId};
use crate::spec::tensor::{Dtype, Layout, Tensor};

/// One evaluation request.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub function: FunctionId,
    pub convention: Convention,
    pub params: Params,
    /// Predicted probabilities (or logits, in the `paper` convention with `input = logits`).
    pub pred: Tensor,
    /// Targets: one-hot or soft labels of the prediction's shape, or (MONAI with
    /// `to_onehot_y`) class indices of shape `(B, 1, ...)`.
    pub target: Tensor,
    /// Layout of `pred` and `target` as given.
    pub layout: Layout,
    /// The dtype the inputs came in.
    pub dtype: Dtype,
}

/// The oracle's answer to a [`Problem`].
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub loss: Vec<f64>,
    /// Empty for a scalar loss.
    pub loss_shape: Vec<usize>,
    /// d(sum of the loss entries)/d pred, in the layout and shape of `pred`.
    pub grad: Vec<f64>,
}

impl Evaluation {
    /// The loss as a scalar, if it is one.
    pub fn scalar(&self) -> Option<f64> {
        if self.loss_shape.is_empty() {
            self.loss.first().copied()
        } else {
            None
        }
    }
}

/// The layout a convention's evaluator works in (`None`: either).
pub fn native_layout(convention: Convention) -> Option<Layout> {
    match convention {
        Convention::Original => Some(Layout::ChannelsLast),
        Convention::Monai => Some(Layout::ChannelsFirst),
        Convention::Paper => None,
    }
}

/// A problem after its parameters are resolved and its arrays are in the native layout.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub hyper: Hyper<f64>,
    pub pred: Tensor,
    pub target: Tensor,
    pub layout: Layout,
    pub dtype: Dtype,
    /// The caller's layout, when it differs from `layout`.
    pub(crate) transposed_from: Option<Layout>,
    /// Departures from the convention's semantics asked for (see [`Overrides`]).
    pub overrides: Overrides,
}

impl Problem {
    /// Builds a problem from names, as the CLI and fixtures give them.
    pub fn named(
        function: &str,
        convention: &str,
        params: Params,
        pred: Tensor,
        target: Tensor,
        layout: Layout,
        dtype: Dtype,
    ) -> Result<Self, UflError> {
        Ok(Problem {
            function: function.parse()?,
            convention: convention.parse()?,
            params,
            pred,
            target,
            layout,
            dtype,
        })
    }

    /// Resolves parameters, checks the arrays' values, and moves them to the native layout.
    pub fn prepare(&self) -> Result<Prepared, UflError> {
        let hyper = resolve(self.function, self.convention, &self.params)?;
        self.pred.check("prediction", self.dtype)?;
        self.target.check("target", self.dtype)?;
        let (pred, target, layout, transposed_from) = match native_layout(self.convention) {
            Some(native) if native != self.layout => {
                let (p, t) = match native {
                    Layout::ChannelsLast => (
                        self.pred.channels_first_to_last(),
                        self.target.channels_first_to_last(),
                    ),
                    Layout::ChannelsFirst => (
                        self.pred.channels_last_to_first(),
                        self.target.channels_last_to_first(),
                    ),
                };
                (p, t, native, Some(self.layout))
            }
            _ => (self.pred.clone(), self.target.clone(), self.layout, None),
        };
        Ok(Prepared {
            hyper,
            pred,
            target,
            layout,
            dtype: self.dtype,
            transposed_from,
            overrides: Overrides::default(),
        })
    }

    /// The one pipeline of every generic evaluation: resolve and check the problem
    /// ([`Problem::prepare`]), lift its native-layout prediction and target into `T` (`lift`
    /// receives the prepared problem), evaluate under the convention — with the clip's gradient
    /// semantics changed by `overrides` — and move the loss and the gradient
    /// back to the caller's layout. Values, dual numbers and error bounds all come back in the
    /// same positions.
    pub fn run_generic<T: Real>(
        &self,
        want_grad: bool,
        overrides: Overrides,
        lift: impl FnOnce(&Prepared) -> (Vec<T>, Vec<T>),
    ) -> Result<Outcome<T>, UflError> {
        let mut prepared = self.prepare()?;
        prepared.overrides = overrides;
        let hyper = prepared.hyper.cast::<T>();
        let (pred, target) = lift(&prepared);
        let out = prepared.run(&hyper, &pred, &target, want_grad)?;
        let grad = out.grad.map(|g| prepared.grad_to_caller(g));
        let (loss, loss_shape) = prepared.loss_to_caller(out.loss, out.loss_shape);
        Ok(Outcome {
            loss,
            loss_shape,
            grad,
        })
    }

    /// The convention's own gradient rule at an input exactly on a clip bound: TensorFlow's
    /// inclusive `K.clip` for `original` (bug-for-bug) and for `paper` (whose equations have no
    /// derivative there), torch 2.15's strict `clamp` for `monai`.
    pub fn own_clip_gradient(&self) -> ClipGradient {
        match self.convention {
            Convention::Original | Convention::Paper => ClipGradient::Inclusive,
            Convention::Monai => ClipGradient::Strict,
        }
    }

    /// The clip-gradient rules other than the convention's own, in [`ClipGradient::ALL`]'s
    /// order.
    pub fn other_clip_gradients(&self) -> impl Iterator<Item = ClipGradient> {
        let own = self.own_clip_gradient();
        ClipGradient::ALL.into_iter().filter(move |&r| r != own)
    }

    /// The rules the harness accepts on the clip bounds besides the convention's own: every
    /// other rule for `paper` and `monai` (whose definitions leave the bounds open), none for
    /// `original` (TensorFlow's rule, bug for bug).
    pub fn accepted_clip_alternatives(&self) -> Vec<ClipGradient> {
        if self.convention == Convention::Original {
            Vec::new()
        } else {
            self.other_clip_gradients().collect()
        }
    }

    /// True when some prediction entry lies exactly on a bound of the convention's clip (a
    /// probability input equal to `dtype(ε)` or `dtype(1-ε)`), where the gradient rules of
    /// [`ClipGradient`] differ. Logits (`paper`) are clipped after the softmax: never counted.
    pub fn has_input_on_a_clip_bound(&self) -> bool {
        let Ok(hyper) = resolve(self.function, self.convention, &self.params) else {
            return false;
        };
        if matches!(
            hyper.value("input"),
            Some(crate::conventions::params::Hp::Word("logits"))
        ) {
            return false;
        }
        let (lo, hi) = self.dtype.clip_bounds(hyper.clip_epsilon());
        self.pred.data.iter().any(|&p| p == lo || p == hi)
    }

    /// The f64 answer with the convention's semantics changed by `overrides` (the generic
    /// evaluator; the fast path knows only the conventions' own).
    pub fn evaluate_with(&self, overrides: Overrides) -> Result<Evaluation, UflError> {
        let out = self.run_generic::<f64>(true, overrides, |p| {
            (p.pred.data.clone(), p.target.data.clone())
        })?;
        Ok(Evaluation {
            loss: out.loss,
            loss_shape: out.loss_shape,
            grad: out.grad.unwrap_or_default(),
        })
    }

    /// The same evaluator in another number type; inputs are converted with [`Real::cst`].
    /// Loss and gradient come back in the caller's layout.
    pub fn evaluate_in<T: Real>(&self, want_grad: bool) -> Result<Outcome<T>, UflError> {
        self.run_generic(want_grad, Overrides::default(), |p| {
            let lift = |xs: &[f64]| xs.iter().map(|&x| T::cst(x)).collect();
            (lift(&p.pred.data), lift(&p.target.data))
        })
    }
}

impl Prepared {
    /// Runs the convention's evaluator on arrays in the native layout.
    pub fn run<T: Real>(
        &self,
        hyper: &Hyper<T>,
        pred: &[T],
        target: &[T],
        want_grad: bool,
    ) -> Result<Outcome<T>, UflError> {
        let inputs = Inputs {
            pred,
            pred_shape: &self.pred.shape,
            target,
            target_shape: &self.target.shape,
            layout: self.layout,
            dtype: self.dtype,
            overrides: self.overrides,
        };
        match hyper.convention {
            Convention::Original => original::evaluate(hyper, &inputs, want_grad),
            Convention::Paper => paper::evaluate(hyper, &inputs, want_grad),
            Convention::Monai => monai::evaluate(hyper, &inputs, want_grad),
        }
    }

    /// Moves an array of the prediction's shape from the caller's layout to the native one.
    pub fn to_native<T: Copy>(&self, data: &[T]) -> Vec<T> {
        match self.transposed_from {
            None => data.to_vec(),
            Some(from) => permute_like(data, self.caller_shape().as_slice(), from),
        }
    }

    /// The prediction's shape in the caller's layout.
    fn caller_shape(&self) -> Vec<usize> {
        let s = &self.pred.shape;
        match self.transposed_from {
            Some(Layout::ChannelsFirst) if s.len() >= 3 => {
                let r = s.len();
                let mut c = vec![s[0], s[r - 1]];
                c.extend_from_slice(&s[1..r - 1]);
                c
            }
            Some(Layout::ChannelsLast) if s.len() >= 3 => {
                let mut c = vec![s[0]];
                c.extend_from_slice(&s[2..]);
                c.push(s[1]);
                c
            }
            _ => s.clone(),
        }
    }

    /// Moves a native-layout gradient back to the caller's layout.
    pub fn grad_to_caller<T: Copy>(&self, grad: Vec<T>) -> Vec<T> {
        match self.transposed_from {
            None => grad,
            Some(_) => permute_like(&grad, &self.pred.shape, self.layout),
        }
    }

    /// Moves a per-element loss (rank ≥ 3) back to the caller's layout.
    pub(crate) fn loss_to_caller<T: Copy>(
        &self,
        loss: Vec<T>,
        shape: Vec<usize>,
    ) -> (Vec<T>, Vec<usize>) {
        if self.transposed_from.is_none() || shape.len() < 3 {
            return (loss, shape);
        }
        let permuted = permute_like(&loss, &shape, self.layout);
        let r = shape.len();
        let new_shape = match self.layout {
            Layout::ChannelsFirst => {
                let mut s = vec![shape[0]];
                s.extend_from_slice(&shape[2..]);
                s.push(shape[1]);
                s
            }
            Layout::ChannelsLast => {
                let mut s = vec![shape[0], shape[r - 1]];
                s.extend_from_slice(&shape[1..r - 1]);
                s
            }
        };
        (permuted, new_shape)
    }
}

/// Transposes `data` of `shape` in layout `from` to the other layout.
fn permute_like<T: Copy>(data: &[T], shape: &[usize], from: Layout) -> Vec<T> {
    match from {
        Layout::ChannelsFirst => crate::spec::tensor::first_to_last(data, shape),
        Layout::ChannelsLast => crate::spec::tensor::last_to_first(data, shape),
    }
}
