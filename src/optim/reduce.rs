//! Sums of shard gradients, their global norm, clipping and zeroing: the work between the
//! shards' backward passes and the optimizer step.

use rayon::prelude::*;

use crate::kernels::float::Float;
use crate::kernels::linalg::prefetch;
use crate::kernels::simd::widest_simd;
use crate::model::params::Params;
use crate::row_grads::RowGrads;

use super::pieces::{data_mut, lens, Pieces, Rows, AHEAD};

pub fn global_norm<F: Float>(grads: &Params<F>) -> f64 {
    global_norm_rows(grads, Rows::All)
}

/// [`global_norm`] when only `rows` of the embedding gradient can be non-zero.
pub fn global_norm_rows<F: Float>(grads: &Params<F>, rows: Rows<'_>) -> f64 {
    let (embed_dim, lens) = (grads.embedding.shape[1], lens(grads));
    let mut sum = 0.0f64;
    for (i, t) in grads.tensors().into_iter().enumerate() {
        for r in rows.ranges(i, &lens, embed_dim) {
            for &g in &t.data[r] {
                let g = g.to_f64_exact();
                sum += g * g;
            }
        }
    }
    sum.sqrt()
}

/// Scales gradients so their global norm is at most `max_norm`, as `clip_grad_norm_`:
/// `g *= min(1, max_norm / (norm + 1e-6))`. Returns the norm before clipping.
pub fn clip_grad_norm<F: Float>(grads: &mut Params<F>, max_norm: f64) -> f64 {
    clip_grad_norm_rows(grads, max_norm, Rows::All)
}

/// [`clip_grad_norm`] when only `rows` of the embedding gradient can be non-zero.
pub fn clip_grad_norm_rows<F: Float>(grads: &mut Params<F>, max_norm: f64, rows: Rows<'_>) -> f64 {
    let norm = global_norm_rows(grads, rows);
    clip_to_norm(grads, norm, max_norm, rows);
    norm
}

/// The scaling of [`clip_grad_norm_rows`], for gradients whose norm `norm` is already known
/// (from [`reduce_shards`]): `g *= min(1, max_norm / (norm + 1e-6))`.
/// Returns the factor applied, if any, for gradients kept elsewhere ([`RowGrads::scale`]).
pub fn clip_to_norm<F: Float>(
    grads: &mut Params<F>,
    norm: f64,
    max_norm: f64,
    rows: Rows<'_>,
) -> Option<F> {
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        let coef = F::of(coef);
        let (embed_dim, lens) = (grads.embedding.shape[1], lens(grads));
        for (i, t) in grads.tensors_mut().into_iter().enumerate() {
            for r in rows.ranges(i, &lens, embed_dim) {
                for g in &mut t.data[r] {
                    *g *= coef;
                }
            }
        }
        Some(coef)
    } else {
        None
    }
}

/// `total += part`, for gradients where only `rows` of the embedding can be non-zero.
pub fn add_grads_rows<F: Float>(total: &mut Params<F>, part: &Params<F>, rows: Rows<'_>) {
    let (embed_dim, lens) = (total.embedding.shape[1], lens(total));
    for (i, (t, p)) in total
        .tensors_mut()
        .into_iter()
        .zip(part.tensors())
        .enumerate()
    {
        for r in rows.ranges(i, &lens, embed_dim) {
            for (a, &b) in t.data[r.clone()].iter_mut().zip(&p.data[r]) {
                *a += b;
            }
        }
    }
}

/// Sums the gradients of `shards` into the first, in shard order (`((g0 + g1) + g2) + ...`,
/// element by element), zeroes the others, and returns the global L2 norm of the sum: what
/// [`add_grads_rows`], [`zero_grad_rows`] and [`global_norm_rows`] do one after the other, in
/// one parallel pass over fixed pieces. Only `rows` of the embedding gradients can be non-zero.
/// The norm adds per-group sums (f64) in group order, so it does not depend on the threads.
pub fn reduce_shards<F: Float>(shards: &mut [Params<F>], rows: Rows<'_>) -> f64 {
    reduce(shards, rows, None)
}

/// [`reduce_shards`] for a sparse step, where shard k's embedding gradient is `rows[k]`
/// (compact, [`RowGrads`]) and its `Params` embedding table is not used: the embedding rows
/// are summed into `total` (made to hold `users`' union) and the other tensors into the first
/// shard, whose other shards are zeroed. Each embedding row adds the shards that used it, in
/// shard order. The sums and the norm are those [`reduce_shards`] gives for the same
/// gradients scattered into tables: the pieces, their order and their groups are the same, and
/// a row that starts from zero and adds its first shard's row has that row's bits (compact
/// rows are never -0.0, being sums that start from +0.0).
pub fn reduce_shards_rows<F: Float>(
    shards: &mut [Params<F>],
    rows: &[RowGrads<F>],
    users: &ShardRows,
    total: &mut RowGrads<F>,
) -> f64 {
    assert_eq!(rows.len(), shards.len(), "one RowGrads per shard");
    total.set_ids(users.union.iter().copied());
    reduce(
        shards,
        Rows::Only(&users.union),
        Some(CompactRows { users, rows, total }),
    )
}

/// The compact embedding rows of [`reduce_shards_rows`]: each shard's, and their total.
struct CompactRows<'a, F> {
    users: &'a ShardRows,
    rows: &'a [RowGrads<F>],
    total: &'a mut RowGrads<F>,
}

/// The embedding rows of each shard of a step (sorted, unique, without `<pad>`) and their
/// union, for [`reduce_shards_rows`] and the optimizer's [`Rows::Only`].
#[derive(Clone, Debug, Default)]
pub struct ShardRows {
    /// Every row some shard uses, sorted.
    union: Vec<u32>,
    /// `users[starts[u]..starts[u + 1]]`: the shards using `union[u]`, in order, each with
    /// the row's position in that shard's list.
    starts: Vec<usize>,
    users: Vec<(u32, u32)>,
}

impl ShardRows {
    /// From each shard's rows, in shard order (each sorted and unique).
    pub fn new(per_shard: &[&[u32]]) -> Self {
        let mut union: Vec<u32> = per_shard.iter().copied().flatten().copied().collect();
        union.sort_unstable();
        union.dedup();
        // Counting sort of (row, shard) pairs by row, shards in order within a row.
        let mut starts = vec![0usize; union.len() + 1];
        let index = |id: u32| union.binary_search(&id).expect("every row is in the union");
        for &id in per_shard.iter().copied().flatten() {
            starts[index(id) + 1] += 1;
        }
        for u in 0..union.len() {
            starts[u + 1] += starts[u];
        }
        let mut next = starts.clone();
        let mut users = vec![(0u32, 0u32); starts[union.len()]];
        let small = |i: usize| u32::try_from(i).expect("fewer than u32::MAX shards and rows");
        for (k, rows) in per_shard.iter().enumerate() {
            for (position, &id) in rows.iter().enumerate() {
                let u = index(id);
                users[next[u]] = (small(k), small(position));
                next[u] += 1;
            }
        }
        Self {
            union,
            starts,
            users,
        }
    }

    /// Every row some shard uses, sorted.
    pub fn union(&self) -> &[u32] {
        &self.union
    }

    /// The shards using row `union()[u]`, in order, each with the row's position in that
    /// shard's list.
    pub(super) fn users_at(&self, u: usize) -> &[(u32, u32)] {
        &self.users[self.starts[u]..self.starts[u + 1]]
    }
}

/// One piece's sum in [`reduce`].
enum Sum<'a, F> {
    /// Dense: the first shard's slice is the total; the others are added in order and
    /// zeroed.
    Shards(Vec<&'a mut [F]>),
    /// Compact embedding row: the total (zero on entry) and the users' rows, in order.
    Rows(&'a mut [F], Vec<&'a [F]>),
}

/// [`reduce_shards`], with the embedding rows summed from compact per-shard rows into a
/// compact total when given.
fn reduce<F: Float>(
    shards: &mut [Params<F>],
    rows: Rows<'_>,
    compact: Option<CompactRows<'_, F>>,
) -> f64 {
    let Some(first) = shards.first() else {
        return 0.0;
    };
    let pieces = Pieces::of(first, rows);
    let mut carved: Vec<std::vec::IntoIter<&mut [F]>> = shards
        .iter_mut()
        .map(|p| pieces.carve(data_mut(p)).into_iter())
        .collect();
    // Embedding pieces come first, one per union row, when the rows are compact.
    let (mut totals, mut compact_rows) = match compact {
        Some(CompactRows { users, rows, total }) => (Some(total.rows_mut()), Some((users, rows))),
        None => (None, None),
    };
    let work: Vec<Sum<'_, F>> = pieces
        .tensors()
        .enumerate()
        .map(|(piece, tensor)| {
            let slices: Vec<&mut [F]> = carved
                .iter_mut()
                .map(|c| c.next().expect("a slice per piece"))
                .collect();
            match (&mut totals, &mut compact_rows) {
                (Some(totals), Some((users, rows))) if tensor == 0 => Sum::Rows(
                    totals.next().expect("a total row per union row"),
                    users
                        .users_at(piece)
                        .iter()
                        .map(|&(k, at)| rows[k as usize].row(at as usize))
                        .collect(),
                ),
                _ => Sum::Shards(slices),
            }
        })
        .collect();
    let sums: Vec<f64> = pieces
        .grouped(work)
        .into_par_iter()
        .map(|mut group| {
            widest_simd(
                #[inline(always)]
                || {
                    // Sum of squares in LANES running sums (element k into lane k % LANES),
                    // so the additions vectorise instead of waiting on one another.
                    let mut lanes = [0.0f64; LANES];
                    for k in 0..group.len() {
                        // Rows AHEAD pieces on start loading now (see `prefetch`).
                        if let Some(Sum::Shards(next)) = group.get(k + AHEAD) {
                            next.iter().for_each(|s| prefetch(s));
                        }
                        let total: &[F] = match &mut group[k] {
                            Sum::Shards(slices) => {
                                let (total, others) =
                                    slices.split_first_mut().expect("at least one shard");
                                for other in others {
                                    for (a, b) in total.iter_mut().zip(other.iter_mut()) {
                                        *a += *b;
                                        *b = F::zero();
                                    }
                                }
                                total
                            }
                            Sum::Rows(total, inputs) => {
                                for input in inputs.iter() {
                                    for (a, &b) in total.iter_mut().zip(input.iter()) {
                                        *a += b;
                                    }
                                }
                                total
                            }
                        };
                        let mut chunks = total.chunks_exact(LANES);
                        for chunk in &mut chunks {
                            for (lane, &g) in lanes.iter_mut().zip(chunk) {
                                let g = g.to_f64_exact();
                                *lane += g * g;
                            }
                        }
                        for (lane, &g) in lanes.iter_mut().zip(chunks.remainder()) {
                            let g = g.to_f64_exact();
                            *lane += g * g;
                        }
                    }
                    lanes.iter().sum::<f64>()
                },
            )
        })
        .collect();
    sums.iter().sum::<f64>().sqrt()
}

/// Running sums of [`reduce_shards`]' sum of squares.
const LANES: usize = 8;

/// Zeroes gradients when only `rows` of the embedding gradient can be non-zero.
pub fn zero_grad_rows<F: Float>(grads: &mut Params<F>, rows: Rows<'_>) {
    let (embed_dim, lens) = (grads.embedding.shape[1], lens(grads));
    for (i, t) in grads.tensors_mut().into_iter().enumerate() {
        for r in rows.ranges(i, &lens, embed_dim) {
            t.data[r].fill(F::zero());
        }
    }
}
