//! Binary cross-entropy on logits, averaged over the batch (`nn.BCEWithLogitsLoss()`), with an
//! optional weight w on the positive class (`pos_weight`):
//!
//! `l(z, y) = -w y log sigma(z) - (1 - y) log(1 - sigma(z))`
//! `        = (1 - y) z + (1 + (w - 1) y) softplus(-z)`, `softplus(-z) = max(-z, 0) + log(1 + exp(-|z|))`
//!
//! which never overflows (`exp` and `log1p` from the `libm` crate: the same bits on every
//! CPU); `dl/dz = (1 - y) - (1 + (w - 1) y) sigma(-z)`, which is
//! `sigma(z) - y` for w = 1.

use crate::kernels::float::{sigmoid, Float};

/// Per-example loss, computed stably.
pub fn bce_with_logits<F: Float>(z: F, y: F) -> F {
    z.max(F::zero()) - z * y + (-z.abs()).portable_exp().portable_ln_1p()
}

/// Per-example loss with positive-class weight `w`.
pub fn weighted_bce_with_logits<F: Float>(z: F, y: F, w: F) -> F {
    let one = F::one();
    let softplus_neg = (-z).max(F::zero()) + (-z.abs()).portable_exp().portable_ln_1p();
    (one - y) * z + (one + (w - one) * y) * softplus_neg
}

/// Mean loss over the batch and its gradient with respect to each logit; `pos_weight` is w.
pub fn mean_bce_with_logits<F: Float>(logits: &[F], labels: &[F], pos_weight: F) -> (F, Vec<F>) {
    let scale = F::one() / F::of(logits.len().max(1) as f64);
    bce_with_logits_scaled(logits, labels, pos_weight, scale)
}

/// `scale` times the summed loss, and its gradients: with `scale = 1 / batch rows`, a part of a
/// batch (a shard) gets its share of the batch mean.
pub fn bce_with_logits_scaled<F: Float>(
    logits: &[F],
    labels: &[F],
    pos_weight: F,
    scale: F,
) -> (F, Vec<F>) {
    debug_assert_eq!(logits.len(), labels.len());
    let one = F::one();
    let mut total = F::zero();
    let grads = logits
        .iter()
        .zip(labels)
        .map(|(&z, &y)| {
            if pos_weight == one {
                total += bce_with_logits(z, y);
                (sigmoid(z) - y) * scale
            } else {
                total += weighted_bce_with_logits(z, y, pos_weight);
                ((one - y) - (one + (pos_weight - one) * y) * sigmoid(-z)) * scale
            }
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
            let p = 1.0 / (1.0 + libm::exp(-z));
            let naive = -(y * libm::log(p) + (1.0 - y) * libm::log(1.0 - p));
            assert!((bce_with_logits(z, y) - naive).abs() < 1e-12);
        }
        assert!((bce_with_logits(1000.0f64, 0.0) - 1000.0).abs() < 1e-9);
        assert!(bce_with_logits(-1000.0f64, 0.0).abs() < 1e-12);
        assert!(bce_with_logits(1e30f32, 1.0).is_finite());
    }

    #[test]
    fn gradient_is_sigmoid_minus_label_over_batch() {
        let (loss, g) = mean_bce_with_logits(&[0.0f64, 2.0], &[1.0, 0.0], 1.0);
        assert!((loss - (std::f64::consts::LN_2 + bce_with_logits(2.0, 0.0)) / 2.0).abs() < 1e-12);
        assert!((g[0] - (-0.25)).abs() < 1e-12);
        assert!((g[1] - sigmoid(2.0) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn positive_weight_scales_the_positive_term() {
        for &(z, y) in &[(0.3f64, 1.0), (-2.0, 0.0), (3.0, 0.0), (-4.0, 1.0)] {
            let p = sigmoid(z);
            let naive = -(3.0 * y * libm::log(p) + (1.0 - y) * libm::log(1.0 - p));
            let got = weighted_bce_with_logits(z, y, 3.0);
            assert!((got - naive).abs() < 1e-9 * naive.abs().max(1.0), "{z} {y}");
            assert!((weighted_bce_with_logits(z, y, 1.0) - bce_with_logits(z, y)).abs() < 1e-12);
        }
        // Extreme logits stay finite: 3 * 40 and (almost) 0.
        assert!((weighted_bce_with_logits(-40.0f64, 1.0, 3.0) - 120.0).abs() < 1e-9);
        assert!(weighted_bce_with_logits(40.0f64, 1.0, 3.0).abs() < 1e-15);
        assert!(weighted_bce_with_logits(1e30f32, 0.0, 3.0).is_finite());
        // Gradient by central differences.
        let (z, h) = (0.7f64, 1e-6);
        let (_, g) = mean_bce_with_logits(&[z], &[1.0], 2.5);
        let numeric = (weighted_bce_with_logits(z + h, 1.0, 2.5)
            - weighted_bce_with_logits(z - h, 1.0, 2.5))
            / (2.0 * h);
        assert!((g[0] - numeric).abs() < 1e-8);
    }
}
