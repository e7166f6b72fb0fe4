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
use crate::float::{sigmoid, Float};

/// Marker for the LSTM cell.
pub struct Lstm;

impl Cell for Lstm {
    const GATES: usize = 4;
    const HAS_CELL_STATE: bool = true;
    /// `c_t`, so backward need not recompute it.
    const SAVED: usize = 1;

    #[inline]
    fn forward_row<F: Float>(row: RowForward<'_, F>) {
        let hidden = row.h.len();
        let a = |k: usize, j: usize| row.pre_ih[k * hidden + j] + row.pre_hh[k * hidden + j];
        for j in 0..hidden {
            let i = sigmoid(a(0, j));
            let f = sigmoid(a(1, j));
            let g = a(2, j).tanh();
            let o = sigmoid(a(3, j));
            // c' = f * c + i * g;  h' = o * tanh(c')
            let c = f * row.c_prev[j] + i * g;
            let h = o * c.tanh();
            row.gates[j] = i;
            row.gates[hidden + j] = f;
            row.gates[2 * hidden + j] = g;
            row.gates[3 * hidden + j] = o;
            row.saved[j] = c;
            row.c[j] = c;
            row.h[j] = h;
        }
    }

    #[inline]
    fn backward_row<F: Float>(row: RowBackward<'_, F>) {
        let hidden = row.dh.len();
        let one = F::one();
        for j in 0..hidden {
            let i = row.gates[j];
            let f = row.gates[hidden + j];
            let g = row.gates[2 * hidden + j];
            let o = row.gates[3 * hidden + j];
            let tanh_c = row.saved[j].tanh();
            let dh = row.dh[j];
            // dL/dc' gathers the path through h' = o tanh(c') and the path from step t+1.
            let dc = row.dc[j] + dh * o * (one - tanh_c * tanh_c);
            let d_o = dh * tanh_c;
            let d_i = dc * g;
            let d_f = dc * row.c_prev[j];
            let d_g = dc * i;
            row.dc_prev[j] = dc * f;
            // Through the activations: sigma' = s (1 - s), tanh' = 1 - t^2.
            let pre = [
                d_i * i * (one - i),
                d_f * f * (one - f),
                d_g * (one - g * g),
                d_o * o * (one - o),
            ];
            for (k, d) in pre.into_iter().enumerate() {
                row.d_pre_ih[k * hidden + j] = d;
                row.d_pre_hh[k * hidden + j] = d;
            }
            row.dh_prev_direct[j] = F::zero();
        }
    }
}
