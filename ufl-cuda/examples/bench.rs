//! Times the backend's forward + backward (the three passes: statistics, finalize, gradient)
//! with CUDA events, on inputs it first checks against the oracle.
//!
//! ```text
//! bench [--out DIR] [--iters N] [--warmup N]
//! ```
//!
//! The main case is `asym_unified_focal_loss` in `paper`, `(1, 2, 128, 128, 128)` float32
//! channels-first, δ = 0.7, γ = 0.5, λ = 0.5 (MONAI's defaults where they mean the same); its
//! inputs are written to `DIR/pred.f32` and `DIR/target.f32` (raw little-endian float32, C
//! order) so that `bench/compare_torch.py` times PyTorch on the very same data, and the
//! timings to `DIR/ufl_cuda.json`. A second case, `original` on `(4, 256, 256, 2)`, is timed
//! for reference. Exit codes: 0 timed, 1 a failure (including a result outside the oracle's
//! tolerance: nothing is timed then), 3 no usable GPU.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{arrays32, case, compare, num, reference, Case, PLAIN};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use ufl_cuda::cudarc::driver::sys::CUevent_flags;
use ufl_cuda::{CudaBackend, CudaLossError, Spec};
use ufl_oracle::Layout;

struct Options {
    out: PathBuf,
    iters: usize,
    warmup: usize,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        out: PathBuf::from("/tmp/ufl-cuda-bench"),
        iters: 200,
        warmup: 20,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--out" => o.out = PathBuf::from(value()?),
            "--iters" => o.iters = value()?.parse().map_err(|e| format!("--iters: {e}"))?,
            "--warmup" => o.warmup = value()?.parse().map_err(|e| format!("--warmup: {e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.iters == 0 {
        return Err("--iters must be at least 1".to_string());
    }
    Ok(o)
}

/// Milliseconds of one case: per-launch times (events around each forward + backward), and the
/// mean of a back-to-back sequence (launch overheads overlapped).
struct Timing {
    median: f64,
    min: f64,
    p90: f64,
    back_to_back: f64,
}

fn time_case(gpu: &CudaBackend, case: &Case, o: &Options) -> Result<Timing, String> {
    let err = |e: CudaLossError| e.to_string();
    let drv = |e: ufl_cuda::cudarc::driver::DriverError| e.to_string();
    let spec = Spec::from_problem(&case.problem).map_err(err)?;
    let (pred, target) = arrays32(&case.problem);
    let stream = gpu.stream();
    let pred = stream.clone_htod(&pred).map_err(drv)?;
    let target = stream.clone_htod(&target).map_err(drv)?;
    let mut grad = stream.alloc_zeros::<f32>(spec.elements()).map_err(drv)?;
    let mut launch = gpu.prepare(&spec).map_err(err)?;
    for _ in 0..o.warmup {
        launch.run(&pred, &target, &mut grad).map_err(err)?;
    }
    stream.synchronize().map_err(drv)?;
    let ctx = stream.context();
    let event = || ctx.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT));
    let (start, end) = (event().map_err(drv)?, event().map_err(drv)?);
    let mut times = Vec::with_capacity(o.iters);
    for _ in 0..o.iters {
        start.record(stream).map_err(drv)?;
        launch.run(&pred, &target, &mut grad).map_err(err)?;
        end.record(stream).map_err(drv)?;
        times.push(start.elapsed_ms(&end).map_err(drv)? as f64);
    }
    start.record(stream).map_err(drv)?;
    for _ in 0..o.iters {
        launch.run(&pred, &target, &mut grad).map_err(err)?;
    }
    end.record(stream).map_err(drv)?;
    let back_to_back = start.elapsed_ms(&end).map_err(drv)? as f64 / o.iters as f64;
    times.sort_by(f64::total_cmp);
    Ok(Timing {
        median: times[times.len() / 2],
        min: times[0],
        p90: times[(times.len() * 9 / 10).min(times.len() - 1)],
        back_to_back,
    })
}

/// Evaluates on the device and compares with the oracle; returns the comparison's summary.
fn checked(gpu: &CudaBackend, case: &Case) -> Result<String, String> {
    let started = Instant::now();
    let (loss, grad) = gpu.evaluate(&case.problem).map_err(|e| e.to_string())?;
    let first = started.elapsed().as_secs_f64();
    let c = compare(&reference(&case.problem), &loss, &grad);
    if !c.passed() {
        return Err(format!(
            "{}: outside the oracle's tolerance: {} {:?}",
            case.name,
            c.summary(),
            c.failures
        ));
    }
    Ok(format!(
        "{}, loss {:e}; first evaluation with compilation and transfers {:.1} s",
        c.summary(),
        loss[0],
        first
    ))
}

fn write_inputs(case: &Case, dir: &std::path::Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (pred, target) = arrays32(&case.problem);
    for (name, data) in [("pred.f32", &pred), ("target.f32", &target)] {
        let bytes: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    let gpu = match CudaBackend::new() {
        Ok(g) => g,
        Err(e) => {
            println!("SKIPPED bench: {e}");
            return ExitCode::from(3);
        }
    };
    let (major, minor) = gpu.compute_capability();
    println!(
        "device: {} (compute capability {major}.{minor})",
        gpu.device_name()
    );
    let shape = [1usize, 2, 128, 128, 128];
    let main_case = case(
        "paper asym_unified_focal_loss (1, 2, 128, 128, 128) channels-first",
        "asym_unified_focal_loss",
        "paper",
        &shape,
        Layout::ChannelsFirst,
        &[
            ("delta", num(0.7)),
            ("gamma", num(0.5)),
            ("lambda", num(0.5)),
        ],
        PLAIN,
        101,
    );
    let second = case(
        "original asym_unified_focal_loss (4, 256, 256, 2) channels-last",
        "asym_unified_focal_loss",
        "original",
        &[4, 256, 256, 2],
        Layout::ChannelsLast,
        &[],
        PLAIN,
        102,
    );
    if let Err(e) = write_inputs(&main_case, &o.out) {
        eprintln!("bench: {e}");
        return ExitCode::from(1);
    }
    let mut json_cases = Vec::new();
    for c in [&main_case, &second] {
        let check = match checked(&gpu, c) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("bench: {e}");
                return ExitCode::from(1);
            }
        };
        let t = match time_case(&gpu, c, &o) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("bench: {}: {e}", c.name);
                return ExitCode::from(1);
            }
        };
        println!("{}", c.name);
        println!("  checked against the oracle: {check}");
        println!(
            "  forward + backward: median {:.4} ms, min {:.4} ms, p90 {:.4} ms over {} launches; back to back {:.4} ms each",
            t.median, t.min, t.p90, o.iters, t.back_to_back
        );
        json_cases.push(format!(
            "{{\"name\": \"{}\", \"median_ms\": {}, \"min_ms\": {}, \"p90_ms\": {}, \"back_to_back_ms\": {}}}",
            c.name, t.median, t.min, t.p90, t.back_to_back
        ));
    }
    let json = format!(
        "{{\"device\": \"{}\", \"shape\": [1, 2, 128, 128, 128], \"iters\": {}, \"cases\": [{}]}}\n",
        gpu.device_name().replace('"', "'"),
        o.iters,
        json_cases.join(", ")
    );
    let path = o.out.join("ufl_cuda.json");
    if let Err(e) = std::fs::write(&path, json) {
        eprintln!("bench: {}: {e}", path.display());
        return ExitCode::from(1);
    }
    println!("inputs and timings written to {}", o.out.display());
    ExitCode::SUCCESS
}
