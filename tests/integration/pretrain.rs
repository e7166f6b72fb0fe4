//! `pretrain` and `train --init` through the real binary: the base model file, determinism
//! (threads, the token stream spilled to a temporary file), fine-tuning that really starts
//! from the base, and the mix-ups and contradictions refused.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

/// Small, fast pretraining options.
pub(crate) const SMALL: [&str; 12] = [
    "--embed-dim",
    "8",
    "--hidden-dim",
    "8",
    "--bptt",
    "8",
    "--batch-size",
    "20",
    "--samples",
    "16",
    "--epochs",
    "2",
];

fn pretrain(dir: &Path, name: &str, extra: &[&str]) -> (PathBuf, Value) {
    let out = dir.join(name);
    let (code, stdout, stderr) = run(bin(dir)
        .args(["pretrain", "--json", "-q"])
        .args(SMALL)
        .args(extra)
        .arg("-o")
        .arg(&out)
        .arg(sample("train.csv")));
    assert_eq!(code, 0, "{stderr}");
    (out, serde_json::from_str(&stdout).expect("a JSON summary"))
}

fn json_file(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn a_base_model_is_a_language_model_that_inspect_shows_and_predict_refuses() {
    let dir = temp_dir();
    let d = dir.path();
    let (base, summary) = pretrain(d, "base.json", &[]);
    assert_eq!(summary["texts"], 480);
    assert_eq!(summary["epochs_run"], 2);
    let vocab = summary["vocab_size"].as_f64().unwrap();
    // The second epoch predicts the held-out text better than the first.
    let perplexities: Vec<f64> = summary["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["valid_perplexity"].as_f64().unwrap())
        .collect();
    assert!(perplexities[1] < perplexities[0], "{perplexities:?}");
    assert_eq!(summary["valid_perplexity"], perplexities[1]);
    let file = json_file(&base);
    assert_eq!(file["kind"], "language-model");
    assert_eq!(
        file["weights"]["decoder.weight"]["shape"],
        serde_json::json!([vocab as u64, 8])
    );
    assert!(file["weights"].get("fc.weight").is_none());

    let (code, text, _) = run(bin(d).args(["inspect", "-m"]).arg(&base));
    assert_eq!(code, 0);
    assert!(text.contains("a language model from `pretrain`"), "{text}");
    assert!(text.contains("train --init"), "{text}");
    for command in [&["predict", "good"][..], &["eval", "data.csv"][..]] {
        write(d, "data.csv", "text,label\ngood,1\n");
        let (code, _, stderr) = run(bin(d)
            .arg(command[0])
            .arg("-m")
            .arg(&base)
            .args(&command[1..]));
        assert_eq!(code, 2, "{command:?}");
        assert!(
            stderr.contains("language model") && stderr.contains("train --init"),
            "{command:?}: {stderr}"
        );
    }
}

#[test]
fn the_same_corpus_and_seed_give_the_same_bytes_whatever_the_threads_or_memory_bound() {
    let dir = temp_dir();
    let d = dir.path();
    let (one, s1) = pretrain(d, "one.json", &["--threads", "1"]);
    let (two, _) = pretrain(d, "two.json", &["--threads", "2"]);
    // A bound of 100 positions moves the stream (about 5,000) to a temporary file.
    let (spilled, s3) = pretrain(d, "spilled.json", &["--memory-tokens", "100"]);
    assert_eq!(s1["spilled"], false);
    assert_eq!(s3["spilled"], true);
    let bytes = std::fs::read(&one).unwrap();
    assert!(
        bytes == std::fs::read(&two).unwrap(),
        "threads changed the model"
    );
    assert!(
        bytes == std::fs::read(&spilled).unwrap(),
        "spilling changed the model"
    );
    let (other, _) = pretrain(d, "other.json", &["--seed", "7"]);
    assert!(
        bytes != std::fs::read(&other).unwrap(),
        "the seed changes nothing"
    );
}

/// One epoch of `train --init base -o out` on the sample data, in `dir`; it must succeed.
fn fine_tune(dir: &Path, base: &str, out: &str) {
    let (code, _, stderr) = run(bin(dir)
        .args(["train", "-q", "--epochs", "1", "--init", base, "-o", out])
        .arg(sample("train.csv")));
    assert_eq!(code, 0, "{stderr}");
}

/// The recurrent weights of a model file, flattened in name order.
fn recurrent_weights(path: &Path) -> Vec<f64> {
    let file = json_file(path);
    let weights = file["weights"].as_object().unwrap();
    weights
        .iter()
        .filter(|(name, _)| name.starts_with("rnn."))
        .flat_map(|(_, t)| floats(&t["data"]))
        .collect()
}

#[test]
fn train_init_starts_from_the_base_and_refuses_contradicting_options() {
    let dir = temp_dir();
    let d = dir.path();
    let (base, _) = pretrain(d, "base.json", &[]);
    // A learning rate too small to move anything: the fine-tuned recurrent weights are the
    // base's, and its vocabulary is the base's too.
    let tuned = d.join("tuned.json");
    let (code, _, stderr) = run(bin(d)
        .args(["train", "-q", "--epochs", "1", "--lr", "1e-12", "--init"])
        .arg(&base)
        .arg("-o")
        .arg(&tuned)
        .arg(sample("train.csv")));
    assert_eq!(code, 0, "{stderr}");
    let (from_base, tuned_w) = (recurrent_weights(&base), recurrent_weights(&tuned));
    assert_eq!(from_base.len(), tuned_w.len());
    let moved = from_base
        .iter()
        .zip(&tuned_w)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        moved < 1e-6,
        "fine-tuning did not start from the base: {moved}"
    );
    assert_eq!(json_file(&base)["vocab"], json_file(&tuned)["vocab"]);
    let config = &json_file(&tuned)["config"];
    assert_eq!(
        (config["embed_dim"].as_u64(), config["hidden_dim"].as_u64()),
        (Some(8), Some(8))
    );
    assert_eq!(
        json_file(&tuned)["training"]["options"]["init"],
        base.display().to_string()
    );

    // Continuing from a classifier takes the same path.
    fine_tune(d, "tuned.json", "again.json");

    // An architecture option that contradicts the base names both values; nothing is written.
    let (code, _, stderr) = run(bin(d)
        .args([
            "train",
            "--init",
            "base.json",
            "--hidden-dim",
            "16",
            "-o",
            "bad.json",
        ])
        .arg(sample("train.csv")));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--hidden-dim 16") && stderr.contains("hidden_dim is 8"),
        "{stderr}"
    );
    assert!(!d.join("bad.json").exists());
}

#[test]
fn pretrain_and_init_refuse_mix_ups_with_what_to_do() {
    let dir = temp_dir();
    let d = dir.path();
    let (base, _) = pretrain(d, "base.json", &[]);
    let before = std::fs::read(&base).unwrap();
    let blank = write(d, "blank.txt", "\n  \n\n");
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "an empty corpus",
            vec![
                "pretrain".into(),
                blank.display().to_string(),
                "-o".into(),
                "x.json".into(),
            ],
            "too little to pretrain",
        ),
        (
            "a model as the corpus",
            vec![
                "pretrain".into(),
                "base.json".into(),
                "-o".into(),
                "x.json".into(),
            ],
            "looks like an rnn-sentiment model",
        ),
        (
            "a missing corpus",
            vec![
                "pretrain".into(),
                "nope.txt".into(),
                "-o".into(),
                "x.json".into(),
            ],
            "no such file",
        ),
        (
            "the output is the corpus",
            vec![
                "pretrain".into(),
                "blank.txt".into(),
                "-o".into(),
                "blank.txt".into(),
            ],
            "blank.txt",
        ),
        (
            "--max-vocab 2",
            vec![
                "pretrain".into(),
                "blank.txt".into(),
                "--max-vocab".into(),
                "2".into(),
            ],
            "--max-vocab",
        ),
        (
            "data given to --init",
            vec![
                "train".into(),
                "--init".into(),
                sample("train.csv").display().to_string(),
                sample("train.csv").display().to_string(),
            ],
            "not a model",
        ),
    ];
    for (what, args, fragment) in cases {
        let (code, _, stderr) = run(bin(d).args(&args));
        assert_eq!(code, 2, "{what}: {stderr}");
        assert!(stderr.contains(fragment), "{what}: {stderr}");
    }
    assert_eq!(
        std::fs::read(&base).unwrap(),
        before,
        "the base was touched"
    );
    assert!(!d.join("x.json").exists());
}

/// The decoder rows of `base` (V, H), flattened.
fn decoder_rows(base: &Value) -> Vec<f64> {
    base["weights"]["decoder.weight"]["data"]
        .as_array()
        .expect("decoder.weight data")
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn dense_updates_move_every_row_and_are_recorded() {
    let dir = temp_dir();
    let d = dir.path();
    let (lazy, _) = pretrain(d, "lazy.json", &[]);
    let (dense, _) = pretrain(d, "dense.json", &["--dense-updates"]);
    let (lazy, dense) = (json_file(&lazy), json_file(&dense));
    assert!(lazy["pretraining"]["options"]
        .get("dense_updates")
        .is_none());
    assert_eq!(dense["pretraining"]["options"]["dense_updates"], true);
    // Dense Adam keeps moving a row by its momentum at steps that do not touch it; the lazy
    // step does not, so the same seed ends with other decoder weights.
    let (lazy, dense) = (decoder_rows(&lazy), decoder_rows(&dense));
    assert_eq!(lazy.len(), dense.len());
    assert_ne!(lazy, dense);
}

#[test]
fn tied_weights_share_one_table_that_fine_tuning_starts_from() {
    let dir = temp_dir();
    let d = dir.path();
    let (untied, plain) = pretrain(d, "untied.json", &[]);
    let (tied, summary) = pretrain(d, "tied.json", &["--tie-weights"]);
    let file = json_file(&tied);
    assert_eq!(file["pretraining"]["options"]["tie_weights"], true);
    assert!(json_file(&untied)["pretraining"]["options"]
        .get("tie_weights")
        .is_none());
    // The file holds the decoder's weight (PyTorch loads it as any base), equal to the
    // embedding, and counts it once.
    let embedding = floats(&file["weights"]["embedding.weight"]["data"]);
    assert_eq!(decoder_rows(&file), embedding);
    let (v, h) = (summary["vocab_size"].as_u64().unwrap(), 8);
    assert_eq!(
        plain["parameters"].as_u64().unwrap() - v * h,
        summary["parameters"].as_u64().unwrap()
    );
    assert!(summary["valid_perplexity"].as_f64().unwrap().is_finite());
    let (code, text, stderr) = run(bin(d).args(["inspect", "-m"]).arg(&tied));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        text.contains(&format!("parameters   {}", summary["parameters"]))
            && text.contains("tied to the embedding"),
        "{text}"
    );
    fine_tune(d, "tied.json", "tuned.json");
    assert_eq!(
        recurrent_weights(&tied).len(),
        recurrent_weights(&d.join("tuned.json")).len()
    );
    // Unequal sizes cannot be tied: refused before reading the corpus, naming both sizes.
    let (code, _, stderr) = run(bin(d)
        .args([
            "pretrain",
            "--tie-weights",
            "--embed-dim",
            "8",
            "--hidden-dim",
            "16",
        ])
        .arg("-o")
        .arg(d.join("never.json"))
        .arg(sample("train.csv")));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--tie-weights") && stderr.contains("--hidden-dim 8"),
        "{stderr}"
    );
    assert!(!d.join("never.json").exists());
}

#[test]
fn pretrain_starts_from_word_vectors_and_records_them() {
    let dir = temp_dir();
    let d = dir.path();
    // Six values per word; "The" reaches "the" by lowercasing; "zyzzyva" is not in the corpus.
    let vectors = write(
        d,
        "vectors.txt",
        "The 1 2 3 4 5 6\nwas -1 -2 -3 -4 -5 -6\nzyzzyva 0 0 0 0 0 9\n",
    );
    // Without --embed-dim, E is the vectors'; a learning rate too small to move anything
    // leaves their rows as given.
    let out = d.join("base.json");
    let (code, stdout, stderr) = run(bin(d)
        .args([
            "pretrain",
            "--json",
            "-q",
            "--hidden-dim",
            "8",
            "--bptt",
            "8",
        ])
        .args(["--batch-size", "20", "--samples", "16", "--epochs", "1"])
        .args(["--lr", "1e-12", "--embeddings"])
        .arg(&vectors)
        .arg("-o")
        .arg(&out)
        .arg(sample("train.csv")));
    assert_eq!(code, 0, "{stderr}");
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["embeddings"]["matched"], 2, "{summary}");
    let file = json_file(&out);
    let recorded = &file["pretraining"]["embeddings"];
    assert_eq!(recorded["path"], vectors.display().to_string());
    assert_eq!(
        (recorded["matched"].as_u64(), recorded["dim"].as_u64()),
        (Some(2), Some(6))
    );
    assert_eq!(
        (
            recorded["lowercased"].as_u64(),
            recorded["file_words"].as_u64()
        ),
        (Some(1), Some(3))
    );
    assert!(
        recorded["token_coverage"].as_f64().unwrap() > 0.05,
        "{recorded}"
    );
    assert_eq!(file["config"]["embed_dim"], 6);
    let vocab: Vec<&str> = file["vocab"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let embedding = floats(&file["weights"]["embedding.weight"]["data"]);
    let row = |word: &str| {
        let id = vocab.iter().position(|t| *t == word).unwrap();
        embedding[id * 6..id * 6 + 6].to_vec()
    };
    assert_close("the", &row("the"), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 1e-6);
    assert_close(
        "was",
        &row("was"),
        &[-1.0, -2.0, -3.0, -4.0, -5.0, -6.0],
        1e-6,
    );
    // Vectors, then the language model, then fine-tuning.
    fine_tune(d, "base.json", "tuned.json");

    // An --embed-dim that contradicts the vectors names both; nothing is written.
    let (code, _, stderr) = run(bin(d)
        .args(["pretrain", "--embed-dim", "8", "--embeddings"])
        .arg(&vectors)
        .args(["-o", "other.json"])
        .arg(sample("train.csv")));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--embed-dim 8")
            && stderr.contains("vectors.txt")
            && stderr.contains("6 values per word"),
        "{stderr}"
    );
    assert!(!d.join("other.json").exists());
}

#[test]
fn pretrain_example_config_lists_every_key_with_its_default() {
    use rnn_sentiment::lm::options::PretrainConfig;
    use rnn_sentiment::lm::options::PretrainOptions;
    let path = repo_file("pretrain.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let options = PretrainOptions::load(&path).unwrap();
    assert_eq!(
        options.over(PretrainConfig::default()),
        PretrainConfig::default()
    );
    for key in PretrainOptions::keys() {
        assert!(
            text.contains(&format!("\n{key} =")) || text.contains(&format!("\n# {key} =")),
            "pretrain.example.toml lacks {key}"
        );
    }
    // The file's other values are the command's defaults: the same base, byte for byte, in
    // the file's output name.
    let dir = temp_dir();
    let d = dir.path();
    let (plain, _) = pretrain(d, "plain.json", &[]);
    let (code, _, stderr) = run(bin(d)
        .args(["pretrain", "--json", "--config"])
        .arg(&path)
        .args(SMALL)
        .arg(sample("train.csv")));
    assert_eq!(code, 0, "{stderr}");
    assert!(std::fs::read(d.join("base.json")).unwrap() == std::fs::read(plain).unwrap());
}

#[test]
fn a_pretrain_config_file_sets_options_the_command_line_overrides() {
    let dir = temp_dir();
    let d = dir.path();
    let config = write(
        d,
        "lm.toml",
        "epochs = 1\ncell = \"gru\"\nvalid_split = 0.05\nreport = \"rep\"\n",
    );
    // SMALL gives --epochs 2 on the command line.
    let (base, summary) = pretrain(d, "base.json", &["--config", "lm.toml", "--cell", "rnn"]);
    assert_eq!(summary["epochs_run"], 2);
    let options = &json_file(&base)["pretraining"]["options"];
    assert_eq!(options["cell"], "rnn");
    assert_eq!(options["valid_split"], 0.05);
    assert!(d.join("rep/report.html").is_file());
    let before = std::fs::read(&config).unwrap();
    // A bad value names the file, its line and the key; nothing is written.
    write(d, "bad.toml", "epochs = 1\nsamples = 0\n");
    let (code, _, stderr) = run(bin(d)
        .args(["pretrain", "--config", "bad.toml", "-o", "x.json"])
        .arg(sample("train.csv")));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("line 2: invalid value for samples"),
        "{stderr}"
    );
    assert!(!d.join("x.json").exists());
    // The config file is an input: refused as the output.
    let (code, _, stderr) = run(bin(d)
        .args(["pretrain", "--config", "lm.toml", "-o", "lm.toml"])
        .arg(sample("train.csv")));
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(std::fs::read(&config).unwrap(), before);
}
