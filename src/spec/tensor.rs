//! Arrays, their layouts and dtypes, and the checks every input goes through.
//!
//! Data is held as flat row-major `f64` (every float32 value is exactly an f64). The declared
//! [`Dtype`] is the precision the inputs came in: it fixes the dtype-dependent constants of the
//! references (the clip bounds `dtype(1e-7)`, `dtype(1 - 1e-7)`), exactly as TensorFlow and
//! torch convert them, and an `F32` input must hold float32 values.

use crate::spec::error::UflError;

/// The largest element count the oracle accepts for one array: 2²⁸ values (2 GiB as f64).
/// Larger shapes are refused before anything is allocated.
pub const MAX_ELEMENTS: usize = 1 << 28;

/// The precision of the inputs (and of the reference's arithmetic).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dtype {
    F32,
    F64,
}

impl Dtype {
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UflError> {
        match s {
            "float32" | "f32" => Ok(Dtype::F32),
            "float64" | "f64" => Ok(Dtype::F64),
            _ => Err(UflError::UnknownDtype(s.to_string())),
        }
    }

    /// Bits of this dtype's significand (24 for float32, 53 for float64).
    pub fn significand_bits(self) -> u32 {
        match self {
            Dtype::F32 => 24,
            Dtype::F64 => 53,
        }
    }

    /// Rounds an f64 constant to this dtype, as `tf.constant`/torch do with Python floats.
    pub fn round(self, x: f64) -> f64 {
        match self {
            Dtype::F32 => x as f32 as f64,
            Dtype::F64 => x,
        }
    }

    /// Clip bounds `[dtype(eps), dtype(1 - eps)]`, with `1 - eps` computed in f64 first.
    pub fn clip_bounds(self, eps: f64) -> (f64, f64) {
        (self.round(eps), self.round(1.0 - eps))
    }
}

/// Where the class axis is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// `(B, C, spatial...)`, as torch and MONAI.
    ChannelsFirst,
    /// `(B, spatial..., C)`, as the original Keras code.
    ChannelsLast,
}

impl Layout {
    pub fn parse(s: &str) -> Result<Self, UflError> {
        match s {
            "channels-first" | "channels_first" | "first" => Ok(Layout::ChannelsFirst),
            "channels-last" | "channels_last" | "last" => Ok(Layout::ChannelsLast),
            _ => Err(UflError::UnknownLayout(s.to_string())),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Layout::ChannelsFirst => "channels-first",
            Layout::ChannelsLast => "channels-last",
        }
    }
}

/// A flat row-major array with its shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

/// The element count of `shape`, refusing overflow and shapes above [`MAX_ELEMENTS`].
pub fn element_count(what: &'static str, shape: &[usize]) -> Result<usize, UflError> {
    let mut n: usize = 1;
    for &d in shape {
        n = n.checked_mul(d).ok_or_else(|| UflError::TooLarge {
            what,
            shape: shape.to_vec(),
            limit: MAX_ELEMENTS,
        })?;
    }
    if n > MAX_ELEMENTS {
        return Err(UflError::TooLarge {
            what,
            shape: shape.to_vec(),
            limit: MAX_ELEMENTS,
        });
    }
    Ok(n)
}

/// An array in the precision its file holds: a float32 file stays float32 in memory (half the
/// bytes of a [`Tensor`]), and the fast path widens each element as it reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredTensor {
    pub shape: Vec<usize>,
    pub data: StoredData,
}

/// The elements of a [`StoredTensor`].
#[derive(Clone, Debug, PartialEq)]
pub enum StoredData {
    F64(Vec<f64>),
    F32(Vec<f32>),
}

impl StoredTensor {
    /// The precision of the stored elements.
    pub fn dtype(&self) -> Dtype {
        match self.data {
            StoredData::F64(_) => Dtype::F64,
            StoredData::F32(_) => Dtype::F32,
        }
    }

    /// The number of stored elements.
    pub fn data_len(&self) -> usize {
        match &self.data {
            StoredData::F64(v) => v.len(),
            StoredData::F32(v) => v.len(),
        }
    }

    /// The float64 tensor of the same values (exact: every float32 is a float64).
    pub fn widen(self, what: &'static str) -> Result<Tensor, UflError> {
        let data = match self.data {
            StoredData::F64(v) => v,
            StoredData::F32(v) => v.into_iter().map(f64::from).collect(),
        };
        Tensor::new(what, self.shape, data)
    }
}

impl Tensor {
    /// A tensor whose data length matches its shape.
    pub fn new(what: &'static str, shape: Vec<usize>, data: Vec<f64>) -> Result<Self, UflError> {
        let expected = element_count(what, &shape)?;
        if data.len() != expected {
            return Err(UflError::LengthMismatch {
                what,
                shape,
                len: data.len(),
                expected,
            });
        }
        Ok(Tensor { shape, data })
    }

    /// Checks rank ≥ 2, no empty axis, finite values, and representability in `dtype`.
    pub fn check(&self, what: &'static str, dtype: Dtype) -> Result<(), UflError> {
        if self.shape.len() < 2 {
            return Err(UflError::InvalidRank {
                what,
                rank: self.shape.len(),
                expected: "at least (batch, classes) is needed",
            });
        }
        if let Some(axis) = self.shape.iter().position(|&d| d == 0) {
            return Err(UflError::EmptyAxis {
                what,
                shape: self.shape.clone(),
                axis,
            });
        }
        for (index, &value) in self.data.iter().enumerate() {
            if !value.is_finite() {
                return Err(UflError::NonFinite { what, index, value });
            }
            if dtype.round(value) != value {
                return Err(UflError::NotRepresentable {
                    what,
                    index,
                    value,
                    dtype: dtype.name(),
                });
            }
        }
        Ok(())
    }

    /// Checks that every value lies in [0, 1].
    pub fn check_unit_interval(&self, what: &'static str) -> Result<(), UflError> {
        match self.data.iter().position(|v| !(0.0..=1.0).contains(v)) {
            Some(index) => Err(UflError::OutsideUnitInterval {
                what,
                index,
                value: self.data[index],
            }),
            None => Ok(()),
        }
    }

    /// Moves axis 1 to the end: `(B, C, S...)` → `(B, S..., C)`. Rank < 3 is unchanged.
    pub fn channels_first_to_last(&self) -> Tensor {
        if self.shape.len() < 3 {
            return self.clone();
        }
        let mut shape = vec![self.shape[0]];
        shape.extend_from_slice(&self.shape[2..]);
        shape.push(self.shape[1]);
        Tensor {
            data: first_to_last(&self.data, &self.shape),
            shape,
        }
    }

    /// Moves the last axis to position 1: `(B, S..., C)` → `(B, C, S...)`. Rank < 3 is unchanged.
    pub fn channels_last_to_first(&self) -> Tensor {
        if self.shape.len() < 3 {
            return self.clone();
        }
        let r = self.shape.len();
        let mut shape = vec![self.shape[0], self.shape[r - 1]];
        shape.extend_from_slice(&self.shape[1..r - 1]);
        Tensor {
            data: last_to_first(&self.data, &self.shape),
            shape,
        }
    }
}

/// The data of a channels-first array of `shape`, reordered channels-last.
pub fn first_to_last<T: Copy>(data: &[T], shape: &[usize]) -> Vec<T> {
    let mut out = data.to_vec();
    if shape.len() >= 3 {
        let from = Grid::of(shape, Layout::ChannelsFirst);
        let to = Grid {
            channels_last: true,
            ..from
        };
        reorder(data, from, to, &mut out);
    }
    out
}

/// The data of a channels-last array of `shape`, reordered channels-first.
pub fn last_to_first<T: Copy>(data: &[T], shape: &[usize]) -> Vec<T> {
    let mut out = data.to_vec();
    if shape.len() >= 3 {
        let from = Grid::of(shape, Layout::ChannelsLast);
        let to = Grid {
            channels_last: false,
            ..from
        };
        reorder(data, from, to, &mut out);
    }
    out
}

fn reorder<T: Copy>(data: &[T], from: Grid, to: Grid, out: &mut [T]) {
    for b in 0..from.batch {
        for s in 0..from.spatial {
            for c in 0..from.classes {
                out[to.at(b, s, c)] = data[from.at(b, s, c)];
            }
        }
    }
}

/// `(B, C, S)` of a channels-first shape; axes a short shape lacks count as 1.
pub fn split_first(shape: &[usize]) -> (usize, usize, usize) {
    let at = |i: usize| shape.get(i).copied().unwrap_or(1);
    (
        at(0),
        at(1),
        shape.get(2..).map_or(1, |s| s.iter().product()),
    )
}

/// `(B, S, C)` of a channels-last shape; axes a short shape lacks count as 1.
pub fn split_last(shape: &[usize]) -> (usize, usize, usize) {
    match shape.len() {
        0 => (1, 1, 1),
        1 => (shape[0], 1, 1),
        r => (shape[0], shape[1..r - 1].iter().product(), shape[r - 1]),
    }
}

/// Index arithmetic for a `(batch, spatial, class)` view of a flat array in either layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    pub batch: usize,
    pub spatial: usize,
    pub classes: usize,
    pub channels_last: bool,
}

impl Grid {
    pub fn of(shape: &[usize], layout: Layout) -> Grid {
        match layout {
            Layout::ChannelsLast => {
                let (batch, spatial, classes) = split_last(shape);
                Grid {
                    batch,
                    spatial,
                    classes,
                    channels_last: true,
                }
            }
            Layout::ChannelsFirst => {
                let (batch, classes, spatial) = split_first(shape);
                Grid {
                    batch,
                    spatial,
                    classes,
                    channels_last: false,
                }
            }
        }
    }

    #[inline]
    pub fn at(&self, b: usize, s: usize, c: usize) -> usize {
        if self.channels_last {
            (b * self.spatial + s) * self.classes + c
        } else {
            (b * self.classes + c) * self.spatial + s
        }
    }

    pub fn len(&self) -> usize {
        self.batch * self.spatial * self.classes
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposes_round_trip() {
        let t = Tensor::new("x", vec![2, 3, 2, 2], (0..24).map(|i| i as f64).collect()).unwrap();
        let last = t.channels_first_to_last();
        assert_eq!(last.shape, vec![2, 2, 2, 3]);
        assert_eq!(last.channels_last_to_first(), t);
        let g = Grid::of(&last.shape, Layout::ChannelsLast);
        let f = Grid::of(&t.shape, Layout::ChannelsFirst);
        for b in 0..2 {
            for s in 0..4 {
                for c in 0..3 {
                    assert_eq!(last.data[g.at(b, s, c)], t.data[f.at(b, s, c)]);
                }
            }
        }
    }

    #[test]
    fn sizes_are_checked_without_allocating() {
        assert!(matches!(
            element_count("x", &[usize::MAX, 2]),
            Err(UflError::TooLarge { .. })
        ));
        assert!(matches!(
            element_count("x", &[1 << 20, 1 << 20]),
            Err(UflError::TooLarge { .. })
        ));
        assert!(matches!(
            Tensor::new("x", vec![2, 2], vec![0.0; 3]),
            Err(UflError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn float32_clip_bounds_are_the_rounded_constants() {
        let (lo, hi) = Dtype::F32.clip_bounds(1e-7);
        assert_eq!(lo, 1.0000000116860974e-07);
        assert_eq!(hi, 0.9999998807907104);
        assert_eq!(Dtype::F64.clip_bounds(1e-7), (1e-7, 0.9999999));
    }
}
