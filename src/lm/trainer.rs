//! Pretraining: epochs of truncated BPTT over a corpus's training part, Adam, gradient
//! clipping, validation perplexity (exact, full softmax) on the held-out part after each epoch,
//! and early stopping on it; the best epoch's weights are kept.
//!
//! A step reads one chunk of the stream per direction (the reverse direction reads the
//! reversed stream) and cuts its B rows into shards of [`SHARD_ROWS`] rows, run side by side;
//! their gradients are summed in shard order. The shard size is fixed, not the thread count,
//! so the model is the same for any `--threads`.
//!
//! Updates are lazy in the two tables (as the classifier's embedding, TensorFlow's LazyAdam):
//! a step moves only the embedding rows of its inputs and, under the sampled softmax, the
//! decoder rows of its targets and candidates. Dense Adam would read and write every row of
//! both (V, E) and (V, H) tables and their moments each step, for rows whose gradient is 0;
//! on 800 IMDB reviews that was 10% of the CPU time. The cost: rare rows move less, so after
//! one epoch the perplexity is a little higher (5,000 IMDB reviews: 362 lazy, 352 dense, at
//! 84 s and 91 s of CPU; all 25,000: 230 and 210). `--dense-updates` steps every row.

use std::sync::atomic::{AtomicBool, Ordering};

use ndarray::s;
use rayon::prelude::*;

use super::checkpoint::{
    corpus_fingerprint, states_to_tensors, EpochStart, PretrainCheckpoint, PretrainResume,
    PRETRAIN_CHECKPOINT_FORMAT, PRETRAIN_CHECKPOINT_VERSION,
};
use super::corpus::{Corpus, Part};
use super::head::Candidates;
use super::info::{PretrainEpoch, StepLoss};
use super::model::{Chunk, Dropouts, LanguageModel, States};
use super::objective::{loss_and_grads, nll, Softmax};
use super::options::{PretrainConfig, SoftmaxKind};
use super::sampler::Sampler;
use super::stream::{Reversed, Rows, Source};
use crate::config::OptimizerKind;
use crate::error::Result;
use crate::model::params::Params;
use crate::optim::{clip_to_norm, reduce_shards, zero_grad_rows, Optimizer, Rows as OptimRows};
use crate::rng::Rng;

/// Rows per shard of a step.
pub const SHARD_ROWS: usize = 16;

/// Random streams of a pretraining run, by purpose.
mod streams {
    pub const INIT: u64 = 11;
    pub const DROPOUT: u64 = 12;
    pub const SAMPLES: u64 = 13;
}

/// A step's progress, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepProgress {
    pub epoch: usize,
    pub step: usize,
    pub steps: usize,
    /// Mean training loss of the epoch so far.
    pub loss: f64,
    /// Stream positions (per direction) trained on in this epoch so far.
    pub tokens: u64,
}

/// What a pretraining run reports as it goes.
pub trait PretrainObserver {
    fn step(&mut self, _progress: &StepProgress) {}
    fn epoch(&mut self, _record: &PretrainEpoch) {}
}

/// The outcome of [`pretrain`] run to its end.
#[derive(Clone, Debug)]
pub struct Pretrained {
    /// The best epoch's weights.
    pub model: LanguageModel<f32>,
    pub history: Vec<PretrainEpoch>,
    pub best_epoch: usize,
    pub stopped_early: bool,
    /// Sampled step losses (at most about [`STEP_LOSS_POINTS`]), for a report.
    pub step_losses: Vec<StepLoss>,
    /// What `--embeddings` gave the embedding, if given.
    pub vectors: Option<crate::training_info::PretrainedInfo>,
}

/// Step losses a run samples at most: every `ceil(steps / STEP_LOSS_POINTS)`-th step's.
pub const STEP_LOSS_POINTS: usize = 200;

/// How [`pretrain`] may be steered from outside: a flag that asks it to stop after the
/// current step (set from a signal handler), and a checkpoint to continue from.
#[derive(Default)]
pub struct PretrainControl<'a> {
    pub stop: Option<&'a AtomicBool>,
    pub resume: Option<PretrainResume>,
}

/// How [`pretrain`] ended.
#[derive(Debug)]
pub enum PretrainOutcome {
    Finished(Box<Pretrained>),
    /// Stopped on request after a whole step; the checkpoint continues it.
    Interrupted(Box<PretrainCheckpoint>),
}

/// What the epochs have kept so far: the history, the best score with its epoch and weights,
/// and the sampled step losses.
#[derive(Default)]
struct Record {
    history: Vec<PretrainEpoch>,
    best: Option<(f64, usize, Params<f32>)>,
    step_losses: Vec<StepLoss>,
}

impl Record {
    /// Records an epoch, keeping its weights when its score (validation perplexity, else
    /// training loss) is the best so far; returns whether `patience` epochs have passed
    /// without a better one (0: never).
    fn keep(&mut self, epoch: PretrainEpoch, params: &Params<f32>, patience: usize) -> bool {
        let (number, score) = (
            epoch.epoch,
            epoch.valid_perplexity.unwrap_or(epoch.train_loss),
        );
        self.history.push(epoch);
        if self.best.as_ref().is_none_or(|(b, _, _)| score < *b) {
            self.best = Some((score, number, params.clone()));
            return false;
        }
        patience > 0 && number - self.best.as_ref().map_or(0, |b| b.1) >= patience
    }
}

/// A fresh language model for `corpus`'s vocabulary: seeded weights, the rows word vectors
/// give (and what they gave), tied when asked.
fn new_model(
    config: &PretrainConfig,
    corpus: &Corpus,
) -> Result<(
    LanguageModel<f32>,
    Option<crate::training_info::PretrainedInfo>,
)> {
    let mut model = LanguageModel::<f32>::new(
        config.model_config(corpus.vocab.len()),
        config.embed_init,
        &mut Rng::stream(config.seed, streams::INIT),
    );
    let vectors = super::vectors::initialise(config, corpus, &mut model.params.embedding)?;
    if config.tie_weights {
        model = model.tie();
    }
    Ok((model, vectors))
}

/// Pretrains a new language model on `corpus`, from the start or from `control`'s checkpoint,
/// until the last epoch, early stopping, or `control`'s stop flag (then the result is a
/// checkpoint).
pub fn pretrain(
    config: &PretrainConfig,
    corpus: &Corpus,
    observer: &mut dyn PretrainObserver,
    control: PretrainControl<'_>,
) -> Result<PretrainOutcome> {
    let (mut model, vectors) = new_model(config, corpus)?;
    let mut optimizer = Optimizer::new(
        OptimizerKind::Adam,
        config.lr,
        0.0,
        config.weight_decay,
        &model.params,
    );
    let sampler = Sampler::new(config.proposal, &corpus.counts, config.samples);
    let (train, valid) = corpus.split(config.valid_split);
    let mut dropout_rng = Rng::stream(config.seed, streams::DROPOUT);
    let mut sample_rng = Rng::stream(config.seed, streams::SAMPLES);
    let mut shard_grads: Vec<Params<f32>> = shard_ranges(config.batch_size)
        .iter()
        .map(|_| model.zero_grads())
        .collect();
    let mut record = Record::default();
    let steps = Rows::new(train.len(), config.batch_size, config.bptt).chunks();
    let (mut first_epoch, mut start) = (1, None);
    if let Some(resume) = control.resume {
        let at = restore(
            resume,
            (config, corpus, steps),
            (&mut model, &mut optimizer),
            (&mut dropout_rng, &mut sample_rng),
            &mut record,
        )?;
        (first_epoch, start) = (at.0, Some(at.1));
    }
    let mut stopped_early = false;
    for epoch in first_epoch..=config.epochs {
        let mut run = EpochRun {
            config,
            sampler: &sampler,
            dropout_rng: &mut dropout_rng,
            sample_rng: &mut sample_rng,
            shard_grads: &mut shard_grads,
            stride: (config.epochs * steps).div_ceil(STEP_LOSS_POINTS).max(1),
            step_losses: &mut record.step_losses,
        };
        let from = start.take().unwrap_or_else(|| EpochStart {
            step: 0,
            states: model.zero_states(config.batch_size),
            total: 0.0,
            tokens: 0,
        });
        let train_loss = match run.train(
            &mut model,
            &mut optimizer,
            (train, epoch),
            from,
            observer,
            control.stop,
        )? {
            EpochEnd::Done(loss) => loss,
            EpochEnd::Stopped(at) => {
                let checkpoint = interrupted(
                    config,
                    corpus,
                    (&model, &optimizer),
                    (&dropout_rng, &sample_rng),
                    record,
                    (epoch, at),
                )?;
                return Ok(PretrainOutcome::Interrupted(Box::new(checkpoint)));
            }
        };
        let valid_perplexity = validate(&model, valid, config)?;
        let epoch_record = PretrainEpoch {
            epoch,
            train_loss,
            valid_perplexity,
            lr: optimizer.lr(),
        };
        observer.epoch(&epoch_record);
        if record.keep(epoch_record, &model.params, config.patience) {
            stopped_early = epoch < config.epochs;
            break;
        }
    }
    let (best_epoch, params) = match record.best {
        Some((_, epoch, params)) => (epoch, params),
        None => (0, model.params.clone()),
    };
    model.params = params;
    model.sync_tied();
    Ok(PretrainOutcome::Finished(Box::new(Pretrained {
        model,
        history: record.history,
        best_epoch,
        stopped_early,
        step_losses: record.step_losses,
        vectors,
    })))
}

/// The checkpoint of a run stopped in `epoch` at `at`.
fn interrupted(
    config: &PretrainConfig,
    corpus: &Corpus,
    (model, optimizer): (&LanguageModel<f32>, &Optimizer<f32>),
    (dropout_rng, sample_rng): (&Rng, &Rng),
    record: Record,
    (epoch, at): (usize, EpochStart),
) -> Result<PretrainCheckpoint> {
    let tensors = |p: &Params<f32>| p.tensors().into_iter().cloned().collect::<Vec<_>>();
    Ok(PretrainCheckpoint {
        format: PRETRAIN_CHECKPOINT_FORMAT.to_string(),
        version: PRETRAIN_CHECKPOINT_VERSION,
        options: config.clone(),
        corpus_fingerprint: corpus_fingerprint(corpus)?,
        epoch,
        step: at.step,
        params: tensors(&model.params),
        optimizer: optimizer.clone(),
        states: states_to_tensors(&at.states),
        dropout_rng: dropout_rng.state(),
        sample_rng: sample_rng.state(),
        history: record.history,
        best: record.best.map(|(score, e, p)| (score, e, tensors(&p))),
        partial: (at.total, at.tokens),
        step_losses: record.step_losses,
        invocation: None,
    })
}

/// How an epoch ended: done, with its mean loss, or stopped on request (where, and what it
/// had summed).
enum EpochEnd {
    Done(f64),
    Stopped(EpochStart),
}

/// Checks `resume`'s checkpoint against this run (options, corpus, shapes, `steps` per
/// epoch), then puts its weights, optimizer, random streams and records in place of the
/// fresh ones; returns the epoch to continue and where in it.
fn restore(
    resume: PretrainResume,
    (config, corpus, steps): (&PretrainConfig, &Corpus, usize),
    (model, optimizer): (&mut LanguageModel<f32>, &mut Optimizer<f32>),
    (dropout_rng, sample_rng): (&mut Rng, &mut Rng),
    record: &mut Record,
) -> Result<(usize, EpochStart)> {
    let zero = model.zero_states(config.batch_size);
    let c = resume.checkpoint;
    let at = c
        .check((config, corpus), &model.params, optimizer, (steps, &zero))
        .map_err(|message| crate::error::Error::Checkpoint {
            path: resume.path.clone(),
            message,
        })?;
    model.params = Params::from_tensors(c.params);
    *optimizer = c.optimizer;
    *dropout_rng = Rng::from_state(&c.dropout_rng).expect("checked");
    *sample_rng = Rng::from_state(&c.sample_rng).expect("checked");
    record.history = c.history;
    record.best = c
        .best
        .map(|(score, epoch, t)| (score, epoch, Params::from_tensors(t)));
    record.step_losses = c.step_losses;
    Ok((c.epoch, at))
}

/// The state one epoch of training needs.
struct EpochRun<'a> {
    config: &'a PretrainConfig,
    sampler: &'a Sampler,
    dropout_rng: &'a mut Rng,
    sample_rng: &'a mut Rng,
    /// One gradient buffer per shard, kept across steps: a step writes only the rows it
    /// touches and zeroes them after the update, so the (V, E) and (V, H) tables are neither
    /// allocated nor cleared whole each step.
    shard_grads: &'a mut [Params<f32>],
    /// Every `stride`-th step's loss goes to `step_losses`.
    stride: usize,
    step_losses: &'a mut Vec<StepLoss>,
}

impl EpochRun<'_> {
    /// One pass over the training part from `from`, until its end (then its mean loss) or
    /// until `stop` is set (then where it stopped).
    fn train(
        &mut self,
        model: &mut LanguageModel<f32>,
        optimizer: &mut Optimizer<f32>,
        (train, epoch): (Part<'_>, usize),
        from: EpochStart,
        observer: &mut dyn PretrainObserver,
        stop: Option<&AtomicBool>,
    ) -> Result<EpochEnd> {
        let c = self.config;
        let rows = Rows::new(train.len(), c.batch_size, c.bptt);
        let EpochStart {
            step: first,
            mut states,
            mut total,
            mut tokens,
        } = from;
        let steps = rows.chunks();
        for k in first..steps {
            let chunks = direction_chunks(&rows, k, train, model.config.directions())?;
            let candidates = match c.softmax {
                SoftmaxKind::Sampled => Some(Candidates::draw(self.sampler, self.sample_rng)),
                SoftmaxKind::Full => None,
            };
            let softmax = match &candidates {
                Some(candidates) => Softmax::Sampled {
                    sampler: self.sampler,
                    candidates,
                },
                None => Softmax::Full,
            };
            let (loss, next) = self.step_grads(model, &chunks, &states, softmax);
            states = next;
            let touched = Touched::of(&chunks, candidates.as_ref(), c.tie_weights);
            let rows = if c.dense_updates || (touched.decoder.is_none() && c.tie_weights) {
                OptimRows::All
            } else {
                touched.rows()
            };
            let norm = reduce_shards(self.shard_grads, rows);
            let grads = &mut self.shard_grads[0];
            if c.clip_norm > 0.0 {
                clip_to_norm(grads, norm, c.clip_norm, rows);
            }
            optimizer.step_rows(&mut model.params, grads, rows);
            zero_grad_rows(grads, rows);
            total += loss;
            tokens += chunks[0].inputs.len() as u64;
            let run_step = (epoch - 1) * steps + k + 1;
            if run_step.is_multiple_of(self.stride) {
                self.step_losses.push(StepLoss {
                    step: run_step,
                    loss,
                });
            }
            observer.step(&StepProgress {
                epoch,
                step: k + 1,
                steps,
                loss: total / (k + 1) as f64,
                tokens,
            });
            if stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
                return Ok(EpochEnd::Stopped(EpochStart {
                    step: k + 1,
                    states,
                    total,
                    tokens,
                }));
            }
        }
        Ok(EpochEnd::Done(total / steps.max(1) as f64))
    }

    /// The step's loss, its gradients added into the shard buffers, and the states to carry,
    /// shard by shard: each shard's dropout masks come from its own stream, drawn here in shard
    /// order, so the result does not depend on the threads.
    fn step_grads(
        &mut self,
        model: &LanguageModel<f32>,
        chunks: &[Chunk],
        states: &States<f32>,
        softmax: Softmax<'_>,
    ) -> (f64, States<f32>) {
        let c = self.config;
        let dropouts = Dropouts {
            embed: c.embed_dropout,
            hidden: c.dropout,
        };
        let positions: usize = chunks.iter().map(|ch| ch.inputs.len()).sum();
        let shards = shard_ranges(c.batch_size);
        debug_assert_eq!(shards.len(), self.shard_grads.len());
        let seeds: Vec<u64> = shards.iter().map(|_| self.dropout_rng.next_u64()).collect();
        let results: Vec<(f64, States<f32>)> = self
            .shard_grads
            .par_iter_mut()
            .zip(&shards)
            .zip(&seeds)
            .map(|((grads, &(a, b)), &seed)| {
                let shard_chunks: Vec<Chunk> = chunks
                    .iter()
                    .map(|ch| Chunk {
                        inputs: ch.inputs.slice(s![a..b, ..]).to_owned(),
                        targets: ch.targets.slice(s![a..b, ..]).to_owned(),
                    })
                    .collect();
                let shard_states = slice_states(states, a, b);
                let mut rng = Rng::new(seed);
                loss_and_grads(
                    model,
                    &shard_chunks,
                    &shard_states,
                    (softmax, positions),
                    Some((dropouts, &mut rng)),
                    grads,
                )
            })
            .collect();
        let loss = results.iter().map(|(l, _)| l).sum();
        let parts = results.into_iter().map(|(_, next)| next).collect();
        (loss, join_states(parts))
    }
}

/// The rows `a..b` of each shard of a batch of `batch_size` rows.
fn shard_ranges(batch_size: usize) -> Vec<(usize, usize)> {
    (0..batch_size)
        .step_by(SHARD_ROWS)
        .map(|start| (start, (start + SHARD_ROWS).min(batch_size)))
        .collect()
}

/// The rows of the embedding and the decoder a step's gradients can be non-zero in: its
/// input ids, and its targets and candidates (every decoder row under the full softmax). Tied,
/// the decoder's rows are the embedding's too.
struct Touched {
    embedding: Vec<u32>,
    /// `None`: every row.
    decoder: Option<Vec<u32>>,
}

impl Touched {
    fn of(chunks: &[Chunk], candidates: Option<&Candidates>, tied: bool) -> Self {
        let sorted = |ids: Vec<u32>| {
            let mut ids = ids;
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let inputs = chunks.iter().flat_map(|ch| ch.inputs.iter().copied());
        let mut embedding: Vec<u32> = inputs.filter(|&id| id != crate::text::PAD_ID).collect();
        let decoder = candidates.map(|cands| {
            let targets = chunks.iter().flat_map(|ch| ch.targets.iter().copied());
            sorted(targets.chain(cands.ids.iter().copied()).collect())
        });
        if let (true, Some(decoder)) = (tied, &decoder) {
            embedding.extend(decoder);
        }
        Self {
            embedding: sorted(embedding),
            decoder,
        }
    }

    fn rows(&self) -> OptimRows<'_> {
        match &self.decoder {
            Some(decoder) => OptimRows::Tables {
                embedding: &self.embedding,
                decoder,
            },
            None => OptimRows::Only(&self.embedding),
        }
    }
}

/// Chunk `k` of the part for each direction: the stream, then (bidirectional) the reversed
/// stream.
fn direction_chunks(rows: &Rows, k: usize, part: Part<'_>, dirs: usize) -> Result<Vec<Chunk>> {
    let mut chunks = vec![rows.chunk(k, &part)?];
    if dirs == 2 {
        chunks.push(rows.chunk(k, &Reversed(&part))?);
    }
    Ok(chunks)
}

/// Rows `a..b` of every state.
fn slice_states(states: &States<f32>, a: usize, b: usize) -> States<f32> {
    states
        .iter()
        .map(|d| {
            d.iter()
                .map(|st| crate::model::recurrent::State {
                    h: st.h.slice(s![a..b, ..]).to_owned(),
                    c: st.c.slice(s![a..b, ..]).to_owned(),
                })
                .collect()
        })
        .collect()
}

/// Shards' states stacked back into the step's rows, in shard order.
fn join_states(parts: Vec<States<f32>>) -> States<f32> {
    let first = &parts[0];
    (0..first.len())
        .map(|d| {
            (0..first[d].len())
                .map(|l| {
                    let hs: Vec<_> = parts.iter().map(|p| p[d][l].h.view()).collect();
                    let cs: Vec<_> = parts.iter().map(|p| p[d][l].c.view()).collect();
                    crate::model::recurrent::State {
                        h: ndarray::concatenate(ndarray::Axis(0), &hs).expect("same widths"),
                        c: ndarray::concatenate(ndarray::Axis(0), &cs).expect("same widths"),
                    }
                })
                .collect()
        })
        .collect()
}

/// Rows of the validation stream read side by side.
const VALID_ROWS: usize = 16;
/// Steps per validation chunk.
const VALID_BPTT: usize = 64;

/// Exact perplexity on the held-out part (`None` when it has no chunk).
fn validate(
    model: &LanguageModel<f32>,
    valid: Part<'_>,
    _config: &PretrainConfig,
) -> Result<Option<f64>> {
    let rows = Rows::new(valid.len(), VALID_ROWS, VALID_BPTT);
    if rows.chunks() == 0 {
        return Ok(None);
    }
    let dirs = model.config.directions();
    let mut states = model.zero_states(VALID_ROWS);
    let mut total = 0.0;
    for k in 0..rows.chunks() {
        let chunks = direction_chunks(&rows, k, valid, dirs)?;
        let (part, next) = nll(model, &chunks, &states);
        total += part;
        states = next;
    }
    let positions = rows.positions() * dirs as u64;
    Ok(Some(crate::kernels::float::Float::portable_exp(
        total / positions as f64,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tied_weights_step_the_embedding_rows_of_the_decoder_too() {
        let chunk = Chunk {
            inputs: ndarray::arr2(&[[4, 5], [0, 6]]),
            targets: ndarray::arr2(&[[5, 7], [6, 8]]),
        };
        let candidates = Candidates {
            ids: vec![9, 4],
            log_expected: vec![-1.0, -1.0],
        };
        let untied = Touched::of(std::slice::from_ref(&chunk), Some(&candidates), false);
        assert_eq!(untied.embedding, [4, 5, 6]);
        assert_eq!(untied.decoder.as_deref(), Some(&[4, 5, 6, 7, 8, 9][..]));
        let tied = Touched::of(std::slice::from_ref(&chunk), Some(&candidates), true);
        assert_eq!(tied.embedding, [4, 5, 6, 7, 8, 9]);
        assert_eq!(tied.decoder, untied.decoder);
    }
}
