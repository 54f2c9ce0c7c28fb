//! The CUDA source of one [`Variant`]: a header of `#define`s that specialises the fixed kernel
//! body (`kernels.cu`), and the NVRTC options it is compiled with.
//!
//! Everything that changes the code's shape is compiled in (convention, parts, symmetry,
//! layout, channel and class counts, vector widths, block sizes), so the compiler unrolls the
//! class loops and keeps every accumulator in registers; everything that is only a number
//! (δ, γ, λ, bounds, sizes) is a kernel argument, so changing it needs no recompilation.

use crate::geometry::{FINALIZE_THREADS, GRAD_THREADS, MAX_GROUP, STATS_ITEMS, STATS_THREADS};
use crate::spec::{KernelConvention, Variant};

/// The kernel body, specialised by [`header`].
pub const KERNEL_BODY: &str = include_str!("kernels.cu");

/// The entry points of every module, in launch order.
pub const ENTRY_POINTS: [&str; 3] = ["ufl_stats", "ufl_finalize", "ufl_gradient"];

/// Every macro the body expects the header to define.
pub const HEADER_MACROS: [&str; 14] = [
    "UFL_ORIGINAL",
    "UFL_SYMMETRIC",
    "UFL_FOCAL_ON",
    "UFL_TVERSKY_ON",
    "UFL_CHANNELS_LAST",
    "UFL_CHANNELS",
    "UFL_CLASSES",
    "UFL_GROUP",
    "UFL_STATS_VEC",
    "UFL_GRAD_VEC",
    "UFL_STATS_THREADS",
    "UFL_STATS_ITEMS",
    "UFL_FINALIZE_THREADS",
    "UFL_GRAD_THREADS",
];

/// The `#define` lines of `variant`, in the order of [`HEADER_MACROS`].
pub fn header(variant: &Variant) -> String {
    let flag = |b: bool| u32::from(b) as usize;
    let values: [usize; 14] = [
        flag(variant.convention == KernelConvention::Original),
        flag(variant.symmetric),
        flag(variant.parts.focal()),
        flag(variant.parts.tversky()),
        flag(variant.channels_last),
        variant.channels,
        variant.classes,
        variant.classes.min(MAX_GROUP),
        variant.stats_vec,
        variant.grad_vec,
        STATS_THREADS as usize,
        STATS_ITEMS as usize,
        FINALIZE_THREADS as usize,
        GRAD_THREADS as usize,
    ];
    let mut out = format!("// ufl-cuda variant {}\n", variant.describe());
    for (name, value) in HEADER_MACROS.iter().zip(values) {
        out.push_str(&format!("#define {name} {value}\n"));
    }
    out
}

/// The complete source NVRTC compiles for `variant`.
pub fn source(variant: &Variant) -> String {
    let mut s = header(variant);
    s.push_str(KERNEL_BODY);
    s
}

/// NVRTC options: PTX for the device's virtual architecture, IEEE division, and no contraction
/// of `a*b + c` into fused multiply-adds, so that every operation rounds once (the error model
/// of the oracle's float32 bound, and the host replay in [`crate::mirror`]).
pub fn compile_options(compute_capability: (i32, i32)) -> Vec<String> {
    vec![
        format!(
            "--gpu-architecture=compute_{}{}",
            compute_capability.0, compute_capability.1
        ),
        "--fmad=false".to_string(),
        "--prec-div=true".to_string(),
        "--prec-sqrt=true".to_string(),
        "--ftz=false".to_string(),
        "--std=c++17".to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Parts;

    fn variants() -> Vec<Variant> {
        let mut out = Vec::new();
        for convention in [KernelConvention::Original, KernelConvention::Paper] {
            for parts in [Parts::Focal, Parts::Tversky, Parts::Unified] {
                for symmetric in [false, true] {
                    for channels_last in [false, true] {
                        for &(channels, classes) in &[(1usize, 2usize), (2, 2), (3, 2), (11, 11)] {
                            if convention == KernelConvention::Original
                                && (channels == 1 || classes != 2)
                            {
                                continue;
                            }
                            out.push(Variant {
                                convention,
                                parts,
                                symmetric,
                                channels_last,
                                channels,
                                classes,
                                stats_vec: if channels_last { 1 } else { 4 },
                                grad_vec: 4,
                            });
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn header_defines_every_macro_the_body_uses() {
        // Every UFL_ identifier the body tests or uses in code but does not define itself
        // must come from the header.
        let body_defines: Vec<&str> = KERNEL_BODY
            .lines()
            .filter_map(|l| l.trim().strip_prefix("#define "))
            .filter_map(|l| l.split_whitespace().next())
            .map(|name| name.split('(').next().unwrap_or(name))
            .collect();
        let mut used = std::collections::BTreeSet::new();
        for word in KERNEL_BODY.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("UFL_") && !body_defines.contains(&word) {
                used.insert(word);
            }
        }
        let header_names: std::collections::BTreeSet<&str> =
            HEADER_MACROS.iter().copied().collect();
        assert_eq!(used, header_names);
        let h = header(&variants()[0]);
        for name in HEADER_MACROS {
            assert!(h.contains(&format!("#define {name} ")), "{name}");
        }
    }

    #[test]
    fn preprocessor_conditionals_balance() {
        let mut depth = 0i32;
        for line in KERNEL_BODY.lines() {
            let l = line.trim_start();
            if l.starts_with("#if") {
                depth += 1;
            } else if l.starts_with("#endif") {
                depth -= 1;
                assert!(depth >= 0);
            }
        }
        assert_eq!(depth, 0);
        let braces =
            KERNEL_BODY.matches('{').count() as i64 - KERNEL_BODY.matches('}').count() as i64;
        assert_eq!(braces, 0);
    }

    #[test]
    fn entry_points_are_extern_c_kernels() {
        for name in ENTRY_POINTS {
            let pattern = format!("{name}(");
            let at = KERNEL_BODY.find(&pattern).expect(name);
            let before = &KERNEL_BODY[..at];
            let decl = &before[before.rfind("extern \"C\"").expect(name)..];
            assert!(decl.contains("__global__"), "{name}");
        }
    }

    #[test]
    fn every_variant_has_its_own_source() {
        let vs = variants();
        let sources: std::collections::HashSet<String> = vs.iter().map(source).collect();
        assert_eq!(sources.len(), vs.len());
        let v = Variant {
            convention: KernelConvention::Paper,
            parts: Parts::Unified,
            symmetric: false,
            channels_last: false,
            channels: 11,
            classes: 11,
            stats_vec: 4,
            grad_vec: 4,
        };
        let h = header(&v);
        assert!(h.contains("#define UFL_ORIGINAL 0\n"));
        assert!(h.contains("#define UFL_CLASSES 11\n"));
        assert!(h.contains("#define UFL_GROUP 8\n"));
        assert!(h.contains("#define UFL_STATS_VEC 4\n"));
        assert!(!source(&v).contains('\0'));
    }

    #[test]
    fn options_forbid_contraction() {
        let o = compile_options((9, 0));
        assert!(o.contains(&"--gpu-architecture=compute_90".to_string()));
        assert!(o.contains(&"--fmad=false".to_string()));
    }
}
