//! Pretraining checkpoints: everything an interrupted `pretrain` needs to continue exactly
//! where it stopped (weights, Adam's moments, the epoch and step, the recurrent states carried
//! across chunks, both random streams, the history and best weights, the epoch's partial
//! sums), checked strictly against the run before any of it is used. Resuming gives a model
//! file byte-identical to an uninterrupted run.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::corpus::Corpus;
use super::info::{PretrainEpoch, StepLoss};
use super::model::States;
use super::options::PretrainConfig;
use super::stream::Source;
use crate::checkpointing::{check_tensors, first_difference, write_checkpoint};
use crate::error::{Error, Result};
use crate::model::params::{Params, Tensor};
use crate::model::recurrent::State;
use crate::optim::Optimizer;
use crate::rng::{Rng, RngState};

/// The format tag of a pretraining checkpoint (a classifier's is
/// `rnn-sentiment-checkpoint`).
pub const PRETRAIN_CHECKPOINT_FORMAT: &str = "rnn-sentiment-pretrain-checkpoint";
/// The version this build writes.
pub const PRETRAIN_CHECKPOINT_VERSION: u64 = 1;

/// An interrupted pretraining run.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainCheckpoint {
    pub format: String,
    pub version: u64,
    /// The run's options; a resumed run must have the same.
    pub options: PretrainConfig,
    /// [`corpus_fingerprint`] of the corpus; a resumed run must read the same stream.
    pub corpus_fingerprint: String,
    /// The epoch in progress (1-based) and the steps of it done.
    pub epoch: usize,
    pub step: usize,
    pub params: Vec<Tensor<f32>>,
    pub optimizer: Optimizer<f32>,
    /// The states carried into the next chunk, `[direction][layer]` as `h`, `c`: (B, H) and
    /// (B, H) for the LSTM, (B, 0) otherwise.
    pub states: Vec<Tensor<f32>>,
    pub dropout_rng: RngState,
    pub sample_rng: RngState,
    pub history: Vec<PretrainEpoch>,
    /// The lowest score so far (validation perplexity, or training loss without validation),
    /// its epoch and weights.
    pub best: Option<(f64, usize, Vec<Tensor<f32>>)>,
    /// This epoch's loss sum and stream positions so far.
    pub partial: (f64, u64),
    /// The sampled step losses so far (for `--report`).
    pub step_losses: Vec<StepLoss>,
    /// How the run was started (the command line fills it in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation: Option<PretrainInvocation>,
}

/// How an interrupted `pretrain` was started, so that `pretrain --resume CKPT` alone
/// continues it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainInvocation {
    /// The corpus files, absolute.
    pub corpus: Vec<PathBuf>,
    pub text_column: String,
    /// The base model it was writing, absolute.
    pub output: PathBuf,
}

/// A pretraining checkpoint and the file it was read from (for messages).
#[derive(Clone, Debug)]
pub struct PretrainResume {
    pub path: PathBuf,
    pub checkpoint: PretrainCheckpoint,
}

/// Where a run stopped inside an epoch and what it had summed: all the loop needs besides
/// the weights, the optimizer and the random streams.
#[derive(Clone, Debug)]
pub struct EpochStart {
    /// Steps of the epoch done.
    pub step: usize,
    pub states: States<f32>,
    /// Loss sum and positions of the steps done.
    pub total: f64,
    pub tokens: u64,
}

/// A 64-bit FNV-1a fingerprint of a corpus as the model sees it: its vocabulary and every id
/// of its stream. Reads the whole stream once.
pub fn corpus_fingerprint(corpus: &Corpus) -> Result<String> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(&corpus.texts.to_le_bytes());
    for token in corpus.vocab.tokens() {
        // 0xff never occurs in UTF-8: it ends the token.
        eat(token.as_bytes());
        eat(&[0xff]);
    }
    let (all, _) = corpus.split(0.0);
    const BLOCK: u64 = 1 << 16;
    let mut start = 0;
    while start < all.len() {
        let len = BLOCK.min(all.len() - start);
        for id in all.read(start, len as usize)? {
            eat(&id.to_le_bytes());
        }
        start += len;
    }
    Ok(format!("fnv1a64:{hash:016x}"))
}

/// States as tensors, `[direction][layer]`, `h` then `c`.
pub fn states_to_tensors(states: &States<f32>) -> Vec<Tensor<f32>> {
    let tensor = |a: &ndarray::Array2<f32>| Tensor {
        shape: a.shape().to_vec(),
        data: a.iter().copied().collect(),
    };
    states
        .iter()
        .flatten()
        .flat_map(|st| [tensor(&st.h), tensor(&st.c)])
        .collect()
}

/// [`states_to_tensors`] undone, checked against `like` (the zero states of the run).
fn states_from_tensors(tensors: &[Tensor<f32>], like: &States<f32>) -> Result<States<f32>, String> {
    let expected = states_to_tensors(like);
    check_tensors(
        "the carried states",
        tensors,
        &expected.iter().collect::<Vec<_>>(),
    )?;
    let mut it = tensors.iter();
    let mut array = |shape: (usize, usize)| {
        let t = it.next().expect("checked count");
        ndarray::Array2::from_shape_vec(shape, t.data.clone()).expect("checked shape")
    };
    Ok(like
        .iter()
        .map(|d| {
            d.iter()
                .map(|st| State {
                    h: array(st.h.dim()),
                    c: array(st.c.dim()),
                })
                .collect()
        })
        .collect())
}

impl PretrainCheckpoint {
    /// Reads a checkpoint file; its contents are checked when pretraining resumes from it.
    pub fn read(path: &Path) -> Result<PretrainResume> {
        let bytes =
            crate::files::json::read_file(path, crate::limits::MAX_CHECKPOINT_BYTES, "checkpoint")?;
        let checkpoint = serde_json::from_slice(&bytes).map_err(|e| Error::Checkpoint {
            path: path.to_path_buf(),
            message: format!(
                "not a pretraining checkpoint ({e}); --resume takes the BASE.ckpt that an \
                 interrupted `pretrain -o BASE` wrote (Ctrl-C or SIGTERM)"
            ),
        })?;
        Ok(PretrainResume {
            path: path.to_path_buf(),
            checkpoint,
        })
    }

    /// Writes the checkpoint to `path` atomically, gzip-compressed when the name ends in `.gz`.
    pub fn write(&self, path: &Path) -> Result<()> {
        write_checkpoint(self, path)
    }

    /// Checks the checkpoint against the run it is to continue (its options, corpus, a fresh
    /// model's tensors and optimizer, `steps` per epoch and `zero` states), then returns its
    /// position in the epoch. The message names the first misfit.
    pub fn check(
        &self,
        run: (&PretrainConfig, &Corpus),
        model: &Params<f32>,
        fresh_optimizer: &Optimizer<f32>,
        (steps, zero): (usize, &States<f32>),
    ) -> Result<EpochStart, String> {
        let (config, corpus) = run;
        if self.format != PRETRAIN_CHECKPOINT_FORMAT || self.version != PRETRAIN_CHECKPOINT_VERSION
        {
            return Err(format!(
                "not a {PRETRAIN_CHECKPOINT_FORMAT} file of version {PRETRAIN_CHECKPOINT_VERSION}"
            ));
        }
        if self.options != *config {
            return Err(format!(
                "it was made with other pretraining options ({}); resume with the same corpus \
                 and options",
                first_difference(&self.options, config)
            ));
        }
        let fingerprint = corpus_fingerprint(corpus).map_err(|e| e.to_string())?;
        if self.corpus_fingerprint != fingerprint {
            return Err(
                "it was made from another corpus (its vocabulary or token stream \
                        differs); resume with the same corpus files and options"
                    .into(),
            );
        }
        check_tensors("the weights", &self.params, &model.tensors())?;
        if let Some((score, epoch, best)) = &self.best {
            check_tensors("the best weights", best, &model.tensors())?;
            if !score.is_finite() || *epoch == 0 || *epoch > self.history.len() {
                return Err(format!(
                    "the best epoch {epoch} is not among the {} epochs done",
                    self.history.len()
                ));
            }
        }
        let (total, tokens) = self.partial;
        let fits = (1..=config.epochs).contains(&self.epoch)
            && (1..=steps).contains(&self.step)
            && self.history.len() == self.epoch - 1
            && total.is_finite()
            && total >= 0.0
            && tokens <= u64::MAX / 4;
        if !fits {
            return Err(format!(
                "its counters do not fit together (epoch {} of {}, step {} of {steps}, {} \
                 epochs of history); the file was changed or damaged",
                self.epoch,
                config.epochs,
                self.step,
                self.history.len()
            ));
        }
        self.optimizer
            .check_like(fresh_optimizer, (self.epoch - 1) * steps + self.step)?;
        Rng::from_state(&self.dropout_rng)?;
        Rng::from_state(&self.sample_rng)?;
        Ok(EpochStart {
            step: self.step,
            states: states_from_tensors(&self.states, zero)?,
            total,
            tokens,
        })
    }
}
