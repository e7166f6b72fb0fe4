//! `train`: options -> checked files -> data -> `train::fit` -> model file, report, summary.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{ArgMatches, Args};
use serde_json::json;

use rnn_sentiment::config::{ConfigFile, TrainConfig, TrainOptions};
use rnn_sentiment::data::{self, CsvOptions, Example, LabelSet};
use rnn_sentiment::files::{self, Use};
use rnn_sentiment::model_file;
use rnn_sentiment::report;
use rnn_sentiment::report::training::TrainingRun;
use rnn_sentiment::rng::Rng;
use rnn_sentiment::train::{self, checkpoint_path, Invocation, Resume};
use rnn_sentiment::training_info::InputColumns;

use super::args::{report_paths, thread_count};
use super::init::{load_base, BaseModel};
use super::output::write_report;
use super::progress::Progress;
use super::resume::{check_directory, resume_command, resumed_options};
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
  train_positive_rate fraction of training rows labelled positive (K classes: of class 1)
  classes             K-class runs only: [{name, train_rows}] in class order
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
    /// Training data: CSV (or TSV) with a header row; `-` reads standard input. With --resume:
    /// the interrupted run's data unless given.
    #[arg(required_unless_present = "resume")]
    pub(crate) data: Option<PathBuf>,
    /// TOML file of training options (see config.example.toml); command-line options win.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) options: TrainOptions,
    /// Continue an interrupted run from its checkpoint (MODEL.ckpt, written on Ctrl-C or
    /// SIGTERM; NAME.ckpt.gz, compressed, for a model NAME.gz) with the run's own data and
    /// options: `train --resume MODEL.ckpt` alone. Options given again must be the same, but
    /// for -o, --report and -q. The result is byte-identical to an uninterrupted run.
    #[arg(long)]
    pub(crate) resume: Option<PathBuf>,
    /// Threads for training (0: one per core). The model file is the same for any value.
    #[arg(long, default_value_t = 0)]
    pub(crate) threads: usize,
    /// Print the final report as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Merged training options: command line > config file > defaults; or, resuming, the
/// interrupted run's.
pub(crate) struct TrainPlan {
    pub(crate) data: PathBuf,
    /// Every option, as a checkpoint records them.
    pub(crate) options: TrainOptions,
    pub(crate) config: TrainConfig,
    pub(crate) csv: CsvOptions,
    pub(crate) valid: Option<PathBuf>,
    pub(crate) output: PathBuf,
    pub(crate) report: Option<PathBuf>,
    pub(crate) quiet: bool,
    /// The base model of `--init`.
    pub(crate) base: Option<BaseModel>,
}

pub(crate) fn plan_training(
    args: &TrainArgs,
    m: &ArgMatches,
    resume: Option<&Resume>,
) -> Result<TrainPlan> {
    let file = match &args.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    let typed = |key: &str| TrainOptions::typed(m, key);
    let given = |key: &str| typed(key) || file.sets(key);
    let mut options = args.options.merge(&file, typed)?;
    let recorded = resume.and_then(|r| Some((r, r.checkpoint.invocation.as_ref()?)));
    let data =
        match (recorded, &args.data) {
            (Some((resume, invocation)), _) => {
                options = resumed_options(resume, invocation, &options, given)?;
                check_directory(args, resume, invocation, given)?;
                args.data.clone().unwrap_or_else(|| invocation.data.clone())
            }
            (None, Some(data)) => {
                // With pretrained vectors and no size asked for, the embedding takes their size.
                if let Some(path) = &options.embeddings {
                    if !given("embed_dim") && options.init.is_none() {
                        options.embed_dim = rnn_sentiment::embeddings::peek_dim(path)?;
                    }
                }
                data.clone()
            }
            (None, None) => bail!(
            "{}: this checkpoint was written by an older version and does not record the run's \
             data and options; give the data and the same options again",
            resume.map_or(Path::new("?"), |r| r.path.as_path()).display()
        ),
        };
    // The base decides the architecture (a resumed run's options already agree with it).
    let base = match options.init.clone() {
        Some(path) => {
            let base = load_base(&path)?;
            options = base.decide(&options, &path, given)?;
            if let Some(vectors) = &options.embeddings {
                base.check_vectors(vectors, &path)?;
            }
            Some(base)
        }
        None => {
            // A config file may list the fine-tuning keys (config.example.toml does); they
            // apply only with a base. Asked for on the command line, they are a mistake.
            refuse_without_init(&options, typed)?;
            // The fine-tuning options do not reach runs without a base (whose files then stay
            // as they were).
            options.unfreeze_epochs = 0;
            options.init_lr_scale = 1.0;
            options.extend_vocab = false;
            None
        }
    };
    Ok(TrainPlan {
        base,
        data,
        config: options.to_config()?,
        csv: CsvOptions {
            text_column: options.text_column.clone(),
            label_column: options.label_column.clone(),
            delimiter: options.delimiter.map(|d| d.0),
        },
        valid: options.valid.clone(),
        output: options.output.clone(),
        report: options.report.clone(),
        quiet: options.quiet,
        options,
    })
}

/// The options that only mean something with `--init`, refused without it.
fn refuse_without_init(options: &TrainOptions, typed: impl Fn(&str) -> bool) -> Result<()> {
    let asked = [
        (
            "--extend-vocab",
            typed("extend_vocab") && options.extend_vocab,
        ),
        (
            "--unfreeze-epochs",
            typed("unfreeze_epochs") && options.unfreeze_epochs > 0,
        ),
        (
            "--init-lr-scale",
            typed("init_lr_scale") && options.init_lr_scale != 1.0,
        ),
    ];
    if let Some((option, _)) = asked.iter().find(|(_, on)| *on) {
        bail!(
            "{option} is for fine-tuning a base model and needs --init BASE.json (a language \
             model from `pretrain`, or a classifier); add --init, or leave {option} out to \
             train from scratch"
        );
    }
    Ok(())
}

pub(crate) fn class_counts(examples: &[Example]) -> (usize, usize) {
    let pos = examples.iter().filter(|e| e.is_positive()).count();
    (pos, examples.len() - pos)
}

/// Checks every file `train` reads and writes before any work: no output may be an input or
/// another output (by identity, links followed), and every output must be replaceable.
pub(crate) fn check_train_files(args: &TrainArgs, plan: &TrainPlan) -> Result<()> {
    let checkpoint = checkpoint_path(&plan.output);
    let mut uses = vec![Use::input("data file", &plan.data)];
    uses.extend(
        plan.valid
            .as_deref()
            .map(|p| Use::input("validation file", p)),
    );
    uses.extend(args.config.as_deref().map(|p| Use::input("config file", p)));
    uses.extend(
        plan.config
            .init
            .as_deref()
            .map(|p| Use::input("base model", p)),
    );
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
/// data; and the labels' classes, decided from the whole training file (binary words, or K
/// named classes; see [`data::decide_labels`]). At least two classes must be left in the
/// training rows.
fn read_splits(plan: &TrainPlan) -> Result<(Vec<Example>, Vec<Example>, LabelSet)> {
    let rows = data::read_rows(&plan.data, &plan.csv)?;
    let labels = data::decide_labels(&rows, &plan.options.classes, &plan.data)?;
    let whose = if plan.options.classes.is_empty() {
        "the classes of the training data"
    } else {
        "--classes"
    };
    let examples = data::assign_labels(rows, &labels, &plan.data, whose)?;
    let file_counts = data::class_counts(&examples, labels.count());
    let (train_set, valid_set) = match &plan.valid {
        Some(path) => {
            let rows = data::read_rows(path, &plan.csv)?;
            let whose = if plan.options.classes.is_empty() {
                format!("the classes of the training data {}", plan.data.display())
            } else {
                "--classes".to_string()
            };
            (examples, data::assign_labels(rows, &labels, path, &whose)?)
        }
        None => data::split_validation(
            examples,
            plan.config.valid_split,
            &mut Rng::stream(plan.config.seed, train::streams::SPLIT),
        ),
    };
    let counts = data::class_counts(&train_set, labels.count());
    let present = counts.iter().filter(|&&c| c > 0).count();
    if present < 2 {
        let only = counts.iter().position(|&c| c > 0).unwrap_or(0);
        let class = match &labels {
            LabelSet::Binary => labels.name(only).to_string(),
            LabelSet::Classes(_) => format!("of class {:?}", labels.name(only)),
        };
        let what = match &labels {
            LabelSet::Binary => "both classes",
            LabelSet::Classes(_) => "at least two classes",
        };
        if file_counts.iter().filter(|&&c| c > 0).count() >= 2 {
            bail!(
                "{}: after holding out {} of each class for validation (--valid-split {}), the \
                 {} training rows are all {class}; lower --valid-split or give --valid FILE",
                plan.data.display(),
                plan.config.valid_split,
                plan.config.valid_split,
                train_set.len()
            );
        }
        bail!(
            "{}: the training rows are all {class}; a classifier needs examples of {what}",
            plan.data.display()
        );
    }
    Ok((train_set, valid_set, labels))
}

/// The class counts of a K-class run's training rows, and a warning for each class with fewer
/// than 1% of them (on stderr).
fn note_class_counts(labels: &LabelSet, train_set: &[Example]) {
    let counts = data::class_counts(train_set, labels.count());
    let rows = train_set.len().max(1) as f64;
    let share = |c: usize| 100.0 * c as f64 / rows;
    let listed: Vec<String> = counts
        .iter()
        .enumerate()
        .map(|(k, &c)| format!("{} {c} ({:.1}%)", labels.name(k), share(c)))
        .collect();
    note!("classes ({}): {}", counts.len(), listed.join(", "));
    let rare: Vec<String> = counts
        .iter()
        .enumerate()
        .filter(|&(_, &c)| share(c) < 1.0)
        .map(|(k, &c)| format!("{:?} ({c} rows)", labels.name(k)))
        .collect();
    if !rare.is_empty() {
        note!(
            "warning: {} of the {} training rows each: {}; the model will rarely predict them \
             (more examples, or --class-weight, help)",
            if rare.len() == 1 {
                "a class has fewer than 1%"
            } else {
                "classes have fewer than 1%"
            },
            train_set.len(),
            rare.join(", ")
        );
    }
}

pub(crate) fn train(args: TrainArgs, matches: &ArgMatches) -> Result<i32> {
    let started = Instant::now();
    let resume = match &args.resume {
        Some(path) => Some(train::Checkpoint::read(path)?),
        None => None,
    };
    let mut plan = plan_training(&args, matches, resume.as_ref())?;
    let data_hint =
        "train reads a CSV/TSV file with text and label columns (-o names the model it writes)";
    for input in std::iter::once(&plan.data).chain(&plan.valid) {
        reject_model_as_data(input, data_hint)?;
    }
    check_train_files(&args, &plan)?;
    let threads = thread_count(args.threads)?;
    let (train_set, valid_set, labels) = read_splits(&plan)?;
    plan.config = plan.options.with_classes(plan.config, labels.classes())?;
    if !plan.quiet {
        match &labels {
            LabelSet::Binary => {
                let (pos, _) = class_counts(&train_set);
                note!(
                    "training {} on {} rows ({:.1}% positive), validating on {} rows",
                    plan.config.cell.name(),
                    train_set.len(),
                    100.0 * pos as f64 / train_set.len() as f64,
                    valid_set.len()
                );
            }
            LabelSet::Classes(_) => {
                note!(
                    "training {} on {} rows, validating on {} rows",
                    plan.config.cell.name(),
                    train_set.len(),
                    valid_set.len()
                );
                note_class_counts(&labels, &train_set);
            }
        }
    }
    if !plan.quiet
        && plan.config.init.is_some()
        && plan.config.embeddings.is_some()
        && !plan.config.extend_vocab
    {
        note!(
            "warning: with --init the base's rows win over --embeddings; the vectors only fill \
             the rows --extend-vocab adds for words the base lacks, so without it they are \
             not used"
        );
    }
    let mut progress = Progress::new(plan.quiet);
    let fit_start = Instant::now();
    let stop = install_signal_handlers()?;
    let control = train::Control {
        stop: Some(&stop),
        resume,
        init: plan.base.as_ref().map(|b| &b.init),
    };
    let outcome = train::fit(
        &plan.config,
        &train_set,
        &valid_set,
        threads,
        &mut progress,
        control,
    )?;
    let mut trained = match outcome {
        train::Outcome::Finished(trained) => trained,
        train::Outcome::Interrupted(c) => {
            progress.clear();
            return save_checkpoint(*c, &plan);
        }
    };
    let train_seconds = fit_start.elapsed().as_secs_f64();
    trained.model.training.input = Some(InputColumns {
        text_column: plan.options.text_column.clone(),
        label_column: plan.options.label_column.clone(),
        delimiter: plan.options.delimiter,
    });
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
            data_path: &plan.data,
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

/// An interrupted run: its checkpoint, with how the run was started, and the command that
/// continues it.
fn save_checkpoint(mut c: train::Checkpoint, plan: &TrainPlan) -> Result<i32> {
    let path = checkpoint_path(&plan.output);
    c.invocation = Some(Invocation {
        data: plan.data.clone(),
        directory: std::env::current_dir().context("cannot read the current directory")?,
        options: plan.options.clone(),
    });
    c.write(&path)?;
    note!(
        "interrupted in epoch {}, after batch {}: checkpoint saved to {}\n\
         continue with: {}",
        c.epoch,
        c.batch,
        path.display(),
        resume_command(&path, &plan.data)
    );
    Ok(EXIT_INTERRUPTED)
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
        let mut report = json!({
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
        if !config.is_binary() {
            report["classes"] = config
                .classes
                .iter()
                .zip(&info.train_class_counts)
                .map(|(name, rows)| json!({"name": name, "train_rows": rows}))
                .collect();
        }
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
