//! The CUDA backend on a real device, checked by the oracle.
//!
//! Each test needs a CUDA driver, NVRTC and a device. Where any is missing it writes
//! `SKIPPED <test>: <why>` to stderr (past the harness's capture, so the skip is always seen)
//! and returns; with `UFL_CUDA_REQUIRE_GPU=1` in the environment a missing device fails the
//! test instead, so that a run meant for a GPU machine cannot pass without one.

mod common;

use common::{arrays32, cases, compare, large_cases, reference, report, Case};
use std::sync::OnceLock;
use ufl_cuda::mirror::replay;
use ufl_cuda::{CudaBackend, CudaLossError, Spec, Unsupported};
use ufl_oracle::{Dtype, Layout, Params, Problem, Tensor};

fn backend(test: &str) -> Option<&'static CudaBackend> {
    static BACKEND: OnceLock<Result<CudaBackend, String>> = OnceLock::new();
    match BACKEND.get_or_init(|| CudaBackend::new().map_err(|e| e.to_string())) {
        Ok(b) => {
            static ANNOUNCED: OnceLock<()> = OnceLock::new();
            ANNOUNCED.get_or_init(|| {
                report(&format!(
                    "device: {} (compute capability {}.{})",
                    b.device_name(),
                    b.compute_capability().0,
                    b.compute_capability().1
                ))
            });
            Some(b)
        }
        Err(why) => {
            if std::env::var("UFL_CUDA_REQUIRE_GPU").is_ok_and(|v| v == "1") {
                panic!("{test}: a GPU is required (UFL_CUDA_REQUIRE_GPU=1) but {why}");
            }
            report(&format!("SKIPPED {test}: {why}"));
            None
        }
    }
}

/// Runs `case` on the device and compares with the oracle; returns a report line or a failure.
fn check(gpu: &CudaBackend, case: &Case) -> Result<String, String> {
    let device = gpu
        .evaluate_detailed(&case.problem)
        .map_err(|e| format!("{}: {e}", case.name))?;
    let c = compare(&reference(&case.problem), &device.loss, &device.grad);
    // The host replay of the same kernels: the Tversky statistics (sums of products, no
    // library function) must be the same bits; the rest within the oracle's tolerance.
    let spec = Spec::from_problem(&case.problem).map_err(|e| e.to_string())?;
    let (pred, target) = arrays32(&case.problem);
    let host = replay(&spec, &pred, &target);
    let mut stats_equal = true;
    let mut focal_ulps = 0u32;
    for (i, (d, h)) in device.stats.iter().zip(&host.stats).enumerate() {
        if i % 4 == 3 {
            focal_ulps = focal_ulps.max(d.to_bits().abs_diff(h.to_bits()));
        } else if d.to_bits() != h.to_bits() {
            stats_equal = false;
        }
    }
    let line = format!(
        "gpu {:<36} {} | Tversky statistics {} the host replay, focal sums within {} ulp",
        case.name,
        c.summary(),
        if stats_equal { "equal" } else { "DIFFER from" },
        focal_ulps
    );
    if !c.passed() {
        return Err(format!("{line}\n    {:?}", c.failures));
    }
    if !stats_equal {
        return Err(line);
    }
    Ok(line)
}

#[test]
fn every_case_matches_the_oracle_within_its_float32_bound() {
    let Some(gpu) = backend("every_case_matches_the_oracle_within_its_float32_bound") else {
        return;
    };
    let mut failures = Vec::new();
    for case in cases() {
        match check(gpu, &case) {
            Ok(line) => report(&line),
            Err(line) => {
                report(&line);
                failures.push(line);
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn large_volumes_match_the_oracle() {
    let Some(gpu) = backend("large_volumes_match_the_oracle") else {
        return;
    };
    for case in large_cases() {
        match check(gpu, &case) {
            Ok(line) => report(&line),
            Err(line) => panic!("{line}"),
        }
    }
}

#[test]
fn results_are_bit_identical_run_to_run() {
    let Some(gpu) = backend("results_are_bit_identical_run_to_run") else {
        return;
    };
    let mut selected: Vec<Case> = cases()
        .into_iter()
        .filter(|c| c.name.contains("multichunk") || c.name.contains("11-classes"))
        .collect();
    selected.extend(large_cases());
    for case in &selected {
        let first = gpu.evaluate_detailed(&case.problem).unwrap();
        for run in 1..4 {
            let again = gpu.evaluate_detailed(&case.problem).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&again.loss),
                bits(&first.loss),
                "{} run {run}",
                case.name
            );
            assert_eq!(
                bits(&again.grad),
                bits(&first.grad),
                "{} run {run}",
                case.name
            );
            assert_eq!(
                bits(&again.stats),
                bits(&first.stats),
                "{} run {run}",
                case.name
            );
        }
        report(&format!(
            "gpu {:<36} 4 runs bit-identical (loss {:e})",
            case.name, first.loss[0]
        ));
    }
}

/// Launching on device buffers (the benchmark's path) gives what `evaluate` gives.
#[test]
fn repeated_launches_on_device_buffers_agree_with_evaluate() {
    let Some(gpu) = backend("repeated_launches_on_device_buffers_agree_with_evaluate") else {
        return;
    };
    let case = cases()
        .into_iter()
        .find(|c| c.name == "p-asym-unified-multichunk-cf")
        .unwrap();
    let expected = gpu.evaluate_detailed(&case.problem).unwrap();
    let spec = Spec::from_problem(&case.problem).unwrap();
    let (pred, target) = arrays32(&case.problem);
    let stream = gpu.stream();
    let pred = stream.clone_htod(&pred).unwrap();
    let target = stream.clone_htod(&target).unwrap();
    let mut grad = stream.alloc_zeros::<f32>(spec.elements()).unwrap();
    let mut launch = gpu.prepare(&spec).unwrap();
    for _ in 0..3 {
        launch.run(&pred, &target, &mut grad).unwrap();
    }
    assert_eq!(launch.loss().unwrap(), expected.loss);
    assert_eq!(stream.clone_dtoh(&grad).unwrap(), expected.grad);
    let mut short = stream.alloc_zeros::<f32>(3).unwrap();
    assert!(matches!(
        launch.run(&pred, &target, &mut short),
        Err(CudaLossError::BufferLength { .. })
    ));
}

/// The comparison has teeth on the device too: δ off by 1e-3 fails every case.
#[test]
fn a_planted_bug_on_the_device_is_caught() {
    let Some(gpu) = backend("a_planted_bug_on_the_device_is_caught") else {
        return;
    };
    for case in cases() {
        let mut spec = Spec::from_problem(&case.problem).unwrap();
        spec.scalars.delta += 1e-3;
        let (pred, target) = arrays32(&case.problem);
        let r = gpu.evaluate_spec(&spec, &pred, &target).unwrap();
        let c = compare(&reference(&case.problem), &r.loss, &r.grad);
        assert!(
            !c.passed(),
            "{}: the planted δ + 1e-3 went unnoticed",
            case.name
        );
    }
}

#[test]
fn refusals_are_typed_on_the_device_path() {
    let Some(gpu) = backend("refusals_are_typed_on_the_device_path") else {
        return;
    };
    let t = |shape: &[usize], v: f64| {
        Tensor::new("x", shape.to_vec(), vec![v; shape.iter().product()]).unwrap()
    };
    let monai = Problem::named(
        "asym_unified_focal_loss",
        "monai",
        Params::new(),
        t(&[1, 2, 4, 4], 0.5),
        t(&[1, 2, 4, 4], 0.0),
        Layout::ChannelsFirst,
        Dtype::F32,
    )
    .unwrap();
    assert!(matches!(
        gpu.evaluate(&monai),
        Err(CudaLossError::Unsupported(Unsupported::Function { .. }))
    ));
    let bad = Problem::named(
        "asym_unified_focal_loss",
        "paper",
        Params::new(),
        t(&[1, 2, 4, 4], 1.5),
        t(&[1, 2, 4, 4], 0.0),
        Layout::ChannelsFirst,
        Dtype::F32,
    )
    .unwrap();
    assert!(matches!(gpu.evaluate(&bad), Err(CudaLossError::Invalid(_))));
    let spec = Spec::from_problem(&cases()[0].problem).unwrap();
    assert!(matches!(
        gpu.evaluate_spec(&spec, &[0.5; 3], &[0.0; 3]),
        Err(CudaLossError::BufferLength { .. })
    ));
}
