//! The model file: exact round trips, atomic writes, and loud refusals of bad files.

use rnn_sentiment::config::CellKind;
use rnn_sentiment::model::Classifier;
use rnn_sentiment::model_file::{self, from_json, to_json};
use rnn_sentiment::rng::Rng;
use rnn_sentiment::sentiment::SentimentModel;
use rnn_sentiment::text::{Tokenizer, TokenizerConfig, Vocab};
use rnn_sentiment::training_info::TrainingInfo;
use serde_json::{json, Value};

use crate::common::*;

fn sample_model(cell: CellKind) -> SentimentModel {
    let tokens: Vec<String> = ["<pad>", "<unk>", "good", "bad", "movie"]
        .iter()
        .map(|t| t.to_string())
        .collect();
    SentimentModel {
        tokenizer: Tokenizer::new(TokenizerConfig::default()),
        vocab: Vocab::from_tokens(tokens).unwrap(),
        classifier: Classifier::new(tiny_config(cell, 5, 3, 4), &mut Rng::new(9)),
        training: TrainingInfo::default(),
    }
}

fn model_json(cell: CellKind) -> Value {
    serde_json::from_slice(&to_json(&sample_model(cell)).unwrap()).unwrap()
}

fn load_err(value: &Value) -> String {
    match from_json(value.to_string().as_bytes()) {
        Ok(_) => panic!("loaded a bad model: {value}"),
        Err(e) => e,
    }
}

#[test]
fn save_load_save_is_byte_identical() {
    for cell in CELLS {
        let model = sample_model(cell);
        let bytes = to_json(&model).unwrap();
        let loaded = from_json(&bytes).unwrap();
        assert_eq!(loaded.classifier, model.classifier);
        assert_eq!(to_json(&loaded).unwrap(), bytes);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("{\"format\":\"rnn-sentiment\",\"version\":1,"));
    }
}

#[test]
fn weights_use_pytorch_names_and_shapes() {
    let v = model_json(CellKind::Gru);
    let w = &v["weights"];
    assert_eq!(w["embedding.weight"]["shape"], json!([5, 3]));
    assert_eq!(w["rnn.weight_ih_l0"]["shape"], json!([12, 3]));
    assert_eq!(w["rnn.weight_hh_l0"]["shape"], json!([12, 4]));
    assert_eq!(w["rnn.bias_ih_l0"]["shape"], json!([12]));
    assert_eq!(w["rnn.bias_hh_l0"]["shape"], json!([12]));
    assert_eq!(w["fc.weight"]["shape"], json!([1, 4]));
    assert_eq!(w["fc.bias"]["shape"], json!([1]));
}

#[test]
fn stacked_bidirectional_models_use_pytorch_reverse_names_and_round_trip() {
    use rnn_sentiment::config::{ModelConfig, Pooling};
    let mut model = sample_model(CellKind::Lstm);
    let config = ModelConfig {
        layers: 2,
        bidirectional: true,
        pooling: Pooling::LastMax,
        ..tiny_config(CellKind::Lstm, 5, 3, 4)
    };
    model.classifier = Classifier::new(config, &mut Rng::new(2));
    let bytes = to_json(&model).unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    let w = &v["weights"];
    assert_eq!(w["rnn.weight_ih_l0_reverse"]["shape"], json!([16, 3]));
    assert_eq!(w["rnn.weight_ih_l1"]["shape"], json!([16, 8]));
    assert_eq!(w["rnn.bias_hh_l1_reverse"]["shape"], json!([16]));
    assert_eq!(w["fc.weight"]["shape"], json!([1, 16]));
    let names: Vec<&String> = w.as_object().unwrap().keys().collect();
    assert_eq!(names.len(), 1 + 2 * 2 * 4 + 2);
    let loaded = from_json(&bytes).unwrap();
    assert_eq!(loaded.classifier, model.classifier);
    assert_eq!(to_json(&loaded).unwrap(), bytes);
}

#[test]
fn truncated_files_are_refused_at_every_offset() {
    let bytes = to_json(&sample_model(CellKind::Lstm)).unwrap();
    let step = (bytes.len() / 97).max(1);
    for cut in (0..bytes.len() - 1).step_by(step) {
        let err = match from_json(&bytes[..cut]) {
            Ok(_) => panic!("loaded a file cut at {cut}"),
            Err(e) => e,
        };
        assert!(
            err.contains("truncated") || err.contains("not valid JSON"),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn wrong_format_or_version_is_named() {
    let mut v = model_json(CellKind::Rnn);
    v["format"] = json!("keras");
    assert!(load_err(&v).contains("\"keras\""));
    let mut v = model_json(CellKind::Rnn);
    v["version"] = json!(2);
    let err = load_err(&v);
    assert!(
        err.contains("version 2") && err.contains("reads version 1"),
        "{err}"
    );
    assert!(load_err(&json!([1, 2, 3])).contains("not a model file"));
    assert!(load_err(&json!({"format": "rnn-sentiment"})).contains("version"));
}

#[test]
fn inconsistent_weights_are_refused() {
    let mut v = model_json(CellKind::Lstm);
    v["weights"]["rnn.weight_hh_l0"]["data"]
        .as_array_mut()
        .unwrap()
        .pop();
    let err = load_err(&v);
    assert!(
        err.contains("rnn.weight_hh_l0") && err.contains("values"),
        "{err}"
    );

    let mut v = model_json(CellKind::Lstm);
    v["weights"]["fc.weight"]["shape"] = json!([4, 1]);
    assert!(load_err(&v).contains("fc.weight"));

    let mut v = model_json(CellKind::Lstm);
    v["config"]["cell"] = json!("gru");
    assert!(load_err(&v).contains("needs [12, 3]"));

    let mut v = model_json(CellKind::Lstm);
    v["config"]["bidirectional"] = json!(true);
    assert!(load_err(&v).contains("rnn.weight_ih_l0_reverse"));

    let mut v = model_json(CellKind::Lstm);
    v["weights"]["fc.bias"]["data"] = json!([1e39]);
    let err = load_err(&v);
    assert!(
        err.contains("\"fc.bias\": value 0") && err.contains("not a finite"),
        "{err}"
    );

    let mut v = model_json(CellKind::Lstm);
    v["weights"].as_object_mut().unwrap().remove("fc.bias");
    assert!(load_err(&v).contains("\"fc.bias\" is missing"));

    let mut v = model_json(CellKind::Lstm);
    v["weights"]["rnn.weight_ih_l1"] = json!({"shape": [1], "data": [0.0]});
    assert!(load_err(&v).contains("unexpected weight"));
}

#[test]
fn bad_vocabularies_and_huge_dimensions_are_refused() {
    let mut v = model_json(CellKind::Rnn);
    v["vocab"] = json!(["<pad>", "<unk>", "good", "good", "movie"]);
    assert!(load_err(&v).contains("twice"));
    let mut v = model_json(CellKind::Rnn);
    v["vocab"] = json!(["<unk>", "<pad>", "good", "bad", "movie"]);
    assert!(load_err(&v).contains("<pad>"));
    let mut v = model_json(CellKind::Rnn);
    v["vocab"] = json!(["<pad>", "<unk>", "good"]);
    assert!(load_err(&v).contains("vocab_size is 5"));
    let mut v = model_json(CellKind::Rnn);
    v["config"]["vocab_size"] = json!(1_000_000_000_000u64);
    assert!(load_err(&v).contains("vocab_size"));
    let mut v = model_json(CellKind::Rnn);
    v["config"]["hidden_dim"] = json!(0);
    assert!(load_err(&v).contains("hidden_dim"));
}

#[test]
fn deeply_nested_json_is_an_error_not_a_crash() {
    let deep = "[".repeat(100_000);
    assert!(from_json(deep.as_bytes()).is_err());
}

#[test]
fn atomic_save_replaces_and_leaves_no_temporary_file() {
    let dir = temp_dir();
    let path = dir.path().join("m.json");
    std::fs::write(&path, "old").unwrap();
    model_file::save(&sample_model(CellKind::Gru), &path).unwrap();
    assert!(model_file::load(&path).is_ok());
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["m.json"]);
    // A failing save (missing directory) leaves nothing behind and reports the path.
    let missing = dir.path().join("no/such/dir/m.json");
    let err = model_file::save(&sample_model(CellKind::Gru), &missing).unwrap_err();
    assert!(err.to_string().contains("no/such/dir"), "{err}");
}

/// A K-class model over `sample_model`'s vocabulary.
fn k_class_model(classes: &[&str]) -> SentimentModel {
    let mut model = sample_model(CellKind::Gru);
    let config = rnn_sentiment::config::ModelConfig {
        classes: classes.iter().map(|c| c.to_string()).collect(),
        ..tiny_config(CellKind::Gru, 5, 3, 4)
    };
    model.classifier = Classifier::new(config, &mut Rng::new(4));
    model
}

#[test]
fn k_class_models_store_their_classes_and_round_trip() {
    let model = k_class_model(&["negative", "neutral", "positive"]);
    let bytes = to_json(&model).unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        v["config"]["classes"],
        json!(["negative", "neutral", "positive"])
    );
    assert_eq!(v["weights"]["fc.weight"]["shape"], json!([3, 4]));
    assert_eq!(v["weights"]["fc.bias"]["shape"], json!([3]));
    for loaded in [
        from_json(&bytes).unwrap(),
        model_file::from_json_plain(&bytes).unwrap(),
    ] {
        assert_eq!(loaded.classifier, model.classifier);
        assert_eq!(loaded.classes(), ["negative", "neutral", "positive"]);
        assert_eq!(to_json(&loaded).unwrap(), bytes);
    }
    // A binary model writes no "classes" (its file is as before K classes) and loads binary.
    let binary = model_json(CellKind::Gru);
    assert!(binary["config"].get("classes").is_none());
    assert!(from_json(binary.to_string().as_bytes())
        .unwrap()
        .is_binary());
}

#[test]
fn bad_class_lists_and_head_shapes_are_refused() {
    let good: Value = serde_json::from_slice(
        &to_json(&k_class_model(&["negative", "neutral", "positive"])).unwrap(),
    )
    .unwrap();
    let with_classes = |classes: Value| {
        let mut v = good.clone();
        v["config"]["classes"] = classes;
        v
    };
    let too_many: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
    for (classes, fragment) in [
        (json!(["only"]), "1 classes is outside 2..=1000"),
        (json!(["a", "b", "a"]), "class \"a\" is named twice"),
        (json!(["a", " ", "c"]), "class 1 has an empty name"),
        (json!(too_many), "1001 classes is outside 2..=1000"),
        (json!("abc"), "bad \"config\" section"),
    ] {
        let e = load_err(&with_classes(classes));
        assert!(e.contains(fragment), "{e}");
    }
    // Two classes where the weights have three outputs: the head's shape is named.
    let e = load_err(&with_classes(json!(["a", "b"])));
    assert!(
        e.contains("\"fc.weight\" has shape [3, 4]") && e.contains("K=2 classes"),
        "{e}"
    );
    // No classes at all: a binary config, whose head is one logit.
    let mut binary = good.clone();
    binary["config"].as_object_mut().unwrap().remove("classes");
    let e = load_err(&binary);
    assert!(e.contains("needs [1, 4]") && e.contains("binary"), "{e}");
}
