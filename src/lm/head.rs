//! The language model's output layer (the decoder) and its two losses.
//!
//! The decoder maps a direction's top hidden state to scores over the vocabulary,
//! `z_i = W h_i + b` with `W` (V, H) and `b` (V), shared by both directions (as ELMo shares its
//! softmax). The loss of a position is the cross-entropy of its target id:
//!
//! - **full softmax**: `l_i = logsumexp(z_i) - z_{i,y_i}`, exact, O(V) per position
//!   (`nn.CrossEntropyLoss` on `nn.Linear(H, V)`); validation perplexity always uses it;
//! - **sampled softmax** over the target and S ids drawn for the step (see [`Sampler`]):
//!   `u_i0 = z_{i,y_i} - ln E(y_i)`, `u_ij = z_{i,s_j} - ln E(s_j)` (or -inf when
//!   `s_j = y_i`, an accidental hit), `l_i = logsumexp(u_i) - u_i0`; O(S) per position.
//!
//! Both return `scale` times the summed loss and add `scale` times the gradients into the
//! decoder's gradient tensors, returning dL/dh `(N, H)`. Gradients, with `p = softmax`:
//! `dl/dz_ic = p_ic - [c = y_i]` (full), `dl/du_ij = p_ij - [j = 0]` (sampled), and
//! `dW_c += sum_i dl/dz_ic h_i`, `db_c += sum_i dl/dz_ic`, `dh_i = sum_c dl/dz_ic W_c`.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

use super::sampler::Sampler;
use crate::kernels::float::{
    wide_log_softmax_beside, wide_log_softmax_in_place, wide_log_sum_exp, Float,
};
use crate::kernels::gemm::{gemm_add, gemm_bias_rows, gemm_set};
use crate::kernels::linalg::{scatter_add_rows, transposed};
use crate::model::params::Tensor;

/// Rows of the (rows, V) score matrix the full softmax holds at once: bounds its memory to
/// `FULL_CHUNK * V` values whatever N is.
const FULL_CHUNK: usize = 256;

/// The decoder's weights, or their gradients.
#[derive(Clone, Copy, Debug)]
pub struct Decoder<'a, F> {
    /// `decoder.weight` (V, H).
    pub weight: &'a Tensor<F>,
    /// `decoder.bias` (V).
    pub bias: &'a Tensor<F>,
}

/// The decoder's gradient tensors, added into.
#[derive(Debug)]
pub struct DecoderGrads<'a, F> {
    pub weight: &'a mut Tensor<F>,
    pub bias: &'a mut Tensor<F>,
}

/// The candidates of one sampled-softmax step: the S drawn ids and their `ln E`.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidates {
    pub ids: Vec<u32>,
    pub log_expected: Vec<f64>,
}

impl Candidates {
    /// S ids from `sampler` with their log expected counts.
    pub fn draw(sampler: &Sampler, rng: &mut crate::rng::Rng) -> Self {
        let ids = sampler.draw(rng);
        let log_expected = ids.iter().map(|&id| sampler.log_expected(id)).collect();
        Self { ids, log_expected }
    }
}

/// Summed negative log-likelihood of `targets` under the full softmax, without gradients:
/// validation perplexity is `exp(nll / N)`. Chunks of rows run in parallel; their sums are
/// added in chunk order, so the result does not depend on the threads.
pub fn full_softmax_nll<F: Float>(
    decoder: Decoder<'_, F>,
    h: ArrayView2<'_, F>,
    targets: &[u32],
) -> f64 {
    debug_assert_eq!(h.nrows(), targets.len());
    let w_t = transposed(decoder.weight.matrix()); // (H, V)
    let chunks: Vec<_> = h
        .axis_chunks_iter(Axis(0), FULL_CHUNK)
        .zip(targets.chunks(FULL_CHUNK))
        .collect();
    let sums: Vec<f64> = chunks
        .into_par_iter()
        .map(|(h, y)| {
            let mut z = Array2::<F>::zeros((h.nrows(), w_t.ncols()));
            gemm_bias_rows(h, w_t.view(), &decoder.bias.data, &mut z.view_mut());
            z.rows()
                .into_iter()
                .zip(y)
                .map(|(z, &y)| {
                    let z = z.as_slice().expect("standard layout");
                    (wide_log_sum_exp(z) - z[y as usize]).to_f64_exact()
                })
                .sum()
        })
        .collect();
    sums.into_iter().sum()
}

/// Full softmax cross-entropy: `scale * sum_i l_i`, gradients (times `scale`) into `grads`,
/// and dL/dh (N, H).
pub fn full_softmax_loss<F: Float>(
    decoder: Decoder<'_, F>,
    h: ArrayView2<'_, F>,
    targets: &[u32],
    scale: F,
    grads: &mut DecoderGrads<'_, F>,
) -> (F, Array2<F>) {
    let (n, hidden) = h.dim();
    debug_assert_eq!(targets.len(), n);
    let w = decoder.weight.matrix(); // (V, H)
    let w_t = transposed(w); // (H, V)
    let mut d_h = Array2::<F>::zeros((n, hidden));
    let mut total = F::zero();
    for (start, (h, y)) in h
        .axis_chunks_iter(Axis(0), FULL_CHUNK)
        .zip(targets.chunks(FULL_CHUNK))
        .enumerate()
    {
        let rows = h.nrows();
        // z (rows, V) = h W^T + b, then in place dl/dz = scale (softmax(z) - onehot(y)).
        let mut z = Array2::<F>::zeros((rows, w_t.ncols()));
        gemm_bias_rows(h, w_t.view(), &decoder.bias.data, &mut z.view_mut());
        for (mut z, &y) in z.rows_mut().into_iter().zip(y) {
            let z = z.as_slice_mut().expect("standard layout");
            let z_y = z[y as usize];
            total += wide_log_softmax_in_place(z) - z_y;
            z[y as usize] -= F::one();
            z.iter_mut().for_each(|d| *d *= scale);
        }
        gemm_add(
            transposed(z.view()).view(),
            h,
            &mut grads.weight.matrix_mut(),
        );
        for (b, d) in grads.bias.data.iter_mut().zip(column_sums(z.view())) {
            *b += d;
        }
        let offset = start * FULL_CHUNK;
        gemm_set(
            z.view(),
            w,
            &mut d_h.slice_mut(ndarray::s![offset..offset + rows, ..]),
        );
    }
    (total * scale, d_h)
}

/// Sampled softmax cross-entropy against `candidates`: `scale * sum_i l_i`, gradients (times
/// `scale`) into `grads`, and dL/dh (N, H).
pub fn sampled_softmax_loss<F: Float>(
    decoder: Decoder<'_, F>,
    h: ArrayView2<'_, F>,
    targets: &[u32],
    target_log_expected: &[f64],
    candidates: &Candidates,
    scale: F,
    grads: &mut DecoderGrads<'_, F>,
) -> (F, Array2<F>) {
    let (n, hidden) = h.dim();
    let s = candidates.ids.len();
    debug_assert_eq!((targets.len(), target_log_expected.len()), (n, n));
    let w_s = decoder.weight.gather_rows(&candidates.ids); // (S, H)
    let w_y = decoder.weight.gather_rows(targets); // (N, H)
    let bias_s: Vec<F> = candidates
        .ids
        .iter()
        .zip(&candidates.log_expected)
        .map(|(&c, &le)| decoder.bias.data[c as usize] - F::of(le))
        .collect();
    // d_s (N, S) holds u_ij = z_{i,s_j} - ln E(s_j), then in place dl/du_ij = scale p_ij; the
    // target's u_i0 stays beside it, so both products below read contiguous matrices.
    let mut d_s = Array2::<F>::zeros((n, s));
    gemm_bias_rows(
        h,
        transposed(w_s.view()).view(),
        &bias_s,
        &mut d_s.view_mut(),
    );
    let mut d_true = Vec::with_capacity(n); // dl/du_i0 = scale (p_i0 - 1)
    let mut total = F::zero();
    for (i, mut row) in d_s.rows_mut().into_iter().enumerate() {
        let y = targets[i];
        let u_0 = h.row(i).dot(&w_y.row(i)) + decoder.bias.data[y as usize]
            - F::of(target_log_expected[i]);
        let row = row.as_slice_mut().expect("standard layout");
        for (u, &c) in row.iter_mut().zip(&candidates.ids) {
            if c == y {
                *u = F::neg_infinity(); // an accidental hit: probability and gradient 0
            }
        }
        let (lse, p_0) = wide_log_softmax_beside(u_0, row);
        total += lse - u_0;
        row.iter_mut().for_each(|d| *d *= scale);
        d_true.push(scale * (p_0 - F::one()));
    }

    // dh = d_true * W_y + d_s W_S.
    let mut d_h = Array2::<F>::zeros((n, hidden));
    gemm_set(d_s.view(), w_s.view(), &mut d_h.view_mut());
    for ((mut d_h_i, w_y_i), &d) in d_h.rows_mut().into_iter().zip(w_y.rows()).zip(&d_true) {
        d_h_i.scaled_add(d, &w_y_i);
    }
    // dW rows: the targets' d_true h_i, the candidates' d_s^T h (repeated ids add up).
    let mut d_w_y = h.to_owned();
    for (mut row, &d) in d_w_y.rows_mut().into_iter().zip(&d_true) {
        row *= d;
    }
    scatter_add_rows(&mut grads.weight.data, d_w_y.view(), targets, u32::MAX);
    let mut d_w_s = Array2::<F>::zeros((s, hidden));
    gemm_set(transposed(d_s.view()).view(), h, &mut d_w_s.view_mut());
    scatter_add_rows(
        &mut grads.weight.data,
        d_w_s.view(),
        &candidates.ids,
        u32::MAX,
    );
    for (&y, &d) in targets.iter().zip(&d_true) {
        grads.bias.data[y as usize] += d;
    }
    for (&c, d) in candidates.ids.iter().zip(column_sums(d_s.view())) {
        grads.bias.data[c as usize] += d;
    }
    (total * scale, d_h)
}

/// `sum_i a_ij` for each column j, row by row (contiguous reads).
fn column_sums<F: Float>(a: ArrayView2<'_, F>) -> Vec<F> {
    let mut sums = vec![F::zero(); a.ncols()];
    for row in a.rows() {
        for (s, &x) in sums.iter_mut().zip(row) {
            *s += x;
        }
    }
    sums
}
