//! What a [`Problem`] asks of the kernels: validated, split into the compile-time part (a
//! [`Variant`], one NVRTC compilation each) and the run-time part ([`Scalars`], passed by value
//! to every launch), with the shapes the launch geometry and the loss output need.
//!
//! Validation refuses exactly what the oracle refuses, with the oracle's errors (parameters
//! through [`ufl_oracle::params::resolve`], arrays through [`ufl_oracle::Tensor::check`], then
//! each convention's own checks in the oracle's order); a valid problem the kernels do not
//! compute gets [`Unsupported`]. Nothing here touches a GPU.

use crate::error::{CudaLossError, Unsupported};
use crate::geometry::Geometry;
use ufl_oracle::params::{resolve, Reduction};
use ufl_oracle::tensor::Grid;
use ufl_oracle::{Convention, Dtype, FunctionId, Layout, Problem, UflError};

/// The float32 clip bounds and Tversky smoothing of `original` come from the oracle's
/// `K.epsilon()`: 1e-7 rounded to float32, and `1 - 1e-7` computed in f64 then rounded
/// (TensorFlow's `K.clip` in float32).
pub use ufl_oracle::registry::KERAS_EPSILON as ORIGINAL_EPSILON;

/// Which parts of the unified loss a function computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Parts {
    /// The focal (cross-entropy) part alone.
    Focal,
    /// The focal Tversky part alone.
    Tversky,
    /// Both, weighted.
    Unified,
}

impl Parts {
    pub fn focal(self) -> bool {
        self != Parts::Tversky
    }
    pub fn tversky(self) -> bool {
        self != Parts::Focal
    }
}

/// The two conventions the kernels implement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelConvention {
    /// The original TensorFlow code: classes 0 and 1 only, `weight` on the Tversky part,
    /// `x·x^(-γ)` Tversky terms.
    Original,
    /// The paper's equations: every class, a rare set, `(1-TI)^(1-γ)`, λ on the focal part.
    Paper,
}

/// The values the kernels read for `paper`'s reductions ([`Reduction`], the oracle's type):
/// `UFL_REDUCTION_*` in `kernels.cu`.
pub const REDUCTION_MEAN: i32 = 0;
pub const REDUCTION_SUM: i32 = 1;
pub const REDUCTION_PER_ITEM: i32 = 2;
pub const REDUCTION_PER_ITEM_CLASS: i32 = 3;

/// Everything that is compiled into a kernel module: two problems with the same variant share
/// one NVRTC compilation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Variant {
    pub convention: KernelConvention,
    pub parts: Parts,
    pub symmetric: bool,
    /// Layout of the input (and of the gradient written back).
    pub channels_last: bool,
    /// Channels of the input array.
    pub channels: usize,
    /// Classes the loss reads: 2 in `original`; the channels in `paper`, or 2 for one channel
    /// (read as `[1-p, p]`).
    pub classes: usize,
    /// Positions loaded per vector load in the statistics pass (4: `float4` loads, possible
    /// when a class's positions are contiguous and their count is a multiple of 4).
    pub stats_vec: usize,
    /// Elements per thread in the gradient pass (4 when the element count is a multiple of 4).
    pub grad_vec: usize,
}

impl Variant {
    /// True when the input has one channel that stands for the two classes `[1-p, p]`.
    pub fn single_channel(&self) -> bool {
        self.channels == 1
    }

    /// A short name for messages and logs.
    pub fn describe(&self) -> String {
        format!(
            "{:?}/{:?}/{}/{}/C={}/K={}/vec={},{}",
            self.convention,
            self.parts,
            if self.symmetric {
                "symmetric"
            } else {
                "asymmetric"
            },
            if self.channels_last {
                "channels-last"
            } else {
                "channels-first"
            },
            self.channels,
            self.classes,
            self.stats_vec,
            self.grad_vec
        )
    }
}

/// The run-time values every kernel receives, by value, as one struct. Its layout is that of
/// `UflScalars` in the kernel source: twelve 4-byte fields, no padding.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Scalars {
    /// Clip bounds (float32 values of the convention's bounds).
    pub lo: f32,
    pub hi: f32,
    /// Tversky smoothing `k`.
    pub smooth: f32,
    pub delta: f32,
    pub gamma: f32,
    /// `paper`: λ (1 for the focal part alone, 0 for the Tversky part alone).
    /// `original`: the `weight` of the unified losses when given.
    pub lambda: f32,
    /// `original`: 1 when `weight` is given (else the parts are summed).
    pub has_weight: i32,
    /// `paper`: one of the `REDUCTION_*` values.
    pub reduction: i32,
    /// `paper`: 1 when the Tversky terms are averaged over classes (`region = class-mean`).
    pub class_mean: i32,
    pub batch: u32,
    /// Positions per item (the product of the spatial axes).
    pub spatial: u32,
    /// Position chunks per (item, class group) in the statistics pass.
    pub chunks: u32,
}

// SAFETY: `Scalars` is `#[repr(C)]`, `Copy`, made of 4-byte integers and floats with no padding
// or pointers, and mirrors the kernels' `UflScalars` field for field.
unsafe impl cudarc::driver::DeviceRepr for Scalars {}

/// A validated problem, ready to launch.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    pub variant: Variant,
    pub scalars: Scalars,
    /// Rare-class flags (`paper`; `[0, 1]` in `original`), one per class.
    pub rare: Vec<i32>,
    pub geometry: Geometry,
    /// Shape of the loss (empty: a scalar).
    pub loss_shape: Vec<usize>,
    /// Number of loss entries.
    pub loss_len: usize,
}

impl Spec {
    /// Checks `problem` and describes it for the kernels.
    pub fn from_problem(problem: &Problem) -> Result<Spec, CudaLossError> {
        let (parts, symmetric) = parts_of(problem.function);
        let hyper = resolve(problem.function, problem.convention, &problem.params)?;
        problem.pred.check("prediction", problem.dtype)?;
        problem.target.check("target", problem.dtype)?;
        // The convention first: MONAI's targets may be class indices of another shape, which
        // are valid there and simply not covered here.
        let convention = match problem.convention {
            Convention::Original => KernelConvention::Original,
            Convention::Paper => KernelConvention::Paper,
            Convention::Monai => {
                return Err(Unsupported::Function {
                    function: problem.function.name(),
                    convention: "monai",
                }
                .into())
            }
        };
        let shape = &problem.pred.shape;
        if *shape != problem.target.shape {
            return Err(UflError::ShapeMismatch {
                pred: shape.clone(),
                target: problem.target.shape.clone(),
            }
            .into());
        }
        // Only `original` defines the other functions (`resolve` refuses them in `paper`).
        let Some(parts) = parts else {
            return Err(Unsupported::Function {
                function: problem.function.name(),
                convention: problem.convention.name(),
            }
            .into());
        };
        let grid = Grid::of(shape, problem.layout);
        let channels_last = problem.layout == Layout::ChannelsLast;
        let (batch, spatial, channels) = (grid.batch, grid.spatial, grid.classes);
        let f32_only = |spec_ok: Spec| -> Result<Spec, CudaLossError> {
            match problem.dtype {
                Dtype::F32 => Ok(spec_ok),
                other => Err(Unsupported::Dtype {
                    dtype: other.name(),
                }
                .into()),
            }
        };

        match convention {
            KernelConvention::Original => {
                let rank = shape.len();
                if rank != 4 && rank != 5 {
                    return Err(UflError::OriginalRank { rank }.into());
                }
                problem.pred.check_unit_interval("prediction")?;
                problem.target.check_unit_interval("target")?;
                if rank == 5 {
                    return Err(Unsupported::OriginalRank { rank }.into());
                }
                if channels < 2 {
                    // The Tversky slice fails first where there is one (axis 1 of the
                    // statistics), else the focal slice of axis 3 (the class axis on rank 4).
                    let dimension = if parts.tversky() { 1 } else { 3 };
                    return Err(UflError::OriginalSliceOutOfBounds {
                        index: 1,
                        dimension,
                        size: channels,
                    }
                    .into());
                }
                let (lo, hi) = Dtype::F32.clip_bounds(ORIGINAL_EPSILON);
                let weight = match parts {
                    Parts::Unified => hyper.opt_real("weight")?,
                    _ => None,
                };
                let classes = 2;
                let variant = variant(
                    convention,
                    parts,
                    symmetric,
                    channels_last,
                    channels,
                    classes,
                    spatial,
                    batch,
                );
                let geometry = Geometry::new(&variant, batch, spatial)?;
                let scalars = Scalars {
                    lo: lo as f32,
                    hi: hi as f32,
                    smooth: ORIGINAL_EPSILON as f32,
                    delta: hyper.real("delta")? as f32,
                    gamma: hyper.real("gamma")? as f32,
                    lambda: weight.unwrap_or(0.0) as f32,
                    has_weight: i32::from(weight.is_some()),
                    reduction: REDUCTION_MEAN,
                    class_mean: 0,
                    batch: geometry.batch,
                    spatial: geometry.spatial,
                    chunks: geometry.chunks,
                };
                f32_only(Spec {
                    variant,
                    scalars,
                    rare: vec![0, 1],
                    geometry,
                    loss_shape: vec![],
                    loss_len: 1,
                })
            }
            KernelConvention::Paper => {
                let logits = hyper.word("input")? == "logits";
                if !logits {
                    problem.pred.check_unit_interval("prediction")?;
                }
                problem.target.check_unit_interval("target")?;
                let classes = if channels == 1 { 2 } else { channels };
                let rare: Vec<i32> = hyper
                    .rare_classes(classes)?
                    .into_iter()
                    .map(i32::from)
                    .collect();
                if logits {
                    return Err(Unsupported::Logits.into());
                }
                let (reduction, loss_shape, loss_len) = match hyper.reduction()? {
                    Reduction::Mean => (REDUCTION_MEAN, vec![], 1),
                    Reduction::Sum => (REDUCTION_SUM, vec![], 1),
                    Reduction::PerItem => (REDUCTION_PER_ITEM, vec![batch], batch),
                    Reduction::PerItemClass => (
                        REDUCTION_PER_ITEM_CLASS,
                        vec![batch, classes],
                        batch * classes,
                    ),
                    Reduction::PerElement => {
                        return Err(UflError::InvalidParameter {
                            name: "reduction".into(),
                            value: "per element".into(),
                            reason: "not a reduction of the paper convention".into(),
                        }
                        .into())
                    }
                };
                let class_mean = parts.tversky() && hyper.word("region")? == "class-mean";
                let lambda = match parts {
                    Parts::Unified => hyper.real("lambda")?,
                    Parts::Focal => 1.0,
                    Parts::Tversky => 0.0,
                };
                let eps = hyper.real("eps")?;
                let variant = variant(
                    convention,
                    parts,
                    symmetric,
                    channels_last,
                    channels,
                    classes,
                    spatial,
                    batch,
                );
                let geometry = Geometry::new(&variant, batch, spatial)?;
                let scalars = Scalars {
                    lo: eps as f32,
                    hi: (1.0 - eps) as f32,
                    smooth: eps as f32,
                    delta: hyper.real("delta")? as f32,
                    gamma: hyper.real("gamma")? as f32,
                    lambda: lambda as f32,
                    has_weight: 0,
                    reduction,
                    class_mean: i32::from(class_mean),
                    batch: geometry.batch,
                    spatial: geometry.spatial,
                    chunks: geometry.chunks,
                };
                f32_only(Spec {
                    variant,
                    scalars,
                    rare,
                    geometry,
                    loss_shape,
                    loss_len,
                })
            }
        }
    }

    /// Elements of the input (and of the gradient).
    pub fn elements(&self) -> usize {
        self.geometry.elements as usize
    }
}

/// The parts and symmetry of a function, or `None` for the functions the kernels lack.
fn parts_of(function: FunctionId) -> (Option<Parts>, bool) {
    use FunctionId::*;
    match function {
        SymmetricFocalLoss => (Some(Parts::Focal), true),
        AsymmetricFocalLoss => (Some(Parts::Focal), false),
        SymmetricFocalTverskyLoss => (Some(Parts::Tversky), true),
        AsymmetricFocalTverskyLoss => (Some(Parts::Tversky), false),
        SymUnifiedFocalLoss => (Some(Parts::Unified), true),
        AsymUnifiedFocalLoss => (Some(Parts::Unified), false),
        _ => (None, false),
    }
}

#[allow(clippy::too_many_arguments)]
fn variant(
    convention: KernelConvention,
    parts: Parts,
    symmetric: bool,
    channels_last: bool,
    channels: usize,
    classes: usize,
    spatial: usize,
    batch: usize,
) -> Variant {
    // A class's positions are contiguous in channels-first layout, and for a single channel in
    // either layout; float4 loads need them in multiples of 4 (every plane then starts on a
    // 16-byte boundary).
    let contiguous = !channels_last || channels == 1;
    let stats_vec = if contiguous && spatial % 4 == 0 { 4 } else { 1 };
    let elements = batch * spatial * channels;
    let grad_vec = if elements % 4 == 0 { 4 } else { 1 };
    Variant {
        convention,
        parts,
        symmetric,
        channels_last,
        channels,
        classes,
        stats_vec,
        grad_vec,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ufl_oracle::{ParamValue, Params, Tensor};

    fn problem(
        function: &str,
        convention: &str,
        shape: &[usize],
        layout: Layout,
        params: &[(&str, ParamValue)],
    ) -> Problem {
        let n: usize = shape.iter().product();
        let pred = Tensor::new("prediction", shape.to_vec(), vec![0.5; n]).unwrap();
        let target = Tensor::new("target", shape.to_vec(), vec![0.0; n]).unwrap();
        let params: Params = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        Problem::named(
            function,
            convention,
            params,
            pred,
            target,
            layout,
            Dtype::F32,
        )
        .unwrap()
    }

    #[test]
    fn scalars_have_the_kernel_layout() {
        assert_eq!(std::mem::size_of::<Scalars>(), 48);
        assert_eq!(std::mem::align_of::<Scalars>(), 4);
    }

    #[test]
    fn original_takes_the_float32_constants_and_two_classes() {
        let p = problem(
            "asym_unified_focal_loss",
            "original",
            &[2, 4, 4, 3],
            Layout::ChannelsLast,
            &[],
        );
        let s = Spec::from_problem(&p).unwrap();
        assert_eq!(s.scalars.lo as f64, 1.0000000116860974e-07);
        assert_eq!(s.scalars.hi as f64, 0.9999998807907104);
        assert_eq!(s.scalars.smooth as f64, 1.0000000116860974e-07);
        assert_eq!((s.scalars.delta, s.scalars.gamma), (0.6, 0.5));
        assert_eq!((s.scalars.lambda, s.scalars.has_weight), (0.5, 1));
        assert_eq!(s.variant.classes, 2);
        assert_eq!(s.variant.channels, 3);
        assert_eq!((s.loss_len, s.loss_shape.len()), (1, 0));
        let p = problem(
            "asym_unified_focal_loss",
            "original",
            &[2, 4, 4, 3],
            Layout::ChannelsLast,
            &[("weight", ParamValue::Null)],
        );
        assert_eq!(Spec::from_problem(&p).unwrap().scalars.has_weight, 0);
    }

    #[test]
    fn paper_resolves_rare_classes_reductions_and_one_channel() {
        let p = problem(
            "sym_unified_focal_loss",
            "paper",
            &[3, 5, 4, 4],
            Layout::ChannelsFirst,
            &[
                ("rare_classes", ParamValue::List(vec![2.0, 4.0])),
                ("reduction", ParamValue::Text("none-per-class".into())),
                ("region", ParamValue::Text("class-mean".into())),
                ("eps", ParamValue::Number(1e-4)),
            ],
        );
        let s = Spec::from_problem(&p).unwrap();
        assert_eq!(s.rare, vec![0, 0, 1, 0, 1]);
        assert_eq!(s.loss_shape, vec![3, 5]);
        assert_eq!(s.scalars.reduction, REDUCTION_PER_ITEM_CLASS);
        assert_eq!(s.scalars.class_mean, 1);
        assert_eq!(s.scalars.lo, 1e-4f32);
        assert_eq!(s.scalars.hi, (1.0f64 - 1e-4) as f32);
        assert_eq!(s.variant.stats_vec, 4);
        let p = problem(
            "asymmetric_focal_loss",
            "paper",
            &[2, 1, 3, 3],
            Layout::ChannelsLast,
            &[("region", ParamValue::Text("class-mean".into()))],
        );
        // The focal part has no `region`: the oracle refuses the parameter.
        assert!(matches!(
            Spec::from_problem(&p),
            Err(CudaLossError::Invalid(UflError::UnknownParameter { .. }))
        ));
        let p = problem(
            "asymmetric_focal_loss",
            "paper",
            &[2, 3, 3, 1],
            Layout::ChannelsLast,
            &[],
        );
        let s = Spec::from_problem(&p).unwrap();
        assert!(s.variant.single_channel());
        assert_eq!((s.variant.classes, s.rare.clone()), (2, vec![0, 1]));
        assert_eq!(s.scalars.lambda, 1.0);
        // 9 positions: no float4 loads.
        assert_eq!(s.variant.stats_vec, 1);
    }

    #[test]
    fn refusals_are_typed() {
        type Expected = fn(&CudaLossError) -> bool;
        let cases: Vec<(Problem, Expected)> = vec![
            (
                problem(
                    "asym_unified_focal_loss",
                    "monai",
                    &[1, 2, 4, 4],
                    Layout::ChannelsFirst,
                    &[],
                ),
                |e| matches!(e, CudaLossError::Unsupported(Unsupported::Function { .. })),
            ),
            (
                problem(
                    "dice_loss",
                    "original",
                    &[1, 4, 4, 2],
                    Layout::ChannelsLast,
                    &[],
                ),
                |e| matches!(e, CudaLossError::Unsupported(Unsupported::Function { .. })),
            ),
            (
                problem(
                    "asym_unified_focal_loss",
                    "original",
                    &[1, 4, 4, 4, 2],
                    Layout::ChannelsLast,
                    &[],
                ),
                |e| {
                    matches!(
                        e,
                        CudaLossError::Unsupported(Unsupported::OriginalRank { .. })
                    )
                },
            ),
            (
                problem(
                    "asym_unified_focal_loss",
                    "original",
                    &[1, 4, 2],
                    Layout::ChannelsLast,
                    &[],
                ),
                |e| {
                    matches!(
                        e,
                        CudaLossError::Invalid(UflError::OriginalRank { rank: 3 })
                    )
                },
            ),
            (
                problem(
                    "asymmetric_focal_loss",
                    "original",
                    &[1, 4, 4, 1],
                    Layout::ChannelsLast,
                    &[],
                ),
                |e| {
                    matches!(
                        e,
                        CudaLossError::Invalid(UflError::OriginalSliceOutOfBounds {
                            dimension: 3,
                            ..
                        })
                    )
                },
            ),
            (
                problem(
                    "asym_unified_focal_loss",
                    "paper",
                    &[1, 2, 4, 4],
                    Layout::ChannelsFirst,
                    &[("input", ParamValue::Text("logits".into()))],
                ),
                |e| matches!(e, CudaLossError::Unsupported(Unsupported::Logits)),
            ),
            (
                problem(
                    "asym_unified_focal_loss",
                    "paper",
                    &[1, 3, 4, 4],
                    Layout::ChannelsFirst,
                    &[("rare_classes", ParamValue::List(vec![3.0]))],
                ),
                |e| matches!(e, CudaLossError::Invalid(UflError::InvalidParameter { .. })),
            ),
            (
                problem(
                    "asym_unified_focal_loss",
                    "paper",
                    &[1, 3, 4, 4],
                    Layout::ChannelsFirst,
                    &[("delta", ParamValue::Number(1.5))],
                ),
                |e| matches!(e, CudaLossError::Invalid(UflError::InvalidParameter { .. })),
            ),
        ];
        for (p, expected) in cases {
            let e = Spec::from_problem(&p).unwrap_err();
            assert!(expected(&e), "{}: {e}", p.function);
        }
        let mut p = problem(
            "asym_unified_focal_loss",
            "paper",
            &[1, 2, 4, 4],
            Layout::ChannelsFirst,
            &[],
        );
        p.dtype = Dtype::F64;
        assert!(matches!(
            Spec::from_problem(&p),
            Err(CudaLossError::Unsupported(Unsupported::Dtype { .. }))
        ));
        p.dtype = Dtype::F32;
        p.pred.data[3] = 1.5;
        assert!(matches!(
            Spec::from_problem(&p),
            Err(CudaLossError::Invalid(UflError::OutsideUnitInterval { .. }))
        ));
        p.pred.data[3] = 0.1; // not a float32 value
        assert!(matches!(
            Spec::from_problem(&p),
            Err(CudaLossError::Invalid(UflError::NotRepresentable { .. }))
        ));
        p.pred.data[3] = 0.5;
        p.target.shape = vec![1, 2, 8, 2];
        assert!(matches!(
            Spec::from_problem(&p),
            Err(CudaLossError::Invalid(UflError::ShapeMismatch { .. }))
        ));
    }
}
