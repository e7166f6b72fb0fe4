//! The Elman RNN cell with tanh, as `torch.nn.RNN(nonlinearity="tanh")`.
//!
//! `h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`

use super::recurrent::{Cell, RowBackward, RowForward};
use crate::float::Float;

/// Marker for the RNN cell.
pub struct Rnn;

impl Cell for Rnn {
    const GATES: usize = 1;
    const HAS_CELL_STATE: bool = false;
    const SAVED: usize = 0;

    #[inline]
    fn forward_row<F: Float>(row: RowForward<'_, F>) {
        for j in 0..row.h.len() {
            let h = (row.pre_ih[j] + row.pre_hh[j]).tanh();
            row.gates[j] = h;
            row.h[j] = h;
        }
    }

    #[inline]
    fn backward_row<F: Float>(row: RowBackward<'_, F>) {
        let one = F::one();
        for j in 0..row.dh.len() {
            let h = row.gates[j];
            // d tanh(a) / da = 1 - tanh(a)^2
            let d_pre = row.dh[j] * (one - h * h);
            row.d_pre_ih[j] = d_pre;
            row.d_pre_hh[j] = d_pre;
            row.dh_prev_direct[j] = F::zero();
        }
    }
}
