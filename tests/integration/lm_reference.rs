//! The language model against PyTorch float64 references (`scripts/make_lm_reference.py`):
//! the mean loss and the gradient of every parameter, for the full and the sampled softmax,
//! from carried (non-zero) initial states, one- and two-direction, one and two layers.

use ndarray::Array2;
use serde_json::Value;

use rnn_sentiment::config::{CellKind, ModelConfig};
use rnn_sentiment::lm::head::Candidates;
use rnn_sentiment::lm::model::{Chunk, LanguageModel, States};
use rnn_sentiment::lm::objective::{loss_and_grads, Softmax};
use rnn_sentiment::lm::sampler::{Proposal, Sampler};
use rnn_sentiment::model::params::{Params, Tensor};
use rnn_sentiment::model::recurrent::State;

use crate::common::*;

const CASES: [&str; 5] = [
    "rnn_full",
    "lstm_full",
    "gru_sampled",
    "lstm_l2_bi_sampled",
    "gru_l2_bi_full",
];

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/lm_reference_{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn ids(v: &Value) -> Array2<u32> {
    let rows: Vec<Vec<u32>> = serde_json::from_value(v.clone()).unwrap();
    Array2::from_shape_fn((rows.len(), rows[0].len()), |(r, t)| rows[r][t])
}

fn matrix(v: &Value, cols: usize) -> Array2<f64> {
    let rows: Vec<Vec<f64>> = serde_json::from_value(v.clone()).unwrap();
    Array2::from_shape_fn((rows.len(), cols), |(r, c)| rows[r][c])
}

/// The fixture's tensors in the LM's order: the classifier's names, the decoder last.
fn tensors(v: &Value, config: &ModelConfig) -> Vec<Tensor<f64>> {
    let mut names: Vec<String> = rnn_sentiment::model::params::expected_shapes(config)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    names.truncate(names.len() - 2);
    names.extend(["decoder.weight".to_string(), "decoder.bias".to_string()]);
    names
        .iter()
        .map(|name| {
            let t = &v[name];
            Tensor {
                shape: serde_json::from_value(t["shape"].clone()).unwrap(),
                data: floats(&t["data"]),
            }
        })
        .collect()
}

fn check(name: &str) {
    let f = fixture(name);
    let cell = match f["cell"].as_str().unwrap() {
        "rnn" => CellKind::Rnn,
        "lstm" => CellKind::Lstm,
        _ => CellKind::Gru,
    };
    let hidden = f["hidden_dim"].as_u64().unwrap() as usize;
    let config = ModelConfig {
        layers: f["layers"].as_u64().unwrap() as usize,
        bidirectional: f["bidirectional"].as_bool().unwrap(),
        ..tiny_config(
            cell,
            f["vocab"].as_u64().unwrap() as usize,
            f["embed_dim"].as_u64().unwrap() as usize,
            hidden,
        )
    };
    let model = LanguageModel {
        params: Params::from_tensors(tensors(&f["weights"], &config)),
        config,
        tied: false,
    };
    let chunks: Vec<Chunk> = f["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Chunk {
            inputs: ids(&c["inputs"]),
            targets: ids(&c["targets"]),
        })
        .collect();
    let c_width = if cell == CellKind::Lstm { hidden } else { 0 };
    let states: States<f64> = f["states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d.as_array()
                .unwrap()
                .iter()
                .map(|s| State {
                    h: matrix(&s["h"], hidden),
                    c: matrix(&s["c"], c_width),
                })
                .collect()
        })
        .collect();
    let counts: Vec<u64> = serde_json::from_value(f["counts"].clone()).unwrap();
    let ids: Vec<u32> = serde_json::from_value(f["candidates"].clone()).unwrap();
    let sampler = Sampler::new(Proposal::Unigram, &counts, ids.len());
    let candidates = Candidates {
        log_expected: ids.iter().map(|&id| sampler.log_expected(id)).collect(),
        ids,
    };
    let softmax = match f["softmax"].as_str().unwrap() {
        "full" => Softmax::Full,
        _ => Softmax::Sampled {
            sampler: &sampler,
            candidates: &candidates,
        },
    };
    let positions = chunks.iter().map(|c| c.inputs.len()).sum();
    let mut grads = model.zero_grads();
    let (loss, _) = loss_and_grads(
        &model,
        &chunks,
        &states,
        (softmax, positions),
        None,
        &mut grads,
    );
    let expected = f["loss"].as_f64().unwrap();
    assert!(
        (loss - expected).abs() <= 1e-12 * expected.abs(),
        "{name}: loss {loss} vs PyTorch {expected}"
    );
    let reference = tensors(&f["grads"], &model.config);
    for (index, (ours, theirs)) in grads.tensors().iter().zip(&reference).enumerate() {
        assert_eq!(ours.shape, theirs.shape, "{name} tensor {index}");
        for (i, (a, b)) in ours.data.iter().zip(&theirs.data).enumerate() {
            assert!(
                (a - b).abs() <= 1e-10 * b.abs().max(1e-3),
                "{name} tensor {index}[{i}]: {a:e} vs PyTorch {b:e}"
            );
        }
    }
}

#[test]
fn loss_and_every_gradient_match_pytorch() {
    for name in CASES {
        check(name);
    }
}
