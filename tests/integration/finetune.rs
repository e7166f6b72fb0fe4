//! Fine-tuning from a base (`train::fit` with an [`Init`]): `--extend-vocab`'s new rows and
//! ids, `--embeddings` filling only the rows the base lacks, and gradual unfreezing
//! (`--unfreeze-epochs`): which tensors move in which epoch, Adam moments of frozen tensors,
//! and an interrupted run that resumes to the same model.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use rnn_sentiment::config::TrainConfig;
use rnn_sentiment::data::Example;
use rnn_sentiment::model::params::{Params, Tensor};
use rnn_sentiment::model::Classifier;
use rnn_sentiment::model_file::to_json;
use rnn_sentiment::rng::Rng;
use rnn_sentiment::sentiment::SentimentModel;
use rnn_sentiment::text::Vocab;
use rnn_sentiment::train::{self, streams, Checkpoint, Control, Init, Observer, Outcome, Resume};

/// Words the base knows, and words only the fine-tuning data has ("zesty" most often).
const BASE_WORDS: [&str; 6] = ["the", "film", "was", "good", "bad", "plot"];

/// Rows whose label shows in "good"/"bad"; new words appear with fixed counts: "zesty" in
/// every row, "quirky" in every second, "bland" in every third, "rare" once.
fn examples() -> Vec<Example> {
    (0..48)
        .map(|i| {
            let mut words = vec![
                "the",
                "film",
                "was",
                if i % 2 == 0 { "good" } else { "bad" },
            ];
            words.push("zesty");
            if i % 2 == 0 {
                words.push("quirky");
            }
            if i % 3 == 0 {
                words.push("bland");
            }
            if i == 5 {
                words.push("rare");
            }
            Example::new(words.join(" "), usize::from(i % 2 == 0), i as u64 + 2)
        })
        .collect()
}

fn config() -> TrainConfig {
    TrainConfig {
        embed_dim: 6,
        hidden_dim: 5,
        layers: 2,
        bidirectional: true,
        epochs: 1,
        batch_size: 16,
        patience: 0,
        seed: 9,
        ..TrainConfig::default()
    }
}

/// A base of `config`'s architecture over [`BASE_WORDS`], with weights of its own.
fn base(config: &TrainConfig) -> Init {
    let tokens = ["<pad>", "<unk>"].iter().chain(&BASE_WORDS);
    let vocab = Vocab::from_tokens(tokens.map(|t| t.to_string()).collect()).unwrap();
    let model = Classifier::<f32>::new(config.model_config(vocab.len()), &mut Rng::new(77));
    Init {
        vocab,
        embedding: model.params.embedding,
        rnn: model.params.rnn,
    }
}

fn finished(outcome: Outcome) -> SentimentModel {
    match outcome {
        Outcome::Finished(t) => t.model,
        Outcome::Interrupted(_) => panic!("interrupted without a request"),
    }
}

/// Trains from `base` without validation data (every epoch runs; the last is kept).
fn fit(config: &TrainConfig, base: &Init) -> SentimentModel {
    let control = Control {
        init: Some(base),
        ..Control::default()
    };
    finished(train::fit(config, &examples(), &[], 1, &mut train::Silent, control).unwrap())
}

/// Rows `rows` of a (V, E) table.
fn rows(t: &Tensor<f32>, rows: std::ops::Range<usize>) -> &[f32] {
    let e = t.shape[1];
    &t.data[rows.start * e..rows.end * e]
}

/// The embedding a fresh run with `config` and `vocab_size` rows starts from.
fn fresh_embedding(config: &TrainConfig, vocab_size: usize) -> Tensor<f32> {
    let model = Classifier::<f32>::new(
        config.model_config(vocab_size),
        &mut Rng::stream(config.seed, streams::INIT),
    );
    let mut embedding = model.params.embedding;
    let std = config.embed_init as f32;
    embedding.data.iter_mut().for_each(|x| *x *= std);
    embedding
}

#[test]
fn extend_vocab_appends_the_missing_words_with_a_fresh_runs_rows() {
    // A frozen embedding keeps every row as it was initialised.
    let config = TrainConfig {
        extend_vocab: true,
        freeze_embeddings: true,
        min_count: 2,
        ..config()
    };
    let base = base(&config);
    let model = fit(&config, &base);
    let n = base.vocab.len();
    // The base's ids first, unchanged; then the new words by count ("rare", seen once, is
    // below --min-count 2).
    assert_eq!(&model.vocab.tokens()[..n], base.vocab.tokens());
    assert_eq!(&model.vocab.tokens()[n..], ["zesty", "quirky", "bland"]);
    let v = model.vocab.len();
    let embedding = &model.classifier.params.embedding;
    assert_eq!(embedding.shape, [v, 6]);
    assert_eq!(rows(embedding, 0..n), &base.embedding.data[..], "base rows");
    let fresh = fresh_embedding(&config, v);
    assert_eq!(rows(embedding, n..v), rows(&fresh, n..v), "new rows");

    // --max-vocab bounds the whole vocabulary: room for the two most frequent words only.
    let capped = fit(
        &TrainConfig {
            max_vocab: n + 2,
            ..config.clone()
        },
        &base,
    );
    assert_eq!(&capped.vocab.tokens()[n..], ["zesty", "quirky"]);
    // Without --extend-vocab the vocabulary is the base's.
    let plain = fit(
        &TrainConfig {
            extend_vocab: false,
            ..config.clone()
        },
        &base,
    );
    assert_eq!(plain.vocab.tokens(), base.vocab.tokens());
}

#[test]
fn with_a_base_word_vectors_fill_only_the_rows_the_base_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vectors.txt");
    let mut file = std::fs::File::create(&path).unwrap();
    // "good" is the base's (its row wins); "Zesty" reaches "zesty" by lowercasing.
    writeln!(file, "good 9 9 9 9 9 9").unwrap();
    writeln!(file, "Zesty 1 2 3 4 5 6").unwrap();
    writeln!(file, "bland -1 -2 -3 -4 -5 -6").unwrap();
    drop(file);
    let config = TrainConfig {
        extend_vocab: true,
        freeze_embeddings: true,
        embeddings: Some(path),
        ..config()
    };
    let base = base(&config);
    let model = fit(&config, &base);
    let n = base.vocab.len();
    let tokens = &model.vocab.tokens()[n..];
    assert_eq!(tokens, ["zesty", "quirky", "bland", "rare"]);
    let embedding = &model.classifier.params.embedding;
    assert_eq!(rows(embedding, 0..n), &base.embedding.data[..]);
    assert_eq!(rows(embedding, n..n + 1), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(
        rows(embedding, n + 2..n + 3),
        [-1.0, -2.0, -3.0, -4.0, -5.0, -6.0]
    );
    let fresh = fresh_embedding(&config, model.vocab.len());
    assert_eq!(rows(embedding, n + 1..n + 2), rows(&fresh, n + 1..n + 2));
    assert_eq!(rows(embedding, n + 3..n + 4), rows(&fresh, n + 3..n + 4));
    // What the vectors gave: two of the four rows open to them ("good" is not counted).
    let info = model.training.pretrained.unwrap();
    assert_eq!((info.matched, info.lowercased), (2, 1));
    assert_eq!(info.type_coverage, 0.5);
}

/// Which of the base's tensors moved from the base's values, as
/// [embedding, layer 1 (both directions), layer 2 (both directions)].
fn moved(model: &SentimentModel, base: &Init) -> [bool; 3] {
    let p = &model.classifier.params;
    let layer = |k: usize| p.rnn[2 * k..2 * k + 2] != base.rnn[2 * k..2 * k + 2];
    [p.embedding != base.embedding, layer(0), layer(1)]
}

#[test]
fn gradual_unfreezing_trains_the_head_first_then_layers_top_down_then_the_embedding() {
    let base_config = config();
    let base = base(&base_config);
    let fresh_head = Classifier::<f32>::new(
        base_config.model_config(base.vocab.len()),
        &mut Rng::stream(base_config.seed, streams::INIT),
    )
    .params
    .fc_weight;
    // Two layers and the embedding are K = 3 groups; over N = 2 epochs: epoch 2 trains
    // floor(3/2) = 1 group (the top layer), epoch 3 all three.
    let after = |epochs: usize, unfreeze_epochs: usize| {
        let config = TrainConfig {
            epochs,
            unfreeze_epochs,
            ..base_config.clone()
        };
        fit(&config, &base)
    };
    let one = after(1, 2);
    assert_eq!(
        moved(&one, &base),
        [false, false, false],
        "epoch 1: the head only"
    );
    assert_ne!(
        one.classifier.params.fc_weight, fresh_head,
        "the head trained"
    );
    assert_eq!(moved(&after(2, 2), &base), [false, false, true]);
    assert_eq!(
        moved(&after(3, 2), &base),
        [true, true, true],
        "epoch N + 1: all"
    );
    // N = 3: one group an epoch, the top layer first.
    assert_eq!(moved(&after(2, 3), &base), [false, false, true]);
    assert_eq!(moved(&after(3, 3), &base), [false, true, true]);
    // N = 0: everything from the start, as without the option.
    assert_eq!(moved(&after(1, 0), &base), [true, true, true]);
    // --freeze-embeddings keeps the embedding out of the schedule's last step.
    let frozen = fit(
        &TrainConfig {
            epochs: 3,
            unfreeze_epochs: 2,
            freeze_embeddings: true,
            ..base_config.clone()
        },
        &base,
    );
    assert_eq!(moved(&frozen, &base), [false, true, true]);
}

/// Asks for a stop once epoch `at` has begun.
struct StopInEpoch<'a> {
    at: usize,
    flag: &'a AtomicBool,
}

impl Observer for StopInEpoch<'_> {
    fn epoch_start(&mut self, epoch: usize, _resumed: bool) {
        if epoch == self.at {
            self.flag.store(true, Ordering::SeqCst);
        }
    }
}

#[test]
fn unfreezing_follows_the_epoch_through_a_checkpoint_and_leaves_frozen_moments_at_zero() {
    let config = TrainConfig {
        epochs: 3,
        unfreeze_epochs: 2,
        ..config()
    };
    let base = base(&config);
    let whole = to_json(&fit(&config, &base)).unwrap();
    for at in [1, 2, 3] {
        let flag = AtomicBool::new(false);
        let mut observer = StopInEpoch { at, flag: &flag };
        let control = Control {
            init: Some(&base),
            stop: Some(&flag),
            ..Control::default()
        };
        let outcome = train::fit(&config, &examples(), &[], 1, &mut observer, control).unwrap();
        let Outcome::Interrupted(checkpoint) = outcome else {
            panic!("epoch {at}: not interrupted");
        };
        // In epoch 1 only the head has moments; in epoch 2 the top layer's (tensors 9 to
        // 16) too; in epoch 3 every tensor's.
        let optimizer = serde_json::to_value(&checkpoint.optimizer).unwrap();
        let touched = |k: usize| {
            optimizer["first"][k]
                .as_array()
                .unwrap()
                .iter()
                .chain(optimizer["second"][k].as_array().unwrap())
                .any(|m| m.as_f64() != Some(0.0))
        };
        let tensors = Params::<f32>::zeros(&config.model_config(base.vocab.len()))
            .tensors()
            .len();
        let expected: Vec<bool> = (0..tensors)
            .map(|k| k >= tensors - 2 || (at >= 2 && k >= 9) || at >= 3)
            .collect();
        let got: Vec<bool> = (0..tensors).map(touched).collect();
        assert_eq!(got, expected, "epoch {at}: tensors with Adam moments");

        // Through the checkpoint file and back: the same model as without the stop.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json.ckpt");
        checkpoint.write(&path).unwrap();
        let resume: Resume = Checkpoint::read(&path).unwrap();
        let control = Control {
            init: Some(&base),
            resume: Some(resume),
            ..Control::default()
        };
        let outcome =
            train::fit(&config, &examples(), &[], 1, &mut train::Silent, control).unwrap();
        assert!(
            to_json(&finished(outcome)).unwrap() == whole,
            "epoch {at}: the resumed run differs"
        );
    }
}
