//! Output records of `predict`: the kept input columns, then the prediction fields, as CSV
//! (RFC 4180, through the `csv` crate) or JSON lines (`predict --json`'s object with the kept
//! fields first).

use std::io::{self, BufWriter, Write};
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::value::RawValue;

use rnn_sentiment::data::Field;

use super::output::{emit, flush};
use super::prediction_json::probabilities_object;
use super::prediction_json::PredictionLine;

/// How output records are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutputFormat {
    Csv,
    Jsonl,
}

impl FromStr for OutputFormat {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(OutputFormat::Csv),
            "jsonl" | "ndjson" | "json" => Ok(OutputFormat::Jsonl),
            _ => Err(format!("{s:?} is not an output format: give csv or jsonl")),
        }
    }
}

/// A text's prediction.
pub(crate) struct Scored<'a> {
    pub(crate) label: &'a str,
    pub(crate) probability: f64,
    /// Every class's probability, in class order (empty for a binary model).
    pub(crate) probabilities: Vec<f64>,
}

/// One JSON line of a K-class model, as `predict --json` writes it.
#[derive(Serialize)]
struct ClassRecord<'a> {
    text: &'a str,
    label: &'a str,
    probability: f64,
    probabilities: Box<RawValue>,
}

/// The prediction fields' names: `text,label,probability`, then for K classes
/// `probability_<class>` (CSV) or `probabilities` (JSON lines).
fn prediction_names(classes: &[String], format: OutputFormat) -> Vec<String> {
    let mut names: Vec<String> = ["text", "label", "probability"].map(String::from).to_vec();
    if !classes.is_empty() {
        match format {
            OutputFormat::Csv => names.extend(classes.iter().map(|c| format!("probability_{c}"))),
            OutputFormat::Jsonl => names.push("probabilities".to_string()),
        }
    }
    names
}

/// Refuses a `--keep` list with an empty name, or whose output `names` repeat one or take a
/// prediction field's.
pub(crate) fn check_keep(
    keep: &[String],
    names: &[String],
    classes: &[String],
    format: OutputFormat,
) -> Result<()> {
    let taken = prediction_names(classes, format);
    for (i, (column, name)) in keep.iter().zip(names).enumerate() {
        if column.is_empty() || name.is_empty() {
            bail!(
                "invalid value for --keep: an empty column name; give names such as \
                 --keep id,date (or id=review_id to rename one)"
            );
        }
        if names[..i].contains(name) {
            bail!(
                "invalid value for --keep: {name:?} is named twice; name each output column once"
            );
        }
        if taken.contains(name) {
            bail!(
                "invalid value for --keep: {name:?} is also the name of a prediction field \
                 (the output has {}); rename it in the output, e.g. --keep {column}=true_{column}",
                taken.join(", ")
            );
        }
    }
    Ok(())
}

/// Writes output records to `W` (stdout) as they are scored.
pub(crate) struct RecordWriter<'a, W: Write> {
    sink: Sink<W>,
    keep: &'a [String],
    classes: &'a [String],
}

enum Sink<W: Write> {
    Csv(Box<csv::Writer<W>>),
    Jsonl(BufWriter<W>),
}

/// A CSV write's result; a closed pipe (`| head`) ends the command quietly.
fn csv_written<T>(result: csv::Result<T>) -> Result<T> {
    result.or_else(|e| match e.into_kind() {
        csv::ErrorKind::Io(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        csv::ErrorKind::Io(e) => Err(e).context("cannot write to standard output"),
        kind => Err(anyhow::anyhow!("cannot write a CSV record: {kind:?}")),
    })
}

impl<'a, W: Write> RecordWriter<'a, W> {
    /// Starts the output (the CSV header row). `classes` is empty for a binary model.
    pub(crate) fn new(
        out: W,
        format: OutputFormat,
        keep: &'a [String],
        classes: &'a [String],
    ) -> Result<Self> {
        let sink = match format {
            OutputFormat::Csv => {
                let mut csv = csv::WriterBuilder::new()
                    .buffer_capacity(1 << 16)
                    .from_writer(out);
                let names = prediction_names(classes, format);
                csv_written(csv.write_record(keep.iter().chain(&names)))?;
                Sink::Csv(Box::new(csv))
            }
            OutputFormat::Jsonl => Sink::Jsonl(BufWriter::with_capacity(1 << 16, out)),
        };
        Ok(Self {
            sink,
            keep,
            classes,
        })
    }

    /// Writes one record: `kept` (in `--keep` order), then the text's prediction.
    pub(crate) fn write(&mut self, kept: &[Field], text: &str, scored: &Scored) -> Result<()> {
        match &mut self.sink {
            Sink::Csv(csv) => {
                let number = |p: &f64| serde_json::to_string(p);
                let mut row: Vec<String> = kept.iter().map(csv_field).collect();
                row.extend([text.to_string(), scored.label.to_string()]);
                row.push(number(&scored.probability)?);
                for p in &scored.probabilities {
                    row.push(number(p)?);
                }
                csv_written(csv.write_record(&row))
            }
            Sink::Jsonl(out) => {
                let prediction = if self.classes.is_empty() {
                    serde_json::to_string(&PredictionLine {
                        text,
                        label: scored.label,
                        probability: scored.probability,
                    })?
                } else {
                    serde_json::to_string(&ClassRecord {
                        text,
                        label: scored.label,
                        probability: scored.probability,
                        probabilities: probabilities_object(self.classes, &scored.probabilities)?,
                    })?
                };
                let line = with_kept(&prediction, self.keep, kept)?;
                emit(out, format_args!("{line}"))
            }
        }
    }

    pub(crate) fn flush(&mut self) -> Result<()> {
        match &mut self.sink {
            Sink::Csv(csv) => csv_written(csv.flush().map_err(csv::Error::from)),
            Sink::Jsonl(out) => flush(out),
        }
    }
}

/// A kept value in a CSV field: text as it is, a JSON value as written, `null` empty.
fn csv_field(field: &Field) -> String {
    match field {
        Field::Text(text) => text.clone(),
        Field::Json(value) if value == "null" => String::new(),
        Field::Json(value) => value.clone(),
    }
}

/// `prediction`, a JSON object, with the kept fields inserted first.
fn with_kept(prediction: &str, names: &[String], kept: &[Field]) -> Result<String> {
    debug_assert!(
        prediction.starts_with('{'),
        "a serialized struct is a JSON object"
    );
    let rest = &prediction[1..];
    let mut line = String::with_capacity(prediction.len() + 64);
    line.push('{');
    for (name, field) in names.iter().zip(kept) {
        line.push_str(&serde_json::to_string(name)?);
        line.push(':');
        match field {
            Field::Text(text) => line.push_str(&serde_json::to_string(text)?),
            Field::Json(value) => line.push_str(value),
        }
        line.push(',');
    }
    line.push_str(rest);
    Ok(line)
}
