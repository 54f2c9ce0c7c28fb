//! The kernels' algorithm, replayed on the host (`ufl_cuda::mirror`), against the oracle: every
//! case of the default set within the oracle's float32 tolerance. This runs on any machine and
//! checks what does not depend on the device — the expressions, their order, the partition of
//! the sums and the summation tree — so that a GPU run has only the device itself left to show.

mod common;

use common::{arrays32, cases, compare, large_cases, reference, report};
use ufl_cuda::mirror::replay;
use ufl_cuda::Spec;

#[test]
fn the_replayed_kernels_match_the_oracle_on_every_case() {
    let mut failed = Vec::new();
    for case in cases() {
        let spec = Spec::from_problem(&case.problem).unwrap();
        let (pred, target) = arrays32(&case.problem);
        let r = replay(&spec, &pred, &target);
        let c = compare(&reference(&case.problem), &r.loss, &r.grad);
        report(&format!("mirror {:<36} {}", case.name, c.summary()));
        if !c.passed() {
            failed.push(format!("{}: {:?}", case.name, c.failures));
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn the_replayed_kernels_match_the_oracle_on_the_large_volumes() {
    for case in large_cases() {
        let spec = Spec::from_problem(&case.problem).unwrap();
        let (pred, target) = arrays32(&case.problem);
        let r = replay(&spec, &pred, &target);
        let c = compare(&reference(&case.problem), &r.loss, &r.grad);
        report(&format!("mirror {:<36} {}", case.name, c.summary()));
        assert!(c.passed(), "{}: {:?}", case.name, c.failures);
    }
}

/// The comparison has teeth: the same algorithm with δ off by 1e-3, or the Tversky smoothing
/// 1e-6 instead of 1e-7, is caught on every case where the change matters.
#[test]
fn planted_bugs_are_caught() {
    let mut caught = 0;
    let mut total = 0;
    for case in cases() {
        let reference = reference(&case.problem);
        let (pred, target) = arrays32(&case.problem);
        let mut spec = Spec::from_problem(&case.problem).unwrap();
        spec.scalars.delta += 1e-3;
        let r = replay(&spec, &pred, &target);
        total += 1;
        if !compare(&reference, &r.loss, &r.grad).passed() {
            caught += 1;
        }
    }
    assert_eq!(caught, total, "δ + 1e-3 went unnoticed in some case");

    // The smoothing only matters where TP is small: a case with a nearly absent class.
    let case = cases()
        .into_iter()
        .find(|c| c.name == "p-asym-unified-bounds-default")
        .unwrap();
    let reference = reference(&case.problem);
    let (pred, target) = arrays32(&case.problem);
    let mut spec = Spec::from_problem(&case.problem).unwrap();
    let honest = replay(&spec, &pred, &target);
    assert!(compare(&reference, &honest.loss, &honest.grad).passed());
    spec.scalars.smooth = 1e-6;
    let mut zeroed_target = target.clone();
    let mut pred = pred;
    // Remove class 1 from item 0 and predict it nowhere (on the lower clip bound), so that its
    // TP is 0, its FP tiny, and the smoothing dominates its Tversky index.
    let n = spec.geometry.spatial as usize;
    let (lo, hi) = ufl_oracle::Dtype::F32.clip_bounds(1e-7);
    for s in 0..n {
        zeroed_target[s * 2 + 1] = 0.0;
        zeroed_target[s * 2] = 1.0;
        pred[s * 2 + 1] = lo as f32;
        pred[s * 2] = hi as f32;
    }
    let mut problem = case.problem.clone();
    problem.target.data = zeroed_target.iter().map(|&x| x as f64).collect();
    problem.pred.data = pred.iter().map(|&x| x as f64).collect();
    let reference = common::reference(&problem);
    let honest_spec = Spec::from_problem(&problem).unwrap();
    let honest = replay(&honest_spec, &pred, &zeroed_target);
    assert!(
        compare(&reference, &honest.loss, &honest.grad).passed(),
        "the honest kernels pass these inputs"
    );
    let planted = replay(&spec, &pred, &zeroed_target);
    assert!(!compare(&reference, &planted.loss, &planted.grad).passed());
}
