//! Command-line interface: clap types -> validated library configs -> results on stdout.
//! This is the only module that prints. Progress and errors go to stderr.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use rnn_sentiment::checkpoint;
use rnn_sentiment::config::{
    CellKind, ConfigFile, LrSchedule, OptimizerKind, Pooling, TrainConfig,
};
use rnn_sentiment::data::{self, CsvOptions, Example, TextLines};
use rnn_sentiment::float::sigmoid;
use rnn_sentiment::metrics::{self, Metrics, Objective};
use rnn_sentiment::rng::Rng;
use rnn_sentiment::sentiment::SentimentModel;
use rnn_sentiment::text::{TokenizerConfig, Truncation};
use rnn_sentiment::train::{self, BatchProgress, EpochRecord, Observer};

/// Exit code when `eval --min-accuracy` is not met.
const EXIT_GATE_FAILED: i32 = 1;

#[derive(Parser)]
#[command(
    name = "rnn-sentiment",
    version,
    about = "Train, evaluate and serve binary sentiment classifiers built from recurrent networks (RNN, LSTM, GRU).",
    after_help = "Exit codes: 0 success, 1 quality gate failed (eval --min-accuracy), 2 error.\n\
                  Quick start: rnn-sentiment train data/train.csv && rnn-sentiment predict \"I love this movie\""
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model from a CSV/TSV file with text and label columns; writes one JSON model file.
    Train(Box<TrainArgs>),
    /// Evaluate a model on labelled data: accuracy, precision, recall, F1, ROC AUC, log loss.
    Eval(EvalArgs),
    /// Predict the sentiment of texts (arguments, --file, or one text per line on stdin).
    Predict(PredictArgs),
    /// Show the tokens and ids the model sees for each text (to debug the text pipeline).
    Tokenize(TokenizeArgs),
}

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
    #[arg(long, default_value_t = defaults().dropout)]
    dropout: f64,
    /// Standard deviation of the embedding's normal initialisation (PyTorch uses 1).
    #[arg(long, default_value_t = defaults().embed_init)]
    embed_init: f64,
    /// Dropout on the embeddings (training only).
    #[arg(long, default_value_t = defaults().embed_dropout)]
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
    #[arg(long, default_value_t = defaults().lr)]
    lr: f64,
    /// Optimizer.
    #[arg(long, value_enum, default_value_t = defaults().optimizer)]
    optimizer: OptimizerKind,
    /// Momentum (SGD only).
    #[arg(long, default_value_t = defaults().momentum)]
    momentum: f64,
    /// Weight decay on weight matrices (decoupled, AdamW, for adam; L2 for sgd); biases never.
    #[arg(long, default_value_t = defaults().weight_decay)]
    weight_decay: f64,
    /// Learning-rate schedule after warm-up: constant, or linear/cosine decay to 0.
    #[arg(long, value_enum, default_value_t = defaults().lr_schedule)]
    lr_schedule: LrSchedule,
    /// Linear learning-rate warm-up over this fraction of all steps.
    #[arg(long, default_value_t = defaults().warmup)]
    warmup: f64,
    /// Batch texts of similar length together (seeded, shuffled buckets).
    #[arg(long, default_value_t = defaults().bucket, action = clap::ArgAction::Set)]
    bucket: bool,
    /// Weight of the positive class in the loss (>1 favours recall on positives).
    #[arg(long, default_value_t = defaults().pos_weight)]
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
    #[arg(long, default_value_t = defaults().clip_norm)]
    clip_norm: f64,
    /// Stop after this many epochs without a lower validation loss (0: never); the saved model
    /// is always the best epoch's.
    #[arg(long, default_value_t = defaults().patience)]
    patience: usize,
    /// Fraction of the training data held out (stratified, seeded) for validation; ignored with --valid.
    #[arg(long, default_value_t = defaults().valid_split)]
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
fn thread_count(requested: usize) -> usize {
    if requested > 0 {
        requested
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
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
    #[arg(long)]
    threshold: Option<f64>,
    /// Exit with status 1 when accuracy is below this (a CI quality gate).
    #[arg(long)]
    min_accuracy: Option<f64>,
    /// Choose the threshold that maximises this metric on DATA (use validation data, not your
    /// test set) and report the metrics at it.
    #[arg(long, value_enum, conflicts_with = "threshold")]
    tune_threshold: Option<Objective>,
    /// With --tune-threshold: store the chosen threshold in the model file (written atomically).
    #[arg(long, requires = "tune_threshold")]
    store: bool,
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
    #[arg(long)]
    threshold: Option<f64>,
    /// Print JSON lines {"text","label","probability"}.
    #[arg(long)]
    json: bool,
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
}

/// Parses the command line and runs the command; returns the exit code.
pub fn run() -> Result<i32> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
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
    }
}

fn csv_options(args: &CsvArgs) -> CsvOptions {
    CsvOptions {
        text_column: args.text_column.clone(),
        label_column: args.label_column.clone(),
        delimiter: args.delimiter,
    }
}

fn load_model(path: &Path) -> Result<SentimentModel> {
    Ok(checkpoint::load(path)?)
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
        quiet: args.quiet || file.quiet.unwrap_or(false),
    })
}

/// Draws training progress on stderr: a bar per epoch on a terminal, else one line per epoch.
struct Progress {
    bar: Option<ProgressBar>,
    interactive: bool,
    quiet: bool,
    epoch_start: Instant,
    last_tokens: usize,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        Self {
            bar: None,
            interactive: !quiet && io::stderr().is_terminal(),
            quiet,
            epoch_start: Instant::now(),
            last_tokens: 0,
        }
    }
}

impl Observer for Progress {
    fn batch(&mut self, p: &BatchProgress) {
        if p.batch == 1 {
            self.epoch_start = Instant::now();
        }
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
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.quiet {
            return;
        }
        let seconds = self.epoch_start.elapsed().as_secs_f64();
        let valid = match (r.valid_loss, r.valid_accuracy) {
            (Some(l), Some(a)) => format!("  valid loss {l:.4} acc {a:.4}"),
            _ => String::new(),
        };
        eprintln!(
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

fn train(args: TrainArgs, matches: &ArgMatches) -> Result<i32> {
    let started = Instant::now();
    let plan = plan_training(&args, matches)?;
    // Fail before a long run, not after it, if the model cannot be written.
    checkpoint::check_writable(&plan.output)?;
    let examples = data::read_labeled(&args.data, &plan.csv)?;
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
        bail!(
            "{}: the training rows are all {}; a classifier needs examples of both classes",
            args.data.display(),
            if pos == 0 { "negative" } else { "positive" }
        );
    }
    if !plan.quiet {
        eprintln!(
            "training {} on {} rows ({:.1}% positive), validating on {} rows",
            plan.config.cell.name(),
            train_set.len(),
            100.0 * pos as f64 / train_set.len() as f64,
            valid_set.len()
        );
    }
    let mut progress = Progress::new(plan.quiet);
    let fit_start = Instant::now();
    let threads = thread_count(args.threads);
    let trained = train::fit(&plan.config, &train_set, &valid_set, threads, &mut progress)?;
    let train_seconds = fit_start.elapsed().as_secs_f64();
    checkpoint::save(&trained.model, &plan.output)?;

    let info = &trained.model.training;
    if let (Some(p), false) = (&info.pretrained, plan.quiet) {
        eprintln!(
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
            "history": info.history,
        });
        println!("{report}");
    } else {
        let valid = match best.and_then(|r| r.valid_accuracy.zip(r.valid_loss)) {
            Some((a, l)) => format!(", validation accuracy {a:.4} (loss {l:.4})"),
            None => String::new(),
        };
        println!(
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

fn print_metrics(m: &Metrics, data: &Path) {
    let c = &m.confusion;
    println!(
        "data       {} ({} rows, {:.1}% positive)",
        data.display(),
        m.count,
        100.0 * m.positive_rate
    );
    println!("threshold  {}", m.threshold);
    println!("accuracy   {:.4}", m.accuracy);
    println!("precision  {:.4}", m.precision);
    println!("recall     {:.4}", m.recall);
    println!("f1         {:.4}", m.f1);
    match m.roc_auc {
        Some(auc) => println!("roc_auc    {auc:.4}"),
        None => println!("roc_auc    n/a (one class only)"),
    }
    println!("log_loss   {:.4}", m.log_loss);
    println!("confusion            predicted");
    println!("                     negative  positive");
    println!(
        "  actual negative  {:>9} {:>9}",
        c.true_negative, c.false_positive
    );
    println!(
        "  actual positive  {:>9} {:>9}",
        c.false_negative, c.true_positive
    );
}

/// Sizes rayon's global pool, which batched inference uses.
fn set_inference_threads(requested: usize) {
    // Fails only if the pool was already built, in which case it keeps its size.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(thread_count(requested))
        .build_global();
}

fn eval(args: EvalArgs) -> Result<i32> {
    set_inference_threads(args.threads);
    if let Some(a) = args.min_accuracy {
        if !(0.0..=1.0).contains(&a) {
            bail!("invalid value for --min-accuracy: {a} must be between 0 and 1");
        }
    }
    let mut model = load_model(&args.model.model)?;
    let examples = data::read_labeled(&args.data, &csv_options(&args.csv))?;
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let labels: Vec<bool> = examples.iter().map(|e| e.label).collect();
    let logits = model.logits(&texts);
    let threshold = match args.tune_threshold {
        Some(objective) => {
            let (t, value) = metrics::best_threshold(&logits, &labels, objective);
            eprintln!(
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
                checkpoint::save(&model, &args.model.model)?;
                eprintln!("stored threshold in {}", args.model.model.display());
            }
            t
        }
        None => check_threshold(args.threshold.unwrap_or(model.threshold()))?,
    };
    let m = metrics::evaluate(&logits, &labels, threshold);
    let passed = args.min_accuracy.is_none_or(|a| m.accuracy >= a);
    if args.json {
        let mut value = serde_json::to_value(&m)?;
        value["data"] = json!(args.data);
        value["model"] = json!(args.model.model);
        if let Some(a) = args.min_accuracy {
            value["min_accuracy"] = json!(a);
            value["passed"] = json!(passed);
        }
        println!("{value}");
    } else {
        print_metrics(&m, &args.data);
    }
    if !passed {
        eprintln!(
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
        other => other.context("cannot write to stdout"),
    }
}

fn flush(out: &mut impl Write) -> Result<()> {
    match out.flush() {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => other.context("cannot write to stdout"),
    }
}

fn predict(args: PredictArgs) -> Result<i32> {
    set_inference_threads(args.threads);
    let model = load_model(&args.model.model)?;
    let threshold = check_threshold(args.threshold.unwrap_or(model.threshold()))?;
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

fn tokenize(args: TokenizeArgs) -> Result<i32> {
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
