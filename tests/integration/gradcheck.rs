//! Finite-difference checks of every gradient, in f64: for each scalar parameter p,
//! `(L(p + h) - L(p - h)) / 2h` against the analytic gradient, h = 1e-5. Central differences
//! have O(h^2) error (about 1e-10 here), so 1e-7 relative tolerance leaves wide margin
//! while still catching any real mistake (which shows up at 1e-2 or worse). Max pooling is
//! piecewise linear; the random weights keep every max well clear of a tie. K-class models
//! check the softmax head and cross-entropy (with class weights) the same way.

use rnn_sentiment::batch::Batch;
use rnn_sentiment::config::{CellKind, ModelConfig, Pooling};
use rnn_sentiment::model::params::expected_shapes;
use rnn_sentiment::model::Classifier;

use crate::common::*;

const H: f64 = 1e-5;
const TOL: f64 = 1e-7;

/// A batch exercising the masking path: unsorted lengths, a length-1 row, an empty row, ties;
/// binary targets.
fn masked_batch() -> (Batch, Vec<usize>) {
    let rows: Vec<Vec<u32>> = vec![
        vec![2, 3, 4, 5],
        vec![6],
        vec![],
        vec![1, 2, 6, 6, 3],
        vec![5, 4, 3, 2],
    ];
    (Batch::from_sequences(&rows), vec![1, 0, 1, 0, 1])
}

/// `masked_batch`'s rows with targets of classes 0..K (every class present for K <= 5).
fn targets(classes: usize) -> Vec<usize> {
    match classes {
        0 => masked_batch().1,
        k => (0..5).map(|i| (i * 2 + 1) % k).collect(),
    }
}

fn check(config: ModelConfig, spec: &LossSpec) {
    let what = format!(
        "{} L={} bi={} {} {spec:?}",
        config.cell.name(),
        config.layers,
        config.bidirectional,
        config.pooling.name()
    );
    let mut model = random_model(config, 11);
    // Larger recurrent weights push gates into their nonlinear range.
    for cell in &mut model.params.rnn {
        for w in cell.w_hh.data.iter_mut() {
            *w *= 3.0;
        }
    }
    let (batch, _) = masked_batch();
    let labels = targets(model.config.classes.len());
    let analytic = gradients(&model, &batch, &labels, spec);
    let names = expected_shapes(&model.config);
    let mut checked = 0;
    for (index, (name, _)) in names.iter().enumerate() {
        for i in 0..analytic.tensors()[index].data.len() {
            let numeric = {
                let mut plus: Classifier<f64> = model.clone();
                plus.params.tensors_mut()[index].data[i] += H;
                let mut minus = model.clone();
                minus.params.tensors_mut()[index].data[i] -= H;
                (loss(&plus, &batch, &labels, spec) - loss(&minus, &batch, &labels, spec))
                    / (2.0 * H)
            };
            let a = analytic.tensors()[index].data[i];
            let err = (a - numeric).abs() / a.abs().max(numeric.abs()).max(1e-3);
            assert!(
                err < TOL,
                "{what} d {name}[{i}]: analytic {a:e}, numeric {numeric:e}, error {err:e}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, model.config.parameter_count());
    let e = model.config.embed_dim;
    // The <pad> row never gets gradient (PyTorch's padding_idx = 0).
    assert!(analytic.embedding.data[..e].iter().all(|&g| g == 0.0));
    // Every used token row does (token 2 appears in several rows).
    assert!(
        analytic.embedding.data[2 * e..3 * e]
            .iter()
            .any(|&g| g != 0.0),
        "{what}"
    );
}

fn config(cell: CellKind, layers: usize, bidirectional: bool, pooling: Pooling) -> ModelConfig {
    ModelConfig {
        layers,
        bidirectional,
        pooling,
        ..tiny_config(cell, 7, 3, 4)
    }
}

#[test]
fn single_layer_cells_match_finite_differences() {
    for cell in CELLS {
        check(config(cell, 1, false, Pooling::Last), &LossSpec::PLAIN);
    }
}

#[test]
fn stacked_bidirectional_and_every_pooling_match_finite_differences() {
    for (i, cell) in CELLS.into_iter().enumerate() {
        for pooling in [Pooling::Last, Pooling::Mean, Pooling::Max, Pooling::LastMax] {
            // Vary the other options across the grid so every pairing appears somewhere.
            let layers = 1 + (i + pooling as usize) % 2;
            check(config(cell, layers, true, pooling), &LossSpec::PLAIN);
        }
        check(config(cell, 2, false, Pooling::Mean), &LossSpec::PLAIN);
    }
}

#[test]
fn dropout_and_positive_weight_match_finite_differences() {
    let spec = LossSpec {
        pos_weight: 2.5,
        class_weights: Vec::new(),
        dropout: Some((0.2, 0.3, 17)),
    };
    for cell in CELLS {
        check(config(cell, 2, true, Pooling::LastMax), &spec);
    }
}

/// A model with a softmax head over `classes`.
fn classes(config: ModelConfig, names: &[&str]) -> ModelConfig {
    ModelConfig {
        classes: names.iter().map(|s| s.to_string()).collect(),
        ..config
    }
}

#[test]
fn softmax_head_and_cross_entropy_match_finite_differences() {
    let three = ["negative", "neutral", "positive"];
    for (i, cell) in CELLS.into_iter().enumerate() {
        check(
            classes(config(cell, 1, false, Pooling::Last), &three),
            &LossSpec::PLAIN,
        );
        // Class weights (the mean divides by the targets' summed weights), stacked and
        // bidirectional layers, dropout, and K from 2 to 5.
        let names = ["1", "2", "3", "4", "5"];
        let k = 2 + i;
        let weighted = LossSpec {
            pos_weight: 1.0,
            class_weights: (0..k).map(|c| 0.5 + c as f64 * 0.75).collect(),
            dropout: Some((0.1, 0.2, 5)),
        };
        check(
            classes(config(cell, 2, true, Pooling::LastMax), &names[..k]),
            &weighted,
        );
        check(
            classes(config(cell, 1, true, Pooling::Mean), &names),
            &LossSpec {
                class_weights: vec![2.0, 0.5, 1.0, 3.0, 1.5],
                ..LossSpec::PLAIN
            },
        );
    }
}
