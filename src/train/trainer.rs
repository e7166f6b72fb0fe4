//! The training loop as an object whose stages a reader can name: [`Trainer::prepare`] (the
//! vocabulary, the model, pretrained vectors, buffers and optimizer), [`Trainer::resume`] (a
//! checkpoint's state), [`Trainer::run`] (epochs until the last or early stopping), an epoch
//! ([`Trainer::run_epoch`]), a batch ([`Trainer::step_batch`]), [`Trainer::validate`],
//! [`Trainer::snapshot`] (a checkpoint) and [`Trainer::finish`] (the model and what it
//! records of its training).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rayon::prelude::*;

use super::checkpoint::{
    check_checkpoint, Checkpoint, Resume, CHECKPOINT_FORMAT, CHECKPOINT_VERSION,
};
use super::early_stopping::EarlyStopping;
use super::embedding::EmbeddingUpdates;
use super::encode::{encode, encode_with, Encoded};
use super::shards::{shard_step, ShardOutcome, ShardSettings};
use super::unfreeze::Unfreezing;
use super::{
    dropout_rng, epoch_batches, streams, BatchProgress, Observer, Outcome, Trained, MAX_SHARDS,
    SHARD_ROWS,
};
use crate::config::TrainConfig;
use crate::data::{fingerprint, Example, POSITIVE};
use crate::embeddings::{self, EmbeddingsOptions};
use crate::error::{Error, Result};
use crate::metrics;
use crate::model::loss::Objective;
use crate::model::params::Params;
use crate::model::Classifier;
use crate::optim::Optimizer;
use crate::rng::{Rng, RngState};
use crate::sentiment::{logits_batched, SentimentModel, INFERENCE_BATCH};
use crate::text::{Tokenizer, Vocab, UNK_ID};
use crate::training_info::{EpochRecord, PretrainedInfo, TrainingInfo};

/// An epoch's running sums: loss (times rows), correct predictions, rows and tokens.
#[derive(Clone, Copy, Debug, Default)]
struct EpochTotals {
    loss_sum: f64,
    correct: usize,
    seen: usize,
    tokens: usize,
}

impl EpochTotals {
    fn from_tuple((loss_sum, correct, seen, tokens): (f64, usize, usize, usize)) -> Self {
        Self {
            loss_sum,
            correct,
            seen,
            tokens,
        }
    }

    fn tuple(self) -> (f64, usize, usize, usize) {
        (self.loss_sum, self.correct, self.seen, self.tokens)
    }
}

/// Where the loop starts: epoch 1, or where a checkpoint stopped (its epoch, the batches of
/// it done, and their running sums).
struct Start {
    epoch: usize,
    batch: usize,
    totals: EpochTotals,
}

/// A run in progress.
pub(super) struct Trainer<'a> {
    config: &'a TrainConfig,
    tokenizer: Tokenizer,
    vocab: Vocab,
    train: Encoded,
    valid: Encoded,
    lengths: Vec<usize>,
    model: Classifier<f32>,
    /// The loss: binary, or K classes with their weights.
    objective: Objective<f32>,
    pretrained: Option<PretrainedInfo>,
    /// The first vocabulary id pretrained vectors may fill (after a base's rows).
    first_vector_id: usize,
    /// One gradient buffer per shard of a batch; the sum lands in the first.
    shard_grads: Vec<Params<f32>>,
    embedding: EmbeddingUpdates,
    pool: rayon::ThreadPool,
    optimizer: Optimizer<f32>,
    /// Gradual unfreezing of the base's layers (`--unfreeze-epochs`), if any.
    unfreezing: Option<Unfreezing>,
    shuffle_rng: Rng,
    early: EarlyStopping,
    history: Vec<EpochRecord>,
    /// Training steps done (the schedule and the dropout streams follow it).
    step: usize,
    tokens_trained: u64,
    /// Batches per epoch, steps in the whole run, and warm-up steps.
    batches: usize,
    total_steps: usize,
    warmup_steps: usize,
    data_fingerprint: String,
    valid_fingerprint: String,
    start: Start,
    started: Instant,
    step_seconds: f64,
}

/// Checks that every label is a class of the run: below the number of class names, or for
/// binary runs 0 or 1. The error names the split, the line and the label.
fn check_labels(config: &TrainConfig, train: &[Example], valid: &[Example]) -> Result<()> {
    let classes = config.classes.len();
    let limit = if classes == 0 { 2 } else { classes };
    for (split, rows) in [("training", train), ("validation", valid)] {
        if let Some(e) = rows.iter().find(|e| e.label >= limit) {
            return Err(Error::option(
                "classes",
                format!(
                    "the {split} row of line {} has class index {} but the run has {} \
                     classes{}",
                    e.line,
                    e.label,
                    limit,
                    if classes == 0 {
                        " (binary: 0 = negative, 1 = positive)"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
    Ok(())
}

/// A fresh model for `vocab`: PyTorch's initialisation, the embedding scaled to
/// `embed_init`, then pretrained vectors where `--embeddings` has them, for ids from
/// `first_id` on (the rows before it come from a base model, which wins).
fn initial_model(
    config: &TrainConfig,
    vocab: &Vocab,
    train_ids: &[Vec<u32>],
    first_id: u32,
) -> Result<(Classifier<f32>, Option<PretrainedInfo>)> {
    let model_config = config.model_config(vocab.len());
    model_config
        .validate()
        .map_err(|m| Error::option("model size", m))?;
    let mut model =
        Classifier::<f32>::new(model_config, &mut Rng::stream(config.seed, streams::INIT));
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
    let Some(path) = &config.embeddings else {
        return Ok((model, None));
    };
    let options = EmbeddingsOptions {
        lowercase: config.tokenizer.lowercase,
        first_id,
    };
    let vectors = embeddings::load(path, vocab, &options)?;
    vectors.apply(&mut model.params.embedding.data, config.embed_dim)?;
    let info = PretrainedInfo::new(&vectors, vectors.token_coverage(train_ids.iter().flatten()));
    Ok((model, Some(info)))
}

impl<'a> Trainer<'a> {
    /// Everything a run needs before its first step.
    pub(super) fn prepare(
        config: &'a TrainConfig,
        train: &[Example],
        valid: &[Example],
        threads: usize,
        init: Option<&super::Init>,
    ) -> Result<Self> {
        config.validate()?;
        check_labels(config, train, valid)?;
        let started = Instant::now();
        let tokenizer = Tokenizer::new(config.tokenizer.clone());
        let (vocab, train_set, valid_set) = match init {
            Some(base) => {
                let vocab = super::init::run_vocab(base, config, &tokenizer, train);
                encode_with(vocab, &tokenizer, train, valid)
            }
            None => encode(config, &tokenizer, train, valid),
        };
        let first_id = init.map_or(0, |base| base.vocab.len() as u32);
        let (mut model, pretrained) = initial_model(config, &vocab, &train_set.ids, first_id)?;
        if let Some(base) = init {
            super::init::take_base_weights(&mut model, base)?;
        }
        // A batch larger than the data is the whole data: size the shards for what a batch
        // can hold, not for what was asked.
        let shards = config
            .batch_size
            .min(train.len().max(1))
            .div_ceil(SHARD_ROWS);
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
        if init.is_some() && config.init_lr_scale != 1.0 {
            // The base's tensors: the embedding, then every recurrent one (the head is last).
            for index in 0..1 + 4 * model.params.rnn.len() {
                optimizer.scale_lr(index, config.init_lr_scale);
            }
        }
        let unfreezing = Unfreezing::new(config, init.is_some(), &model.config);
        let batches = train.len().div_ceil(config.batch_size);
        let total_steps = batches * config.epochs;
        Ok(Self {
            config,
            tokenizer,
            vocab,
            lengths: train_set.ids.iter().map(Vec::len).collect(),
            train: train_set,
            valid: valid_set,
            shard_grads: (0..shards).map(|_| Params::zeros(&model.config)).collect(),
            embedding: EmbeddingUpdates::new(
                !config.dense_embedding_updates,
                shards,
                config.embed_dim,
            ),
            model,
            objective: Objective::new(
                config.classes.len(),
                config.pos_weight,
                &config.class_weights,
            ),
            pretrained,
            first_vector_id: first_id as usize,
            pool,
            optimizer,
            unfreezing,
            shuffle_rng: Rng::stream(config.seed, streams::SHUFFLE),
            early: EarlyStopping::new(config.patience),
            history: Vec::new(),
            step: 0,
            tokens_trained: 0,
            batches,
            total_steps,
            warmup_steps: (config.warmup * total_steps as f64).round() as usize,
            data_fingerprint: fingerprint(train),
            valid_fingerprint: fingerprint(valid),
            start: Start {
                epoch: 1,
                batch: 0,
                totals: EpochTotals::default(),
            },
            started,
            step_seconds: 0.0,
        })
    }

    /// Continues from a checkpoint: checked against this run first, then its weights,
    /// optimizer state, random streams, counters and history replace the fresh ones.
    pub(super) fn resume(&mut self, resume: Resume) -> Result<()> {
        let Resume {
            path,
            checkpoint: c,
        } = resume;
        let run = (
            self.config,
            self.data_fingerprint.as_str(),
            self.valid_fingerprint.as_str(),
        );
        // The checkpoint's optimizer has the frozen tensors of its epoch.
        if let Some(unfreezing) = &self.unfreezing {
            unfreezing.apply(c.epoch, &mut self.optimizer);
        }
        check_checkpoint(&c, run, &self.model.params, &self.optimizer, self.batches)
            .map_err(|message| Error::Checkpoint { path, message })?;
        self.model.params = Params::from_tensors(c.params);
        self.optimizer = c.optimizer;
        self.shuffle_rng = Rng::from_state(&c.epoch_rng).map_err(|m| Error::option("resume", m))?;
        self.history = c.history;
        self.early.best = c
            .best
            .map(|(loss, epoch, p)| (loss, epoch, Params::from_tensors(p)));
        self.early.epochs_without_gain = c.epochs_without_gain;
        self.step = c.step;
        self.tokens_trained = c.tokens_trained;
        self.start = Start {
            epoch: c.epoch,
            batch: c.batch,
            totals: EpochTotals::from_tuple(c.partial),
        };
        Ok(())
    }

    /// Epochs until the last one, early stopping, or a stop request (then a checkpoint).
    pub(super) fn run(
        mut self,
        observer: &mut dyn Observer,
        stop: Option<&AtomicBool>,
    ) -> Result<Outcome> {
        if let Some(info) = &self.pretrained {
            let open = self.vocab.len().saturating_sub(self.first_vector_id.max(2));
            observer.pretrained(info, open);
        }
        let mut stopped_early = false;
        for epoch in self.start.epoch..=self.config.epochs {
            let totals = match self.run_epoch(epoch, observer, stop)? {
                EpochEnd::Done(totals) => totals,
                EpochEnd::Stopped { batch, rng, totals } => {
                    let snapshot = self.snapshot(epoch, batch, rng, totals);
                    return Ok(Outcome::Interrupted(Box::new(snapshot)));
                }
            };
            let (valid_loss, valid_accuracy) = self.validate();
            let record = EpochRecord {
                epoch,
                train_loss: totals.loss_sum / totals.seen.max(1) as f64,
                train_accuracy: totals.correct as f64 / totals.seen.max(1) as f64,
                valid_loss,
                valid_accuracy,
                lr: self.optimizer.lr(),
            };
            observer.epoch(&record);
            self.history.push(record);
            if self.early.observe(epoch, valid_loss, &self.model.params) {
                stopped_early = epoch < self.config.epochs;
                break;
            }
        }
        Ok(Outcome::Finished(Box::new(self.finish(stopped_early))))
    }

    /// One epoch's batches, in the order of this epoch's shuffle; a resumed epoch skips the
    /// batches its checkpoint had done. Non-finite weights at the end are an error.
    fn run_epoch(
        &mut self,
        epoch: usize,
        observer: &mut dyn Observer,
        stop: Option<&AtomicBool>,
    ) -> Result<EpochEnd> {
        let config = self.config;
        let rng = self.shuffle_rng.state();
        let batches = epoch_batches(
            &self.lengths,
            config.batch_size,
            config.bucket,
            &mut self.shuffle_rng,
        );
        let resuming = epoch == self.start.epoch;
        let skip = if resuming { self.start.batch } else { 0 };
        let mut totals = if resuming {
            self.start.totals
        } else {
            EpochTotals::default()
        };
        if let Some(unfreezing) = &self.unfreezing {
            unfreezing.apply(epoch, &mut self.optimizer);
        }
        observer.epoch_start(epoch, resuming && skip > 0);
        let steps_start = Instant::now();
        for (b, rows) in batches.iter().enumerate().skip(skip) {
            let outcome = self.step_batch(epoch, b + 1, rows)?;
            totals.loss_sum += outcome.loss * rows.len() as f64;
            totals.correct += outcome.correct;
            totals.seen += rows.len();
            totals.tokens += outcome.tokens;
            observer.batch(&BatchProgress {
                epoch,
                epochs: config.epochs,
                batch: b + 1,
                batches: self.batches,
                tokens: totals.tokens,
                loss: totals.loss_sum / totals.seen as f64,
                accuracy: totals.correct as f64 / totals.seen as f64,
            });
            if stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
                return Ok(EpochEnd::Stopped {
                    batch: b + 1,
                    rng,
                    totals,
                });
            }
        }
        self.tokens_trained += totals.tokens as u64;
        self.step_seconds += steps_start.elapsed().as_secs_f64();
        if !self.model.params.all_finite() {
            return Err(Error::Diverged {
                epoch,
                batch: self.batches,
                what: "weights",
                value: f64::NAN,
            });
        }
        Ok(EpochEnd::Done(totals))
    }

    /// One training step on the batch `rows` (batch `batch`, 1-based, of epoch `epoch`): the
    /// shards' forward and backward in parallel, their gradients summed in shard order, the
    /// norm clipped, the optimizer's update. Returns the batch's mean loss, correct count and
    /// tokens.
    fn step_batch(&mut self, epoch: usize, batch: usize, rows: &[usize]) -> Result<ShardOutcome> {
        let config = self.config;
        let lr_factor = config
            .lr_schedule
            .factor(self.step, self.total_steps, self.warmup_steps);
        self.optimizer.set_lr(config.lr * lr_factor);
        // Each shard's loss and gradients are its part of the batch mean.
        let (model, train, step) = (&self.model, &self.train, self.step);
        let objective = &self.objective;
        let targets: Vec<usize> = rows.iter().map(|&i| train.labels[i]).collect();
        let scale = 1.0 / objective.denominator(&targets) as f32;
        let shard_texts: Vec<&[usize]> = rows.chunks(SHARD_ROWS).collect();
        let slots = self.embedding.shard_slots();
        let outcomes: Vec<ShardOutcome> = self.pool.install(|| {
            shard_texts
                .par_iter()
                .zip(self.shard_grads.par_iter_mut())
                .zip(slots)
                .enumerate()
                .map(|(k, ((rows, grads), embedding))| {
                    let mut rng = dropout_rng(config.seed, step * MAX_SHARDS + k);
                    let settings = ShardSettings {
                        scale,
                        objective,
                        dropout: (config.embed_dropout, config.dropout),
                        rng: &mut rng,
                    };
                    shard_step(
                        model,
                        rows,
                        &train.ids,
                        &train.labels,
                        grads,
                        embedding,
                        settings,
                    )
                })
                .collect()
        });
        let loss: f64 = outcomes.iter().map(|o| o.loss).sum();
        let diverged = |what, value: f64| Error::Diverged {
            epoch,
            batch,
            what,
            value,
        };
        if !loss.is_finite() {
            return Err(diverged("loss", loss));
        }
        let used = &mut self.shard_grads[..shard_texts.len()];
        let embedding = &mut self.embedding;
        let norm = self.pool.install(|| embedding.reduce(used));
        let grads = &mut used[0];
        if !norm.is_finite() {
            return Err(diverged("gradient norm", norm));
        }
        if config.clip_norm > 0.0 {
            // While gradual unfreezing holds tensors back, they are not part of the norm
            // clipped (PyTorch's clip_grad_norm_ sees only parameters that require a
            // gradient). A run with nothing frozen (or frozen gradients all zero) keeps its
            // norm bit for bit. Only clipping reads the norm, so without it nothing is summed.
            let frozen = embedding.frozen_squares(grads, |i| self.optimizer.is_frozen(i));
            let norm = if frozen > 0.0 {
                (norm * norm - frozen).max(0.0).sqrt()
            } else {
                norm
            };
            embedding.clip(grads, norm, config.clip_norm);
        }
        let (optimizer, params) = (&mut self.optimizer, &mut self.model.params);
        self.pool
            .install(|| embedding.step(optimizer, params, grads));
        embedding.zero(grads);
        self.step += 1;
        Ok(ShardOutcome {
            loss,
            correct: outcomes.iter().map(|o| o.correct).sum(),
            tokens: outcomes.iter().map(|o| o.tokens).sum(),
        })
    }

    /// Validation loss and accuracy (`None` without validation data). Early stopping watches
    /// the loss being trained, so with `--pos-weight` (or class weights) the weighted loss
    /// (evaluation's log loss stays the plain one).
    fn validate(&self) -> (Option<f64>, Option<f64>) {
        if self.valid.ids.is_empty() {
            return (None, None);
        }
        let logits = logits_batched(&self.model, &self.valid.ids, INFERENCE_BATCH);
        if !self.model.config.is_binary() {
            // K classes: the trained loss in f64, accuracy by argmax.
            let config = self.config;
            let objective = Objective::<f64>::new(config.classes.len(), 1.0, &config.class_weights);
            let (loss, _) = objective.mean(logits.view(), &self.valid.labels);
            let correct = logits
                .rows()
                .into_iter()
                .zip(&self.valid.labels)
                .filter(|(z, &y)| objective.correct(z.view(), y))
                .count();
            return (Some(loss), Some(correct as f64 / logits.nrows() as f64));
        }
        let logits = logits.into_raw_vec_and_offset().0;
        let labels: Vec<bool> = self.valid.labels.iter().map(|&y| y == POSITIVE).collect();
        let m = metrics::evaluate(&logits, &labels, 0.5);
        let pos_weight = self.config.pos_weight;
        let loss = if pos_weight == 1.0 {
            m.log_loss
        } else {
            logits
                .iter()
                .zip(&labels)
                .map(|(&z, &y)| {
                    crate::model::loss::weighted_bce_with_logits(
                        z,
                        f64::from(u8::from(y)),
                        pos_weight,
                    )
                })
                .sum::<f64>()
                / logits.len() as f64
        };
        (Some(loss), Some(m.accuracy))
    }

    /// The run's state after batch `batch` of epoch `epoch`, as a checkpoint; `rng` is the
    /// batch-order generator as it was before this epoch's shuffle.
    fn snapshot(
        self,
        epoch: usize,
        batch: usize,
        rng: RngState,
        totals: EpochTotals,
    ) -> Checkpoint {
        let tensors = |p: &Params<f32>| p.tensors().into_iter().cloned().collect();
        Checkpoint {
            format: CHECKPOINT_FORMAT.to_string(),
            version: CHECKPOINT_VERSION,
            options: self.config.clone(),
            data_fingerprint: self.data_fingerprint,
            valid_fingerprint: self.valid_fingerprint,
            epoch,
            batch,
            step: self.step,
            epoch_rng: rng,
            params: tensors(&self.model.params),
            optimizer: self.optimizer,
            history: self.history,
            best: self
                .early
                .best
                .as_ref()
                .map(|(loss, e, p)| (*loss, *e, tensors(p))),
            epochs_without_gain: self.early.epochs_without_gain,
            partial: totals.tuple(),
            tokens_trained: self.tokens_trained,
            invocation: None,
        }
    }

    /// The trained model with the best epoch's weights, and what it records of its training.
    fn finish(mut self, stopped_early: bool) -> Trained {
        let epochs_run = self.history.len();
        let best_epoch = self.early.restore_best(&mut self.model.params, epochs_run);
        let ids = &self.train.ids;
        let known = ids.iter().flatten().filter(|&&id| id != UNK_ID).count();
        let total = ids.iter().map(Vec::len).sum::<usize>();
        let rows = self.train.labels.len();
        let training = TrainingInfo {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            options: Some(self.config.clone()),
            // The command line knows how the data was read, and fills this in.
            input: None,
            train_rows: rows,
            valid_rows: self.valid.labels.len(),
            // For K classes: the rate of class 1 (train_class_counts has every class).
            train_positive_rate: self.train.labels.iter().filter(|&&y| y == POSITIVE).count()
                as f64
                / rows.max(1) as f64,
            train_class_counts: if self.config.classes.is_empty() {
                Vec::new()
            } else {
                let mut counts = vec![0; self.config.classes.len()];
                for &y in &self.train.labels {
                    counts[y] += 1;
                }
                counts
            },
            data_fingerprint: self.data_fingerprint,
            vocab_coverage: if total == 0 {
                0.0
            } else {
                known as f64 / total as f64
            },
            pretrained: self.pretrained,
            epochs_run,
            best_epoch,
            stopped_early,
            history: self.history,
        };
        Trained {
            model: SentimentModel {
                tokenizer: self.tokenizer,
                vocab: self.vocab,
                classifier: self.model,
                training,
            },
            tokens_trained: self.tokens_trained,
            step_seconds: self.step_seconds,
            train_seconds: self.started.elapsed().as_secs_f64(),
        }
    }
}

/// How an epoch ended: done, with its sums, or stopped on request after batch `batch`.
enum EpochEnd {
    Done(EpochTotals),
    Stopped {
        batch: usize,
        rng: RngState,
        totals: EpochTotals,
    },
}
