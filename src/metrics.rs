//! Binary classification metrics from logits and labels.

use serde::{Deserialize, Serialize};

use crate::float::sigmoid;
use crate::model::loss::bce_with_logits;

/// Counts of the confusion matrix (positive = label true).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    pub true_positive: usize,
    pub false_positive: usize,
    pub true_negative: usize,
    pub false_negative: usize,
}

/// Metrics of one evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub count: usize,
    pub threshold: f64,
    pub accuracy: f64,
    /// TP / (TP + FP); 0 when nothing is predicted positive.
    pub precision: f64,
    /// TP / (TP + FN); 0 when there are no positives.
    pub recall: f64,
    /// Harmonic mean of precision and recall; 0 when both are 0.
    pub f1: f64,
    /// Area under the ROC curve (ties count one half); `None` when only one class is present.
    pub roc_auc: Option<f64>,
    /// Mean binary cross-entropy.
    pub log_loss: f64,
    /// Fraction of rows labelled positive.
    pub positive_rate: f64,
    pub confusion: Confusion,
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Computes [`Metrics`]; a row is predicted positive when `sigmoid(logit) >= threshold`.
pub fn evaluate(logits: &[f64], labels: &[bool], threshold: f64) -> Metrics {
    debug_assert_eq!(logits.len(), labels.len());
    let mut c = Confusion::default();
    let mut loss = 0.0;
    for (&z, &y) in logits.iter().zip(labels) {
        let predicted = sigmoid(z) >= threshold;
        match (predicted, y) {
            (true, true) => c.true_positive += 1,
            (true, false) => c.false_positive += 1,
            (false, false) => c.true_negative += 1,
            (false, true) => c.false_negative += 1,
        }
        loss += bce_with_logits(z, if y { 1.0 } else { 0.0 });
    }
    let n = logits.len();
    let precision = ratio(c.true_positive, c.true_positive + c.false_positive);
    let recall = ratio(c.true_positive, c.true_positive + c.false_negative);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    Metrics {
        count: n,
        threshold,
        accuracy: ratio(c.true_positive + c.true_negative, n),
        precision,
        recall,
        f1,
        roc_auc: roc_auc(logits, labels),
        log_loss: if n == 0 { 0.0 } else { loss / n as f64 },
        positive_rate: ratio(labels.iter().filter(|&&y| y).count(), n),
        confusion: c,
    }
}

/// What [`best_threshold`] maximises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    Accuracy,
    F1,
}

/// The decision threshold that maximises `objective` on the given data. Candidates are the
/// midpoints between consecutive distinct probabilities (and points just outside the range), so
/// the choice does not sit on any example's exact score; ties go to the candidate closest to
/// 0.5. Returns `(threshold, objective value)`.
pub fn best_threshold(logits: &[f64], labels: &[bool], objective: Objective) -> (f64, f64) {
    let mut scored: Vec<(f64, bool)> = logits
        .iter()
        .map(|&z| sigmoid(z))
        .zip(labels.iter().copied())
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let positives = labels.iter().filter(|&&y| y).count();
    let n = labels.len();
    let value = |tp: usize, fp: usize| -> f64 {
        let fn_ = positives - tp;
        let tn = n - positives - fp;
        match objective {
            Objective::Accuracy => ratio(tp + tn, n),
            Objective::F1 => ratio(2 * tp, 2 * tp + fp + fn_),
        }
    };
    // Threshold above every score: nothing positive.
    let top = scored.first().map_or(0.5, |s| s.0);
    let mut best = ((top + 1.0) / 2.0, value(0, 0));
    let (mut tp, mut fp) = (0, 0);
    let mut i = 0;
    while i < scored.len() {
        // Take every example with this exact probability together.
        let p = scored[i].0;
        while i < scored.len() && scored[i].0 == p {
            if scored[i].1 {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        let next = scored.get(i).map_or(0.0, |s| s.0);
        let threshold = (p + next) / 2.0;
        let v = value(tp, fp);
        if v > best.1 || (v == best.1 && (threshold - 0.5).abs() < (best.0 - 0.5).abs()) {
            best = (threshold, v);
        }
    }
    // Keep the threshold strictly inside (0, 1), as the model file requires.
    (best.0.clamp(1e-9, 1.0 - 1e-9), best.1)
}

/// ROC AUC by the Mann-Whitney statistic with mid-ranks for ties:
/// `(sum of positive ranks - P (P + 1) / 2) / (P N)`.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let positives = labels.iter().filter(|&&y| y).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their mean.
        let mid_rank = (i + j + 2) as f64 / 2.0;
        rank_sum += mid_rank * order[i..=j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j + 1;
    }
    let p = positives as f64;
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_ratios() {
        let logits = [2.0, 1.0, -1.0, -2.0, 0.5];
        let labels = [true, false, true, false, true];
        let m = evaluate(&logits, &labels, 0.5);
        assert_eq!(
            m.confusion,
            Confusion {
                true_positive: 2,
                false_positive: 1,
                true_negative: 1,
                false_negative: 1
            }
        );
        assert!((m.accuracy - 0.6).abs() < 1e-12);
        assert!((m.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.f1 - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.positive_rate - 0.6).abs() < 1e-12);
        // Pairs (pos, neg): (2,1) (2,-2) (-1,1)x (-1,-2) (0.5,1)x (0.5,-2): 4 of 6.
        assert!((m.roc_auc.unwrap() - 4.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn auc_ties_and_degenerate_cases() {
        assert_eq!(roc_auc(&[0.0, 0.0], &[true, false]), Some(0.5));
        assert_eq!(roc_auc(&[1.0, 0.0], &[true, false]), Some(1.0));
        assert_eq!(roc_auc(&[1.0, 0.0], &[true, true]), None);
        let m = evaluate(&[-3.0, -3.0], &[false, false], 0.5);
        assert_eq!(
            (m.precision, m.recall, m.f1, m.accuracy),
            (0.0, 0.0, 0.0, 1.0)
        );
    }

    #[test]
    fn best_threshold_separates_when_it_can() {
        // Probabilities 0.2 0.4 0.6 0.8 for labels n p n p: the best accuracy is 3/4.
        let logit = |p: f64| (p / (1.0 - p)).ln();
        let logits: Vec<f64> = [0.2, 0.4, 0.6, 0.8].iter().map(|&p| logit(p)).collect();
        let labels = [false, true, false, true];
        let (t, acc) = best_threshold(&logits, &labels, Objective::Accuracy);
        assert_eq!(acc, 0.75);
        let m = evaluate(&logits, &labels, t);
        assert_eq!(m.accuracy, 0.75);
        // F1 is best when everything from 0.4 up is positive: 2*2 / (2*2 + 1) = 0.8.
        let (t, f1) = best_threshold(&logits, &labels, Objective::F1);
        assert!((f1 - 0.8).abs() < 1e-12 && t > 0.2 && t < 0.4, "{t} {f1}");
        assert!((evaluate(&logits, &labels, t).f1 - 0.8).abs() < 1e-12);
        // A perfectly separable set gets accuracy 1 with a threshold between the classes.
        let (t, acc) = best_threshold(
            &[logit(0.1), logit(0.3)],
            &[false, true],
            Objective::Accuracy,
        );
        assert_eq!(acc, 1.0);
        assert!(t > 0.1 && t < 0.3);
    }

    #[test]
    fn threshold_moves_the_decision() {
        let m = evaluate(&[0.1], &[true], 0.6);
        assert_eq!(m.confusion.false_negative, 1);
        let m = evaluate(&[0.1], &[true], 0.5);
        assert_eq!(m.confusion.true_positive, 1);
    }
}
