//! rnn-sentiment against PyTorch: logits, loss, every gradient, and a few optimizer steps, from
//! fixtures written by `scripts/make_reference.py` (torch, float64). Python is not needed here.

use rnn_sentiment::batch::Batch;
use rnn_sentiment::config::{CellKind, OptimizerKind};
use rnn_sentiment::model::loss::mean_bce_with_logits;
use rnn_sentiment::model::params::{Params, PARAM_NAMES};
use rnn_sentiment::model::Classifier;
use rnn_sentiment::optim::{clip_grad_norm, Optimizer};
use serde_json::Value;

use crate::common::*;

struct Fixture {
    json: Value,
    model: Classifier<f64>,
    batch: Batch,
    labels: Vec<f64>,
}

fn fixture(cell: CellKind) -> Fixture {
    let path = repo_file(&format!("tests/fixtures/reference_{}.json", cell.name()));
    let json: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let config = tiny_config(
        cell,
        json["vocab_size"].as_u64().unwrap() as usize,
        json["embed_dim"].as_u64().unwrap() as usize,
        json["hidden_dim"].as_u64().unwrap() as usize,
    );
    let model = Classifier {
        config,
        params: Params::from_tensors(tensors_from_json(&json["weights"])),
    };
    let batch = batch_from_json(&json["ids"], &json["lengths"]);
    let labels = floats(&json["labels"]);
    Fixture {
        json,
        model,
        batch,
        labels,
    }
}

fn forward_and_gradients_match(cell: CellKind) {
    let fx = fixture(cell);
    let (logits, _) = fx.model.forward(&fx.batch);
    assert_close("logits", &logits, &floats(&fx.json["logits"]), 1e-12);
    let (loss, _) = mean_bce_with_logits(&logits, &fx.labels);
    assert_close("loss", &[loss], &[fx.json["loss"].as_f64().unwrap()], 1e-12);

    let grads = gradients(&fx.model, &fx.batch, &fx.labels);
    let expected = tensors_from_json(&fx.json["grads"]);
    for ((name, got), want) in grads.named().zip(&expected) {
        assert_eq!(got.shape, want.shape, "{name} shape");
        assert_close(&format!("d {name}"), &got.data, &want.data, 1e-11);
    }
}

fn optimizer_steps_match(cell: CellKind, which: &str) {
    let fx = fixture(cell);
    let settings = &fx.json[which];
    let lr = settings["lr"].as_f64().unwrap();
    let (kind, momentum) = match which {
        "adam" => (OptimizerKind::Adam, 0.0),
        _ => (OptimizerKind::Sgd, settings["momentum"].as_f64().unwrap()),
    };
    let clip = settings["clip_norm"].as_f64();
    let mut model = fx.model.clone();
    let mut optimizer = Optimizer::new(kind, lr, momentum, &model.params);
    let mut losses = Vec::new();
    for _ in 0..settings["steps"].as_u64().unwrap() {
        losses.push(loss(&model, &fx.batch, &fx.labels));
        let mut grads = gradients(&model, &fx.batch, &fx.labels);
        if let Some(max_norm) = clip {
            clip_grad_norm(&mut grads, max_norm);
        }
        optimizer.step(&mut model.params, &grads);
    }
    losses.push(loss(&model, &fx.batch, &fx.labels));
    assert_close(
        &format!("{which} losses"),
        &losses,
        &floats(&settings["losses"]),
        1e-10,
    );
    let expected = tensors_from_json(&settings["weights_after"]);
    for ((name, got), want) in PARAM_NAMES
        .iter()
        .zip(model.params.tensors())
        .zip(&expected)
    {
        assert_close(&format!("{which} {name}"), &got.data, &want.data, 1e-10);
    }
}

/// The f32 path (what the tool runs) agrees with PyTorch's float64 to f32 precision.
fn f32_forward_matches(cell: CellKind) {
    let fx = fixture(cell);
    let model32 = fx.model.cast::<f32>();
    let (logits, _) = model32.forward(&fx.batch);
    let logits: Vec<f64> = logits.into_iter().map(f64::from).collect();
    assert_close("f32 logits", &logits, &floats(&fx.json["logits"]), 1e-5);
}

#[test]
fn rnn_matches_pytorch() {
    forward_and_gradients_match(CellKind::Rnn);
    f32_forward_matches(CellKind::Rnn);
}

#[test]
fn lstm_matches_pytorch() {
    forward_and_gradients_match(CellKind::Lstm);
    f32_forward_matches(CellKind::Lstm);
}

#[test]
fn gru_matches_pytorch() {
    forward_and_gradients_match(CellKind::Gru);
    f32_forward_matches(CellKind::Gru);
}

#[test]
fn adam_with_clipping_matches_pytorch() {
    for cell in CELLS {
        optimizer_steps_match(cell, "adam");
    }
}

#[test]
fn sgd_momentum_matches_pytorch() {
    for cell in CELLS {
        optimizer_steps_match(cell, "sgd");
    }
}
