//! `inspect`: what a model file holds (a checkpoint: see `inspect_checkpoint`).

use std::fs;
use std::io::{self, BufWriter};
use std::path::Path;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::{json, Value};

use super::args::ModelArg;
use super::inspect_checkpoint::inspect_checkpoint;
use super::output::{emit, flush};
use super::sniff::{check_model_path, file_start, is_checkpoint, is_pretrain_checkpoint};
use rnn_sentiment::config::ModelConfig;
use rnn_sentiment::error::Error;
use rnn_sentiment::model_file;

use super::inspect_base::{inspect_language_model, inspect_pretrain_checkpoint};
use rnn_sentiment::sentiment::SentimentModel;
use rnn_sentiment::text::{TokenizerConfig, Truncation};
use rnn_sentiment::training_info::{InputColumns, TrainingInfo};

pub(crate) const INSPECT_JSON: &str = "\
JSON output (--json): one object on stdout:
  model               path of the model file
  file_bytes          its size in bytes on disk
  json_bytes          the size of its JSON text (larger than file_bytes when gzip-compressed)
  format_version      model file format version
  tool_version        rnn-sentiment version that wrote it (null if not recorded)
  cell                \"rnn\", \"lstm\" or \"gru\"
  embed_dim, hidden_dim, layers, bidirectional
  pooling             \"last\", \"mean\", \"max\" or \"last-max\"
  forget_bias         initial LSTM forget-gate bias (null: PyTorch's plain init)
  parameters          number of trainable parameters
  vocab_size          vocabulary entries, counting <pad> and <unk>
  tokenizer           {lowercase, punctuation, strip_html, max_len, truncation}
  threshold           probability at or above which a text is called positive
  data_fingerprint    fingerprint of the training split's texts and labels
  train_rows, valid_rows
  train_positive_rate fraction of training rows labelled positive (K classes: of class 1)
  classes             K-class models only: [{name, train_rows, share}] in class order (the
                      order predict, eval and the confusion matrix use); train_rows is null
                      when the file does not record it
  vocab_coverage      fraction of training tokens the vocabulary covers (not <unk>)
  pretrained          null, or {path, dim, file_words, matched, lowercased, type_coverage,
                      token_coverage}
  epochs_run, best_epoch, stopped_early
  valid_loss          the best epoch's validation loss (null without validation data)
  valid_accuracy      the best epoch's validation accuracy (null without validation data)
  history             per epoch: {epoch, train_loss, train_accuracy, valid_loss,
                      valid_accuracy, lr}
  options             every training option (the keys of config.example.toml), or null
  input               {text_column, label_column, delimiter} of the training data (eval's
                      defaults), or null

JSON output for a checkpoint (--json): one object on stdout:
  checkpoint          path of the checkpoint file
  file_bytes          its size in bytes
  format_version      checkpoint format version
  epoch, batch, step  the epoch in progress, the batches of it done, the steps done in all
  epochs              the run's --epochs
  history             per finished epoch: {epoch, train_loss, train_accuracy, valid_loss,
                      valid_accuracy, lr}
  best_epoch          the finished epoch with the lowest validation loss so far (or null)
  best_valid_loss     its validation loss (or null)
  data, directory     the run's data and the directory it was started in (null: version 1)
  output              the model file the run writes when it finishes (null: version 1)
  options             every option of the run (null: version 1)
  resume_command      the command that continues the run (null: version 1)

JSON output for a pretraining checkpoint (--json): one object on stdout:
  checkpoint, file_bytes, format_version, epoch, step, epochs, history, best_epoch
                      as for a training checkpoint (step: the steps of the epoch done;
                      history: per finished epoch {epoch, train_loss, valid_perplexity, lr})
  kind                \"pretraining\"
  corpus, output      the run's corpus files and the base model it writes
  options             every pretraining option
  resume_command      the command that continues the run";

#[derive(Args)]
pub(crate) struct InspectArgs {
    #[command(flatten)]
    pub(crate) model: ModelArg,
    /// Print one JSON object on stdout (fields below).
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn truncation_name(t: Truncation) -> &'static str {
    match t {
        Truncation::Right => "right",
        Truncation::Left => "left",
    }
}

pub(crate) fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

pub(crate) fn inspect(args: InspectArgs) -> Result<i32> {
    let path = &args.model.model;
    if file_start(path).is_some_and(|start| is_checkpoint(&start.bytes)) {
        return inspect_checkpoint(path, args.json);
    }
    if file_start(path).is_some_and(|start| is_pretrain_checkpoint(&start.bytes)) {
        return inspect_pretrain_checkpoint(path, args.json);
    }
    check_model_path(path)?;
    let json = model_file::read_text(path)?;
    let parsed = model_file::parse_any(&json).map_err(|message| Error::Model {
        path: path.to_path_buf(),
        message,
    })?;
    let model = match parsed {
        model_file::Base::Classifier(model) => *model,
        model_file::Base::LanguageModel(lm) => {
            return inspect_language_model(path, json.len() as u64, &lm, args.json)
        }
    };
    let facts = facts(path, json.len() as u64, &model)?;
    if args.json {
        say!("{}", report_json(&facts));
        Ok(0)
    } else {
        inspect_text(&facts)
    }
}

/// What `inspect --json` prints of the model `model` read from `path` (its JSON text:
/// `json_bytes` long). `serve` answers it at `GET /v1/model`.
pub(crate) fn model_report(path: &Path, json_bytes: u64, model: &SentimentModel) -> Result<Value> {
    Ok(report_json(&facts(path, json_bytes, model)?))
}

fn facts<'a>(path: &'a Path, json_bytes: u64, model: &'a SentimentModel) -> Result<Facts<'a>> {
    let file_bytes = fs::metadata(path)
        .with_context(|| format!("cannot read model file {}", path.display()))?
        .len();
    let info = &model.training;
    let best = info.history.iter().find(|r| r.epoch == info.best_epoch);
    Ok(Facts {
        path,
        file_bytes,
        json_bytes,
        config: &model.classifier.config,
        tokenizer: model.tokenizer.config(),
        vocab_size: model.vocab.len(),
        info,
        valid_loss: best.and_then(|r| r.valid_loss),
        valid_accuracy: best.and_then(|r| r.valid_accuracy),
        tool_version: Some(info.tool_version.as_str()).filter(|v| !v.is_empty()),
    })
}

/// What `inspect` shows of a model file, derived once for both forms.
struct Facts<'a> {
    path: &'a Path,
    /// Its size on disk, and of its JSON text (larger when the file is gzip).
    file_bytes: u64,
    json_bytes: u64,
    config: &'a ModelConfig,
    tokenizer: &'a TokenizerConfig,
    vocab_size: usize,
    info: &'a TrainingInfo,
    /// The best epoch's validation loss and accuracy.
    valid_loss: Option<f64>,
    valid_accuracy: Option<f64>,
    tool_version: Option<&'a str>,
}

/// `inspect --json`: one object.
fn report_json(facts: &Facts) -> Value {
    let &Facts {
        path,
        file_bytes,
        json_bytes,
        config,
        tokenizer,
        vocab_size,
        info,
        valid_loss,
        valid_accuracy,
        tool_version,
    } = facts;
    let mut report = json!({
        "model": path,
        "file_bytes": file_bytes,
        "json_bytes": json_bytes,
        "format_version": model_file::VERSION,
        "tool_version": tool_version,
        "cell": config.cell.name(),
        "embed_dim": config.embed_dim,
        "hidden_dim": config.hidden_dim,
        "layers": config.layers,
        "bidirectional": config.bidirectional,
        "pooling": config.pooling.name(),
        "forget_bias": config.forget_bias,
        "parameters": config.parameter_count(),
        "vocab_size": vocab_size,
        "tokenizer": {
            "lowercase": tokenizer.lowercase,
            "punctuation": tokenizer.punctuation,
            "strip_html": tokenizer.strip_html,
            "max_len": tokenizer.max_len,
            "truncation": truncation_name(tokenizer.truncation),
        },
        "threshold": config.threshold,
        "data_fingerprint": info.data_fingerprint,
        "train_rows": info.train_rows,
        "valid_rows": info.valid_rows,
        "train_positive_rate": info.train_positive_rate,
        "vocab_coverage": info.vocab_coverage,
        "pretrained": info.pretrained,
        "epochs_run": info.epochs_run,
        "best_epoch": info.best_epoch,
        "stopped_early": info.stopped_early,
        "valid_loss": valid_loss,
        "valid_accuracy": valid_accuracy,
        "history": info.history,
        "options": info.options,
        "input": info.input,
    });
    if !config.is_binary() {
        report["classes"] = class_shares(config, info)
            .into_iter()
            .map(|(name, rows, share)| json!({"name": name, "train_rows": rows, "share": share}))
            .collect();
    }
    report
}

/// Each class of a K-class model with its training rows and their share, when recorded.
fn class_shares<'a>(
    config: &'a ModelConfig,
    info: &TrainingInfo,
) -> Vec<(&'a str, Option<usize>, Option<f64>)> {
    let counts = &info.train_class_counts;
    let rows = counts.iter().sum::<usize>().max(1) as f64;
    config
        .classes
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let count = (counts.len() == config.classes.len()).then(|| counts[k]);
            (name.as_str(), count, count.map(|c| c as f64 / rows))
        })
        .collect()
}

/// The architecture in one line: `lstm E=128 H=128, 1 layer, bidirectional, pooling max`.
pub(crate) fn architecture(config: &ModelConfig) -> String {
    format!(
        "{} E={} H={}, {} layer{}, {}, pooling {}",
        config.cell.name(),
        config.embed_dim,
        config.hidden_dim,
        config.layers,
        if config.layers == 1 { "" } else { "s" },
        if config.bidirectional {
            "bidirectional"
        } else {
            "one direction"
        },
        config.pooling.name()
    )
}

/// The file's size, and its JSON text's when they differ (a gzip file).
fn sizes(file_bytes: u64, json_bytes: u64) -> String {
    if file_bytes == json_bytes {
        format!("{file_bytes} bytes")
    } else {
        format!("{file_bytes} bytes, {json_bytes} bytes of JSON")
    }
}

/// A K-class model's classes with their training rows and shares:
/// `3: negative (2979, 38.7%), neutral (...), positive (...)`.
fn classes_text(config: &ModelConfig, info: &TrainingInfo) -> String {
    let shares: Vec<String> = class_shares(config, info)
        .into_iter()
        .map(|(name, rows, share)| match (rows, share) {
            (Some(rows), Some(share)) => format!("{name} ({rows}, {:.1}%)", 100.0 * share),
            _ => name.to_string(),
        })
        .collect();
    format!("{}: {}", config.classes.len(), shares.join(", "))
}

/// How the training data was read: `text "review", label "stars", delimiter ';'`.
fn input_columns_text(input: &InputColumns) -> String {
    let delimiter = input.delimiter.map_or("by extension".to_string(), |d| {
        format!("{:?}", char::from(d.0))
    });
    format!(
        "text {:?}, label {:?}, delimiter {delimiter} (eval's defaults)",
        input.text_column, input.label_column
    )
}

/// `inspect`: one line per fact, aligned.
fn inspect_text(facts: &Facts) -> Result<i32> {
    let &Facts {
        path,
        file_bytes,
        json_bytes,
        config,
        tokenizer,
        vocab_size,
        info,
        valid_loss,
        valid_accuracy,
        tool_version,
    } = facts;
    let mut out = BufWriter::new(io::stdout().lock());
    let mut line = |key: &str, value: String| emit(&mut out, format_args!("{key:<15}{value}"));
    line(
        "model",
        format!(
            "{} ({}, format version {}, written by rnn-sentiment {})",
            path.display(),
            sizes(file_bytes, json_bytes),
            model_file::VERSION,
            tool_version.unwrap_or("(unknown)")
        ),
    )?;
    line("architecture", architecture(config))?;
    line("parameters", config.parameter_count().to_string())?;
    line(
        "vocabulary",
        format!("{} entries (with <pad> and <unk>)", vocab_size),
    )?;
    line(
        "tokenizer",
        format!(
            "lowercase {}, punctuation {}, strip_html {}, max_len {}, truncation {}",
            on_off(tokenizer.lowercase),
            on_off(tokenizer.punctuation),
            on_off(tokenizer.strip_html),
            tokenizer.max_len,
            truncation_name(tokenizer.truncation)
        ),
    )?;
    if config.is_binary() {
        line("threshold", config.threshold.to_string())?;
    } else {
        line("classes", classes_text(config, info))?;
    }
    let balance = if config.is_binary() {
        format!(" ({:.1}% positive)", 100.0 * info.train_positive_rate)
    } else {
        String::new()
    };
    line(
        "training data",
        format!(
            "{} rows{balance}, {} validation rows, fingerprint {}",
            info.train_rows,
            info.valid_rows,
            if info.data_fingerprint.is_empty() {
                "(not recorded)"
            } else {
                &info.data_fingerprint
            }
        ),
    )?;
    if let Some(input) = &info.input {
        line("input columns", input_columns_text(input))?;
    }
    line(
        "vocab coverage",
        format!("{:.1}% of training tokens", 100.0 * info.vocab_coverage),
    )?;
    line(
        "pretrained",
        match &info.pretrained {
            None => "none".into(),
            Some(p) => format!(
                "{} (dim {}): {} vocabulary words found ({:.1}%, {} via lowercasing), covering {:.1}% of training tokens",
                p.path.display(),
                p.dim,
                p.matched,
                100.0 * p.type_coverage,
                p.lowercased,
                100.0 * p.token_coverage
            ),
        },
    )?;
    line(
        "epochs",
        format!(
            "{} run, best epoch {}{}",
            info.epochs_run,
            info.best_epoch,
            if info.stopped_early {
                ", stopped early"
            } else {
                ""
            }
        ),
    )?;
    line(
        "best epoch",
        match (valid_loss, valid_accuracy) {
            (Some(l), Some(a)) => format!("validation loss {l:.4}, accuracy {a:.4}"),
            _ => "no validation data".into(),
        },
    )?;
    flush(&mut out)?;
    Ok(0)
}
