//! Summation in the fast path: a fixed tree that does not depend on the thread count or the
//! instruction set, with a compensated accumulation of its partial sums.
//!
//! A block of at most [`BLOCK`] terms is summed in [`LANES`] running lane sums (lane `l` takes
//! terms `l, l + 8, l + 16, …`), which a vectorising compiler keeps in registers because the lane
//! structure is written out (floating-point sums are never reassociated by the compiler), and the
//! eight lanes are added by a fixed pairwise tree. Block sums are accumulated by
//! [`Compensated`] (Neumaier) within a work item, and the items' results again by `Compensated`
//! in item order.
//!
//! Error: a lane adds at most `BLOCK/LANES = 32` terms and the tree 3 more levels, so a block sum
//! is within `34·u·Σ|x_i|` of exact (`u = 2^-53`); the compensated accumulations add `2u·|Σ|`
//! and second-order terms. The whole sum is therefore within `(34 + 2)·u·Σ|x_i|` plus
//! `O(n·u²)·Σ|x_i|`: a summation order like any other, inside the bound `bound.rs` charges a
//! sum of `n` terms (`min(n-1, 8√(n-1))·u·Σ|x_i|`, which a tree whose paths add at most `n - 1`
//! times also meets for small `n`).

/// Terms per block (positions of one channel processed together).
pub const BLOCK: usize = 256;
/// Lanes of a block sum.
pub const LANES: usize = 8;

/// The fixed pairwise tree over the eight lanes.
#[inline(always)]
pub fn fold_lanes(l: &[f64; LANES]) -> f64 {
    ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]))
}

/// Sum of `xs` (at most [`BLOCK`] terms) in lanes and a fixed tree.
#[inline(always)]
pub fn block_sum(xs: &[f64]) -> f64 {
    let mut lanes = [0.0f64; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for c in &mut chunks {
        for l in 0..LANES {
            lanes[l] += c[l];
        }
    }
    for (l, &x) in chunks.remainder().iter().enumerate() {
        lanes[l] += x;
    }
    fold_lanes(&lanes)
}

/// Neumaier's compensated running sum, with the same rule as `real::neumaier` for non-finite
/// values (the plain sum is reported, so that an infinity is not turned into NaN).
#[derive(Clone, Copy, Debug, Default)]
pub struct Compensated {
    sum: f64,
    correction: f64,
}

impl Compensated {
    #[inline(always)]
    pub fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.correction += (self.sum - t) + x;
        } else {
            self.correction += (x - t) + self.sum;
        }
        self.sum = t;
    }

    #[inline(always)]
    pub fn value(&self) -> f64 {
        if !self.sum.is_finite() || !self.correction.is_finite() {
            return self.sum;
        }
        self.sum + self.correction
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_sum_is_the_lane_tree() {
        let xs: Vec<f64> = (0..37).map(|i| (i as f64) * 0.1 + 1e-3).collect();
        let mut lanes = [0.0; LANES];
        for (i, x) in xs.iter().enumerate() {
            lanes[i % LANES] += x;
        }
        assert_eq!(block_sum(&xs).to_bits(), fold_lanes(&lanes).to_bits());
        assert_eq!(block_sum(&[]), 0.0);
    }

    #[test]
    fn compensated_matches_the_generic_rule() {
        let terms = [1.0, 1e-16, 1e-16, 1e-16, 1e-16, -1.0];
        let mut c = Compensated::default();
        terms.iter().for_each(|&x| c.add(x));
        assert_eq!(c.value(), crate::numbers::real::neumaier(terms));
        let mut c = Compensated::default();
        [1.0, f64::INFINITY, 2.0].iter().for_each(|&x| c.add(x));
        assert_eq!(c.value(), f64::INFINITY);
    }
}
