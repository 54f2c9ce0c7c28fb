//! MONAI's `to_onehot_y` in front of the fast path: a `(B, 1, S…)` map of class indices is
//! expanded once into the `(B, C, S…)` one-hot target MONAI's `one_hot` builds, and the problem
//! goes on to the plan without the option, which then changes nothing else (MONAI's losses use
//! the expanded target as they would a one-hot target given by the caller). The expansion is
//! one array of the prediction's size, as MONAI's own. Only the plain case is taken: no
//! `ignore_index` (whose label replacement and mask are the generic evaluator's), channels-first,
//! `C ≥ 2` channels (MONAI ignores the option for one) and, for `AsymmetricUnifiedFocalLoss`,
//! `num_classes = C`; a label that is not an integer in `[0, C)` sends the problem to the
//! generic evaluator, which reports MONAI's error.

use super::input::Values;
use super::plan::Spec;
use crate::conventions::params::{resolve, ParamValue, Params};
use crate::spec::registry::{Convention, FunctionId};
use crate::spec::tensor::Layout;

/// A problem's one-hot target and the parameters without `to_onehot_y`.
pub struct OneHot {
    pub params: Params,
    pub data: Vec<f64>,
}

impl OneHot {
    /// `spec` with the expanded target (the prediction's shape) and the new parameters.
    pub fn spec<'a>(&'a self, spec: &Spec<'a>) -> Spec<'a> {
        Spec {
            params: &self.params,
            target_shape: spec.shape,
            lengths: (spec.lengths.0, self.data.len()),
            ..*spec
        }
    }
}

/// The parameters without `to_onehot_y`, where the fast path takes the option for `spec`'s
/// shapes and parameters (the module documentation says when); `None` otherwise.
pub fn applies(spec: &Spec<'_>) -> Option<Params> {
    use FunctionId as F;
    if spec.convention != Convention::Monai || spec.layout != Layout::ChannelsFirst {
        return None;
    }
    let unified = match spec.function {
        F::AsymUnifiedFocalLoss => true,
        F::AsymmetricFocalLoss | F::AsymmetricFocalTverskyLoss => false,
        _ => return None,
    };
    let hp = resolve(spec.function, spec.convention, spec.params).ok()?;
    if !hp.flag("to_onehot_y").ok()? || hp.int("ignore_index").ok()?.is_some() {
        return None;
    }
    let shape = spec.shape;
    if shape.len() < 3 || shape.contains(&0) {
        return None;
    }
    let classes = shape[1];
    if classes < 2 || (unified && hp.int("num_classes").ok()?.unwrap_or(2) != classes as i64) {
        return None;
    }
    let mut labels_shape = shape.to_vec();
    labels_shape[1] = 1;
    let n = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))?;
    if spec.target_shape != labels_shape.as_slice() || spec.lengths != (n, n / classes) {
        return None;
    }
    let mut params = spec.params.clone();
    params.insert("to_onehot_y".to_string(), ParamValue::Bool(false));
    Some(params)
}

/// The expansion of `target` for `spec`, where [`applies`] and every label is an integer in
/// `[0, C)`; `None` otherwise.
pub fn expand(spec: &Spec<'_>, target: Values<'_>) -> Option<OneHot> {
    let params = applies(spec)?;
    let (batch, classes) = (spec.shape[0], spec.shape[1]);
    let spatial: usize = spec.shape[2..].iter().product();
    if target.len() != batch * spatial {
        return None;
    }
    let mut data = vec![0.0; batch * classes * spatial];
    let mut block = [0.0; 1024];
    for b in 0..batch {
        let mut s0 = 0;
        while s0 < spatial {
            let len = block.len().min(spatial - s0);
            let labels = target.run(b * spatial + s0, &mut block[..len]);
            for (i, &v) in labels.iter().enumerate() {
                // 0 ≤ v < C and integral (NaN fails the first test).
                if !(v >= 0.0 && v < classes as f64 && v.fract() == 0.0) {
                    return None;
                }
                data[(b * classes + v as usize) * spatial + s0 + i] = 1.0;
            }
            s0 += len;
        }
    }
    Some(OneHot { params, data })
}
