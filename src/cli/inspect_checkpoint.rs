//! `inspect` on a checkpoint: where an interrupted run stopped, how it was started, how its
//! epochs went, and the command that continues it.

use std::io::{self, BufWriter};
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;

use super::inspect::architecture;
use super::output::{emit, flush};
use super::resume::resume_command;
use rnn_sentiment::train::{Checkpoint, Resume};

/// `inspect -m CKPT`.
pub(crate) fn inspect_checkpoint(path: &Path, json: bool) -> Result<i32> {
    let file_bytes = std::fs::metadata(path)
        .with_context(|| format!("cannot read checkpoint {}", path.display()))?
        .len();
    let resume = Checkpoint::read(path)?;
    if json {
        checkpoint_json(&resume, file_bytes)
    } else {
        checkpoint_text(&resume, file_bytes)
    }
}

fn checkpoint_json(resume: &Resume, file_bytes: u64) -> Result<i32> {
    let c = &resume.checkpoint;
    let invocation = c.invocation.as_ref();
    let report = json!({
        "checkpoint": resume.path,
        "file_bytes": file_bytes,
        "format_version": c.version,
        "epoch": c.epoch,
        "batch": c.batch,
        "step": c.step,
        "epochs": c.options.epochs,
        "history": c.history,
        "best_epoch": c.best.as_ref().map(|b| b.1),
        "best_valid_loss": c.best.as_ref().map(|b| b.0),
        "data": invocation.map(|i| &i.data),
        "directory": invocation.map(|i| &i.directory),
        "output": invocation.map(|i| &i.options.output),
        "options": invocation.map(|i| &i.options),
        "resume_command": invocation.map(|i| resume_command(&resume.path, &i.data)),
    });
    say!("{report}");
    Ok(0)
}

fn checkpoint_text(resume: &Resume, file_bytes: u64) -> Result<i32> {
    let c = &resume.checkpoint;
    let mut out = BufWriter::new(io::stdout().lock());
    let mut line = |key: &str, value: String| emit(&mut out, format_args!("{key:<15}{value}"));
    line(
        "checkpoint",
        format!(
            "{} ({file_bytes} bytes, format version {}): an interrupted training run",
            resume.path.display(),
            c.version
        ),
    )?;
    line(
        "stopped",
        format!(
            "in epoch {} of {}, after batch {} (step {} in all)",
            c.epoch, c.options.epochs, c.batch, c.step
        ),
    )?;
    let vocab_size = c.params.first().and_then(|t| t.shape.first()).copied();
    let config = c.options.model_config(vocab_size.unwrap_or(0));
    line("architecture", architecture(&config))?;
    for r in &c.history {
        let valid = match (r.valid_loss, r.valid_accuracy) {
            (Some(l), Some(a)) => format!(", validation loss {l:.4}, accuracy {a:.4}"),
            _ => String::new(),
        };
        line(
            &format!("epoch {}", r.epoch),
            format!(
                "train loss {:.4}, accuracy {:.4}{valid}",
                r.train_loss, r.train_accuracy
            ),
        )?;
    }
    if let Some((loss, epoch, _)) = &c.best {
        line(
            "best so far",
            format!("epoch {epoch}, validation loss {loss:.4}"),
        )?;
    }
    match &c.invocation {
        Some(i) => {
            line(
                "data",
                format!(
                    "{} (started in {})",
                    i.data.display(),
                    i.directory.display()
                ),
            )?;
            line(
                "model file",
                format!(
                    "{}, written when the run finishes",
                    i.options.output.display()
                ),
            )?;
            line("continue with", resume_command(&resume.path, &i.data))?;
        }
        None => line(
            "continue with",
            format!(
                "rnn-sentiment train --resume {} DATA with the run's options (this version-1 \
                 checkpoint does not record them)",
                resume.path.display()
            ),
        )?,
    }
    flush(&mut out)?;
    Ok(0)
}
