//! The Elman RNN cell with tanh, as `torch.nn.RNN(nonlinearity="tanh")`.
//!
//! `h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`

use super::recurrent::{Cell, RowBackward, RowForward};
use crate::kernels::float::Float;

/// Marker for the RNN cell.
pub struct Rnn;

impl Cell for Rnn {
    const GATES: usize = 1;
    const HAS_CELL_STATE: bool = false;
    const SAVED: usize = 0;
    const SEPARATE_RECURRENT_GRAD: bool = false;

    #[inline(always)]
    fn forward_row<F: Float>(row: RowForward<'_, F>) {
        let hidden = row.h.len();
        // Equal lengths let the compiler drop bounds checks and vectorise.
        // `gates` holds W_ih x + b_ih on entry and h on return.
        let (pre_hh, gates) = (&row.pre_hh[..hidden], &mut row.gates[..hidden]);
        for j in 0..hidden {
            let h = (gates[j] + pre_hh[j]).gate_tanh();
            gates[j] = h;
            row.h[j] = h;
        }
    }

    #[inline(always)]
    fn backward_row<F: Float>(row: RowBackward<'_, F>) {
        let hidden = row.dh.len();
        let one = F::one();
        // One gradient for both sides (SEPARATE_RECURRENT_GRAD is false).
        let (gates, d_pre, direct) = (
            &row.gates[..hidden],
            &mut row.d_pre_ih[..hidden],
            &mut row.dh_prev_direct[..hidden],
        );
        for j in 0..hidden {
            let h = gates[j];
            // d tanh(a) / da = 1 - tanh(a)^2
            d_pre[j] = row.dh[j] * (one - h * h);
            direct[j] = F::zero();
        }
    }
}
