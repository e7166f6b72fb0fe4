//! One step's loss and gradients: the mean cross-entropy over every predicted position of
//! every direction, `L = sum_d sum_i l_{d,i} / (D N)`, with the full or the sampled softmax.

use super::head::{self, Candidates, DecoderGrads};
use super::model::{Chunk, Dropouts, LanguageModel, States};
use super::sampler::Sampler;
use crate::kernels::float::Float;
use crate::model::params::Params;
use crate::rng::Rng;

/// Which softmax scores the targets.
#[derive(Clone, Copy, Debug)]
pub enum Softmax<'a> {
    /// Over the whole vocabulary.
    Full,
    /// Over each target and the step's drawn `candidates` (the same for every position and
    /// direction of the step).
    Sampled {
        sampler: &'a Sampler,
        candidates: &'a Candidates,
    },
}

/// Forward and backward over one chunk per direction from `states`: returns the loss summed
/// over the chunks' positions divided by `positions` (all positions of every direction: the
/// chunks' own for the mean `L`, or a whole step's when the chunks are one shard of its rows)
/// and the states to carry into the next chunk, and adds the gradients of that into `grads`.
pub fn loss_and_grads<F: Float>(
    model: &LanguageModel<F>,
    chunks: &[Chunk],
    states: &States<F>,
    (softmax, positions): (Softmax<'_>, usize),
    dropouts: Option<(Dropouts, &mut Rng)>,
    grads: &mut Params<F>,
) -> (f64, States<F>) {
    let (tops, cache, next) = model.forward(chunks, states, dropouts, true);
    let scale = F::of(1.0 / positions.max(1) as f64);
    let mut total = 0.0;
    let mut d_tops = Vec::with_capacity(tops.len());
    for (top, chunk) in tops.iter().zip(chunks) {
        let targets = chunk.packed_targets();
        let mut decoder_grads = DecoderGrads {
            weight: if model.tied {
                &mut grads.embedding
            } else {
                &mut grads.fc_weight
            },
            bias: &mut grads.fc_bias,
        };
        let (loss, d_top) = match softmax {
            Softmax::Full => head::full_softmax_loss(
                model.decoder(),
                top.view(),
                &targets,
                scale,
                &mut decoder_grads,
            ),
            Softmax::Sampled {
                sampler,
                candidates,
            } => {
                let log_expected: Vec<f64> =
                    targets.iter().map(|&y| sampler.log_expected(y)).collect();
                head::sampled_softmax_loss(
                    model.decoder(),
                    top.view(),
                    &targets,
                    &log_expected,
                    candidates,
                    scale,
                    &mut decoder_grads,
                )
            }
        };
        total += loss.to_f64_exact();
        d_tops.push(d_top);
    }
    model.backward(cache, d_tops, grads);
    (total, next)
}

/// The summed full-softmax negative log-likelihood of every position of every direction, at
/// evaluation (no dropout), and the states to carry: perplexity is `exp(nll / positions)`.
pub fn nll<F: Float>(
    model: &LanguageModel<F>,
    chunks: &[Chunk],
    states: &States<F>,
) -> (f64, States<F>) {
    let (tops, _, next) = model.forward(chunks, states, None, false);
    let total = tops
        .iter()
        .zip(chunks)
        .map(|(top, chunk)| {
            head::full_softmax_nll(model.decoder(), top.view(), &chunk.packed_targets())
        })
        .sum();
    (total, next)
}
