//! Arguments and checks that several commands share.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;

use rnn_sentiment::data::{self, CsvOptions};
use rnn_sentiment::limits;

#[derive(Args)]
pub(crate) struct CsvArgs {
    /// Name of the column holding the text.
    #[arg(long, default_value = "text")]
    pub(crate) text_column: String,
    /// Name of the column holding the label (1/0, positive/negative, pos/neg, true/false).
    #[arg(long, default_value = "label")]
    pub(crate) label_column: String,
    /// Field separator: comma, tab, semicolon, pipe or one ASCII character [default: tab for
    /// .tsv files, comma otherwise].
    #[arg(long, value_parser = data::parse_delimiter)]
    pub(crate) delimiter: Option<u8>,
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

pub(crate) fn csv_options(args: &CsvArgs) -> CsvOptions {
    CsvOptions {
        text_column: args.text_column.clone(),
        label_column: args.label_column.clone(),
        delimiter: args.delimiter,
    }
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
