//! rnn-sentiment against PyTorch: logits, loss, every gradient, and a few optimizer steps, from
//! fixtures written by `scripts/make_reference.py` (torch, float64). Python is not needed here.
//! The fixtures cover every cell, stacked and bidirectional layers, every pooling, a positive
//! class weight, Adam, AdamW (decay on matrices only), and SGD with momentum and L2 decay.
//! K-class fixtures (softmax head, `CrossEntropyLoss(weight=)`) cover every cell, K = 3 to 5,
//! a bidirectional and a 2-layer model, class weights in three of them, and Adam/AdamW.

use rnn_sentiment::batch::Batch;
use rnn_sentiment::config::{CellKind, ModelConfig, OptimizerKind, Pooling};
use rnn_sentiment::model::params::{expected_shapes, Params};
use rnn_sentiment::model::{Classifier, Mode};
use rnn_sentiment::optim::{clip_grad_norm, Optimizer};
use serde_json::Value;

use crate::common::*;

const FIXTURES: [&str; 8] = [
    "rnn",
    "lstm",
    "gru",
    "lstm_l2_bi_last",
    "gru_l2_bi_mean",
    "rnn_bi_max",
    "lstm_bi_last_max_posweight",
    "gru_l2_max",
];

/// K-class fixtures (`reference_{name}.json`).
const K_FIXTURES: [&str; 5] = [
    "k3_rnn",
    "k3_lstm_weighted",
    "k4_gru_mean",
    "k3_lstm_bi_max_weighted",
    "k5_gru_l2_last_max_weighted",
];

/// Every fixture, binary and K-class.
fn all_fixtures() -> impl Iterator<Item = &'static str> {
    FIXTURES.into_iter().chain(K_FIXTURES)
}

struct Fixture {
    name: &'static str,
    json: Value,
    model: Classifier<f64>,
    batch: Batch,
    /// Class indices (binary: 0 or 1).
    labels: Vec<usize>,
    spec: LossSpec,
}

fn fixture(name: &'static str) -> Fixture {
    let path = repo_file(&format!("tests/fixtures/reference_{name}.json"));
    let json: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let cell: CellKind = serde_json::from_value(json["cell"].clone()).unwrap();
    let pooling: Pooling = serde_json::from_value(json["pooling"].clone()).unwrap();
    // K-class fixtures name their classes; binary ones have none.
    let classes: Vec<String> = serde_json::from_value(json["classes"].clone()).unwrap_or_default();
    let config = ModelConfig {
        layers: json["layers"].as_u64().unwrap() as usize,
        bidirectional: json["bidirectional"].as_bool().unwrap(),
        pooling,
        classes,
        ..tiny_config(
            cell,
            json["vocab_size"].as_u64().unwrap() as usize,
            json["embed_dim"].as_u64().unwrap() as usize,
            json["hidden_dim"].as_u64().unwrap() as usize,
        )
    };
    let params = Params::from_tensors(tensors_from_json(&json["weights"], &config));
    let model = Classifier { config, params };
    let batch = batch_from_json(&json["ids"], &json["lengths"]);
    let labels = floats(&json["labels"])
        .into_iter()
        .map(|y| y as usize)
        .collect();
    let spec = LossSpec {
        pos_weight: json["pos_weight"].as_f64().unwrap_or(1.0),
        class_weights: match &json["class_weights"] {
            Value::Null => Vec::new(),
            w => floats(w),
        },
        dropout: None,
    };
    Fixture {
        name,
        json,
        model,
        batch,
        labels,
        spec,
    }
}

/// The fixture's logits, row-major: (B) for binary fixtures, (B, K) flattened for K classes.
fn expected_logits(json: &Value) -> Vec<f64> {
    let logits = json["logits"].as_array().unwrap();
    match logits.first() {
        Some(Value::Array(_)) => logits.iter().flat_map(floats).collect(),
        _ => floats(&json["logits"]),
    }
}

#[test]
fn forward_loss_and_every_gradient_match_pytorch() {
    for name in all_fixtures() {
        let fx = fixture(name);
        let (logits, _) = fx.model.forward(&fx.batch, Mode::Eval);
        assert_eq!(
            logits.dim(),
            (fx.labels.len(), fx.model.config.outputs()),
            "{name}"
        );
        assert_close(
            &format!("{name} logits"),
            logits.as_slice().unwrap(),
            &expected_logits(&fx.json),
            1e-12,
        );
        let l = loss(&fx.model, &fx.batch, &fx.labels, &fx.spec);
        assert_close(
            &format!("{name} loss"),
            &[l],
            &[fx.json["loss"].as_f64().unwrap()],
            1e-12,
        );
        let grads = gradients(&fx.model, &fx.batch, &fx.labels, &fx.spec);
        let expected = tensors_from_json(&fx.json["grads"], &fx.model.config);
        let names = expected_shapes(&fx.model.config);
        for (((param, _), got), want) in names.iter().zip(grads.tensors()).zip(&expected) {
            assert_eq!(got.shape, want.shape, "{name} {param} shape");
            assert_close(&format!("{name} d {param}"), &got.data, &want.data, 1e-11);
        }
    }
}

fn optimizer_steps_match(fx: &Fixture, which: &str) {
    let settings = &fx.json[which];
    let lr = settings["lr"].as_f64().unwrap();
    let weight_decay = settings["weight_decay"].as_f64().unwrap();
    let (kind, momentum) = match which {
        "adam" => (OptimizerKind::Adam, 0.0),
        _ => (OptimizerKind::Sgd, settings["momentum"].as_f64().unwrap()),
    };
    let clip = settings["clip_norm"].as_f64();
    let mut model = fx.model.clone();
    let mut optimizer = Optimizer::new(kind, lr, momentum, weight_decay, &model.params);
    let mut losses = Vec::new();
    for _ in 0..settings["steps"].as_u64().unwrap() {
        losses.push(loss(&model, &fx.batch, &fx.labels, &fx.spec));
        let mut grads = gradients(&model, &fx.batch, &fx.labels, &fx.spec);
        if let Some(max_norm) = clip {
            clip_grad_norm(&mut grads, max_norm);
        }
        optimizer.step(&mut model.params, &grads);
    }
    losses.push(loss(&model, &fx.batch, &fx.labels, &fx.spec));
    let what = format!("{} {which}", fx.name);
    assert_close(
        &format!("{what} losses"),
        &losses,
        &floats(&settings["losses"]),
        1e-10,
    );
    let expected = tensors_from_json(&settings["weights_after"], &model.config);
    let names = expected_shapes(&model.config);
    for (((param, _), got), want) in names.iter().zip(model.params.tensors()).zip(&expected) {
        assert_close(&format!("{what} {param}"), &got.data, &want.data, 1e-10);
    }
}

#[test]
fn adam_and_adamw_with_clipping_match_pytorch() {
    for name in all_fixtures() {
        optimizer_steps_match(&fixture(name), "adam");
    }
}

#[test]
fn sgd_momentum_and_weight_decay_match_pytorch() {
    for name in FIXTURES {
        optimizer_steps_match(&fixture(name), "sgd");
    }
}

/// The f32 path (what the tool runs) agrees with PyTorch's float64 to f32 precision.
#[test]
fn f32_forward_matches_pytorch() {
    for name in all_fixtures() {
        let fx = fixture(name);
        let (logits, _) = fx.model.cast::<f32>().forward(&fx.batch, Mode::Eval);
        let logits: Vec<f64> = logits.into_iter().map(f64::from).collect();
        assert_close(
            &format!("{name} f32 logits"),
            &logits,
            &expected_logits(&fx.json),
            1e-5,
        );
    }
}

/// The K-class fixtures are what they claim: K logits a row, every class among the targets,
/// class weights where named (so the weighted mean is really exercised).
#[test]
fn k_class_fixtures_cover_what_they_claim() {
    let mut weighted = 0;
    for name in K_FIXTURES {
        let fx = fixture(name);
        let k = fx.model.config.outputs();
        assert!(k >= 3 && !fx.model.config.is_binary(), "{name}");
        assert_eq!(fx.model.params.fc_weight.shape[0], k, "{name}");
        assert!((0..k).all(|c| fx.labels.contains(&c)), "{name}");
        if name.contains("weighted") {
            assert_eq!(fx.spec.class_weights.len(), k, "{name}");
            weighted += 1;
        }
    }
    assert_eq!(weighted, 3);
}
