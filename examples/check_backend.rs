//! How a backend crate checks itself with the harness: one test, a closure that runs the
//! backend on a case. Here the backend is the crate's own plain float32 evaluator; a GPU crate
//! calls its kernels instead (see `ufl-cuda/` for a real one).
//!
//! `cargo run --example check_backend` (filter with `UFL_ORACLE_TEST=asym,-fixture`, seed the
//! random cases with `UFL_ORACLE_SEED`, list every verdict with `UFL_ORACLE_VERBOSE=1`).

use ufl_oracle::harness::{Harness, Response};
use ufl_oracle::tolerance::Declared;

fn main() {
    // In a backend crate this is the body of a #[test].
    let harness = Harness::from_env(Declared::F32);
    let report = harness.run(|case| {
        // The backend under test: given the case's problem, return loss and gradient.
        match case.problem.evaluate_in::<f32>(true) {
            Ok(out) => Response::Output {
                loss: out.loss.iter().map(|&x| x as f64).collect(),
                grad: out
                    .grad
                    .unwrap_or_default()
                    .iter()
                    .map(|&x| x as f64)
                    .collect(),
            },
            Err(e) => Response::Error(e.to_string()),
        }
    });
    println!("{report}");
    if !report.is_ok() {
        std::process::exit(1);
    }
}
