//! Training: builds the vocabulary from the training split, initialises a model, and runs
//! mini-batch epochs with early stopping on validation loss, keeping the best epoch's weights.
//!
//! Deterministic by construction: every random draw comes from [`Rng`] streams derived from
//! the seed (one for initialisation, one for batch order), and no result depends on hash order
//! or timing. Progress is reported through an [`Observer`], never printed.

use crate::config::TrainConfig;
use crate::data::Example;
use crate::error::Result;
use crate::rng::Rng;
use crate::sentiment::SentimentModel;
use crate::training_info::{EpochRecord, PretrainedInfo};

mod checkpoint;
mod early_stopping;
mod embedding;
mod encode;
mod init;
mod shards;
mod trainer;
mod unfreeze;

pub use crate::checkpointing::checkpoint_path;
pub use checkpoint::{Checkpoint, Invocation, Resume, CHECKPOINT_FORMAT, CHECKPOINT_VERSION};

/// Independent random streams of one seed.
pub use init::Init;
pub use unfreeze::{groups_training, unfreezing_groups};

pub mod streams {
    /// Initial weights.
    pub const INIT: u64 = 1;
    /// Order of training batches.
    pub const SHUFFLE: u64 = 2;
    /// The validation split.
    pub const SPLIT: u64 = 3;
    /// Dropout masks (one stream per training step, see [`super::dropout_rng`]).
    pub const DROPOUT: u64 = 4;
}

/// Texts per bucketing window, in batches: windows are sorted by length before they are cut
/// into batches.
const BUCKET_WINDOW: usize = 50;

/// Rows per shard. A batch is cut into shards of this many rows whose gradients are computed
/// independently (in parallel when there are threads) and summed in shard order, so the
/// result is the same for any number of threads.
pub const SHARD_ROWS: usize = 16;

/// Upper bound on shards per batch, used to give every shard of every step its own dropout
/// stream.
pub(crate) const MAX_SHARDS: usize = 1 << 20;

/// The dropout masks of training step (or shard) `step`: a stream of its own, so that any
/// schedule of threads draws the same masks.
pub fn dropout_rng(seed: u64, step: usize) -> Rng {
    Rng::stream(
        seed ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        streams::DROPOUT,
    )
}

/// One epoch's batches (indices into the training set). Rows are shuffled; with `bucket`,
/// each window of `BUCKET_WINDOW` batches is sorted by length (ties keep the shuffled
/// order) before it is cut, and the batches are then shuffled, so a batch holds texts of
/// similar length (less wasted work on ragged steps) while every epoch still sees a new mix.
pub fn epoch_batches(
    lengths: &[usize],
    batch_size: usize,
    bucket: bool,
    rng: &mut Rng,
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    rng.shuffle(&mut order);
    if bucket {
        for window in order.chunks_mut(batch_size * BUCKET_WINDOW) {
            window.sort_by_key(|&i| lengths[i]);
        }
    }
    let mut batches: Vec<Vec<usize>> = order.chunks(batch_size).map(<[usize]>::to_vec).collect();
    if bucket {
        rng.shuffle(&mut batches);
    }
    batches
}

/// Progress within an epoch.
#[derive(Clone, Debug)]
pub struct BatchProgress {
    /// 1-based.
    pub epoch: usize,
    pub epochs: usize,
    /// 1-based batch number within the epoch.
    pub batch: usize,
    pub batches: usize,
    /// Real tokens processed so far in this epoch.
    pub tokens: usize,
    /// Mean training loss and accuracy so far in this epoch.
    pub loss: f64,
    pub accuracy: f64,
}

/// Receives training progress (the CLI draws a progress bar from it).
pub trait Observer {
    /// An epoch's first batch is about to run; `resumed` when it continues an epoch that an
    /// earlier, interrupted process began (its totals then include that process's batches).
    fn epoch_start(&mut self, _epoch: usize, _resumed: bool) {}
    fn batch(&mut self, _progress: &BatchProgress) {}
    fn epoch(&mut self, _record: &EpochRecord) {}
    /// Pretrained vectors were read into the embedding, before the first step: what they
    /// cover of the `vocab_words` vocabulary words open to them (without `<pad>` and `<unk>`,
    /// and with `--init` without the base's).
    fn pretrained(&mut self, _info: &PretrainedInfo, _vocab_words: usize) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// How a [`fit`] may be steered from outside: a flag that asks it to stop after the current
/// batch (set from a signal handler), and a checkpoint to continue from.
#[derive(Default)]
pub struct Control<'a> {
    pub stop: Option<&'a std::sync::atomic::AtomicBool>,
    pub resume: Option<Resume>,
    /// The base model of `--init`.
    pub init: Option<&'a Init>,
}

/// How [`fit`] ended.
#[derive(Debug)]
pub enum Outcome {
    Finished(Box<Trained>),
    /// Stopped on request after a whole batch; the checkpoint continues it.
    Interrupted(Box<Checkpoint>),
}

/// The result of [`fit`].
#[derive(Clone, Debug)]
pub struct Trained {
    pub model: SentimentModel,
    /// Real tokens processed in training batches (for throughput reports).
    pub tokens_trained: u64,
    /// Seconds spent in training steps (forward, backward, update), for throughput.
    pub step_seconds: f64,
    /// Seconds for all of `fit` (tokenizing, vocabulary, steps, validation).
    pub train_seconds: f64,
}

/// Trains a model on `train`, validating on `valid` (which may be empty: then every epoch runs
/// and the last one is kept), from the start or from `control`'s checkpoint, until the last
/// epoch, early stopping, or `control`'s stop flag (then the result is a checkpoint).
pub fn fit(
    config: &TrainConfig,
    train: &[Example],
    valid: &[Example],
    threads: usize,
    observer: &mut dyn Observer,
    control: Control<'_>,
) -> Result<Outcome> {
    let mut trainer = trainer::Trainer::prepare(config, train, valid, threads, control.init)?;
    if let Some(resume) = control.resume {
        trainer.resume(resume)?;
    }
    trainer.run(observer, control.stop)
}
