//! Evaluating a problem, bottom to top: [`eval`] (the `Problem`: checks its inputs, brings
//! them into the convention's layout, runs the generic evaluator), [`derivatives`] (forward
//! mode through the same evaluator) and [`fd`] (finite differences) that witness its
//! gradients, [`fast`] (the fused fast path for large volumes), and [`answer`], the only module
//! that routes between the fast path and the generic evaluator. Each module uses only those
//! before it (`tests/layers.rs`). Depends on `conventions`, `numbers`, `spec`.

pub mod answer;
pub mod derivatives;
pub mod eval;
pub mod fast;
pub mod fd;
