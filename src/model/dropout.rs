//! Inverted dropout: in training each value is zeroed with probability p and the survivors are
//! scaled by 1 / (1 - p), so nothing changes at evaluation, where dropout is off.

use ndarray::Array2;

use crate::kernels::float::Float;
use crate::rng::Rng;

/// A `(rows, cols)` mask of 0 and 1 / (1 - p), drawn row-major from `rng`.
pub fn mask<F: Float>(rows: usize, cols: usize, p: f64, rng: &mut Rng) -> Array2<F> {
    let keep = F::of(1.0 / (1.0 - p));
    Array2::from_shape_simple_fn((rows, cols), || {
        if rng.uniform() < p {
            F::zero()
        } else {
            keep
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_expected_fraction_and_the_mean() {
        let m: Array2<f64> = mask(200, 100, 0.3, &mut Rng::new(1));
        let kept = m.iter().filter(|&&x| x > 0.0).count() as f64 / m.len() as f64;
        assert!((kept - 0.7).abs() < 0.01, "{kept}");
        assert!((m.mean().unwrap() - 1.0).abs() < 0.02);
        assert!(m.iter().all(|&x| x == 0.0 || (x - 1.0 / 0.7).abs() < 1e-12));
    }
}
