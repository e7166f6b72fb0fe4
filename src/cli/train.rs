//! `train`: options -> checked files -> data -> `train::fit` -> model file, report, summary.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args};
use serde_json::json;

use rnn_sentiment::config::{ConfigFile, TrainConfig, TrainOptions};
use rnn_sentiment::data::{self, CsvOptions, Example};
use rnn_sentiment::files::{self, Use};
use rnn_sentiment::model_file;
use rnn_sentiment::report;
use rnn_sentiment::report::training::TrainingRun;
use rnn_sentiment::rng::Rng;
use rnn_sentiment::train::{self, checkpoint_path};

use super::args::{report_paths, thread_count};
use super::output::write_report;
use super::progress::Progress;
use super::sniff::reject_model_as_data;
use super::EXIT_INTERRUPTED;

pub(crate) const TRAIN_JSON: &str = "\
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
  simd                vector instructions used: \"avx512\", \"avx2\" or \"baseline\" (the widest
                      the CPU has, capped by RNN_SENTIMENT_SIMD; the model is the same at each)
  report              path of report.html with --report, else null
  history             per epoch: {epoch, train_loss, train_accuracy, valid_loss,
                      valid_accuracy, lr}";

#[derive(Args)]
pub(crate) struct TrainArgs {
    /// Training data: CSV (or TSV) with a header row.
    pub(crate) data: PathBuf,
    /// TOML file of training options (see config.example.toml); command-line options win.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) options: TrainOptions,
    /// Continue an interrupted run from its checkpoint (written as MODEL.ckpt on Ctrl-C or
    /// SIGTERM); give the same data and options. The result is byte-identical to an
    /// uninterrupted run.
    #[arg(long)]
    pub(crate) resume: Option<PathBuf>,
    /// Threads for training (0: one per core). The model file is the same for any value.
    #[arg(long, default_value_t = 0)]
    pub(crate) threads: usize,
    /// Print the final report as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Merged training options: command line > config file > defaults.
pub(crate) struct TrainPlan {
    pub(crate) config: TrainConfig,
    pub(crate) csv: CsvOptions,
    pub(crate) valid: Option<PathBuf>,
    pub(crate) output: PathBuf,
    pub(crate) report: Option<PathBuf>,
    pub(crate) quiet: bool,
}

pub(crate) fn plan_training(args: &TrainArgs, m: &ArgMatches) -> Result<TrainPlan> {
    let file = match &args.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    let typed = |id: &str| m.value_source(id) == Some(ValueSource::CommandLine);
    let mut options = args.options.merge(&file, typed)?;
    // With pretrained vectors and no size asked for, the embedding takes the vectors' size.
    if let Some(path) = &options.embeddings {
        if !typed("embed_dim") && !file.sets("embed_dim") {
            options.embed_dim = rnn_sentiment::embeddings::peek_dim(path)?;
        }
    }
    Ok(TrainPlan {
        config: options.to_config()?,
        csv: CsvOptions {
            text_column: options.text_column,
            label_column: options.label_column,
            delimiter: options.delimiter.map(|d| d.0),
        },
        valid: options.valid,
        output: options.output,
        report: options.report,
        quiet: options.quiet,
    })
}

pub(crate) fn class_counts(examples: &[Example]) -> (usize, usize) {
    let pos = examples.iter().filter(|e| e.label).count();
    (pos, examples.len() - pos)
}

/// Checks every file `train` reads and writes before any work: no output may be an input or
/// another output (by identity, links followed), and every output must be replaceable.
pub(crate) fn check_train_files(args: &TrainArgs, plan: &TrainPlan) -> Result<()> {
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
    let report_files = report_paths(plan.report.as_deref(), &report::TRAINING_FILES);
    uses.extend(report_files.iter().map(|p| Use::output("report file", p)));
    // The report directory is made: it may not be the name of another output either.
    uses.extend(
        plan.report
            .as_deref()
            .map(|d| Use::output("report directory", d)),
    );
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

/// Ctrl-C or SIGTERM: the returned flag asks training to finish the batch, write a checkpoint
/// and exit 130. A second signal stops at once, saying that no checkpoint was written.
pub(crate) fn install_signal_handlers() -> Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
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

/// The training and validation rows: `--valid`'s file, or a stratified, seeded split of the
/// data. Both classes must be left in the training rows.
fn read_splits(args: &TrainArgs, plan: &TrainPlan) -> Result<(Vec<Example>, Vec<Example>)> {
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
    Ok((train_set, valid_set))
}

pub(crate) fn train(args: TrainArgs, matches: &ArgMatches) -> Result<i32> {
    let started = Instant::now();
    let plan = plan_training(&args, matches)?;
    let data_hint =
        "train reads a CSV/TSV file with text and label columns (-o names the model it writes)";
    for input in std::iter::once(&args.data).chain(&plan.valid) {
        reject_model_as_data(input, data_hint)?;
    }
    check_train_files(&args, &plan)?;
    let threads = thread_count(args.threads)?;
    let (train_set, valid_set) = read_splits(&args, &plan)?;
    let (pos, _) = class_counts(&train_set);
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
        Some(path) => Some(train::Checkpoint::read(path)?),
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
            c.write(&path)?;
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
        if files::same_file(path, &checkpoint_path(&plan.output)) {
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

    let seconds = (train_seconds, started.elapsed().as_secs_f64());
    print_summary(&args, &plan, &trained, seconds, threads)
}

/// The run's summary: pretrained-vector coverage on stderr, then one line (or, with
/// `--json`, one object) on stdout.
fn print_summary(
    args: &TrainArgs,
    plan: &TrainPlan,
    trained: &train::Trained,
    (train_seconds, wall_seconds): (f64, f64),
    threads: usize,
) -> Result<i32> {
    let info = &trained.model.training;
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
            "wall_seconds": wall_seconds,
            "tokens_per_s": tokens_per_s,
            "threads": threads,
            "simd": rnn_sentiment::kernels::simd::level().name(),
            "report": plan.report.as_ref().map(|d| d.join("report.html")),
            "history": info.history,
        });
        say!("{report}");
    } else if !plan.quiet {
        // Quiet means nothing on stdout or stderr but errors (and --json's object).
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
