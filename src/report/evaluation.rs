//! The evaluation report: how well a model separates the classes on labelled data, how far its
//! probabilities can be trusted, and which texts it gets most confidently wrong.

use std::fmt::Write as _;
use std::path::Path;

use super::charts::{self, Axes, Series, SeriesLabelPosition};
use super::{escape, figure, fixed, key_values, CsvText, Page, Report};
use crate::data::Example;
use crate::error::{Error, Result};
use crate::kernels::float::sigmoid;
use crate::metrics::{self, Metrics};

/// Bins of the calibration plot and the score distribution.
const BINS: usize = 10;

/// Everything the evaluation report shows.
pub struct EvaluationRun<'a> {
    pub model_path: &'a Path,
    pub data_path: &'a Path,
    pub examples: &'a [Example],
    /// The model's logits for `examples`, in order.
    pub logits: &'a [f64],
    /// Metrics at the threshold in use.
    pub metrics: &'a Metrics,
    /// How many confident mistakes to list.
    pub mistakes: usize,
}

/// A misclassified row.
#[derive(Clone, Debug, PartialEq)]
pub struct Mistake<'a> {
    pub line: u64,
    pub text: &'a str,
    pub label: bool,
    pub probability: f64,
}

/// The misclassified rows, most confident first: ordered by how far the probability is from
/// the threshold on the wrong side, ties by line.
pub fn confident_mistakes<'a>(
    examples: &'a [Example],
    probabilities: &[f64],
    threshold: f64,
) -> Vec<Mistake<'a>> {
    let mut out: Vec<Mistake<'a>> = examples
        .iter()
        .zip(probabilities)
        .filter(|(e, &p)| (p >= threshold) != e.is_positive())
        .map(|(e, &p)| Mistake {
            line: e.line,
            text: &e.text,
            label: e.is_positive(),
            probability: p,
        })
        .collect();
    out.sort_by(|a, b| {
        let margin = |m: &Mistake<'_>| (m.probability - threshold).abs();
        margin(b).total_cmp(&margin(a)).then(a.line.cmp(&b.line))
    });
    out
}

fn label_name(label: bool) -> &'static str {
    if label {
        "positive"
    } else {
        "negative"
    }
}

/// Axes of a chart of two quantities in [0, 1] (rates, probabilities), with the diagonal
/// dashed when asked; shared with the K-class report.
pub(super) fn unit_axes(
    title: impl Into<String>,
    x_label: &str,
    y_label: &str,
    diagonal: bool,
) -> Axes {
    Axes {
        title: title.into(),
        x_label: x_label.to_string(),
        y_label: y_label.to_string(),
        x_range: (0.0, 1.0),
        y_range: (0.0, 1.0),
        diagonal,
        integer_x: false,
        legend: SeriesLabelPosition::LowerRight,
    }
}

fn points(curve: &[metrics::CurvePoint]) -> Vec<(f64, f64)> {
    curve.iter().map(|p| (p.x, p.y)).collect()
}

/// The ranking and calibration curves of the probabilities, computed once for the summary
/// and the charts.
struct Curves {
    roc: Option<Vec<metrics::CurvePoint>>,
    pr: Option<Vec<metrics::CurvePoint>>,
    average_precision: Option<f64>,
    bins: Vec<metrics::CalibrationBin>,
    /// Expected calibration error over `bins`.
    ece: f64,
}

impl Curves {
    fn new(probabilities: &[f64], labels: &[bool]) -> Self {
        let pr = metrics::pr_curve(probabilities, labels);
        let bins = metrics::calibration(probabilities, labels, BINS);
        Self {
            roc: metrics::roc_curve(probabilities, labels),
            average_precision: pr.as_deref().map(metrics::average_precision),
            pr,
            ece: metrics::expected_calibration_error(&bins),
            bins,
        }
    }
}

/// Renders `report.html` and `mistakes.csv`.
pub fn render(run: &EvaluationRun<'_>) -> Result<Report> {
    let m = run.metrics;
    let labels: Vec<bool> = run.examples.iter().map(Example::is_positive).collect();
    let probabilities: Vec<f64> = run.logits.iter().map(|&z| sigmoid(z)).collect();
    let curves = Curves::new(&probabilities, &labels);
    let mistakes = confident_mistakes(run.examples, &probabilities, m.threshold);

    let mut page = Page::new(
        &format!("Evaluation report: {}", run.data_path.display()),
        &format!(
            "model {} · {} rows · threshold {} · rnn-sentiment {}",
            run.model_path.display(),
            m.count,
            m.threshold,
            env!("CARGO_PKG_VERSION")
        ),
    );
    page.section("summary", "Summary", &summary_section(run, &curves));
    page.section(
        "curves",
        "Curves",
        &curves_section(m, &curves, &probabilities, &labels)?,
    );
    page.section("confusion", "Confusion matrix", &confusion_section(m));
    page.section(
        "mistakes",
        "Most confident mistakes",
        &mistakes_section(&mistakes, m.count, run.mistakes),
    );
    Ok(Report {
        files: vec![
            (super::EVALUATION_FILES[0], page.finish()),
            (super::EVALUATION_FILES[1], mistakes_csv(&mistakes)?),
        ],
    })
}

/// Summary: the data, the threshold and every metric at it, ranking and calibration included.
fn summary_section(run: &EvaluationRun<'_>, curves: &Curves) -> String {
    let m = run.metrics;
    key_values(&[
        ("model", run.model_path.display().to_string()),
        (
            "data",
            format!(
                "{} ({} rows, {:.1}% positive)",
                run.data_path.display(),
                m.count,
                100.0 * m.positive_rate
            ),
        ),
        ("threshold", m.threshold.to_string()),
        ("accuracy", format!("{:.4}", m.accuracy)),
        ("precision", format!("{:.4}", m.precision)),
        ("recall", format!("{:.4}", m.recall)),
        ("F1", format!("{:.4}", m.f1)),
        ("ROC AUC", fixed(m.roc_auc)),
        ("average precision", fixed(curves.average_precision)),
        ("log loss", format!("{:.4}", m.log_loss)),
        (
            "expected calibration error",
            format!("{:.4} ({BINS} bins)", curves.ece),
        ),
    ])
}

/// Curves: ROC, precision-recall, calibration and the score distribution per class.
fn curves_section(
    m: &Metrics,
    curves: &Curves,
    probabilities: &[f64],
    labels: &[bool],
) -> Result<String> {
    let figures = [
        roc_figure(m, curves)?,
        pr_figure(m, curves)?,
        calibration_figure(curves)?,
        score_distribution_figure(probabilities, labels)?,
    ];
    Ok(format!("<div class=\"charts\">{}</div>", figures.concat()))
}

/// The ROC curve, or a note when the data has one class only (the curve is undefined).
fn roc_figure(m: &Metrics, curves: &Curves) -> Result<String> {
    let Some(curve) = &curves.roc else {
        return Ok("<p class=\"note\">No ROC curve: the data has one class only.</p>".to_string());
    };
    let axes = unit_axes(
        format!("ROC curve (AUC {})", fixed(m.roc_auc)),
        "false-positive rate",
        "true-positive rate",
        true,
    );
    let series = [Series {
        label: String::new(),
        points: points(curve),
        colour: charts::BLUE,
        markers: false,
    }];
    Ok(figure(
        &charts::line_chart(&axes, &series).map_err(Error::Report)?,
        "Each point is one threshold; the dashed diagonal is a random ranking.",
    ))
}

/// Precision against recall with the positive rate (chance) as a line; nothing when there is
/// no curve.
fn pr_figure(m: &Metrics, curves: &Curves) -> Result<String> {
    let Some(curve) = &curves.pr else {
        return Ok(String::new());
    };
    let axes = unit_axes(
        format!("Precision-recall (AP {})", fixed(curves.average_precision)),
        "recall",
        "precision",
        false,
    );
    let series = [
        Series {
            label: "model".to_string(),
            points: points(curve),
            colour: charts::BLUE,
            markers: false,
        },
        Series {
            label: "positive rate (chance)".to_string(),
            points: vec![(0.0, m.positive_rate), (1.0, m.positive_rate)],
            colour: charts::RED,
            markers: false,
        },
    ];
    Ok(figure(
        &charts::line_chart(&axes, &series).map_err(Error::Report)?,
        "Precision against recall as the threshold falls.",
    ))
}

/// The calibration plot: fraction positive against mean predicted probability per bin.
fn calibration_figure(curves: &Curves) -> Result<String> {
    let calibration = [Series {
        label: String::new(),
        points: curves
            .bins
            .iter()
            .map(|b| (b.mean_predicted, b.fraction_positive))
            .collect(),
        colour: charts::GREEN,
        markers: true,
    }];
    Ok(figure(
        &charts::line_chart(
            &unit_axes(
                format!("Calibration (ECE {:.3})", curves.ece),
                "mean predicted probability",
                "fraction positive",
                true,
            ),
            &calibration,
        )
        .map_err(Error::Report)?,
        "Rows binned by predicted probability; a calibrated model lies on the diagonal.",
    ))
}

/// The score distribution per class: counts of rows per probability bin.
fn score_distribution_figure(probabilities: &[f64], labels: &[bool]) -> Result<String> {
    let per_class = |class: bool| -> Vec<(f64, f64)> {
        let mut counts = [0usize; BINS];
        for (&p, &y) in probabilities.iter().zip(labels) {
            if y == class {
                counts[metrics::probability_bin(p, BINS)] += 1;
            }
        }
        counts
            .iter()
            .enumerate()
            .map(|(k, &c)| ((k as f64 + 0.5) / BINS as f64, c as f64))
            .collect()
    };
    let distribution = [
        Series {
            label: "actual negative".to_string(),
            points: per_class(false),
            colour: charts::RED,
            markers: true,
        },
        Series {
            label: "actual positive".to_string(),
            points: per_class(true),
            colour: charts::BLUE,
            markers: true,
        },
    ];
    let top = distribution
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(1.0f64, f64::max);
    Ok(figure(
        &charts::line_chart(
            &Axes {
                y_label: "rows".to_string(),
                y_range: (0.0, top * 1.35),
                legend: SeriesLabelPosition::UpperMiddle,
                ..unit_axes(
                    "Predicted probability by class".to_string(),
                    "predicted probability (bin centre)",
                    "",
                    false,
                )
            },
            &distribution,
        )
        .map_err(Error::Report)?,
        "Well-separated classes pile up at opposite ends.",
    ))
}

/// Confusion matrix: counts at the threshold, with the share of each actual class.
fn confusion_section(m: &Metrics) -> String {
    let c = &m.confusion;
    let share = |n: usize, row: usize| {
        if row == 0 {
            "n/a".to_string()
        } else {
            format!("{:.1}%", 100.0 * n as f64 / row as f64)
        }
    };
    let negatives = c.true_negative + c.false_positive;
    let positives = c.true_positive + c.false_negative;
    format!(
        "<table class=\"cm\"><tr><th></th><th>predicted negative</th><th>predicted positive</th></tr>\
         <tr><th>actual negative</th><td>{} ({})</td><td>{} ({})</td></tr>\
         <tr><th>actual positive</th><td>{} ({})</td><td>{} ({})</td></tr></table>\
         <p class=\"note\">Counts at threshold {}, with the share of each actual class.</p>",
        c.true_negative,
        share(c.true_negative, negatives),
        c.false_positive,
        share(c.false_positive, negatives),
        c.false_negative,
        share(c.false_negative, positives),
        c.true_positive,
        share(c.true_positive, positives),
        m.threshold
    )
}

/// Most confident mistakes: the first `shown` of `mistakes` as a table, and how many there are
/// of `rows`.
fn mistakes_section(mistakes: &[Mistake<'_>], rows: usize, shown: usize) -> String {
    let mut table = String::from(
        "<table><tr><th>line</th><th>label</th><th>probability</th><th>text</th></tr>",
    );
    for x in mistakes.iter().take(shown) {
        let _ = write!(
            table,
            "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{:.4}</td><td class=\"text\">{}</td></tr>",
            x.line,
            label_name(x.label),
            x.probability,
            escape(x.text)
        );
    }
    let _ = write!(
        table,
        "</table><p class=\"note\">{} of {} rows are misclassified; the {} most confident are shown \
         (all of them, in the same order, are in mistakes.csv). Probability is of the positive class.</p>",
        mistakes.len(),
        rows,
        mistakes.len().min(shown)
    );
    table
}

/// `mistakes.csv`: every mistake, most confident first; label 1/0, probability of the positive
/// class.
fn mistakes_csv(mistakes: &[Mistake<'_>]) -> Result<String> {
    let mut csv = CsvText::new(&["line", "label", "probability", "text"])?;
    for x in mistakes {
        csv.row(&[
            x.line.to_string().as_str(),
            if x.label { "1" } else { "0" },
            x.probability.to_string().as_str(),
            x.text,
        ])?;
    }
    csv.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(line: u64, label: bool) -> Example {
        Example {
            text: format!("text {line}"),
            label: usize::from(label),
            line,
        }
    }

    #[test]
    fn mistakes_are_the_wrong_rows_most_confident_first() {
        let examples = [
            example(2, true),
            example(3, false),
            example(4, true),
            example(5, false),
            example(6, false),
        ];
        let probabilities = [0.9, 0.7, 0.1, 0.95, 0.7];
        let mistakes = confident_mistakes(&examples, &probabilities, 0.5);
        let lines: Vec<u64> = mistakes.iter().map(|m| m.line).collect();
        // 5 (0.95 for a negative), then 4 (0.1 for a positive), then the 0.7 tie by line.
        assert_eq!(lines, vec![5, 4, 3, 6]);
        // A higher threshold makes 0.7 right for negatives.
        let lines: Vec<u64> = confident_mistakes(&examples, &probabilities, 0.8)
            .iter()
            .map(|m| m.line)
            .collect();
        assert_eq!(lines, vec![4, 5]);
    }

    /// Texts that need quoting, and some that look as if they might.
    const AWKWARD_TEXTS: [&str; 9] = [
        "plain",
        "a, \"b\"",
        "two\nlines",
        "crlf\r\ninside",
        "a lone \r",
        "  spaces around  ",
        "",
        "# not a comment, \u{e9}t\u{e9} \u{1f600}",
        "\"",
    ];

    #[test]
    fn mistakes_csv_quotes_as_rfc_4180() {
        let rows: Vec<Example> = AWKWARD_TEXTS[..3]
            .iter()
            .enumerate()
            .map(|(i, t)| Example {
                text: t.to_string(),
                label: usize::from(i != 1),
                line: i as u64 + 2,
            })
            .collect();
        let csv = mistakes_csv(&confident_mistakes(&rows, &[0.25, 0.75, 0.125], 0.5)).unwrap();
        assert_eq!(
            csv,
            "line,label,probability,text\n\
             4,1,0.125,\"two\nlines\"\n\
             2,1,0.25,plain\n\
             3,0,0.75,\"a, \"\"b\"\"\"\n"
        );
    }

    #[test]
    fn every_mistakes_csv_field_reads_back_as_written() {
        let rows: Vec<Example> = AWKWARD_TEXTS
            .iter()
            .enumerate()
            .map(|(i, t)| Example {
                text: t.to_string(),
                label: usize::from(i % 2 == 0),
                line: 10 * i as u64 + 2,
            })
            .collect();
        // Every row wrong, with probabilities that print long.
        let probabilities: Vec<f64> = rows
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let margin = 0.1 + 0.4 / (i as f64 + 3.0);
                if e.is_positive() {
                    0.5 - margin
                } else {
                    0.5 + margin
                }
            })
            .collect();
        let mistakes = confident_mistakes(&rows, &probabilities, 0.5);
        assert_eq!(mistakes.len(), rows.len());
        let csv = mistakes_csv(&mistakes).unwrap();
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        assert_eq!(
            reader.headers().unwrap(),
            vec!["line", "label", "probability", "text"]
        );
        let read: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(read.len(), mistakes.len());
        for (r, m) in read.iter().zip(&mistakes) {
            assert_eq!(r[0].parse::<u64>().unwrap(), m.line);
            assert_eq!(&r[1], if m.label { "1" } else { "0" });
            assert_eq!(r[2].parse::<f64>().unwrap(), m.probability, "exact");
            assert_eq!(&r[3], m.text);
        }
    }
}
