//! The number types every evaluator runs in: the [`real::Real`] trait (f64, f32, dual numbers
//! for forward-mode derivatives) and [`bound::Bounded`], which carries a running error bound of
//! a lower-precision implementation. Depends on `spec` only.

pub mod bound;
pub mod real;
