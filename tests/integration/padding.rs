//! Padding never changes a prediction: a text scored alone and inside a batch of longer (and
//! shorter, and empty) texts gets the same probability, in f32 as the tool runs.

use ndarray::s;
use rnn_sentiment::batch::Batch;
use rnn_sentiment::config::CellKind;
use rnn_sentiment::config::{ModelConfig, Pooling};
use rnn_sentiment::kernels::float::sigmoid;
use rnn_sentiment::model::{Classifier, Mode};
use rnn_sentiment::rng::Rng;

use crate::common::*;

fn model(cell: CellKind) -> Classifier<f32> {
    Classifier::new(tiny_config(cell, 50, 8, 16), &mut Rng::new(3))
}

/// Every cell with the richer architectures: stacked, bidirectional, each pooling.
fn models() -> Vec<Classifier<f32>> {
    let mut out = Vec::new();
    for cell in CELLS {
        out.push(model(cell));
        for (layers, pooling) in [
            (2, Pooling::Last),
            (1, Pooling::Mean),
            (2, Pooling::Max),
            (1, Pooling::LastMax),
        ] {
            let config = ModelConfig {
                layers,
                bidirectional: true,
                pooling,
                ..tiny_config(cell, 50, 8, 16)
            };
            out.push(Classifier::new(config, &mut Rng::new(4)));
        }
    }
    out
}

#[test]
fn alone_or_in_a_batch_the_probability_is_the_same() {
    let rows: Vec<Vec<u32>> = vec![
        vec![7],
        (2..40).collect(),
        vec![9, 9, 4],
        vec![],
        vec![30, 31],
        (10..25).rev().collect(),
    ];
    for m in models() {
        let cell = m.config.cell;
        let together = m.predict_proba(&Batch::from_sequences(&rows));
        for (row, &p) in rows.iter().zip(&together) {
            let alone = m.predict_proba(&Batch::from_sequences(&[row]))[(0, 0)];
            assert!(
                (alone - p).abs() <= 1e-6,
                "{}: length {} alone {alone} vs batched {p}",
                cell.name(),
                row.len()
            );
            assert!((0.0..=1.0).contains(&p));
        }
        // An empty text pools to zeros, so its logit is the head's bias.
        let empty = together[(3, 0)];
        assert!((empty - sigmoid(m.params.fc_bias.data[0])).abs() < 1e-7);
    }
}

#[test]
fn values_in_padding_positions_are_never_read() {
    let rows: Vec<Vec<u32>> = vec![vec![4, 5, 6, 7, 8], vec![3], vec![9, 2]];
    for m in models() {
        let clean = Batch::from_sequences(&rows);
        let mut dirty = clean.clone();
        dirty.ids.slice_mut(s![1, 1..]).fill(49);
        dirty.ids.slice_mut(s![2, 2..]).fill(17);
        assert_eq!(m.predict_proba(&clean), m.predict_proba(&dirty));
    }
}

#[test]
fn inference_without_a_cache_gives_the_same_logits() {
    let rows: Vec<Vec<u32>> = vec![vec![4, 5, 6, 7, 8], vec![3], vec![], vec![9, 2, 11]];
    let batch = Batch::from_sequences(&rows);
    for m in models() {
        assert_eq!(m.logits(&batch), m.forward(&batch, Mode::Eval).0);
    }
}

/// Inference may look the first layer's input projections up in a table of distinct tokens
/// (`predict` on many texts does); that must give the bits of projecting every token.
#[test]
fn looked_up_projections_give_the_same_logits() {
    let rows: Vec<Vec<u32>> = vec![
        vec![7, 7, 7],
        (2..40).collect(),
        vec![],
        vec![49, 0, 1, 30],
        (10..25).rev().collect(),
    ];
    let batch = Batch::from_sequences(&rows);
    let mut ids: Vec<u32> = rows.iter().flatten().copied().collect();
    ids.sort_unstable();
    ids.dedup();
    // Extra ids the batch does not use, in an order other than sorted.
    let mut table_ids = vec![45, 44];
    table_ids.extend(ids.iter().rev());
    for m in models() {
        let projections = m.project_tokens(&table_ids);
        assert!(projections.covers(&ids));
        assert!(!projections.covers(&[46]));
        let want = m.logits(&batch);
        assert_eq!(
            m.logits_projected(&batch, &projections),
            want,
            "{:?}",
            m.config
        );
        assert_eq!(
            m.logits_projected(&Batch::from_sequences(&rows[1..2]), &projections)[(0, 0)],
            want[(1, 0)]
        );
        // The tables are really used: those of other input weights change the logits.
        let mut other = m.clone();
        other.params.rnn[0]
            .w_ih
            .data
            .iter_mut()
            .for_each(|w| *w *= 1.5);
        let foreign = other.project_tokens(&table_ids);
        assert_ne!(m.logits_projected(&batch, &foreign), want);
    }
}
