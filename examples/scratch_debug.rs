use params::ParamValue as V;
use ufl_oracle::*;
fn main() {
    let mut params = params::Params::new();
    params.insert("delta".into(), V::Number(1e-12));
    params.insert("ignore_index".into(), V::Number(3.0));
    params.insert("num_classes".into(), V::Number(2.0));
    params.insert("reduction".into(), V::Text("none".into()));
    params.insert("to_onehot_y".into(), V::Bool(false));
    params.insert("weight".into(), V::Number(1.0));
    let pred = tensor::Tensor {
        shape: vec![1, 2, 3, 1],
        data: vec![
            0.9999998807907104,
            0.6784313917160034,
            0.9999998807907104,
            0.9999998807907104,
            0.9999998807907104,
            0.9999998807907104,
        ],
    };
    let target = tensor::Tensor {
        shape: vec![1, 2, 3, 1],
        data: vec![1.0; 6],
    };
    let p = eval::Problem::named(
        "asym_unified_focal_loss",
        "monai",
        params,
        pred,
        target,
        tensor::Layout::ChannelsFirst,
        tensor::Dtype::F32,
    )
    .unwrap();
    let b = p.evaluate_in::<bound::F64Bound>(true).unwrap();
    println!("{:?}", b);
    println!("f64 general {:?}", p.evaluate_in::<f64>(true).unwrap());
}
