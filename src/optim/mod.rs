//! Optimizers and gradient clipping, matching `torch.optim.Adam`/`AdamW`, `torch.optim.SGD`
//! and `torch.nn.utils.clip_grad_norm_` step for step.
//!
//! Both walk [`Params::tensors`], so every parameter is updated the same way, in one order.
//! Weight decay applies to weight matrices (every tensor with two dimensions: the embedding,
//! `weight_ih`, `weight_hh`, `fc.weight`), never to biases; for Adam it is decoupled (AdamW:
//! `p *= 1 - lr wd` before the update), for SGD it is L2 (`g += wd p`), as in PyTorch.
//! A frozen tensor is never updated and its moments stay as they are. A tensor that starts
//! training later ([`Optimizer::unfreeze`], gradual unfreezing) counts Adam's `t` from its own
//! first step, as PyTorch's per-parameter `step` does, so its first update has the usual size.
//!
//! Sparse embedding updates ([`Rows::Only`]): training steps only the embedding rows of the
//! tokens in the batch, as TensorFlow's LazyAdam and PyTorch's `SparseAdam` do. Dense Adam
//! would also move every other row by its decaying momentum, at the cost of reading and
//! writing the whole (V, E) table and its two moment tables every step, which dominates a step
//! for large vocabularies. With every row in the batch the two are identical (tested).
//! Training keeps those rows' gradients compact ([`RowGrads`]): [`reduce_shards_rows`] sums
//! them and [`Optimizer::step_row_grads`] steps them, with the same numbers as the table
//! versions ([`reduce_shards`], [`Optimizer::step_rows`]; tested). A language model steps its
//! decoder's rows lazily too ([`Rows::Tables`]).
//!
//! Parallel and deterministic: the optimizer step and the sum of shard gradients
//! ([`reduce_shards`]) run on the current rayon pool over pieces, element ranges of a fixed
//! size cut from the covered rows, in groups of a fixed size. Every update is element by
//! element, so the result is the same for any number of threads; the one reduction, the norm,
//! adds per-group partial sums in group order.

mod pieces;
mod reduce;

pub use pieces::Rows;
use pieces::{data_mut, Pieces, AHEAD};
pub use reduce::{
    add_grads_rows, clip_grad_norm, clip_grad_norm_rows, clip_to_norm, global_norm,
    global_norm_rows, reduce_shards, reduce_shards_rows, zero_grad_rows, ShardRows,
};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::OptimizerKind;
use crate::kernels::float::Float;
use crate::kernels::linalg::prefetch;
use crate::kernels::simd::widest_simd;
use crate::model::params::Params;
use crate::row_grads::RowGrads;

/// Adam's constants (PyTorch's defaults).
pub const BETA1: f64 = 0.9;
pub const BETA2: f64 = 0.999;
pub const EPS: f64 = 1e-8;

/// Adam's per-element update on matching slices.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn adam_update<F: Float>(
    p: &mut [F],
    g: &[F],
    m: &mut [F],
    v: &mut [F],
    step_size: F,
    bias2_sqrt: F,
    shrink: Option<F>,
) {
    let (b1, b2, eps) = (F::of(BETA1), F::of(BETA2), F::of(EPS));
    let one = F::one();
    if let Some(shrink) = shrink {
        // AdamW: p *= 1 - lr wd, before and independent of the gradient step.
        for p in p.iter_mut() {
            *p *= shrink;
        }
    }
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
        *m = b1 * *m + (one - b1) * g;
        *v = b2 * *v + (one - b2) * g * g;
        let denom = v.sqrt() / bias2_sqrt + eps;
        *p -= step_size * *m / denom;
    }
}

/// An optimizer and its per-parameter state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Optimizer<F> {
    kind: OptimizerKind,
    lr: f64,
    momentum: f64,
    weight_decay: f64,
    /// Per tensor: whether weight decay applies.
    decays: Vec<bool>,
    /// Per tensor: never updated.
    frozen: Vec<bool>,
    /// Per tensor: a factor on the learning rate (`train --init-lr-scale` for the layers a
    /// base model gave); empty when every factor is 1, and then not written, so checkpoints
    /// without it read as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    lr_scales: Vec<f64>,
    /// Per tensor: the steps taken before it was unfrozen ([`Optimizer::unfreeze`]); its
    /// Adam `t` is `step` minus this. Empty when no tensor was, and then not written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    steps_before: Vec<u64>,
    /// Steps taken so far (Adam's t).
    step: u64,
    /// Adam: first moments; SGD: momentum buffers. One vector per tensor.
    first: Vec<Vec<F>>,
    /// Adam: second moments; empty for SGD.
    second: Vec<Vec<F>>,
}

impl<F: Float> Optimizer<F> {
    /// A fresh optimizer for parameters shaped like `params`. `momentum` is used by SGD only.
    pub fn new(
        kind: OptimizerKind,
        lr: f64,
        momentum: f64,
        weight_decay: f64,
        params: &Params<F>,
    ) -> Self {
        let zeros = || {
            params
                .tensors()
                .iter()
                .map(|t| vec![F::zero(); t.data.len()])
                .collect()
        };
        let tensors = params.tensors();
        Self {
            kind,
            lr,
            momentum,
            weight_decay,
            decays: tensors.iter().map(|t| t.shape.len() >= 2).collect(),
            frozen: vec![false; tensors.len()],
            lr_scales: Vec::new(),
            steps_before: Vec::new(),
            step: 0,
            first: zeros(),
            second: match kind {
                OptimizerKind::Adam => zeros(),
                OptimizerKind::Sgd => Vec::new(),
            },
        }
    }

    /// The learning rate of the next step.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Changes the learning rate (for schedules).
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Never updates tensor `index` (in [`Params::tensors`] order) again.
    pub fn freeze(&mut self, index: usize) {
        self.frozen[index] = true;
    }

    /// Whether tensor `index` is frozen.
    pub fn is_frozen(&self, index: usize) -> bool {
        self.frozen[index]
    }

    /// Updates frozen tensor `index` again from the next step on, with Adam's `t` counted
    /// from that step (its moments are still zero: a frozen tensor's are never touched).
    /// A tensor that is not frozen is left as it is.
    pub fn unfreeze(&mut self, index: usize) {
        if !self.frozen[index] {
            return;
        }
        self.frozen[index] = false;
        if self.steps_before.is_empty() {
            self.steps_before = vec![0; self.frozen.len()];
        }
        self.steps_before[index] = self.step;
    }

    /// Tensor `index`'s own step count (Adam's t) once the current step is counted.
    fn tensor_step(&self, index: usize) -> i32 {
        let before = self.steps_before.get(index).copied().unwrap_or(0);
        (self.step - before) as i32
    }

    /// Multiplies tensor `index`'s learning rate by `scale` (weight decay follows the rate).
    pub fn scale_lr(&mut self, index: usize, scale: f64) {
        if self.lr_scales.is_empty() {
            self.lr_scales = vec![1.0; self.frozen.len()];
        }
        self.lr_scales[index] = scale;
    }

    /// Tensor `index`'s factor on the learning rate.
    fn lr_scale(&self, index: usize) -> f64 {
        self.lr_scales.get(index).copied().unwrap_or(1.0)
    }

    /// Checks that state read from a file fits an optimizer built for this run (`fresh`): the
    /// same kind and settings, per-tensor flags, and one finite state vector of each tensor's
    /// length per moment; `steps` is the number of steps the file says were taken. The message
    /// names the first difference.
    pub fn check_like(&self, fresh: &Self, steps: usize) -> Result<(), String> {
        if (self.kind, self.momentum, self.weight_decay)
            != (fresh.kind, fresh.momentum, fresh.weight_decay)
        {
            return Err("the optimizer's kind or settings differ from the options".into());
        }
        if self.decays != fresh.decays || self.frozen != fresh.frozen {
            return Err("the optimizer's per-tensor flags do not fit the model".into());
        }
        if self.step != steps as u64 {
            return Err(format!(
                "the optimizer took {} steps but the checkpoint says {steps}",
                self.step
            ));
        }
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return Err(format!(
                "the optimizer's learning rate {} is not valid",
                self.lr
            ));
        }
        for (name, state, expected) in [
            ("first", &self.first, &fresh.first),
            ("second", &self.second, &fresh.second),
        ] {
            if state.len() != expected.len() {
                return Err(format!(
                    "the optimizer has {} {name}-moment tensors where the model needs {}",
                    state.len(),
                    expected.len()
                ));
            }
            for (i, (v, e)) in state.iter().zip(expected).enumerate() {
                if v.len() != e.len() {
                    return Err(format!(
                        "the optimizer's {name}-moment tensor {i} has {} values where its \
                         parameter has {}",
                        v.len(),
                        e.len()
                    ));
                }
                if !v.iter().all(|x| x.is_finite()) {
                    return Err(format!(
                        "the optimizer's {name}-moment tensor {i} is not finite"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Applies one update with gradients `grads` to every parameter (PyTorch's dense step).
    pub fn step(&mut self, params: &mut Params<F>, grads: &Params<F>) {
        self.step_rows(params, grads, Rows::All);
    }

    /// Applies one update, touching only `rows` of the embedding (see [`Rows`]).
    pub fn step_rows(&mut self, params: &mut Params<F>, grads: &Params<F>, rows: Rows<'_>) {
        let pieces = Pieces::of(params, rows);
        let tensors = grads.tensors();
        let piece_grads = pieces
            .tensors()
            .zip(pieces.ranges())
            .map(|(i, r)| &tensors[i].data[r])
            .collect();
        self.step_pieces(params, &pieces, piece_grads);
    }

    /// Applies one sparse update whose embedding gradient is `embedding` (compact; the rows it
    /// lists are the rows stepped) and whose other gradients are in `grads` (its embedding
    /// table is not read): what [`Self::step_rows`] does with those rows scattered into
    /// `grads.embedding` and `Rows::Only(embedding.ids())`.
    pub fn step_row_grads(
        &mut self,
        params: &mut Params<F>,
        grads: &Params<F>,
        embedding: &RowGrads<F>,
    ) {
        let pieces = Pieces::of(params, Rows::Only(embedding.ids()));
        let tensors = grads.tensors();
        // Embedding pieces are one row each, first, in the rows' order.
        let piece_grads = pieces
            .tensors()
            .zip(pieces.ranges())
            .enumerate()
            .map(|(piece, (i, r))| {
                if i == 0 {
                    embedding.row(piece)
                } else {
                    &tensors[i].data[r]
                }
            })
            .collect();
        self.step_pieces(params, &pieces, piece_grads);
    }

    /// One update of the parts `pieces` covers, piece `k`'s gradient being `grads[k]`.
    fn step_pieces(&mut self, params: &mut Params<F>, pieces: &Pieces, grads: Vec<&[F]>) {
        self.step += 1;
        match self.kind {
            OptimizerKind::Adam => self.adam_step(params, pieces, grads),
            OptimizerKind::Sgd => self.sgd_step(params, pieces, grads),
        }
    }

    /// `m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;`
    /// `p -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)`, PyTorch's exact form.
    fn adam_step(&mut self, params: &mut Params<F>, pieces: &Pieces, grads: Vec<&[F]>) {
        // Per tensor, with its learning rate and its own t: the step size, the weight-decay
        // factor and the second moment's bias correction.
        let rates: Vec<(F, F, F)> = (0..self.frozen.len())
            .map(|i| {
                let t = self.tensor_step(i);
                let lr = self.lr * self.lr_scale(i);
                (
                    F::of(lr / (1.0 - BETA1.powi(t))),
                    F::of(1.0 - lr * self.weight_decay),
                    F::of((1.0 - BETA2.powi(t)).sqrt()),
                )
            })
            .collect();
        let (decays, frozen, weight_decay) = (&self.decays, &self.frozen, self.weight_decay);
        let first = pieces.carve(self.first.iter_mut().map(Vec::as_mut_slice).collect());
        let second = pieces.carve(self.second.iter_mut().map(Vec::as_mut_slice).collect());
        let work: Vec<_> = pieces
            .carve(data_mut(params))
            .into_iter()
            .zip(first)
            .zip(second)
            .zip(pieces.tensors().zip(grads))
            .collect();
        pieces.grouped(work).into_par_iter().for_each(|mut group| {
            // Wide vectors for the square roots and divisions; the same IEEE operations.
            widest_simd(
                #[inline(always)]
                || {
                    for k in 0..group.len() {
                        // Rows AHEAD pieces on start loading now (see `prefetch`).
                        if let Some((((p, m), v), (_, g))) = group.get(k + AHEAD) {
                            prefetch(p);
                            prefetch(m);
                            prefetch(v);
                            prefetch(g);
                        }
                        let (((p, m), v), (i, g)) = &mut group[k];
                        if frozen[*i] {
                            continue;
                        }
                        let (step_size, shrink, bias2_sqrt) = rates[*i];
                        let shrink = (decays[*i] && weight_decay > 0.0).then_some(shrink);
                        adam_update(p, g, m, v, step_size, bias2_sqrt, shrink);
                    }
                },
            )
        });
    }

    /// `buf = momentum buf + g (+ wd p);  p -= lr buf` (PyTorch's SGD, dampening 0, not
    /// Nesterov).
    fn sgd_step(&mut self, params: &mut Params<F>, pieces: &Pieces, grads: Vec<&[F]>) {
        let mu = F::of(self.momentum);
        let rates: Vec<F> = (0..self.frozen.len())
            .map(|i| F::of(self.lr * self.lr_scale(i)))
            .collect();
        let (decays, frozen, weight_decay) = (&self.decays, &self.frozen, self.weight_decay);
        let buffers = pieces.carve(self.first.iter_mut().map(Vec::as_mut_slice).collect());
        let work: Vec<_> = pieces
            .carve(data_mut(params))
            .into_iter()
            .zip(buffers)
            .zip(pieces.tensors().zip(grads))
            .collect();
        pieces.grouped(work).into_par_iter().for_each(|group| {
            for ((p, buf), (i, g)) in group {
                if frozen[i] {
                    continue;
                }
                let lr = rates[i];
                let wd = if decays[i] {
                    F::of(weight_decay)
                } else {
                    F::zero()
                };
                for ((p, &g), b) in p.iter_mut().zip(g).zip(buf) {
                    // L2: g += wd p.
                    *b = mu * *b + g + wd * *p;
                    *p -= lr * *b;
                }
            }
        });
    }
}

/// The global L2 norm of all gradients, summed in f64 in tensor order (deterministic).
#[cfg(test)]
mod tests {
    use std::ops::Range;

    use super::pieces::PIECE;
    use super::*;
    use crate::config::{CellKind, ModelConfig};
    use crate::rng::Rng;

    fn tiny_config() -> ModelConfig {
        ModelConfig {
            cell: CellKind::Rnn,
            vocab_size: 3,
            embed_dim: 2,
            hidden_dim: 2,
            layers: 1,
            bidirectional: false,
            pooling: crate::config::Pooling::Last,
            forget_bias: None,
            threshold: 0.5,
            classes: Vec::new(),
        }
    }

    fn tiny() -> (Params<f64>, Params<f64>) {
        let config = tiny_config();
        let params = Params::init(&config, &mut Rng::new(1));
        let mut grads = Params::zeros(&config);
        for (i, t) in grads.tensors_mut().into_iter().enumerate() {
            for (j, g) in t.data.iter_mut().enumerate() {
                *g = (i as f64 + 1.0) * 0.1 - j as f64 * 0.05;
            }
        }
        (params, grads)
    }

    /// Shard `k`'s gradients: [`tiny`]'s, scaled and shifted by `k` so shards differ.
    fn shard_grads(k: usize) -> Params<f64> {
        let (_, mut g) = tiny();
        for t in g.tensors_mut() {
            t.data
                .iter_mut()
                .for_each(|x| *x = *x * (k as f64 + 1.5) - 0.01);
        }
        g
    }

    #[test]
    fn adam_first_step_moves_each_weight_by_lr() {
        // With m = (1-b1) g and v = (1-b2) g^2 the bias-corrected ratio is sign(g) (minus eps).
        let (mut params, grads) = tiny();
        let before = params.clone();
        let mut opt = Optimizer::new(OptimizerKind::Adam, 0.01, 0.0, 0.0, &params);
        opt.step(&mut params, &grads);
        for ((p, b), g) in params
            .tensors()
            .iter()
            .zip(before.tensors())
            .zip(grads.tensors())
        {
            for ((&p, &b), &g) in p.data.iter().zip(&b.data).zip(&g.data) {
                if g != 0.0 {
                    assert!((b - p - 0.01 * g.signum()).abs() < 1e-6);
                }
            }
        }
    }

    #[test]
    fn a_scaled_learning_rate_scales_each_optimizer_step_of_that_tensor() {
        // Adam's first step moves a weight by lr sign(g); SGD's by lr g.
        for kind in [OptimizerKind::Adam, OptimizerKind::Sgd] {
            let (mut params, grads) = tiny();
            let (mut plain, before) = (params.clone(), params.clone());
            let mut scaled = Optimizer::new(kind, 0.01, 0.0, 0.0, &params);
            scaled.scale_lr(1, 0.25);
            scaled.scale_lr(0, 0.0);
            scaled.step(&mut params, &grads);
            Optimizer::new(kind, 0.01, 0.0, 0.0, &plain).step(&mut plain, &grads);
            assert_eq!(
                params.embedding, before.embedding,
                "{kind:?}: scale 0 keeps it"
            );
            let moved = |p: &Params<f64>| {
                let (a, b) = (&p.rnn[0].w_ih.data, &before.rnn[0].w_ih.data);
                a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>()
            };
            let ratio = moved(&params) / moved(&plain);
            assert!((ratio - 0.25).abs() < 1e-9, "{kind:?}: {ratio}");
            // Other tensors move as without scales, bit for bit.
            assert_eq!(params.rnn[0].w_hh, plain.rnn[0].w_hh, "{kind:?}");
        }
    }

    #[test]
    fn frozen_tensors_stay_and_decay_skips_biases() {
        let (mut params, grads) = tiny();
        let before = params.clone();
        let zero = Params::zeros(&tiny_config());
        let mut opt = Optimizer::new(OptimizerKind::Adam, 0.1, 0.0, 0.5, &params);
        opt.freeze(0);
        opt.step(&mut params, &grads);
        assert_eq!(params.embedding, before.embedding);
        assert_ne!(params.rnn[0].w_ih, before.rnn[0].w_ih);
        // With zero gradients only decay moves anything: matrices shrink by 1 - lr wd,
        // biases stay.
        let mut params = before.clone();
        let mut opt = Optimizer::new(OptimizerKind::Adam, 0.1, 0.0, 0.5, &params);
        opt.step(&mut params, &zero);
        for (a, b) in params.rnn[0].w_hh.data.iter().zip(&before.rnn[0].w_hh.data) {
            assert!((a - b * 0.95).abs() < 1e-12);
        }
        assert_eq!(params.rnn[0].b_hh, before.rnn[0].b_hh);
    }

    #[test]
    fn a_frozen_tensor_keeps_its_moments_and_starts_its_own_t_when_unfrozen() {
        let (mut params, grads) = tiny();
        let mut opt = Optimizer::new(OptimizerKind::Adam, 0.01, 0.0, 0.0, &params);
        opt.freeze(1);
        for _ in 0..5 {
            opt.step(&mut params, &grads);
        }
        assert!(opt.first[1].iter().chain(&opt.second[1]).all(|&m| m == 0.0));
        assert!(opt.first[0].iter().any(|&m| m != 0.0));
        // Unfrozen after 5 steps: its first update is Adam's first, lr sign(g). With the
        // global t = 6 it would be 0.52 lr; with a large t, 3.2 lr (m = 0.1 g against
        // sqrt(v) = 0.032 |g|, bias corrections near 1).
        opt.unfreeze(1);
        assert!(!opt.is_frozen(1));
        let before = params.clone();
        opt.step(&mut params, &grads);
        let (p, b, g) = (&params.rnn[0].w_ih, &before.rnn[0].w_ih, &grads.rnn[0].w_ih);
        for ((&p, &b), &g) in p.data.iter().zip(&b.data).zip(&g.data) {
            if g != 0.0 {
                assert!((b - p - 0.01 * g.signum()).abs() < 1e-6, "{}", b - p);
            }
        }
        // Unfreezing a tensor that trains changes nothing.
        let copy = opt.clone();
        opt.unfreeze(0);
        assert_eq!(opt, copy);
    }

    #[test]
    fn sparse_rows_equal_dense_when_every_used_row_is_listed() {
        // Only embedding row 1 has gradient; listing it gives the dense result for the first
        // step (untouched rows have zero moments either way), and rows not listed never move.
        // (Without weight decay: dense AdamW also shrinks untouched rows, the lazy step not.)
        let (params, mut grads) = tiny();
        grads.embedding.data[..2].fill(0.0);
        grads.embedding.data[4..].fill(0.0);
        for kind in [OptimizerKind::Adam, OptimizerKind::Sgd] {
            let (mut dense, mut sparse) = (params.clone(), params.clone());
            let mut a = Optimizer::new(kind, 0.1, 0.9, 0.0, &params);
            let mut b = a.clone();
            a.step(&mut dense, &grads);
            b.step_rows(&mut sparse, &grads, Rows::Only(&[1]));
            assert_eq!(dense, sparse, "{kind:?}");
            assert_eq!(
                global_norm(&grads),
                global_norm_rows(&grads, Rows::Only(&[1]))
            );
            // A second step with no gradient: dense Adam/SGD still moves row 1 (momentum),
            // the sparse step leaves every unlisted row alone.
            let zero = {
                let mut z = grads.clone();
                z.fill_zero();
                z
            };
            let before = sparse.embedding.clone();
            b.step_rows(&mut sparse, &zero, Rows::Only(&[]));
            assert_eq!(sparse.embedding, before);
        }
        let mut g = grads.clone();
        zero_grad_rows(&mut g, Rows::Only(&[1]));
        assert!(g.tensors().iter().all(|t| t.data.iter().all(|&x| x == 0.0)));
    }

    #[test]
    fn table_rows_cover_the_listed_embedding_and_decoder_rows_only() {
        // A language model's layout: the decoder (fc) has one row per vocabulary entry.
        let config = ModelConfig {
            classes: vec!["a".into(), "b".into(), "c".into()],
            ..tiny_config()
        };
        let params = Params::<f64>::init(&config, &mut Rng::new(1));
        let mut grads = Params::<f64>::zeros(&config);
        grads.embedding.data[2..4].fill(0.3); // row 1
        grads.rnn[0].w_hh.data.fill(-0.2);
        for row in [0, 2] {
            grads.fc_weight.data[row * 2..row * 2 + 2].fill(0.1 * row as f64 + 0.05);
            grads.fc_bias.data[row] = -0.4;
        }
        let rows = Rows::Tables {
            embedding: &[1],
            decoder: &[0, 2],
        };
        assert_eq!(global_norm(&grads), global_norm_rows(&grads, rows));
        let (mut dense, mut sparse) = (params.clone(), params.clone());
        let mut a = Optimizer::new(OptimizerKind::Adam, 0.1, 0.0, 0.0, &params);
        let mut b = a.clone();
        a.step(&mut dense, &grads);
        b.step_rows(&mut sparse, &grads, rows);
        assert_eq!(dense, sparse);
        // Unlisted rows never move, even with momentum: decoder row 1, embedding rows 0, 2.
        let mut zero = grads.clone();
        zero.fill_zero();
        let before = sparse.clone();
        b.step_rows(
            &mut sparse,
            &zero,
            Rows::Tables {
                embedding: &[],
                decoder: &[1],
            },
        );
        assert_eq!(sparse.fc_weight, before.fc_weight);
        assert_eq!(sparse.embedding, before.embedding);
        assert_ne!(sparse.rnn, before.rnn, "dense tensors still step");
        zero_grad_rows(&mut grads, rows);
        assert!(grads
            .tensors()
            .iter()
            .all(|t| t.data.iter().all(|&x| x == 0.0)));
    }

    #[test]
    fn reduce_shards_equals_adding_zeroing_and_the_norm() {
        // Three shards with different gradients, dense rows and then only embedding row 1.
        let shards: Vec<Params<f64>> = (0..3).map(shard_grads).collect();
        for rows in [Rows::All, Rows::Only(&[1])] {
            let mut want = shards.clone();
            let (first, rest) = want.split_at_mut(1);
            for other in rest.iter_mut() {
                add_grads_rows(&mut first[0], other, rows);
                zero_grad_rows(other, rows);
            }
            let want_norm = global_norm_rows(&first[0], rows);
            let mut got = shards.clone();
            let norm = reduce_shards(&mut got, rows);
            assert_eq!(got, want);
            assert!(
                (norm - want_norm).abs() <= 1e-12 * want_norm,
                "{norm} vs {want_norm}"
            );
        }
        assert_eq!(reduce_shards::<f64>(&mut [], Rows::All), 0.0);
    }

    /// Shard `k`'s gradients with its embedding gradient only on `rows` (width 2), as a
    /// table and as compact rows.
    fn sparse_shard(k: usize, rows: &[u32]) -> (Params<f64>, RowGrads<f64>) {
        let mut g = shard_grads(k);
        let mut compact = RowGrads::new(2);
        compact.set_ids(rows.iter().copied());
        for (u, row) in compact.rows_mut().enumerate() {
            let id = rows[u] as usize;
            row.copy_from_slice(&g.embedding.data[id * 2..id * 2 + 2]);
        }
        for id in 0..3u32 {
            if !rows.contains(&id) {
                g.embedding.data[id as usize * 2..id as usize * 2 + 2].fill(0.0);
            }
        }
        (g, compact)
    }

    #[test]
    fn compact_reduction_gives_the_table_sums_and_norm() {
        // Embedding rows 0..3 (width 2); shard k's embedding gradient lives on its rows only.
        let per_shard: [&[u32]; 3] = [&[0, 2], &[2], &[1, 2]];
        let (tables, compact): (Vec<Params<f64>>, Vec<RowGrads<f64>>) = per_shard
            .iter()
            .enumerate()
            .map(|(k, rows)| sparse_shard(k, rows))
            .unzip();
        let users = ShardRows::new(&per_shard);
        assert_eq!(users.union(), &[0, 1, 2]);
        assert_eq!(users.users_at(2), &[(0, 1), (1, 0), (2, 1)]);
        assert_eq!(users.users_at(1), &[(2, 0)]);
        let mut want = tables.clone();
        let want_norm = reduce_shards(&mut want, Rows::Only(users.union()));

        // The shards' own tables are neither read nor written.
        let mut got: Vec<Params<f64>> = tables.clone();
        for g in &mut got {
            g.embedding.data.fill(7.0);
        }
        let mut total = RowGrads::new(2);
        let norm = reduce_shards_rows(&mut got, &compact, &users, &mut total);
        assert_eq!(norm, want_norm);
        assert_eq!(total.ids(), users.union());
        let mut table = vec![0.0; 6];
        total.add_to_table(&mut table);
        assert_eq!(table, want[0].embedding.data);
        for (g, w) in got.iter_mut().zip(&want) {
            assert!(g.embedding.data.iter().all(|&x| x == 7.0));
            g.embedding = w.embedding.clone();
        }
        assert_eq!(
            got, want,
            "the other tensors: summed into the first, others zeroed"
        );

        // A row listed for the wrong shard is not added: the sums differ.
        let wrong = ShardRows::new(&[&[0, 2], &[2], &[2]]);
        let mut wrong_total = RowGrads::new(2);
        reduce_shards_rows(&mut tables.clone(), &compact, &wrong, &mut wrong_total);
        assert_ne!(wrong_total, total);
    }

    #[test]
    fn compact_rows_step_as_the_same_rows_of_a_table() {
        let (params, _) = tiny();
        let (table, compact) = sparse_shard(1, &[0, 2]);
        for kind in [OptimizerKind::Adam, OptimizerKind::Sgd] {
            let (mut want, mut got) = (params.clone(), params.clone());
            let mut a = Optimizer::new(kind, 0.1, 0.9, 0.01, &params);
            let mut b = a.clone();
            let mut got_grads = table.clone();
            got_grads.embedding.data.fill(f64::NAN);
            for _ in 0..2 {
                a.step_rows(&mut want, &table, Rows::Only(&[0, 2]));
                b.step_row_grads(&mut got, &got_grads, &compact);
            }
            assert_eq!(got, want, "{kind:?}");
            assert_eq!(b, a, "{kind:?}: moments and step count");
        }
    }

    #[test]
    fn pieces_cover_the_rows_once_in_order_and_split_long_tensors() {
        let lens = [10 * 4, 3 * PIECE + 5, 7];
        let pieces = Pieces::new(&lens, Rows::Only(&[2, 3, 9]), 4);
        let got: Vec<(usize, Range<usize>)> = pieces.pieces.clone();
        let mut want = vec![(0, 8..12), (0, 12..16), (0, 36..40)];
        want.extend((0..4).map(|k| (1, k * PIECE..((k + 1) * PIECE).min(lens[1]))));
        want.push((2, 0..7));
        assert_eq!(got, want);
        // Carving hands out exactly those elements.
        let mut data: Vec<Vec<u32>> = lens.iter().map(|&n| (0..n as u32).collect()).collect();
        let slices = pieces.carve(data.iter_mut().map(Vec::as_mut_slice).collect());
        let firsts: Vec<u32> = slices.iter().map(|s| s[0]).collect();
        let starts: Vec<u32> = want.iter().map(|(_, r)| r.start as u32).collect();
        assert_eq!(firsts, starts);
        assert!(slices
            .iter()
            .zip(&want)
            .all(|(s, (_, r))| s.len() == r.len()));
        // Groups: the three rows together, each full piece alone, the two short tails together.
        assert_eq!(pieces.groups, vec![3, 1, 1, 1, 2]);
        let grouped = pieces.grouped((0..want.len()).collect());
        assert_eq!(
            grouped,
            vec![vec![0, 1, 2], vec![3], vec![4], vec![5], vec![6, 7]]
        );
    }

    #[test]
    fn sgd_momentum_accumulates() {
        let (mut params, grads) = tiny();
        let before = params.embedding.data[1];
        let g = grads.embedding.data[1];
        let mut opt = Optimizer::new(OptimizerKind::Sgd, 0.1, 0.9, 0.0, &params);
        opt.step(&mut params, &grads);
        opt.step(&mut params, &grads);
        // Two steps: buf = g, then 1.9 g; total move 0.1 * 2.9 g.
        assert!((params.embedding.data[1] - (before - 0.29 * g)).abs() < 1e-12);
    }

    #[test]
    fn clipping_bounds_the_norm_and_leaves_small_gradients() {
        let (_, mut grads) = tiny();
        let norm = global_norm(&grads);
        assert!(norm > 0.5);
        assert_eq!(clip_grad_norm(&mut grads, 0.5), norm);
        assert!((global_norm(&grads) - 0.5).abs() < 1e-5);
        let copy = grads.clone();
        clip_grad_norm(&mut grads, 10.0);
        assert_eq!(grads, copy);
    }
}
