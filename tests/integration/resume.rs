//! Interrupt and resume: a run stopped after any batch and continued from its checkpoint (sent
//! through its JSON form, as the CLI stores it) ends in a model file byte-identical to the
//! uninterrupted run; the CLI does the same on a real SIGINT, exiting 130, with a plain or a
//! gzip-compressed model.

use std::sync::atomic::{AtomicBool, Ordering};

use rnn_sentiment::config::TrainConfig;
use rnn_sentiment::data::{read_labeled, split_validation, CsvOptions, Example};
use rnn_sentiment::model_file::to_json;
use rnn_sentiment::rng::Rng;
use rnn_sentiment::train::{self, BatchProgress, Checkpoint, Control, Observer, Outcome};

use crate::common::*;

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

fn config() -> TrainConfig {
    TrainConfig {
        embed_dim: 16,
        hidden_dim: 16,
        epochs: 4,
        patience: 2,
        dropout: 0.3,
        layers: 2,
        seed: 7,
        ..TrainConfig::default()
    }
}

fn data() -> (Vec<Example>, Vec<Example>) {
    let all = read_labeled(&sample("train.csv"), &CsvOptions::default()).unwrap();
    split_validation(all, 0.1, &mut Rng::new(1))
}

fn finished(outcome: Outcome) -> Vec<u8> {
    match outcome {
        Outcome::Finished(t) => to_json(&t.model).unwrap(),
        Outcome::Interrupted(_) => panic!("interrupted without a request"),
    }
}

#[test]
fn resuming_after_any_batch_gives_the_same_model_file() {
    let (train_set, valid_set) = data();
    let config = config();
    let whole = finished(
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
    let batches_per_epoch = train_set.len().div_ceil(config.batch_size);
    // Mid-epoch, the last batch of an epoch, the first batch of the next, and deep in the run.
    for at in [
        3,
        batches_per_epoch,
        batches_per_epoch + 1,
        3 * batches_per_epoch - 2,
    ] {
        let flag = AtomicBool::new(false);
        let mut observer = StopAt {
            flag: &flag,
            seen: 0,
            at,
        };
        let control = Control {
            stop: Some(&flag),
            init: None,
            resume: None,
        };
        let outcome =
            train::fit(&config, &train_set, &valid_set, 2, &mut observer, control).unwrap();
        let checkpoint = match outcome {
            Outcome::Interrupted(c) => c,
            Outcome::Finished(_) => panic!("did not stop at batch {at}"),
        };
        // Through JSON, as the CLI stores it.
        let json = serde_json::to_vec(&checkpoint).unwrap();
        let checkpoint: Checkpoint = serde_json::from_slice(&json).unwrap();
        let control = Control {
            stop: None,
            init: None,
            resume: Some(resume_from(checkpoint)),
        };
        let resumed = finished(
            train::fit(
                &config,
                &train_set,
                &valid_set,
                1,
                &mut train::Silent,
                control,
            )
            .unwrap(),
        );
        assert!(
            resumed == whole,
            "stopping after batch {at} changed the model file"
        );
    }
}

/// A checkpoint to resume from, as if read from a file.
fn resume_from(checkpoint: Checkpoint) -> train::Resume {
    train::Resume {
        path: "m.json.ckpt".into(),
        checkpoint,
    }
}

#[test]
fn a_checkpoint_refuses_other_options_or_data() {
    let (train_set, valid_set) = data();
    let config = config();
    let flag = AtomicBool::new(false);
    let mut observer = StopAt {
        flag: &flag,
        seen: 0,
        at: 2,
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
    let other = TrainConfig {
        lr: 0.01,
        ..config.clone()
    };
    let control = Control {
        stop: None,
        init: None,
        resume: Some(resume_from((*checkpoint).clone())),
    };
    let err = train::fit(
        &other,
        &train_set,
        &valid_set,
        1,
        &mut train::Silent,
        control,
    )
    .unwrap_err();
    assert!(err.to_string().contains("same data and options"), "{err}");
    let control = Control {
        stop: None,
        init: None,
        resume: Some(resume_from(*checkpoint)),
    };
    let err = train::fit(
        &config,
        &train_set[1..],
        &valid_set,
        1,
        &mut train::Silent,
        control,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("other training or validation data"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn sigint_writes_a_checkpoint_exits_130_and_resume_matches() {
    let dir = temp_dir();
    interrupt_and_resume(dir.path(), "m.json", "m.json.ckpt");
    // A damaged checkpoint is an error naming it.
    let bad = write(dir.path(), "bad.ckpt", "{\"format\":1}");
    fails_with(
        bin(dir.path())
            .args(["train", "--resume"])
            .arg(&bad)
            .arg(sample("train.csv")),
        &["bad.ckpt", "checkpoint"],
    );
}

/// A compressed model's checkpoint is compressed too, named to say so, and resumes the same.
#[cfg(unix)]
#[test]
fn sigint_with_a_gzip_model_writes_a_gzip_checkpoint_that_resumes() {
    let dir = temp_dir();
    let checkpoint = interrupt_and_resume(dir.path(), "m.json.gz", "m.json.ckpt.gz");
    assert!(checkpoint.starts_with(&[0x1f, 0x8b]), "not gzip");
}

/// Trains to `model` in `d` twice: once whole, once interrupted by SIGINT in its second epoch
/// (which must leave `checkpoint`) and resumed from it; the two model files must be
/// byte-identical and the used checkpoint removed. Returns the checkpoint's bytes.
#[cfg(unix)]
fn interrupt_and_resume(d: &std::path::Path, model: &str, checkpoint: &str) -> Vec<u8> {
    let data = write(d, "big.csv", synthetic_csv(6000));
    let options = [
        "--epochs",
        "4",
        "--patience",
        "0",
        "--seed",
        "2",
        "--hidden-dim",
        "32",
    ];
    let reference = d.join(format!("reference-{model}"));
    let (code, _, stderr) = run(bin(d)
        .arg("train")
        .arg("-q")
        .args(options)
        .arg("-o")
        .arg(&reference)
        .arg(&data));
    assert_eq!(code, 0, "{stderr}");

    let out = d.join(model);
    let (code, seen) = interrupt_in_second_epoch(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("rnn-sentiment"))
            .current_dir(d)
            .arg("train")
            .args(options)
            .arg("-o")
            .arg(&out)
            .arg(&data),
    );
    assert_eq!(code, Some(130), "{seen}");
    let ckpt = d.join(checkpoint);
    assert!(
        seen.contains("checkpoint saved to") && ckpt.exists(),
        "{seen}"
    );
    assert!(!out.exists(), "an interrupted run wrote the model");
    let checkpoint_bytes = std::fs::read(&ckpt).unwrap();

    let (code, _, stderr) = run(bin(d)
        .arg("train")
        .arg("-q")
        .args(options)
        .arg("--resume")
        .arg(&ckpt)
        .arg("-o")
        .arg(&out)
        .arg(&data));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        std::fs::read(&out).unwrap() == std::fs::read(&reference).unwrap(),
        "resumed model differs"
    );
    assert!(!ckpt.exists(), "the used checkpoint is removed");
    checkpoint_bytes
}
