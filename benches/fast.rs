//! Timing of the fast path on realistic volumes: the value, the value with the full gradient,
//! and a JVP, for `asym_unified_focal_loss`, `sym_unified_focal_loss`, `dice_loss` and
//! `focal_tversky_loss`, in every convention that defines them and in both layouts, and for the
//! unified losses' four parts (in `original`, the asymmetric ones in `paper` and `monai` too),
//! on a batch of four 256² slices and on one 128³ volume (two classes), float32 and float64
//! inputs; with the memory floor of each configuration (`floor/…`).
//!
//! Before anything is timed, each configuration's answer is checked against the generic
//! evaluator on the same input: loss and every gradient entry within `2·e` (`e` the float64
//! error bound of that entry), and the JVP against the generic forward mode within twice the
//! bound of `⟨grad, v⟩` (as `tests/fast.rs` derives it). A bench never times a wrong answer.
//!
//! `cargo bench --bench fast [-- FILTER]` (a few minutes on 2 cores; a FILTER, a substring of
//! the names, skips the checks of the configurations it excludes). The element passes run on
//! rayon's global pool of `UFL_BENCH_THREADS` threads (default 1), with the element code of
//! `UFL_BENCH_ISA` (`avx512`, `avx2` or `scalar`; default the widest the processor has, and one
//! it lacks is refused), so that one machine measures each instruction set. `UFL_BENCH_EXPORT=DIR` writes each
//! selected configuration's inputs as `.npy` files (float64 values, float32-representable for the
//! float32 cases) to `DIR` and exits: `benches/compare_torch.py` times MONAI on those arrays.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;
use ufl_oracle::bound::{F64Bound, SUM_LAMBDA};
use ufl_oracle::tensor::Grid;
use ufl_oracle::{fast, Dtype, Layout, Params, Problem, Tensor};

/// One bench configuration.
struct Config {
    function: &'static str,
    convention: &'static str,
    layout: Layout,
    /// Channels-last shape; the channels-first one is derived.
    shape_last: [usize; 5],
    rank: usize,
    dtype: Dtype,
}

impl Config {
    fn shape(&self) -> Vec<usize> {
        let s = &self.shape_last[..self.rank];
        match self.layout {
            Layout::ChannelsLast => s.to_vec(),
            Layout::ChannelsFirst => {
                let mut v = vec![s[0], s[self.rank - 1]];
                v.extend_from_slice(&s[1..self.rank - 1]);
                v
            }
        }
    }

    /// `FUNCTION/CONVENTION/LAYOUT/DTYPE/SHAPE` with short words (criterion cuts folder names
    /// at 64 characters): `asym`, `sym`, `dice`, `focal_tversky`, and the unified losses' parts
    /// `sfl`, `afl`, `sftl`, `aftl` (symmetric/asymmetric focal and focal Tversky losses);
    /// `cf`, `cl`; `f32`, `f64`.
    fn name(&self) -> String {
        let shape: Vec<String> = self.shape().iter().map(|d| d.to_string()).collect();
        let function = match self.function {
            "asym_unified_focal_loss" => "asym",
            "sym_unified_focal_loss" => "sym",
            "dice_loss" => "dice",
            "focal_tversky_loss" => "focal_tversky",
            "symmetric_focal_loss" => "sfl",
            "asymmetric_focal_loss" => "afl",
            "symmetric_focal_tversky_loss" => "sftl",
            _ => "aftl",
        };
        let layout = match self.layout {
            Layout::ChannelsFirst => "cf",
            Layout::ChannelsLast => "cl",
        };
        let dtype = match self.dtype {
            Dtype::F32 => "f32",
            Dtype::F64 => "f64",
        };
        format!(
            "{function}/{}/{layout}/{dtype}/{}",
            self.convention,
            shape.join("x")
        )
    }
}

fn configs() -> Vec<Config> {
    let (cl, cf) = (Layout::ChannelsLast, Layout::ChannelsFirst);
    let mut out = Vec::new();
    for (function, convention, layout) in [
        ("asym_unified_focal_loss", "monai", cf),
        ("asym_unified_focal_loss", "original", cl),
        ("asym_unified_focal_loss", "paper", cl),
        ("asym_unified_focal_loss", "paper", cf),
        ("sym_unified_focal_loss", "original", cl),
        ("sym_unified_focal_loss", "paper", cl),
        ("sym_unified_focal_loss", "paper", cf),
        ("dice_loss", "original", cl),
        ("dice_loss", "original", cf),
        ("focal_tversky_loss", "original", cl),
        ("focal_tversky_loss", "original", cf),
        ("symmetric_focal_loss", "original", cl),
        ("asymmetric_focal_loss", "original", cl),
        ("symmetric_focal_tversky_loss", "original", cl),
        ("asymmetric_focal_tversky_loss", "original", cl),
        ("asymmetric_focal_loss", "paper", cf),
        ("asymmetric_focal_tversky_loss", "paper", cf),
        ("asymmetric_focal_loss", "monai", cf),
        ("asymmetric_focal_tversky_loss", "monai", cf),
    ] {
        for (shape_last, rank) in [([4, 256, 256, 2, 0], 4), ([1, 128, 128, 128, 2], 5)] {
            for dtype in [Dtype::F64, Dtype::F32] {
                out.push(Config {
                    function,
                    convention,
                    layout,
                    shape_last,
                    rank,
                    dtype,
                });
            }
        }
    }
    out
}

/// A segmentation-like input: class-1 probability `σ(z)` with `z` noisy around a label
/// (30% foreground), class 0 its complement, rounded to the dtype; a few entries on the clip
/// bounds and at 0 and 1.
fn problem(c: &Config) -> Problem {
    let shape = c.shape();
    let grid = Grid::of(&shape, c.layout);
    let n: usize = shape.iter().product();
    let (mut p, mut y) = (vec![0.0; n], vec![0.0; n]);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut uniform = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let (lo, hi) = c.dtype.clip_bounds(1e-7);
    for b in 0..grid.batch {
        for s in 0..grid.spatial {
            let fg = uniform() < 0.3;
            let z = if fg { 2.0 } else { -2.0 } + 3.0 * (uniform() + uniform() - 1.0);
            let mut p1 = c.dtype.round(1.0 / (1.0 + (-z).exp()));
            let r = uniform();
            if r < 1e-3 {
                p1 = [0.0, 1.0, lo, hi][(r * 4e3) as usize % 4];
            }
            p[grid.at(b, s, 1)] = p1;
            p[grid.at(b, s, 0)] = c.dtype.round(1.0 - p1);
            y[grid.at(b, s, fg as usize)] = 1.0;
        }
    }
    Problem::named(
        c.function,
        c.convention,
        Params::new(),
        Tensor::new("prediction", shape.clone(), p).unwrap(),
        Tensor::new("target", shape, y).unwrap(),
        c.layout,
        c.dtype,
    )
    .unwrap()
}

fn direction(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|i| ((i * 7919) % 1000) as f64 / 1000.0 - 0.5)
        .collect();
    Tensor::new("direction", shape.to_vec(), data).unwrap()
}

/// The checks of the module documentation; panics with the first disagreement.
fn check(name: &str, problem: &Problem, v: &Tensor) {
    let fast = fast::evaluate(problem).unwrap_or_else(|| panic!("{name}: not on the fast path"));
    let generic = problem.evaluate_in::<f64>(true).unwrap();
    let bound = problem.evaluate_in::<F64Bound>(true).unwrap();
    let agree = |what: &str, f: f64, g: f64, e: f64| {
        let same = if g.is_finite() {
            (f - g).abs() <= 2.0 * e
        } else {
            f == g || (f.is_nan() && g.is_nan())
        };
        assert!(same, "{name}: {what} fast {f:e} generic {g:e} bound {e:e}");
    };
    agree("loss", fast.loss[0], generic.loss[0], bound.loss[0].e);
    let (gg, ge) = (generic.grad.unwrap(), bound.grad.unwrap());
    for i in 0..gg.len() {
        agree(&format!("grad[{i}]"), fast.grad[i], gg[i], ge[i].e);
    }
    let n = gg.len() as f64;
    let sum_factor = (n - 1.0).min(SUM_LAMBDA * (n - 1.0).sqrt()) * F64Bound::U;
    let tol = 2.0
        * (ge
            .iter()
            .zip(&v.data)
            .map(|(e, v)| e.e * v.abs())
            .sum::<f64>()
            + sum_factor
                * gg.iter()
                    .zip(&v.data)
                    .map(|(g, v)| (g * v).abs())
                    .sum::<f64>());
    let (fj, gj) = (
        fast::jvp(problem, v).unwrap()[0].derivative,
        problem.jvp_generic(v).unwrap()[0].derivative,
    );
    assert!(
        (fj - gj).abs() <= tol,
        "{name}: jvp fast {fj:e} generic {gj:e} tolerance {tol:e}"
    );
}

/// Criterion's name filter: the first argument that is neither a flag nor a flag's value.
fn filter() -> Option<String> {
    const WITH_VALUE: &[&str] = &[
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--measurement-time",
        "--warm-up-time",
        "--sample-size",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--profile-time",
        "--output-format",
        "--color",
        "--format",
        "--plotting-backend",
    ];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if WITH_VALUE.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            return Some(a);
        }
    }
    None
}

/// The instruction set of `UFL_BENCH_ISA`, or the widest available.
fn isa() -> fast::Isa {
    let available = fast::Isa::available();
    let isa = match std::env::var("UFL_BENCH_ISA").as_deref() {
        Err(_) => fast::Isa::best(),
        Ok("avx512") => fast::Isa::Avx512,
        Ok("avx2") => fast::Isa::Avx2,
        Ok("scalar") => fast::Isa::Scalar,
        Ok(other) => panic!("UFL_BENCH_ISA={other}: expected avx512, avx2 or scalar"),
    };
    assert!(
        available.contains(&isa),
        "UFL_BENCH_ISA: this processor lacks {isa:?} (it has {available:?})"
    );
    eprintln!("element code: {isa:?}");
    isa
}

fn bench(c: &mut Criterion) {
    let isa = isa();
    let threads = std::env::var("UFL_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    // The global pool, called from this thread as a user would call the library: a pool entered
    // with `install` would allocate the gradient on its worker and free it here, which glibc's
    // per-thread arenas turn into a fresh mapping (and its page faults) per iteration.
    if rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .is_err()
    {
        eprintln!("rayon's global pool was already built: UFL_BENCH_THREADS is not applied");
    }
    let export = std::env::var_os("UFL_BENCH_EXPORT").map(PathBuf::from);
    let filter = filter();
    for config in configs() {
        let name = config.name();
        let modes = [
            "value",
            "value+grad",
            "jvp",
            "floor/read2",
            "floor/read2write1",
        ];
        if let Some(f) = &filter {
            if !modes
                .iter()
                .any(|m| format!("{m}/{name}").contains(f.as_str()))
            {
                continue;
            }
        }
        let problem = problem(&config);
        if let Some(dir) = &export {
            std::fs::create_dir_all(dir).expect("export folder");
            let stem = name.replace('/', "_");
            for (what, t) in [("pred", &problem.pred), ("target", &problem.target)] {
                let path = dir.join(format!("{stem}.{what}.npy"));
                ufl_oracle::io::write_array(&path, &t.shape, &t.data).expect("export");
            }
            println!("exported {stem}");
            continue;
        }
        let wants = |mode: &str| {
            filter
                .as_ref()
                .is_none_or(|f| format!("{mode}/{name}").contains(f.as_str()))
        };
        if wants("floor/read2") || wants("floor/read2write1") {
            floors(c, &name, &problem);
        }
        if !(wants("value") || wants("value+grad") || wants("jvp")) {
            continue;
        }
        let v = direction(&problem.pred.shape);
        check(&name, &problem, &v);
        c.bench_function(&format!("value/{name}"), |b| {
            b.iter(|| black_box(fast::value_with(&problem, isa).unwrap()))
        });
        c.bench_function(&format!("value+grad/{name}"), |b| {
            b.iter(|| black_box(fast::evaluate_with(&problem, isa).unwrap()))
        });
        c.bench_function(&format!("jvp/{name}"), |b| {
            b.iter(|| black_box(fast::jvp_with(&problem, &v, isa).unwrap()))
        });
    }
}

/// The memory floor of a configuration's value and gradient on this machine: `floor/read2/…`
/// reads the prediction and the target once (sums them, in eight independent lanes so that the
/// additions never wait on each other), `floor/read2write1/…` reads both and writes their sum
/// into a third array of the same size (allocated once, outside the timing). The fast path's
/// value and gradient reads both inputs twice and writes the gradient once, so the sum of the two
/// medians is the least time any implementation of it can take on this machine.
fn floors(c: &mut Criterion, name: &str, problem: &Problem) {
    let (p, y) = (&problem.pred.data, &problem.target.data);
    c.bench_function(&format!("floor/read2/{name}"), |b| {
        b.iter(|| {
            let mut acc = [0.0f64; 8];
            for (pc, yc) in p.chunks_exact(8).zip(y.chunks_exact(8)) {
                for k in 0..8 {
                    acc[k] += pc[k] + yc[k];
                }
            }
            black_box(acc)
        })
    });
    let mut out = vec![0.0f64; p.len()];
    c.bench_function(&format!("floor/read2write1/{name}"), |b| {
        b.iter(|| {
            for ((o, &a), &t) in out.iter_mut().zip(p).zip(y) {
                *o = a + t;
            }
            black_box(&mut out);
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(800))
        .nresamples(2000)
        .without_plots();
    targets = bench
}
criterion_main!(benches);
