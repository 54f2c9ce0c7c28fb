//! How a backend crate checks itself with the harness: one test, a closure that runs the
//! backend on a case. Here the backend is the crate's own evaluator run in the case's dtype
//! (float32 arithmetic on float32 cases, float64 on float64 ones); a GPU crate calls its
//! kernels instead (see `ufl-cuda/` for a real one).
//!
//! `cargo run --example check_backend` (filter with `UFL_ORACLE_TEST=asym,-fixture`, seed the
//! random cases with `UFL_ORACLE_SEED`, list every verdict with `UFL_ORACLE_VERBOSE=1`).

use ufl_oracle::cases::Case;
use ufl_oracle::harness::{Harness, Judging, Response};
use ufl_oracle::{Dtype, Real};

/// The backend under test: the loss entries and the gradient of their sum, in `T`.
fn evaluator_in<T: Real + Into<f64>>(case: &Case) -> Response {
    match case.problem.evaluate_in::<T>(true) {
        Ok(out) => case.respond(&out.loss, &out.grad.unwrap_or_default()),
        Err(e) => Response::Error(e.to_string()),
    }
}

fn main() {
    // In a backend crate this is the body of a #[test].
    let harness = Harness::from_env(Judging::PER_CASE);
    let report = harness.run(|case| match case.dtype() {
        Dtype::F32 => evaluator_in::<f32>(case),
        Dtype::F64 => evaluator_in::<f64>(case),
    });
    println!("{report}");
    if !report.is_ok() {
        std::process::exit(1);
    }
}
