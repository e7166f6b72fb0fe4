//! `pretrain`: a language model over unlabeled text files, written as a base model for
//! `train --init`.

use std::io::BufReader;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use rnn_sentiment::config::CellKind;
use rnn_sentiment::data::{InputFormat, RecordSpec, Records};
use rnn_sentiment::embeddings;
use rnn_sentiment::files::{self, Use};
use rnn_sentiment::limits;
use rnn_sentiment::lm::checkpoint::{PretrainCheckpoint, PretrainInvocation, PretrainResume};
use rnn_sentiment::lm::corpus::{Corpus, CorpusBuilder};
use rnn_sentiment::lm::info::{LanguageModelFile, PretrainEpoch, PretrainInfo};
use rnn_sentiment::lm::options::{PretrainConfig, PretrainOptions, SoftmaxKind};
use rnn_sentiment::lm::sampler::Proposal;
use rnn_sentiment::lm::trainer::{
    pretrain as run_pretraining, PretrainControl, PretrainObserver, PretrainOutcome, StepProgress,
};
use rnn_sentiment::model_file;
use rnn_sentiment::report::{self, pretraining::PretrainingRun};
use rnn_sentiment::text::{Tokenizer, UNK_ID};
use rnn_sentiment::train::checkpoint_path;

use super::args::{report_paths, thread_count};
use super::output::write_report;
use super::sniff::reject_model_as_data;
use super::train::install_signal_handlers;
use super::EXIT_INTERRUPTED;

pub(crate) const PRETRAIN_JSON: &str = "\
JSON output (--json): one object on stdout:
  model               path of the base model written
  vocab_size          vocabulary entries, counting <pad>, <unk> and the end-of-text </s>
  parameters          trainable parameters, the decoder included
  texts               texts read (lines, or CSV rows)
  positions           stream positions: tokens plus one end-of-text per text
  train_positions     positions trained on; valid_positions: held out for perplexity
  spilled             true when the token stream outgrew --memory-tokens and went to a
                      temporary file
  epochs_run, best_epoch, stopped_early
  valid_perplexity    the best epoch's validation perplexity (exact, full softmax), or null
  train_seconds       seconds in the training loop; tokens_per_s: stream positions per second
                      and direction
  threads             threads used
  embeddings          null, or for --embeddings {path, dim, file_words, matched, lowercased,
                      type_coverage, token_coverage} (token_coverage: of stream positions)
  history             per epoch: {epoch, train_loss, valid_perplexity, lr}
  report              path of report.html with --report, else null";

/// Options of `pretrain`.
#[derive(Args, Debug)]
pub(crate) struct PretrainArgs {
    /// Unlabeled text: plain text files (one text per line), or CSV/TSV/JSON lines files (.csv,
    /// .tsv, .jsonl; the text in --text-column, other columns ignored)
    #[arg(required_unless_present = "resume", value_name = "CORPUS")]
    corpus: Vec<PathBuf>,
    /// Where to write the base model (a name ending in .gz writes it compressed) [default:
    /// base.json; with --resume: the interrupted run's]
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// TOML file of pretraining options (see pretrain.example.toml); command-line options win
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Continue an interrupted run from its checkpoint (BASE.ckpt, written on Ctrl-C or
    /// SIGTERM) with the run's own corpus and options; options given again must be the same.
    /// The base model is byte-identical to an uninterrupted run's.
    #[arg(long, value_name = "CKPT")]
    resume: Option<PathBuf>,
    /// Recurrent cell
    #[arg(long, value_enum)]
    cell: Option<CellKind>,
    /// Embedding size E
    #[arg(long)]
    embed_dim: Option<usize>,
    /// Hidden size H
    #[arg(long)]
    hidden_dim: Option<usize>,
    /// Stacked recurrent layers
    #[arg(long)]
    layers: Option<usize>,
    /// Train a language model for each direction (on by default, as `train`). Off:
    /// --no-bidirectional
    #[arg(long, overrides_with = "no_bidirectional")]
    bidirectional: bool,
    #[arg(long, overrides_with = "bidirectional", hide = true)]
    no_bidirectional: bool,
    /// Steps of backpropagation through time per chunk (T)
    #[arg(long)]
    bptt: Option<usize>,
    /// Rows of the stream read side by side (B)
    #[arg(long)]
    batch_size: Option<usize>,
    /// Output layer: sampled softmax (fast for large vocabularies) or the full softmax
    #[arg(long, value_enum)]
    softmax: Option<SoftmaxKind>,
    /// Candidates drawn per step for the sampled softmax
    #[arg(long)]
    samples: Option<usize>,
    /// Distribution the candidates are drawn from: unigram (count^0.75) or log-uniform
    #[arg(long, value_parser = parse_proposal)]
    proposal: Option<Proposal>,
    /// Learning rate (Adam)
    #[arg(long)]
    lr: Option<f64>,
    /// Clip the global gradient norm to this; 0 turns clipping off
    #[arg(long)]
    clip_norm: Option<f64>,
    /// Dropout between layers and before the decoder
    #[arg(long)]
    dropout: Option<f64>,
    /// Dropout on the embeddings
    #[arg(long)]
    embed_dropout: Option<f64>,
    /// Passes over the corpus at most
    #[arg(long)]
    epochs: Option<usize>,
    /// Stop after this many epochs without a lower validation perplexity (0: never)
    #[arg(long)]
    patience: Option<usize>,
    /// Fraction of the corpus (its end) held out for validation perplexity
    #[arg(long)]
    valid_split: Option<f64>,
    /// Keep tokens seen at least this many times
    #[arg(long)]
    min_count: Option<usize>,
    /// Largest vocabulary, counting <pad>, <unk> and </s>
    #[arg(long)]
    max_vocab: Option<usize>,
    /// Random seed: same corpus + seed + options give a byte-identical file
    #[arg(long)]
    seed: Option<u64>,
    /// Adam steps every row of the embedding and the decoder at every step (PyTorch's dense
    /// Adam), not only the rows the step's tokens and candidates touch: lower perplexity for
    /// rare words after one epoch, at about 8% more time
    #[arg(long)]
    dense_updates: bool,
    /// The decoder's weight is the embedding (weight tying; needs --embed-dim equal to
    /// --hidden-dim): fewer parameters, and every candidate's row of the embedding learns
    #[arg(long)]
    tie_weights: bool,
    /// Word vectors for the embedding rows of the words they have, before pretraining starts:
    /// the text format of `train --embeddings` (a word and its floats per line; GloVe,
    /// word2vec text, fastText .vec). Without --embed-dim, E is the vectors' dimension
    #[arg(long, value_name = "FILE")]
    embeddings: Option<PathBuf>,
    /// Name of the text column (field) of CSV/TSV/JSON lines corpus files [default: text]
    #[arg(long)]
    text_column: Option<String>,
    /// Stream positions kept in memory; past this the token stream moves to a temporary file
    /// [default: 67108864]
    #[arg(long)]
    memory_tokens: Option<usize>,
    /// Threads (0: one per core); the model file is the same for any value
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Write an HTML report (report.html, history.csv) into this directory: corpus
    /// statistics, loss, perplexity and learning-rate curves, options and speed
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Print the summary as JSON on stdout
    #[arg(long)]
    json: bool,
    /// No progress output on stderr
    #[arg(short, long)]
    quiet: bool,
}

fn parse_proposal(s: &str) -> std::result::Result<Proposal, String> {
    match s {
        "unigram" => Ok(Proposal::Unigram),
        "log-uniform" => Ok(Proposal::LogUniform),
        _ => Err(format!("{s:?} is not one of unigram, log-uniform")),
    }
}

/// What a run reads and writes and how it trains: the options given over the defaults, or,
/// resuming, over the interrupted run's.
struct PretrainPlan {
    corpus: Vec<PathBuf>,
    output: PathBuf,
    text_column: String,
    report: Option<PathBuf>,
    memory_tokens: usize,
    quiet: bool,
    config: PretrainConfig,
    resume: Option<PretrainResume>,
}

/// Stream positions kept in memory unless `--memory-tokens` says otherwise.
const MEMORY_TOKENS: usize = 64 << 20;

impl PretrainArgs {
    fn plan(&self) -> Result<PretrainPlan> {
        let file = match &self.config {
            Some(path) => PretrainOptions::load(path)?,
            None => PretrainOptions::default(),
        };
        let options = self.given().or(&file);
        let resume = match &self.resume {
            Some(path) => Some(PretrainCheckpoint::read(path)?),
            None => None,
        };
        let recorded = resume
            .as_ref()
            .and_then(|r| r.checkpoint.invocation.clone());
        let base = resume
            .as_ref()
            .map_or_else(PretrainConfig::default, |r| r.checkpoint.options.clone());
        let corpus = match (&recorded, self.corpus.is_empty()) {
            (Some(invocation), true) => invocation.corpus.clone(),
            _ => self.corpus.clone(),
        };
        if corpus.is_empty() {
            bail!("give the corpus files: the checkpoint does not record them");
        }
        Ok(PretrainPlan {
            corpus,
            output: options
                .output
                .clone()
                .or_else(|| recorded.as_ref().map(|i| i.output.clone()))
                .unwrap_or_else(|| "base.json".into()),
            text_column: options
                .text_column
                .clone()
                .or_else(|| recorded.as_ref().map(|i| i.text_column.clone()))
                .unwrap_or_else(|| "text".into()),
            report: options.report.clone(),
            memory_tokens: options.memory_tokens.unwrap_or(MEMORY_TOKENS),
            quiet: options.quiet.unwrap_or(false),
            config: config(&options, base)?,
            resume,
        })
    }

    /// What the command line sets.
    fn given(&self) -> PretrainOptions {
        let flag = |on: bool| on.then_some(true);
        PretrainOptions {
            cell: self.cell,
            embed_dim: self.embed_dim,
            hidden_dim: self.hidden_dim,
            layers: self.layers,
            bidirectional: (self.bidirectional || self.no_bidirectional)
                .then_some(!self.no_bidirectional),
            bptt: self.bptt,
            batch_size: self.batch_size,
            softmax: self.softmax,
            samples: self.samples,
            proposal: self.proposal,
            lr: self.lr,
            clip_norm: self.clip_norm,
            dropout: self.dropout,
            embed_dropout: self.embed_dropout,
            epochs: self.epochs,
            patience: self.patience,
            valid_split: self.valid_split,
            min_count: self.min_count,
            max_vocab: self.max_vocab,
            seed: self.seed,
            dense_updates: flag(self.dense_updates),
            tie_weights: flag(self.tie_weights),
            embeddings: self.embeddings.clone(),
            text_column: self.text_column.clone(),
            memory_tokens: self.memory_tokens,
            output: self.output.clone(),
            report: self.report.clone(),
            quiet: flag(self.quiet),
        }
    }
}

/// `base` (the defaults, or a resumed run's options) with the options given; with word
/// vectors and no size asked for, E is the vectors'.
fn config(options: &PretrainOptions, base: PretrainConfig) -> Result<PretrainConfig> {
    let mut c = options.over(base);
    if let Some(path) = &options.embeddings {
        let dim = embeddings::peek_dim(path)?;
        match options.embed_dim {
            Some(asked) if asked != dim => bail!(
                "--embed-dim {asked} contradicts --embeddings {}, whose vectors have {dim} \
                 values per word: leave --embed-dim out (E is then {dim}), or give vectors \
                 of dimension {asked}",
                path.display()
            ),
            _ => c.embed_dim = dim,
        }
    }
    c.validate()?;
    Ok(c)
}

/// Checks the files before any work: corpus files exist and are not models, the output is
/// writable and none of the corpus.
fn check_files(args: &PretrainArgs, plan: &PretrainPlan) -> Result<()> {
    let checkpoint = checkpoint_path(&plan.output);
    let mut uses: Vec<Use<'_>> = plan
        .corpus
        .iter()
        .map(|p| Use::input("corpus file", p))
        .collect();
    uses.extend(
        args.resume
            .as_deref()
            .map(|p| Use::input("checkpoint to resume", p)),
    );
    uses.extend(args.config.as_deref().map(|p| Use::input("config file", p)));
    uses.extend(
        plan.config
            .embeddings
            .as_deref()
            .map(|p| Use::input("word vectors", p)),
    );
    uses.push(Use::output("model file", &plan.output));
    uses.push(Use::output("checkpoint", &checkpoint));
    let report_files = report_paths(plan.report.as_deref(), &report::TRAINING_FILES);
    uses.extend(report_files.iter().map(|p| Use::output("report file", p)));
    uses.extend(
        plan.report
            .as_deref()
            .map(|d| Use::output("report directory", d)),
    );
    // An interrupted resumed run replaces the checkpoint it resumed from, by design.
    files::check_distinct(
        &uses,
        &[
            ("corpus file", "corpus file"),
            ("checkpoint", "checkpoint to resume"),
        ],
    )?;
    files::check_output(&plan.output, "model file")?;
    files::check_output(&checkpoint, "checkpoint")?;
    if let Some(dir) = &plan.report {
        report::check_dir(dir, &report::TRAINING_FILES)?;
    }
    for path in &plan.corpus {
        if !path.is_file() {
            bail!(
                "cannot read corpus file {}: there is no such file (give text files, one text per line, or CSV/TSV files with a {:?} column)",
                path.display(),
                plan.text_column
            );
        }
        reject_model_as_data(
            path,
            "give unlabeled text (one text per line) or CSV/TSV with a text column",
        )?;
    }
    Ok(())
}

pub(crate) fn pretrain(args: PretrainArgs) -> Result<i32> {
    let mut plan = args.plan()?;
    let config = plan.config.clone();
    let threads = thread_count(args.threads)?;
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global();
    check_files(&args, &plan)?;
    let corpus = read_corpus(&plan)?;
    if corpus.vocab.len() <= 3 || corpus.positions() < 2 * config.batch_size as u64 {
        bail!(
            "the corpus ({}) has {} texts and {} tokens: too little to pretrain on (at least {} \
             stream positions are needed for --batch-size {}); give more text",
            list(&plan.corpus),
            corpus.texts,
            corpus.positions() - corpus.texts,
            2 * config.batch_size,
            config.batch_size
        );
    }
    if !plan.quiet {
        note!(
            "pretraining {} on {} texts, {} stream positions, vocabulary {}{}",
            config.cell.name(),
            corpus.texts,
            corpus.positions(),
            corpus.vocab.len(),
            if corpus.spilled() {
                " (token stream in a temporary file)"
            } else {
                ""
            }
        );
    }
    // Where a resumed run had got to: what it trained before is not this process's speed.
    let resumed_at = plan
        .resume
        .as_ref()
        .map(|r| (r.checkpoint.epoch as u64 - 1, r.checkpoint.partial.1));
    let start = Instant::now();
    let stop = install_signal_handlers()?;
    let mut observer = Bar::new(plan.quiet, stop.clone());
    let control = PretrainControl {
        stop: Some(&stop),
        resume: plan.resume.take(),
    };
    let outcome = run_pretraining(&config, &corpus, &mut observer, control)?;
    observer.bar.finish_and_clear();
    let trained = match outcome {
        PretrainOutcome::Finished(trained) => *trained,
        PretrainOutcome::Interrupted(checkpoint) => return save_checkpoint(*checkpoint, &plan),
    };
    let seconds = start.elapsed().as_secs_f64();
    let info = pretrain_info(&plan, &config, &corpus, &trained);
    if let (Some(vectors), false) = (&info.embeddings, plan.quiet) {
        note!(
            "word vectors from {}: {} of the {} vocabulary words ({:.1}% of stream positions)",
            vectors.path.display(),
            vectors.matched,
            corpus.vocab.len() - 2,
            100.0 * vectors.token_coverage
        );
    }
    let file = LanguageModelFile {
        tokenizer: corpus.tokenizer.clone(),
        vocab: corpus.vocab.clone(),
        model: trained.model,
        info,
    };
    model_file::save_language_model(&file, &plan.output)?;
    if let Some(path) = &args.resume {
        // The checkpoint has served. Only this run's own (`BASE.ckpt`) is removed: another
        // file given to --resume was not this command's to delete.
        if files::same_file(path, &checkpoint_path(&plan.output)) {
            let _ = std::fs::remove_file(path);
        }
    }
    let per_epoch = file.info.train_positions;
    let done_before = resumed_at.map_or(0, |(epochs, partial)| epochs * per_epoch + partial);
    let trained_here = (per_epoch * file.info.epochs_run as u64).saturating_sub(done_before);
    let tokens_per_s = trained_here as f64 / seconds.max(1e-9);
    if let Some(dir) = &plan.report {
        let run = PretrainingRun {
            file: &file,
            model_path: &plan.output,
            spilled: corpus.spilled(),
            step_losses: &trained.step_losses,
            train_seconds: seconds,
            tokens_per_s,
            threads,
        };
        write_report(&report::pretraining::render(&run)?, dir, plan.quiet)?;
    }
    summary(
        &args,
        &plan,
        &file,
        &corpus,
        (seconds, tokens_per_s),
        threads,
    )?;
    Ok(0)
}

/// An interrupted run: its checkpoint, with how the run was started, and the command that
/// continues it.
fn save_checkpoint(mut c: PretrainCheckpoint, plan: &PretrainPlan) -> Result<i32> {
    let path = checkpoint_path(&plan.output);
    let absolute = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone());
    c.invocation = Some(PretrainInvocation {
        corpus: plan.corpus.iter().map(absolute).collect(),
        text_column: plan.text_column.clone(),
        output: absolute(&plan.output),
    });
    c.write(&path)?;
    note!(
        "interrupted in epoch {}, after step {}: checkpoint saved to {}\n\
         continue with: rnn-sentiment pretrain --resume {}",
        c.epoch,
        c.step,
        path.display(),
        path.display()
    );
    Ok(EXIT_INTERRUPTED)
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads every corpus file into one stream, text by text.
fn read_corpus(plan: &PretrainPlan) -> Result<Corpus> {
    let tokenizer = Tokenizer::new(plan.config.tokenizer.clone());
    let mut builder = CorpusBuilder::new(tokenizer, plan.memory_tokens);
    for path in &plan.corpus {
        let size = std::fs::metadata(path)?.len();
        if size > limits::MAX_DATA_BYTES {
            bail!(
                "corpus file {} is {size} bytes, more than the limit of {} bytes; split it into several files",
                path.display(),
                limits::MAX_DATA_BYTES
            );
        }
        let spec = RecordSpec {
            format: InputFormat::of_path(path),
            delimiter: None,
            text_column: plan.text_column.clone(),
            keep: Vec::new(),
        };
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot read corpus file {}", path.display()))?;
        // The reader `predict` uses on records: the same formats, limits and messages.
        for record in Records::new(BufReader::with_capacity(1 << 20, file), path, spec)? {
            let record = record?;
            if !record.text.trim().is_empty() {
                builder.add(&record.text)?;
            }
        }
    }
    Ok(builder.finish(plan.config.min_count, plan.config.max_vocab)?)
}

fn pretrain_info(
    plan: &PretrainPlan,
    config: &PretrainConfig,
    corpus: &Corpus,
    trained: &rnn_sentiment::lm::trainer::Pretrained,
) -> PretrainInfo {
    let (train, valid) = corpus.split(config.valid_split);
    use rnn_sentiment::lm::stream::Source;
    PretrainInfo {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        options: Some(config.clone()),
        corpus: plan
            .corpus
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        texts: corpus.texts,
        positions: corpus.positions(),
        train_positions: train.len(),
        valid_positions: valid.len(),
        vocab_coverage: 1.0
            - corpus.counts[UNK_ID as usize] as f64 / corpus.positions().max(1) as f64,
        epochs_run: trained.history.len(),
        best_epoch: trained.best_epoch,
        stopped_early: trained.stopped_early,
        history: trained.history.clone(),
        embeddings: trained.vectors.clone(),
    }
}

/// The summary: one line on stderr, or `--json` on stdout.
fn summary(
    args: &PretrainArgs,
    plan: &PretrainPlan,
    file: &LanguageModelFile,
    corpus: &Corpus,
    (seconds, tokens_per_s): (f64, f64),
    threads: usize,
) -> Result<()> {
    let info = &file.info;
    let perplexity = file.valid_perplexity();
    let dirs = file.model.config.directions() as f64;
    let parameters = file.parameters();
    if args.json {
        let value = json!({
            "model": plan.output,
            "vocab_size": file.vocab.len(),
            "parameters": parameters,
            "texts": corpus.texts,
            "positions": info.positions,
            "train_positions": info.train_positions,
            "valid_positions": info.valid_positions,
            "spilled": corpus.spilled(),
            "epochs_run": info.epochs_run,
            "best_epoch": info.best_epoch,
            "stopped_early": info.stopped_early,
            "valid_perplexity": perplexity,
            "train_seconds": seconds,
            "tokens_per_s": tokens_per_s,
            "directions": dirs,
            "threads": threads,
            "embeddings": info.embeddings,
            "history": info.history,
            "report": plan.report.as_ref().map(|d| d.join("report.html")),
        });
        say!("{value}");
    } else if !plan.quiet {
        note!(
            "saved {} ({} {}, vocabulary {}, {parameters} parameters): best epoch {} of {}, validation perplexity {}; {seconds:.1}s, {tokens_per_s:.0} tokens/s per direction",
            plan.output.display(),
            file.model.config.cell.name(),
            if file.model.config.bidirectional { "bidirectional" } else { "one direction" },
            file.vocab.len(),
            info.best_epoch,
            info.epochs_run,
            perplexity.map_or("n/a".to_string(), |p| format!("{p:.2}")),
        );
    }
    Ok(())
}

/// The progress bar: steps of the epoch, perplexity of the training loss so far, tokens/s.
struct Bar {
    bar: ProgressBar,
    started: Instant,
    quiet: bool,
    /// The epoch the bar shows (a resumed run starts inside one).
    epoch: usize,
    /// The flag the signal handlers set, and, for tests, the step count after which it is set
    /// as if a signal had come (`RNN_SENTIMENT_STOP_AFTER_STEPS`).
    stop: Arc<AtomicBool>,
    stop_after: Option<usize>,
    steps: usize,
}

impl Bar {
    fn new(quiet: bool, stop: Arc<AtomicBool>) -> Self {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(0)
        };
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} {bar:30} {pos}/{len} {msg} ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Self {
            bar,
            started: Instant::now(),
            quiet,
            epoch: 0,
            stop,
            stop_after: std::env::var("RNN_SENTIMENT_STOP_AFTER_STEPS")
                .ok()
                .and_then(|v| v.parse().ok()),
            steps: 0,
        }
    }
}

impl PretrainObserver for Bar {
    fn step(&mut self, p: &StepProgress) {
        self.steps += 1;
        if self.stop_after == Some(self.steps) {
            self.stop.store(true, Ordering::SeqCst);
        }
        if p.epoch != self.epoch {
            self.epoch = p.epoch;
            self.bar.set_length(p.steps as u64);
            self.bar.set_prefix(p.epoch.to_string());
            self.started = Instant::now();
        }
        self.bar.set_position(p.step as u64);
        let rate = p.tokens as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        self.bar
            .set_message(format!("loss {:.3} · {rate:.0} tokens/s", p.loss));
    }

    fn epoch(&mut self, record: &PretrainEpoch) {
        if self.quiet {
            return;
        }
        self.bar.suspend(|| {
            eprintln!(
                "epoch {}: training loss {:.4}, validation perplexity {}",
                record.epoch,
                record.train_loss,
                record
                    .valid_perplexity
                    .map_or("n/a".to_string(), |p| format!("{p:.2}"))
            );
        });
    }
}
