//! The pretraining report (`pretrain --report DIR`): the corpus as the model saw it, the
//! training loss per epoch and per step, validation perplexity and the learning rate per
//! epoch, the architecture and every option, and the speed.

use std::fmt::Write as _;
use std::path::Path;

use super::charts::{self, Axes, Series, SeriesLabelPosition};
use super::training::{architecture, epoch_chart, epoch_series, options_table, span};
use super::{figure, key_values, CsvText, Page, Report};
use crate::error::{Error, Result};
use crate::lm::info::LanguageModelFile;
use crate::lm::info::{PretrainEpoch, StepLoss};

/// Everything the pretraining report shows.
pub struct PretrainingRun<'a> {
    pub file: &'a LanguageModelFile,
    pub model_path: &'a Path,
    /// Whether the token stream outgrew memory and went to a temporary file.
    pub spilled: bool,
    /// Sampled step losses, steps counted over the whole run.
    pub step_losses: &'a [StepLoss],
    /// Seconds in the training loop of this process (a resumed run's only).
    pub train_seconds: f64,
    /// Stream positions per second and direction, over those seconds.
    pub tokens_per_s: f64,
    pub threads: usize,
}

/// Renders `report.html` and `history.csv`.
pub fn render(run: &PretrainingRun<'_>) -> Result<Report> {
    let file = run.file;
    let info = &file.info;
    let architecture = architecture(&file.model.config).replace(", pooling max", "");
    let mut page = Page::new(
        &format!("Pretraining report: {}", run.model_path.display()),
        &format!(
            "{architecture} language model · pretrained on {} · rnn-sentiment {}",
            info.corpus.join(", "),
            info.tool_version
        ),
    );
    page.section("summary", "Summary", &summary_section(run, &architecture));
    page.section("corpus", "Corpus", &corpus_section(run));
    page.section("curves", "Training curves", &curves_section(run)?);
    let options = info
        .options
        .as_ref()
        .and_then(|o| serde_json::to_value(o).ok());
    page.section("config", "Configuration", &options_table(options));
    page.section("history", "History", &history_section(run));
    Ok(Report {
        files: vec![
            (super::TRAINING_FILES[0], page.finish()),
            (super::TRAINING_FILES[1], history_csv(&info.history)?),
        ],
    })
}

/// A perplexity for display: 2 decimals, or "n/a".
fn perplexity(p: Option<f64>) -> String {
    p.map_or_else(|| "n/a".to_string(), |p| format!("{p:.2}"))
}

fn summary_section(run: &PretrainingRun<'_>, architecture: &str) -> String {
    let file = run.file;
    let info = &file.info;
    key_values(&[
        ("base model", run.model_path.display().to_string()),
        ("architecture", architecture.to_string()),
        (
            "parameters",
            format!("{} (the decoder included)", file.parameters()),
        ),
        (
            "epochs",
            super::training::epochs_kept(
                (info.epochs_run, info.best_epoch, info.stopped_early),
                "validation perplexity",
            ),
        ),
        (
            "validation perplexity (best epoch)",
            perplexity(file.valid_perplexity()),
        ),
        ("training time", format!("{:.1} s", run.train_seconds)),
        (
            "throughput",
            format!(
                "{:.0} tokens/s per direction ({} threads)",
                run.tokens_per_s, run.threads
            ),
        ),
    ])
}

fn corpus_section(run: &PretrainingRun<'_>) -> String {
    let info = &run.file.info;
    key_values(&[
        ("corpus files", info.corpus.join(", ")),
        ("texts", info.texts.to_string()),
        (
            "stream positions",
            format!("{} (tokens and one end-of-text per text)", info.positions),
        ),
        ("trained on", format!("{} positions", info.train_positions)),
        (
            "held out",
            format!("{} positions (validation perplexity)", info.valid_positions),
        ),
        (
            "vocabulary",
            format!(
                "{} entries (with <pad>, <unk> and </s>)",
                run.file.vocab.len()
            ),
        ),
        (
            "coverage",
            format!(
                "{:.4} of positions in the vocabulary; unknown rate {:.4}",
                info.vocab_coverage,
                1.0 - info.vocab_coverage
            ),
        ),
        (
            "token stream",
            if run.spilled {
                "in a temporary file (larger than --memory-tokens)"
            } else {
                "in memory"
            }
            .to_string(),
        ),
    ])
}

/// One series of per-epoch values (none when no epoch has one).
fn epoch_points(
    label: &str,
    history: &[PretrainEpoch],
    value: impl Fn(&PretrainEpoch) -> Option<f64>,
    colour: charts::RGBColor,
) -> Vec<Series> {
    epoch_series(label, history, value, colour)
        .into_iter()
        .collect()
}

fn curves_section(run: &PretrainingRun<'_>) -> Result<String> {
    let info = &run.file.info;
    let history = &info.history;
    let mut figures = String::new();
    let best = format!(
        "The base model holds the weights of epoch {}.",
        info.best_epoch
    );
    figures.push_str(&figure(
        &epoch_chart(
            "Training loss",
            "mean loss per position",
            epoch_points("train", history, |r| Some(r.train_loss), charts::BLUE),
            false,
        )?,
        "Mean training loss per epoch, of the training softmax (sampled or full).",
    ));
    let valid = epoch_points(
        "validation",
        history,
        |r| r.valid_perplexity,
        charts::ORANGE,
    );
    if !valid.is_empty() {
        figures.push_str(&figure(
            &epoch_chart("Validation perplexity", "perplexity", valid, false)?,
            &format!("Exact perplexity (full softmax) on the held-out positions. {best}"),
        ));
    }
    if !run.step_losses.is_empty() {
        figures.push_str(&figure(
            &step_chart(run.step_losses)?,
            &format!(
                "The training loss of single steps, {} of them sampled evenly over the run.",
                run.step_losses.len()
            ),
        ));
    }
    figures.push_str(&figure(
        &epoch_chart(
            "Learning rate",
            "learning rate",
            epoch_points("", history, |r| Some(r.lr), charts::GREEN),
            false,
        )?,
        "Adam's learning rate in each epoch.",
    ));
    Ok(format!("<div class=\"charts\">{figures}</div>"))
}

fn step_chart(losses: &[StepLoss]) -> Result<String> {
    let points: Vec<(f64, f64)> = losses.iter().map(|s| (s.step as f64, s.loss)).collect();
    let steps = span(points.iter().map(|p| p.0));
    let (_, hi) = span(points.iter().map(|p| p.1));
    charts::line_chart(
        &Axes {
            title: "Training loss per step".to_string(),
            x_label: "step".to_string(),
            y_label: "loss".to_string(),
            x_range: (steps.0.min(1.0), steps.1.max(1.0)),
            y_range: (0.0, hi * 1.1),
            diagonal: false,
            integer_x: true,
            legend: SeriesLabelPosition::UpperRight,
        },
        &[Series {
            label: String::new(),
            points,
            colour: charts::BLUE,
            markers: false,
        }],
    )
    .map_err(Error::Report)
}

fn history_section(run: &PretrainingRun<'_>) -> String {
    let info = &run.file.info;
    let mut table = String::from(
        "<table><tr><th>epoch</th><th>train loss</th><th>valid perplexity</th><th>lr</th></tr>",
    );
    for r in &info.history {
        let mark = if r.epoch == info.best_epoch {
            " (best)"
        } else {
            ""
        };
        let _ = write!(
            table,
            "<tr><td>{}{mark}</td><td class=\"num\">{:.4}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{:.3e}</td></tr>",
            r.epoch,
            r.train_loss,
            perplexity(r.valid_perplexity),
            r.lr,
        );
    }
    table.push_str("</table><p class=\"note\">Also in history.csv beside this page.</p>");
    table
}

/// `history.csv`: one row per epoch.
fn history_csv(history: &[PretrainEpoch]) -> Result<String> {
    let mut csv = CsvText::new(&["epoch", "train_loss", "valid_perplexity", "lr"])?;
    for r in history {
        csv.row(&[
            r.epoch.to_string(),
            r.train_loss.to_string(),
            r.valid_perplexity.map_or(String::new(), |p| p.to_string()),
            r.lr.to_string(),
        ])?;
    }
    csv.finish()
}
