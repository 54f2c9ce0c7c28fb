//! Launch geometry: how the three passes divide the work among blocks and threads.
//!
//! The partition depends on the shape alone (never on the device), so that the order in which
//! every sum is accumulated — and hence every bit of the result — is fixed by the problem:
//!
//! - **statistics pass**: one block per (item, class group, chunk of positions). A chunk is
//!   [`STATS_THREADS`] × `stats_vec` × [`STATS_ITEMS`] consecutive positions; thread `t` takes,
//!   in iteration `i`, the `stats_vec` positions starting at
//!   `chunk·chunk_positions + (i·STATS_THREADS + t)·stats_vec`, and accumulates sequentially.
//!   A class group is up to [`MAX_GROUP`] classes whose sums one thread keeps in registers.
//!   Each block reduces its threads' sums with the fixed tree of [`crate::reduce`] and writes
//!   one partial per (class, statistic).
//! - **finalize pass**: one block of [`FINALIZE_THREADS`]; for every (item, class), thread `t`
//!   adds the partials of chunks `t, t + FINALIZE_THREADS, …` in order, and the same tree
//!   combines the threads. Thread 0 then computes the loss and the per-(item, class)
//!   coefficients of the gradient.
//! - **gradient pass**: one thread per `grad_vec` consecutive elements of the input, in its
//!   own layout; no reduction.

use crate::error::CudaLossError;
use crate::spec::Variant;

/// Threads per block of the statistics pass.
pub const STATS_THREADS: u32 = 256;
/// Iterations of each thread over its chunk.
pub const STATS_ITEMS: u32 = 4;
/// Threads of the finalize block.
pub const FINALIZE_THREADS: u32 = 256;
/// Threads per block of the gradient pass.
pub const GRAD_THREADS: u32 = 256;
/// Most classes one statistics block accumulates (registers per thread: 4 per class).
pub const MAX_GROUP: usize = 8;
/// Statistics kept per (item, class): TP, FN, FP and the focal sum.
pub const STATISTICS: usize = 4;
/// Largest block count of a one-dimensional grid.
const MAX_GRID: u64 = (1 << 31) - 1;

/// The launch configuration of one problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub batch: u32,
    pub spatial: u32,
    pub classes: u32,
    /// Elements of the input array.
    pub elements: u32,
    /// Classes per statistics block.
    pub group: u32,
    /// Class groups per item.
    pub groups: u32,
    /// Positions per chunk.
    pub chunk_positions: u32,
    /// Chunks per (item, class group).
    pub chunks: u32,
    /// Blocks of the statistics pass: items × groups × chunks.
    pub stats_blocks: u32,
    /// Floats of partial sums: items × classes × chunks × [`STATISTICS`].
    pub partial_len: usize,
    /// (item, class) planes.
    pub planes: usize,
    /// Elements per thread of the gradient pass.
    pub grad_vec: u32,
    /// Blocks of the gradient pass.
    pub grad_blocks: u32,
}

impl Geometry {
    /// The geometry of `batch` items of `spatial` positions for `variant`.
    pub fn new(variant: &Variant, batch: usize, spatial: usize) -> Result<Geometry, CudaLossError> {
        let fits = |what: &'static str, value: u64, limit: u64| {
            if value > limit {
                Err(CudaLossError::TooLarge { what, value, limit })
            } else {
                Ok(value as u32)
            }
        };
        let classes = variant.classes as u64;
        let elements = batch as u64 * spatial as u64 * variant.channels as u64;
        // Index arithmetic in the kernels is 32-bit; the oracle's own limit is 2^28 elements.
        let elements = fits("elements", elements, u32::MAX as u64 / 2)?;
        let batch = fits("batch", batch as u64, u32::MAX as u64)?;
        let spatial = fits("positions per item", spatial as u64, u32::MAX as u64 / 2)?;
        let group = classes.min(MAX_GROUP as u64);
        let groups = classes.div_ceil(group);
        let chunk_positions = STATS_THREADS as u64 * variant.stats_vec as u64 * STATS_ITEMS as u64;
        let chunks = (spatial as u64).div_ceil(chunk_positions);
        let stats_blocks = fits(
            "statistics blocks",
            batch as u64 * groups * chunks,
            MAX_GRID,
        )?;
        let per_grad_block = GRAD_THREADS as u64 * variant.grad_vec as u64;
        let grad_blocks = fits(
            "gradient blocks",
            (elements as u64).div_ceil(per_grad_block),
            MAX_GRID,
        )?;
        let planes = batch as usize * classes as usize;
        Ok(Geometry {
            batch,
            spatial,
            classes: classes as u32,
            elements,
            group: group as u32,
            groups: groups as u32,
            chunk_positions: chunk_positions as u32,
            chunks: chunks as u32,
            stats_blocks,
            partial_len: planes * chunks as usize * STATISTICS,
            planes,
            grad_vec: variant.grad_vec as u32,
            grad_blocks,
        })
    }

    /// The (item, class group, chunk) a statistics block works on, as the kernel decodes its
    /// block index.
    pub fn stats_block(&self, block: u32) -> (u32, u32, u32) {
        let chunk = block % self.chunks;
        let rest = block / self.chunks;
        (rest / self.groups, rest % self.groups, chunk)
    }

    /// The first position thread `thread` loads in iteration `item` of chunk `chunk`.
    pub fn stats_position(&self, chunk: u32, item: u32, thread: u32, vec: u32) -> u64 {
        chunk as u64 * self.chunk_positions as u64
            + (item as u64 * STATS_THREADS as u64 + thread as u64) * vec as u64
    }

    /// Index of a partial sum: (item, class) plane, chunk, statistic.
    pub fn partial_index(&self, plane: usize, chunk: usize, statistic: usize) -> usize {
        (plane * self.chunks as usize + chunk) * STATISTICS + statistic
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{KernelConvention, Parts};

    fn variant(channels: usize, classes: usize, stats_vec: usize, grad_vec: usize) -> Variant {
        Variant {
            convention: KernelConvention::Paper,
            parts: Parts::Unified,
            symmetric: false,
            channels_last: false,
            channels,
            classes,
            stats_vec,
            grad_vec,
        }
    }

    /// Every position of every (item, class) is visited exactly once by the statistics pass.
    #[test]
    fn statistics_pass_covers_every_position_once() {
        for &(batch, spatial, classes, vec) in &[
            (1usize, 1usize, 2usize, 1usize),
            (2, 7, 3, 1),
            (3, 1024, 2, 1),
            (1, 1025, 9, 1),
            (2, 4096, 2, 4),
            (1, 4100, 17, 4),
            (1, 3 * 4096 + 8, 2, 4),
        ] {
            let v = variant(classes, classes, vec, 1);
            let g = Geometry::new(&v, batch, spatial).unwrap();
            let mut seen = vec![0u32; batch * classes * spatial];
            for block in 0..g.stats_blocks {
                let (b, group, chunk) = g.stats_block(block);
                assert!(b < g.batch && group < g.groups && chunk < g.chunks);
                for item in 0..STATS_ITEMS {
                    for t in 0..STATS_THREADS {
                        let s0 = g.stats_position(chunk, item, t, vec as u32);
                        if s0 >= spatial as u64 {
                            continue;
                        }
                        for k in 0..vec as u64 {
                            let s = (s0 + k) as usize;
                            assert!(s < spatial, "a vector load runs past the plane");
                            for gi in 0..g.group {
                                let c = (group * g.group + gi) as usize;
                                if c < classes {
                                    seen[(b as usize * classes + c) * spatial + s] += 1;
                                }
                            }
                        }
                    }
                }
            }
            assert!(
                seen.iter().all(|&n| n == 1),
                "{batch}×{spatial}×{classes} vec {vec}"
            );
        }
    }

    #[test]
    fn partial_indices_are_distinct_and_dense() {
        let v = variant(5, 5, 1, 1);
        let g = Geometry::new(&v, 3, 5000).unwrap();
        let mut seen = vec![false; g.partial_len];
        for plane in 0..g.planes {
            for chunk in 0..g.chunks as usize {
                for s in 0..STATISTICS {
                    let i = g.partial_index(plane, chunk, s);
                    assert!(!seen[i]);
                    seen[i] = true;
                }
            }
        }
        assert!(seen.iter().all(|&x| x));
    }

    #[test]
    fn class_groups_and_block_counts() {
        let g = Geometry::new(&variant(2, 2, 4, 4), 1, 128 * 128 * 128).unwrap();
        assert_eq!((g.group, g.groups), (2, 1));
        assert_eq!(g.chunk_positions, 4096);
        assert_eq!(g.chunks, 512);
        assert_eq!(g.stats_blocks, 512);
        assert_eq!(g.grad_blocks, 2 * 128 * 128 * 128 / 1024);
        let g = Geometry::new(&variant(20, 20, 1, 1), 2, 10).unwrap();
        assert_eq!((g.group, g.groups, g.chunks), (8, 3, 1));
        assert_eq!(g.stats_blocks, 6);
        assert_eq!(g.grad_blocks, 2);
    }

    #[test]
    fn oversized_problems_are_refused() {
        let e = Geometry::new(&variant(2, 2, 1, 1), 1 << 20, 1 << 20);
        assert!(matches!(e, Err(CudaLossError::TooLarge { .. })));
    }
}
