//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use rnn_sentiment::batch::Batch;
use rnn_sentiment::config::{CellKind, ModelConfig, Pooling};
use rnn_sentiment::model::loss::Objective;
use rnn_sentiment::model::params::{expected_shapes, Params, Tensor};
use rnn_sentiment::model::{Classifier, Mode};
use rnn_sentiment::rng::Rng;
use serde_json::Value;

pub const CELLS: [CellKind; 3] = [CellKind::Rnn, CellKind::Lstm, CellKind::Gru];

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file under the repository root.
pub fn repo_file(rel: &str) -> PathBuf {
    root().join(rel)
}

/// A small model configuration.
pub fn tiny_config(cell: CellKind, vocab: usize, embed: usize, hidden: usize) -> ModelConfig {
    ModelConfig {
        cell,
        vocab_size: vocab,
        embed_dim: embed,
        hidden_dim: hidden,
        layers: 1,
        bidirectional: false,
        pooling: Pooling::Last,
        forget_bias: None,
        threshold: 0.5,
        classes: Vec::new(),
    }
}

/// A randomly initialised f64 model.
pub fn random_model(config: ModelConfig, seed: u64) -> Classifier<f64> {
    Classifier::new(config, &mut Rng::new(seed))
}

/// Reads `{"name": {"shape": [...], "data": [...]}}` into tensors in the canonical order of
/// `config`.
pub fn tensors_from_json(value: &Value, config: &ModelConfig) -> Vec<Tensor<f64>> {
    expected_shapes(config)
        .into_iter()
        .map(|(name, _)| {
            let t = &value[&name];
            Tensor {
                shape: t["shape"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{name} has a shape"))
                    .iter()
                    .map(|d| d.as_u64().unwrap() as usize)
                    .collect(),
                data: floats(&t["data"]),
            }
        })
        .collect()
}

/// A JSON array of numbers.
pub fn floats(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}

/// A batch from a JSON array of padded id rows and a JSON array of lengths.
pub fn batch_from_json(ids: &Value, lengths: &Value) -> Batch {
    let lengths: Vec<usize> = lengths
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_u64().unwrap() as usize)
        .collect();
    let rows: Vec<Vec<u32>> = ids
        .as_array()
        .unwrap()
        .iter()
        .zip(&lengths)
        .map(|(row, &len)| {
            row.as_array().unwrap()[..len]
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        })
        .collect();
    Batch::from_sequences(&rows)
}

/// How a loss is computed: positive-class weight (binary models), class weights (K-class
/// models; empty: all 1) and, for training mode, dropout rates and the seed of the masks (the
/// same seed gives the same masks, so finite differences see one fixed function).
#[derive(Clone, Debug)]
pub struct LossSpec {
    pub pos_weight: f64,
    pub class_weights: Vec<f64>,
    pub dropout: Option<(f64, f64, u64)>,
}

impl LossSpec {
    pub const PLAIN: LossSpec = LossSpec {
        pos_weight: 1.0,
        class_weights: Vec::new(),
        dropout: None,
    };

    /// The model's loss: BCE for a binary head, softmax cross-entropy for K classes.
    fn objective(&self, model: &Classifier<f64>) -> Objective<f64> {
        Objective::new(
            model.config.classes.len(),
            self.pos_weight,
            &self.class_weights,
        )
    }

    fn forward(
        &self,
        model: &Classifier<f64>,
        batch: &Batch,
    ) -> (Array2<f64>, rnn_sentiment::model::Cache<f64>) {
        match self.dropout {
            None => model.forward(batch, Mode::Eval),
            Some((embed_dropout, dropout, seed)) => {
                let mut rng = rnn_sentiment::rng::Rng::new(seed);
                model.forward(
                    batch,
                    Mode::Train {
                        embed_dropout,
                        dropout,
                        rng: &mut rng,
                    },
                )
            }
        }
    }
}

/// Mean loss of a model on a batch of classes `targets` (BCE, or K-class cross-entropy).
pub fn loss(model: &Classifier<f64>, batch: &Batch, targets: &[usize], spec: &LossSpec) -> f64 {
    let (logits, _) = spec.forward(model, batch);
    spec.objective(model).mean(logits.view(), targets).0
}

/// Analytic gradients of the mean loss.
pub fn gradients(
    model: &Classifier<f64>,
    batch: &Batch,
    targets: &[usize],
    spec: &LossSpec,
) -> Params<f64> {
    let (logits, cache) = spec.forward(model, batch);
    let (_, d_logits) = spec.objective(model).mean(logits.view(), targets);
    let mut grads = Params::zeros(&model.config);
    model.backward(cache, d_logits.view(), &mut grads);
    grads
}

/// Asserts two slices agree to `tol`, relative to max(1, |expected|).
pub fn assert_close(what: &str, actual: &[f64], expected: &[f64], tol: f64) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let err = (a - e).abs() / e.abs().max(1.0);
        assert!(
            err <= tol,
            "{what}[{i}]: got {a}, expected {e} (error {err:e} > {tol:e})"
        );
    }
}

/// A temporary directory that is removed at the end of the test.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// Writes `contents` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write test file");
    path
}

/// The binary, run in `dir`.
pub fn bin(dir: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("rnn-sentiment").expect("binary built");
    cmd.current_dir(dir);
    cmd
}

/// A file of the shipped sample data.
pub fn sample(name: &str) -> PathBuf {
    repo_file(&format!("data/{name}"))
}

/// Trains a small, fast model on the sample data; returns its path.
pub fn train_small(dir: &Path, cell: &str, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    bin(dir)
        .args(["train", "--quiet", "--cell", cell, "--epochs", "3"])
        .args(["--embed-dim", "16", "--hidden-dim", "16", "-o"])
        .arg(&out)
        .args(extra)
        .arg(sample("train.csv"))
        .assert()
        .success();
    out
}

/// Runs and returns (exit code, stdout, stderr), checking that nothing panicked.
pub fn run(cmd: &mut assert_cmd::Command) -> (i32, String, String) {
    let output = cmd.output().expect("command runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    let code = output.status.code().expect("exited normally");
    assert_ne!(code, 101, "panic exit code: {stderr}");
    (code, stdout, stderr)
}

/// Asserts exit 2 and that stderr contains every fragment.
pub fn fails_with(cmd: &mut assert_cmd::Command, fragments: &[&str]) -> String {
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 2, "expected exit 2, stderr: {stderr}");
    for f in fragments {
        assert!(stderr.contains(f), "stderr lacks {f:?}: {stderr}");
    }
    stderr
}

/// A synthetic CSV big enough that an epoch takes a noticeable time.
pub fn synthetic_csv(rows: usize) -> String {
    let words = [
        "good", "bad", "great", "awful", "fine", "dull", "film", "plot", "cast", "music",
    ];
    let mut rng = Rng::new(5);
    let mut out = String::from("text,label\n");
    for _ in 0..rows {
        let n = 8 + rng.below(24);
        let text: Vec<&str> = (0..n).map(|_| words[rng.below(words.len())]).collect();
        out.push_str(&format!("{},{}\n", text.join(" "), rng.below(2)));
    }
    out
}

/// Runs a training command, sends it SIGINT once its first epoch's line is on stderr, and
/// returns its exit code and everything it wrote to stderr.
#[cfg(unix)]
pub fn interrupt_in_second_epoch(cmd: &mut std::process::Command) -> (Option<i32>, String) {
    interrupt_after_line(cmd, "epoch   1")
}

/// Runs a command, sends it SIGINT once a line starting with `prefix` is on stderr, and
/// returns its exit code and everything it wrote to stderr.
#[cfg(unix)]
pub fn interrupt_after_line(
    cmd: &mut std::process::Command,
    prefix: &str,
) -> (Option<i32>, String) {
    use std::io::{BufRead, BufReader};
    let mut child = cmd
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("training starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr piped")).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.expect("stderr is text");
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with(prefix) {
            break;
        }
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    for line in lines {
        seen.push_str(&line.expect("stderr is text"));
        seen.push('\n');
    }
    (child.wait().expect("training ends").code(), seen)
}

/// A three-class CSV (labels neg, neutral, pos): each text holds one cue word of its class
/// among filler ("awful" neg, "okay" neutral, "great" pos), so a small model learns it.
pub fn three_class_csv(rows: usize, seed: u64) -> String {
    let classes = ["neg", "neutral", "pos"];
    let cues = [
        ["awful", "bad", "dull"],
        ["okay", "fine", "average"],
        ["great", "good", "superb"],
    ];
    let filler = ["the", "film", "plot", "was", "cast", "music", "a", "very"];
    let mut rng = Rng::new(seed);
    let mut out = String::from("text,label\n");
    for _ in 0..rows {
        let class = rng.below(3);
        let mut words: Vec<&str> = (0..3 + rng.below(6))
            .map(|_| filler[rng.below(filler.len())])
            .collect();
        let at = rng.below(words.len() + 1);
        words.insert(at, cues[class][rng.below(3)]);
        out.push_str(&format!("{},{}\n", words.join(" "), classes[class]));
    }
    out
}

/// Trains a small K-class model on `data` through the binary (4 epochs, E = H = 16 unless
/// `extra` says otherwise); returns its path.
pub fn train_classes(dir: &Path, data: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut cmd = bin(dir);
    cmd.args(["train", "--quiet", "--lr", "0.01"]);
    // Defaults that `extra` may set otherwise (clap takes each option once).
    for (option, value) in [
        ("--epochs", "4"),
        ("--embed-dim", "16"),
        ("--hidden-dim", "16"),
    ] {
        if !extra.contains(&option) {
            cmd.args([option, value]);
        }
    }
    cmd.arg("-o")
        .arg(&out)
        .args(extra)
        .arg(data)
        .assert()
        .success();
    out
}
