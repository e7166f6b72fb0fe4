//! Classification metrics from logits and labels: binary ([`evaluate`], thresholds, curves,
//! calibration) and K classes ([`evaluate_classes`]).

use serde::{Deserialize, Serialize};

use crate::kernels::float::sigmoid;
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

/// Precision, recall, F1 and support of one of K classes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    pub class: String,
    /// Rows predicted as this class that are of it; 0 when none is predicted as it.
    pub precision: f64,
    /// Rows of this class predicted as it; 0 when there are none.
    pub recall: f64,
    /// Harmonic mean of precision and recall; 0 when both are 0.
    pub f1: f64,
    /// Rows of this class.
    pub support: usize,
}

/// Metrics of one evaluation of a K-class model; the prediction is the most probable class
/// (the first of equals).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub count: usize,
    /// Class names in the model's order, which `per_class` and `confusion` follow.
    pub classes: Vec<String>,
    pub accuracy: f64,
    /// Unweighted mean of the per-class F1.
    pub macro_f1: f64,
    /// Mean of the per-class F1 weighted by support.
    pub weighted_f1: f64,
    /// Mean cross-entropy, -ln softmax(z)[y] (unweighted).
    pub log_loss: f64,
    pub per_class: Vec<ClassScores>,
    /// `confusion[actual][predicted]`: rows by true class, columns by predicted class.
    pub confusion: Vec<Vec<usize>>,
}

/// Computes [`ClassMetrics`] from logits `(N, K)` and class indices.
pub fn evaluate_classes(
    logits: ndarray::ArrayView2<'_, f64>,
    labels: &[usize],
    classes: &[String],
) -> ClassMetrics {
    let k = classes.len();
    debug_assert_eq!(logits.dim(), (labels.len(), k));
    let mut confusion = vec![vec![0usize; k]; k];
    let mut loss = 0.0;
    for (z, &y) in logits.rows().into_iter().zip(labels) {
        let predicted = crate::model::loss::argmax(z);
        confusion[y][predicted] += 1;
        // -ln softmax(z)[y] = logsumexp(z) - z_y
        let z = z.to_vec();
        loss += crate::kernels::float::log_sum_exp(&z) - z[y];
    }
    let n = labels.len();
    let per_class: Vec<ClassScores> = (0..k)
        .map(|c| {
            let correct = confusion[c][c];
            let support: usize = confusion[c].iter().sum();
            let predicted: usize = confusion.iter().map(|row| row[c]).sum();
            let precision = ratio(correct, predicted);
            let recall = ratio(correct, support);
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            ClassScores {
                class: classes[c].clone(),
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect();
    let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
    ClassMetrics {
        count: n,
        classes: classes.to_vec(),
        accuracy: ratio(correct, n),
        macro_f1: per_class.iter().map(|s| s.f1).sum::<f64>() / k.max(1) as f64,
        weighted_f1: per_class
            .iter()
            .map(|s| s.f1 * s.support as f64)
            .sum::<f64>()
            / n.max(1) as f64,
        log_loss: if n == 0 { 0.0 } else { loss / n as f64 },
        per_class,
        confusion,
    }
}

/// The macro F1 of a binary evaluation: the mean of the positive and the negative class's F1.
pub fn binary_macro_f1(c: &Confusion) -> f64 {
    let f1 = |tp: usize, fp: usize, fn_: usize| {
        let (p, r) = (ratio(tp, tp + fp), ratio(tp, tp + fn_));
        if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        }
    };
    0.5 * (f1(c.true_positive, c.false_positive, c.false_negative)
        + f1(c.true_negative, c.false_negative, c.false_positive))
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

/// One point of a ROC or precision-recall curve: the rates obtained when every score at or
/// above `threshold` counts as positive.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CurvePoint {
    pub threshold: f64,
    /// False-positive rate (ROC) or recall (precision-recall).
    pub x: f64,
    /// True-positive rate (ROC) or precision (precision-recall).
    pub y: f64,
}

/// Walks the scores from the highest down and yields `(score, tp, fp)` after each distinct
/// score, so tied scores enter together (as they must: one threshold cannot split them).
fn cumulative_counts(scores: &[f64], labels: &[bool]) -> Vec<(f64, usize, usize)> {
    debug_assert_eq!(scores.len(), labels.len());
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut out = Vec::new();
    let (mut tp, mut fp) = (0, 0);
    let mut i = 0;
    while i < order.len() {
        let s = scores[order[i]];
        while i < order.len() && scores[order[i]] == s {
            if labels[order[i]] {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        out.push((s, tp, fp));
    }
    out
}

/// The ROC curve, `(FPR, TPR)` from `(0, 0)` (threshold above every score) to `(1, 1)`, one
/// point per distinct score. Its trapezoidal area equals [`roc_auc`]. `None` when only one
/// class is present.
pub fn roc_curve(scores: &[f64], labels: &[bool]) -> Option<Vec<CurvePoint>> {
    let positives = labels.iter().filter(|&&y| y).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut points = vec![CurvePoint {
        threshold: f64::INFINITY,
        x: 0.0,
        y: 0.0,
    }];
    points.extend(
        cumulative_counts(scores, labels)
            .into_iter()
            .map(|(s, tp, fp)| CurvePoint {
                threshold: s,
                x: ratio(fp, negatives),
                y: ratio(tp, positives),
            }),
    );
    Some(points)
}

/// The precision-recall curve, `(recall, precision)`, one point per distinct score from the
/// highest down (recall rising to 1). `None` when there are no positives.
pub fn pr_curve(scores: &[f64], labels: &[bool]) -> Option<Vec<CurvePoint>> {
    let positives = labels.iter().filter(|&&y| y).count();
    if positives == 0 {
        return None;
    }
    Some(
        cumulative_counts(scores, labels)
            .into_iter()
            .map(|(s, tp, fp)| CurvePoint {
                threshold: s,
                x: ratio(tp, positives),
                y: ratio(tp, tp + fp),
            })
            .collect(),
    )
}

/// Average precision, the step-wise area under the precision-recall curve:
/// `AP = sum_n (R_n - R_{n-1}) P_n` (scikit-learn's definition, no interpolation).
pub fn average_precision(curve: &[CurvePoint]) -> f64 {
    let mut previous_recall = 0.0;
    let mut ap = 0.0;
    for p in curve {
        ap += (p.x - previous_recall) * p.y;
        previous_recall = p.x;
    }
    ap
}

/// One bin of a reliability (calibration) diagram.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CalibrationBin {
    /// The bin covers probabilities in `[lower, upper)` (the last bin includes 1).
    pub lower: f64,
    pub upper: f64,
    pub count: usize,
    /// Mean predicted probability of the rows in the bin.
    pub mean_predicted: f64,
    /// Fraction of those rows that are positive.
    pub fraction_positive: f64,
}

/// The index of the equal-width bin of `[0, 1]` that holds probability `p` (1 goes in the last).
pub fn probability_bin(p: f64, bins: usize) -> usize {
    ((p * bins as f64) as usize).min(bins - 1)
}

/// Reliability diagram: probabilities in `bins` equal-width bins; empty bins are left out. A
/// calibrated model has `fraction_positive ~ mean_predicted` in every bin.
pub fn calibration(probabilities: &[f64], labels: &[bool], bins: usize) -> Vec<CalibrationBin> {
    debug_assert_eq!(probabilities.len(), labels.len());
    debug_assert!(bins > 0);
    let mut sums = vec![(0usize, 0.0f64, 0usize); bins];
    for (&p, &y) in probabilities.iter().zip(labels) {
        let k = probability_bin(p, bins);
        sums[k].0 += 1;
        sums[k].1 += p;
        sums[k].2 += usize::from(y);
    }
    sums.iter()
        .enumerate()
        .filter(|(_, s)| s.0 > 0)
        .map(|(k, &(count, p_sum, positives))| CalibrationBin {
            lower: k as f64 / bins as f64,
            upper: (k + 1) as f64 / bins as f64,
            count,
            mean_predicted: p_sum / count as f64,
            fraction_positive: positives as f64 / count as f64,
        })
        .collect()
}

/// Expected calibration error: `ECE = sum_b (n_b / n) |fraction_positive_b - mean_predicted_b|`.
pub fn expected_calibration_error(bins: &[CalibrationBin]) -> f64 {
    let n: usize = bins.iter().map(|b| b.count).sum();
    if n == 0 {
        return 0.0;
    }
    bins.iter()
        .map(|b| b.count as f64 * (b.fraction_positive - b.mean_predicted).abs())
        .sum::<f64>()
        / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_metrics_by_hand() {
        // Rows (actual -> predicted): a->a, a->b, b->b, c->b, c->c.
        let logits = ndarray::arr2(&[
            [2.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 3.0, 0.0],
            [0.0, 1.0, 0.5],
            [0.0, 0.0, 1.0],
        ]);
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let m = evaluate_classes(logits.view(), &[0, 0, 1, 2, 2], &names);
        assert_eq!(m.confusion, [[1, 1, 0], [0, 1, 0], [0, 1, 1]]);
        assert_eq!(m.accuracy, 0.6);
        // b: precision 1/3, recall 1, F1 0.5; a and c: precision 1, recall 1/2, F1 2/3.
        let f1: Vec<f64> = m.per_class.iter().map(|s| s.f1).collect();
        assert!((f1[0] - 2.0 / 3.0).abs() < 1e-12 && (f1[1] - 0.5).abs() < 1e-12);
        assert_eq!(m.per_class[1].support, 1);
        assert!((m.macro_f1 - (2.0 / 3.0 + 0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        assert!((m.weighted_f1 - (2.0 * 2.0 / 3.0 + 0.5 + 2.0 * 2.0 / 3.0) / 5.0).abs() < 1e-12);
        let ce =
            |z: [f64; 3], y: usize| libm::log(z.iter().map(|&v| libm::exp(v)).sum::<f64>()) - z[y];
        let expected = (ce([2.0, 0.0, 0.0], 0)
            + ce([0.0, 1.0, 0.0], 0)
            + ce([0.0, 3.0, 0.0], 1)
            + ce([0.0, 1.0, 0.5], 2)
            + ce([0.0, 0.0, 1.0], 2))
            / 5.0;
        assert!((m.log_loss - expected).abs() < 1e-12);
    }

    #[test]
    fn binary_macro_f1_averages_both_classes() {
        let c = Confusion {
            true_positive: 3,
            false_positive: 1,
            true_negative: 4,
            false_negative: 2,
        };
        // positive: p 3/4, r 3/5 -> 2/3; negative: p 4/6, r 4/5 -> 8/11.
        assert!((binary_macro_f1(&c) - 0.5 * (2.0 / 3.0 + 8.0 / 11.0)).abs() < 1e-12);
    }

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
        let logit = |p: f64| libm::log(p / (1.0 - p));
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

    #[test]
    fn roc_curve_area_is_the_auc() {
        let scores = [0.9, 0.8, 0.8, 0.7, 0.4, 0.4, 0.3, 0.1, 0.65, 0.2];
        let labels = [
            true, true, false, true, false, true, false, false, false, true,
        ];
        let curve = roc_curve(&scores, &labels).unwrap();
        assert_eq!((curve[0].x, curve[0].y), (0.0, 0.0));
        let last = curve.last().unwrap();
        assert_eq!((last.x, last.y), (1.0, 1.0));
        // One point per distinct score after the origin: 0.8 and 0.4 are tied pairs.
        assert_eq!(curve.len(), 1 + 8);
        let area: f64 = curve
            .windows(2)
            .map(|w| (w[1].x - w[0].x) * (w[1].y + w[0].y) / 2.0)
            .sum();
        assert!((area - roc_auc(&scores, &labels).unwrap()).abs() < 1e-12);
        assert!(roc_curve(&scores, &[true; 10]).is_none());
    }

    #[test]
    fn precision_recall_points_and_average_precision() {
        // Ranked: + - + - ; precision after each: 1, 1/2, 2/3, 2/4.
        let scores = [0.9, 0.8, 0.7, 0.6];
        let labels = [true, false, true, false];
        let curve = pr_curve(&scores, &labels).unwrap();
        let xy: Vec<(f64, f64)> = curve.iter().map(|p| (p.x, p.y)).collect();
        assert_eq!(
            xy,
            vec![(0.5, 1.0), (0.5, 0.5), (1.0, 2.0 / 3.0), (1.0, 0.5)]
        );
        // AP = 0.5 * 1 + 0.5 * 2/3.
        assert!((average_precision(&curve) - (0.5 + 1.0 / 3.0)).abs() < 1e-12);
        assert!(pr_curve(&scores, &[false; 4]).is_none());
    }

    #[test]
    fn calibration_bins_and_error() {
        let probabilities = [0.05, 0.15, 0.12, 0.95, 1.0, 0.55];
        let labels = [false, true, false, true, true, false];
        let bins = calibration(&probabilities, &labels, 10);
        let summary: Vec<(f64, usize, f64)> = bins
            .iter()
            .map(|b| (b.lower, b.count, b.fraction_positive))
            .collect();
        // 1.0 falls in the last bin, not past it; empty bins are left out.
        assert_eq!(
            summary,
            vec![(0.0, 1, 0.0), (0.1, 2, 0.5), (0.5, 1, 0.0), (0.9, 2, 1.0)]
        );
        assert!((bins[1].mean_predicted - 0.135).abs() < 1e-12);
        // ECE = (1*0.05 + 2*|0.5-0.135| + 1*0.55 + 2*|1-0.975|) / 6.
        let expected = (0.05 + 2.0 * 0.365 + 0.55 + 2.0 * 0.025) / 6.0;
        assert!((expected_calibration_error(&bins) - expected).abs() < 1e-12);
    }
}
