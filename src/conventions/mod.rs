//! The conventions: how each loss is computed in the original TensorFlow code (`original`), in
//! the paper's equations generalised (`paper`) and in MONAI 1.6.1 (`monai`), each generic over
//! [`Real`] so one expression gives the value, its derivatives and its error bound. This module
//! holds what the three share with their caller: the arrays they read ([`Inputs`]), the
//! departures from a convention a diagnosis can ask for ([`Overrides`]), and what they return
//! ([`Outcome`]). The engine above dispatches to them; they import nothing from it.

pub mod monai;
pub mod original;
pub mod paper;
pub mod params;
pub mod terms;

use crate::numbers::real::Real;
use crate::spec::error::UflError;
use crate::spec::tensor::{Dtype, Layout};
use terms::ClipGradient;

/// The arrays an evaluator reads, in its convention's native layout.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a, T> {
    pub pred: &'a [T],
    pub pred_shape: &'a [usize],
    pub target: &'a [T],
    pub target_shape: &'a [usize],
    pub layout: Layout,
    pub dtype: Dtype,
    /// Departures from the convention's own semantics the caller asks for (none for the
    /// oracle's answers).
    pub overrides: Overrides,
}

impl<T: Real> Inputs<'_, T> {
    /// The δ of the Tversky index: the function's, or `1 - δ` when swapped there.
    pub fn tversky_delta(&self, delta: T) -> T {
        if self.overrides.swap_tversky_delta {
            T::one() - delta
        } else {
            delta
        }
    }

    /// The δ of the focal part's class weights: the function's, or `1 - δ` when swapped there.
    pub fn focal_delta(&self, delta: T) -> T {
        if self.overrides.swap_focal_delta {
            T::one() - delta
        } else {
            delta
        }
    }
}

/// Departures from a convention's own semantics that an evaluation can be asked for: the rules
/// shipped libraries differ by where the equations leave a choice (the clip's gradient on its
/// bounds), and the variants a diagnosis compares a failing backend with (δ swapped in one term
/// only). The oracle's answers use none; an evaluation with any runs the generic evaluator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// The clip's gradient rule on its bounds, when not the convention's own.
    pub clip_gradient: Option<ClipGradient>,
    /// `δ → 1 - δ` in the Tversky index only: false positives weighted by δ (α and β swapped).
    pub swap_tversky_delta: bool,
    /// `δ → 1 - δ` in the focal part's class weights only: δ on the background.
    pub swap_focal_delta: bool,
    /// A region loss computed as another library does (`original`'s dice, Tversky and focal
    /// Tversky losses).
    pub region: Option<RegionVariant>,
}

/// How other libraries compute a Dice, Tversky or focal Tversky loss, where that differs from
/// the original TensorFlow code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegionVariant {
    /// The focal Tversky power applied after the mean over (items, classes):
    /// `(mean(1 - TI))^γ` (segmentation_models_pytorch 0.6.0 `TverskyLoss(gamma)`).
    PowerAfterMean,
    /// TP, FN and FP summed over the whole batch per class (segmentation_models_pytorch; Keras
    /// `Tversky` with `axis=None`).
    PooledBatch,
    /// The mean over the (item, class) pairs whose target has a positive entry only (kornia
    /// 0.9 `tversky_loss`).
    PresentClassesOnly,
    /// The term of an (item, class) whose target has no positive entry set to 0, the mean
    /// still over all (segmentation_models_pytorch).
    EmptyClassesZeroed,
    /// The smoothing in the denominator only: `TP / (TP + δ·FN + (1-δ)·FP + k)` (Keras,
    /// kornia).
    SmoothingInDenominatorOnly,
    /// No clip before the focal Tversky loss (kornia).
    NoClip,
}

impl Overrides {
    /// Only the clip's gradient rule replaced.
    pub fn clip(rule: ClipGradient) -> Self {
        Overrides {
            clip_gradient: Some(rule),
            ..Overrides::default()
        }
    }
}

/// What an evaluator returns: the loss (a scalar when `loss_shape` is empty) and, on request,
/// the gradient of the sum of the loss's entries with respect to the prediction (or logits).
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome<T> {
    pub loss: Vec<T>,
    pub loss_shape: Vec<usize>,
    pub grad: Option<Vec<T>>,
}

/// Checks that every value of `data` lies in [0, 1].
pub(crate) fn check_unit<T: Real>(what: &'static str, data: &[T]) -> Result<(), UflError> {
    match data
        .iter()
        .position(|v| !(v.val() >= 0.0 && v.val() <= 1.0))
    {
        Some(index) => Err(UflError::OutsideUnitInterval {
            what,
            index,
            value: data[index].val(),
        }),
        None => Ok(()),
    }
}
