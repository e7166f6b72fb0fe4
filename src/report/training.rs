//! The training report: how the run went, epoch by epoch, and what data it saw.

use std::fmt::Write as _;
use std::path::Path;

use super::charts::{self, Axes, Bar, Series, SeriesLabelPosition};
use super::evaluation_classes::{class_areas, per_class_table, probabilities, Areas};
use super::{figure, fixed, key_values, CsvText, Page, Report};
use crate::config::ModelConfig;
use crate::data::Example;
use crate::error::{Error, Result};
use crate::metrics;
use crate::sentiment::{logits_batched, SentimentModel, INFERENCE_BATCH};
use crate::text::UNK_ID;
use crate::training_info::EpochRecord;

/// Wall-clock figures of one epoch, measured by the caller (they are not in the model file,
/// which must not depend on timing).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochTiming {
    pub epoch: usize,
    /// Real tokens through the training steps of the epoch.
    pub tokens: usize,
    /// Seconds for the epoch, validation included.
    pub seconds: f64,
}

/// Everything the training report shows.
pub struct TrainingRun<'a> {
    pub model: &'a SentimentModel,
    pub model_path: &'a Path,
    pub data_path: &'a Path,
    /// Where the validation rows came from, in words.
    pub validation: String,
    pub train: &'a [Example],
    pub valid: &'a [Example],
    /// Epochs timed in this process (a resumed run lacks the ones before the interruption).
    pub timings: &'a [EpochTiming],
    pub train_seconds: f64,
    pub threads: usize,
}

/// Token counts of texts as the tokenizer splits them, before truncation.
fn lengths(model: &SentimentModel, rows: &[Example]) -> Vec<usize> {
    rows.iter()
        .map(|e| model.tokenizer.tokens(&e.text).len())
        .collect()
}

/// Fraction of the ids (tokens the model sees, after truncation) that are in the vocabulary.
fn coverage(ids: &[Vec<u32>]) -> Option<f64> {
    let total: usize = ids.iter().map(Vec::len).sum();
    let known = ids.iter().flatten().filter(|&&id| id != UNK_ID).count();
    (total > 0).then(|| known as f64 / total as f64)
}

fn positive_rate(rows: &[Example]) -> f64 {
    rows.iter().filter(|e| e.is_positive()).count() as f64 / rows.len().max(1) as f64
}

/// How the rows divide into classes: `x% positive`, or for K classes each class's share.
fn class_balance(model: &SentimentModel, rows: &[Example]) -> String {
    if model.is_binary() {
        return format!("{:.1}% positive", 100.0 * positive_rate(rows));
    }
    let counts = crate::data::class_counts(rows, model.classes().len());
    let shares: Vec<String> = model
        .classes()
        .iter()
        .zip(counts)
        .map(|(name, c)| format!("{name} {:.1}%", 100.0 * c as f64 / rows.len().max(1) as f64))
        .collect();
    shares.join(", ")
}

/// The value at quantile `q` of sorted values (nearest rank).
fn quantile(sorted: &[usize], q: f64) -> usize {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `history.csv`: one row per epoch; timing columns are empty for epochs not timed here.
pub fn history_csv(history: &[EpochRecord], timings: &[EpochTiming]) -> Result<String> {
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    let mut csv = CsvText::new(&[
        "epoch",
        "train_loss",
        "train_accuracy",
        "valid_loss",
        "valid_accuracy",
        "lr",
        "tokens",
        "seconds",
        "tokens_per_s",
    ])?;
    for r in history {
        let t = timings.iter().find(|t| t.epoch == r.epoch);
        csv.row(&[
            r.epoch.to_string(),
            r.train_loss.to_string(),
            r.train_accuracy.to_string(),
            opt(r.valid_loss),
            opt(r.valid_accuracy),
            r.lr.to_string(),
            t.map_or(String::new(), |t| t.tokens.to_string()),
            opt(t.map(|t| t.seconds)),
            opt(t.map(|t| t.tokens as f64 / t.seconds.max(1e-9))),
        ])?;
    }
    csv.finish()
}

/// Smallest and largest of the values, for an axis.
pub(super) fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    })
}

/// The summary's epochs line: how many ran, which was kept, and whether `watched` stopped
/// falling first.
pub(super) fn epochs_kept(
    (run, best, stopped_early): (usize, usize, bool),
    watched: &str,
) -> String {
    let early = if stopped_early {
        format!(" (stopped early: {watched} stopped falling)")
    } else {
        String::new()
    };
    format!("{run} run, best {best} kept{early}")
}

pub(super) fn epoch_series<R: Epoch>(
    label: &str,
    history: &[R],
    value: impl Fn(&R) -> Option<f64>,
    colour: charts::RGBColor,
) -> Option<Series> {
    let points: Vec<(f64, f64)> = history
        .iter()
        .filter_map(|r| value(r).map(|v| (r.epoch() as f64, v)))
        .collect();
    (!points.is_empty()).then(|| Series {
        label: label.to_string(),
        points,
        colour,
        markers: true,
    })
}

/// A record of one epoch, as the charts plot it (training's and pretraining's).
pub(super) trait Epoch {
    fn epoch(&self) -> usize;
}

impl Epoch for EpochRecord {
    fn epoch(&self) -> usize {
        self.epoch
    }
}

impl Epoch for crate::lm::info::PretrainEpoch {
    fn epoch(&self) -> usize {
        self.epoch
    }
}

pub(super) fn epoch_chart(
    title: &str,
    y_label: &str,
    series: Vec<Series>,
    unit_range: bool,
) -> Result<String> {
    let epochs = span(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let (lo, hi) = span(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let y_range = if unit_range {
        ((lo - 0.05).max(0.0), (hi + 0.05).min(1.0))
    } else {
        (lo.min(0.0), hi * 1.1)
    };
    charts::line_chart(
        &Axes {
            title: title.to_string(),
            x_label: "epoch".to_string(),
            y_label: y_label.to_string(),
            x_range: (epochs.0.min(1.0), epochs.1.max(1.0)),
            y_range,
            diagonal: false,
            integer_x: true,
            // Loss falls and accuracy rises: the upper right is usually clear for both.
            legend: if unit_range {
                SeriesLabelPosition::LowerRight
            } else {
                SeriesLabelPosition::UpperRight
            },
        },
        &series,
    )
    .map_err(Error::Report)
}

/// Renders `report.html` and `history.csv`.
pub fn render(run: &TrainingRun<'_>) -> Result<Report> {
    let model = run.model;
    let info = &model.training;
    let architecture = architecture(&model.classifier.config);
    let mut page = Page::new(
        &format!("Training report: {}", run.model_path.display()),
        &format!(
            "{architecture} · trained on {} · rnn-sentiment {}",
            run.data_path.display(),
            info.tool_version
        ),
    );
    // The validation texts are encoded once, for both the summary's metrics and the data
    // section's coverage.
    let valid_ids: Vec<Vec<u32>> = run.valid.iter().map(|e| model.encode(&e.text)).collect();
    let validation = Validation::of(run, &valid_ids);
    page.section(
        "summary",
        "Summary",
        &summary_section(run, &architecture, validation.as_ref()),
    );
    if let Some(Validation::Classes(m, areas)) = &validation {
        page.section(
            "classes",
            "Per class (validation rows, saved model)",
            &per_class_table(
                m,
                areas,
                "The saved (best) epoch's model on the validation rows: precision, recall and \
                 F1 of the most probable class; ROC AUC and average precision of the class's \
                 probability ranked against the other classes' rows",
            ),
        );
    }
    page.section("curves", "Training curves", &curves_section(run)?);
    page.section("data", "Data", &data_section(run, &valid_ids)?);
    page.section("config", "Configuration", &config_section(run));
    page.section("history", "History", &history_section(run));
    Ok(Report {
        files: vec![
            (super::TRAINING_FILES[0], page.finish()),
            (
                super::TRAINING_FILES[1],
                history_csv(&info.history, run.timings)?,
            ),
        ],
    })
}

/// The architecture in one line, e.g. "lstm, bidirectional, 2 layers, E=128, H=128, pooling max".
pub(super) fn architecture(config: &ModelConfig) -> String {
    format!(
        "{}{}{}, E={}, H={}, pooling {}",
        config.cell.name(),
        if config.bidirectional {
            ", bidirectional"
        } else {
            ""
        },
        if config.layers > 1 {
            format!(", {} layers", config.layers)
        } else {
            String::new()
        },
        config.embed_dim,
        config.hidden_dim,
        serde_json::to_value(config.pooling)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
    )
}

/// The saved model on the validation rows: binary metrics at the model's threshold, or for K
/// classes every class's metrics and its one-vs-rest areas.
enum Validation {
    Binary(metrics::Metrics),
    Classes(metrics::ClassMetrics, Vec<Areas>),
}

impl Validation {
    fn of(run: &TrainingRun<'_>, valid_ids: &[Vec<u32>]) -> Option<Self> {
        if run.valid.is_empty() {
            return None;
        }
        let model = run.model;
        let logits = logits_batched(&model.classifier, valid_ids, INFERENCE_BATCH);
        Some(if model.is_binary() {
            let labels: Vec<bool> = run.valid.iter().map(Example::is_positive).collect();
            let logits = logits.into_raw_vec_and_offset().0;
            Self::Binary(metrics::evaluate(&logits, &labels, model.threshold()))
        } else {
            let labels: Vec<usize> = run.valid.iter().map(|e| e.label).collect();
            let m = metrics::evaluate_classes(logits.view(), &labels, model.classes());
            let areas = class_areas(probabilities(logits.view()).view(), &labels);
            Self::Classes(m, areas)
        })
    }

    /// The summary's lines.
    fn summary(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::Binary(m) => vec![
                ("validation accuracy", format!("{:.4}", m.accuracy)),
                ("validation F1", format!("{:.4}", m.f1)),
                ("validation ROC AUC", fixed(m.roc_auc)),
            ],
            Self::Classes(m, _) => vec![
                ("validation accuracy", format!("{:.4}", m.accuracy)),
                ("validation macro F1", format!("{:.4}", m.macro_f1)),
                ("validation weighted F1", format!("{:.4}", m.weighted_f1)),
            ],
        }
    }
}

/// Summary: the numbers a reader wants first (size, epochs, validation metrics, speed).
fn summary_section(
    run: &TrainingRun<'_>,
    architecture: &str,
    validation: Option<&Validation>,
) -> String {
    let model = run.model;
    let info = &model.training;
    let best = info.history.iter().find(|r| r.epoch == info.best_epoch);
    let valid_metrics = validation.map(Validation::summary);
    let tokens: usize = run.timings.iter().map(|t| t.tokens).sum();
    let timed: f64 = run.timings.iter().map(|t| t.seconds).sum();
    let mut summary = vec![
        ("model", run.model_path.display().to_string()),
        ("architecture", architecture.to_string()),
        (
            "parameters",
            model.classifier.config.parameter_count().to_string(),
        ),
        (
            "epochs",
            epochs_kept(
                (info.epochs_run, info.best_epoch, info.stopped_early),
                "validation loss",
            ),
        ),
        (
            "validation loss (best epoch)",
            fixed(best.and_then(|r| r.valid_loss)),
        ),
    ];
    if let Some(rows) = valid_metrics {
        summary.extend(rows);
    }
    summary.extend([
        ("training time", format!("{:.1} s", run.train_seconds)),
        (
            "throughput",
            if timed > 0.0 {
                format!(
                    "{:.0} tokens/s over the epochs timed here ({} threads)",
                    tokens as f64 / timed,
                    run.threads
                )
            } else {
                "n/a".to_string()
            },
        ),
    ]);
    key_values(&summary)
}

/// Training curves: loss, accuracy, learning rate and (for epochs timed here) throughput per
/// epoch.
fn curves_section(run: &TrainingRun<'_>) -> Result<String> {
    let info = &run.model.training;
    let history = &info.history;
    let mut figures = String::new();
    let loss = [
        epoch_series("train", history, |r| Some(r.train_loss), charts::BLUE),
        epoch_series("validation", history, |r| r.valid_loss, charts::ORANGE),
    ];
    let accuracy = [
        epoch_series("train", history, |r| Some(r.train_accuracy), charts::BLUE),
        epoch_series("validation", history, |r| r.valid_accuracy, charts::ORANGE),
    ];
    let best_note = format!(
        "The model file holds the weights of epoch {} (lowest validation loss).",
        info.best_epoch
    );
    figures.push_str(&figure(
        &epoch_chart(
            "Loss",
            "binary cross-entropy",
            loss.into_iter().flatten().collect(),
            false,
        )?,
        &format!("Mean loss per epoch. {best_note}"),
    ));
    figures.push_str(&figure(
        &epoch_chart(
            "Accuracy",
            "accuracy",
            accuracy.into_iter().flatten().collect(),
            true,
        )?,
        "Training accuracy is measured with dropout on, during the epoch; validation after it.",
    ));
    let lr: Vec<Series> = epoch_series("", history, |r| Some(r.lr), charts::GREEN)
        .into_iter()
        .collect();
    figures.push_str(&figure(
        &epoch_chart("Learning rate", "learning rate", lr, false)?,
        "The learning rate at the end of each epoch (warm-up and decay follow the step).",
    ));
    let speed: Vec<(f64, f64)> = run
        .timings
        .iter()
        .map(|t| (t.epoch as f64, t.tokens as f64 / t.seconds.max(1e-9)))
        .collect();
    if !speed.is_empty() {
        let series = vec![Series {
            label: String::new(),
            points: speed,
            colour: charts::RED,
            markers: true,
        }];
        figures.push_str(&figure(
            &epoch_chart("Throughput", "tokens / s", series, false)?,
            "Training tokens per second of each epoch's wall time (validation included).",
        ));
    }
    Ok(format!("<div class=\"charts\">{figures}</div>"))
}

/// Data: rows and class balance of each split, text lengths and truncation, vocabulary and its
/// coverage, pretrained vectors, and a histogram of training text lengths.
fn data_section(run: &TrainingRun<'_>, valid_ids: &[Vec<u32>]) -> Result<String> {
    let model = run.model;
    let info = &model.training;
    let train_lengths = lengths(model, run.train);
    let mut sorted = train_lengths.clone();
    sorted.sort_unstable();
    let max_len = model.tokenizer.config().max_len;
    let truncated = sorted.iter().filter(|&&n| n > max_len).count();
    let mean = sorted.iter().sum::<usize>() as f64 / sorted.len().max(1) as f64;
    let mut data_rows = vec![
        (
            "training rows",
            format!(
                "{} ({}) from {}",
                run.train.len(),
                class_balance(model, run.train),
                run.data_path.display()
            ),
        ),
        (
            "validation rows",
            format!(
                "{} ({}), {}",
                run.valid.len(),
                class_balance(model, run.valid),
                run.validation
            ),
        ),
        (
            "tokens per text",
            format!(
                "mean {mean:.1}, median {}, 95th percentile {}, max {}",
                quantile(&sorted, 0.5),
                quantile(&sorted, 0.95),
                sorted.last().copied().unwrap_or(0)
            ),
        ),
        (
            "truncated",
            format!(
                "{truncated} texts ({:.1}%) longer than max_len {max_len}",
                100.0 * truncated as f64 / sorted.len().max(1) as f64
            ),
        ),
        (
            "vocabulary",
            format!("{} entries (with <pad> and <unk>)", model.vocab.len()),
        ),
        (
            "vocabulary coverage",
            format!(
                "{:.1}% of training tokens, {} of validation tokens",
                100.0 * info.vocab_coverage,
                coverage(valid_ids).map_or("n/a".to_string(), |c| format!("{:.1}%", 100.0 * c))
            ),
        ),
    ];
    if let Some(p) = &info.pretrained {
        data_rows.push((
            "pretrained vectors",
            format!(
                "{}: {} of {} words ({:.1}%), {:.1}% of training tokens",
                p.path.display(),
                p.matched,
                model.vocab.len() - 2,
                100.0 * p.type_coverage,
                100.0 * p.token_coverage
            ),
        ));
    }
    let bars: Vec<Bar> = charts::integer_bins(&train_lengths, 40);
    let marker = format!("max_len {max_len}");
    let show_marker = sorted.last().is_some_and(|&m| m >= max_len / 2);
    let histogram = charts::histogram(
        "Training text lengths",
        "tokens per text (before truncation)",
        &bars,
        show_marker.then_some((max_len as f64, marker.as_str())),
    )
    .map_err(Error::Report)?;
    Ok(format!(
        "{}<div class=\"charts\">{}</div>",
        key_values(&data_rows),
        figure(&histogram, "Texts longer than max_len are cut to it.")
    ))
}

/// Configuration: every training option, as the model file records it (nested tables as
/// `table.key`).
fn config_section(run: &TrainingRun<'_>) -> String {
    let options = run.model.training.options.as_ref();
    options_table(options.and_then(|o| serde_json::to_value(o).ok()))
}

/// Options (a JSON object) as a key/value table, nested tables as `table.key`.
pub(super) fn options_table(options: Option<serde_json::Value>) -> String {
    let mut rows = Vec::new();
    if let Some(serde_json::Value::Object(map)) = options {
        for (key, value) in map {
            match value {
                serde_json::Value::Object(inner) => {
                    for (k, v) in inner {
                        rows.push((format!("{key}.{k}"), show(&v)));
                    }
                }
                v => rows.push((key, show(&v))),
            }
        }
    }
    let option_rows: Vec<(&str, String)> =
        rows.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    key_values(&option_rows)
}

/// History: the per-epoch table (the best epoch marked), as in `history.csv`.
fn history_section(run: &TrainingRun<'_>) -> String {
    let info = &run.model.training;
    let mut table = String::from(
        "<table><tr><th>epoch</th><th>train loss</th><th>train acc.</th><th>valid loss</th>\
         <th>valid acc.</th><th>lr</th><th>tokens/s</th></tr>",
    );
    for r in &info.history {
        let t = run.timings.iter().find(|t| t.epoch == r.epoch);
        let mark = if r.epoch == info.best_epoch {
            " (best)"
        } else {
            ""
        };
        let _ = write!(
            table,
            "<tr><td>{}{mark}</td><td class=\"num\">{:.4}</td><td class=\"num\">{:.4}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.3e}</td>\
             <td class=\"num\">{}</td></tr>",
            r.epoch,
            r.train_loss,
            r.train_accuracy,
            fixed(r.valid_loss),
            fixed(r.valid_accuracy),
            r.lr,
            t.map_or("n/a".to_string(), |t| format!(
                "{:.0}",
                t.tokens as f64 / t.seconds.max(1e-9)
            )),
        );
    }
    table.push_str("</table><p class=\"note\">Also in history.csv beside this page.</p>");
    table
}

/// A JSON option value as text: strings unquoted, null as "none".
fn show(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "none".to_string(),
        v => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let v = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert_eq!(quantile(&v, 0.5), 5);
        assert_eq!(quantile(&v, 0.95), 10);
        assert_eq!(quantile(&v, 0.0), 1);
        assert_eq!(quantile(&[], 0.5), 0);
    }

    #[test]
    fn history_csv_has_a_row_per_epoch_and_blank_untimed_cells() {
        let record = |epoch| EpochRecord {
            epoch,
            train_loss: 0.5,
            train_accuracy: 0.75,
            valid_loss: Some(0.25),
            valid_accuracy: None,
            lr: 0.002,
        };
        let timings = [EpochTiming {
            epoch: 2,
            tokens: 1000,
            seconds: 0.5,
        }];
        let csv = history_csv(&[record(1), record(2)], &timings).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1], "1,0.5,0.75,0.25,,0.002,,,");
        assert_eq!(lines[2], "2,0.5,0.75,0.25,,0.002,1000,0.5,2000");
        // A CSV reader gets the same columns and values back.
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        assert_eq!(reader.headers().unwrap().len(), 9);
        assert_eq!(&reader.headers().unwrap()[8], "tokens_per_s");
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].len(), 9);
        assert_eq!(&rows[0][6], "");
        assert_eq!(rows[1][8].parse::<f64>().unwrap(), 2000.0);
    }
}
