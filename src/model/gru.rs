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
use crate::kernels::float::Float;

/// Marker for the GRU cell.
pub struct Gru;

impl Cell for Gru {
    const GATES: usize = 3;
    const HAS_CELL_STATE: bool = false;
    /// `W_hn h + b_hn`, needed for dL/dr.
    const SAVED: usize = 1;
    const SEPARATE_RECURRENT_GRAD: bool = true;

    #[inline(always)]
    fn forward_row<F: Float>(row: RowForward<'_, F>) {
        let hidden = row.h.len();
        let one = F::one();
        // The gate blocks hold W_i* x + b_i* on entry and the activations on return.
        let (gr, gz, gn) = blocks_mut(row.gates, hidden);
        let (hr, hz, hn) = blocks(row.pre_hh, hidden);
        let (h_prev, saved) = (&row.h_prev[..hidden], &mut row.saved[..hidden]);
        for j in 0..hidden {
            let r = (gr[j] + hr[j]).gate_sigmoid();
            let z = (gz[j] + hz[j]).gate_sigmoid();
            // n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
            let n = (gn[j] + r * hn[j]).gate_tanh();
            // h' = (1 - z) * n + z * h
            row.h[j] = (one - z) * n + z * h_prev[j];
            gr[j] = r;
            gz[j] = z;
            gn[j] = n;
            saved[j] = hn[j];
        }
    }

    #[inline(always)]
    fn backward_row<F: Float>(row: RowBackward<'_, F>) {
        let hidden = row.dh.len();
        let one = F::one();
        let (gr, gz, gn) = blocks(row.gates, hidden);
        let (dr_ih, dz_ih, dn_ih) = blocks_mut(row.d_pre_ih, hidden);
        let (dr_hh, dz_hh, dn_hh) = blocks_mut(row.d_pre_hh, hidden);
        let (hn, h_prev) = (&row.saved[..hidden], &row.h_prev[..hidden]);
        let direct = &mut row.dh_prev_direct[..hidden];
        for j in 0..hidden {
            let (r, z, n) = (gr[j], gz[j], gn[j]);
            let dh = row.dh[j];
            let d_n = dh * (one - z);
            let d_z = dh * (h_prev[j] - n);
            direct[j] = dh * z;
            let d_n_pre = d_n * (one - n * n);
            let d_r_pre = d_n_pre * hn[j] * r * (one - r);
            let d_z_pre = d_z * z * (one - z);
            dr_ih[j] = d_r_pre;
            dr_hh[j] = d_r_pre;
            dz_ih[j] = d_z_pre;
            dz_hh[j] = d_z_pre;
            dn_ih[j] = d_n_pre;
            // The recurrent side of n is scaled by r before it joins the sum.
            dn_hh[j] = d_n_pre * r;
        }
    }
}

/// Splits a G*H row into its three gate blocks (r, z, n).
#[inline(always)]
fn blocks<F>(row: &[F], hidden: usize) -> (&[F], &[F], &[F]) {
    let (r, rest) = row[..3 * hidden].split_at(hidden);
    let (z, n) = rest.split_at(hidden);
    (r, z, n)
}

/// Mutable [`blocks`].
#[inline(always)]
fn blocks_mut<F>(row: &mut [F], hidden: usize) -> (&mut [F], &mut [F], &mut [F]) {
    let (r, rest) = row[..3 * hidden].split_at_mut(hidden);
    let (z, n) = rest.split_at_mut(hidden);
    (r, z, n)
}
