//! One shard of a batch: forward, loss and backward over at most [`super::SHARD_ROWS`] texts,
//! its gradients added into buffers of its own. Shards run in parallel and are summed in shard
//! order, so a step's result does not depend on how many threads ran them.

use crate::batch::Batch;
use crate::model::loss::Objective;
use crate::model::params::Params;
use crate::model::{Classifier, Mode};
use crate::rng::Rng;
use crate::row_grads::RowGrads;

/// What one shard's forward and backward report.
pub(super) struct ShardOutcome {
    /// Its part of the batch's mean loss.
    pub(super) loss: f64,
    pub(super) correct: usize,
    pub(super) tokens: usize,
}

/// The per-shard constants of a step.
pub(super) struct ShardSettings<'a> {
    /// 1 / the batch's [`Objective::denominator`] (its rows, or for weighted classes the
    /// summed weights of its rows' classes): the shard's losses and gradients are parts of
    /// the batch mean.
    pub(super) scale: f32,
    pub(super) objective: &'a Objective<f32>,
    /// (embedding dropout, dropout).
    pub(super) dropout: (f64, f64),
    pub(super) rng: &'a mut Rng,
}

/// Forward and backward of one shard; adds its gradients into `grads`, but with `embedding`
/// the embedding's gradient goes there instead (compact: the rows its texts use).
pub(super) fn shard_step(
    model: &Classifier<f32>,
    rows: &[usize],
    ids: &[Vec<u32>],
    labels: &[usize],
    grads: &mut Params<f32>,
    embedding: Option<&mut RowGrads<f32>>,
    settings: ShardSettings<'_>,
) -> ShardOutcome {
    let sequences: Vec<&[u32]> = rows.iter().map(|&i| ids[i].as_slice()).collect();
    let targets: Vec<usize> = rows.iter().map(|&i| labels[i]).collect();
    let batch = Batch::from_sequences(&sequences);
    let mode = Mode::Train {
        embed_dropout: settings.dropout.0,
        dropout: settings.dropout.1,
        rng: settings.rng,
    };
    let (logits, cache) = model.forward(&batch, mode);
    let objective = settings.objective;
    let (loss, d_logits) = objective.scaled(logits.view(), &targets, settings.scale);
    match embedding {
        Some(rows) => model.backward_rows(cache, d_logits.view(), grads, rows),
        None => model.backward(cache, d_logits.view(), grads),
    }
    ShardOutcome {
        loss: f64::from(loss),
        correct: logits
            .rows()
            .into_iter()
            .zip(&targets)
            .filter(|(z, &y)| objective.correct(z.view(), y))
            .count(),
        tokens: batch.tokens(),
    }
}
