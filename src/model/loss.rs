//! Binary cross-entropy on logits, averaged over the batch (`nn.BCEWithLogitsLoss()`).
//!
//! `l(z, y) = max(z, 0) - z y + log(1 + exp(-|z|))`, which never overflows, and
//! `dl/dz = sigma(z) - y`.

use crate::float::{sigmoid, Float};

/// Per-example loss, computed stably.
pub fn bce_with_logits<F: Float>(z: F, y: F) -> F {
    z.max(F::zero()) - z * y + (-z.abs()).exp().ln_1p()
}

/// Mean loss over the batch and its gradient with respect to each logit.
pub fn mean_bce_with_logits<F: Float>(logits: &[F], labels: &[F]) -> (F, Vec<F>) {
    debug_assert_eq!(logits.len(), labels.len());
    if logits.is_empty() {
        return (F::zero(), Vec::new());
    }
    let scale = F::one() / F::of(logits.len() as f64);
    let mut total = F::zero();
    let grads = logits
        .iter()
        .zip(labels)
        .map(|(&z, &y)| {
            total = total + bce_with_logits(z, y);
            (sigmoid(z) - y) * scale
        })
        .collect();
    (total * scale, grads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_naive_formula_and_stays_finite() {
        for &(z, y) in &[(0.3f64, 1.0), (-2.0, 0.0), (5.0, 0.0), (-0.7, 1.0)] {
            let p = 1.0 / (1.0 + (-z).exp());
            let naive = -(y * p.ln() + (1.0 - y) * (1.0 - p).ln());
            assert!((bce_with_logits(z, y) - naive).abs() < 1e-12);
        }
        assert!((bce_with_logits(1000.0f64, 0.0) - 1000.0).abs() < 1e-9);
        assert!(bce_with_logits(-1000.0f64, 0.0).abs() < 1e-12);
        assert!(bce_with_logits(1e30f32, 1.0).is_finite());
    }

    #[test]
    fn gradient_is_sigmoid_minus_label_over_batch() {
        let (loss, g) = mean_bce_with_logits(&[0.0f64, 2.0], &[1.0, 0.0]);
        assert!((loss - (2f64.ln() + bce_with_logits(2.0, 0.0)) / 2.0).abs() < 1e-12);
        assert!((g[0] - (-0.25)).abs() < 1e-12);
        assert!((g[1] - sigmoid(2.0) / 2.0).abs() < 1e-12);
    }
}
