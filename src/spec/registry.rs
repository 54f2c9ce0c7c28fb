//! The one description of every function: its name, its parameters with defaults and valid
//! ranges, and the conventions that define it.
//!
//! Everything else is driven from [`FUNCTIONS`]: parameter resolution and validation
//! (`params.rs`), the CLI's `list`, the fixture checks (a fixture naming a function or a
//! parameter missing here is unusable), and the tests that iterate over every function.

use crate::spec::error::UflError;
use std::fmt;
use std::str::FromStr;

/// Which implementation's semantics an evaluation follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Convention {
    /// The public TensorFlow/Keras code (`loss_functions.py`, commit 411c9c5), quirks included.
    Original,
    /// The paper's equations (19)–(22), generalised: any rank, layout and class count.
    Paper,
    /// MONAI 1.6.1's `AsymmetricFocalLoss`, `AsymmetricFocalTverskyLoss`, `AsymmetricUnifiedFocalLoss`.
    Monai,
}

impl Convention {
    pub const ALL: [Convention; 3] = [Convention::Original, Convention::Paper, Convention::Monai];

    pub fn name(self) -> &'static str {
        match self {
            Convention::Original => "original",
            Convention::Paper => "paper",
            Convention::Monai => "monai",
        }
    }
}

impl fmt::Display for Convention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Convention {
    type Err = UflError;
    fn from_str(s: &str) -> Result<Self, UflError> {
        Convention::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| UflError::UnknownConvention(s.to_string()))
    }
}

/// The twelve functions of the family, named as in the original code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FunctionId {
    DiceLoss,
    TverskyLoss,
    DiceCoefficient,
    ComboLoss,
    FocalTverskyLoss,
    FocalLoss,
    SymmetricFocalLoss,
    AsymmetricFocalLoss,
    SymmetricFocalTverskyLoss,
    AsymmetricFocalTverskyLoss,
    SymUnifiedFocalLoss,
    AsymUnifiedFocalLoss,
}

/// What values a parameter takes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// A real number in `range`.
    Real,
    /// A real number in `range`, or `null` (the code's `None`).
    RealOrNull,
    /// `null`, a real, or a list of reals, each in `range` (focal_loss's `alpha`).
    RealOrListOrNull,
    /// `true` or `false`.
    Bool,
    /// An integer in `range`.
    Int,
    /// An integer in `range`, or `null`.
    IntOrNull,
    /// One of the listed words.
    Choice(&'static [&'static str]),
    /// A list of class indices, or `null` for the default set.
    ClassesOrNull,
}

/// A parameter's default.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Default {
    Real(f64),
    Null,
    Bool(bool),
    Int(i64),
    Word(&'static str),
}

/// A closed or half-open interval for numeric parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub lo: f64,
    pub hi: f64,
    pub lo_open: bool,
    pub hi_open: bool,
}

impl Range {
    pub const UNIT: Range = Range {
        lo: 0.0,
        hi: 1.0,
        lo_open: false,
        hi_open: false,
    };
    pub const NON_NEGATIVE: Range = Range {
        lo: 0.0,
        hi: f64::INFINITY,
        lo_open: false,
        hi_open: true,
    };
    pub const UNIT_HALF_OPEN: Range = Range {
        lo: 0.0,
        hi: 1.0,
        lo_open: false,
        hi_open: true,
    };
    pub const CLIP_EPS: Range = Range {
        lo: 0.0,
        hi: 0.5,
        lo_open: true,
        hi_open: true,
    };
    pub const INDEX: Range = Range {
        lo: -1e9,
        hi: 1e9,
        lo_open: false,
        hi_open: false,
    };
    pub const CLASS_COUNT: Range = Range {
        lo: 1.0,
        hi: 65536.0,
        lo_open: false,
        hi_open: false,
    };

    pub fn contains(&self, x: f64) -> bool {
        let above = if self.lo_open {
            x > self.lo
        } else {
            x >= self.lo
        };
        let below = if self.hi_open {
            x < self.hi
        } else {
            x <= self.hi
        };
        above && below
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let open = if self.lo_open { '(' } else { '[' };
        let close = if self.hi_open { ')' } else { ']' };
        let hi = if self.hi.is_infinite() {
            "inf".to_string()
        } else {
            self.hi.to_string()
        };
        write!(f, "{open}{}, {hi}{close}", self.lo)
    }
}

/// One parameter of one function in one convention.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub default: Default,
    pub range: Range,
    pub doc: &'static str,
    /// How generated cases draw it.
    pub sample: Sample,
}

/// How generated cases (`conformance::cases::build`) draw a parameter: away from its
/// default, inside its range, where the loss stays finite and its derivatives well
/// conditioned. `tests/coverage.rs` checks that every draw lies in the parameter's range and
/// kind.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sample {
    /// Left at its default, for the reason given.
    Default(&'static str),
    /// Uniform in `[lo, hi)`.
    Uniform(f64, f64),
    /// `null` one time in `every`, else uniform in `[lo, hi)`.
    NullOrUniform { every: u64, lo: f64, hi: f64 },
    /// One of these values, equally likely.
    OneOf(&'static [f64]),
    /// One of these words, equally likely.
    Words(&'static [&'static str]),
    /// `null`, one weight uniform in `[lo, hi)`, or one such weight per class, equally likely.
    ClassWeights { lo: f64, hi: f64 },
    /// With two classes, `null` one time in `every`, else uniform in `[lo, hi)`; with more,
    /// `null` (a pair of class weights: the original's `beta`).
    PairWeightOrNull { every: u64, lo: f64, hi: f64 },
    /// `null` (the default set) or, with more than two classes, one time in `every` the last
    /// class only.
    LastClassOrNull { every: u64 },
}

/// A function as one convention defines it.
#[derive(Clone, Copy, Debug)]
pub struct Signature {
    pub convention: Convention,
    /// The name the convention's implementation uses (a MONAI class name, say).
    pub reference_name: &'static str,
    pub params: &'static [ParamSpec],
    /// Where it is checked beyond its own evaluator.
    pub coverage: Coverage,
}

/// Whether one kind of check covers a (function, convention), or why it does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checked {
    Yes,
    No(&'static str),
}

/// The special-case property that relates a (function, convention) to others: the name of a
/// test of `tests/special_cases.rs`, or why there is none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecialCase {
    Property(&'static str),
    None(&'static str),
}

/// Where a (function, convention) is checked beyond its own evaluator (which the derivative
/// witnesses and the fuzz targets run for every one of them). Each statement is held against
/// the crate by `tests/coverage.rs`, both ways: a check stated but absent fails, and so does a
/// check present but stated absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coverage {
    /// Recorded outputs of the reference implementation in `fixtures/`.
    pub fixtures: Checked,
    /// Answered by the fast path (`engine::fast`) for some case of the default set.
    pub fast_path: Checked,
    /// Implemented by the test backends (`tests/backends/`) that the harness tests run correct
    /// and with planted bugs.
    pub test_backends: Checked,
    /// Related to other functions by a property (`tests/special_cases.rs`).
    pub special_case: SpecialCase,
}

/// A function of the family.
#[derive(Clone, Copy, Debug)]
pub struct FunctionSpec {
    pub id: FunctionId,
    pub name: &'static str,
    pub summary: &'static str,
    pub signatures: &'static [Signature],
}

impl FunctionSpec {
    pub fn signature(&self, convention: Convention) -> Option<&'static Signature> {
        self.signatures.iter().find(|s| s.convention == convention)
    }

    pub fn conventions(&self) -> impl Iterator<Item = Convention> + '_ {
        self.signatures.iter().map(|s| s.convention)
    }
}

const fn real(
    name: &'static str,
    default: f64,
    range: Range,
    doc: &'static str,
    sample: Sample,
) -> ParamSpec {
    ParamSpec {
        name,
        kind: Kind::Real,
        default: Default::Real(default),
        range,
        doc,
        sample,
    }
}

const fn real_or_null(
    name: &'static str,
    default: Default,
    range: Range,
    doc: &'static str,
    sample: Sample,
) -> ParamSpec {
    ParamSpec {
        name,
        kind: Kind::RealOrNull,
        default,
        range,
        doc,
        sample,
    }
}

const fn choice(
    name: &'static str,
    words: &'static [&'static str],
    doc: &'static str,
) -> ParamSpec {
    ParamSpec {
        name,
        kind: Kind::Choice(words),
        default: Default::Word(words[0]),
        range: Range::UNIT,
        doc,
        sample: Sample::Words(words),
    }
}

const DELTA_DOC: &str =
    "weight of false negatives in the Tversky index (and of the rare classes in the focal part)";
const SMOOTH_DOC: &str =
    "smoothing constant added to the numerator and denominator of the Tversky index";
const GAMMA_FOCAL_DOC: &str = "focal exponent";
const WEIGHT_DOC: &str =
    "λ; in `original` it multiplies the focal Tversky part (null: plain sum of both parts)";

/// δ away from the degenerate ends (δ = 0 or 1 drops a class's false positives or negatives:
/// the edge cases cover those).
const DELTA_DRAW: Sample = Sample::Uniform(0.05, 0.95);
/// γ below 0.95, where the focal Tversky power `(1-TI)^(1-γ)` keeps a finite slope at
/// `TI = 1` (a focal part's γ is drawn alike: the unified losses share one γ).
const GAMMA_DRAW: Sample = Sample::Uniform(0.0, 0.95);
/// A weight between two parts, anywhere in `[0, 1]`.
const WEIGHT_DRAW: Sample = Sample::Uniform(0.0, 1.0);
/// The original's smoothing: its default, or a large value that dominates an empty class.
const SMOOTH_DRAW: Sample = Sample::OneOf(&[1e-6, 1.0]);
/// A clip bound and smoothing: the default or a hundred times it.
const EPSILON_DRAW: Sample = Sample::OneOf(&[MONAI_DEFAULT_EPSILON, 1e-5]);

// ---- original -----------------------------------------------------------------------------
const O_DICE: &[ParamSpec] = &[
    real("delta", 0.5, Range::UNIT, DELTA_DOC, DELTA_DRAW),
    real("smooth", 1e-6, Range::NON_NEGATIVE, SMOOTH_DOC, SMOOTH_DRAW),
];
const O_TVERSKY: &[ParamSpec] = &[
    real("delta", 0.7, Range::UNIT, DELTA_DOC, DELTA_DRAW),
    real("smooth", 1e-6, Range::NON_NEGATIVE, SMOOTH_DOC, SMOOTH_DRAW),
];
const O_COMBO: &[ParamSpec] = &[
    real_or_null(
        "alpha",
        Default::Real(0.5),
        Range::UNIT,
        "weight of the cross-entropy term; the Dice term gets 1-alpha (null: CE - Dice)",
        Sample::NullOrUniform { every: 4, lo: 0.0, hi: 1.0 },
    ),
    real_or_null(
        "beta",
        Default::Real(0.5),
        Range::UNIT,
        "class weights [beta, 1-beta] on the cross entropy; beta goes to class 0 (null: no weights)",
        Sample::PairWeightOrNull { every: 3, lo: 0.05, hi: 0.95 },
    ),
];
const O_FOCAL_TVERSKY: &[ParamSpec] = &[
    real("delta", 0.7, Range::UNIT, DELTA_DOC, DELTA_DRAW),
    real(
        "gamma",
        0.75,
        Range::NON_NEGATIVE,
        "exponent applied to 1 - TI",
        Sample::Uniform(0.0, 1.9),
    ),
    real("smooth", 1e-6, Range::NON_NEGATIVE, SMOOTH_DOC, SMOOTH_DRAW),
];
const O_FOCAL: &[ParamSpec] = &[
    ParamSpec {
        name: "alpha",
        kind: Kind::RealOrListOrNull,
        default: Default::Null,
        range: Range::NON_NEGATIVE,
        doc: "class weights (scalar or per-class list), rounded to float32 as the original does (null: 1)",
        sample: Sample::ClassWeights { lo: 0.25, hi: 0.75 },
    },
    real(
        "gamma_f",
        2.0,
        Range::NON_NEGATIVE,
        GAMMA_FOCAL_DOC,
        Sample::Uniform(0.0, 2.85),
    ),
];
const O_FOCAL_PART: &[ParamSpec] = &[
    real("delta", 0.7, Range::UNIT, DELTA_DOC, DELTA_DRAW),
    real(
        "gamma",
        2.0,
        Range::NON_NEGATIVE,
        GAMMA_FOCAL_DOC,
        Sample::Uniform(0.0, 0.95),
    ),
];
const O_TVERSKY_PART: &[ParamSpec] = &[
    real("delta", 0.7, Range::UNIT, DELTA_DOC, DELTA_DRAW),
    real(
        "gamma",
        0.75,
        Range::NON_NEGATIVE,
        "focal exponent; each term is (1-TI)·(1-TI)^(-gamma)",
        GAMMA_DRAW,
    ),
];
const O_UNIFIED: &[ParamSpec] = &[
    real_or_null(
        "weight",
        Default::Real(0.5),
        Range::UNIT,
        WEIGHT_DOC,
        Sample::NullOrUniform {
            every: 5,
            lo: 0.0,
            hi: 1.0,
        },
    ),
    real("delta", 0.6, Range::UNIT, DELTA_DOC, DELTA_DRAW),
    real(
        "gamma",
        0.5,
        Range::NON_NEGATIVE,
        "focal exponent shared by both parts",
        GAMMA_DRAW,
    ),
];

// ---- clip constants ---------------------------------------------------------------------------

/// `K.epsilon()`, Keras' fuzz factor: the original code's clip bounds `[ε, 1-ε]` and the
/// smoothing of its Tversky parts, which none of its functions lets a caller change.
pub const KERAS_EPSILON: f64 = 1e-7;
/// The default of `paper`'s `eps` (its clip bound): the original code's value.
pub const PAPER_DEFAULT_EPS: f64 = 1e-7;
/// MONAI 1.6.1's default `epsilon` of `AsymmetricFocalLoss` and `AsymmetricFocalTverskyLoss`;
/// `AsymmetricUnifiedFocalLoss` builds both with it and has no `epsilon` of its own.
pub const MONAI_DEFAULT_EPSILON: f64 = 1e-7;

// ---- paper --------------------------------------------------------------------------------
const P_EPS: ParamSpec = real(
    "eps",
    PAPER_DEFAULT_EPS,
    Range::CLIP_EPS,
    "clip bound and Tversky smoothing",
    EPSILON_DRAW,
);
const P_RARE: ParamSpec = ParamSpec {
    name: "rare_classes",
    kind: Kind::ClassesOrNull,
    default: Default::Null,
    range: Range::INDEX,
    doc: "the rare (foreground) classes R (null: every class but 0)",
    sample: Sample::LastClassOrNull { every: 3 },
};
const P_INPUT: ParamSpec = choice(
    "input",
    &["probabilities", "logits"],
    "probabilities, or logits with softmax (C ≥ 2) or sigmoid (C = 1) fused in",
);
const P_REDUCTION: ParamSpec = choice(
    "reduction",
    &["mean", "sum", "none", "none-per-class"],
    "over the batch: mean, sum, none (one value per item) or none-per-class (per item and class)",
);
const P_REGION: ParamSpec = choice(
    "region",
    &["class-sum", "class-mean"],
    "how the focal Tversky terms of the classes combine: the paper's sum, or a mean",
);
const P_FOCAL: &[ParamSpec] = &[
    real("delta", 0.6, Range::UNIT, DELTA_DOC, DELTA_DRAW),
    real(
        "gamma",
        0.5,
        Range::NON_NEGATIVE,
        GAMMA_FOCAL_DOC,
        GAMMA_DRAW,
    ),
    P_EPS,
    P_RARE,
    P_INPUT,
    P_REDUCTION,
];
const P_TVERSKY: &[ParamSpec] = &[
    real("delta", 0.6, Range::UNIT, DELTA_DOC, DELTA_DRAW),
    real(
        "gamma",
        0.5,
        Range::UNIT_HALF_OPEN,
        "focal exponent: terms are (1-mTI)^(1-gamma)",
        GAMMA_DRAW,
    ),
    P_EPS,
    P_RARE,
    P_INPUT,
    P_REDUCTION,
    P_REGION,
];
const P_UNIFIED: &[ParamSpec] = &[
    real(
        "lambda",
        0.5,
        Range::UNIT,
        "λ: weight of the focal part; the focal Tversky part gets 1-λ",
        WEIGHT_DRAW,
    ),
    real("delta", 0.6, Range::UNIT, DELTA_DOC, DELTA_DRAW),
    real(
        "gamma",
        0.5,
        Range::UNIT_HALF_OPEN,
        "focal exponent shared by both parts",
        GAMMA_DRAW,
    ),
    P_EPS,
    P_RARE,
    P_INPUT,
    P_REDUCTION,
    P_REGION,
];

// ---- monai --------------------------------------------------------------------------------
const M_ONEHOT: ParamSpec = ParamSpec {
    name: "to_onehot_y",
    kind: Kind::Bool,
    default: Default::Bool(false),
    range: Range::UNIT,
    doc: "convert a class-index target (B, 1, ...) to one-hot",
    sample: Sample::Default(
        "generated targets are one-hot in the prediction's shape; the edge cases and the \
         fixtures give class indices",
    ),
};
const M_EPSILON: ParamSpec = real(
    "epsilon",
    MONAI_DEFAULT_EPSILON,
    Range::CLIP_EPS,
    "clamp bound and Tversky smoothing",
    EPSILON_DRAW,
);
const M_REDUCTION: ParamSpec = choice("reduction", &["mean", "sum", "none"], "mean, sum or none");
const M_IGNORE: ParamSpec = ParamSpec {
    name: "ignore_index",
    kind: Kind::IntOrNull,
    default: Default::Null,
    range: Range::INDEX,
    doc: "label (or sentinel value) whose voxels are excluded",
    sample: Sample::Default(
        "generated targets label every voxel; the edge cases and the fixtures mask some",
    ),
};
const M_FOCAL: &[ParamSpec] = &[
    M_ONEHOT,
    real("delta", 0.7, Range::UNIT, DELTA_DOC, DELTA_DRAW),
    real(
        "gamma",
        2.0,
        Range::NON_NEGATIVE,
        GAMMA_FOCAL_DOC,
        GAMMA_DRAW,
    ),
    M_EPSILON,
    M_REDUCTION,
    M_IGNORE,
];
const M_TVERSKY: &[ParamSpec] = &[
    M_ONEHOT,
    real("delta", 0.7, Range::UNIT, DELTA_DOC, DELTA_DRAW),
    real(
        "gamma",
        0.75,
        Range::NON_NEGATIVE,
        "focal exponent: the foreground term is (1-TI)^(1-gamma)",
        GAMMA_DRAW,
    ),
    M_EPSILON,
    M_REDUCTION,
    M_IGNORE,
];
const M_UNIFIED: &[ParamSpec] = &[
    M_ONEHOT,
    ParamSpec {
        name: "num_classes",
        kind: Kind::Int,
        default: Default::Int(2),
        range: Range::CLASS_COUNT,
        doc: "classes of the one-hot conversion and of the class-index check",
        sample: Sample::Default(
            "only the one-hot conversion and the class-index check read it, and generated \
             targets are one-hot",
        ),
    },
    real(
        "weight",
        0.5,
        Range::UNIT,
        "multiplies the focal part; the focal Tversky part gets 1-weight",
        WEIGHT_DRAW,
    ),
    real(
        "gamma",
        0.5,
        Range::NON_NEGATIVE,
        "focal exponent shared by both parts",
        GAMMA_DRAW,
    ),
    real("delta", 0.7, Range::UNIT, DELTA_DOC, DELTA_DRAW),
    ParamSpec {
        doc: "accepted and ignored, as MONAI does: the output is always the mean",
        ..M_REDUCTION
    },
    M_IGNORE,
];

const fn original(
    name: &'static str,
    params: &'static [ParamSpec],
    coverage: Coverage,
) -> Signature {
    Signature {
        convention: Convention::Original,
        reference_name: name,
        params,
        coverage,
    }
}
const fn paper(params: &'static [ParamSpec], coverage: Coverage) -> Signature {
    Signature {
        convention: Convention::Paper,
        reference_name: "",
        params,
        coverage,
    }
}
const fn monai(class: &'static str, params: &'static [ParamSpec], coverage: Coverage) -> Signature {
    Signature {
        convention: Convention::Monai,
        reference_name: class,
        params,
        coverage,
    }
}

// ---- coverage -------------------------------------------------------------------------------
const NO_PAPER_FIXTURES: Checked = Checked::No(
    "`paper` is the equations, not a shipped implementation: there is nothing to record; the \
     special-case properties tie it to `original`",
);
const COMBO_NOT_ON_THE_FAST_PATH: Checked = Checked::No(
    "its Dice term reads the unclipped prediction and its cross entropy the clipped one, where \
     the fused passes clip each element once; the generic evaluator answers it",
);
const FOCAL_NOT_ON_THE_FAST_PATH: Checked = Checked::No(
    "its class weights are broadcast against the last axis as NumPy broadcasts them, column by \
     column, where the fused passes weight each class once; the generic evaluator answers it",
);
const NOT_IN_THE_TEST_BACKENDS: Checked = Checked::No(
    "outside the unified family the test backends implement (the focal, focal Tversky and \
     unified losses and the Dice and Tversky losses they generalise)",
);
const ORIGINAL_RELATIONS: SpecialCase =
    SpecialCase::Property("relations_in_the_original_convention");
const FIGURE_1: SpecialCase = SpecialCase::Property("figure_1_in_the_paper_convention");
const MONAI_AS_ORIGINAL: SpecialCase =
    SpecialCase::Property("monai_is_the_original_with_weight_moved_and_focal_halved");

/// Recorded, fast, in the test backends, related.
const ORIGINAL_EVERYWHERE: Coverage = Coverage {
    fixtures: Checked::Yes,
    fast_path: Checked::Yes,
    test_backends: Checked::Yes,
    special_case: ORIGINAL_RELATIONS,
};
/// A part of the unified loss in `original`.
const ORIGINAL_PART: Coverage = ORIGINAL_EVERYWHERE;
/// A part of the unified loss in `paper`.
const PAPER_PART: Coverage = Coverage {
    fixtures: NO_PAPER_FIXTURES,
    fast_path: Checked::Yes,
    test_backends: Checked::Yes,
    special_case: FIGURE_1,
};
/// A part of the unified loss in `monai`.
const MONAI_PART: Coverage = Coverage {
    fixtures: Checked::Yes,
    fast_path: Checked::Yes,
    test_backends: Checked::Yes,
    special_case: MONAI_AS_ORIGINAL,
};

/// Every function of the family.
pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        id: FunctionId::DiceLoss,
        name: "dice_loss",
        summary: "mean over items and classes of 1 - TI(delta, smooth), unclipped",
        signatures: &[original("dice_loss", O_DICE, ORIGINAL_EVERYWHERE)],
    },
    FunctionSpec {
        id: FunctionId::TverskyLoss,
        name: "tversky_loss",
        summary: "dice_loss with delta = 0.7 by default",
        signatures: &[original("tversky_loss", O_TVERSKY, ORIGINAL_EVERYWHERE)],
    },
    FunctionSpec {
        id: FunctionId::DiceCoefficient,
        name: "dice_coefficient",
        summary: "mean over items and classes of TI(delta, smooth), unclipped",
        signatures: &[original(
            "dice_coefficient",
            O_DICE,
            Coverage {
                test_backends: NOT_IN_THE_TEST_BACKENDS,
                special_case: SpecialCase::None(
                    "the paper defines none; `ranges_and_signs` checks that it lies in [0, 1]",
                ),
                ..ORIGINAL_EVERYWHERE
            },
        )],
    },
    FunctionSpec {
        id: FunctionId::ComboLoss,
        name: "combo_loss",
        summary: "alpha·weighted CE - (1-alpha)·dice_coefficient()",
        signatures: &[original(
            "combo_loss",
            O_COMBO,
            Coverage {
                fast_path: COMBO_NOT_ON_THE_FAST_PATH,
                test_backends: NOT_IN_THE_TEST_BACKENDS,
                ..ORIGINAL_EVERYWHERE
            },
        )],
    },
    FunctionSpec {
        id: FunctionId::FocalTverskyLoss,
        name: "focal_tversky_loss",
        summary: "mean over items and classes of (1 - TI)^gamma, clipped",
        signatures: &[original(
            "focal_tversky_loss",
            O_FOCAL_TVERSKY,
            ORIGINAL_EVERYWHERE,
        )],
    },
    FunctionSpec {
        id: FunctionId::FocalLoss,
        name: "focal_loss",
        summary: "mean over positions of the class sum of alpha·(1-q)^gamma_f·CE",
        signatures: &[original(
            "focal_loss",
            O_FOCAL,
            Coverage {
                fast_path: FOCAL_NOT_ON_THE_FAST_PATH,
                test_backends: NOT_IN_THE_TEST_BACKENDS,
                ..ORIGINAL_EVERYWHERE
            },
        )],
    },
    FunctionSpec {
        id: FunctionId::SymmetricFocalLoss,
        name: "symmetric_focal_loss",
        summary:
            "focal loss with (1-delta) on background and delta on rare classes, both modulated",
        signatures: &[
            original("symmetric_focal_loss", O_FOCAL_PART, ORIGINAL_PART),
            paper(P_FOCAL, PAPER_PART),
        ],
    },
    FunctionSpec {
        id: FunctionId::AsymmetricFocalLoss,
        name: "asymmetric_focal_loss",
        summary: "as symmetric_focal_loss, without the focal factor on rare classes",
        signatures: &[
            original("asymmetric_focal_loss", O_FOCAL_PART, ORIGINAL_PART),
            paper(P_FOCAL, PAPER_PART),
            monai("AsymmetricFocalLoss", M_FOCAL, MONAI_PART),
        ],
    },
    FunctionSpec {
        id: FunctionId::SymmetricFocalTverskyLoss,
        name: "symmetric_focal_tversky_loss",
        summary: "(1 - TI)^(1-gamma) for every class",
        signatures: &[
            original(
                "symmetric_focal_tversky_loss",
                O_TVERSKY_PART,
                ORIGINAL_PART,
            ),
            paper(P_TVERSKY, PAPER_PART),
        ],
    },
    FunctionSpec {
        id: FunctionId::AsymmetricFocalTverskyLoss,
        name: "asymmetric_focal_tversky_loss",
        summary: "1 - TI for background, (1 - TI)^(1-gamma) for rare classes",
        signatures: &[
            original(
                "asymmetric_focal_tversky_loss",
                O_TVERSKY_PART,
                ORIGINAL_PART,
            ),
            paper(P_TVERSKY, PAPER_PART),
            monai("AsymmetricFocalTverskyLoss", M_TVERSKY, MONAI_PART),
        ],
    },
    FunctionSpec {
        id: FunctionId::SymUnifiedFocalLoss,
        name: "sym_unified_focal_loss",
        summary: "symmetric Unified Focal loss: focal and focal Tversky parts, weighted",
        signatures: &[
            original("sym_unified_focal_loss", O_UNIFIED, ORIGINAL_EVERYWHERE),
            paper(
                P_UNIFIED,
                Coverage {
                    fast_path: Checked::Yes,
                    ..PAPER_PART
                },
            ),
        ],
    },
    FunctionSpec {
        id: FunctionId::AsymUnifiedFocalLoss,
        name: "asym_unified_focal_loss",
        summary: "asymmetric Unified Focal loss: focal and focal Tversky parts, weighted",
        signatures: &[
            original("asym_unified_focal_loss", O_UNIFIED, ORIGINAL_EVERYWHERE),
            paper(
                P_UNIFIED,
                Coverage {
                    fast_path: Checked::Yes,
                    ..PAPER_PART
                },
            ),
            monai(
                "AsymmetricUnifiedFocalLoss",
                M_UNIFIED,
                Coverage {
                    fast_path: Checked::Yes,
                    ..MONAI_PART
                },
            ),
        ],
    },
];

impl FunctionId {
    pub fn spec(self) -> &'static FunctionSpec {
        // FUNCTIONS lists every variant once, in declaration order (tested below).
        &FUNCTIONS[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }
}

impl fmt::Display for FunctionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FunctionId {
    type Err = UflError;
    fn from_str(s: &str) -> Result<Self, UflError> {
        FUNCTIONS
            .iter()
            .find(|f| f.name == s)
            .map(|f| f.id)
            .ok_or_else(|| UflError::UnknownFunction(s.to_string()))
    }
}

/// Finds the function and convention a reference name stands for: a function name (any
/// convention) or a MONAI class name (the `monai` convention).
pub fn lookup_reference_name(name: &str) -> Option<(FunctionId, Option<Convention>)> {
    for f in FUNCTIONS {
        if f.name == name {
            return Some((f.id, None));
        }
        for s in f.signatures {
            if s.convention == Convention::Monai && s.reference_name == name {
                return Some((f.id, Some(Convention::Monai)));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_indexed_by_id_and_names_are_unique() {
        for (i, f) in FUNCTIONS.iter().enumerate() {
            assert_eq!(f.id as usize, i, "{} out of order", f.name);
            assert_eq!(f.name.parse::<FunctionId>().unwrap(), f.id);
            let mut names: Vec<_> = f
                .signatures
                .iter()
                .flat_map(|s| s.params.iter().map(move |p| (s.convention, p.name)))
                .collect();
            let n = names.len();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), n, "duplicate parameter in {}", f.name);
        }
        assert_eq!(FUNCTIONS.len(), 12);
    }

    #[test]
    fn every_default_is_in_its_range() {
        for f in FUNCTIONS {
            for s in f.signatures {
                for p in s.params {
                    match (p.kind, p.default) {
                        (Kind::Real | Kind::RealOrNull, Default::Real(x)) => {
                            assert!(p.range.contains(x), "{}.{}", f.name, p.name)
                        }
                        (Kind::Choice(words), Default::Word(w)) => assert!(words.contains(&w)),
                        (Kind::Int, Default::Int(i)) => assert!(p.range.contains(i as f64)),
                        (_, Default::Null) => assert!(matches!(
                            p.kind,
                            Kind::RealOrNull
                                | Kind::RealOrListOrNull
                                | Kind::IntOrNull
                                | Kind::ClassesOrNull
                        )),
                        (Kind::Bool, Default::Bool(_)) => {}
                        other => panic!(
                            "{}.{}: default {other:?} does not fit its kind",
                            f.name, p.name
                        ),
                    }
                }
            }
        }
    }

    #[test]
    fn monai_class_names_resolve() {
        assert_eq!(
            lookup_reference_name("AsymmetricUnifiedFocalLoss"),
            Some((FunctionId::AsymUnifiedFocalLoss, Some(Convention::Monai)))
        );
        assert_eq!(
            lookup_reference_name("dice_loss"),
            Some((FunctionId::DiceLoss, None))
        );
        assert_eq!(lookup_reference_name("nope"), None);
    }
}
