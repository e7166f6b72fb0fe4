//! How the embedding is updated: one strategy, chosen once per run.
//!
//! - **Sparse** (the default): each shard's embedding gradient is kept compact, the rows its
//!   tokens use in id order ([`RowGrads`]); the shards' rows are summed into one compact total
//!   and the optimizer steps only those rows (lazy Adam). The shards' (V, E) gradient tables
//!   are never written, so they cost no memory.
//! - **Dense** (`--dense-embedding-updates`): the embedding gradient is a (V, E) table in each
//!   shard's gradients, summed whole, and every row is stepped, exactly as PyTorch's dense
//!   Adam.
//!
//! The training step asks this one object where shards write, how they are summed, clipped,
//! stepped and zeroed; it never branches on the strategy itself.

use crate::model::params::Params;
use crate::optim::{
    clip_to_norm, reduce_shards, reduce_shards_rows, zero_grad_rows, Optimizer, Rows, ShardRows,
};
use crate::row_grads::RowGrads;

/// The strategy and its buffers.
pub(super) struct EmbeddingUpdates {
    sparse: bool,
    /// Per shard: its compact embedding gradient (unused when dense).
    shards: Vec<RowGrads<f32>>,
    /// The batch's compact sum (unused when dense).
    batch: RowGrads<f32>,
}

impl EmbeddingUpdates {
    pub(super) fn new(sparse: bool, shards: usize, embed_dim: usize) -> Self {
        Self {
            sparse,
            shards: (0..shards).map(|_| RowGrads::new(embed_dim)).collect(),
            batch: RowGrads::new(embed_dim),
        }
    }

    /// Where each shard writes its embedding gradient: its compact rows (sparse), or `None`
    /// for the embedding table in its own gradients (dense).
    pub(super) fn shard_slots(&mut self) -> Vec<Option<&mut RowGrads<f32>>> {
        let sparse = self.sparse;
        self.shards
            .iter_mut()
            .map(|r| sparse.then_some(r))
            .collect()
    }

    /// The tensors of the summed gradients that a step writes: with sparse updates, all but
    /// the embedding (its rows are in the compact sum).
    fn written(&self) -> Rows<'static> {
        if self.sparse {
            Rows::Only(&[])
        } else {
            Rows::All
        }
    }

    /// Sums the shards' gradients into the first (the embedding's, when sparse, into the
    /// compact batch sum), in shard order, and returns the norm of the sum. Runs on the
    /// caller's pool over pieces of fixed size, so the result does not depend on threads.
    pub(super) fn reduce(&mut self, used: &mut [Params<f32>]) -> f64 {
        if self.sparse {
            let rows = &self.shards[..used.len()];
            let lists: Vec<&[u32]> = rows.iter().map(RowGrads::ids).collect();
            let users = ShardRows::new(&lists);
            reduce_shards_rows(used, rows, &users, &mut self.batch)
        } else {
            reduce_shards(used, Rows::All)
        }
    }

    /// The squared norm of the summed gradients of the tensors `frozen` marks (the
    /// embedding's from the compact sum when sparse): the part of a step's norm that
    /// `clip_grad_norm_` would not see, as frozen parameters have no gradient there.
    pub(super) fn frozen_squares(
        &self,
        grads: &Params<f32>,
        frozen: impl Fn(usize) -> bool,
    ) -> f64 {
        let squares =
            |values: &[f32]| -> f64 { values.iter().map(|&g| f64::from(g).powi(2)).sum() };
        grads
            .tensors()
            .iter()
            .enumerate()
            .filter(|&(i, _)| frozen(i))
            .map(|(i, t)| match (i, self.sparse) {
                (0, true) => (0..self.batch.ids().len())
                    .map(|u| squares(self.batch.row(u)))
                    .sum(),
                _ => squares(&t.data),
            })
            .sum()
    }

    /// Scales the summed gradients down to `max_norm` when their `norm` is above it.
    pub(super) fn clip(&mut self, grads: &mut Params<f32>, norm: f64, max_norm: f64) {
        if let Some(coef) = clip_to_norm(grads, norm, max_norm, self.written()) {
            self.batch.scale(coef);
        }
    }

    /// One optimizer step from the summed gradients.
    pub(super) fn step(
        &self,
        optimizer: &mut Optimizer<f32>,
        params: &mut Params<f32>,
        grads: &Params<f32>,
    ) {
        if self.sparse {
            optimizer.step_row_grads(params, grads, &self.batch);
        } else {
            optimizer.step_rows(params, grads, Rows::All);
        }
    }

    /// Zeroes what the step wrote in the summed gradients, for the next step.
    pub(super) fn zero(&self, grads: &mut Params<f32>) {
        zero_grad_rows(grads, self.written());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::params::Tensor;

    fn grads() -> Params<f32> {
        let t = |shape: &[usize], x: f32| {
            let mut t = Tensor::zeros(shape);
            t.data.iter_mut().for_each(|v| *v = x);
            t
        };
        let mut p = Params::from_tensors(vec![t(&[4, 2], 1.0), t(&[3], 2.0), t(&[2], 3.0)]);
        p.embedding.data[2] = 5.0;
        p
    }

    #[test]
    fn frozen_squares_sum_the_frozen_tensors_where_their_gradients_are() {
        let g = grads();
        let dense = EmbeddingUpdates::new(false, 1, 2);
        assert_eq!(dense.frozen_squares(&g, |i| i == 1), 12.0);
        assert_eq!(dense.frozen_squares(&g, |_| false), 0.0);
        // Dense: the embedding table (7 ones and a 5); sparse: the compact rows, not the table.
        assert_eq!(dense.frozen_squares(&g, |i| i == 0), 32.0);
        let mut sparse = EmbeddingUpdates::new(true, 1, 2);
        sparse.batch.set_ids([1, 3].into_iter());
        sparse.batch.rows_mut().for_each(|r| r.fill(0.5));
        assert_eq!(sparse.frozen_squares(&g, |i| i == 0), 1.0);
        assert_eq!(sparse.frozen_squares(&g, |i| i != 1), 1.0 + 18.0);
    }
}
