//! The generated kernel sources compile with NVRTC, for every kind of variant, without a GPU:
//! NVRTC alone is needed (set `LD_LIBRARY_PATH` to a folder holding `libnvrtc.so.13`). Where it
//! cannot be loaded the test says so and is skipped.

use std::io::Write;
use ufl_cuda::geometry::STATS_THREADS;
use ufl_cuda::spec::{KernelConvention, Parts, Variant};

fn skip(test: &str, why: &str) {
    // Written past the test harness's capture, so that a skip is always seen.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

fn variants() -> Vec<Variant> {
    let mut out = Vec::new();
    for convention in [KernelConvention::Original, KernelConvention::Paper] {
        for parts in [Parts::Focal, Parts::Tversky, Parts::Unified] {
            for symmetric in [false, true] {
                for channels_last in [false, true] {
                    let shapes: &[(usize, usize)] = match convention {
                        KernelConvention::Original => &[(2, 2), (3, 2)],
                        KernelConvention::Paper => &[(1, 2), (2, 2), (5, 5), (11, 11)],
                    };
                    for &(channels, classes) in shapes {
                        for vec in [1, 4] {
                            if vec == 4 && channels_last && channels != 1 {
                                continue;
                            }
                            out.push(Variant {
                                convention,
                                parts,
                                symmetric,
                                channels_last,
                                channels,
                                classes,
                                stats_vec: vec,
                                grad_vec: vec,
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_variant_compiles_to_ptx_with_the_three_entry_points() {
    if !ufl_cuda::nvrtc_present() {
        skip(
            "every_variant_compiles_to_ptx_with_the_three_entry_points",
            "NVRTC (libnvrtc.so.13) cannot be loaded on this machine",
        );
        return;
    }
    let vs = variants();
    for v in &vs {
        let ptx = match ufl_cuda::compile_ptx(v, (9, 0)) {
            Ok(p) => p,
            Err(e) => panic!("{}: {e}", v.describe()),
        };
        for name in ufl_cuda::source::ENTRY_POINTS {
            assert!(
                ptx.contains(&format!(".entry {name}(")),
                "{}: no entry point {name}",
                v.describe()
            );
        }
        // No contraction: no single-precision fused multiply-add anywhere.
        assert!(
            !ptx.contains("fma.rn.f32"),
            "{}: fma.rn.f32 found",
            v.describe()
        );
        // Block size as compiled.
        assert!(
            ptx.contains(&format!(".maxntid {STATS_THREADS}")),
            "{}",
            v.describe()
        );
    }
    let _ = writeln!(
        std::io::stderr(),
        "compiled {} kernel variants with NVRTC",
        vs.len()
    );
}
