//! Finite-difference checks of every gradient, in f64: for each scalar parameter p,
//! `(L(p + h) - L(p - h)) / 2h` against the analytic gradient, h = 1e-5. Central differences
//! have O(h^2) error (about 1e-10 here), so 1e-7 relative tolerance leaves wide margin
//! while still catching any real mistake (which shows up at 1e-2 or worse).

use rnn_sentiment::batch::Batch;
use rnn_sentiment::config::CellKind;
use rnn_sentiment::model::Classifier;

use crate::common::*;

const H: f64 = 1e-5;
const TOL: f64 = 1e-7;

/// A batch exercising the masking path: unsorted lengths, a length-1 row, an empty row, ties.
fn masked_batch() -> (Batch, Vec<f64>) {
    let rows: Vec<Vec<u32>> = vec![
        vec![2, 3, 4, 5],
        vec![6],
        vec![],
        vec![1, 2, 6, 6, 3],
        vec![5, 4, 3, 2],
    ];
    (Batch::from_sequences(&rows), vec![1.0, 0.0, 1.0, 0.0, 1.0])
}

fn check(cell: CellKind) {
    let mut model = random_model(tiny_config(cell, 7, 3, 4), 11);
    // Larger recurrent weights push gates into their nonlinear range.
    for w in model.params.rnn.w_hh.data.iter_mut() {
        *w *= 3.0;
    }
    let (batch, labels) = masked_batch();
    let analytic = gradients(&model, &batch, &labels);
    let mut checked = 0;
    for index in 0..analytic.tensors().len() {
        let name = rnn_sentiment::model::params::PARAM_NAMES[index];
        for i in 0..analytic.tensors()[index].data.len() {
            let numeric = {
                let mut plus: Classifier<f64> = model.clone();
                plus.params.tensors_mut()[index].data[i] += H;
                let mut minus = model.clone();
                minus.params.tensors_mut()[index].data[i] -= H;
                (loss(&plus, &batch, &labels) - loss(&minus, &batch, &labels)) / (2.0 * H)
            };
            let a = analytic.tensors()[index].data[i];
            let err = (a - numeric).abs() / a.abs().max(numeric.abs()).max(1e-3);
            assert!(
                err < TOL,
                "{} d {name}[{i}]: analytic {a:e}, numeric {numeric:e}, error {err:e}",
                cell.name()
            );
            checked += 1;
        }
    }
    assert_eq!(checked, model.config.parameter_count());
    // The <pad> row never gets gradient (PyTorch's padding_idx = 0).
    assert!(analytic.embedding.data[..3].iter().all(|&g| g == 0.0));
    // Every used token row does.
    assert!(analytic.embedding.data[3 * 2..3 * 3]
        .iter()
        .any(|&g| g != 0.0));
}

#[test]
fn rnn_gradients_match_finite_differences() {
    check(CellKind::Rnn);
}

#[test]
fn lstm_gradients_match_finite_differences() {
    check(CellKind::Lstm);
}

#[test]
fn gru_gradients_match_finite_differences() {
    check(CellKind::Gru);
}
