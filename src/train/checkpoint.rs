//! Resume checkpoints: everything needed to continue an interrupted run exactly where it
//! stopped, written as JSON (gzip-compressed beside a `.gz` model) when training is
//! interrupted and checked strictly against the run before any of it is used.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checkpointing::{check_tensors, first_difference, write_checkpoint};
use crate::config::{TrainConfig, TrainOptions};
use crate::error::{Error, Result};
use crate::model::params::{Params, Tensor};
use crate::optim::Optimizer;
use crate::rng::{Rng, RngState};
use crate::training_info::EpochRecord;

/// The format tag of a checkpoint file.
pub const CHECKPOINT_FORMAT: &str = "rnn-sentiment-checkpoint";

/// The version this build writes: 2 records the [`Invocation`]. Version 1 files (without it)
/// are still read; resuming one needs the data and options given again.
pub const CHECKPOINT_VERSION: u64 = 2;

/// Everything needed to continue an interrupted run exactly where it stopped: resuming gives a
/// model file byte-identical to an uninterrupted run with the same data, options and seed.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub format: String,
    pub version: u64,
    /// The run's options; a resumed run must be given the same ones.
    pub options: TrainConfig,
    /// Fingerprints of the training and validation rows; a resumed run must read the same.
    pub data_fingerprint: String,
    pub valid_fingerprint: String,
    /// The epoch in progress (1-based) and the batches of it already done.
    pub epoch: usize,
    pub batch: usize,
    /// Training steps done in all (the learning-rate schedule and dropout streams follow it).
    pub step: usize,
    /// The batch-order generator as it was before this epoch's shuffle.
    pub epoch_rng: RngState,
    pub params: Vec<Tensor<f32>>,
    pub optimizer: Optimizer<f32>,
    pub history: Vec<EpochRecord>,
    /// Lowest validation loss so far, its epoch and weights.
    pub best: Option<(f64, usize, Vec<Tensor<f32>>)>,
    pub epochs_without_gain: usize,
    /// This epoch's running loss sum, correct count, rows and tokens.
    pub partial: (f64, usize, usize, usize),
    pub tokens_trained: u64,
    /// How the run was started (version 2; the command line fills it in, the library does
    /// not know it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation: Option<Invocation>,
}

/// How an interrupted run was started, so that `train --resume CKPT` alone continues it: the
/// data path and every option, with paths as they were given, relative to `directory`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invocation {
    /// The training data (`-`: standard input).
    pub data: PathBuf,
    /// The working directory the run was started in (absolute).
    pub directory: PathBuf,
    /// Every option of the run, merged from its command line, config file and defaults.
    pub options: TrainOptions,
}

/// A checkpoint to continue from, and the file it was read from (for messages).
#[derive(Clone, Debug)]
pub struct Resume {
    pub path: std::path::PathBuf,
    pub checkpoint: Checkpoint,
}

/// Checks everything in a checkpoint against the run it is to continue, before any of it is
/// used: the options and data, every tensor and optimizer state against the model, and the
/// counters against each other (`batches` is the number of batches in an epoch).
pub(super) fn check_checkpoint(
    c: &Checkpoint,
    run: (&TrainConfig, &str, &str),
    model: &Params<f32>,
    fresh_optimizer: &Optimizer<f32>,
    batches: usize,
) -> Result<(), String> {
    let (config, data_fingerprint, valid_fingerprint) = run;
    if c.format != CHECKPOINT_FORMAT || !(1..=CHECKPOINT_VERSION).contains(&c.version) {
        return Err(format!(
            "not a {CHECKPOINT_FORMAT} file of version 1 to {CHECKPOINT_VERSION}"
        ));
    }
    if c.options != *config {
        return Err(format!(
            "it was made with other training options ({}); resume with the same data and \
             options",
            first_difference(&c.options, config)
        ));
    }
    if c.data_fingerprint != data_fingerprint || c.valid_fingerprint != valid_fingerprint {
        return Err(
            "it was made with other training or validation data; resume with the same data and \
             options"
                .into(),
        );
    }
    check_tensors("the weights", &c.params, &model.tensors())?;
    if let Some((loss, epoch, best)) = &c.best {
        check_tensors("the best weights", best, &model.tensors())?;
        if !loss.is_finite() || *epoch == 0 || *epoch > c.history.len() {
            return Err(format!(
                "the best epoch {epoch} (loss {loss}) is not among the {} epochs done",
                c.history.len()
            ));
        }
    }
    let (loss_sum, correct, seen, tokens) = c.partial;
    let counters_fit = (1..=config.epochs).contains(&c.epoch)
        && (1..=batches).contains(&c.batch)
        && Some(c.step) == (c.epoch - 1).checked_mul(batches).map(|s| s + c.batch)
        && c.history.len() == c.epoch - 1
        && c.epochs_without_gain <= c.history.len()
        && correct <= seen
        && seen <= c.batch.saturating_mul(config.batch_size)
        && loss_sum.is_finite()
        && loss_sum >= 0.0
        // Token counts only grow by a batch's tokens: far from overflowing in any real run.
        && tokens <= usize::MAX / 4
        && c.tokens_trained <= u64::MAX / 4;
    if !counters_fit {
        return Err(format!(
            "its counters do not fit together (epoch {} of {}, batch {} of {batches}, step {}, \
             {} epochs of history, {correct} correct of {seen} rows); the file was changed or \
             damaged",
            c.epoch,
            config.epochs,
            c.batch,
            c.step,
            c.history.len()
        ));
    }
    c.optimizer.check_like(fresh_optimizer, c.step)?;
    Rng::from_state(&c.epoch_rng)?;
    Ok(())
}

impl Checkpoint {
    /// Reads a checkpoint file (up to [`crate::limits::MAX_CHECKPOINT_BYTES`]); its contents
    /// are checked against the run when training resumes from it.
    pub fn read(path: &Path) -> Result<Resume> {
        let bytes =
            crate::files::json::read_file(path, crate::limits::MAX_CHECKPOINT_BYTES, "checkpoint")?;
        let checkpoint = serde_json::from_slice(&bytes).map_err(|e| Error::Checkpoint {
            path: path.to_path_buf(),
            message: match serde_json::from_slice::<FormatTag>(&bytes) {
                Ok(FormatTag { format: Some(f) }) if f == crate::model_file::FORMAT => {
                    "it is a model file, not a training checkpoint; --resume takes the \
                     MODEL.ckpt that an interrupted `train -o MODEL` wrote (Ctrl-C or SIGTERM), \
                     and a finished model needs no resuming"
                        .to_string()
                }
                _ => format!("not a training checkpoint ({e})"),
            },
        })?;
        Ok(Resume {
            path: path.to_path_buf(),
            checkpoint,
        })
    }

    /// Writes the checkpoint to `path` atomically, gzip-compressed when the name ends in `.gz`.
    pub fn write(&self, path: &Path) -> Result<()> {
        write_checkpoint(self, path)
    }
}

/// Only a JSON file's `"format"`, to say what a file given to `--resume` is instead.
#[derive(Deserialize)]
struct FormatTag {
    format: Option<String>,
}
