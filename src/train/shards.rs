//! One shard of a batch: forward, loss and backward over at most [`super::SHARD_ROWS`] texts,
//! its gradients added into buffers of its own. Shards run in parallel and are summed in shard
//! order, so a step's result does not depend on how many threads ran them.

use crate::batch::Batch;
use crate::model::loss::bce_with_logits_scaled;
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
    /// 1 / batch rows: the shard's losses and gradients are parts of the batch mean.
    pub(super) scale: f32,
    pub(super) pos_weight: f32,
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
