//! Runs one recurrent cell over a packed batch, forward and backward (BPTT).
//!
//! The work is arranged as cuDNN arranges it, so that nearly all FLOPs are in a few large
//! matrix products:
//! - forward: the input projection of all steps is one product
//!   `XW = X W_ih^T + b_ih`, `(N, E) x (E, G*H)`, before the time loop; each step then only
//!   adds `h_{t-1} W_hh^T + b_hh` for its running rows, `(n_t, H) x (H, G*H)`;
//! - backward: one product each for `dW_ih = dA_ih^T X` and `dW_hh = dA_hh^T H_prev` over all
//!   steps, and one for `dX = dA_ih W_ih`; the time loop only does `dh_{t-1} = dA_hh W_hh`.
//!
//! The products are in [`crate::kernels::gemm`]. The gate arithmetic of each cell lives in its own
//! file ([`super::rnn`], [`super::lstm`], [`super::gru`]) behind the [`Cell`] trait, one row
//! at a time, compiled for the widest vector instructions the CPU has ([`widest_simd`]).
//!
//! Shapes: N real tokens, B rows, H hidden units, G gates, E input size; see [`Packing`] for
//! the packed layout.

use ndarray::{s, Array2, ArrayView2, ArrayViewMut2};

use super::packing::Packing;
use super::params::CellParams;
use crate::kernels::float::Float;
use crate::kernels::gemm::{gemm_add, gemm_bias_rows, gemm_set};
use crate::kernels::linalg::{recycle, scratch, transposed};
use crate::kernels::simd::widest_simd;

/// Inputs and outputs of one row's forward step. Slices are one row: `gates` and `pre_hh`
/// have G*H values, `saved` has SAVED*H, the states H (or 0 for `c` when the cell has none).
pub struct RowForward<'a, F> {
    /// In: `W_ih x_t + b_ih` for this row. Out: the gate activations, kept for backward.
    /// One buffer for both saves writing (and allocating) a second (N, G*H) array.
    pub gates: &'a mut [F],
    /// `W_hh h_{t-1} + b_hh` for this row.
    pub pre_hh: &'a [F],
    pub h_prev: &'a [F],
    pub c_prev: &'a [F],
    /// Out: any other per-row value backward needs.
    pub saved: &'a mut [F],
    /// Out: `h_t`.
    pub h: &'a mut [F],
    /// Out: `c_t` (LSTM only).
    pub c: &'a mut [F],
}

/// Inputs and outputs of one row's backward step.
pub struct RowBackward<'a, F> {
    pub gates: &'a [F],
    pub saved: &'a [F],
    pub h_prev: &'a [F],
    pub c_prev: &'a [F],
    /// dL/dh_t.
    pub dh: &'a [F],
    /// dL/dc_t (LSTM only).
    pub dc: &'a [F],
    /// Out: dL/d(pre_ih), the gradient of the input-side pre-activations (G*H).
    pub d_pre_ih: &'a mut [F],
    /// Out: dL/d(pre_hh) (G*H) when [`Cell::SEPARATE_RECURRENT_GRAD`]; empty otherwise, as
    /// `d_pre_ih` is then the recurrent side's gradient too.
    pub d_pre_hh: &'a mut [F],
    /// Out: the part of dL/dh_{t-1} that does not go through `W_hh` (GRU's `z * dh`).
    pub dh_prev_direct: &'a mut [F],
    /// Out: dL/dc_{t-1} (LSTM only).
    pub dc_prev: &'a mut [F],
}

/// The gate arithmetic of one cell type.
///
/// The row functions run inside [`widest_simd`], so implementations must be
/// `#[inline(always)]` for their loops to get the wide vector instructions.
pub trait Cell {
    /// G: gate blocks stacked in the weights.
    const GATES: usize;
    /// Whether the cell carries a second state `c` (LSTM).
    const HAS_CELL_STATE: bool;
    /// Extra per-row values saved for backward, in units of H.
    const SAVED: usize;
    /// Whether dL/d(pre_hh) differs from dL/d(pre_ih) (the GRU's n gate, where the reset
    /// gate scales the recurrent side). When it does not (RNN, LSTM), backward keeps one
    /// (N, G*H) gradient array for both products instead of two equal ones.
    const SEPARATE_RECURRENT_GRAD: bool;

    fn forward_row<F: Float>(row: RowForward<'_, F>);
    fn backward_row<F: Float>(row: RowBackward<'_, F>);
}

/// A layer-direction's recurrent state for every row: where a run starts and where it ends.
/// A language model carries it from one chunk of a text stream to the next (truncated BPTT);
/// the classifier starts every text from zeros.
#[derive(Clone, Debug, PartialEq)]
pub struct State<F> {
    /// (B, H) `h`, rows in batch order.
    pub h: Array2<F>,
    /// (B, H) `c` for the LSTM, (B, 0) otherwise.
    pub c: Array2<F>,
}

impl<F: Float> State<F> {
    /// The zero state of `rows` rows of a cell with `hidden` units.
    pub fn zeros(rows: usize, hidden: usize, has_cell_state: bool) -> Self {
        Self {
            h: Array2::zeros((rows, hidden)),
            c: Array2::zeros((rows, if has_cell_state { hidden } else { 0 })),
        }
    }
}

/// What forward keeps for backward, all packed (N rows).
#[derive(Clone, Debug)]
pub struct RecurrentCache<F> {
    /// (N, E) the inputs.
    x: Array2<F>,
    /// (N, G*H) gate activations.
    gates: Array2<F>,
    /// (N, SAVED*H) cell-specific saved values.
    saved: Array2<F>,
    /// (N, H) `h_{t-1}` of each running row.
    h_prev: Array2<F>,
    /// (N, H) `c_{t-1}` for the LSTM, (N, 0) otherwise.
    c_prev: Array2<F>,
    /// Whether the run started from a given state rather than zeros: the first step's
    /// `h_{-1}` then adds to dW_hh.
    from_state: bool,
}

#[inline(always)]
fn row<F>(a: &Array2<F>, i: usize) -> &[F] {
    let w = a.ncols();
    &a.as_slice().expect("standard layout")[i * w..(i + 1) * w]
}

#[inline(always)]
fn row_mut<F>(a: &mut Array2<F>, i: usize) -> &mut [F] {
    let w = a.ncols();
    &mut a.as_slice_mut().expect("standard layout")[i * w..(i + 1) * w]
}

/// Fills every row of `out` with `bias`.
fn broadcast_rows<F: Float>(out: &mut ArrayViewMut2<F>, bias: &[F]) {
    for mut r in out.rows_mut() {
        r.as_slice_mut()
            .expect("standard layout")
            .copy_from_slice(bias);
    }
}

/// What a layer's forward pass starts from, packed (N rows).
pub enum Input<F> {
    /// (N, I) the layer's inputs.
    Raw(Array2<F>),
    /// (N, G*H) the inputs already projected, row by row exactly as [`project`] does
    /// (`W_ih x_t + b_ih`); inference only, as backward needs the inputs themselves.
    Projected(Array2<F>),
}

/// The input projection `XW = X W_ih^T + b_ih`: `(N, I) x (I, G*H)`, all steps at once.
///
/// Uses [`gemm_bias_rows`], so each row is a function of its own input only: projecting a
/// token's input alone, or in any set of rows, gives the same bits. Inference relies on
/// that to project each distinct token of many batches once (see [`Input::Projected`]).
pub fn project<F: Float>(p: &CellParams<F>, x: ArrayView2<F>) -> Array2<F> {
    debug_assert_eq!(x.ncols(), p.w_ih.shape[1]);
    // W_ih^T transposed to row-major once, which the row kernel needs.
    let w_ih_t = transposed(p.w_ih.matrix());
    let mut xw = scratch(x.nrows(), p.w_ih.shape[0]);
    gemm_bias_rows(x, w_ih_t.view(), &p.b_ih.data, &mut xw.view_mut());
    recycle(w_ih_t);
    xw
}

/// Runs the cell over a packed batch from the zero state.
///
/// `input` is in packed order. Returns the hidden state after every token, `(N, H)` in
/// packed order, and the cache for [`backward`]. With `keep` false (inference) the per-token
/// values other than the gates are written to step-sized scratch rows instead of N rows, and
/// the cache is empty and must not be given to [`backward`]. `keep` needs [`Input::Raw`].
pub fn forward<C: Cell, F: Float>(
    p: &CellParams<F>,
    input: Input<F>,
    packing: &Packing,
    keep: bool,
) -> (Array2<F>, RecurrentCache<F>) {
    let (h_all, cache, _) = forward_from::<C, F>(p, input, packing, keep, None);
    (h_all, cache)
}

/// [`forward`] from `initial` (zeros when `None`); also returns each row's state after its
/// last token, rows in batch order. Backward treats the initial state as a constant: no
/// gradient flows into it (truncated backpropagation through time).
pub fn forward_from<C: Cell, F: Float>(
    p: &CellParams<F>,
    input: Input<F>,
    packing: &Packing,
    keep: bool,
    initial: Option<&State<F>>,
) -> (Array2<F>, RecurrentCache<F>, State<F>) {
    let gh = p.w_ih.shape[0];
    let hidden = p.w_hh.shape[1];
    debug_assert_eq!(gh, C::GATES * hidden);
    let (b, n_total) = (packing.rows(), packing.total);
    let c_width = if C::HAS_CELL_STATE { hidden } else { 0 };

    // XW (N, G*H); the time loop turns each row into that token's gate activations in place.
    let (x, mut gates) = match input {
        Input::Raw(x) => {
            let xw = project(p, x.view());
            (x, xw)
        }
        Input::Projected(xw) => {
            assert!(
                !keep,
                "training needs the layer's inputs, not their projection"
            );
            (Array2::zeros((0, 0)), xw)
        }
    };
    debug_assert_eq!(gates.dim(), (n_total, gh));

    // Rows of the other per-token arrays: every token for training, one step's rows for
    // inference. The time loop writes each row before anything reads it (scratch).
    let kept = if keep { n_total } else { b };
    let mut saved = scratch::<F>(kept, C::SAVED * hidden);
    let mut h_prev = scratch::<F>(kept, hidden);
    let mut c_prev = scratch::<F>(kept, c_width);
    // Running states in sorted-row order: (B, H).
    let mut h = Array2::<F>::zeros((b, hidden));
    let mut c = Array2::<F>::zeros((b, c_width));
    if let Some(state) = initial {
        debug_assert_eq!((state.h.dim(), state.c.dim()), ((b, hidden), (b, c_width)));
        for (s, &row) in packing.sorted_rows.iter().enumerate() {
            h.row_mut(s).assign(&state.h.row(row));
            c.row_mut(s).assign(&state.c.row(row));
        }
    }
    let mut pre_hh = Array2::<F>::zeros((b, gh));
    let mut h_all = scratch::<F>(n_total, hidden);
    // W_hh^T (H, G*H) copied to row-major once per call: the per-step product reads it in
    // place, where a product of a transposed view re-packs it at every step (measured at 16
    // rows: 55 GFLOP/s with gemm re-packing, 115 without). Forward products use
    // the row kernel, so rows are independent of their batch-mates.
    let w_hh_t = transposed(p.w_hh.matrix());

    for (&n, &off) in packing.batch_sizes.iter().zip(&packing.offsets) {
        let base = if keep { off } else { 0 };
        h_prev
            .slice_mut(s![base..base + n, ..])
            .assign(&h.slice(s![..n, ..]));
        c_prev
            .slice_mut(s![base..base + n, ..])
            .assign(&c.slice(s![..n, ..]));
        // (n, H) x (H, G*H) + b_hh; at the first step from zeros h_{-1} = 0 and the
        // product adds exact zeros, so it is skipped.
        let mut hh = pre_hh.slice_mut(s![..n, ..]);
        if off > 0 || initial.is_some() {
            gemm_bias_rows(h.slice(s![..n, ..]), w_hh_t.view(), &p.b_hh.data, &mut hh);
        } else {
            broadcast_rows(&mut hh, &p.b_hh.data);
        }

        widest_simd(
            #[inline(always)]
            || {
                for r in 0..n {
                    C::forward_row(RowForward {
                        gates: row_mut(&mut gates, off + r),
                        pre_hh: row(&pre_hh, r),
                        h_prev: row(&h_prev, base + r),
                        c_prev: row(&c_prev, base + r),
                        saved: row_mut(&mut saved, base + r),
                        h: row_mut(&mut h, r),
                        c: row_mut(&mut c, r),
                    });
                }
            },
        );
        h_all
            .slice_mut(s![off..off + n, ..])
            .assign(&h.slice(s![..n, ..]));
    }
    recycle(w_hh_t);
    let mut last = State {
        h: Array2::zeros((b, hidden)),
        c: Array2::zeros((b, c_width)),
    };
    for (s, &row) in packing.sorted_rows.iter().enumerate() {
        last.h.row_mut(row).assign(&h.row(s));
        last.c.row_mut(row).assign(&c.row(s));
    }
    let from_state = initial.is_some();
    let cache = if keep {
        RecurrentCache {
            x,
            gates,
            saved,
            h_prev,
            c_prev,
            from_state,
        }
    } else {
        for scratch in [x, gates, saved, h_prev, c_prev] {
            recycle(scratch);
        }
        let empty = || Array2::zeros((0, 0));
        RecurrentCache {
            x: empty(),
            gates: empty(),
            saved: empty(),
            h_prev: empty(),
            c_prev: empty(),
            from_state,
        }
    };
    (h_all, cache, last)
}

/// Backpropagates through time. `d_h_all` is dL/dh_t for every token, `(N, H)` in packed
/// order. Adds the weight gradients into `grads` and returns dL/dx, `(N, I)` in packed order.
pub fn backward<C: Cell, F: Float>(
    p: &CellParams<F>,
    cache: &RecurrentCache<F>,
    packing: &Packing,
    d_h_all: ArrayView2<F>,
    grads: &mut CellParams<F>,
) -> Array2<F> {
    let gh = p.w_ih.shape[0];
    let hidden = p.w_hh.shape[1];
    let (b, n_total) = (packing.rows(), packing.total);
    let c_width = cache.c_prev.ncols();
    debug_assert_eq!(d_h_all.dim(), (n_total, hidden));

    // dL/dh_t and dL/dc_t of the running rows through the recurrence, sorted-row order (B, H);
    // each step adds the gradient arriving at h_t from above (pooling or the next layer).
    let mut dh = Array2::<F>::zeros((b, hidden));
    let mut dc = Array2::<F>::zeros((b, c_width));
    let mut dh_direct = Array2::<F>::zeros((b, hidden));
    let mut dc_prev = Array2::<F>::zeros((b, c_width));
    // (N, G*H) pre-activation gradients of the input side and, when they differ, of the
    // recurrent side; the time loop writes every row.
    let mut d_pre_ih = scratch::<F>(n_total, gh);
    let separate = C::SEPARATE_RECURRENT_GRAD;
    let mut d_pre_hh = scratch::<F>(if separate { n_total } else { 0 }, gh);
    let w_hh = p.w_hh.matrix();

    for (&n, &off) in packing.batch_sizes.iter().zip(&packing.offsets).rev() {
        let mut arriving = dh.slice_mut(s![..n, ..]);
        arriving += &d_h_all.slice(s![off..off + n, ..]);
        widest_simd(
            #[inline(always)]
            || {
                for r in 0..n {
                    C::backward_row(RowBackward {
                        gates: row(&cache.gates, off + r),
                        saved: row(&cache.saved, off + r),
                        h_prev: row(&cache.h_prev, off + r),
                        c_prev: row(&cache.c_prev, off + r),
                        dh: row(&dh, r),
                        dc: row(&dc, r),
                        d_pre_ih: row_mut(&mut d_pre_ih, off + r),
                        d_pre_hh: if separate {
                            row_mut(&mut d_pre_hh, off + r)
                        } else {
                            &mut []
                        },
                        dh_prev_direct: row_mut(&mut dh_direct, r),
                        dc_prev: row_mut(&mut dc_prev, r),
                    });
                }
            },
        );
        if off == 0 {
            // The initial state is a constant (zeros, or a carried state whose history is
            // truncated): nothing needs dL/dh_{-1}.
            break;
        }
        // dh_{t-1} = direct part + dA_hh W_hh: (n, G*H) x (G*H, H). Rows >= n are finished
        // earlier in time and keep their gradient untouched.
        let d_pre_rec = if separate { &d_pre_hh } else { &d_pre_ih };
        let mut dh_run = dh.slice_mut(s![..n, ..]);
        dh_run.assign(&dh_direct.slice(s![..n, ..]));
        gemm_add(d_pre_rec.slice(s![off..off + n, ..]), w_hh, &mut dh_run);
        dc.slice_mut(s![..n, ..])
            .assign(&dc_prev.slice(s![..n, ..]));
    }

    // Weight gradients: one product each over all steps. From the zero state, the first
    // step's rows of H_prev are h_{-1} = 0 and add nothing to dW_hh.
    let d_pre_rec = if separate { &d_pre_hh } else { &d_pre_ih };
    let first = if cache.from_state {
        0
    } else {
        packing.batch_sizes.first().copied().unwrap_or(0)
    };
    gemm_add(d_pre_ih.t(), cache.x.view(), &mut grads.w_ih.matrix_mut());
    gemm_add(
        d_pre_rec.slice(s![first.., ..]).t(),
        cache.h_prev.slice(s![first.., ..]),
        &mut grads.w_hh.matrix_mut(),
    );
    // b_ih and b_hh: one pass over dA, which is both gradients' unless the cell separates them.
    if separate {
        add_column_sums(&d_pre_ih, &mut grads.b_ih.data, None);
        add_column_sums(&d_pre_hh, &mut grads.b_hh.data, None);
    } else {
        add_column_sums(&d_pre_ih, &mut grads.b_ih.data, Some(&mut grads.b_hh.data));
    }

    // dX = dA_ih W_ih: (N, G*H) x (G*H, E).
    let mut d_x = scratch::<F>(n_total, cache.x.ncols());
    gemm_set(d_pre_ih.view(), p.w_ih.matrix(), &mut d_x.view_mut());
    recycle(d_pre_ih);
    recycle(d_pre_hh);
    d_x
}

/// `out[j] += sum_i a[i, j]`, rows in order (deterministic), and the same additions into
/// `also` when given.
fn add_column_sums<F: Float>(a: &Array2<F>, out: &mut [F], mut also: Option<&mut [F]>) {
    let width = out.len();
    debug_assert_eq!(a.ncols(), width);
    let Some(a) = a.as_slice().filter(|_| width > 0) else {
        return;
    };
    widest_simd(
        #[inline(always)]
        || {
            for r in a.chunks_exact(width) {
                for (o, &v) in out.iter_mut().zip(r) {
                    *o += v;
                }
                if let Some(also) = also.as_deref_mut() {
                    for (o, &v) in also.iter_mut().zip(r) {
                        *o += v;
                    }
                }
            }
        },
    );
}
