//! proptest strategies for backend crates (feature `proptest`): draws that [`crate::conformance::cases::build`]
//! turns into valid problems of every function and convention, so a backend can write property
//! tests against the oracle. A failing draw prints its seed and shape; `build` rebuilds it.

use crate::conformance::cases::Draw;
use proptest::prelude::*;

/// Draws of any function, convention, shape (1-D to 3-D, 1 to 5 classes), layout, dtype and
/// parameters.
pub fn draws() -> impl Strategy<Value = Draw> {
    (
        (
            0usize..12,
            0usize..3,
            proptest::collection::vec(1usize..5, 1..=3),
            1usize..=5,
            1usize..=2,
        ),
        (
            any::<bool>(),
            any::<bool>(),
            any::<u64>(),
            0.3f64..3.0,
            any::<u64>(),
        ),
    )
        .prop_map(
            |(
                (function, convention, spatial, classes, batch),
                (channels_last, float32, seed, scale, params_seed),
            )| Draw {
                function,
                convention,
                spatial,
                classes,
                batch,
                channels_last,
                float32,
                seed,
                scale,
                params_seed,
            },
        )
}
