//! Inputs the oracle refuses: each gets a typed error naming the problem, never a panic, and
//! the reference implementations' own errors come back as the errors standing for them.

mod common;

use common::{default_problem, num, params, word};
use ufl_oracle::{
    Convention, Dtype, FunctionId, Layout, ParamValue, Params, Problem, Tensor, UflError,
};

fn base(function: FunctionId, convention: Convention, shape: &[usize], layout: Layout) -> Problem {
    default_problem(function, convention, shape, layout, 3)
}

fn orig(shape: &[usize]) -> Problem {
    base(
        FunctionId::AsymUnifiedFocalLoss,
        Convention::Original,
        shape,
        Layout::ChannelsLast,
    )
}

fn err(p: &Problem) -> UflError {
    match p.evaluate() {
        Err(e) => e,
        Ok(v) => panic!("expected a refusal, got loss {:?}", v.loss),
    }
}

#[test]
fn non_finite_and_out_of_range_values() {
    let mut p = orig(&[1, 3, 3, 2]);
    p.pred.data[4] = f64::NAN;
    assert!(matches!(
        err(&p),
        UflError::NonFinite {
            what: "prediction",
            index: 4,
            ..
        }
    ));
    let mut p = orig(&[1, 3, 3, 2]);
    p.target.data[0] = f64::INFINITY;
    assert!(matches!(
        err(&p),
        UflError::NonFinite { what: "target", .. }
    ));
    let mut p = orig(&[1, 3, 3, 2]);
    p.pred.data[1] = 1.5;
    assert!(matches!(
        err(&p),
        UflError::OutsideUnitInterval {
            what: "prediction",
            index: 1,
            ..
        }
    ));
    let mut p = orig(&[1, 3, 3, 2]);
    p.target.data[2] = -0.5;
    assert!(matches!(
        err(&p),
        UflError::OutsideUnitInterval { what: "target", .. }
    ));
    let mut p = orig(&[1, 3, 3, 2]);
    p.dtype = Dtype::F32;
    p.pred.data[0] = 0.1; // not a float32 value
    assert!(matches!(err(&p), UflError::NotRepresentable { .. }));
}

#[test]
fn shapes() {
    let mut p = orig(&[1, 3, 3, 2]);
    p.target = Tensor::new("target", vec![1, 3, 2, 3], p.target.data.clone()).unwrap();
    assert!(matches!(err(&p), UflError::ShapeMismatch { .. }));
    let p = orig(&[2, 8, 2]);
    assert_eq!(err(&p), UflError::OriginalRank { rank: 3 });
    let mut p = orig(&[1, 3, 3, 2]);
    p.pred = Tensor::new("prediction", vec![1, 0, 3, 2], vec![]).unwrap();
    p.target = p.pred.clone();
    assert!(matches!(err(&p), UflError::EmptyAxis { axis: 1, .. }));
    assert!(matches!(
        Tensor::new("x", vec![1 << 40, 1 << 40], vec![]),
        Err(UflError::TooLarge { .. })
    ));
    for (convention, layout) in [
        (Convention::Paper, Layout::ChannelsFirst),
        (Convention::Monai, Layout::ChannelsLast),
        (Convention::Original, Layout::ChannelsFirst),
    ] {
        let x = Tensor::new("prediction", vec![4], vec![0.5; 4]).unwrap();
        let p = Problem {
            function: FunctionId::AsymUnifiedFocalLoss,
            convention,
            params: Params::new(),
            pred: x.clone(),
            target: x,
            layout,
            dtype: Dtype::F64,
        };
        let e = err(&p);
        assert!(
            matches!(
                e,
                UflError::InvalidRank { .. }
                    | UflError::MonaiRank { .. }
                    | UflError::OriginalRank { rank: 1 }
            ),
            "{e}"
        );
    }
}

#[test]
fn parameters() {
    let mut p = orig(&[1, 3, 3, 2]);
    p.params = params(&[("delta", num(-0.1))]);
    assert!(matches!(err(&p), UflError::InvalidParameter { .. }));
    p.params = params(&[("weight", word("half"))]);
    assert!(matches!(err(&p), UflError::InvalidParameter { .. }));
    p.params = params(&[("lambda", num(0.5))]);
    assert!(matches!(err(&p), UflError::UnknownParameter { .. }));
    let mut q = base(
        FunctionId::AsymUnifiedFocalLoss,
        Convention::Paper,
        &[1, 3, 3, 3],
        Layout::ChannelsFirst,
    );
    q.params = params(&[("rare_classes", ParamValue::List(vec![3.0]))]);
    assert!(matches!(err(&q), UflError::InvalidParameter { .. }));
    q.params = params(&[("gamma", num(1.0))]);
    assert!(
        matches!(err(&q), UflError::InvalidParameter { .. }),
        "the paper's region power needs γ < 1"
    );
    q.params = params(&[("reduction", word("median"))]);
    assert!(matches!(err(&q), UflError::InvalidParameter { .. }));
    let mut r = orig(&[1, 3, 3, 2]);
    r.function = FunctionId::DiceLoss;
    r.convention = Convention::Monai;
    assert!(matches!(err(&r), UflError::UnsupportedConvention { .. }));
    assert!(matches!(
        "focal".parse::<FunctionId>(),
        Err(UflError::UnknownFunction(_))
    ));
    assert!(matches!(
        "keras".parse::<Convention>(),
        Err(UflError::UnknownConvention(_))
    ));
}

#[test]
fn the_originals_errors() {
    // Depth 1: the focal part's [:, :, :, 1] on axis 3.
    let p = orig(&[1, 4, 4, 1, 2]);
    assert_eq!(
        err(&p),
        UflError::OriginalSliceOutOfBounds {
            index: 1,
            dimension: 3,
            size: 1
        }
    );
    // One class: the Tversky part's dice_class[:, 1].
    let p = orig(&[1, 4, 4, 1]);
    assert_eq!(
        err(&p),
        UflError::OriginalSliceOutOfBounds {
            index: 1,
            dimension: 1,
            size: 1
        }
    );
    // combo_loss with beta and three classes.
    let mut p = orig(&[2, 6, 6, 3]);
    p.function = FunctionId::ComboLoss;
    assert_eq!(
        err(&p),
        UflError::OriginalIncompatibleWeights {
            weights: 2,
            shape: vec![2, 6, 6, 3]
        }
    );
    // ... but null beta works for any class count, and one channel broadcasts.
    p.params = params(&[("beta", ParamValue::Null)]);
    assert!(p.evaluate().is_ok());
    let mut p = orig(&[1, 4, 4, 1]);
    p.function = FunctionId::ComboLoss;
    assert!(p.evaluate().is_ok());
}

#[test]
fn monais_errors() {
    let monai =
        |function, shape: &[usize]| base(function, Convention::Monai, shape, Layout::ChannelsFirst);
    let p = monai(FunctionId::AsymUnifiedFocalLoss, &[2, 2, 8]);
    assert_eq!(
        err(&p),
        UflError::MonaiRank {
            shape: vec![2, 2, 8]
        }
    );
    let p = monai(FunctionId::AsymmetricFocalLoss, &[1, 1, 4, 4]);
    assert_eq!(err(&p), UflError::MonaiChannelIndex { size: 1 });
    // Class indices without to_onehot_y: a shape error.
    let mut p = monai(FunctionId::AsymmetricFocalTverskyLoss, &[1, 2, 4, 4]);
    p.target = Tensor::new("target", vec![1, 1, 4, 4], vec![0.0; 16]).unwrap();
    assert!(matches!(err(&p), UflError::MonaiShapeMismatch { .. }));
    // A label 2 with num_classes 2.
    let mut p = monai(FunctionId::AsymUnifiedFocalLoss, &[1, 3, 4, 4]);
    p.params = params(&[("to_onehot_y", ParamValue::Bool(true))]);
    let mut labels = vec![0.0; 16];
    labels[5] = 2.0;
    p.target = Tensor::new("target", vec![1, 1, 4, 4], labels.clone()).unwrap();
    assert_eq!(
        err(&p),
        UflError::MonaiOneHotOutOfRange {
            label: 2,
            classes: 2
        }
    );
    // A label that is not an integer.
    labels[5] = 0.5;
    p.target = Tensor::new("target", vec![1, 1, 4, 4], labels).unwrap();
    assert!(matches!(err(&p), UflError::NotAClassIndex { .. }));
    // One-hot to a single class: MONAI's class-index check fires before its shape check, and
    // with an ignore_index the shape check does.
    let mut p = monai(FunctionId::AsymUnifiedFocalLoss, &[1, 2, 4, 4]);
    p.params = params(&[
        ("to_onehot_y", ParamValue::Bool(true)),
        ("num_classes", num(1.0)),
    ]);
    p.target = Tensor::new("target", vec![1, 1, 4, 4], vec![0.0; 16]).unwrap();
    assert_eq!(err(&p), UflError::MonaiInvalidClassIndex { max_class: 0 });
    p.params.insert("ignore_index".into(), num(-1.0));
    assert!(matches!(err(&p), UflError::MonaiShapeMismatch { .. }));
    // A single-channel target holding 2.
    let mut p = monai(FunctionId::AsymUnifiedFocalLoss, &[1, 1, 4, 4]);
    p.target.data[3] = 2.0;
    assert_eq!(err(&p), UflError::MonaiInvalidClassIndex { max_class: 1 });
}

#[test]
fn every_error_message_names_its_subject() {
    let cases = [
        UflError::NonFinite {
            what: "prediction",
            index: 3,
            value: f64::NAN,
        },
        UflError::OriginalRank { rank: 3 },
        UflError::MonaiRank {
            shape: vec![2, 2, 8],
        },
        UflError::InvalidParameter {
            name: "delta".into(),
            value: "2".into(),
            reason: "must lie in [0, 1]".into(),
        },
    ];
    let expected = ["prediction[3]", "rank 3", "torch.Size([2, 2, 8])", "delta"];
    for (e, needle) in cases.iter().zip(expected) {
        assert!(e.to_string().contains(needle), "{e}");
    }
}
