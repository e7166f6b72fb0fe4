//! The LSTM cell, as `torch.nn.LSTM`: gate blocks stacked in the order i, f, g, o.
//!
//! ```text
//! i = sigma(W_ii x + b_ii + W_hi h + b_hi)
//! f = sigma(W_if x + b_if + W_hf h + b_hf)
//! g = tanh (W_ig x + b_ig + W_hg h + b_hg)
//! o = sigma(W_io x + b_io + W_ho h + b_ho)
//! c' = f * c + i * g
//! h' = o * tanh(c')
//! ```

use super::recurrent::{Cell, RowBackward, RowForward};
use crate::kernels::float::Float;

/// Marker for the LSTM cell.
pub struct Lstm;

/// Splits a G*H row into its four gate blocks (i, f, g, o).
#[inline(always)]
fn blocks<F>(row: &[F], hidden: usize) -> (&[F], &[F], &[F], &[F]) {
    let (i, rest) = row[..4 * hidden].split_at(hidden);
    let (f, rest) = rest.split_at(hidden);
    let (g, o) = rest.split_at(hidden);
    (i, f, g, o)
}

/// Mutable [`blocks`].
#[inline(always)]
fn blocks_mut<F>(row: &mut [F], hidden: usize) -> (&mut [F], &mut [F], &mut [F], &mut [F]) {
    let (i, rest) = row[..4 * hidden].split_at_mut(hidden);
    let (f, rest) = rest.split_at_mut(hidden);
    let (g, o) = rest.split_at_mut(hidden);
    (i, f, g, o)
}

impl Cell for Lstm {
    const GATES: usize = 4;
    const HAS_CELL_STATE: bool = true;
    /// `c_t`, so backward need not recompute it.
    const SAVED: usize = 1;
    const SEPARATE_RECURRENT_GRAD: bool = false;

    #[inline(always)]
    fn forward_row<F: Float>(row: RowForward<'_, F>) {
        let hidden = row.h.len();
        // The gate blocks hold W_i* x + b_i* on entry and the activations on return.
        let (gi, gf, gg, go) = blocks_mut(row.gates, hidden);
        let (hi, hf, hg, ho) = blocks(row.pre_hh, hidden);
        let (c_prev, saved, c) = (
            &row.c_prev[..hidden],
            &mut row.saved[..hidden],
            &mut row.c[..hidden],
        );
        for j in 0..hidden {
            let i = (gi[j] + hi[j]).gate_sigmoid();
            let f = (gf[j] + hf[j]).gate_sigmoid();
            let g = (gg[j] + hg[j]).gate_tanh();
            let o = (go[j] + ho[j]).gate_sigmoid();
            // c' = f * c + i * g;  h' = o * tanh(c')
            let c_new = f * c_prev[j] + i * g;
            gi[j] = i;
            gf[j] = f;
            gg[j] = g;
            go[j] = o;
            saved[j] = c_new;
            c[j] = c_new;
            row.h[j] = o * c_new.gate_tanh();
        }
    }

    #[inline(always)]
    fn backward_row<F: Float>(row: RowBackward<'_, F>) {
        let hidden = row.dh.len();
        let one = F::one();
        let (gi, gf, gg, go) = blocks(row.gates, hidden);
        // The recurrent side's gradient equals this one (SEPARATE_RECURRENT_GRAD is false).
        let (di, df, dg, d_o) = blocks_mut(row.d_pre_ih, hidden);
        let (saved, c_prev, dc_in) = (
            &row.saved[..hidden],
            &row.c_prev[..hidden],
            &row.dc[..hidden],
        );
        let (dc_prev, direct) = (
            &mut row.dc_prev[..hidden],
            &mut row.dh_prev_direct[..hidden],
        );
        for j in 0..hidden {
            let (i, f, g, o) = (gi[j], gf[j], gg[j], go[j]);
            let tanh_c = saved[j].gate_tanh();
            let dh = row.dh[j];
            // dL/dc' gathers the path through h' = o tanh(c') and the path from step t+1.
            let dc = dc_in[j] + dh * o * (one - tanh_c * tanh_c);
            dc_prev[j] = dc * f;
            // Through the activations: sigma' = s (1 - s), tanh' = 1 - t^2.
            let d_i = dc * g * i * (one - i);
            let d_f = dc * c_prev[j] * f * (one - f);
            let d_g = dc * i * (one - g * g);
            let d_o_pre = dh * tanh_c * o * (one - o);
            di[j] = d_i;
            df[j] = d_f;
            dg[j] = d_g;
            d_o[j] = d_o_pre;
            direct[j] = F::zero();
        }
    }
}
