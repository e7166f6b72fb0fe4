//! K-class training through the library (`train::fit` on examples carrying class indices):
//! it learns a three-class task, the model file is the same for any thread count and after
//! an interrupted run resumes, and per-class probabilities do not depend on batch mates.

use std::sync::atomic::{AtomicBool, Ordering};

use rnn_sentiment::config::TrainConfig;
use rnn_sentiment::data::Example;
use rnn_sentiment::model_file::{from_json, to_json};
use rnn_sentiment::rng::Rng;
use rnn_sentiment::sentiment::SentimentModel;
use rnn_sentiment::train::{self, BatchProgress, Checkpoint, Control, Observer, Outcome};

const CLASSES: [&str; 3] = ["negative", "neutral", "positive"];

/// Texts whose class shows in one cue word among filler: "awful" negative, "okay" neutral,
/// "great" positive (the cue words vary, so the model must learn all of them).
fn examples(rows: usize, seed: u64) -> Vec<Example> {
    let cues = [
        ["awful", "bad", "dull"],
        ["okay", "fine", "average"],
        ["great", "good", "superb"],
    ];
    let filler = ["the", "film", "plot", "was", "cast", "music", "a", "very"];
    let mut rng = Rng::new(seed);
    (0..rows)
        .map(|i| {
            let class = rng.below(3);
            let mut words: Vec<&str> = (0..3 + rng.below(6))
                .map(|_| filler[rng.below(filler.len())])
                .collect();
            let at = rng.below(words.len() + 1);
            words.insert(at, cues[class][rng.below(3)]);
            Example::new(words.join(" "), class, i as u64 + 2)
        })
        .collect()
}

fn config() -> TrainConfig {
    TrainConfig {
        embed_dim: 16,
        hidden_dim: 16,
        epochs: 6,
        batch_size: 48,
        dropout: 0.2,
        layers: 2,
        seed: 3,
        classes: CLASSES.iter().map(|c| c.to_string()).collect(),
        class_weights: vec![1.0, 2.0, 0.5],
        ..TrainConfig::default()
    }
}

fn model(outcome: Outcome) -> SentimentModel {
    match outcome {
        Outcome::Finished(t) => t.model,
        Outcome::Interrupted(_) => panic!("interrupted without a request"),
    }
}

fn fit(config: &TrainConfig, train: &[Example], valid: &[Example], threads: usize) -> Vec<u8> {
    let outcome = train::fit(
        config,
        train,
        valid,
        threads,
        &mut train::Silent,
        Control::default(),
    )
    .unwrap();
    to_json(&model(outcome)).unwrap()
}

#[test]
fn a_three_class_model_learns_and_its_probabilities_are_each_texts_own() {
    let (train_set, valid_set) = (examples(600, 1), examples(90, 2));
    let config = TrainConfig {
        class_weights: Vec::new(),
        lr: 0.01,
        epochs: 8,
        ..config()
    };
    let m = model(
        train::fit(
            &config,
            &train_set,
            &valid_set,
            2,
            &mut train::Silent,
            Control::default(),
        )
        .unwrap(),
    );
    assert_eq!(m.classes(), CLASSES);
    assert_eq!(m.classifier.params.fc_weight.shape, [3, 32]);
    let best = m
        .training
        .history
        .iter()
        .find(|r| r.epoch == m.training.best_epoch);
    let accuracy = best.and_then(|r| r.valid_accuracy).unwrap();
    assert!(accuracy > 0.9, "validation accuracy {accuracy}");
    let texts: Vec<&str> = valid_set.iter().map(|e| e.text.as_str()).collect();
    let p = m.class_probabilities(&texts);
    assert_eq!(p.dim(), (texts.len(), 3));
    for (row, text) in p.rows().into_iter().zip(&texts) {
        assert!((row.sum() - 1.0).abs() < 1e-12);
        assert!(row.iter().all(|&x| (0.0..=1.0).contains(&x)));
        // Alone, the text gets the very same bits.
        assert_eq!(m.class_probabilities(&[text]).row(0), row, "{text}");
    }
    let correct = p
        .rows()
        .into_iter()
        .zip(&valid_set)
        .filter(|(row, e)| rnn_sentiment::model::loss::argmax(row.view()) == e.label)
        .count();
    assert!(correct as f64 / texts.len() as f64 > 0.9);
    // The file stores the classes and loads back as the same K-class model.
    let loaded = from_json(&to_json(&m).unwrap()).unwrap();
    assert_eq!(loaded.classes(), CLASSES);
    assert_eq!(loaded.classifier, m.classifier);
}

#[test]
fn thread_count_never_changes_a_k_class_model_file() {
    let (train_set, valid_set) = (examples(300, 4), examples(40, 5));
    let config = TrainConfig {
        epochs: 2,
        ..config()
    };
    let bytes = fit(&config, &train_set, &valid_set, 1);
    assert!(
        bytes == fit(&config, &train_set, &valid_set, 3),
        "1 vs 3 threads differ"
    );
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.contains("\"class_weights\":[1.0,2.0,0.5]"),
        "the options record the weights"
    );
    // The weights change training: without them the file differs.
    let unweighted = TrainConfig {
        class_weights: Vec::new(),
        ..config
    };
    assert!(text.into_bytes() != fit(&unweighted, &train_set, &valid_set, 2));
}

/// Asks the run to stop once it has done `at` batches in all.
struct StopAt<'a> {
    flag: &'a AtomicBool,
    seen: usize,
    at: usize,
}

impl Observer for StopAt<'_> {
    fn batch(&mut self, _: &BatchProgress) {
        self.seen += 1;
        if self.seen == self.at {
            self.flag.store(true, Ordering::SeqCst);
        }
    }
}

#[test]
fn resuming_a_k_class_run_gives_the_same_model_file() {
    let (train_set, valid_set) = (examples(300, 6), examples(40, 7));
    let config = TrainConfig {
        epochs: 3,
        ..config()
    };
    let whole = fit(&config, &train_set, &valid_set, 2);
    let flag = AtomicBool::new(false);
    let mut observer = StopAt {
        flag: &flag,
        seen: 0,
        at: 9,
    };
    let control = Control {
        stop: Some(&flag),
        init: None,
        resume: None,
    };
    let Outcome::Interrupted(checkpoint) =
        train::fit(&config, &train_set, &valid_set, 2, &mut observer, control).unwrap()
    else {
        panic!("did not stop");
    };
    let json = serde_json::to_vec(&checkpoint).unwrap();
    let checkpoint: Checkpoint = serde_json::from_slice(&json).unwrap();
    // Other classes are other options: refused.
    let renamed = TrainConfig {
        classes: vec!["bad".into(), "so-so".into(), "good".into()],
        ..config.clone()
    };
    let resume = |c: &Checkpoint| Control {
        stop: None,
        init: None,
        resume: Some(train::Resume {
            path: "m.json.ckpt".into(),
            checkpoint: c.clone(),
        }),
    };
    let err = train::fit(
        &renamed,
        &train_set,
        &valid_set,
        1,
        &mut train::Silent,
        resume(&checkpoint),
    )
    .unwrap_err();
    assert!(err.to_string().contains("classes"), "{err}");
    let resumed = to_json(&model(
        train::fit(
            &config,
            &train_set,
            &valid_set,
            1,
            &mut train::Silent,
            resume(&checkpoint),
        )
        .unwrap(),
    ))
    .unwrap();
    assert!(resumed == whole, "resuming changed the model file");
}

#[test]
fn labels_and_loss_weights_must_fit_the_classes() {
    let rows = examples(20, 8);
    let err = |config: TrainConfig, rows: &[Example]| {
        train::fit(
            &config,
            rows,
            &[],
            1,
            &mut train::Silent,
            Control::default(),
        )
        .unwrap_err()
        .to_string()
    };
    // A class index past the names, naming its line.
    let mut bad = rows.clone();
    bad[4].label = 3;
    let e = err(config(), &bad);
    assert!(e.contains("line 6") && e.contains("class index 3"), "{e}");
    // Binary runs take 0 and 1 only.
    let binary = TrainConfig {
        classes: Vec::new(),
        class_weights: Vec::new(),
        ..config()
    };
    let e = err(binary.clone(), &bad);
    assert!(e.contains("binary"), "{e}");
    for (config, fragment) in [
        (
            TrainConfig {
                class_weights: vec![1.0, 2.0],
                ..config()
            },
            "2 weights for 3 classes",
        ),
        (
            TrainConfig {
                class_weights: vec![1.0, 0.0, 1.0],
                ..config()
            },
            "\"neutral\" is 0",
        ),
        (
            TrainConfig {
                pos_weight: 2.0,
                ..config()
            },
            "pos-weight",
        ),
        (
            TrainConfig {
                class_weights: vec![1.0, 2.0],
                ..binary
            },
            "pos-weight",
        ),
        (
            TrainConfig {
                classes: vec!["a".into(), "a".into()],
                class_weights: Vec::new(),
                ..config()
            },
            "named twice",
        ),
    ] {
        let e = err(config, &rows);
        assert!(e.contains(fragment), "{e}");
    }
}
