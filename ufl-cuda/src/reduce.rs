//! The one summation tree every block of the kernels uses, replayed on the host.
//!
//! A block of `T` threads (a multiple of 32, at most 1024) reduces one float per thread in two
//! levels, exactly as `ufl_block_sum` in the kernel source:
//!
//! 1. within each warp, `v[l] += v[l + o]` for `o = 16, 8, 4, 2, 1` (`__shfl_down_sync`), which
//!    leaves the warp's sum in lane 0;
//! 2. the warp sums, padded with zeros to 32 lanes, are reduced by warp 0 with the same tree.
//!
//! Every addition is one IEEE float32 addition (the kernels are compiled without contraction),
//! in an order that depends on the block size alone: no atomics, no dependence on scheduling,
//! so a result is bit-identical from run to run and equal to [`block_sum`] on the host. Adding
//! the padding zeros is exact.
//!
//! Error: in the statistics pass a term passes through at most `STATS_ITEMS·4 = 16` sequential
//! additions in its thread and 10 tree additions; in the finalize pass through `⌈chunks/256⌉`
//! sequential ones and 10 more tree additions. A sum of `n` terms is therefore within
//! `(d·u)·Σ|x|` of exact (first order) with `d ≤ min(n-1, 36 + ⌈chunks/256⌉)`: below the
//! oracle's float32 bound for a sum in any order, `min(n-1, 8√(n-1))·u·Σ|x|`, for every size
//! (`d ≤ n-1` always, since only the addition of two non-zero partial sums rounds, and
//! `36 + ⌈chunks/256⌉ ≤ 8√(n-1)` once `n > 64`).

/// Lanes of a warp.
pub const WARP: usize = 32;

/// The warp-level tree: the value lane 0 holds after `v += shfl_down(v, o)` for
/// `o = 16, 8, 4, 2, 1`.
pub fn warp_tree(lanes: &[f32; WARP]) -> f32 {
    let mut v = *lanes;
    let mut o = WARP / 2;
    while o > 0 {
        // Lanes below `o` read lanes `o..2o`, which this step does not change.
        for l in 0..o {
            v[l] += v[l + o];
        }
        o /= 2;
    }
    v[0]
}

/// The sum a block computes from one value per thread (`per_thread.len()` threads, a multiple
/// of 32 and at most 1024).
pub fn block_sum(per_thread: &[f32]) -> f32 {
    debug_assert!(per_thread.len() % WARP == 0 && per_thread.len() <= WARP * WARP);
    let mut warp_sums = [0.0f32; WARP];
    for (w, lanes) in per_thread.chunks(WARP).enumerate() {
        let mut l = [0.0f32; WARP];
        l[..lanes.len()].copy_from_slice(lanes);
        warp_sums[w] = warp_tree(&l);
    }
    warp_tree(&warp_sums)
}

/// The finalize pass's combination of `count` partials: thread `t` of `threads` adds partials
/// `t, t + threads, …` in order (starting from 0), then [`block_sum`] combines the threads.
pub fn strided_block_sum(count: usize, threads: usize, partial: impl Fn(usize) -> f32) -> f32 {
    let per_thread: Vec<f32> = (0..threads)
        .map(|t| {
            let mut acc = 0.0f32;
            let mut k = t;
            while k < count {
                acc += partial(k);
                k += threads;
            }
            acc
        })
        .collect();
    block_sum(&per_thread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_sum_exactly() {
        let v: Vec<f32> = (0..256).map(|i| i as f32).collect();
        assert_eq!(block_sum(&v), (0..256).sum::<i32>() as f32);
        assert_eq!(strided_block_sum(1000, 256, |k| k as f32), 499_500.0);
        assert_eq!(strided_block_sum(0, 256, |_| 1.0), 0.0);
    }

    #[test]
    fn the_tree_has_the_documented_shape() {
        // 1 + 2^-24 pairs: a sequential sum would lose every small term; the tree pairs lane l
        // with lane l + 16 first, so placing the small terms there shows the order.
        let mut lanes = [0.0f32; WARP];
        lanes[0] = 1.0;
        lanes[16] = f32::EPSILON / 2.0;
        lanes[8] = f32::EPSILON / 2.0;
        lanes[24] = f32::EPSILON / 2.0;
        // (1 + e/2) rounds to 1 (tie to even); (e/2 + e/2) = e is exact; 1 + e is exact.
        assert_eq!(warp_tree(&lanes), 1.0 + f32::EPSILON);
        let sequential = lanes.iter().fold(0.0f32, |a, &x| a + x);
        assert_eq!(sequential, 1.0);
    }

    #[test]
    fn error_is_within_the_oracle_sum_bound() {
        // Positive terms of varied magnitude; the error of the tree is compared with the
        // oracle's float32 bound for a sum of n terms in any order.
        for &n in &[2usize, 33, 256, 1000, 65_536] {
            let xs: Vec<f32> = (0..n)
                .map(|i| (((i * 7919) % 1000) as f32 + 0.5) * 1.3e-3)
                .collect();
            let exact: f64 = xs.iter().map(|&x| x as f64).sum();
            let magnitude: f64 = xs.iter().map(|&x| x.abs() as f64).sum();
            let got = strided_block_sum(n, 256, |k| xs[k]) as f64;
            let m = (n - 1) as f64;
            let bound = m.min(8.0 * m.sqrt()) * (f32::EPSILON as f64 / 2.0) * magnitude;
            assert!((got - exact).abs() <= bound, "n = {n}: {got} vs {exact}");
        }
    }

    #[test]
    fn a_short_block_is_padded_with_zeros() {
        let v = vec![0.25f32; 64];
        assert_eq!(block_sum(&v), 16.0);
    }
}
