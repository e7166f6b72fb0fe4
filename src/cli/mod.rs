//! Command-line interface: clap types -> validated library configs -> results on stdout.
//! This is the only part of the crate that prints: results on stdout, progress and errors on
//! stderr. One file per command; `args` holds the arguments commands share, `output` the
//! checked writes, `sniff` the mix-up checks on input files, `progress` the training bar,
//! `resume` what a resumed run takes from its checkpoint.

use std::io::{self, IsTerminal};

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[macro_use]
mod output;
mod args;
mod docs;
mod eval;
mod eval_classes;
mod init;
mod inspect;
mod inspect_base;
mod inspect_checkpoint;
mod predict;
mod predict_classes;
mod predict_records;
mod prediction_json;
mod pretrain;
mod progress;
mod record_writer;
mod resume;
mod serve;
mod sniff;
mod tokenize;
mod train;

use docs::{completions, man, CompletionsArgs, ManArgs, COMPLETIONS_HELP};
use eval::{eval, EvalArgs, EVAL_JSON};
use inspect::{inspect, InspectArgs, INSPECT_JSON};
use output::write_stdout;
use predict::{predict, PredictArgs, PREDICT_JSON};
use predict_records::PREDICT_RECORDS_HELP;
use pretrain::{pretrain, PretrainArgs, PRETRAIN_JSON};
use serve::{serve, ServeArgs, SERVE_HELP};
use tokenize::{tokenize, TokenizeArgs, TOKENIZE_JSON};
use train::{train, TrainArgs, TRAIN_JSON};

/// Exit code when `eval --min-accuracy` is not met.
pub(crate) const EXIT_GATE_FAILED: i32 = 1;
/// Exit code when training was interrupted by a signal (and left a checkpoint), as shells use.
pub(crate) const EXIT_INTERRUPTED: i32 = 130;

#[derive(Parser)]
#[command(
    name = "rnn-sentiment",
    version,
    about = "Train, evaluate and serve sentiment classifiers (two classes or K named ones) built from recurrent networks (RNN, LSTM, GRU).",
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
    /// Pretrain a language model on unlabeled text (one text per line, or CSV/TSV); writes a
    /// base model for `train --init`.
    #[command(after_long_help = PRETRAIN_JSON)]
    Pretrain(Box<PretrainArgs>),
    /// Evaluate a model on labelled data: accuracy, precision, recall, F1, ROC AUC, log loss.
    #[command(after_long_help = EVAL_JSON)]
    Eval(EvalArgs),
    /// Predict the sentiment of texts: arguments, lines of a --file or stdin, or the text
    /// column of CSV/TSV/JSON lines records (other columns carried through with --keep).
    #[command(
        after_long_help = format!("{PREDICT_JSON}\n\n{PREDICT_RECORDS_HELP}"),
        mut_arg("file", |a| a.help(
            "Read texts from this file: one per line, or records if it is named *.csv, *.tsv, \
             *.jsonl or *.ndjson (see --input-format)"
        ))
    )]
    Predict(PredictArgs),
    /// Serve the model over HTTP: JSON predictions (micro-batched), model facts, health,
    /// readiness and Prometheus metrics; reload on SIGHUP, graceful shutdown on SIGTERM.
    #[command(after_long_help = SERVE_HELP)]
    Serve(ServeArgs),
    /// Show the tokens and ids the model sees for each text (to debug the text pipeline).
    #[command(after_long_help = TOKENIZE_JSON)]
    Tokenize(TokenizeArgs),
    /// Show what a model file holds: architecture, parameter count, vocabulary, tokenizer,
    /// training data, how training went, and the version that wrote it. Given a checkpoint:
    /// where the interrupted run stopped and the command that continues it.
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

/// Parses the command line and runs the command; returns the exit code.
pub fn run() -> Result<i32> {
    let command = Cli::command();
    let words: Vec<_> = std::env::args_os().collect();
    check_single_dash_words(&command, &words)?;
    check_switch_values(&command, &words)?;
    let matches = match command.try_get_matches() {
        Ok(matches) => matches,
        Err(e) => return clap_exit(&e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return clap_exit(&e),
    };
    // A bad RNN_SENTIMENT_SIMD stops every command before it computes anything.
    rnn_sentiment::kernels::simd::configured()?;
    match cli.command {
        Command::Train(args) => {
            let args = *args;
            let sub = matches
                .subcommand_matches("train")
                .expect("train matches exist for the train command");
            train(args, sub)
        }
        Command::Pretrain(args) => pretrain(*args),
        Command::Eval(args) => eval(args),
        Command::Predict(args) => predict(args),
        Command::Serve(args) => serve(args),
        Command::Tokenize(args) => tokenize(args),
        Command::Inspect(args) => inspect(args),
        Command::Completions(args) => completions(args),
        Command::Man(args) => man(args),
    }
}

/// `-model posneg.json` (one dash) would parse as `-m odel`: a single-dash word that is the
/// name of a long option is refused with the spelling meant.
fn check_single_dash_words(command: &clap::Command, args: &[std::ffi::OsString]) -> Result<()> {
    let mut longs: Vec<String> = Vec::new();
    for sub in std::iter::once(command).chain(command.get_subcommands()) {
        longs.extend(
            sub.get_arguments()
                .filter_map(|a| a.get_long())
                .map(str::to_string),
        );
    }
    for arg in args.iter().skip(1).filter_map(|a| a.to_str()) {
        if arg == "--" {
            break;
        }
        let Some(word) = arg
            .strip_prefix('-')
            .filter(|w| w.len() > 1 && !w.starts_with('-'))
        else {
            continue;
        };
        let name = word.split('=').next().unwrap_or(word);
        if longs.iter().any(|l| l == name) {
            anyhow::bail!("{arg}: long options take two dashes; did you mean --{word}?");
        }
    }
    Ok(())
}

/// The on/off options are flags (`--bidirectional`, `--no-bidirectional`); before they were,
/// they took a value (`--bidirectional false`). That old spelling would now read `false` as
/// the data file, or turn a switch on that was meant off: it is refused with the new one.
fn check_switch_values(command: &clap::Command, args: &[std::ffi::OsString]) -> Result<()> {
    let mut switches: Vec<String> = Vec::new();
    for sub in std::iter::once(command).chain(command.get_subcommands()) {
        let longs: Vec<&str> = sub.get_arguments().filter_map(|a| a.get_long()).collect();
        switches.extend(
            longs
                .iter()
                .filter(|l| longs.contains(&format!("no-{l}").as_str()))
                .map(|l| l.to_string()),
        );
    }
    let words: Vec<&str> = args.iter().skip(1).map_while(|a| a.to_str()).collect();
    for (i, word) in words.iter().enumerate().take_while(|(_, w)| **w != "--") {
        let (name, attached) = match word.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (*word, None),
        };
        let Some(switch) = name
            .strip_prefix("--")
            .filter(|n| switches.iter().any(|s| s == n))
        else {
            continue;
        };
        let value = attached.or_else(|| words.get(i + 1).copied().filter(|v| is_bool_word(v)));
        if let Some(value) = value {
            anyhow::bail!(
                "--{switch} is a flag and takes no value (got \"{value}\"): write --{switch} to \
                 turn it on, --no-{switch} to turn it off"
            );
        }
    }
    Ok(())
}

/// Words that read as a boolean value.
fn is_bool_word(word: &str) -> bool {
    ["true", "false", "yes", "no", "on", "off", "1", "0"]
        .iter()
        .any(|b| word.eq_ignore_ascii_case(b))
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
