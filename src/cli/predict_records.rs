//! `predict` on records: a CSV, TSV or JSON lines input (by the file's extension or
//! `--input-format`) whose text column is scored and whose `--keep` columns are carried into
//! each output record, written as CSV or JSON lines as it is scored, in input order.
//! Scoring is the same as for plain lines (the same probabilities, bit for bit); only the
//! reading and writing around it are here.

use std::fs::File;
use std::io::{self, BufReader, IsTerminal};
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use clap::Args;

use rnn_sentiment::config::Delimiter;
use rnn_sentiment::data::{InputFormat, Record, RecordSpec, Records};
use rnn_sentiment::kernels::float::sigmoid;
use rnn_sentiment::model::loss::argmax;
use rnn_sentiment::sentiment::SentimentModel;

use super::predict::{PredictArgs, Source};
use super::record_writer::{OutputFormat, RecordWriter, Scored};

pub(crate) const PREDICT_RECORDS_HELP: &str = "\
Records (CSV, TSV, JSON lines): a --file named *.csv, *.tsv, *.jsonl or *.ndjson (or any input
with --input-format csv|tsv|jsonl, stdin included) is read as records, not lines. A header row
(CSV, TSV) is required and never scored; --text-column names the column (JSON lines: the key)
holding the text [default: the model's training data's, else \"text\"]; --keep id,date copies
those columns into each output record, in that order, before the prediction fields (NAME=NEW
renames one in the output: --keep label=true_label, since \"label\" is the prediction's):
  CSV output:        id,date,text,label,probability   (K classes: then probability_<class>
                     for each class, in the model's class order)
  JSON lines output: {\"id\":..,\"date\":..,\"text\":..,\"label\":..,\"probability\":..}
                     (K classes: and \"probabilities\": {class: p}), as predict --json
Output is CSV for CSV/TSV input and JSON lines for JSON lines input; --output-format csv|jsonl
chooses (--json means jsonl), and with plain lines it turns each line into a record.
CSV is quoted as RFC 4180; probabilities are written in full (shortest round-trip digits),
so a record's probability is the same number as --json's. A JSON value kept is written as
it was (numbers keep their digits; in CSV, strings unquoted and null empty). Records are
scored in chunks of at most 8,192 (and 32 MiB) and written as they are scored, so memory
stays bounded whatever the input's size; a malformed record is an error naming the input
and its line (exit 2). --explain and --top-k read plain lines only.";

/// The options of records input and output.
#[derive(Args)]
pub(crate) struct RecordArgs {
    /// How the input is laid out: lines, csv, tsv or jsonl [default: by the --file name:
    /// .csv, .tsv, .jsonl or .ndjson, else lines].
    #[arg(long, value_name = "FORMAT", value_parser = InputFormat::from_str)]
    pub(crate) input_format: Option<InputFormat>,
    /// The CSV/TSV column (JSON lines: the key) holding the text [default: the model's
    /// training data's, else "text"].
    #[arg(long, value_name = "NAME")]
    pub(crate) text_column: Option<String>,
    /// Input columns (or JSON keys) to copy into each output record, in this order, before
    /// the prediction fields: --keep id,date; NAME=NEW renames one: --keep label=true_label.
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub(crate) keep: Vec<String>,
    /// Write records as csv or jsonl [default: jsonl for JSON lines input or with --json,
    /// else csv].
    #[arg(long, value_name = "FORMAT", value_parser = OutputFormat::from_str)]
    pub(crate) output_format: Option<OutputFormat>,
    /// Field separator of CSV input: comma, semicolon, pipe or one ASCII character
    /// [default: comma].
    #[arg(long, value_parser = Delimiter::from_str)]
    pub(crate) delimiter: Option<Delimiter>,
}

/// How `predict` reads and writes records, checked.
pub(crate) struct Plan {
    spec: RecordSpec,
    /// The kept columns' names in the output (`--keep column=name`), in `spec.keep` order.
    names: Vec<String>,
    output: OutputFormat,
}

/// The records plan for these arguments, or `None` when the input is plain lines written as
/// lines (predict as it always was). Refuses options that do not fit the input.
pub(crate) fn plan(args: &PredictArgs, model: &SentimentModel) -> Result<Option<Plan>> {
    let records = &args.records;
    let format = records
        .input_format
        .or(args.input.file.as_deref().map(InputFormat::of_path))
        .unwrap_or(InputFormat::Lines);
    if !format.has_columns() && records.output_format.is_none() {
        for (given, option) in [
            (records.text_column.is_some(), "--text-column"),
            (!records.keep.is_empty(), "--keep"),
            (records.delimiter.is_some(), "--delimiter"),
        ] {
            if given {
                bail!(
                    "{option} is for an input with columns; give a --file named *.csv, *.tsv \
                     or *.jsonl, or say how the input is laid out with --input-format \
                     csv|tsv|jsonl"
                );
            }
        }
        return Ok(None);
    }
    check_options(args, format)?;
    let output = match (records.output_format, args.json) {
        (Some(OutputFormat::Csv), true) => {
            bail!("--json writes JSON lines; leave it out to write --output-format csv")
        }
        (Some(output), _) => output,
        (None, true) => OutputFormat::Jsonl,
        (None, false) if format == InputFormat::Jsonl => OutputFormat::Jsonl,
        (None, false) => OutputFormat::Csv,
    };
    let text_column = match (&records.text_column, &model.training.input) {
        (Some(column), _) => column.trim().to_string(),
        (None, Some(recorded)) => recorded.text_column.clone(),
        (None, None) => "text".to_string(),
    };
    let (keep, names): (Vec<String>, Vec<String>) = records
        .keep
        .iter()
        .map(|k| match k.split_once('=') {
            Some((column, name)) => (column.trim().to_string(), name.trim().to_string()),
            None => (k.trim().to_string(), k.trim().to_string()),
        })
        .unzip();
    super::record_writer::check_keep(&keep, &names, model.classes(), output)?;
    Ok(Some(Plan {
        spec: RecordSpec {
            format,
            delimiter: records.delimiter.map(|d| d.0),
            text_column,
            keep,
        },
        names,
        output,
    }))
}

/// Refuses what records cannot do with this input format.
fn check_options(args: &PredictArgs, format: InputFormat) -> Result<()> {
    let records = &args.records;
    for (given, option) in [
        (args.explain, "--explain"),
        (args.top_k.is_some(), "--top-k"),
    ] {
        if given {
            bail!(
                "{option} reads plain text lines (one text per line); it does not combine with \
                 records input or --output-format: score the text column on its own, e.g. \
                 with --input-format lines"
            );
        }
    }
    if format.has_columns() && !args.input.texts.is_empty() && args.input.texts != ["-"] {
        bail!(
            "texts given as arguments are plain texts, not {} records; give the \
             records with --file FILE, or on stdin (-)",
            format.name()
        );
    }
    if !format.has_columns() && (records.text_column.is_some() || !records.keep.is_empty()) {
        bail!("plain text lines have no columns: --text-column and --keep need CSV, TSV or JSON lines input");
    }
    if records.delimiter.is_some() && format != InputFormat::Csv {
        bail!(
            "--delimiter is for CSV input ({} input is not read with one); leave it out",
            format.name()
        );
    }
    Ok(())
}

/// What the model says of each text.
pub(crate) enum Scoring {
    /// A binary model, with the probability at or above which a text is positive.
    Binary { threshold: f64 },
    /// A K-class model: the most probable class.
    Classes,
}

/// Largest number of records scored together.
const CHUNK_ROWS: usize = 8192;
/// A chunk ends once its records hold this many bytes, so that long records cannot add up.
const CHUNK_BYTES: usize = 32 << 20;

/// Scores every record of the input and writes one output record per input record.
pub(crate) fn run(
    args: &PredictArgs,
    model: &SentimentModel,
    plan: Plan,
    scoring: Scoring,
) -> Result<i32> {
    // The input first: a missing column is said before any output.
    let (records, rows_per_chunk) = open(&args.input, plan.spec)?;
    let mut writer = RecordWriter::new(
        io::stdout().lock(),
        plan.output,
        &plan.names,
        model.classes(),
    )?;
    let mut chunk: Vec<Record> = Vec::new();
    let mut bytes = 0;
    let mut score = |chunk: &mut Vec<Record>| -> Result<()> {
        let texts: Vec<String> = chunk
            .iter_mut()
            .map(|r| std::mem::take(&mut r.text))
            .collect();
        for (record, (text, scored)) in chunk
            .iter()
            .zip(texts.iter().zip(score_texts(model, &scoring, &texts)))
        {
            writer.write(&record.kept, text, &scored)?;
        }
        chunk.clear();
        writer.flush()
    };
    for record in records {
        let record = record?;
        bytes += record.text.len() + record.kept.iter().map(|f| f.len()).sum::<usize>();
        chunk.push(record);
        if chunk.len() >= rows_per_chunk || bytes >= CHUNK_BYTES {
            score(&mut chunk)?;
            bytes = 0;
        }
    }
    if !chunk.is_empty() {
        score(&mut chunk)?;
    }
    writer.flush()?;
    Ok(0)
}

/// The label and probabilities of each text, as plain `predict` computes them.
fn score_texts<'a>(
    model: &'a SentimentModel,
    scoring: &Scoring,
    texts: &[String],
) -> Vec<Scored<'a>> {
    match *scoring {
        Scoring::Binary { threshold } => model
            .logits(texts)
            .into_iter()
            .map(|z| {
                let p = sigmoid(z);
                let label = if p >= threshold {
                    "positive"
                } else {
                    "negative"
                };
                Scored {
                    label,
                    probability: p,
                    probabilities: Vec::new(),
                }
            })
            .collect(),
        Scoring::Classes => model
            .class_probabilities(texts)
            .rows()
            .into_iter()
            .map(|row| {
                let best = argmax(row);
                Scored {
                    label: &model.classes()[best],
                    probability: row[best],
                    probabilities: row.to_vec(),
                }
            })
            .collect(),
    }
}

type RecordIter = Box<dyn Iterator<Item = rnn_sentiment::Result<Record>>>;

/// The input's records, and how many to score together: one at a time when someone types
/// them at a terminal, so each is answered as it is entered.
fn open(input: &super::predict::TextInput, spec: RecordSpec) -> Result<(RecordIter, usize)> {
    Ok(match Source::of(input) {
        Source::File(path) => {
            let file = File::open(&path)
                .with_context(|| format!("cannot open input file {}", path.display()))?;
            let reader = BufReader::with_capacity(1 << 20, file);
            (Box::new(Records::new(reader, &path, spec)?), CHUNK_ROWS)
        }
        Source::Stdin => {
            let stdin = io::stdin();
            let rows = if stdin.is_terminal() {
                note!(
                    "reading {} records from the terminal; end with Ctrl-D",
                    spec.format.name()
                );
                1
            } else {
                CHUNK_ROWS
            };
            let reader = BufReader::with_capacity(1 << 20, stdin);
            (Box::new(Records::new(reader, "<stdin>", spec)?), rows)
        }
        Source::Args(texts) => {
            let records = texts.into_iter().enumerate().map(|(i, text)| {
                Ok(Record {
                    line: i as u64 + 1,
                    text,
                    kept: Vec::new(),
                })
            });
            (Box::new(records), CHUNK_ROWS)
        }
    })
}
