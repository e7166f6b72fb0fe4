//! Command-line interface: clap types -> validated library configs -> results on stdout.
//! This is the only module that prints. Progress and errors go to stderr.

use std::fs::{self, File};
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use rnn_sentiment::config::{
    CellKind, ConfigFile, LrSchedule, OptimizerKind, Pooling, TrainConfig,
};
use rnn_sentiment::data::{self, CsvOptions, Example, TextLines};
use rnn_sentiment::files::{self, Use};
use rnn_sentiment::kernels::float::sigmoid;
use rnn_sentiment::limits;
use rnn_sentiment::metrics::{self, Metrics, Objective};
use rnn_sentiment::model_file;
use rnn_sentiment::report::evaluation::EvaluationRun;
use rnn_sentiment::report::training::{EpochTiming, TrainingRun};
use rnn_sentiment::report::{self, Report};
use rnn_sentiment::rng::Rng;
use rnn_sentiment::sentiment::{Explanation, SentimentModel};
use rnn_sentiment::text::{TokenizerConfig, Truncation};
use rnn_sentiment::train::{self, BatchProgress, Observer};
use rnn_sentiment::training_info::EpochRecord;

/// Exit code when `eval --min-accuracy` is not met.
const EXIT_GATE_FAILED: i32 = 1;
/// Exit code when training was interrupted by a signal (and left a checkpoint), as shells use.
const EXIT_INTERRUPTED: i32 = 130;

/// A line of results on stdout. A closed pipe (`| head`) ends the command quietly; any other
/// failure (a full disk) is an error, exit 2.
macro_rules! say {
    ($($arg:tt)*) => {
        emit(&mut io::stdout().lock(), format_args!($($arg)*))?
    };
}

/// A progress or log line on stderr, best effort: a full or closed stderr must not stop
/// training or the save, and has nowhere to be reported.
macro_rules! note {
    ($($arg:tt)*) => {{
        let _ = writeln!(io::stderr().lock(), $($arg)*);
    }};
}

/// Where an interrupted `train -o MODEL` leaves its checkpoint: `MODEL.ckpt`.
fn checkpoint_path(model: &Path) -> PathBuf {
    let mut name = model.as_os_str().to_owned();
    name.push(".ckpt");
    PathBuf::from(name)
}

#[derive(Parser)]
#[command(
    name = "rnn-sentiment",
    version,
    about = "Train, evaluate and serve binary sentiment classifiers built from recurrent networks (RNN, LSTM, GRU).",
    after_help = "Exit codes: 0 success, 1 quality gate failed (eval --min-accuracy), 2 error, 130 training interrupted (checkpoint written; a second signal stops at once without one).\n\
                  Quick start: rnn-sentiment train data/train.csv && rnn-sentiment predict \"I love this movie\""
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model from a CSV/TSV file with text and label columns; writes one JSON model file.
    #[command(after_long_help = TRAIN_JSON)]
    Train(Box<TrainArgs>),
    /// Evaluate a model on labelled data: accuracy, precision, recall, F1, ROC AUC, log loss.
    #[command(after_long_help = EVAL_JSON)]
    Eval(EvalArgs),
    /// Predict the sentiment of texts (arguments, --file, or one text per line on stdin).
    #[command(after_long_help = PREDICT_JSON)]
    Predict(PredictArgs),
    /// Show the tokens and ids the model sees for each text (to debug the text pipeline).
    #[command(after_long_help = TOKENIZE_JSON)]
    Tokenize(TokenizeArgs),
    /// Show what a model file holds: architecture, parameter count, vocabulary, tokenizer,
    /// training data, how training went, and the version that wrote it.
    #[command(after_long_help = INSPECT_JSON)]
    Inspect(InspectArgs),
    /// Print a shell completion script to stdout.
    #[command(after_long_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),
    /// Print the manual page (roff) to stdout, or write one page per command with --out DIR.
    Man(ManArgs),
}

// `--json` output of each command. Field names are stable: new fields may be added, existing
// ones are never renamed or removed.

const TRAIN_JSON: &str = "\
JSON output (--json): one object on stdout:
  model               path of the model file written
  cell                \"rnn\", \"lstm\" or \"gru\"
  vocab_size          vocabulary entries, counting <pad> and <unk>
  parameters          number of trainable parameters
  train_rows          rows trained on
  valid_rows          rows validated on
  vocab_coverage      fraction of training tokens the vocabulary covers (not <unk>)
  train_positive_rate fraction of training rows labelled positive
  pretrained          null, or {path, dim, file_words, matched, lowercased, type_coverage,
                      token_coverage} for --embeddings
  epochs_run          epochs run
  best_epoch          the epoch whose weights were saved (lowest validation loss)
  stopped_early       true when --patience stopped training
  valid_loss          the best epoch's validation loss (null without validation data)
  valid_accuracy      the best epoch's validation accuracy (null without validation data)
  train_seconds       seconds spent training
  wall_seconds        seconds for the whole command
  tokens_per_s        training throughput
  threads             training threads used
  report              path of report.html with --report, else null
  history             per epoch: {epoch, train_loss, train_accuracy, valid_loss,
                      valid_accuracy, lr}";

const EVAL_JSON: &str = "\
JSON output (--json): one object on stdout:
  data, model         the paths used
  count               rows evaluated
  threshold           probability at or above which a row counts as positive
  accuracy, precision, recall, f1
  roc_auc             null when DATA holds one class only
  log_loss            mean binary cross-entropy
  positive_rate       fraction of rows labelled positive
  confusion           {true_positive, false_positive, true_negative, false_negative}
  min_accuracy, passed  only with --min-accuracy
  report              path of report.html, only with --report";

const PREDICT_JSON: &str = "\
JSON output (--json): one object per input line, in input order:
  {\"text\": the input, \"label\": \"positive\" | \"negative\", \"probability\": p}
With --explain, also:
  tokens              the tokens the model sees (normalised, split, truncated to max_len)
  ids                 their ids; 1 is <unk>
  attributions        per token: p(text) - p(text with that token removed)
  unknown             per token: true when outside the vocabulary (the model sees <unk>)
  window              tokens removed together: 1, but past about 1,400 tokens a window of
                      consecutive tokens (each token carries its window's attribution)
Plain output: label<TAB>probability; with --explain, a third field: the tokens separated by
spaces, each followed by its signed attribution, e.g. great[+0.412] movie[+0.010], unknown
words marked (unk): zzz(unk)[-0.003]. On a terminal, tokens are coloured instead: green
raises the probability, red lowers it; bold bright for the strongest (|attribution| over 2/3
of the text's largest), uncoloured for the weakest (under 1/3). NO_COLOR (any non-empty
value) turns colour off.

Attribution method: leave-one-token-out occlusion. Each token is removed (not replaced by
<unk>) and the text rescored; the drop in probability is the token's attribution. It is exact
and faithful to this model, and all variants of a text score in one batched forward pass.
Removing each of T tokens costs T variants of T tokens; past about 1,400 tokens, windows of
consecutive tokens are removed together so that one text costs at most 2,000,000 tokens of
scoring (a 4,000-token text: windows of 8).";

const TOKENIZE_JSON: &str = "\
Output (always JSON; --json is accepted for symmetry with the other commands): one object per
input line, in input order:
  {\"text\": the input, \"tokens\": [..], \"ids\": [..]}
The tokens are those the model sees (normalised, split, truncated to max_len); id 1 is <unk>.";

const INSPECT_JSON: &str = "\
JSON output (--json): one object on stdout:
  model               path of the model file
  file_bytes          its size in bytes
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
  train_positive_rate fraction of training rows labelled positive
  vocab_coverage      fraction of training tokens the vocabulary covers (not <unk>)
  pretrained          null, or {path, dim, file_words, matched, lowercased, type_coverage,
                      token_coverage}
  epochs_run, best_epoch, stopped_early
  valid_loss          the best epoch's validation loss (null without validation data)
  valid_accuracy      the best epoch's validation accuracy (null without validation data)
  history             per epoch: {epoch, train_loss, train_accuracy, valid_loss,
                      valid_accuracy, lr}
  options             every training option (the keys of config.example.toml), or null";

const COMPLETIONS_HELP: &str = "\
Install, for example:
  bash:  rnn-sentiment completions bash > ~/.local/share/bash-completion/completions/rnn-sentiment
  zsh:   rnn-sentiment completions zsh > ~/.zfunc/_rnn-sentiment   (with fpath+=~/.zfunc)
  fish:  rnn-sentiment completions fish > ~/.config/fish/completions/rnn-sentiment.fish";

fn defaults() -> TrainConfig {
    TrainConfig::default()
}

/// Parses `--forget-bias`: a number, or `none` for PyTorch's plain initialisation.
fn parse_forget_bias(s: &str) -> Result<Option<f64>, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    s.parse::<f64>()
        .map(Some)
        .map_err(|_| format!("{s:?} is not a number or \"none\""))
}

fn show_forget_bias(v: Option<f64>) -> String {
    v.map_or("none".into(), |b| b.to_string())
}

#[derive(Args)]
struct CsvArgs {
    /// Name of the column holding the text.
    #[arg(long, default_value = "text")]
    text_column: String,
    /// Name of the column holding the label (1/0, positive/negative, pos/neg, true/false).
    #[arg(long, default_value = "label")]
    label_column: String,
    /// Field separator: comma, tab, semicolon, pipe or one ASCII character [default: tab for
    /// .tsv files, comma otherwise].
    #[arg(long, value_parser = data::parse_delimiter)]
    delimiter: Option<u8>,
}

#[derive(Args)]
struct TrainArgs {
    /// Training data: CSV (or TSV) with a header row.
    data: PathBuf,
    /// TOML file of training options (see config.example.toml); command-line options win.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where to write the model.
    #[arg(short, long, default_value = "model.json")]
    output: PathBuf,
    /// Recurrent cell.
    #[arg(long, value_enum, default_value_t = defaults().cell)]
    cell: CellKind,
    /// Embedding size E.
    #[arg(long, default_value_t = defaults().embed_dim)]
    embed_dim: usize,
    /// Hidden size H.
    #[arg(long, default_value_t = defaults().hidden_dim)]
    hidden_dim: usize,
    /// Stacked recurrent layers.
    #[arg(long, default_value_t = defaults().layers)]
    layers: usize,
    /// Also run each layer over the reversed text and concatenate both directions.
    #[arg(long, default_value_t = defaults().bidirectional, action = clap::ArgAction::Set)]
    bidirectional: bool,
    /// How the head summarises the top layer's outputs over the real tokens.
    #[arg(long, value_enum, default_value_t = defaults().pooling)]
    pooling: Pooling,
    /// Dropout between stacked layers and before the head (training only).
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().dropout)]
    dropout: f64,
    /// Standard deviation of the embedding's normal initialisation (PyTorch uses 1).
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().embed_init)]
    embed_init: f64,
    /// Dropout on the embeddings (training only).
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().embed_dropout)]
    embed_dropout: f64,
    /// Initial LSTM forget-gate bias, or "none" for PyTorch's plain uniform initialisation.
    #[arg(long, default_value_t = show_forget_bias(defaults().forget_bias))]
    forget_bias: String,
    /// Maximum passes over the training data.
    #[arg(long, default_value_t = defaults().epochs)]
    epochs: usize,
    /// Texts per training batch.
    #[arg(long, default_value_t = defaults().batch_size)]
    batch_size: usize,
    /// Learning rate.
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().lr)]
    lr: f64,
    /// Optimizer.
    #[arg(long, value_enum, default_value_t = defaults().optimizer)]
    optimizer: OptimizerKind,
    /// Momentum (SGD only).
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().momentum)]
    momentum: f64,
    /// Weight decay on weight matrices (decoupled, AdamW, for adam; L2 for sgd); biases never.
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().weight_decay)]
    weight_decay: f64,
    /// Learning-rate schedule after warm-up: constant, or linear/cosine decay to 0.
    #[arg(long, value_enum, default_value_t = defaults().lr_schedule)]
    lr_schedule: LrSchedule,
    /// Linear learning-rate warm-up over this fraction of all steps.
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().warmup)]
    warmup: f64,
    /// Batch texts of similar length together (seeded, shuffled buckets).
    #[arg(long, default_value_t = defaults().bucket, action = clap::ArgAction::Set)]
    bucket: bool,
    /// Weight of the positive class in the loss (>1 favours recall on positives).
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().pos_weight)]
    pos_weight: f64,
    /// Update every embedding row every step, exactly as PyTorch's dense Adam, instead of only
    /// the rows of the batch's tokens.
    #[arg(long, default_value_t = defaults().dense_embedding_updates, action = clap::ArgAction::Set)]
    dense_embedding_updates: bool,
    /// Pretrained word vectors to initialise the embedding: word2vec/GloVe/fastText text
    /// format (a word and its floats per line, optional "COUNT DIM" header); the dimension must
    /// equal --embed-dim.
    #[arg(long)]
    embeddings: Option<PathBuf>,
    /// Keep the embedding fixed during training (with --embeddings: use the vectors as given).
    #[arg(long, default_value_t = defaults().freeze_embeddings, action = clap::ArgAction::Set)]
    freeze_embeddings: bool,
    /// Clip the global gradient norm to this value; 0 turns clipping off.
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().clip_norm)]
    clip_norm: f64,
    /// Stop after this many epochs without a lower validation loss (0: never); the saved model
    /// is always the best epoch's.
    #[arg(long, default_value_t = defaults().patience)]
    patience: usize,
    /// Fraction of the training data held out (stratified, seeded) for validation; ignored with --valid.
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().valid_split)]
    valid_split: f64,
    /// Validation data file (instead of --valid-split).
    #[arg(long)]
    valid: Option<PathBuf>,
    /// Keep tokens seen at least this many times in the training split.
    #[arg(long, default_value_t = defaults().min_count)]
    min_count: usize,
    /// Largest vocabulary, counting <pad> and <unk> (= embedding rows).
    #[arg(long, default_value_t = defaults().max_vocab)]
    max_vocab: usize,
    /// Random seed: same data + seed + options give a byte-identical model file.
    #[arg(long, default_value_t = defaults().seed)]
    seed: u64,
    /// Tokens per text the model sees at most.
    #[arg(long, default_value_t = defaults().tokenizer.max_len)]
    max_len: usize,
    /// Which end of a longer text is cut: right keeps the first --max-len tokens, left the last.
    #[arg(long, value_enum, default_value_t = defaults().tokenizer.truncation)]
    truncation: Truncation,
    /// Lowercase text before splitting.
    #[arg(long, default_value_t = defaults().tokenizer.lowercase, action = clap::ArgAction::Set)]
    lowercase: bool,
    /// Keep punctuation, symbol and emoji tokens.
    #[arg(long, default_value_t = defaults().tokenizer.punctuation, action = clap::ArgAction::Set)]
    punctuation: bool,
    /// Replace HTML tags such as <br /> with spaces.
    #[arg(long, default_value_t = defaults().tokenizer.strip_html, action = clap::ArgAction::Set)]
    strip_html: bool,
    #[command(flatten)]
    csv: CsvArgs,
    /// Continue an interrupted run from its checkpoint (written as MODEL.ckpt on Ctrl-C or
    /// SIGTERM); give the same data and options. The result is byte-identical to an
    /// uninterrupted run.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Also write a report of the run into this directory (created if missing): report.html,
    /// self-contained, with charts of loss, accuracy, learning rate and throughput per epoch,
    /// data statistics and the configuration; and history.csv, one row per epoch.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Threads for training (0: one per core). The model file is the same for any value.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// No progress output on stderr.
    #[arg(short, long)]
    quiet: bool,
    /// Print the final report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// `--threads 0` means one per core.
/// The machine's cores.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `--threads` checked against its limit; 0 means one per core.
fn thread_count(requested: usize) -> Result<usize> {
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
struct ModelArg {
    /// Model file to use.
    #[arg(short, long, default_value = "model.json")]
    model: PathBuf,
}

#[derive(Args)]
struct EvalArgs {
    /// Labelled data: CSV (or TSV) with a header row.
    data: PathBuf,
    #[command(flatten)]
    model: ModelArg,
    #[command(flatten)]
    csv: CsvArgs,
    /// Probability at or above which a text counts as positive [default: the model's, 0.5 unless tuned].
    #[arg(long, allow_negative_numbers = true)]
    threshold: Option<f64>,
    /// Exit with status 1 when accuracy is below this (a CI quality gate).
    #[arg(long, allow_negative_numbers = true)]
    min_accuracy: Option<f64>,
    /// Choose the threshold that maximises this metric on DATA (use validation data, not your
    /// test set) and report the metrics at it.
    #[arg(long, value_enum, conflicts_with = "threshold")]
    tune_threshold: Option<Objective>,
    /// With --tune-threshold: store the chosen threshold in the model file (written atomically).
    #[arg(long, requires = "tune_threshold")]
    store: bool,
    /// Also write a report into this directory (created if missing): report.html,
    /// self-contained, with ROC, precision-recall and calibration charts, the confusion matrix
    /// and the most confident mistakes; and mistakes.csv, every misclassified row.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// How many of the most confident mistakes report.html lists.
    #[arg(long, default_value_t = 25, requires = "report")]
    mistakes: usize,
    /// Print the metrics as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Threads for scoring (0: one per core); results do not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

#[derive(Args)]
struct TextInput {
    /// Texts to process; with none (or "-"), one text per line is read from stdin.
    texts: Vec<String>,
    /// Read one text per line from this file.
    #[arg(long, conflicts_with = "texts")]
    file: Option<PathBuf>,
}

#[derive(Args)]
struct PredictArgs {
    #[command(flatten)]
    input: TextInput,
    #[command(flatten)]
    model: ModelArg,
    /// Probability at or above which a text is called positive [default: the model's].
    #[arg(long, allow_negative_numbers = true)]
    threshold: Option<f64>,
    /// Print JSON lines {"text","label","probability"} (with --explain also
    /// "tokens","ids","attributions","unknown","window").
    #[arg(long)]
    json: bool,
    /// Show how much each token moves the probability (leave-one-token-out occlusion).
    #[arg(long)]
    explain: bool,
    /// Threads for scoring (0: one per core); results do not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

#[derive(Args)]
struct TokenizeArgs {
    #[command(flatten)]
    input: TextInput,
    #[command(flatten)]
    model: ModelArg,
    /// Print JSON lines {"text","tokens","ids"} (the output is always JSON; accepted so that
    /// every command takes --json).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct InspectArgs {
    #[command(flatten)]
    model: ModelArg,
    /// Print one JSON object on stdout (fields below).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(Args)]
struct ManArgs {
    /// Write one page per command (rnn-sentiment.1, rnn-sentiment-train.1, ...) into this
    /// directory instead of printing the main page.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Parses the command line and runs the command; returns the exit code.
pub fn run() -> Result<i32> {
    let matches = match Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(e) => return clap_exit(&e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return clap_exit(&e),
    };
    match cli.command {
        Command::Train(args) => {
            let args = *args;
            let sub = matches
                .subcommand_matches("train")
                .expect("train matches exist for the train command");
            train(args, sub)
        }
        Command::Eval(args) => eval(args),
        Command::Predict(args) => predict(args),
        Command::Tokenize(args) => tokenize(args),
        Command::Inspect(args) => inspect(args),
        Command::Completions(args) => completions(args),
        Command::Man(args) => man(args),
    }
}

/// What clap would print and exit with for `--help`, `--version` or a usage error, but with
/// the writes checked: help to a full disk is exit 2 with a message, as any other result.
fn clap_exit(e: &clap::Error) -> Result<i32> {
    let styled = e.render();
    let terminal = if e.use_stderr() {
        io::stderr().is_terminal()
    } else {
        io::stdout().is_terminal()
    };
    let text = if terminal {
        styled.ansi().to_string()
    } else {
        styled.to_string()
    };
    if e.use_stderr() {
        note!("{}", text.trim_end());
        return Ok(e.exit_code());
    }
    write_stdout(text.as_bytes())
}

fn csv_options(args: &CsvArgs) -> CsvOptions {
    CsvOptions {
        text_column: args.text_column.clone(),
        label_column: args.label_column.clone(),
        delimiter: args.delimiter,
    }
}

fn load_model(path: &Path) -> Result<SentimentModel> {
    reject_data_as_model(path)?;
    Ok(model_file::load(path)?)
}

/// How much of a file the mix-up checks below read.
const SNIFF_BYTES: u64 = 4096;

/// The first [`SNIFF_BYTES`] of a file without a UTF-8 byte-order mark, or `None` when it
/// cannot be read (the real reader then reports why) or is not a regular file: reading from a
/// pipe (`eval <(zcat data.csv.gz)`) would consume what the real reader needs.
fn file_start(path: &Path) -> Option<Vec<u8>> {
    if !fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let mut start = Vec::new();
    File::open(path)
        .ok()?
        .take(SNIFF_BYTES)
        .read_to_end(&mut start)
        .ok()?;
    if start.starts_with(b"\xef\xbb\xbf") {
        start.drain(..3);
    }
    Some(start)
}

fn first_non_space(bytes: &[u8]) -> Option<u8> {
    bytes.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// Whether a file starts like a model file: JSON whose first key is `"format": "rnn-sentiment"`.
fn looks_like_model(path: &Path, start: &[u8]) -> bool {
    let is_json_name = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if !(is_json_name || first_non_space(start) == Some(b'{')) {
        return false;
    }
    let compact: Vec<u8> = start
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let marker = format!("\"format\":\"{}\"", model_file::FORMAT);
    compact
        .windows(marker.len())
        .any(|w| w == marker.as_bytes())
}

/// Whether two paths name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// A model file given where data is expected (`eval model.json`) is said as such, instead of
/// a CSV error about its columns.
fn reject_model_as_data(path: &Path, hint: &str) -> Result<()> {
    match file_start(path) {
        Some(start) if looks_like_model(path, &start) => bail!(
            "{} looks like an rnn-sentiment model file, not data; {hint}",
            path.display()
        ),
        _ => Ok(()),
    }
}

/// Data given where a model is expected (`predict -m data.csv`) is said as such, instead of a
/// JSON syntax error.
fn reject_data_as_model(path: &Path) -> Result<()> {
    let Some(start) = file_start(path) else {
        return Ok(());
    };
    match first_non_space(&start) {
        // Empty, or JSON: the model loader says what is wrong with it.
        None | Some(b'{' | b'[' | b'"') => Ok(()),
        Some(_) => {
            let text = match std::str::from_utf8(&start) {
                Ok(text) => Some(text),
                // The sniffed prefix may end inside a character.
                Err(e) if e.error_len().is_none() => {
                    std::str::from_utf8(&start[..e.valid_up_to()]).ok()
                }
                Err(_) => None,
            }
            .filter(|t| !t.contains('\0'));
            match text.and_then(|t| t.lines().find(|l| !l.trim().is_empty())) {
                Some(line) => {
                    let line: String = line.trim().chars().take(60).collect();
                    bail!(
                        "{path} looks like a CSV/text file, not a model (it starts with {line:?}); \
                         to train a model from it, run `rnn-sentiment train {path}`, and give the \
                         model file with -m",
                        path = path.display()
                    )
                }
                None => bail!(
                    "{} is not an rnn-sentiment model file (it is not JSON text); give a model \
                     written by `rnn-sentiment train` with -m",
                    path.display()
                ),
            }
        }
    }
}

fn check_threshold(t: f64) -> Result<f64> {
    if !(t > 0.0 && t < 1.0) {
        bail!("invalid value for --threshold: {t} must be strictly between 0 and 1");
    }
    Ok(t)
}

/// Merged training options: command line > config file > defaults.
struct TrainPlan {
    config: TrainConfig,
    csv: CsvOptions,
    valid: Option<PathBuf>,
    output: PathBuf,
    report: Option<PathBuf>,
    quiet: bool,
}

fn plan_training(args: &TrainArgs, m: &ArgMatches) -> Result<TrainPlan> {
    let file = match &args.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    let on_cli = |id: &str| m.value_source(id) == Some(ValueSource::CommandLine);
    macro_rules! pick {
        ($field:ident) => {
            if on_cli(stringify!($field)) {
                args.$field.clone()
            } else {
                file.$field.clone().unwrap_or_else(|| args.$field.clone())
            }
        };
    }
    let forget_bias = if on_cli("forget_bias") {
        parse_forget_bias(&args.forget_bias)
            .map_err(|e| anyhow::anyhow!("invalid value for --forget-bias: {e}"))?
    } else {
        match file.forget_bias {
            Some(b) => b.value(),
            None => parse_forget_bias(&args.forget_bias)
                .map_err(|e| anyhow::anyhow!("invalid value for --forget-bias: {e}"))?,
        }
    };
    let delimiter =
        if on_cli("delimiter") {
            args.csv.delimiter
        } else {
            match &file.delimiter {
                Some(d) => Some(data::parse_delimiter(d).map_err(|e| {
                    anyhow::anyhow!("invalid value for delimiter in config file: {e}")
                })?),
                None => args.csv.delimiter,
            }
        };
    let pick_csv = |id: &str, cli: &String, file: &Option<String>| {
        if on_cli(id) {
            cli.clone()
        } else {
            file.clone().unwrap_or_else(|| cli.clone())
        }
    };
    let config = TrainConfig {
        cell: pick!(cell),
        embed_dim: pick!(embed_dim),
        hidden_dim: pick!(hidden_dim),
        layers: pick!(layers),
        bidirectional: pick!(bidirectional),
        pooling: pick!(pooling),
        embed_dropout: pick!(embed_dropout),
        embed_init: pick!(embed_init),
        dropout: pick!(dropout),
        forget_bias,
        epochs: pick!(epochs),
        batch_size: pick!(batch_size),
        lr: pick!(lr),
        optimizer: pick!(optimizer),
        momentum: pick!(momentum),
        weight_decay: pick!(weight_decay),
        lr_schedule: pick!(lr_schedule),
        warmup: pick!(warmup),
        bucket: pick!(bucket),
        pos_weight: pick!(pos_weight),
        embeddings: if on_cli("embeddings") {
            args.embeddings.clone()
        } else {
            file.embeddings.clone().or_else(|| args.embeddings.clone())
        },
        freeze_embeddings: pick!(freeze_embeddings),
        dense_embedding_updates: pick!(dense_embedding_updates),
        clip_norm: pick!(clip_norm),
        patience: pick!(patience),
        valid_split: pick!(valid_split),
        min_count: pick!(min_count),
        max_vocab: pick!(max_vocab),
        seed: pick!(seed),
        tokenizer: TokenizerConfig {
            lowercase: pick!(lowercase),
            punctuation: pick!(punctuation),
            strip_html: pick!(strip_html),
            max_len: pick!(max_len),
            truncation: pick!(truncation),
        },
    };
    config.validate()?;
    let valid = if on_cli("valid") {
        args.valid.clone()
    } else {
        file.valid.clone().or_else(|| args.valid.clone())
    };
    Ok(TrainPlan {
        config,
        csv: CsvOptions {
            text_column: pick_csv("text_column", &args.csv.text_column, &file.text_column),
            label_column: pick_csv("label_column", &args.csv.label_column, &file.label_column),
            delimiter,
        },
        valid,
        output: if on_cli("output") {
            args.output.clone()
        } else {
            file.output.clone().unwrap_or_else(|| args.output.clone())
        },
        report: if on_cli("report") {
            args.report.clone()
        } else {
            file.report.clone().or_else(|| args.report.clone())
        },
        quiet: args.quiet || file.quiet.unwrap_or(false),
    })
}

/// Draws training progress on stderr: a bar per epoch on a terminal, else one line per epoch.
/// Also times each epoch for the report.
struct Progress {
    bar: Option<ProgressBar>,
    interactive: bool,
    quiet: bool,
    epoch_start: Instant,
    /// False for an epoch an interrupted process began: its token count is not all ours.
    epoch_timed: bool,
    last_tokens: usize,
    timings: Vec<EpochTiming>,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        Self {
            bar: None,
            interactive: !quiet && io::stderr().is_terminal(),
            quiet,
            epoch_start: Instant::now(),
            epoch_timed: false,
            last_tokens: 0,
            timings: Vec::new(),
        }
    }

    /// Removes a half-drawn bar.
    fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn epoch_start(&mut self, _epoch: usize, resumed: bool) {
        self.epoch_start = Instant::now();
        self.epoch_timed = !resumed;
        self.last_tokens = 0;
    }

    fn batch(&mut self, p: &BatchProgress) {
        self.last_tokens = p.tokens;
        if !self.interactive {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::new(p.batches as u64);
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar
        });
        let rate = p.tokens as f64 / self.epoch_start.elapsed().as_secs_f64().max(1e-9);
        bar.set_prefix(format!("epoch {}/{}", p.epoch, p.epochs));
        bar.set_message(format!(
            "loss {:.4} acc {:.3} {:.0} tok/s",
            p.loss, p.accuracy, rate
        ));
        bar.set_position(p.batch as u64);
    }

    fn epoch(&mut self, r: &EpochRecord) {
        self.clear();
        let seconds = self.epoch_start.elapsed().as_secs_f64();
        if self.epoch_timed {
            self.timings.push(EpochTiming {
                epoch: r.epoch,
                tokens: self.last_tokens,
                seconds,
            });
        }
        if self.quiet {
            return;
        }
        let valid = match (r.valid_loss, r.valid_accuracy) {
            (Some(l), Some(a)) => format!("  valid loss {l:.4} acc {a:.4}"),
            _ => String::new(),
        };
        note!(
            "epoch {:>3}  train loss {:.4} acc {:.4}{valid}  {:.0} tok/s  {seconds:.1}s",
            r.epoch,
            r.train_loss,
            r.train_accuracy,
            self.last_tokens as f64 / seconds.max(1e-9),
        );
    }
}

fn class_counts(examples: &[Example]) -> (usize, usize) {
    let pos = examples.iter().filter(|e| e.label).count();
    (pos, examples.len() - pos)
}

/// Checks every file `train` reads and writes before any work: no output may be an input or
/// another output (by identity, links followed), and every output must be replaceable.
fn check_train_files(args: &TrainArgs, plan: &TrainPlan) -> Result<()> {
    let checkpoint = checkpoint_path(&plan.output);
    let mut uses = vec![Use::input("data file", &args.data)];
    uses.extend(
        plan.valid
            .as_deref()
            .map(|p| Use::input("validation file", p)),
    );
    uses.extend(args.config.as_deref().map(|p| Use::input("config file", p)));
    uses.extend(
        plan.config
            .embeddings
            .as_deref()
            .map(|p| Use::input("word vectors", p)),
    );
    uses.extend(
        args.resume
            .as_deref()
            .map(|p| Use::input("checkpoint to resume", p)),
    );
    uses.push(Use::output("model file", &plan.output));
    uses.push(Use::output("checkpoint", &checkpoint));
    let report_files: Vec<PathBuf> = plan
        .report
        .iter()
        .flat_map(|dir| report::TRAINING_FILES.map(|name| dir.join(name)))
        .collect();
    uses.extend(report_files.iter().map(|p| Use::output("report file", p)));
    // An interrupted resumed run replaces the checkpoint it resumed from, by design.
    files::check_distinct(&uses, &[("checkpoint", "checkpoint to resume")])?;
    // Fail before a long run, not after it, if the model, checkpoint or report cannot be
    // written.
    files::check_output(&plan.output, "model file")?;
    files::check_output(&checkpoint, "checkpoint")?;
    if let Some(dir) = &plan.report {
        report::check_dir(dir, &report::TRAINING_FILES)?;
    }
    Ok(())
}

/// Reads a checkpoint for `--resume`; its contents are checked against the run in `fit`.
fn read_checkpoint(path: &Path) -> Result<train::Resume> {
    let bytes = model_file::read_file(path, limits::MAX_CHECKPOINT_BYTES, "checkpoint")?;
    let checkpoint: train::Checkpoint = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a usable training checkpoint", path.display()))?;
    Ok(train::Resume {
        path: path.to_path_buf(),
        checkpoint,
    })
}

/// Ctrl-C or SIGTERM: the returned flag asks training to finish the batch, write a checkpoint
/// and exit 130. A second signal stops at once, saying that no checkpoint was written.
fn install_signal_handlers() -> Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let flag = stop.clone();
        let handler = move || {
            if flag.swap(true, Ordering::SeqCst) {
                const MESSAGE: &[u8] = b"\ninterrupted again: stopped at once, no checkpoint \
                    was written by this run (the model file and any earlier checkpoint are \
                    unchanged)\n";
                // SAFETY (async-signal-safety): write(2) and _exit(2) are both safe in a
                // signal handler; nothing else runs here.
                unsafe {
                    libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len());
                    libc::_exit(EXIT_INTERRUPTED);
                }
            }
        };
        // SAFETY: the handler only touches an atomic and calls async-signal-safe functions.
        unsafe { signal_hook::low_level::register(signal, handler) }
            .context("cannot install the signal handler")?;
    }
    Ok(stop)
}

fn train(args: TrainArgs, matches: &ArgMatches) -> Result<i32> {
    let started = Instant::now();
    let plan = plan_training(&args, matches)?;
    let data_hint =
        "train reads a CSV/TSV file with text and label columns (-o names the model it writes)";
    for input in std::iter::once(&args.data).chain(&plan.valid) {
        reject_model_as_data(input, data_hint)?;
    }
    check_train_files(&args, &plan)?;
    let threads = thread_count(args.threads)?;
    let examples = data::read_labeled(&args.data, &plan.csv)?;
    let (file_pos, file_neg) = class_counts(&examples);
    let (train_set, valid_set) = match &plan.valid {
        Some(path) => (examples, data::read_labeled(path, &plan.csv)?),
        None => data::split_validation(
            examples,
            plan.config.valid_split,
            &mut Rng::stream(plan.config.seed, train::streams::SPLIT),
        ),
    };
    let (pos, neg) = class_counts(&train_set);
    if pos == 0 || neg == 0 {
        let class = if pos == 0 { "negative" } else { "positive" };
        if file_pos > 0 && file_neg > 0 {
            bail!(
                "{}: after holding out {} of each class for validation (--valid-split {}), the \
                 {} training rows are all {class}; lower --valid-split or give --valid FILE",
                args.data.display(),
                plan.config.valid_split,
                plan.config.valid_split,
                train_set.len()
            );
        }
        bail!(
            "{}: the training rows are all {class}; a classifier needs examples of both classes",
            args.data.display()
        );
    }
    if !plan.quiet {
        note!(
            "training {} on {} rows ({:.1}% positive), validating on {} rows",
            plan.config.cell.name(),
            train_set.len(),
            100.0 * pos as f64 / train_set.len() as f64,
            valid_set.len()
        );
    }
    let mut progress = Progress::new(plan.quiet);
    let fit_start = Instant::now();
    let resume = match &args.resume {
        Some(path) => Some(read_checkpoint(path)?),
        None => None,
    };
    let stop = install_signal_handlers()?;
    let control = train::Control {
        stop: Some(&stop),
        resume,
    };
    let outcome = train::fit(
        &plan.config,
        &train_set,
        &valid_set,
        threads,
        &mut progress,
        control,
    )?;
    let trained = match outcome {
        train::Outcome::Finished(trained) => trained,
        train::Outcome::Interrupted(c) => {
            progress.clear();
            let path = checkpoint_path(&plan.output);
            let bytes = serde_json::to_vec(&c).context("cannot serialize the checkpoint")?;
            files::write_atomic(&path, &bytes, "checkpoint")?;
            note!(
                "interrupted in epoch {}, after batch {}: checkpoint saved to {}\n\
                 continue with: rnn-sentiment train --resume {} (and the same data and options)",
                c.epoch,
                c.batch,
                path.display(),
                path.display()
            );
            return Ok(EXIT_INTERRUPTED);
        }
    };
    let train_seconds = fit_start.elapsed().as_secs_f64();
    model_file::save(&trained.model, &plan.output)?;
    if let Some(path) = &args.resume {
        // The checkpoint has served; the finished model replaces it. Only this run's own
        // checkpoint (`MODEL.ckpt`) is removed: another file given to --resume was not this
        // command's to delete.
        if same_file(path, &checkpoint_path(&plan.output)) {
            let _ = std::fs::remove_file(path);
        }
    }

    if let Some(dir) = &plan.report {
        let validation = match &plan.valid {
            Some(path) => format!("from {}", path.display()),
            None => format!(
                "held out from the training file ({:.0}%, stratified, seed {})",
                100.0 * plan.config.valid_split,
                plan.config.seed
            ),
        };
        let run = TrainingRun {
            model: &trained.model,
            model_path: &plan.output,
            data_path: &args.data,
            validation,
            train: &train_set,
            valid: &valid_set,
            timings: &progress.timings,
            train_seconds,
            threads,
        };
        write_report(&report::training::render(&run)?, dir, plan.quiet)?;
    }

    let info = &trained.model.training;
    if let (Some(p), false) = (&info.pretrained, plan.quiet) {
        note!(
            "pretrained vectors {}: {} of {} vocabulary words found ({:.1}%, {} via lowercasing), covering {:.1}% of training tokens",
            p.path.display(),
            p.matched,
            trained.model.vocab.len() - 2,
            100.0 * p.type_coverage,
            p.lowercased,
            100.0 * p.token_coverage
        );
    }
    let best = info.history.get(info.best_epoch.saturating_sub(1));
    let config = &trained.model.classifier.config;
    // Tokens through training steps per second of training steps (validation excluded).
    let tokens_per_s = trained.tokens_trained as f64 / trained.step_seconds.max(1e-9);
    if args.json {
        let report = json!({
            "model": plan.output,
            "cell": config.cell,
            "vocab_size": config.vocab_size,
            "parameters": config.parameter_count(),
            "train_rows": info.train_rows,
            "valid_rows": info.valid_rows,
            "vocab_coverage": info.vocab_coverage,
            "train_positive_rate": info.train_positive_rate,
            "pretrained": info.pretrained,
            "epochs_run": info.epochs_run,
            "best_epoch": info.best_epoch,
            "stopped_early": info.stopped_early,
            "valid_loss": best.and_then(|r| r.valid_loss),
            "valid_accuracy": best.and_then(|r| r.valid_accuracy),
            "train_seconds": train_seconds,
            "wall_seconds": started.elapsed().as_secs_f64(),
            "tokens_per_s": tokens_per_s,
            "threads": threads,
            "report": plan.report.as_ref().map(|d| d.join("report.html")),
            "history": info.history,
        });
        say!("{report}");
    } else {
        let valid = match best.and_then(|r| r.valid_accuracy.zip(r.valid_loss)) {
            Some((a, l)) => format!(", validation accuracy {a:.4} (loss {l:.4})"),
            None => String::new(),
        };
        say!(
            "saved {} ({} E={} H={}, vocabulary {}, {} parameters): best epoch {} of {}{valid}; {:.1}s, {:.0} tokens/s",
            plan.output.display(),
            config.cell.name(),
            config.embed_dim,
            config.hidden_dim,
            config.vocab_size,
            config.parameter_count(),
            info.best_epoch,
            info.epochs_run,
            train_seconds,
            tokens_per_s
        );
    }
    Ok(0)
}

/// Writes a report's files and says where (stderr, so stdout stays the result).
fn write_report(report: &Report, dir: &Path, quiet: bool) -> Result<()> {
    report.write(dir)?;
    if !quiet {
        note!("report written to {}", dir.join("report.html").display());
    }
    Ok(())
}

fn print_metrics(m: &Metrics, data: &Path) -> Result<()> {
    let c = &m.confusion;
    say!(
        "data       {} ({} rows, {:.1}% positive)",
        data.display(),
        m.count,
        100.0 * m.positive_rate
    );
    say!("threshold  {}", m.threshold);
    say!("accuracy   {:.4}", m.accuracy);
    say!("precision  {:.4}", m.precision);
    say!("recall     {:.4}", m.recall);
    say!("f1         {:.4}", m.f1);
    match m.roc_auc {
        Some(auc) => say!("roc_auc    {auc:.4}"),
        None => say!("roc_auc    n/a (one class only)"),
    }
    say!("log_loss   {:.4}", m.log_loss);
    say!("confusion            predicted");
    say!("                     negative  positive");
    say!(
        "  actual negative  {:>9} {:>9}",
        c.true_negative,
        c.false_positive
    );
    say!(
        "  actual positive  {:>9} {:>9}",
        c.false_negative,
        c.true_positive
    );
    Ok(())
}

/// Sizes rayon's global pool, which batched inference uses: never more threads than cores,
/// since inference is bound by arithmetic and each thread costs its start-up.
fn set_inference_threads(requested: usize) -> Result<()> {
    let threads = thread_count(requested)?.min(cores());
    // Fails only if the pool was already built, in which case it keeps its size.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global();
    Ok(())
}

/// Checks every file `eval` reads and writes before any work (see [`check_train_files`]).
fn check_eval_files(args: &EvalArgs) -> Result<()> {
    let model = args.model.model.as_path();
    let mut uses = vec![
        Use::input("data file", &args.data),
        Use::input("model file", model),
    ];
    if args.store {
        uses.push(Use::output("model file to update", model));
    }
    let report_files: Vec<PathBuf> = args
        .report
        .iter()
        .flat_map(|dir| report::EVALUATION_FILES.map(|name| dir.join(name)))
        .collect();
    uses.extend(report_files.iter().map(|p| Use::output("report file", p)));
    files::check_distinct(&uses, &[("model file", "model file to update")])?;
    if args.store {
        files::check_output(model, "model file")?;
    }
    if let Some(dir) = &args.report {
        report::check_dir(dir, &report::EVALUATION_FILES)?;
    }
    Ok(())
}

fn eval(args: EvalArgs) -> Result<i32> {
    set_inference_threads(args.threads)?;
    if let Some(a) = args.min_accuracy {
        if !(0.0..=1.0).contains(&a) {
            bail!("invalid value for --min-accuracy: {a} must be between 0 and 1");
        }
    }
    reject_model_as_data(
        &args.data,
        &format!("did you mean -m {}?", args.data.display()),
    )?;
    check_eval_files(&args)?;
    let mut model = load_model(&args.model.model)?;
    let examples = data::read_labeled(&args.data, &csv_options(&args.csv))?;
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let labels: Vec<bool> = examples.iter().map(|e| e.label).collect();
    let logits = model.logits(&texts);
    let threshold = match args.tune_threshold {
        Some(objective) => {
            let (t, value) = metrics::best_threshold(&logits, &labels, objective);
            note!(
                "tuned threshold {t:.6} gives {} {value:.4} on {} (was {})",
                match objective {
                    Objective::Accuracy => "accuracy",
                    Objective::F1 => "F1",
                },
                args.data.display(),
                model.threshold()
            );
            if args.store {
                model.classifier.config.threshold = t;
                model_file::save(&model, &args.model.model)?;
                note!("stored threshold in {}", args.model.model.display());
            }
            t
        }
        None => check_threshold(args.threshold.unwrap_or(model.threshold()))?,
    };
    let m = metrics::evaluate(&logits, &labels, threshold);
    let passed = args.min_accuracy.is_none_or(|a| m.accuracy >= a);
    if let Some(dir) = &args.report {
        let run = EvaluationRun {
            model_path: &args.model.model,
            data_path: &args.data,
            examples: &examples,
            logits: &logits,
            metrics: &m,
            mistakes: args.mistakes,
        };
        write_report(&report::evaluation::render(&run)?, dir, false)?;
    }
    if args.json {
        let mut value = serde_json::to_value(&m)?;
        value["data"] = json!(args.data);
        value["model"] = json!(args.model.model);
        if let Some(dir) = &args.report {
            value["report"] = json!(dir.join("report.html"));
        }
        if let Some(a) = args.min_accuracy {
            value["min_accuracy"] = json!(a);
            value["passed"] = json!(passed);
        }
        say!("{value}");
    } else {
        print_metrics(&m, &args.data)?;
    }
    if !passed {
        note!(
            "quality gate failed: accuracy {:.4} is below --min-accuracy {}",
            m.accuracy,
            args.min_accuracy.unwrap_or_default()
        );
        return Ok(EXIT_GATE_FAILED);
    }
    Ok(0)
}

/// Where texts come from: arguments, a file, or stdin.
enum Source {
    Args(Vec<String>),
    File(PathBuf),
    Stdin,
}

impl Source {
    fn of(input: &TextInput) -> Self {
        match (&input.file, input.texts.as_slice()) {
            (Some(path), _) => Source::File(path.clone()),
            (None, []) => Source::Stdin,
            (None, [dash]) if dash == "-" => Source::Stdin,
            (None, texts) => Source::Args(texts.to_vec()),
        }
    }

    /// Calls `handle` with chunks of texts in input order. Chunks are large for files and
    /// pipes (fast batched inference) and one line for an interactive terminal (immediate
    /// answers).
    fn for_each_chunk(self, mut handle: impl FnMut(&[String]) -> Result<()>) -> Result<()> {
        // Large enough that length-sorted batches fill every core; a pipe is read ahead this far.
        const CHUNK: usize = 8192;
        let mut run = |lines: &mut dyn Iterator<Item = rnn_sentiment::Result<(u64, String)>>,
                       chunk_size: usize|
         -> Result<()> {
            let mut chunk = Vec::with_capacity(chunk_size);
            for item in lines {
                chunk.push(item?.1);
                if chunk.len() == chunk_size {
                    handle(&chunk)?;
                    chunk.clear();
                }
            }
            if !chunk.is_empty() {
                handle(&chunk)?;
            }
            Ok(())
        };
        match self {
            Source::Args(texts) => handle(&texts),
            Source::File(path) => run(&mut TextLines::open(&path)?, CHUNK),
            Source::Stdin => {
                let stdin = io::stdin();
                let chunk = if stdin.is_terminal() { 1 } else { CHUNK };
                run(&mut TextLines::new(stdin.lock(), "<stdin>"), chunk)
            }
        }
    }
}

/// One line of `predict --json`.
#[derive(serde::Serialize)]
struct PredictionLine<'a> {
    text: &'a str,
    label: &'a str,
    probability: f64,
}

/// One line of `predict --explain --json`.
#[derive(serde::Serialize)]
struct ExplanationLine<'a> {
    text: &'a str,
    label: &'a str,
    probability: f64,
    tokens: &'a [String],
    ids: &'a [u32],
    attributions: &'a [f64],
    unknown: Vec<bool>,
    /// Tokens left out together to measure each attribution (1 but for long texts).
    window: usize,
}

/// One line of `tokenize`.
#[derive(serde::Serialize)]
struct TokenizeLine<'a> {
    text: &'a str,
    tokens: &'a [String],
    ids: &'a [u32],
}

/// Writes a line to stdout; a closed pipe (`| head`) ends the command quietly.
fn emit(out: &mut impl Write, line: std::fmt::Arguments) -> Result<()> {
    match out.write_fmt(line).and_then(|_| out.write_all(b"\n")) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => other.context("cannot write to standard output"),
    }
}

fn flush(out: &mut impl Write) -> Result<()> {
    match out.flush() {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => other.context("cannot write to standard output"),
    }
}

/// `--file model.json` is a model given where texts are expected.
fn check_text_file(input: &TextInput) -> Result<()> {
    match &input.file {
        Some(path) => reject_model_as_data(path, &format!("did you mean -m {}?", path.display())),
        None => Ok(()),
    }
}

fn predict(args: PredictArgs) -> Result<i32> {
    set_inference_threads(args.threads)?;
    check_text_file(&args.input)?;
    let model = load_model(&args.model.model)?;
    let threshold = check_threshold(args.threshold.unwrap_or(model.threshold()))?;
    if args.explain {
        return explain(&args, &model, threshold);
    }
    let mut out = BufWriter::new(io::stdout().lock());
    Source::of(&args.input).for_each_chunk(|texts| {
        for (text, z) in texts.iter().zip(model.logits(texts)) {
            let p = sigmoid(z);
            let label = if p >= threshold {
                "positive"
            } else {
                "negative"
            };
            if args.json {
                let line = PredictionLine {
                    text,
                    label,
                    probability: p,
                };
                emit(&mut out, format_args!("{}", serde_json::to_string(&line)?))?;
            } else {
                emit(&mut out, format_args!("{label}\t{p:.6}"))?;
            }
        }
        flush(&mut out)
    })?;
    Ok(0)
}

/// `predict --explain`: one line per input with the label, the probability and per-token
/// attributions.
fn explain(args: &PredictArgs, model: &SentimentModel, threshold: f64) -> Result<i32> {
    let colour = !args.json
        && use_colour(
            io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        );
    let mut out = BufWriter::new(io::stdout().lock());
    Source::of(&args.input).for_each_chunk(|texts| {
        for (text, e) in texts.iter().zip(model.explain_many(texts)) {
            let p = e.probability;
            let label = if p >= threshold {
                "positive"
            } else {
                "negative"
            };
            if args.json {
                let line = ExplanationLine {
                    text,
                    label,
                    probability: p,
                    tokens: &e.tokens,
                    ids: &e.ids,
                    attributions: &e.attributions,
                    unknown: e.unknown(),
                    window: e.window,
                };
                emit(&mut out, format_args!("{}", serde_json::to_string(&line)?))?;
            } else {
                let tokens = highlight(&e, colour);
                emit(&mut out, format_args!("{label}\t{p:.6}\t{tokens}"))?;
            }
        }
        flush(&mut out)
    })?;
    Ok(0)
}

/// Colour on stdout: only on a terminal, and not when `NO_COLOR` is set to a non-empty value
/// (<https://no-color.org>; an empty value does not disable colour).
fn use_colour(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|value| value.is_empty())
}

/// Marks a token outside the vocabulary (the model sees `<unk>` in its place).
const UNKNOWN_MARK: &str = "(unk)";

/// The tokens of an explanation on one line, separated by spaces. Without colour each token
/// is followed by its signed attribution, `great[+0.412]`; with colour the sign and strength
/// are shown by ANSI colour: green raises p, red lowers it, bold bright for |a| above 2/3 of
/// the text's largest, plain for |a| below 1/3.
fn highlight(e: &Explanation, colour: bool) -> String {
    let max = e.max_magnitude();
    let mut line = String::new();
    for (i, ((token, &a), unknown)) in e
        .tokens
        .iter()
        .zip(&e.attributions)
        .zip(e.unknown())
        .enumerate()
    {
        if i > 0 {
            line.push(' ');
        }
        let mark = if unknown { UNKNOWN_MARK } else { "" };
        if !colour {
            line.push_str(&format!("{token}{mark}[{a:+.3}]"));
            continue;
        }
        let strength = if max > 0.0 { a.abs() / max } else { 0.0 };
        let style = match (a > 0.0, strength) {
            (_, s) if s < 1.0 / 3.0 => None,
            (true, s) if s > 2.0 / 3.0 => Some("1;92"),
            (false, s) if s > 2.0 / 3.0 => Some("1;91"),
            (true, _) => Some("32"),
            (false, _) => Some("31"),
        };
        match style {
            Some(style) => line.push_str(&format!("\x1b[{style}m{token}{mark}\x1b[0m")),
            None => line.push_str(&format!("{token}{mark}")),
        }
    }
    line
}

fn tokenize(args: TokenizeArgs) -> Result<i32> {
    check_text_file(&args.input)?;
    let model = load_model(&args.model.model)?;
    let mut out = BufWriter::new(io::stdout().lock());
    Source::of(&args.input).for_each_chunk(|texts| {
        for text in texts {
            let tokens = model.tokenizer.tokenize(text);
            let ids = model.vocab.encode(&tokens);
            let line = TokenizeLine {
                text,
                tokens: &tokens,
                ids: &ids,
            };
            emit(&mut out, format_args!("{}", serde_json::to_string(&line)?))?;
        }
        flush(&mut out)
    })?;
    Ok(0)
}

fn truncation_name(t: Truncation) -> &'static str {
    match t {
        Truncation::Right => "right",
        Truncation::Left => "left",
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

fn inspect(args: InspectArgs) -> Result<i32> {
    let path = &args.model.model;
    let model = load_model(path)?;
    let file_bytes = fs::metadata(path)
        .with_context(|| format!("cannot read model file {}", path.display()))?
        .len();
    let config = &model.classifier.config;
    let tokenizer = model.tokenizer.config();
    let info = &model.training;
    let best = info.history.iter().find(|r| r.epoch == info.best_epoch);
    let valid_loss = best.and_then(|r| r.valid_loss);
    let valid_accuracy = best.and_then(|r| r.valid_accuracy);
    let tool_version = Some(info.tool_version.as_str()).filter(|v| !v.is_empty());
    if args.json {
        let report = json!({
            "model": path,
            "file_bytes": file_bytes,
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
            "vocab_size": model.vocab.len(),
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
        });
        say!("{report}");
        return Ok(0);
    }
    let mut out = BufWriter::new(io::stdout().lock());
    let mut line = |key: &str, value: String| emit(&mut out, format_args!("{key:<15}{value}"));
    line(
        "model",
        format!(
            "{} ({file_bytes} bytes, format version {}, written by rnn-sentiment {})",
            path.display(),
            model_file::VERSION,
            tool_version.unwrap_or("(unknown)")
        ),
    )?;
    line(
        "architecture",
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
        ),
    )?;
    line("parameters", config.parameter_count().to_string())?;
    line(
        "vocabulary",
        format!("{} entries (with <pad> and <unk>)", model.vocab.len()),
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
    line("threshold", config.threshold.to_string())?;
    line(
        "training data",
        format!(
            "{} rows ({:.1}% positive), {} validation rows, fingerprint {}",
            info.train_rows,
            100.0 * info.train_positive_rate,
            info.valid_rows,
            if info.data_fingerprint.is_empty() {
                "(not recorded)"
            } else {
                &info.data_fingerprint
            }
        ),
    )?;
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

/// Writes generated bytes to stdout; a closed pipe ends the command quietly.
fn write_stdout(bytes: &[u8]) -> Result<i32> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(0),
        other => other.context("cannot write to standard output")?,
    }
    flush(&mut out)?;
    Ok(0)
}

fn completions(args: CompletionsArgs) -> Result<i32> {
    // Generated into memory first: clap_complete panics on a write error such as a closed pipe.
    let mut script = Vec::new();
    clap_complete::generate(
        args.shell,
        &mut Cli::command(),
        "rnn-sentiment",
        &mut script,
    );
    write_stdout(&script)
}

fn man(args: ManArgs) -> Result<i32> {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    let Some(dir) = args.out else {
        let mut page = Vec::new();
        clap_mangen::Man::new(command)
            .render(&mut page)
            .context("cannot render the man page")?;
        return write_stdout(&page);
    };
    fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))?;
    // One page per command, subcommands as `rnn-sentiment-train.1` (their display names).
    let mut written = Vec::new();
    let mut pending = vec![command];
    while let Some(command) = pending.pop() {
        pending.extend(
            command
                .get_subcommands()
                .filter(|c| !c.is_hide_set())
                .cloned(),
        );
        let page = clap_mangen::Man::new(command);
        let path = dir.join(page.get_filename());
        let mut bytes = Vec::new();
        page.render(&mut bytes)
            .context("cannot render the man page")?;
        files::write_atomic(&path, &bytes, "man page")?;
        written.push(path);
    }
    written.sort();
    let mut out = BufWriter::new(io::stdout().lock());
    for path in &written {
        emit(&mut out, format_args!("{}", path.display()))?;
    }
    flush(&mut out)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(!use_colour(false, None));
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(true, Some(OsStr::new("false"))));
        assert!(!use_colour(false, Some(OsStr::new("1"))));
        // no-color.org: only a non-empty value disables colour.
        assert!(use_colour(true, Some(OsStr::new(""))));
    }

    fn explanation() -> Explanation {
        Explanation {
            tokens: ["great", "zzz", "plot", "awful"].map(String::from).to_vec(),
            ids: vec![7, 1, 9, 4],
            attributions: vec![0.9, -0.01, 0.4, -0.75],
            probability: 0.8,
            window: 1,
        }
    }

    #[test]
    fn plain_tokens_carry_signed_attributions_and_unknown_marks() {
        assert_eq!(
            highlight(&explanation(), false),
            "great[+0.900] zzz(unk)[-0.010] plot[+0.400] awful[-0.750]"
        );
    }

    #[test]
    fn coloured_tokens_show_sign_and_strength() {
        assert_eq!(
            highlight(&explanation(), true),
            "\x1b[1;92mgreat\x1b[0m zzz(unk) \x1b[32mplot\x1b[0m \x1b[1;91mawful\x1b[0m"
        );
    }

    #[test]
    fn an_empty_explanation_is_an_empty_field() {
        let e = Explanation {
            tokens: vec![],
            ids: vec![],
            attributions: vec![],
            probability: 0.5,
            window: 1,
        };
        assert_eq!(highlight(&e, false), "");
        assert_eq!(highlight(&e, true), "");
    }
}
