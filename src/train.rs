//! Training: builds the vocabulary from the training split, initialises a model, and runs
//! mini-batch epochs with early stopping on validation loss, keeping the best epoch's weights.
//!
//! Deterministic by construction: every random draw comes from [`Rng`] streams derived from
//! the seed (one for initialisation, one for batch order), and no result depends on hash order
//! or timing. Progress is reported through an [`Observer`], never printed.

use serde::{Deserialize, Serialize};

use crate::batch::Batch;
use crate::config::TrainConfig;
use crate::data::{fingerprint, Example};
use crate::embeddings::{self, EmbeddingsOptions};
use crate::error::{Error, Result};
use crate::metrics;
use crate::model::loss::bce_with_logits_scaled;
use crate::model::params::Params;
use crate::model::params::Tensor;
use crate::model::{Classifier, Mode};
use crate::optim::{
    clip_to_norm, reduce_shards, reduce_shards_rows, zero_grad_rows, Optimizer, Rows, ShardRows,
};
use crate::rng::{Rng, RngState};
use crate::row_grads::RowGrads;
use crate::sentiment::{logits_batched, SentimentModel, INFERENCE_BATCH};
use crate::text::{TokenCounts, Tokenizer, Vocab, UNK_ID};
use crate::training_info::{EpochRecord, PretrainedInfo, TrainingInfo};
use rayon::prelude::*;

/// Independent random streams of one seed.
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
const MAX_SHARDS: usize = 1 << 20;

/// What one shard's forward and backward report.
struct ShardOutcome {
    /// Its part of the batch's mean loss.
    loss: f64,
    correct: usize,
    tokens: usize,
}

/// The per-shard constants of a step.
struct ShardSettings<'a> {
    /// 1 / batch rows: the shard's losses and gradients are parts of the batch mean.
    scale: f32,
    pos_weight: f32,
    /// (embedding dropout, dropout).
    dropout: (f64, f64),
    rng: &'a mut Rng,
}

/// Forward and backward of one shard; adds its gradients into `grads`, but with `embedding`
/// the embedding's gradient goes there instead (compact: the rows its texts use).
fn shard_step(
    model: &Classifier<f32>,
    rows: &[usize],
    ids: &[Vec<u32>],
    labels: &[bool],
    grads: &mut Params<f32>,
    embedding: Option<&mut RowGrads<f32>>,
    settings: ShardSettings<'_>,
) -> ShardOutcome {
    let sequences: Vec<&[u32]> = rows.iter().map(|&i| ids[i].as_slice()).collect();
    let targets: Vec<f32> = rows
        .iter()
        .map(|&i| f32::from(u8::from(labels[i])))
        .collect();
    let batch = Batch::from_sequences(&sequences);
    let mode = Mode::Train {
        embed_dropout: settings.dropout.0,
        dropout: settings.dropout.1,
        rng: settings.rng,
    };
    let (logits, cache) = model.forward(&batch, mode);
    let (loss, d_logits) =
        bce_with_logits_scaled(&logits, &targets, settings.pos_weight, settings.scale);
    match embedding {
        Some(rows) => model.backward_rows(cache, &d_logits, grads, rows),
        None => model.backward(cache, &d_logits, grads),
    }
    ShardOutcome {
        loss: f64::from(loss),
        correct: logits
            .iter()
            .zip(&targets)
            .filter(|(&z, &y)| (z >= 0.0) == (y > 0.5))
            .count(),
        tokens: batch.tokens(),
    }
}

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
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// The format tag of a checkpoint file.
pub const CHECKPOINT_FORMAT: &str = "rnn-sentiment-checkpoint";

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
}

/// A checkpoint to continue from, and the file it was read from (for messages).
#[derive(Clone, Debug)]
pub struct Resume {
    pub path: std::path::PathBuf,
    pub checkpoint: Checkpoint,
}

/// How a [`fit`] may be steered from outside: a flag that asks it to stop after the current
/// batch (set from a signal handler), and a checkpoint to continue from.
#[derive(Default)]
pub struct Control<'a> {
    pub stop: Option<&'a std::sync::atomic::AtomicBool>,
    pub resume: Option<Resume>,
}

/// Checks a tensor list read from a checkpoint against the model's: the same count and
/// shapes, each with as many values as its shape needs, all finite.
fn check_tensors(what: &str, tensors: &[Tensor<f32>], model: &Params<f32>) -> Result<(), String> {
    let expected = model.tensors();
    if tensors.len() != expected.len() {
        return Err(format!(
            "{what} has {} tensors where the model has {}",
            tensors.len(),
            expected.len()
        ));
    }
    for (i, (t, e)) in tensors.iter().zip(expected).enumerate() {
        if t.shape != e.shape {
            return Err(format!(
                "{what} tensor {i} has shape {:?} where the model needs {:?} (other data or \
                 vocabulary?)",
                t.shape, e.shape
            ));
        }
        if t.data.len() != e.data.len() {
            return Err(format!(
                "{what} tensor {i} has {} values but its shape {:?} needs {}",
                t.data.len(),
                t.shape,
                e.data.len()
            ));
        }
        if !t.data.iter().all(|x| x.is_finite()) {
            return Err(format!("{what} tensor {i} holds NaN or infinite values"));
        }
    }
    Ok(())
}

/// Checks everything in a checkpoint against the run it is to continue, before any of it is
/// used: the options and data, every tensor and optimizer state against the model, and the
/// counters against each other (`batches` is the number of batches in an epoch).
fn check_checkpoint(
    c: &Checkpoint,
    run: (&TrainConfig, &str, &str),
    model: &Params<f32>,
    fresh_optimizer: &Optimizer<f32>,
    batches: usize,
) -> Result<(), String> {
    let (config, data_fingerprint, valid_fingerprint) = run;
    if c.format != CHECKPOINT_FORMAT || c.version != 1 {
        return Err(format!("not a version-1 {CHECKPOINT_FORMAT} file"));
    }
    if c.options != *config {
        return Err(
            "it was made with other training options; resume with the same data and options".into(),
        );
    }
    if c.data_fingerprint != data_fingerprint || c.valid_fingerprint != valid_fingerprint {
        return Err(
            "it was made with other training or validation data; resume with the same data and \
             options"
                .into(),
        );
    }
    check_tensors("the weights", &c.params, model)?;
    if let Some((loss, epoch, best)) = &c.best {
        check_tensors("the best weights", best, model)?;
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
/// and the last one is kept).
pub fn fit(
    config: &TrainConfig,
    train: &[Example],
    valid: &[Example],
    threads: usize,
    observer: &mut dyn Observer,
    control: Control<'_>,
) -> Result<Outcome> {
    config.validate()?;
    let fit_start = std::time::Instant::now();
    let mut step_seconds = 0.0;
    let tokenizer = Tokenizer::new(config.tokenizer.clone());
    // Texts are kept as token indices while counting, then mapped to vocabulary ids in place:
    // no token is held as a string beyond its own text (see TokenCounts).
    let mut counts = TokenCounts::default();
    let mut train_ids: Vec<Vec<u32>> = train
        .iter()
        .map(|e| counts.add(tokenizer.tokenize(&e.text)))
        .collect();
    let (vocab, ids) = Vocab::from_counts(&counts, config.min_count, config.max_vocab);
    drop(counts);
    for text in &mut train_ids {
        text.iter_mut()
            .for_each(|k| *k = ids.get(*k as usize).copied().unwrap_or(UNK_ID));
    }
    let train_labels: Vec<bool> = train.iter().map(|e| e.label).collect();
    let valid_ids: Vec<Vec<u32>> = valid
        .iter()
        .map(|e| vocab.encode(&tokenizer.tokenize(&e.text)))
        .collect();
    let valid_labels: Vec<bool> = valid.iter().map(|e| e.label).collect();

    let model_config = config.model_config(vocab.len());
    model_config
        .validate()
        .map_err(|m| Error::option("model size", m))?;
    let mut model = Classifier::<f32>::new(
        model_config.clone(),
        &mut Rng::stream(config.seed, streams::INIT),
    );
    // Params::init draws N(0, 1) as PyTorch does; scale it to the configured deviation.
    if config.embed_init != 1.0 {
        let std = config.embed_init as f32;
        model
            .params
            .embedding
            .data
            .iter_mut()
            .for_each(|x| *x *= std);
    }
    let pretrained = match &config.embeddings {
        Some(path) => {
            let options = EmbeddingsOptions {
                lowercase: config.tokenizer.lowercase,
            };
            let vectors = embeddings::load(path, &vocab, &options)?;
            vectors.apply(&mut model.params.embedding.data, config.embed_dim)?;
            Some(PretrainedInfo {
                path: path.clone(),
                dim: vectors.dim,
                file_words: vectors.file_words,
                matched: vectors.matched_ids,
                lowercased: vectors.lowercased_ids,
                type_coverage: vectors.type_coverage(),
                token_coverage: vectors.token_coverage(train_ids.iter().flatten()),
            })
        }
        None => None,
    };
    // A batch larger than the data is the whole data: size the shards for what a batch can
    // hold, not for what was asked.
    let shards = config
        .batch_size
        .min(train.len().max(1))
        .div_ceil(SHARD_ROWS);
    // Sparse steps keep each shard's embedding gradient compact (`shard_rows`) and never
    // touch the shards' embedding tables, which then cost no memory (pages never written).
    let sparse = !config.dense_embedding_updates;
    let mut shard_grads: Vec<Params<f32>> =
        (0..shards).map(|_| Params::zeros(&model_config)).collect();
    let mut shard_rows: Vec<RowGrads<f32>> = (0..shards)
        .map(|_| RowGrads::new(config.embed_dim))
        .collect();
    let mut batch_rows = RowGrads::new(config.embed_dim);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.clamp(1, shards))
        .build()
        .map_err(|e| Error::option("threads", e.to_string()))?;
    let mut optimizer = Optimizer::new(
        config.optimizer,
        config.lr,
        config.momentum,
        config.weight_decay,
        &model.params,
    );
    if config.freeze_embeddings {
        optimizer.freeze(0);
    }
    let mut shuffle_rng = Rng::stream(config.seed, streams::SHUFFLE);
    let lengths: Vec<usize> = train_ids.iter().map(Vec::len).collect();

    let mut history = Vec::new();
    let mut best: Option<(f64, usize, Params<f32>)> = None;
    let mut epochs_without_gain = 0;
    let mut stopped_early = false;
    let mut tokens_trained = 0u64;
    let batches = train.len().div_ceil(config.batch_size);
    let total_steps = batches * config.epochs;
    let warmup_steps = (config.warmup * total_steps as f64).round() as usize;
    let pos_weight = config.pos_weight as f32;
    let mut step = 0;
    let data_fingerprint = fingerprint(train);
    let valid_fingerprint = fingerprint(valid);

    // Where to start: the beginning, or exactly where a checkpoint stopped.
    let mut start = (1, 0, (0.0f64, 0usize, 0usize, 0usize));
    if let Some(Resume {
        path,
        checkpoint: c,
    }) = control.resume
    {
        let run = (
            config,
            data_fingerprint.as_str(),
            valid_fingerprint.as_str(),
        );
        check_checkpoint(&c, run, &model.params, &optimizer, batches)
            .map_err(|message| Error::Checkpoint { path, message })?;
        model.params = Params::from_tensors(c.params);
        optimizer = c.optimizer;
        shuffle_rng = Rng::from_state(&c.epoch_rng).map_err(|m| Error::option("resume", m))?;
        history = c.history;
        best = c
            .best
            .map(|(loss, epoch, p)| (loss, epoch, Params::from_tensors(p)));
        epochs_without_gain = c.epochs_without_gain;
        step = c.step;
        tokens_trained = c.tokens_trained;
        start = (c.epoch, c.batch, c.partial);
    }
    let stop_requested = || {
        control
            .stop
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst))
    };

    for epoch in start.0..=config.epochs {
        let epoch_rng = shuffle_rng.state();
        let epoch_batches =
            epoch_batches(&lengths, config.batch_size, config.bucket, &mut shuffle_rng);
        let resuming = epoch == start.0;
        let skip = if resuming { start.1 } else { 0 };
        let (mut loss_sum, mut correct, mut seen, mut tokens) = if resuming {
            start.2
        } else {
            (0.0f64, 0usize, 0usize, 0usize)
        };
        observer.epoch_start(epoch, resuming && skip > 0);
        let steps_start = std::time::Instant::now();
        for (b, rows) in epoch_batches.iter().enumerate().skip(skip) {
            optimizer
                .set_lr(config.lr * config.lr_schedule.factor(step, total_steps, warmup_steps));
            let scale = 1.0 / rows.len() as f32;
            let shard_texts: Vec<&[usize]> = rows.chunks(SHARD_ROWS).collect();

            let dropout = (config.embed_dropout, config.dropout);
            let outcomes: Vec<ShardOutcome> = pool.install(|| {
                shard_texts
                    .par_iter()
                    .zip(shard_grads.par_iter_mut())
                    .zip(shard_rows.par_iter_mut())
                    .enumerate()
                    .map(|(k, ((rows, grads), embedding))| {
                        let mut rng = dropout_rng(config.seed, step * MAX_SHARDS + k);
                        shard_step(
                            &model,
                            rows,
                            &train_ids,
                            &train_labels,
                            grads,
                            sparse.then_some(embedding),
                            ShardSettings {
                                scale,
                                pos_weight,
                                dropout,
                                rng: &mut rng,
                            },
                        )
                    })
                    .collect()
            });
            let loss: f64 = outcomes.iter().map(|o| o.loss).sum();
            let diverged = |what, value: f64| Error::Diverged {
                epoch,
                batch: b + 1,
                what,
                value,
            };
            if !loss.is_finite() {
                return Err(diverged("loss", loss));
            }
            // Sum the shard gradients into the first (the embedding's, when sparse, into
            // `batch_rows`), in shard order, and take the norm of the sum; then the update.
            // Both run on the pool over pieces of fixed size, so the result does not depend on
            // how many threads computed them.
            let used = shard_texts.len();
            let (used_grads, used_rows) = (&mut shard_grads[..used], &shard_rows[..used]);
            let norm = pool.install(|| {
                if sparse {
                    let lists: Vec<&[u32]> = used_rows.iter().map(RowGrads::ids).collect();
                    let users = ShardRows::new(&lists);
                    reduce_shards_rows(used_grads, used_rows, &users, &mut batch_rows)
                } else {
                    reduce_shards(used_grads, Rows::All)
                }
            });
            let grads = &mut used_grads[0];
            if !norm.is_finite() {
                return Err(diverged("gradient norm", norm));
            }
            // The tensors of `grads` this step wrote: with sparse steps, not the embedding.
            let written = if sparse { Rows::Only(&[]) } else { Rows::All };
            if config.clip_norm > 0.0 {
                if let Some(coef) = clip_to_norm(grads, norm, config.clip_norm, written) {
                    batch_rows.scale(coef);
                }
            }
            pool.install(|| {
                if sparse {
                    optimizer.step_row_grads(&mut model.params, grads, &batch_rows);
                } else {
                    optimizer.step_rows(&mut model.params, grads, Rows::All);
                }
            });
            zero_grad_rows(grads, written);
            step += 1;
            let batch_tokens: usize = outcomes.iter().map(|o| o.tokens).sum();
            let batch_correct: usize = outcomes.iter().map(|o| o.correct).sum();

            loss_sum += loss * rows.len() as f64;
            correct += batch_correct;
            seen += rows.len();
            tokens += batch_tokens;
            observer.batch(&BatchProgress {
                epoch,
                epochs: config.epochs,
                batch: b + 1,
                batches,
                tokens,
                loss: loss_sum / seen as f64,
                accuracy: correct as f64 / seen as f64,
            });
            if stop_requested() {
                return Ok(Outcome::Interrupted(Box::new(Checkpoint {
                    format: CHECKPOINT_FORMAT.to_string(),
                    version: 1,
                    options: config.clone(),
                    data_fingerprint,
                    valid_fingerprint,
                    epoch,
                    batch: b + 1,
                    step,
                    epoch_rng,
                    params: model.params.tensors().into_iter().cloned().collect(),
                    optimizer,
                    history,
                    best: best
                        .map(|(loss, e, p)| (loss, e, p.tensors().into_iter().cloned().collect())),
                    epochs_without_gain,
                    partial: (loss_sum, correct, seen, tokens),
                    tokens_trained,
                })));
            }
        }
        tokens_trained += tokens as u64;
        step_seconds += steps_start.elapsed().as_secs_f64();
        if !model.params.all_finite() {
            return Err(Error::Diverged {
                epoch,
                batch: batches,
                what: "weights",
                value: f64::NAN,
            });
        }

        let (valid_loss, valid_accuracy) = if valid.is_empty() {
            (None, None)
        } else {
            let logits = logits_batched(&model, &valid_ids, INFERENCE_BATCH);
            let m = metrics::evaluate(&logits, &valid_labels, 0.5);
            // Early stopping watches the loss being trained, so with --pos-weight the weighted
            // loss (evaluation's log loss stays the plain one).
            let loss = if config.pos_weight == 1.0 {
                m.log_loss
            } else {
                logits
                    .iter()
                    .zip(&valid_labels)
                    .map(|(&z, &y)| {
                        crate::model::loss::weighted_bce_with_logits(
                            z,
                            f64::from(u8::from(y)),
                            config.pos_weight,
                        )
                    })
                    .sum::<f64>()
                    / logits.len() as f64
            };
            (Some(loss), Some(m.accuracy))
        };
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            valid_loss,
            valid_accuracy,
            lr: optimizer.lr(),
        };
        observer.epoch(&record);
        history.push(record);

        if let Some(loss) = valid_loss {
            if best
                .as_ref()
                .is_none_or(|(best_loss, _, _)| loss < *best_loss)
            {
                best = Some((loss, epoch, model.params.clone()));
                epochs_without_gain = 0;
            } else {
                epochs_without_gain += 1;
                if config.patience > 0 && epochs_without_gain >= config.patience {
                    stopped_early = epoch < config.epochs;
                    break;
                }
            }
        }
    }

    let epochs_run = history.len();
    let best_epoch = match best {
        Some((_, epoch, params)) => {
            model.params = params;
            epoch
        }
        None => epochs_run,
    };
    let known = train_ids
        .iter()
        .flatten()
        .filter(|&&id| id != crate::text::UNK_ID)
        .count();
    let total = train_ids.iter().map(Vec::len).sum::<usize>();
    let training = TrainingInfo {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        options: Some(config.clone()),
        train_rows: train.len(),
        valid_rows: valid.len(),
        train_positive_rate: train_labels.iter().filter(|&&y| y).count() as f64
            / train.len().max(1) as f64,
        data_fingerprint,
        vocab_coverage: if total == 0 {
            0.0
        } else {
            known as f64 / total as f64
        },
        pretrained,
        epochs_run,
        best_epoch,
        stopped_early,
        history,
    };
    Ok(Outcome::Finished(Box::new(Trained {
        model: SentimentModel {
            tokenizer,
            vocab,
            classifier: model,
            training,
        },
        tokens_trained,
        step_seconds,
        train_seconds: fit_start.elapsed().as_secs_f64(),
    })))
}
