//! The classifier: embedding -> recurrent cell -> last hidden state -> linear -> logit.
//!
//! ```text
//! x_t   = embedding[id_t]                    (E)
//! h_t   = cell(x_t, h_{t-1})                 (H), h_0 = 0 (and c_0 = 0)
//! logit = fc.weight . h_len + fc.bias        h_len = state after the row's last real token
//! p     = sigma(logit)
//! ```
//!
//! [`Classifier::forward`] returns a [`Cache`] that [`Classifier::backward`] consumes. Rows
//! are processed packed (see [`packing`]), so padding is never computed and never changes a
//! prediction. A row of length 0 (an empty text) has `h = 0`, so its logit is `fc.bias`.

pub mod gru;
pub mod loss;
pub mod lstm;
pub mod packing;
pub mod params;
pub mod recurrent;
pub mod rnn;

use ndarray::Array2;

use crate::batch::Batch;
use crate::config::{CellKind, ModelConfig};
use crate::float::{sigmoid, Float};
use crate::rng::Rng;
use packing::Packing;
use params::Params;
use recurrent::RecurrentCache;

/// A sentiment classifier: configuration and weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Classifier<F> {
    pub config: ModelConfig,
    pub params: Params<F>,
}

/// Everything forward computed that backward needs.
#[derive(Debug)]
pub struct Cache<F> {
    packing: Packing,
    /// (N) the token id at each packed position.
    ids: Vec<u32>,
    recurrent: RecurrentCache<F>,
    /// (B, H) last hidden state of each row.
    h_last: Array2<F>,
}

/// Runs `$body` with `$cell` bound to the marker type of `$kind`.
macro_rules! with_cell {
    ($kind:expr, $cell:ident => $body:expr) => {
        match $kind {
            CellKind::Rnn => {
                type $cell = rnn::Rnn;
                $body
            }
            CellKind::Lstm => {
                type $cell = lstm::Lstm;
                $body
            }
            CellKind::Gru => {
                type $cell = gru::Gru;
                $body
            }
        }
    };
}

impl<F: Float> Classifier<F> {
    /// A new model with PyTorch's initialisation (see [`Params::init`]).
    pub fn new(config: ModelConfig, rng: &mut Rng) -> Self {
        let params = Params::init(&config, rng);
        Self { config, params }
    }

    /// Logits `(B)` for a batch, and the cache for [`Classifier::backward`].
    pub fn forward(&self, batch: &Batch) -> (Vec<F>, Cache<F>) {
        let packing = Packing::new(&batch.lengths);
        let embed_dim = self.config.embed_dim;
        // Embedding lookup, packed: x (N, E).
        let ids: Vec<u32> = packing
            .positions()
            .map(|(row, t)| batch.ids[(row, t)])
            .collect();
        let table = &self.params.embedding.data;
        let mut x = Array2::<F>::zeros((packing.total, embed_dim));
        for (mut x_row, &id) in x.rows_mut().into_iter().zip(&ids) {
            let start = id as usize * embed_dim;
            debug_assert!(start < table.len(), "token id {id} outside the vocabulary");
            x_row
                .as_slice_mut()
                .expect("standard layout")
                .copy_from_slice(&table[start..start + embed_dim]);
        }

        let (h_last, recurrent) = with_cell!(self.config.cell, C => {
            recurrent::forward::<C, F>(&self.params.rnn, x, &packing)
        });

        // logit_b = fc.weight . h_b + fc.bias
        let w = self.params.fc_weight.vector();
        let b = self.params.fc_bias.data[0];
        let logits = h_last.rows().into_iter().map(|h| h.dot(&w) + b).collect();
        let cache = Cache {
            packing,
            ids,
            recurrent,
            h_last,
        };
        (logits, cache)
    }

    /// Probabilities `(B)` that each row is positive.
    pub fn predict_proba(&self, batch: &Batch) -> Vec<F> {
        self.forward(batch).0.into_iter().map(sigmoid).collect()
    }

    /// Adds dL/d(params) into `grads`, given dL/d(logit) for each row.
    pub fn backward(&self, cache: Cache<F>, d_logits: &[F], grads: &mut Params<F>) {
        let hidden = self.config.hidden_dim;
        debug_assert_eq!(d_logits.len(), cache.h_last.nrows());
        // Head: d fc.weight = sum_b dz_b h_b, d fc.bias = sum_b dz_b, dh_b = dz_b fc.weight.
        let w = self.params.fc_weight.vector();
        let mut d_h_last = Array2::<F>::zeros((d_logits.len(), hidden));
        for ((&dz, h), mut dh) in d_logits
            .iter()
            .zip(cache.h_last.rows())
            .zip(d_h_last.rows_mut())
        {
            grads.fc_weight.vector_mut().scaled_add(dz, &h);
            grads.fc_bias.data[0] = grads.fc_bias.data[0] + dz;
            dh.assign(&(&w * dz));
        }

        let d_x = with_cell!(self.config.cell, C => {
            recurrent::backward::<C, F>(
                &self.params.rnn,
                &cache.recurrent,
                &cache.packing,
                d_h_last.view(),
                &mut grads.rnn,
            )
        });

        // Embedding: scatter-add each packed row's gradient to its token's row. The <pad> row
        // never receives gradient (PyTorch's padding_idx=0).
        let embed_dim = self.config.embed_dim;
        let table = &mut grads.embedding.data;
        for (d_row, &id) in d_x.rows().into_iter().zip(&cache.ids) {
            if id == crate::text::PAD_ID {
                continue;
            }
            let start = id as usize * embed_dim;
            for (g, &d) in table[start..start + embed_dim].iter_mut().zip(d_row) {
                *g = *g + d;
            }
        }
    }

    /// Converts the weights to another float type (f32 <-> f64).
    pub fn cast<G: Float>(&self) -> Classifier<G> {
        Classifier {
            config: self.config.clone(),
            params: self.params.cast(),
        }
    }
}
