//! Pretraining: epochs of truncated BPTT over a corpus's training part, Adam, gradient
//! clipping, validation perplexity (exact, full softmax) on the held-out part after each epoch,
//! and early stopping on it; the best epoch's weights are kept.
//!
//! A step reads one chunk of the stream per direction (the reverse direction reads the
//! reversed stream) and cuts its B rows into shards of [`SHARD_ROWS`] rows, run side by side;
//! their gradients are summed in shard order. The shard size is fixed, not the thread count,
//! so the model is the same for any `--threads`.

use ndarray::s;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::corpus::{Corpus, Part};
use super::head::Candidates;
use super::model::{Chunk, Dropouts, LanguageModel, States};
use super::objective::{loss_and_grads, nll, Softmax};
use super::sampler::{Proposal, Sampler};
use super::stream::{Reversed, Rows, Source};
use crate::config::{CellKind, ModelConfig, OptimizerKind};
use crate::error::Result;
use crate::model::params::Params;
use crate::optim::clip_grad_norm;
use crate::optim::Optimizer;
use crate::rng::Rng;
use crate::text::TokenizerConfig;

/// Rows per shard of a step.
pub const SHARD_ROWS: usize = 16;

/// Random streams of a pretraining run, by purpose.
mod streams {
    pub const INIT: u64 = 11;
    pub const DROPOUT: u64 = 12;
    pub const SAMPLES: u64 = 13;
}

/// Which softmax trains the decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SoftmaxKind {
    /// Over the target and `samples` drawn ids (fast for large vocabularies).
    Sampled,
    /// Over the whole vocabulary (exact; for small vocabularies).
    Full,
}

/// Every option of `pretrain`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainConfig {
    pub cell: CellKind,
    pub embed_dim: usize,
    pub hidden_dim: usize,
    pub layers: usize,
    pub bidirectional: bool,
    pub forget_bias: Option<f64>,
    pub embed_init: f64,
    pub embed_dropout: f64,
    /// Between layers and before the decoder.
    pub dropout: f64,
    pub tokenizer: TokenizerConfig,
    pub min_count: usize,
    pub max_vocab: usize,
    /// T: steps of backpropagation through time per chunk.
    pub bptt: usize,
    /// B: rows of the stream read side by side.
    pub batch_size: usize,
    pub softmax: SoftmaxKind,
    /// S: candidates drawn per step for the sampled softmax.
    pub samples: usize,
    pub proposal: Proposal,
    pub lr: f64,
    pub weight_decay: f64,
    pub clip_norm: f64,
    pub epochs: usize,
    pub patience: usize,
    /// Fraction of the corpus's stream (its end) held out for validation perplexity.
    pub valid_split: f64,
    pub seed: u64,
    /// Word vectors (`--embeddings`, the text format `train` reads) for the embedding rows of
    /// the words they have; not written when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embeddings: Option<std::path::PathBuf>,
}

impl Default for PretrainConfig {
    fn default() -> Self {
        let train = crate::config::TrainConfig::default();
        Self {
            cell: train.cell,
            embed_dim: train.embed_dim,
            hidden_dim: train.hidden_dim,
            layers: train.layers,
            bidirectional: train.bidirectional,
            forget_bias: train.forget_bias,
            embed_init: train.embed_init,
            embed_dropout: 0.1,
            dropout: 0.2,
            tokenizer: train.tokenizer,
            min_count: train.min_count,
            max_vocab: train.max_vocab,
            bptt: 35,
            batch_size: 32,
            softmax: SoftmaxKind::Sampled,
            samples: 512,
            proposal: Proposal::Unigram,
            lr: train.lr,
            weight_decay: 0.0,
            clip_norm: train.clip_norm,
            epochs: 1,
            patience: 2,
            valid_split: 0.02,
            seed: train.seed,
            embeddings: None,
        }
    }
}

impl PretrainConfig {
    /// The network's configuration for a vocabulary of `vocab_size` entries: the classifier's
    /// fields, which `train --init` takes over.
    pub fn model_config(&self, vocab_size: usize) -> ModelConfig {
        crate::config::TrainConfig {
            cell: self.cell,
            embed_dim: self.embed_dim,
            hidden_dim: self.hidden_dim,
            layers: self.layers,
            bidirectional: self.bidirectional,
            forget_bias: self.forget_bias,
            ..crate::config::TrainConfig::default()
        }
        .model_config(vocab_size)
    }
}

/// One epoch of pretraining, as recorded in the model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PretrainEpoch {
    pub epoch: usize,
    /// Mean training loss (of the training softmax: sampled or full).
    pub train_loss: f64,
    /// Validation perplexity, exact (full softmax); `None` without validation positions.
    pub valid_perplexity: Option<f64>,
    pub lr: f64,
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

/// The outcome of [`pretrain`].
#[derive(Clone, Debug)]
pub struct Pretrained {
    /// The best epoch's weights.
    pub model: LanguageModel<f32>,
    pub history: Vec<PretrainEpoch>,
    pub best_epoch: usize,
    pub stopped_early: bool,
    /// What `--embeddings` gave the embedding, if given.
    pub vectors: Option<crate::training_info::PretrainedInfo>,
}

/// Pretrains a new language model on `corpus`.
pub fn pretrain(
    config: &PretrainConfig,
    corpus: &Corpus,
    observer: &mut dyn PretrainObserver,
) -> Result<Pretrained> {
    let model_config = config.model_config(corpus.vocab.len());
    let mut model = LanguageModel::<f32>::new(
        model_config,
        config.embed_init,
        &mut Rng::stream(config.seed, streams::INIT),
    );
    let vectors = super::vectors::initialise(config, corpus, &mut model.params.embedding)?;
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
    let mut history = Vec::new();
    let mut best: Option<(f64, usize, Params<f32>)> = None;
    let mut stopped_early = false;
    for epoch in 1..=config.epochs {
        let mut run = EpochRun {
            config,
            sampler: &sampler,
            dropout_rng: &mut dropout_rng,
            sample_rng: &mut sample_rng,
        };
        let train_loss = run.train(&mut model, &mut optimizer, train, epoch, observer)?;
        let valid_perplexity = validate(&model, valid, config)?;
        let record = PretrainEpoch {
            epoch,
            train_loss,
            valid_perplexity,
            lr: optimizer.lr(),
        };
        observer.epoch(&record);
        history.push(record);
        let score = valid_perplexity.unwrap_or(train_loss);
        if best.as_ref().is_none_or(|(b, _, _)| score < *b) {
            best = Some((score, epoch, model.params.clone()));
        } else if config.patience > 0 && epoch - best.as_ref().map_or(0, |b| b.1) >= config.patience
        {
            stopped_early = epoch < config.epochs;
            break;
        }
    }
    let (best_epoch, params) = match best {
        Some((_, epoch, params)) => (epoch, params),
        None => (0, model.params.clone()),
    };
    model.params = params;
    Ok(Pretrained {
        model,
        history,
        best_epoch,
        stopped_early,
        vectors,
    })
}

/// The state one epoch of training needs.
struct EpochRun<'a> {
    config: &'a PretrainConfig,
    sampler: &'a Sampler,
    dropout_rng: &'a mut Rng,
    sample_rng: &'a mut Rng,
}

impl EpochRun<'_> {
    /// One pass over the training part; returns its mean loss.
    fn train(
        &mut self,
        model: &mut LanguageModel<f32>,
        optimizer: &mut Optimizer<f32>,
        train: Part<'_>,
        epoch: usize,
        observer: &mut dyn PretrainObserver,
    ) -> Result<f64> {
        let c = self.config;
        let rows = Rows::new(train.len(), c.batch_size, c.bptt);
        let mut states = model.zero_states(c.batch_size);
        let (mut total, mut tokens) = (0.0, 0u64);
        let steps = rows.chunks();
        for k in 0..steps {
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
            let (loss, grads, next) = self.step_grads(model, &chunks, &states, softmax);
            states = next;
            let mut grads = grads;
            if c.clip_norm > 0.0 {
                clip_grad_norm(&mut grads, c.clip_norm);
            }
            optimizer.step(&mut model.params, &grads);
            total += loss;
            tokens += chunks[0].inputs.len() as u64;
            observer.step(&StepProgress {
                epoch,
                step: k + 1,
                steps,
                loss: total / (k + 1) as f64,
                tokens,
            });
        }
        Ok(total / steps.max(1) as f64)
    }

    /// The step's loss and gradients, shard by shard: each shard's dropout masks come from its
    /// own stream, drawn here in shard order, so the result does not depend on the threads.
    fn step_grads(
        &mut self,
        model: &LanguageModel<f32>,
        chunks: &[Chunk],
        states: &States<f32>,
        softmax: Softmax<'_>,
    ) -> (f64, Params<f32>, States<f32>) {
        let c = self.config;
        let dropouts = Dropouts {
            embed: c.embed_dropout,
            hidden: c.dropout,
        };
        let positions: usize = chunks.iter().map(|ch| ch.inputs.len()).sum();
        let shards: Vec<(usize, usize)> = (0..c.batch_size)
            .step_by(SHARD_ROWS)
            .map(|start| (start, (start + SHARD_ROWS).min(c.batch_size)))
            .collect();
        let seeds: Vec<u64> = shards.iter().map(|_| self.dropout_rng.next_u64()).collect();
        let results: Vec<(f64, Params<f32>, States<f32>)> = shards
            .par_iter()
            .zip(&seeds)
            .map(|(&(a, b), &seed)| {
                let shard_chunks: Vec<Chunk> = chunks
                    .iter()
                    .map(|ch| Chunk {
                        inputs: ch.inputs.slice(s![a..b, ..]).to_owned(),
                        targets: ch.targets.slice(s![a..b, ..]).to_owned(),
                    })
                    .collect();
                let shard_states = slice_states(states, a, b);
                let mut rng = Rng::new(seed);
                let mut grads = model.zero_grads();
                let (loss, next) = loss_and_grads(
                    model,
                    &shard_chunks,
                    &shard_states,
                    (softmax, positions),
                    Some((dropouts, &mut rng)),
                    &mut grads,
                );
                (loss, grads, next)
            })
            .collect();
        let mut results = results.into_iter();
        let (mut loss, mut grads, first) = results.next().expect("at least one shard");
        let mut parts = vec![first];
        for (l, g, next) in results {
            loss += l;
            grads.add_assign(&g);
            parts.push(next);
        }
        (loss, grads, join_states(parts))
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
