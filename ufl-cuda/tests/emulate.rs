//! The kernel source itself, run on the CPU, against the host replay: bit for bit.
//!
//! `tests/emulate/cuda_emu.hpp` supplies just enough of CUDA (one OS thread per CUDA thread,
//! barriers for `__syncthreads`, warp barriers around `__shfl_down_sync`) for a C++ compiler to
//! build the generated source of each variant together with `tests/emulate/driver.cpp`. Every
//! output of the three passes — partials, statistics, coefficients, loss, gradient — must equal
//! `ufl_cuda::mirror` exactly (same float32 operations, same order, the same libm for the
//! library functions), which checks the kernel source's indexing, specialisation and order
//! without a GPU. What only a GPU can show (real warps, `float4` alignment, the driver) is left
//! to `tests/gpu.rs`. Needs `c++` (or `$CXX`) with C++20; without one the test says so.

mod common;

use common::{arrays32, cases, report};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use ufl_cuda::geometry::{FINALIZE_THREADS, GRAD_THREADS, STATS_THREADS};
use ufl_cuda::mirror::{finalize_pass, gradient_pass, stats_pass};
use ufl_cuda::source::source;
use ufl_cuda::{Spec, Variant};

const EMU_HEADER: &str = include_str!("emulate/cuda_emu.hpp");
const DRIVER: &str = include_str!("emulate/driver.cpp");

fn compiler() -> Option<String> {
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".to_string());
    let ok = Command::new(&cxx)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(cxx)
}

fn build(cxx: &str, dir: &Path, variant: &Variant, kernel: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("cuda_emu.hpp"), EMU_HEADER).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("driver.cpp"), DRIVER).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("kernel.cu"), kernel).map_err(|e| e.to_string())?;
    let exe = dir.join("driver");
    let out = Command::new(cxx)
        .args([
            "-std=c++20",
            "-O1",
            "-ffp-contract=off",
            "-fno-fast-math",
            "-pthread",
            "-w",
        ])
        .arg("-I")
        .arg(dir)
        .arg(dir.join("driver.cpp"))
        .arg("-o")
        .arg(&exe)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "{}: {}",
            variant.describe(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(exe)
}

fn write_f32(path: &Path, data: &[f32]) {
    let bytes: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn meta(spec: &Spec) -> String {
    let s = &spec.scalars;
    let g = &spec.geometry;
    let mut m = format!(
        "{:e} {:e} {:e} {:e} {:e} {:e} {} {} {} {} {} {}\n",
        s.lo,
        s.hi,
        s.smooth,
        s.delta,
        s.gamma,
        s.lambda,
        s.has_weight,
        s.reduction,
        s.class_mean,
        s.batch,
        s.spatial,
        s.chunks
    );
    m.push_str(&format!(
        "{} {} {STATS_THREADS} {FINALIZE_THREADS} {GRAD_THREADS}\n{} {} {} {} {}\n",
        g.stats_blocks,
        g.grad_blocks,
        spec.elements(),
        g.partial_len,
        g.planes,
        spec.loss_len,
        spec.variant.classes
    ));
    for r in &spec.rare {
        m.push_str(&format!("{r} "));
    }
    m.push('\n');
    m
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Runs the emulated kernels of `exe` on `case` in `dir` and lists the outputs that differ
/// from the host replay.
fn run_and_compare(exe: &Path, dir: &Path, case: &common::Case, spec: &Spec) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    let (pred, target) = arrays32(&case.problem);
    write_f32(&dir.join("pred.bin"), &pred);
    write_f32(&dir.join("target.bin"), &target);
    std::fs::write(dir.join("meta.txt"), meta(spec)).unwrap();
    let status = Command::new(exe).arg(dir).status().unwrap();
    assert!(
        status.success(),
        "{}: the emulated kernels failed",
        case.name
    );

    let partial = stats_pass(spec, &pred, &target);
    let (stats, coef, loss) = finalize_pass(spec, &partial);
    let grad = gradient_pass(spec, &pred, &target, &coef);
    let mut differing = Vec::new();
    for (name, host) in [
        ("partial", &partial),
        ("stats", &stats),
        ("coef", &coef),
        ("loss", &loss),
        ("grad", &grad),
    ] {
        let emulated = read_f32(&dir.join(format!("{name}.bin")));
        if bits(&emulated) != bits(host) {
            let first = emulated
                .iter()
                .zip(host.iter())
                .position(|(a, b)| a.to_bits() != b.to_bits());
            differing.push(format!("{name} (first at {first:?})"));
        }
    }
    differing
}

#[test]
fn the_kernel_source_equals_the_host_replay_bit_for_bit() {
    let Some(cxx) = compiler() else {
        report("SKIPPED the_kernel_source_equals_the_host_replay_bit_for_bit: no C++ compiler (c++ or $CXX)");
        return;
    };
    let root = std::env::temp_dir().join(format!("ufl-cuda-emulate-{}", std::process::id()));
    let mut built: HashMap<Variant, PathBuf> = HashMap::new();
    let mut failures = Vec::new();
    for (k, case) in cases().into_iter().enumerate() {
        let spec = Spec::from_problem(&case.problem).unwrap();
        let exe = match built.get(&spec.variant) {
            Some(exe) => exe.clone(),
            None => {
                let dir = root.join(format!("variant{}", built.len()));
                let exe = build(&cxx, &dir, &spec.variant, &source(&spec.variant))
                    .unwrap_or_else(|e| panic!("{e}"));
                built.insert(spec.variant, exe.clone());
                exe
            }
        };
        let differing = run_and_compare(&exe, &root.join(format!("case{k}")), &case, &spec);
        if differing.is_empty() {
            report(&format!(
                "emulated {:<36} equal to the host replay ({})",
                case.name,
                spec.variant.describe()
            ));
        } else {
            failures.push(format!("{}: {}", case.name, differing.join(", ")));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");

    // The comparison has teeth: channels 0 and 1 swapped at one position of each item.
    let case = cases().into_iter().next().unwrap();
    let spec = Spec::from_problem(&case.problem).unwrap();
    let honest = source(&spec.variant);
    let exact = "    return (b * n + s) * UFL_CHANNELS + c;";
    assert!(honest.contains(exact));
    let planted = honest.replace(
        exact,
        "    return (b * n + s) * UFL_CHANNELS + (c ^ (unsigned int)(s == 5));",
    );
    let exe = build(&cxx, &root.join("planted"), &spec.variant, &planted).unwrap();
    let differing = run_and_compare(&exe, &root.join("planted-case"), &case, &spec);
    assert!(
        !differing.is_empty(),
        "a planted indexing bug went unnoticed"
    );
    let _ = std::fs::remove_dir_all(&root);
}
