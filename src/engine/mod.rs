//! Evaluating a problem: [`eval::Problem`] checks its inputs, brings them into the
//! convention's layout and runs the generic evaluator or the fast path; forward-mode derivatives
//! and finite differences witness its gradients. Depends on `conventions`, `numbers`, `spec`.

pub mod derivatives;
pub mod eval;
pub mod fast;
pub mod fd;
