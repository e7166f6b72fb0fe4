//! Arguments and checks that several commands share.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{anyhow, bail, Result};
use clap::Args;

use rnn_sentiment::config::{ConfigFile, Delimiter, TrainOptions};
use rnn_sentiment::data::CsvOptions;
use rnn_sentiment::limits;
use rnn_sentiment::training_info::InputColumns;

/// How `eval` reads its data. Each option left out comes from `--config`, else from what the
/// model recorded of its training data, else the default.
#[derive(Args)]
pub(crate) struct CsvArgs {
    /// Name of the column holding the text [default: the model's training data's, else "text"].
    #[arg(long)]
    pub(crate) text_column: Option<String>,
    /// Name of the column holding the label (1/0, positive/negative, pos/neg, true/false)
    /// [default: the model's training data's, else "label"].
    #[arg(long)]
    pub(crate) label_column: Option<String>,
    /// Field separator: comma, tab, semicolon, pipe or one ASCII character [default: the
    /// model's training data's, else tab for .tsv files and comma otherwise].
    #[arg(long, value_parser = Delimiter::from_str)]
    pub(crate) delimiter: Option<Delimiter>,
    /// TOML file of options (a training config file will do): its text_column, label_column
    /// and delimiter are used; command-line options win.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
}

/// The machine's cores.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `--threads` checked against its limit; 0 means one per core.
pub(crate) fn thread_count(requested: usize) -> Result<usize> {
    if requested > limits::MAX_THREADS {
        bail!(
            "invalid value for --threads: {requested} is more than the limit of {}; 0 uses \
             one thread per core",
            limits::MAX_THREADS
        );
    }
    Ok(if requested > 0 { requested } else { cores() })
}

#[derive(Args)]
pub(crate) struct ModelArg {
    /// Model file to use.
    #[arg(short, long, default_value = "model.json")]
    pub(crate) model: PathBuf,
}

/// How to read labelled data: each option from the command line, else the config file, else
/// the columns the model was trained on (`recorded`), else the defaults.
pub(crate) fn csv_options(args: &CsvArgs, recorded: Option<&InputColumns>) -> Result<CsvOptions> {
    let mut csv = recorded.map_or_else(CsvOptions::default, |r| CsvOptions {
        text_column: r.text_column.clone(),
        label_column: r.label_column.clone(),
        delimiter: r.delimiter.map(|d| d.0),
    });
    if let Some(path) = &args.config {
        let file = ConfigFile::load(path)?;
        let options = TrainOptions::default()
            .with(file.values())
            .map_err(|(key, message)| anyhow!("{}: {key}: {message}", path.display()))?;
        if file.sets("text_column") {
            csv.text_column = options.text_column;
        }
        if file.sets("label_column") {
            csv.label_column = options.label_column;
        }
        if file.sets("delimiter") {
            csv.delimiter = options.delimiter.map(|d| d.0);
        }
    }
    if let Some(column) = &args.text_column {
        csv.text_column = column.clone();
    }
    if let Some(column) = &args.label_column {
        csv.label_column = column.clone();
    }
    if let Some(delimiter) = args.delimiter {
        csv.delimiter = Some(delimiter.0);
    }
    Ok(csv)
}

pub(crate) fn check_threshold(t: f64) -> Result<f64> {
    if !(t > 0.0 && t < 1.0) {
        bail!("invalid value for --threshold: {t} must be strictly between 0 and 1");
    }
    Ok(t)
}

/// Sizes rayon's global pool, which batched inference uses: never more threads than cores,
/// since inference is bound by arithmetic and each thread costs its start-up.
pub(crate) fn set_inference_threads(requested: usize) -> Result<()> {
    let threads = thread_count(requested)?.min(cores());
    // Fails only if the pool was already built, in which case it keeps its size.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global();
    Ok(())
}

/// The files a report in `dir` (if any) will hold, for the same-file checks.
pub(crate) fn report_paths(dir: Option<&Path>, names: &[&str]) -> Vec<PathBuf> {
    dir.map(|d| names.iter().map(|n| d.join(n)).collect())
        .unwrap_or_default()
}
