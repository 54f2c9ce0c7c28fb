//! The caller's arrays as the passes read them: float64, or float32 storage widened to float64
//! element by element as a block is read (exact: every float32 is a float64), so that a float32
//! input is never copied whole into float64.

use crate::spec::tensor::StoredData;

/// A read-only view of an input array's elements.
#[derive(Clone, Copy, Debug)]
pub enum Values<'a> {
    F64(&'a [f64]),
    F32(&'a [f32]),
}

impl<'a> Values<'a> {
    pub fn of(data: &'a StoredData) -> Self {
        match data {
            StoredData::F64(v) => Values::F64(v),
            StoredData::F32(v) => Values::F32(v),
        }
    }

    pub fn len(self) -> usize {
        match self {
            Values::F64(v) => v.len(),
            Values::F32(v) => v.len(),
        }
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Element `i`.
    #[inline(always)]
    pub fn get(self, i: usize) -> f64 {
        match self {
            Values::F64(v) => v[i],
            Values::F32(v) => f64::from(v[i]),
        }
    }

    /// Elements `start..start + out.len()` as float64 slice: the array itself where it is
    /// float64, else widened into `out`.
    #[inline(always)]
    pub fn run<'s>(self, start: usize, out: &'s mut [f64]) -> &'s [f64]
    where
        'a: 's,
    {
        match self {
            Values::F64(v) => &v[start..start + out.len()],
            Values::F32(v) => {
                let n = out.len();
                for (o, &x) in out.iter_mut().zip(&v[start..start + n]) {
                    *o = f64::from(x);
                }
                out
            }
        }
    }

    /// `out[i] = self[start + i·stride]`.
    #[inline(always)]
    pub fn strided(self, start: usize, stride: usize, out: &mut [f64]) {
        match self {
            Values::F64(v) => {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = v[start + i * stride];
                }
            }
            Values::F32(v) => {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = f64::from(v[start + i * stride]);
                }
            }
        }
    }

    /// Splits the interleaved pairs `start..start + 2·c0.len()` into `c0` and `c1`.
    #[inline(always)]
    pub fn deinterleave(self, start: usize, c0: &mut [f64], c1: &mut [f64]) {
        let n = c0.len();
        match self {
            Values::F64(v) => {
                for (i, pair) in v[start..start + 2 * n].chunks_exact(2).enumerate() {
                    c0[i] = pair[0];
                    c1[i] = pair[1];
                }
            }
            Values::F32(v) => {
                for (i, pair) in v[start..start + 2 * n].chunks_exact(2).enumerate() {
                    c0[i] = f64::from(pair[0]);
                    c1[i] = f64::from(pair[1]);
                }
            }
        }
    }

    /// Whether elements `range` are all in `[0, 1]` and, with `float32`, float32 values.
    #[inline(always)]
    pub fn probabilities(self, range: std::ops::Range<usize>, float32: bool) -> bool {
        let mut ok = true;
        match self {
            Values::F64(v) if float32 => {
                for &x in &v[range] {
                    ok &= (0.0..=1.0).contains(&x) & ((x as f32 as f64) == x);
                }
            }
            Values::F64(v) => {
                for &x in &v[range] {
                    ok &= (0.0..=1.0).contains(&x);
                }
            }
            // Every float32 is a float32 value (and a float64 one).
            Values::F32(v) => {
                for &x in &v[range] {
                    ok &= (0.0..=1.0).contains(&x);
                }
            }
        }
        ok
    }
}
