//! The scalar type the math is generic over.
//!
//! Training and serving run in `f32`; the gradient checks and the PyTorch reference tests run the
//! very same code in `f64`, so the tolerances there can be tight (1e-9) instead of guessed.

use std::fmt::{Debug, Display};

use ndarray::{LinalgScalar, ScalarOperand};
use num_traits::{Float as NumFloat, FromPrimitive, NumAssign, ToPrimitive};

/// A floating-point type the model can compute in (`f32` or `f64`).
pub trait Float:
    NumFloat
    + NumAssign
    + LinalgScalar
    + ScalarOperand
    + FromPrimitive
    + ToPrimitive
    + Debug
    + Display
    + Default
    + Send
    + Sync
    + 'static
{
    /// Converts an `f64` constant; exact for `f64`, rounded to nearest for `f32`.
    fn of(x: f64) -> Self;

    /// Widens to `f64` (exact for both `f32` and `f64`).
    fn to_f64_exact(self) -> f64;
}

impl Float for f32 {
    fn of(x: f64) -> Self {
        x as f32
    }
    fn to_f64_exact(self) -> f64 {
        f64::from(self)
    }
}

impl Float for f64 {
    fn of(x: f64) -> Self {
        x
    }
    fn to_f64_exact(self) -> f64 {
        self
    }
}

/// `sigma(x) = 1 / (1 + exp(-x))`, written so that neither branch overflows.
#[inline]
pub fn sigmoid<F: Float>(x: F) -> F {
    if x >= F::zero() {
        F::one() / (F::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (F::one() + e)
    }
}
