//! The evaluation report of a K-class model: which classes it confuses, how well it ranks each
//! class against the rest, how far its top-class confidence can be trusted, and which texts it
//! gets most confidently wrong.

use std::fmt::Write as _;
use std::path::Path;

use ndarray::{Array2, ArrayView2};

use super::charts::{self, RGBColor, Series};
use super::evaluation::unit_axes;
use super::{escape, figure, fixed, key_values, CsvText, Page, Report};
use crate::data::Example;
use crate::error::{Error, Result};
use crate::kernels::float::softmax_in_place;
use crate::metrics::{self, ClassMetrics, CurvePoint};

/// Bins of the calibration plot.
const BINS: usize = 10;

/// Classes drawn in the ROC and PR charts; the table lists every class.
const CHARTED_CLASSES: usize = 8;

/// Okabe-Ito colours, distinguishable with the common colour-vision deficiencies.
const PALETTE: [RGBColor; CHARTED_CLASSES] = [
    charts::BLUE,
    charts::ORANGE,
    charts::GREEN,
    charts::RED,
    RGBColor(86, 180, 233),
    RGBColor(204, 121, 167),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

/// Everything the K-class evaluation report shows.
pub struct ClassEvaluationRun<'a> {
    pub model_path: &'a Path,
    pub data_path: &'a Path,
    pub examples: &'a [Example],
    /// The model's logits `(N, K)` for `examples`, in order.
    pub logits: ArrayView2<'a, f64>,
    pub metrics: &'a ClassMetrics,
    /// How many confident mistakes to list.
    pub mistakes: usize,
}

/// A misclassified row of a K-class evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassMistake<'a> {
    pub line: u64,
    pub text: &'a str,
    /// The true class's index.
    pub label: usize,
    /// The predicted (most probable) class's index.
    pub predicted: usize,
    /// The predicted class's probability.
    pub probability: f64,
    /// The true class's probability.
    pub label_probability: f64,
}

/// Softmax of each row of `logits`.
pub fn probabilities(logits: ArrayView2<'_, f64>) -> Array2<f64> {
    let mut p = logits.to_owned();
    for mut row in p.rows_mut() {
        // Rows of an owned standard-layout array are contiguous.
        if let Some(z) = row.as_slice_mut() {
            softmax_in_place(z);
        }
    }
    p
}

/// The most probable class of a row of probabilities (the first of equals) and its probability.
fn top(p: ndarray::ArrayView1<'_, f64>) -> (usize, f64) {
    let predicted = crate::model::loss::argmax(p);
    (predicted, p[predicted])
}

/// The misclassified rows, most confident first (by the predicted class's probability), ties
/// by line.
pub fn confident_mistakes<'a>(
    examples: &'a [Example],
    probabilities: ArrayView2<'_, f64>,
) -> Vec<ClassMistake<'a>> {
    let mut out: Vec<ClassMistake<'a>> = examples
        .iter()
        .zip(probabilities.rows())
        .filter_map(|(e, p)| {
            let (predicted, probability) = top(p);
            (predicted != e.label).then(|| ClassMistake {
                line: e.line,
                text: &e.text,
                label: e.label,
                predicted,
                probability,
                label_probability: p[e.label],
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.probability
            .total_cmp(&a.probability)
            .then(a.line.cmp(&b.line))
    });
    out
}

/// The areas under one class's one-vs-rest curves; `None` when the data has no row of the
/// class, or only rows of it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Areas {
    pub roc_auc: Option<f64>,
    pub average_precision: Option<f64>,
}

/// One class against the rest: its ROC and PR curves and their areas.
struct OneVsRest {
    roc: Option<Vec<CurvePoint>>,
    pr: Option<Vec<CurvePoint>>,
    areas: Areas,
}

impl OneVsRest {
    fn new(probabilities: ArrayView2<'_, f64>, labels: &[usize], class: usize) -> Self {
        let scores: Vec<f64> = probabilities.column(class).to_vec();
        let is_class: Vec<bool> = labels.iter().map(|&y| y == class).collect();
        let pr = metrics::pr_curve(&scores, &is_class);
        Self {
            roc: metrics::roc_curve(&scores, &is_class),
            areas: Areas {
                roc_auc: metrics::roc_auc(&scores, &is_class),
                average_precision: pr.as_deref().map(metrics::average_precision),
            },
            pr,
        }
    }
}

fn one_vs_rest(probabilities: ArrayView2<'_, f64>, labels: &[usize]) -> Vec<OneVsRest> {
    (0..probabilities.ncols())
        .map(|c| OneVsRest::new(probabilities, labels, c))
        .collect()
}

/// Each class's one-vs-rest ROC AUC and average precision, from probabilities `(N, K)`.
pub fn class_areas(probabilities: ArrayView2<'_, f64>, labels: &[usize]) -> Vec<Areas> {
    one_vs_rest(probabilities, labels)
        .iter()
        .map(|o| o.areas)
        .collect()
}

/// Calibration of the top-class confidence: per bin of the predicted class's probability, the
/// fraction of rows whose prediction is right.
struct TopCalibration {
    bins: Vec<metrics::CalibrationBin>,
    ece: f64,
}

impl TopCalibration {
    fn new(probabilities: ArrayView2<'_, f64>, labels: &[usize]) -> Self {
        let (confidence, correct): (Vec<f64>, Vec<bool>) = probabilities
            .rows()
            .into_iter()
            .zip(labels)
            .map(|(p, &y)| {
                let (predicted, probability) = top(p);
                (probability, predicted == y)
            })
            .unzip();
        let bins = metrics::calibration(&confidence, &correct, BINS);
        Self {
            ece: metrics::expected_calibration_error(&bins),
            bins,
        }
    }
}

/// Renders `report.html` and `mistakes.csv`.
pub fn render(run: &ClassEvaluationRun<'_>) -> Result<Report> {
    let m = run.metrics;
    let k = m.classes.len();
    debug_assert_eq!(run.logits.dim(), (run.examples.len(), k));
    let labels: Vec<usize> = run.examples.iter().map(|e| e.label).collect();
    let probabilities = probabilities(run.logits);
    let ovr = one_vs_rest(probabilities.view(), &labels);
    let calibration = TopCalibration::new(probabilities.view(), &labels);
    let mistakes = confident_mistakes(run.examples, probabilities.view());

    let mut page = Page::new(
        &format!("Evaluation report: {}", run.data_path.display()),
        &format!(
            "model {} · {} rows · {k} classes · rnn-sentiment {}",
            run.model_path.display(),
            m.count,
            env!("CARGO_PKG_VERSION")
        ),
    );
    page.section("summary", "Summary", &summary_section(run, &calibration));
    let areas: Vec<Areas> = ovr.iter().map(|o| o.areas).collect();
    page.section(
        "classes",
        "Per class",
        &per_class_table(
            m,
            &areas,
            "Precision, recall and F1 of the most probable class; ROC AUC and average \
             precision of the class's probability ranked against the other classes' rows",
        ),
    );
    page.section("confusion", "Confusion matrix", &confusion_heat_map(m));
    page.section("curves", "Curves", &curves_section(m, &ovr, &calibration)?);
    page.section(
        "mistakes",
        "Most confident mistakes",
        &mistakes_section(&mistakes, m, run.mistakes),
    );
    Ok(Report {
        files: vec![
            (super::EVALUATION_FILES[0], page.finish()),
            (
                super::EVALUATION_FILES[1],
                mistakes_csv(&mistakes, &m.classes)?,
            ),
        ],
    })
}

/// Summary: the data and the headline metrics.
fn summary_section(run: &ClassEvaluationRun<'_>, calibration: &TopCalibration) -> String {
    let m = run.metrics;
    key_values(&[
        ("model", run.model_path.display().to_string()),
        (
            "data",
            format!("{} ({} rows)", run.data_path.display(), m.count),
        ),
        (
            "classes",
            format!(
                "{} ({})",
                m.classes.len(),
                crate::data::list_classes(&m.classes)
            ),
        ),
        ("accuracy", format!("{:.4}", m.accuracy)),
        ("macro F1", format!("{:.4}", m.macro_f1)),
        ("weighted F1", format!("{:.4}", m.weighted_f1)),
        ("log loss", format!("{:.4}", m.log_loss)),
        (
            "expected calibration error",
            format!("{:.4} (top-class confidence, {BINS} bins)", calibration.ece),
        ),
    ])
}

/// The per-class table: share of rows, precision, recall, F1, support, and when `areas` is not
/// empty each class's one-vs-rest ROC AUC and average precision. Shared with the training
/// report.
pub fn per_class_table(m: &ClassMetrics, areas: &[Areas], note: &str) -> String {
    let mut html = String::from(
        "<table><tr><th>class</th><th>share</th><th>precision</th><th>recall</th><th>F1</th><th>support</th>",
    );
    if !areas.is_empty() {
        html.push_str("<th>ROC AUC</th><th>average precision</th>");
    }
    html.push_str("</tr>");
    for (c, s) in m.per_class.iter().enumerate() {
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"num\">{:.1}%</td><td class=\"num\">{:.4}</td><td class=\"num\">{:.4}</td>\
             <td class=\"num\">{:.4}</td><td class=\"num\">{}</td>",
            escape(&s.class),
            100.0 * s.support as f64 / m.count.max(1) as f64,
            s.precision,
            s.recall,
            s.f1,
            s.support
        );
        if let Some(a) = areas.get(c) {
            let _ = write!(
                html,
                "<td class=\"num\">{}</td><td class=\"num\">{}</td>",
                fixed(a.roc_auc),
                fixed(a.average_precision)
            );
        }
        html.push_str("</tr>");
    }
    let _ = write!(html, "</table><p class=\"note\">{}.</p>", escape(note));
    html
}

/// The K x K confusion matrix as a heat map: each cell's count and its share of the actual
/// class's row, shaded by that share.
fn confusion_heat_map(m: &ClassMetrics) -> String {
    let mut html = String::from("<table class=\"cm\"><tr><th>actual \\ predicted</th>");
    for c in &m.classes {
        let _ = write!(html, "<th>{}</th>", escape(c));
    }
    html.push_str("<th>rows</th></tr>");
    for (name, row) in m.classes.iter().zip(&m.confusion) {
        let total: usize = row.iter().sum();
        let _ = write!(html, "<tr><th>{}</th>", escape(name));
        for &n in row {
            html.push_str(&heat_cell(n, total));
        }
        let _ = write!(html, "<td class=\"num\">{total}</td></tr>");
    }
    html.push_str(
        "</table><p class=\"note\">Rows are the true class, columns the predicted class (the most \
         probable); each cell gives the count and its share of the row, and is shaded by that \
         share. The diagonal holds the correct predictions.</p>",
    );
    html
}

/// One heat-map cell: blue at the row share's opacity, white text on dark cells.
fn heat_cell(n: usize, row_total: usize) -> String {
    if row_total == 0 {
        return format!("<td>{n} (n/a)</td>");
    }
    let share = n as f64 / row_total as f64;
    let (r, g, b) = (charts::BLUE.0, charts::BLUE.1, charts::BLUE.2);
    let text = if share > 0.5 { "#fff" } else { "#1d2129" };
    format!(
        "<td style=\"background:rgba({r},{g},{b},{share:.3});color:{text}\">{n} ({:.1}%)</td>",
        100.0 * share
    )
}

/// Curves: one-vs-rest ROC and PR per class, and the calibration of the top-class confidence.
fn curves_section(
    m: &ClassMetrics,
    ovr: &[OneVsRest],
    calibration: &TopCalibration,
) -> Result<String> {
    let mut html = format!(
        "<div class=\"charts\">{}{}{}</div>",
        one_vs_rest_figure(m, ovr, Curve::Roc)?,
        one_vs_rest_figure(m, ovr, Curve::Pr)?,
        calibration_figure(calibration)?
    );
    if m.classes.len() > CHARTED_CLASSES {
        let _ = write!(
            html,
            "<p class=\"note\">The charts draw the first {CHARTED_CLASSES} of {} classes; the \
             table above gives every class's ROC AUC and average precision.</p>",
            m.classes.len()
        );
    }
    Ok(html)
}

#[derive(Clone, Copy, PartialEq)]
enum Curve {
    Roc,
    Pr,
}

/// One chart with a curve per class (the first [`CHARTED_CLASSES`]), its area in the legend.
fn one_vs_rest_figure(m: &ClassMetrics, ovr: &[OneVsRest], curve: Curve) -> Result<String> {
    let series: Vec<Series> = m
        .classes
        .iter()
        .zip(ovr)
        .zip(PALETTE)
        .filter_map(|((name, o), colour)| {
            let (points, area) = match curve {
                Curve::Roc => (o.roc.as_ref()?, o.areas.roc_auc?),
                Curve::Pr => (o.pr.as_ref()?, o.areas.average_precision?),
            };
            Some(Series {
                label: format!("{name} ({area:.3})"),
                points: points.iter().map(|p| (p.x, p.y)).collect(),
                colour,
                markers: false,
            })
        })
        .collect();
    if series.is_empty() {
        return Ok(String::new());
    }
    let (title, x, y, caption) = match curve {
        Curve::Roc => (
            "ROC, one class against the rest (AUC)",
            "false-positive rate",
            "true-positive rate",
            "Each class's probability ranks its rows against all others; the dashed diagonal is a random ranking.",
        ),
        Curve::Pr => (
            "Precision-recall, one class against the rest (AP)",
            "recall",
            "precision",
            "Precision against recall as the threshold on the class's probability falls.",
        ),
    };
    let axes = unit_axes(title, x, y, curve == Curve::Roc);
    Ok(figure(
        &charts::line_chart(&axes, &series).map_err(Error::Report)?,
        caption,
    ))
}

/// The calibration plot of the top-class confidence.
fn calibration_figure(calibration: &TopCalibration) -> Result<String> {
    let series = [Series {
        label: String::new(),
        points: calibration
            .bins
            .iter()
            .map(|b| (b.mean_predicted, b.fraction_positive))
            .collect(),
        colour: charts::GREEN,
        markers: true,
    }];
    let axes = unit_axes(
        format!("Top-class calibration (ECE {:.3})", calibration.ece),
        "probability of the predicted class",
        "fraction predicted right",
        true,
    );
    Ok(figure(
        &charts::line_chart(&axes, &series).map_err(Error::Report)?,
        "Rows binned by the probability of their predicted class; a calibrated model lies on the diagonal.",
    ))
}

/// Most confident mistakes: the first `shown` as a table, and how many there are.
fn mistakes_section(mistakes: &[ClassMistake<'_>], m: &ClassMetrics, shown: usize) -> String {
    let mut table = String::from(
        "<table><tr><th>line</th><th>true class</th><th>predicted</th><th>probability</th>\
         <th>probability of the true class</th><th>text</th></tr>",
    );
    for x in mistakes.iter().take(shown) {
        let _ = write!(
            table,
            "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{:.4}</td>\
             <td class=\"num\">{:.4}</td><td class=\"text\">{}</td></tr>",
            x.line,
            escape(&m.classes[x.label]),
            escape(&m.classes[x.predicted]),
            x.probability,
            x.label_probability,
            escape(x.text)
        );
    }
    let _ = write!(
        table,
        "</table><p class=\"note\">{} of {} rows are misclassified; the {} most confident are shown \
         (all of them, in the same order, are in mistakes.csv). Probability is of the predicted class.</p>",
        mistakes.len(),
        m.count,
        mistakes.len().min(shown)
    );
    table
}

/// `mistakes.csv`: every mistake, most confident first, with class names.
fn mistakes_csv(mistakes: &[ClassMistake<'_>], classes: &[String]) -> Result<String> {
    let mut csv = CsvText::new(&[
        "line",
        "label",
        "predicted",
        "probability",
        "label_probability",
        "text",
    ])?;
    for x in mistakes {
        csv.row(&[
            x.line.to_string().as_str(),
            classes[x.label].as_str(),
            classes[x.predicted].as_str(),
            x.probability.to_string().as_str(),
            x.label_probability.to_string().as_str(),
            x.text,
        ])?;
    }
    csv.finish()
}
