//! The classifier: embedding -> L recurrent layers (each in D directions) -> pooling over
//! time -> linear -> K logits.
//!
//! ```text
//! x_t   = embedding[id_t]                          (E)
//! o^k_t = [cell_fwd(o^{k-1}_t, .), cell_rev(.)]    (D*H), o^0 = x, h_0 = 0 (and c_0 = 0)
//! v     = pool(o^L_1 .. o^L_len)                   (P), see [`pooling`]
//! z     = fc.weight v + fc.bias                    (K)
//! p     = sigma(z)  (binary, K = 1)  |  softmax(z)  (K classes)
//! ```
//!
//! Logits are always `(B, K)`, with K = [`ModelConfig::outputs`]: 1 for a binary model, whose
//! one logit per row is computed exactly as before K classes existed.
//!
//! In training, dropout (see [`dropout`]) applies to the embeddings, to the input of every
//! layer above the first, and to the pooled vector; at evaluation it is off.
//!
//! [`Classifier::forward`] returns a [`Cache`] that [`Classifier::backward`] consumes. Rows
//! are processed packed (see [`packing`]), so padding is never computed and never changes a
//! prediction. A row of length 0 (an empty text) pools to zeros, so its logit is `fc.bias`.

pub mod dropout;
pub mod gru;
pub mod loss;
pub mod lstm;
pub mod packing;
pub mod params;
pub mod pooling;
pub mod recurrent;
pub mod rnn;

use ndarray::{s, Array2, ArrayView2};
use rayon::prelude::*;

use crate::batch::Batch;
use crate::config::ModelConfig;
use crate::kernels::float::{sigmoid, softmax_in_place, Float};
use crate::kernels::linalg::{recycle, scatter_add_rows, stack_rows};
use crate::rng::Rng;
use crate::row_grads::RowGrads;
use packing::Packing;
use params::Params;
use recurrent::{Input, RecurrentCache};

/// A sentiment classifier: configuration and weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Classifier<F> {
    pub config: ModelConfig,
    pub params: Params<F>,
}

/// Evaluation, or training with dropout masks drawn from `rng`.
pub enum Mode<'a> {
    Eval,
    Train {
        /// Dropout on the embeddings.
        embed_dropout: f64,
        /// Dropout between layers and before the head.
        dropout: f64,
        rng: &'a mut Rng,
    },
}

/// One layer-direction's forward state.
#[derive(Debug)]
struct DirectionCache<F> {
    recurrent: RecurrentCache<F>,
}

/// Everything forward computed that backward needs.
#[derive(Debug)]
pub struct Cache<F> {
    packing: Packing,
    /// (N) the token id at each packed position.
    ids: Vec<u32>,
    /// `reversed()` of the packing, when the model is bidirectional.
    reverse: Vec<usize>,
    /// Per layer: the dropout mask applied to its input (N, I), if any.
    input_masks: Vec<Option<Array2<F>>>,
    /// Per layer and direction (index k * D + d).
    directions: Vec<DirectionCache<F>>,
    pool: pooling::PoolCache,
    /// (B, P) the pooled vectors after dropout, as the head saw them.
    pooled: Array2<F>,
    /// (B, P) the head's dropout mask, if any.
    head_mask: Option<Array2<F>>,
}

/// The first layer's input projections `W_ih e_v + b_ih` of a set of token ids, one table
/// per direction: inference on many texts projects each distinct token once instead of at
/// every occurrence, which removes about half of a one-layer model's arithmetic.
///
/// Rows are computed by [`recurrent::project`], whose rows do not depend on their
/// batch-mates, so logits from the tables are bit for bit those of [`Classifier::logits`].
#[derive(Debug)]
pub struct TokenProjections<F> {
    /// Per vocabulary id: its row in the tables, or [`TokenProjections::ABSENT`].
    row_of: Vec<u32>,
    /// Per direction: (U, G*H) for the U ids.
    tables: Vec<Array2<F>>,
}

impl<F> TokenProjections<F> {
    const ABSENT: u32 = u32::MAX;

    /// Whether every id of `ids` has a row.
    pub fn covers(&self, ids: &[u32]) -> bool {
        ids.iter().all(|&id| {
            self.row_of
                .get(id as usize)
                .is_some_and(|&r| r != Self::ABSENT)
        })
    }
}

impl<F: Float> TokenProjections<F> {
    /// The rows of `ids` in direction `direction`'s table: `(len, G*H)`.
    fn gather(&self, direction: usize, ids: impl ExactSizeIterator<Item = u32>) -> Array2<F> {
        let table = &self.tables[direction];
        let (width, data) = (table.ncols(), table.as_slice().expect("standard layout"));
        let rows = ids.map(|id| {
            let r = self.row_of[id as usize] as usize;
            &data[r * width..(r + 1) * width]
        });
        stack_rows(rows.len(), width, rows)
    }
}

/// Runs `$body` with `$cell` bound to the marker type of `$kind`.
macro_rules! with_cell {
    ($kind:expr, $cell:ident => $body:expr) => {
        match $kind {
            $crate::config::CellKind::Rnn => {
                type $cell = $crate::model::rnn::Rnn;
                $body
            }
            $crate::config::CellKind::Lstm => {
                type $cell = $crate::model::lstm::Lstm;
                $body
            }
            $crate::config::CellKind::Gru => {
                type $cell = $crate::model::gru::Gru;
                $body
            }
        }
    };
}
pub(crate) use with_cell;

/// `out[k] = x[index[k]]` for rows.
fn gather_rows<F: Float>(x: &Array2<F>, index: &[usize]) -> Array2<F> {
    let mut out = Array2::<F>::zeros((index.len(), x.ncols()));
    for (mut o, &i) in out.rows_mut().into_iter().zip(index) {
        o.assign(&x.row(i));
    }
    out
}

impl<F: Float> Classifier<F> {
    /// A new model with PyTorch's initialisation (see [`Params::init`]).
    pub fn new(config: ModelConfig, rng: &mut Rng) -> Self {
        let params = Params::init(&config, rng);
        Self { config, params }
    }

    fn cell(&self, layer: usize, direction: usize) -> &params::CellParams<F> {
        &self.params.rnn[layer * self.config.directions() + direction]
    }

    /// Logits `(B, K)` for a batch, and the cache for [`Classifier::backward`].
    pub fn forward(&self, batch: &Batch, mode: Mode<'_>) -> (Array2<F>, Cache<F>) {
        self.run(batch, mode, true)
    }

    /// Logits `(B, K)` for a batch at evaluation, without keeping what backward would need:
    /// the same numbers as `forward(batch, Mode::Eval)`, in less memory and time.
    pub fn logits(&self, batch: &Batch) -> Array2<F> {
        self.run(batch, Mode::Eval, false).0
    }

    /// The first layer's input projections of the distinct ids `ids` (each below the
    /// vocabulary size), for [`Classifier::logits_projected`]. Rows are computed in parallel
    /// chunks, which changes no bit (see [`TokenProjections`]).
    pub fn project_tokens(&self, ids: &[u32]) -> TokenProjections<F> {
        /// Rows per parallel chunk: enough for the row kernel's tiles, few enough to share out.
        const CHUNK: usize = 256;
        let config = &self.config;
        let mut row_of = vec![TokenProjections::<F>::ABSENT; config.vocab_size];
        for (r, &id) in ids.iter().enumerate() {
            debug_assert_eq!(
                row_of[id as usize],
                TokenProjections::<F>::ABSENT,
                "distinct"
            );
            row_of[id as usize] = u32::try_from(r).expect("fewer ids than u32::MAX");
        }
        let tables = (0..config.directions())
            .map(|direction| {
                let p = self.cell(0, direction);
                let gh = p.w_ih.shape[0];
                let mut table = Array2::<F>::zeros((ids.len(), gh));
                // Each chunk's scratch arrays are taken and recycled on the same worker, so
                // they stay in that thread's spare buffers (see `kernels::linalg::zeros`).
                table
                    .as_slice_mut()
                    .expect("standard layout")
                    .par_chunks_mut(CHUNK * gh)
                    .zip(ids.par_chunks(CHUNK))
                    .for_each(|(out, chunk)| {
                        let x = self.embed(chunk);
                        let xw = recurrent::project(p, x.view());
                        out.copy_from_slice(xw.as_slice().expect("standard layout"));
                        recycle(x);
                        recycle(xw);
                    });
                table
            })
            .collect();
        TokenProjections { row_of, tables }
    }

    /// [`Classifier::logits`] with the first layer's input projections looked up in
    /// `projections`, which must cover every id of the batch: the same bits, less work.
    pub fn logits_projected(&self, batch: &Batch, projections: &TokenProjections<F>) -> Array2<F> {
        self.forward_pass(batch, Mode::Eval, false, Some(projections))
            .0
    }

    /// The embedding rows of `ids`: `(len, E)`.
    fn embed(&self, ids: &[u32]) -> Array2<F> {
        self.params.embedding.gather_rows(ids)
    }

    /// Forward; `keep` says whether to keep the per-token state for backward.
    fn run(&self, batch: &Batch, mode: Mode<'_>, keep: bool) -> (Array2<F>, Cache<F>) {
        self.forward_pass(batch, mode, keep, None)
    }

    /// Forward; with `projections` the first layer starts from them instead of the
    /// embeddings (evaluation only).
    ///
    /// Longer than the 100-line guide, on purpose: it is the one place where layers, directions,
    /// dropout and pooling meet, in the order the data flows; its buffers are reused across
    /// layers (no copy of a layer's input, see docs/performance.md), which splitting it would
    /// have to thread through several functions.
    fn forward_pass(
        &self,
        batch: &Batch,
        mode: Mode<'_>,
        keep: bool,
        projections: Option<&TokenProjections<F>>,
    ) -> (Array2<F>, Cache<F>) {
        let packing = Packing::new(&batch.lengths);
        let config = &self.config;
        let (embed_dim, hidden, dirs) = (config.embed_dim, config.hidden_dim, config.directions());
        let (embed_dropout, dropout, mut rng) = match mode {
            Mode::Eval => (0.0, 0.0, None),
            Mode::Train {
                embed_dropout,
                dropout,
                rng,
            } => (embed_dropout, dropout, Some(rng)),
        };
        let eval = rng.is_none();
        let mut draw_mask = |rows: usize, cols: usize, p: f64| match rng.as_deref_mut() {
            Some(rng) if p > 0.0 => Some(dropout::mask::<F>(rows, cols, p, rng)),
            _ => None,
        };

        // Embedding lookup, packed: x (N, E).
        let ids: Vec<u32> = packing
            .positions()
            .map(|(row, t)| batch.ids[(row, t)])
            .collect();
        let reverse = if dirs == 2 {
            packing.reversed()
        } else {
            Vec::new()
        };
        // x (N, E), or nothing when the first layer starts from looked-up projections.
        let mut input = match projections {
            None => self.embed(&ids),
            Some(_) => Array2::zeros((0, embed_dim)),
        };
        if let Some(proj) = projections {
            assert!(eval && !keep, "projections are for inference");
            debug_assert!(proj.covers(&ids), "projections miss an id of the batch");
        }
        let mut input_masks = Vec::with_capacity(config.layers);
        let mut directions = Vec::with_capacity(config.layers * dirs);
        for layer in 0..config.layers {
            let p = if layer == 0 { embed_dropout } else { dropout };
            let mask = draw_mask(input.nrows(), input.ncols(), p);
            if let Some(m) = &mask {
                input *= m;
            }
            input_masks.push(mask);
            // The two directions are independent: run them side by side (rayon::join), which
            // changes no number, only the wall clock of a bidirectional layer. The forward
            // direction takes the layer's input itself; the reverse one a reordered copy.
            let run = |direction: usize, x: Input<F>| {
                let (h_all, recurrent) = with_cell!(config.cell, C => {
                    recurrent::forward::<C, F>(self.cell(layer, direction), x, &packing, keep)
                });
                let h_all = if direction == 0 {
                    h_all
                } else {
                    gather_rows(&h_all, &reverse)
                };
                (h_all, DirectionCache { recurrent })
            };
            let inputs: Vec<Input<F>> = match projections {
                // The first layer's projected inputs (N, G*H), in each direction's order.
                Some(proj) if layer == 0 => std::iter::once(proj.gather(0, ids.iter().copied()))
                    .chain((dirs == 2).then(|| proj.gather(1, reverse.iter().map(|&k| ids[k]))))
                    .map(Input::Projected)
                    .collect(),
                _ => {
                    let reversed = (dirs == 2).then(|| gather_rows(&input, &reverse));
                    let forward_input = std::mem::replace(&mut input, Array2::zeros((0, 0)));
                    std::iter::once(forward_input)
                        .chain(reversed)
                        .map(Input::Raw)
                        .collect()
                }
            };
            let mut inputs = inputs.into_iter();
            let forward_input = inputs.next().expect("the forward direction");
            let results = match inputs.next() {
                Some(reversed) => {
                    let (forward, backward) =
                        rayon::join(|| run(0, forward_input), || run(1, reversed));
                    vec![forward, backward]
                }
                None => vec![run(0, forward_input)],
            };
            input = if dirs == 1 {
                // One direction: its states are the layer's output as they are.
                let (h_all, cache) = results.into_iter().next().expect("one direction");
                directions.push(cache);
                h_all
            } else {
                let mut output = Array2::<F>::zeros((packing.total, dirs * hidden));
                for (direction, (h_all, cache)) in results.into_iter().enumerate() {
                    output
                        .slice_mut(s![.., direction * hidden..(direction + 1) * hidden])
                        .assign(&h_all);
                    directions.push(cache);
                }
                output
            };
        }

        let (mut pooled, pool) = pooling::forward(config.pooling, input.view(), &packing, hidden);
        let head_mask = draw_mask(pooled.nrows(), pooled.ncols(), dropout);
        if let Some(m) = &head_mask {
            pooled *= m;
        }
        let logits = self.head_forward(pooled.view());
        let cache = Cache {
            packing,
            ids,
            reverse,
            input_masks,
            directions,
            pool,
            pooled,
            head_mask,
        };
        (logits, cache)
    }

    /// The head: `z_b = fc.weight v_b + fc.bias`, (B, P) -> (B, K). Each logit is one dot
    /// product of its row, so rows never depend on their batch-mates.
    fn head_forward(&self, pooled: ArrayView2<'_, F>) -> Array2<F> {
        let w = self.params.fc_weight.matrix(); // (K, P)
        let b = &self.params.fc_bias.data; // (K)
        debug_assert_eq!(w.dim(), (self.config.outputs(), pooled.ncols()));
        let mut logits = Array2::<F>::zeros((pooled.nrows(), w.nrows()));
        for (v, mut z) in pooled.rows().into_iter().zip(logits.rows_mut()) {
            // z_bk = fc.weight[k] . v_b + fc.bias[k]
            for ((z_k, w_k), &b_k) in z.iter_mut().zip(w.rows()).zip(b) {
                *z_k = v.dot(&w_k) + b_k;
            }
        }
        logits
    }

    /// Probabilities `(B, K)` at evaluation: `sigma(z)` of the one logit of a binary model
    /// (that the row is positive), `softmax(z)` of a K-class model's logits.
    pub fn predict_proba(&self, batch: &Batch) -> Array2<F> {
        let mut p = self.logits(batch);
        if self.config.is_binary() {
            p.mapv_inplace(sigmoid);
        } else {
            for mut row in p.rows_mut() {
                softmax_in_place(row.as_slice_mut().expect("standard layout"));
            }
        }
        p
    }

    /// Adds dL/d(params) into `grads`, given dL/d(logits) `(B, K)`.
    pub fn backward(&self, cache: Cache<F>, d_logits: ArrayView2<'_, F>, grads: &mut Params<F>) {
        let (d_embedded, ids) = self.backward_to_embedding(cache, d_logits, grads);
        // Embedding: scatter-add each packed row's gradient to its token's row. The <pad> row
        // never receives gradient (PyTorch's padding_idx=0).
        scatter_add_rows(
            &mut grads.embedding.data,
            d_embedded.view(),
            &ids,
            crate::text::PAD_ID,
        );
    }

    /// [`Self::backward`] with the embedding's gradient written to `embedding` (replacing what
    /// it held) instead of added into `grads.embedding`, which is left as it was: the rows
    /// of the batch's tokens only, as sparse training steps them.
    pub fn backward_rows(
        &self,
        cache: Cache<F>,
        d_logits: ArrayView2<'_, F>,
        grads: &mut Params<F>,
        embedding: &mut RowGrads<F>,
    ) {
        let (d_embedded, ids) = self.backward_to_embedding(cache, d_logits, grads);
        embedding.gather(&ids, d_embedded.view(), crate::text::PAD_ID);
    }

    /// Adds the gradients of every tensor but the embedding into `grads`; returns dL/dx of
    /// the looked-up embeddings, `(N, E)` in packed order, and the token id of each row.
    fn backward_to_embedding(
        &self,
        cache: Cache<F>,
        d_logits: ArrayView2<'_, F>,
        grads: &mut Params<F>,
    ) -> (Array2<F>, Vec<u32>) {
        let config = &self.config;
        let (hidden, dirs) = (config.hidden_dim, config.directions());
        let mut d_pooled = self.head_backward(cache.pooled.view(), d_logits, grads);
        if let Some(m) = &cache.head_mask {
            d_pooled *= m;
        }
        let mut d_output = pooling::backward(
            config.pooling,
            d_pooled.view(),
            &cache.pool,
            &cache.packing,
            dirs * hidden,
            hidden,
        );

        for layer in (0..config.layers).rev() {
            // Each direction has its own gradient tensors, so the two run side by side.
            let cells = &mut grads.rnn[layer * dirs..(layer + 1) * dirs];
            let run = |direction: usize, grads: &mut params::CellParams<F>| {
                let d_h = d_output.slice(s![.., direction * hidden..(direction + 1) * hidden]);
                let d_h = if direction == 0 {
                    d_h.to_owned()
                } else {
                    gather_rows(&d_h.to_owned(), &cache.reverse)
                };
                let d_x = with_cell!(config.cell, C => {
                    recurrent::backward::<C, F>(
                        self.cell(layer, direction),
                        &cache.directions[layer * dirs + direction].recurrent,
                        &cache.packing,
                        d_h.view(),
                        grads,
                    )
                });
                if direction == 0 {
                    d_x
                } else {
                    gather_rows(&d_x, &cache.reverse)
                }
            };
            let d_input = match cells {
                [forward] => run(0, forward),
                [forward, reverse] => {
                    let (mut d_f, d_r) = rayon::join(|| run(0, forward), || run(1, reverse));
                    // Summed in direction order, whichever thread finished first.
                    d_f += &d_r;
                    d_f
                }
                _ => unreachable!("one or two directions"),
            };
            let mut d_in = d_input;
            if let Some(m) = &cache.input_masks[layer] {
                d_in *= m;
            }
            d_output = d_in;
        }

        (d_output, cache.ids)
    }

    /// The head's backward: adds `d fc.weight = sum_b dz_b v_b^T` (K, P) and
    /// `d fc.bias = sum_b dz_b` (K) into `grads`; returns `dv_b = sum_k dz_bk fc.weight[k]`
    /// (B, P). The first class's term is assigned, not added to zero, so a binary model's
    /// numbers (signs of zero included) are those of the one-logit head it replaced.
    fn head_backward(
        &self,
        pooled: ArrayView2<'_, F>,
        d_logits: ArrayView2<'_, F>,
        grads: &mut Params<F>,
    ) -> Array2<F> {
        let w = self.params.fc_weight.matrix(); // (K, P)
        debug_assert_eq!(d_logits.dim(), (pooled.nrows(), w.nrows()));
        let mut d_pooled = Array2::<F>::zeros(pooled.dim());
        let mut d_w = grads.fc_weight.matrix_mut();
        let d_b = &mut grads.fc_bias.data;
        for ((dz, v), mut dv) in d_logits
            .rows()
            .into_iter()
            .zip(pooled.rows())
            .zip(d_pooled.rows_mut())
        {
            for (k, (&dz_k, w_k)) in dz.iter().zip(w.rows()).enumerate() {
                d_w.row_mut(k).scaled_add(dz_k, &v);
                d_b[k] += dz_k;
                if k == 0 {
                    dv.assign(&(&w_k * dz_k));
                } else {
                    dv.scaled_add(dz_k, &w_k);
                }
            }
        }
        d_pooled
    }

    /// Converts the weights to another float type (f32 <-> f64).
    pub fn cast<G: Float>(&self) -> Classifier<G> {
        Classifier {
            config: self.config.clone(),
            params: self.params.cast(),
        }
    }
}
