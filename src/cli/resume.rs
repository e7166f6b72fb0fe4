//! `train --resume`: the interrupted run's recorded data and options, checked against what
//! is given again, and the command that continues a run.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use rnn_sentiment::config::TrainOptions;
use rnn_sentiment::files;
use rnn_sentiment::train::{Invocation, Resume};

use super::train::TrainArgs;

/// The options of a resumed run: the interrupted run's, with `-o`, `--report` and `-q` as
/// given again; any other option `given` again must be the same, or it is named with both
/// values.
pub(crate) fn resumed_options(
    resume: &Resume,
    invocation: &Invocation,
    asked: &TrainOptions,
    given: impl Fn(&str) -> bool,
) -> Result<TrainOptions> {
    invocation
        .options
        .continued(asked, given)
        .map_err(|(key, new, old)| {
            anyhow!(
                "{}: {} differs from the interrupted run's {}; a resumed run continues with \
                 the run's own options: leave it out, or start a new run without --resume",
                resume.path.display(),
                spelled(&key, &new),
                spelled(&key, &old),
            )
        })
}

/// An option as it is written on the command line: `--epochs 5`, `--no-bidirectional`.
fn spelled(key: &str, value: &Value) -> String {
    let flag = key.replace('_', "-");
    match value {
        Value::Bool(true) => format!("--{flag}"),
        Value::Bool(false) => format!("--no-{flag}"),
        Value::Null => format!("no --{flag}"),
        Value::String(s) => format!("--{flag} {}", shell_word(s)),
        other => format!("--{flag} {other}"),
    }
}

/// The interrupted run's paths are as it was given them: relative ones name the same files
/// only from the directory it was started in.
pub(crate) fn check_directory(
    args: &TrainArgs,
    resume: &Resume,
    invocation: &Invocation,
    given: impl Fn(&str) -> bool,
) -> Result<()> {
    let o = &invocation.options;
    let recorded = [
        args.data.is_none().then_some(&invocation.data),
        (!given("output")).then_some(&o.output),
        o.valid.as_ref(),
        o.embeddings.as_ref(),
        o.report.as_ref().filter(|_| !given("report")),
    ];
    let relative = recorded
        .into_iter()
        .flatten()
        .any(|p| p.is_relative() && p != Path::new("-"));
    let here = std::env::current_dir().context("cannot read the current directory")?;
    if relative && !files::same_file(&here, &invocation.directory) {
        bail!(
            "{}: the interrupted run was started in {} and its file names are relative to it; \
             resume from there: cd {} && {}",
            resume.path.display(),
            invocation.directory.display(),
            shell_word(&invocation.directory.to_string_lossy()),
            resume_command(&std::path::absolute(&resume.path)?, &invocation.data)
        );
    }
    Ok(())
}

/// The command that continues an interrupted run from its checkpoint, ready to paste.
pub(crate) fn resume_command(checkpoint: &Path, data: &Path) -> String {
    let command = format!(
        "rnn-sentiment train --resume {}",
        shell_word(&checkpoint.to_string_lossy())
    );
    if data == Path::new("-") {
        return format!("{command} - < DATA (the same data on standard input)");
    }
    command
}

/// `word` as one shell word: as it is when it is plainly safe, else in single quotes.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=+,@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}
