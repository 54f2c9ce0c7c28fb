//! Where the fast path's items run: on rayon's thread pool with the feature `parallel`, one
//! after another without it. The sequential stand-ins have rayon's method names and return the
//! standard iterators, so the passes read the same either way; their results are the same bits
//! too, since the items' sums are combined in item order whatever ran them.

#[cfg(feature = "parallel")]
pub(super) use rayon::prelude::*;

#[cfg(not(feature = "parallel"))]
pub(super) use sequential::*;

#[cfg(not(feature = "parallel"))]
mod sequential {
    /// `par_iter` on a slice: its items in order.
    pub trait ParIter<T> {
        fn par_iter(&self) -> std::slice::Iter<'_, T>;
    }

    impl<T> ParIter<T> for [T] {
        fn par_iter(&self) -> std::slice::Iter<'_, T> {
            self.iter()
        }
    }

    /// `into_par_iter` on anything iterable: its items in order.
    pub trait IntoParIter: IntoIterator + Sized {
        fn into_par_iter(self) -> Self::IntoIter {
            self.into_iter()
        }
    }

    impl<I: IntoIterator> IntoParIter for I {}

    /// `par_chunks_mut` on a slice: its chunks in order.
    pub trait ParChunksMut<T> {
        fn par_chunks_mut(&mut self, size: usize) -> std::slice::ChunksMut<'_, T>;
    }

    impl<T> ParChunksMut<T> for [T] {
        fn par_chunks_mut(&mut self, size: usize) -> std::slice::ChunksMut<'_, T> {
            self.chunks_mut(size)
        }
    }
}
