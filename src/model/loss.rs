//! Binary cross-entropy on logits, averaged over the batch (`nn.BCEWithLogitsLoss()`), with an
//! optional weight w on the positive class (`pos_weight`):
//!
//! `l(z, y) = -w y log sigma(z) - (1 - y) log(1 - sigma(z))`
//! `        = (1 - y) z + (1 + (w - 1) y) softplus(-z)`, `softplus(-z) = max(-z, 0) + log(1 + exp(-|z|))`
//!
//! which never overflows (`exp` and `log1p` from the `libm` crate: the same bits on every
//! CPU); `dl/dz = (1 - y) - (1 + (w - 1) y) sigma(-z)`, which is
//! `sigma(z) - y` for w = 1.
//!
//! K classes: softmax cross-entropy (`nn.CrossEntropyLoss(weight=w)`, mean reduction), which
//! divides by the summed weights of the rows' targets, not by the row count:
//!
//! `L = sum_i w_{y_i} (logsumexp(z_i) - z_{i,y_i}) / sum_i w_{y_i}`
//! `dL/dz_i = (softmax(z_i) - onehot(y_i)) w_{y_i} / sum_i w_{y_i}`
//!
//! [`Objective`] picks one of the two by the model's head, so callers hold logits `(B, K)` and
//! class indices whichever it is.

use ndarray::{Array2, ArrayView1, ArrayView2};

use crate::kernels::float::{log_sum_exp, sigmoid, softmax_in_place, Float};

/// The loss a model trains with, chosen by its head.
#[derive(Clone, Debug, PartialEq)]
pub enum Objective<F> {
    /// One logit per row, class 1 positive: BCE with the positive class weighted `pos_weight`.
    Binary { pos_weight: F },
    /// K logits per row: softmax cross-entropy, class k weighted `weights[k]` (empty: all 1).
    Classes { weights: Vec<F> },
}

impl<F: Float> Objective<F> {
    /// The binary loss, or for `classes > 0` the K-class one with `weights` (empty or one per
    /// class).
    pub fn new(classes: usize, pos_weight: f64, weights: &[f64]) -> Self {
        if classes == 0 {
            Objective::Binary {
                pos_weight: F::of(pos_weight),
            }
        } else {
            debug_assert!(weights.is_empty() || weights.len() == classes);
            Objective::Classes {
                weights: weights.iter().map(|&w| F::of(w)).collect(),
            }
        }
    }

    /// What the mean divides by for rows of classes `targets`: the row count for the binary
    /// loss (`pos_weight` weighs terms, not rows), `sum_i w_{y_i}` for K classes.
    pub fn denominator(&self, targets: &[usize]) -> f64 {
        match self {
            Objective::Classes { weights } if !weights.is_empty() => {
                targets.iter().map(|&y| weights[y].to_f64_exact()).sum()
            }
            _ => targets.len() as f64,
        }
    }

    /// The mean loss over a batch and its gradient `(B, K)` on the logits `(B, K)`.
    pub fn mean(&self, logits: ArrayView2<'_, F>, targets: &[usize]) -> (F, Array2<F>) {
        let scale = F::one() / F::of(self.denominator(targets).max(f64::MIN_POSITIVE));
        self.scaled(logits, targets, scale)
    }

    /// `scale` times the summed (weighted) loss, and its gradients `(B, K)`: with
    /// `scale = 1 / denominator(batch)`, a shard of a batch gets its share of the batch mean.
    pub fn scaled(&self, logits: ArrayView2<'_, F>, targets: &[usize], scale: F) -> (F, Array2<F>) {
        debug_assert_eq!(logits.nrows(), targets.len());
        match self {
            Objective::Binary { pos_weight } => {
                debug_assert_eq!(logits.ncols(), 1);
                let z = logits.as_slice().expect("standard layout");
                let y: Vec<F> = targets.iter().map(|&t| F::of(t as f64)).collect();
                let (loss, d_z) = bce_with_logits_scaled(z, &y, *pos_weight, scale);
                let d_z = Array2::from_shape_vec((z.len(), 1), d_z).expect("(B, 1)");
                (loss, d_z)
            }
            Objective::Classes { weights } => {
                softmax_cross_entropy_scaled(logits, targets, weights, scale)
            }
        }
    }

    /// Whether a row's prediction is its class: `z >= 0` is class 1 for the binary head, the
    /// first largest logit for K classes (as `torch.argmax`).
    pub fn correct(&self, z: ArrayView1<'_, F>, target: usize) -> bool {
        match self {
            Objective::Binary { .. } => (z[0] >= F::zero()) == (target == 1),
            Objective::Classes { .. } => argmax(z) == target,
        }
    }
}

/// The index of the first largest value (as `torch.argmax`); 0 for an empty row.
pub fn argmax<F: Float>(z: ArrayView1<'_, F>) -> usize {
    let mut best = 0;
    for (k, &x) in z.iter().enumerate() {
        if x > z[best] {
            best = k;
        }
    }
    best
}

/// Softmax cross-entropy, `scale` times summed over rows, with class weights `weights` (empty:
/// all 1), and its gradients on the logits `(B, K)`:
/// `l_i = w_{y_i} (logsumexp(z_i) - z_{i,y_i})`, `dl_i/dz_i = w_{y_i} (softmax(z_i) - onehot(y_i))`.
pub fn softmax_cross_entropy_scaled<F: Float>(
    logits: ArrayView2<'_, F>,
    targets: &[usize],
    weights: &[F],
    scale: F,
) -> (F, Array2<F>) {
    debug_assert_eq!(logits.nrows(), targets.len());
    debug_assert!(weights.is_empty() || weights.len() == logits.ncols());
    let mut total = F::zero();
    let mut d_logits = logits.to_owned();
    for (mut d_z, (z, &y)) in d_logits
        .rows_mut()
        .into_iter()
        .zip(logits.rows().into_iter().zip(targets))
    {
        debug_assert!(y < z.len(), "class {y} of {}", z.len());
        let w = weights.get(y).copied().unwrap_or_else(F::one);
        let z = z.as_slice().expect("standard layout");
        total += w * (log_sum_exp(z) - z[y]);
        let d_z = d_z.as_slice_mut().expect("standard layout");
        softmax_in_place(d_z);
        d_z[y] -= F::one();
        for d in d_z.iter_mut() {
            *d *= w * scale;
        }
    }
    (total * scale, d_logits)
}

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
    use ndarray::array;

    /// Two rows, three classes, by hand: z = (0, ln 2, 0) has softmax (1/4, 1/2, 1/4).
    #[test]
    fn softmax_cross_entropy_by_hand() {
        let z = array![[0.0f64, libm::log(2.0), 0.0], [1000.0, 0.0, 0.0]];
        let (loss, d) = Objective::Classes { weights: vec![] }.mean(z.view(), &[1, 2]);
        // l_0 = ln 4 - ln 2 = ln 2; l_1 = 1000 (log-sum-exp keeps it finite).
        assert!((loss - (libm::log(2.0) + 1000.0) / 2.0).abs() < 1e-12);
        let want = [[0.125, -0.25, 0.125], [0.5, 0.0, -0.5]];
        for (got, want) in d.iter().zip(want.iter().flatten()) {
            assert!((got - want).abs() < 1e-15, "{got} {want}");
        }
        // Class weights: the mean divides by w_1 + w_2 = 2 + 0.5, each row scaled by its w.
        let weighted = Objective::Classes {
            weights: vec![1.0, 2.0, 0.5],
        };
        assert_eq!(weighted.denominator(&[1, 2]), 2.5);
        let (loss, d) = weighted.mean(z.view(), &[1, 2]);
        assert!((loss - (2.0 * libm::log(2.0) + 0.5 * 1000.0) / 2.5).abs() < 1e-12);
        // (softmax - onehot) w_y / 2.5: (1/2 - 1) 2 / 2.5 and (0 - 1) 0.5 / 2.5.
        assert!((d[(0, 1)] - (-1.0 / 2.5)).abs() < 1e-15);
        assert!((d[(1, 2)] - (-0.5 / 2.5)).abs() < 1e-15);
    }

    #[test]
    fn softmax_cross_entropy_gradient_matches_central_differences() {
        let z = array![[0.3f64, -1.2, 2.0, 0.1], [-0.5, 0.4, 0.0, 1.5]];
        let objective = Objective::Classes {
            weights: vec![0.5, 2.0, 1.0, 3.0],
        };
        let targets = [3, 1];
        let (_, d) = objective.mean(z.view(), &targets);
        let h = 1e-6;
        for i in 0..2 {
            for k in 0..4 {
                let (mut plus, mut minus) = (z.clone(), z.clone());
                plus[(i, k)] += h;
                minus[(i, k)] -= h;
                let numeric = (objective.mean(plus.view(), &targets).0
                    - objective.mean(minus.view(), &targets).0)
                    / (2.0 * h);
                assert!((d[(i, k)] - numeric).abs() < 1e-9, "{i} {k}");
            }
        }
        // Each row's gradient sums to zero (softmax sums to one).
        for row in d.rows() {
            assert!(row.sum().abs() < 1e-15);
        }
    }

    #[test]
    fn binary_objective_is_the_bce_it_wraps_and_argmax_takes_the_first() {
        let z = array![[0.0f32], [2.0], [-1.0]];
        let (loss, d) = Objective::Binary { pos_weight: 2.0 }.mean(z.view(), &[1, 0, 0]);
        let (want_loss, want_d) = mean_bce_with_logits(&[0.0f32, 2.0, -1.0], &[1.0, 0.0, 0.0], 2.0);
        assert_eq!(loss.to_bits(), want_loss.to_bits());
        assert_eq!(d.as_slice().unwrap(), &want_d[..]);
        assert_eq!(argmax(array![1.0f64, 3.0, 3.0].view()), 1);
        let classes = Objective::<f64>::Classes { weights: vec![] };
        assert!(classes.correct(array![0.0, 1.0, 1.0].view(), 1));
        assert!(!classes.correct(array![0.0, 1.0, 1.0].view(), 2));
    }

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
