//! The GRU cell, as `torch.nn.GRU`: gate blocks stacked in the order r, z, n.
//!
//! ```text
//! r  = sigma(W_ir x + b_ir + W_hr h + b_hr)
//! z  = sigma(W_iz x + b_iz + W_hz h + b_hz)
//! n  = tanh (W_in x + b_in + r * (W_hn h + b_hn))
//! h' = (1 - z) * n + z * h
//! ```
//!
//! The reset gate multiplies the recurrent product *after* the matrix product, as in PyTorch,
//! cuDNN and Keras' `reset_after=True`. Cho et al. (2014) apply it before (`W_hn (r * h)`),
//! which is a different model with non-interchangeable weights; the update often written in
//! tutorials as `h' = (1 - z) * r * tanh(...)` is simply wrong.

use super::recurrent::{Cell, RowBackward, RowForward};
use crate::float::{sigmoid, Float};

/// Marker for the GRU cell.
pub struct Gru;

impl Cell for Gru {
    const GATES: usize = 3;
    const HAS_CELL_STATE: bool = false;
    /// `W_hn h + b_hn`, needed for dL/dr.
    const SAVED: usize = 1;

    #[inline]
    fn forward_row<F: Float>(row: RowForward<'_, F>) {
        let hidden = row.h.len();
        let one = F::one();
        for j in 0..hidden {
            let (jr, jz, jn) = (j, hidden + j, 2 * hidden + j);
            let r = sigmoid(row.pre_ih[jr] + row.pre_hh[jr]);
            let z = sigmoid(row.pre_ih[jz] + row.pre_hh[jz]);
            let hn = row.pre_hh[jn];
            // n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
            let n = (row.pre_ih[jn] + r * hn).tanh();
            // h' = (1 - z) * n + z * h
            row.h[j] = (one - z) * n + z * row.h_prev[j];
            row.gates[jr] = r;
            row.gates[jz] = z;
            row.gates[jn] = n;
            row.saved[j] = hn;
        }
    }

    #[inline]
    fn backward_row<F: Float>(row: RowBackward<'_, F>) {
        let hidden = row.dh.len();
        let one = F::one();
        for j in 0..hidden {
            let (jr, jz, jn) = (j, hidden + j, 2 * hidden + j);
            let (r, z, n) = (row.gates[jr], row.gates[jz], row.gates[jn]);
            let hn = row.saved[j];
            let dh = row.dh[j];
            let d_n = dh * (one - z);
            let d_z = dh * (row.h_prev[j] - n);
            row.dh_prev_direct[j] = dh * z;
            let d_n_pre = d_n * (one - n * n);
            let d_r = d_n_pre * hn;
            let d_r_pre = d_r * r * (one - r);
            let d_z_pre = d_z * z * (one - z);
            row.d_pre_ih[jr] = d_r_pre;
            row.d_pre_hh[jr] = d_r_pre;
            row.d_pre_ih[jz] = d_z_pre;
            row.d_pre_hh[jz] = d_z_pre;
            row.d_pre_ih[jn] = d_n_pre;
            // The recurrent side of n is scaled by r before it joins the sum.
            row.d_pre_hh[jn] = d_n_pre * r;
        }
    }
}
