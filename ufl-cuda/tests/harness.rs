//! ufl-cuda under the oracle's harness: every case of the default set (and, on a GPU, the two
//! large volumes), judged with the float32 tolerance model, failures explained.
//!
//! The host replay of the kernels' three passes (same float32 operations in the same order)
//! runs everywhere; the device runs where a CUDA driver, NVRTC and a GPU are found, and
//! otherwise reports `SKIPPED` with the reason (a failure with `UFL_CUDA_REQUIRE_GPU=1`).

use ufl_cuda::mirror::replay;
use ufl_cuda::{CudaBackend, CudaLossError, Spec};
use ufl_oracle::cases::{default_cases, large_cases, seed_from_env, Case};
use ufl_oracle::harness::{Harness, Response};
use ufl_oracle::tolerance::Declared;

/// A backend's refusal as the harness sees it: not covered → skip, refused → error.
fn refusal(e: CudaLossError) -> Response {
    match e {
        CudaLossError::Unsupported(u) => Response::Skip(u.to_string()),
        other => Response::Error(other.to_string()),
    }
}

fn host_replay(case: &Case) -> Response {
    let spec = match Spec::from_problem(&case.problem) {
        Ok(s) => s,
        Err(e) => return refusal(e),
    };
    let pred: Vec<f32> = case.problem.pred.data.iter().map(|&x| x as f32).collect();
    let target: Vec<f32> = case.problem.target.data.iter().map(|&x| x as f32).collect();
    let r = replay(&spec, &pred, &target);
    Response::from_f32(&r.loss, &r.grad)
}

#[test]
fn the_host_replay_of_the_kernels_passes_the_harness() {
    let report = Harness::new(default_cases(seed_from_env()), Declared::F32).run(host_replay);
    let t = report.tally();
    println!("host replay: {}", report.summary());
    assert!(
        t.passed > 200,
        "the kernels must cover a real part of the default set: {}",
        report.summary()
    );
    report.assert_ok();
}

#[test]
fn the_device_passes_the_harness_on_the_default_cases_and_the_large_volumes() {
    let gpu = match CudaBackend::new() {
        Ok(g) => g,
        Err(why) => {
            if std::env::var("UFL_CUDA_REQUIRE_GPU").is_ok_and(|v| v == "1") {
                panic!("a GPU is required (UFL_CUDA_REQUIRE_GPU=1) but {why}");
            }
            eprintln!("SKIPPED the_device_passes_the_harness_on_the_default_cases_and_the_large_volumes: {why}");
            return;
        }
    };
    let mut cases = default_cases(seed_from_env());
    cases.extend(large_cases());
    let report = Harness::new(cases, Declared::F32).run(|case| match gpu.evaluate(&case.problem) {
        Ok((loss, grad)) => Response::from_f32(&loss, &grad),
        Err(e) => refusal(e),
    });
    eprintln!("device {}: {}", gpu.device_name(), report.summary());
    let large_passed = report
        .results
        .iter()
        .filter(|r| {
            r.id.starts_with("large/")
                && matches!(r.verdict, ufl_oracle::harness::Verdict::Pass { .. })
        })
        .count();
    eprintln!("large volumes passed: {large_passed} of 2");
    report.assert_ok();
}
