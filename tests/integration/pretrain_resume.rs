//! Interrupting and resuming `pretrain`: a run stopped after any step and continued from its
//! checkpoint (through its JSON form) ends in the same model as the uninterrupted run, on one
//! thread or two; a checkpoint of other options or another corpus is refused; the CLI writes
//! the checkpoint on SIGINT (exit 130), and `pretrain --resume CKPT` alone writes a base file
//! byte-identical to an uninterrupted run's.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use rnn_sentiment::data::{read_labeled, CsvOptions};
use rnn_sentiment::lm::checkpoint::{PretrainCheckpoint, PretrainResume};
use rnn_sentiment::lm::corpus::{Corpus, CorpusBuilder};
use rnn_sentiment::lm::options::PretrainConfig;
use rnn_sentiment::lm::trainer::{
    pretrain, PretrainControl, PretrainObserver, PretrainOutcome, Pretrained, StepProgress,
};
use rnn_sentiment::text::Tokenizer;

use crate::common::*;

/// Asks the run to stop once it has done `at` steps in all.
struct StopAt<'a> {
    flag: &'a AtomicBool,
    seen: usize,
    at: usize,
}

impl PretrainObserver for StopAt<'_> {
    fn step(&mut self, _: &StepProgress) {
        self.seen += 1;
        if self.seen == self.at {
            self.flag.store(true, Ordering::SeqCst);
        }
    }
}

struct Silent;
impl PretrainObserver for Silent {}

fn config() -> PretrainConfig {
    PretrainConfig {
        embed_dim: 8,
        hidden_dim: 8,
        layers: 2,
        bptt: 8,
        batch_size: 20,
        samples: 16,
        epochs: 3,
        patience: 0,
        seed: 5,
        ..PretrainConfig::default()
    }
}

/// The sample training texts, or all but the first `skip`.
fn corpus(config: &PretrainConfig, skip: usize) -> Corpus {
    let rows = read_labeled(&sample("train.csv"), &CsvOptions::default()).unwrap();
    let mut builder = CorpusBuilder::new(Tokenizer::new(config.tokenizer.clone()), 1 << 20);
    for row in &rows[skip..] {
        builder.add(&row.text).unwrap();
    }
    builder.finish(config.min_count, config.max_vocab).unwrap()
}

/// Runs `f` on a pool of `threads` threads.
fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

fn finished(outcome: PretrainOutcome) -> Pretrained {
    match outcome {
        PretrainOutcome::Finished(p) => *p,
        PretrainOutcome::Interrupted(_) => panic!("interrupted without a request"),
    }
}

/// The run stopped after `at` steps: its checkpoint, sent through JSON as the CLI stores it.
fn interrupted(config: &PretrainConfig, corpus: &Corpus, at: usize) -> PretrainCheckpoint {
    let flag = AtomicBool::new(false);
    let mut observer = StopAt {
        flag: &flag,
        seen: 0,
        at,
    };
    let control = PretrainControl {
        stop: Some(&flag),
        resume: None,
    };
    match pretrain(config, corpus, &mut observer, control).unwrap() {
        PretrainOutcome::Interrupted(c) => {
            serde_json::from_slice(&serde_json::to_vec(&c).unwrap()).unwrap()
        }
        PretrainOutcome::Finished(_) => panic!("did not stop after step {at}"),
    }
}

fn resume_from(checkpoint: PretrainCheckpoint) -> PretrainControl<'static> {
    PretrainControl {
        stop: None,
        resume: Some(PretrainResume {
            path: "base.json.ckpt".into(),
            checkpoint,
        }),
    }
}

#[test]
fn resuming_after_any_step_gives_the_same_model_on_any_threads() {
    let config = config();
    let corpus = corpus(&config, 0);
    let whole = on_threads(2, || {
        finished(pretrain(&config, &corpus, &mut Silent, PretrainControl::default()).unwrap())
    });
    let steps = whole.step_losses.len() / config.epochs;
    assert_eq!(
        whole.step_losses.len(),
        config.epochs * steps,
        "one loss a step"
    );
    // The first step, the last of an epoch, the first of the next, and deep in the last one.
    for at in [1, steps, steps + 1, 3 * steps - 2] {
        // Stopped on two threads, resumed on one.
        let checkpoint = on_threads(2, || interrupted(&config, &corpus, at));
        let resumed = on_threads(1, || {
            finished(pretrain(&config, &corpus, &mut Silent, resume_from(checkpoint)).unwrap())
        });
        assert!(
            resumed.model == whole.model,
            "stopping after step {at} changed the model"
        );
        assert_eq!(resumed.history, whole.history, "after step {at}");
        assert_eq!(resumed.step_losses, whole.step_losses, "after step {at}");
    }
}

#[test]
fn a_checkpoint_refuses_other_options_or_another_corpus() {
    let config = config();
    let corpus = corpus(&config, 0);
    let checkpoint = interrupted(&config, &corpus, 3);
    let other = PretrainConfig {
        lr: 0.01,
        ..config.clone()
    };
    let err = pretrain(
        &other,
        &corpus,
        &mut Silent,
        resume_from(checkpoint.clone()),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("other pretraining options")
            && err.contains("lr is 0.01 in this run but 0.002"),
        "{err}"
    );
    let fewer = corpus_without_first(&config);
    let err = pretrain(
        &config,
        &fewer,
        &mut Silent,
        resume_from(checkpoint.clone()),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("base.json.ckpt") && err.contains("another corpus"),
        "{err}"
    );
    // A damaged counter is caught before any of the file is used.
    let damaged = PretrainCheckpoint {
        step: 10_000,
        ..checkpoint
    };
    let err = pretrain(&config, &corpus, &mut Silent, resume_from(damaged))
        .unwrap_err()
        .to_string();
    assert!(err.contains("counters do not fit"), "{err}");
}

/// The corpus without its first text: the same vocabulary size is not needed to tell it apart.
fn corpus_without_first(config: &PretrainConfig) -> Corpus {
    corpus(config, 1)
}

/// `pretrain.rs`'s small options, three epochs, and no early stopping.
const SMALL: [&str; 14] = {
    let s = crate::pretrain::SMALL;
    [
        s[0],
        s[1],
        s[2],
        s[3],
        s[4],
        s[5],
        s[6],
        s[7],
        s[8],
        s[9],
        s[10],
        "3",
        "--patience",
        "0",
    ]
};

#[test]
fn an_interrupted_pretrain_resumes_to_the_same_bytes_and_inspect_describes_it() {
    let dir = temp_dir();
    let d = dir.path();
    let reference = d.join("reference.json");
    let (code, _, stderr) = run(bin(d)
        .args(["pretrain", "-q", "--threads", "1"])
        .args(SMALL)
        .arg("-o")
        .arg(&reference)
        .arg(sample("train.csv")));
    assert_eq!(code, 0, "{stderr}");
    let out = d.join("base.json");
    let (code, _, stderr) = run(bin(d)
        .env("RNN_SENTIMENT_STOP_AFTER_STEPS", "40")
        .args(["pretrain", "-q", "--threads", "2"])
        .args(SMALL)
        .arg("-o")
        .arg(&out)
        .arg(sample("train.csv")));
    assert_eq!(code, 130, "{stderr}");
    let checkpoint = d.join("base.json.ckpt");
    assert!(
        stderr.contains("checkpoint saved to") && checkpoint.exists() && !out.exists(),
        "{stderr}"
    );
    assert!(stderr.contains("pretrain --resume"), "{stderr}");

    let (code, stdout, stderr) = run(bin(d).args(["inspect", "--json", "-m"]).arg(&checkpoint));
    assert_eq!(code, 0, "{stderr}");
    let seen: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(seen["kind"], "pretraining");
    assert_eq!(seen["epoch"], 2);
    assert_eq!(seen["options"]["embed_dim"], 8);
    let (code, stdout, _) = run(bin(d).args(["inspect", "-m"]).arg(&checkpoint));
    assert_eq!(code, 0);
    assert!(stdout.contains("interrupted pretraining run"), "{stdout}");

    // Another option given again is refused, naming it; the checkpoint is left alone.
    fails_with(
        bin(d)
            .args(["pretrain", "-q", "--lr", "0.01", "--resume"])
            .arg(&checkpoint),
        &["base.json.ckpt", "lr is 0.01 in this run but 0.002"],
    );
    // The checkpoint alone continues the run, from another directory and on one thread.
    let (code, stdout, stderr) = run(bin(&d.join(".."))
        .args(["pretrain", "-q", "--json", "--threads", "1", "--resume"])
        .arg(&checkpoint));
    assert_eq!(code, 0, "{stderr}");
    // Its speed counts what this process trained: the last of 3 epochs and part of the
    // second, not the epoch and the 40 steps before the interruption.
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let here =
        summary["tokens_per_s"].as_f64().unwrap() * summary["train_seconds"].as_f64().unwrap();
    let per_epoch = summary["train_positions"].as_f64().unwrap();
    assert_eq!(summary["epochs_run"], 3);
    assert!(
        here > per_epoch && here < 2.0 * per_epoch,
        "{here} of {per_epoch} per epoch"
    );
    assert!(
        std::fs::read(&out).unwrap() == std::fs::read(&reference).unwrap(),
        "the resumed base model differs from the uninterrupted one"
    );
    assert!(!checkpoint.exists(), "the used checkpoint is removed");
}

/// A real SIGINT in the second epoch: exit 130 and a checkpoint that `inspect` reads.
#[cfg(unix)]
#[test]
fn sigint_stops_pretrain_with_a_checkpoint() {
    let dir = temp_dir();
    let d = dir.path();
    let (code, seen) = interrupt_after_line(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("rnn-sentiment"))
            .current_dir(d)
            .arg("pretrain")
            .args(&SMALL[..10])
            // Far more epochs than the test waits for.
            .args(["--epochs", "10000", "--patience", "0", "-o", "b.json"])
            .arg(sample("train.csv")),
        "epoch 1:",
    );
    assert_eq!(code, Some(130), "{seen}");
    assert!(seen.contains("checkpoint saved to"), "{seen}");
    let checkpoint = d.join("b.json.ckpt");
    let (code, stdout, _) = run(bin(d).args(["inspect", "-m"]).arg(&checkpoint));
    assert_eq!(code, 0);
    assert!(stdout.contains("of 10000"), "{stdout}");
    assert!(!Path::new(&d.join("b.json")).exists());
}
