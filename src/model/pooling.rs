//! Pooling: how the head summarises a row's top-layer outputs (mask-aware: only real tokens).
//!
//! Inputs are packed `(N, P)` outputs (P = D*H); results are `(B, blocks * P)` in batch-row
//! order. A row of length 0 pools to zeros.
//! - last: the output after the last real token; for a bidirectional layer the forward half
//!   comes from the last token and the reverse half from the first (PyTorch's `h_n`);
//! - mean: `(1 / len) sum_t out_t`;
//! - max: `max_t out_t` per feature (the gradient goes to the arg max; ties to the earliest);
//! - last-max: `[last, max]`.

use ndarray::{s, Array2, ArrayView2};

use super::packing::Packing;
use crate::config::Pooling;
use crate::kernels::float::Float;

/// What backward needs.
#[derive(Clone, Debug)]
pub struct PoolCache {
    /// For max pooling: the packed row chosen for each (sorted row, feature), `usize::MAX`
    /// for an empty row.
    argmax: Vec<usize>,
}

/// Pools `out` (N, P). `forward_width` is the width of the forward direction's block (H for a
/// bidirectional layer, P otherwise).
pub fn forward<F: Float>(
    pooling: Pooling,
    out: ArrayView2<F>,
    packing: &Packing,
    forward_width: usize,
) -> (Array2<F>, PoolCache) {
    let p = out.ncols();
    let b = packing.rows();
    let mut pooled = Array2::<F>::zeros((b, pooling.blocks() * p));
    let mut argmax = Vec::new();
    let want_max = matches!(pooling, Pooling::Max | Pooling::LastMax);
    if want_max {
        argmax = vec![usize::MAX; b * p];
    }
    for (s, &row) in packing.sorted_rows.iter().enumerate() {
        let len = packing.lengths[s];
        if len == 0 {
            continue;
        }
        let mut target = pooled.row_mut(row);
        let mut col = 0;
        if matches!(pooling, Pooling::Last | Pooling::LastMax) {
            let last = packing.index(len - 1, s);
            let first = packing.index(0, s);
            target
                .slice_mut(s![..forward_width])
                .assign(&out.slice(s![last, ..forward_width]));
            target
                .slice_mut(s![forward_width..p])
                .assign(&out.slice(s![first, forward_width..]));
            col = p;
        }
        if pooling == Pooling::Mean {
            let scale = F::one() / F::of(len as f64);
            for t in 0..len {
                target.scaled_add(scale, &out.row(packing.index(t, s)));
            }
        }
        if want_max {
            let first = packing.index(0, s);
            let chosen = &mut argmax[s * p..(s + 1) * p];
            chosen.fill(first);
            let mut best = out.row(first).to_owned();
            for t in 1..len {
                let k = packing.index(t, s);
                for (j, &v) in out.row(k).iter().enumerate() {
                    if v > best[j] {
                        best[j] = v;
                        chosen[j] = k;
                    }
                }
            }
            target.slice_mut(s![col..col + p]).assign(&best);
        }
    }
    (pooled, PoolCache { argmax })
}

/// dL/d(out) `(N, P)` from dL/d(pooled) `(B, blocks * P)`.
pub fn backward<F: Float>(
    pooling: Pooling,
    d_pooled: ArrayView2<F>,
    cache: &PoolCache,
    packing: &Packing,
    p: usize,
    forward_width: usize,
) -> Array2<F> {
    let mut d_out = Array2::<F>::zeros((packing.total, p));
    for (s, &row) in packing.sorted_rows.iter().enumerate() {
        let len = packing.lengths[s];
        if len == 0 {
            continue;
        }
        let d = d_pooled.row(row);
        let mut col = 0;
        if matches!(pooling, Pooling::Last | Pooling::LastMax) {
            let last = packing.index(len - 1, s);
            let first = packing.index(0, s);
            let mut r = d_out.slice_mut(s![last, ..forward_width]);
            r += &d.slice(s![..forward_width]);
            let mut r = d_out.slice_mut(s![first, forward_width..]);
            r += &d.slice(s![forward_width..p]);
            col = p;
        }
        if pooling == Pooling::Mean {
            let scale = F::one() / F::of(len as f64);
            for t in 0..len {
                d_out
                    .row_mut(packing.index(t, s))
                    .scaled_add(scale, &d.slice(s![..p]));
            }
        }
        if matches!(pooling, Pooling::Max | Pooling::LastMax) {
            for j in 0..p {
                let k = cache.argmax[s * p + j];
                d_out[(k, j)] += d[col + j];
            }
        }
    }
    d_out
}
