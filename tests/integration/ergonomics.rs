//! Ergonomics, end to end through the real binary: `inspect`, shell completions, the man page,
//! the mix-up errors (a model given as data and data given as a model), and `--json` on every
//! command that prints a result, with every JSON field documented in that command's `--help`.

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

use crate::common::*;

/// Runs, asserts exit 0, returns stdout.
fn ok(cmd: &mut Command) -> String {
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    stdout
}

/// Asserts exit 2 and that stderr contains every fragment.
fn fails_with(cmd: &mut Command, fragments: &[&str]) -> String {
    let (code, _, stderr) = run(cmd);
    assert_eq!(code, 2, "expected exit 2, stderr: {stderr}");
    for f in fragments {
        assert!(stderr.contains(f), "stderr lacks {f:?}: {stderr}");
    }
    stderr
}

/// Asserts that every top-level key of a `--json` object is named in `COMMAND --help`.
fn keys_documented(dir: &Path, command: &str, object: &Value) {
    let help = ok(bin(dir).args([command, "--help"]));
    let object = object.as_object().expect("a JSON object");
    assert!(!object.is_empty());
    for key in object.keys() {
        assert!(
            help.contains(key.as_str()),
            "{command} --help does not document the JSON field {key:?}:\n{help}"
        );
    }
}

#[test]
fn inspect_reports_what_the_model_file_holds() {
    let dir = temp_dir();
    let d = dir.path();
    let model = train_small(
        d,
        "gru",
        "gru.json",
        &["--layers", "2", "--pooling", "mean", "--no-bidirectional"],
    );
    let file: Value = serde_json::from_slice(&std::fs::read(&model).unwrap()).unwrap();
    let report: Value =
        serde_json::from_str(&ok(bin(d).args(["inspect", "--json", "-m"]).arg(&model))).unwrap();

    // Architecture and sizes, as the file says.
    assert_eq!(report["cell"], "gru");
    assert_eq!(report["embed_dim"], 16);
    assert_eq!(report["hidden_dim"], 16);
    assert_eq!(report["layers"], 2);
    assert_eq!(report["bidirectional"], false);
    assert_eq!(report["pooling"], "mean");
    assert_eq!(report["vocab_size"], file["config"]["vocab_size"]);
    assert_eq!(
        report["vocab_size"].as_u64().unwrap() as usize,
        file["vocab"].as_array().unwrap().len()
    );
    assert_eq!(report["threshold"], 0.5);
    assert_eq!(report["tokenizer"], file["tokenizer"]);
    // The parameter count is the number of stored weights.
    let stored: usize = file["weights"]
        .as_object()
        .unwrap()
        .values()
        .map(|w| w["data"].as_array().unwrap().len())
        .sum();
    assert_eq!(report["parameters"].as_u64().unwrap() as usize, stored);
    assert_eq!(
        report["file_bytes"].as_u64().unwrap(),
        std::fs::metadata(&model).unwrap().len()
    );
    assert_eq!(report["format_version"], 1);

    // Training: data, history, the best epoch's validation metrics, the writer's version.
    let training = &file["training"];
    assert_eq!(report["tool_version"], env!("CARGO_PKG_VERSION"));
    for key in [
        "data_fingerprint",
        "train_rows",
        "valid_rows",
        "train_positive_rate",
        "vocab_coverage",
        "pretrained",
        "epochs_run",
        "best_epoch",
        "stopped_early",
        "history",
        "options",
    ] {
        assert_eq!(report[key], training[key], "{key}");
    }
    assert!(report["data_fingerprint"].as_str().unwrap().len() > 8);
    assert_eq!(report["train_rows"], 432);
    assert_eq!(report["valid_rows"], 48);
    let best = report["best_epoch"].as_u64().unwrap() as usize;
    let record = &training["history"][best - 1];
    assert_eq!(record["epoch"].as_u64().unwrap() as usize, best);
    assert_eq!(report["valid_loss"], record["valid_loss"]);
    assert_eq!(report["valid_accuracy"], record["valid_accuracy"]);
    keys_documented(d, "inspect", &report);

    // The plain report says the same things for people; -m defaults to model.json.
    std::fs::copy(&model, d.join("model.json")).unwrap();
    let text = ok(bin(d).arg("inspect"));
    for fragment in [
        "model.json",
        "gru E=16 H=16, 2 layers, one direction, pooling mean",
        &format!("parameters     {stored}\n"),
        &format!("{} entries", report["vocab_size"]),
        "max_len 400, truncation right",
        "threshold      0.5\n",
        report["data_fingerprint"].as_str().unwrap(),
        "432 rows (",
        "48 validation rows",
        "pretrained     none",
        &format!("best epoch {best}"),
        &format!(
            "validation loss {:.4}",
            record["valid_loss"].as_f64().unwrap()
        ),
        &format!("rnn-sentiment {}", env!("CARGO_PKG_VERSION")),
        &format!("{} bytes", report["file_bytes"]),
    ] {
        assert!(
            text.contains(fragment),
            "inspect lacks {fragment:?}:\n{text}"
        );
    }
}

#[test]
fn inspect_shows_pretrained_vectors_and_a_run_without_validation() {
    let dir = temp_dir();
    let d = dir.path();
    let vectors = write(d, "vectors.txt", "great 1 0 0 0\nterrible -1 0 0 0\n");
    let out = d.join("pre.json");
    ok(bin(d)
        .args(["train", "--quiet", "--epochs", "1", "--valid-split", "0"])
        .args(["--embed-dim", "4", "--hidden-dim", "4", "--embeddings"])
        .arg(&vectors)
        .arg("-o")
        .arg(&out)
        .arg(sample("train.csv")));
    let report: Value =
        serde_json::from_str(&ok(bin(d).args(["inspect", "--json", "-m"]).arg(&out))).unwrap();
    assert_eq!(report["pretrained"]["matched"], 2);
    assert_eq!(report["pretrained"]["dim"], 4);
    assert_eq!(report["valid_rows"], 0);
    assert!(report["valid_loss"].is_null() && report["valid_accuracy"].is_null());
    let text = ok(bin(d).args(["inspect", "-m"]).arg(&out));
    assert!(
        text.contains("vectors.txt (dim 4): 2 vocabulary words"),
        "{text}"
    );
    assert!(text.contains("no validation data"), "{text}");
}

#[test]
fn inspect_fails_cleanly_on_missing_and_bad_files() {
    let dir = temp_dir();
    let d = dir.path();
    fails_with(
        bin(d).args(["inspect", "-m", "absent.json"]),
        &["absent.json", "cannot read model file"],
    );
    let garbled = write(d, "garbled.json", b"{\"format\": rnn-sentiment}");
    fails_with(
        bin(d).args(["inspect", "--json", "-m"]).arg(&garbled),
        &["garbled.json", "not valid JSON"],
    );
    fails_with(
        bin(d).args(["inspect", "-m"]).arg(sample("train.csv")),
        &["train.csv", "looks like a CSV/text file, not a model"],
    );
}

#[test]
fn completions_for_every_shell_name_the_commands_and_options() {
    let dir = temp_dir();
    let d = dir.path();
    let bash = ok(bin(d).args(["completions", "bash"]));
    for word in [
        "train",
        "eval",
        "predict",
        "tokenize",
        "inspect",
        "completions",
        "--hidden-dim",
        "--cell",
        "--json",
        "lstm",
    ] {
        assert!(bash.contains(word), "bash completion lacks {word:?}");
    }
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let script = ok(bin(d).args(["completions", shell]));
        assert!(
            script.contains("rnn-sentiment") && script.contains("hidden-dim"),
            "{shell} completion:\n{script}"
        );
    }
    fails_with(bin(d).args(["completions", "tcsh"]), &["tcsh"]);
}

#[test]
fn man_page_prints_or_writes_one_page_per_command() {
    let dir = temp_dir();
    let d = dir.path();
    let page = ok(bin(d).arg("man"));
    assert!(page.starts_with(".ie") || page.contains("\n.TH"), "{page}");
    assert!(page.contains(".TH rnn-sentiment 1"), "{page}");
    assert!(page.contains("inspect") && page.contains("completions"));

    let pages = d.join("man/pages");
    let listed = ok(bin(d).args(["man", "--out"]).arg(&pages));
    for command in [
        "",
        "-train",
        "-eval",
        "-predict",
        "-serve",
        "-tokenize",
        "-inspect",
    ] {
        let name = format!("rnn-sentiment{command}.1");
        assert!(listed.contains(&name), "{listed}");
        let text = std::fs::read_to_string(pages.join(&name)).unwrap();
        assert!(text.contains(".TH"), "{name}");
    }
    let train = std::fs::read_to_string(pages.join("rnn-sentiment-train.1")).unwrap();
    assert!(train.contains(r"hidden\-dim"), "{train}");
    // A file where the directory should be is an error naming it.
    let blocker = write(d, "blocker", "x");
    fails_with(bin(d).args(["man", "--out"]).arg(&blocker), &["blocker"]);
}

#[test]
fn a_model_given_as_data_is_recognised() {
    let dir = temp_dir();
    let d = dir.path();
    let model = train_small(d, "rnn", "model.json", &[]);
    let before = std::fs::read(&model).unwrap();
    fails_with(
        bin(d).args(["eval", "model.json"]),
        &[
            "model.json looks like an rnn-sentiment model file, not data",
            "did you mean -m model.json?",
        ],
    );
    // Swapped arguments: the data argument is checked first, so the hint is the fix.
    fails_with(
        bin(d)
            .args(["eval", "-m"])
            .arg(sample("test.csv"))
            .arg("model.json"),
        &["did you mean -m model.json?"],
    );
    // Whatever the file's name.
    let renamed = write(d, "reviews.csv", &before);
    fails_with(
        bin(d).args(["eval", "reviews.csv"]),
        &["reviews.csv looks like an rnn-sentiment model file"],
    );
    fails_with(
        bin(d).args(["train", "--quiet", "-o", "new.json", "model.json"]),
        &["model.json looks like an rnn-sentiment model file, not data"],
    );
    fails_with(
        bin(d)
            .args([
                "train",
                "--quiet",
                "-o",
                "new.json",
                "--valid",
                "model.json",
            ])
            .arg(sample("train.csv")),
        &["model.json looks like an rnn-sentiment model file, not data"],
    );
    fails_with(
        bin(d).args(["predict", "--file", "model.json"]),
        &["model.json looks like an rnn-sentiment model file", "-m"],
    );
    fails_with(
        bin(d).args(["tokenize", "--file"]).arg(&renamed),
        &["reviews.csv looks like an rnn-sentiment model file"],
    );
    assert!(!d.join("new.json").exists());
    assert_eq!(std::fs::read(&model).unwrap(), before, "the model changed");
    // Other JSON is not mistaken for a model: the CSV reader reports it as usual.
    let other = write(d, "other.json", "{\"text\": 1}\n");
    let stderr = fails_with(bin(d).arg("eval").arg(&other), &["other.json"]);
    assert!(!stderr.contains("model file, not data"), "{stderr}");
}

#[test]
fn training_never_overwrites_its_own_data() {
    let dir = temp_dir();
    let d = dir.path();
    let data = d.join("reviews.csv");
    std::fs::copy(sample("train.csv"), &data).unwrap();
    let before = std::fs::read(&data).unwrap();
    fails_with(
        bin(d).args(["train", "--quiet", "-o", "./reviews.csv", "reviews.csv"]),
        &[
            "reviews.csv (data file) and ./reviews.csv (model file) are the same file",
            "give the model file another path",
        ],
    );
    fails_with(
        bin(d)
            .args([
                "train",
                "--quiet",
                "-o",
                "reviews.csv",
                "--valid",
                "reviews.csv",
            ])
            .arg(sample("train.csv")),
        &["reviews.csv (validation file) and reviews.csv (model file) are the same file"],
    );
    assert_eq!(std::fs::read(&data).unwrap(), before, "the data changed");
}

#[test]
fn data_given_as_a_model_is_recognised() {
    let dir = temp_dir();
    let d = dir.path();
    let data = sample("train.csv");
    for command in [&["predict", "hi"][..], &["tokenize", "hi"], &["inspect"]] {
        fails_with(
            bin(d)
                .arg(command[0])
                .arg("-m")
                .arg(&data)
                .args(&command[1..]),
            &[
                "train.csv looks like a CSV/text file, not a model",
                "\"text,label\"",
                "rnn-sentiment train",
            ],
        );
    }
    fails_with(
        bin(d).args(["eval", "-m"]).arg(&data).arg(&data),
        &["train.csv looks like a CSV/text file, not a model"],
    );
    // A UTF-8 byte-order mark and leading blank lines do not hide it.
    let bom = write(d, "bom.tsv", b"\xef\xbb\xbf\n\ntext\tlabel\nfine\t1\n");
    fails_with(
        bin(d).args(["predict", "-m"]).arg(&bom).arg("hi"),
        &["bom.tsv looks like a CSV/text file", "\"text\\tlabel\""],
    );
    // A UTF-8 character cut by the 4 KB sniffing limit does not make the text "binary".
    let mut long = b"text,label\n".to_vec();
    long.resize(4095, b'a');
    long.extend_from_slice("é,1\n".as_bytes());
    let long = write(d, "long.csv", long);
    fails_with(
        bin(d).args(["predict", "-m"]).arg(&long).arg("hi"),
        &["long.csv looks like a CSV/text file"],
    );
    // Binary files are not called text.
    let binary = write(d, "model.bin", b"PK\x03\x04\x00\x00binary");
    fails_with(
        bin(d).args(["predict", "-m"]).arg(&binary).arg("hi"),
        &["model.bin is not an rnn-sentiment model file"],
    );
    // Pipes are not sniffed: that would consume what the real reader needs.
    if Path::new("/dev/stdin").exists() {
        let model = train_small(d, "rnn", "piped.json", &[]);
        let stdout = ok(bin(d)
            .args(["predict", "-m", "/dev/stdin", "great"])
            .write_stdin(std::fs::read(&model).unwrap()));
        assert!(stdout.contains('\t'), "{stdout}");
        let stdout = ok(bin(d)
            .args(["eval", "--json", "-m", "piped.json", "/dev/stdin"])
            .write_stdin(std::fs::read(sample("test.csv")).unwrap()));
        assert!(stdout.contains("\"count\":120"), "{stdout}");
    }
    // An empty model file still gets the loader's own message.
    let empty = write(d, "empty.json", b"");
    fails_with(
        bin(d).args(["predict", "-m"]).arg(&empty).arg("hi"),
        &["empty.json", "truncated"],
    );
}

#[test]
fn every_result_command_takes_json_and_documents_its_fields() {
    let dir = temp_dir();
    let d = dir.path();
    let stdout = ok(bin(d)
        .args(["train", "--quiet", "--json", "--epochs", "1"])
        .args(["--embed-dim", "8", "--hidden-dim", "8"])
        .arg(sample("train.csv")));
    let train: Value = serde_json::from_str(&stdout).expect("train --json is one object");
    keys_documented(d, "train", &train);

    let stdout = ok(bin(d)
        .args(["eval", "--json", "--min-accuracy", "0"])
        .arg(sample("test.csv")));
    let eval: Value = serde_json::from_str(&stdout).expect("eval --json is one object");
    keys_documented(d, "eval", &eval);
    for key in eval["confusion"].as_object().unwrap().keys() {
        let help = ok(bin(d).args(["eval", "--help"]));
        assert!(help.contains(key.as_str()), "eval --help lacks {key}");
    }

    let stdout = ok(bin(d).args(["predict", "--json", "good", "bad"]));
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    keys_documented(d, "predict", &lines[0]);

    let with = ok(bin(d).args(["tokenize", "--json", "Don't buy it!"]));
    let without = ok(bin(d).args(["tokenize", "Don't buy it!"]));
    assert_eq!(with, without, "tokenize prints JSON either way");
    let line: Value = serde_json::from_str(with.trim_end()).unwrap();
    keys_documented(d, "tokenize", &line);

    let inspect: Value = serde_json::from_str(&ok(bin(d).args(["inspect", "--json"]))).unwrap();
    keys_documented(d, "inspect", &inspect);

    // Short help stays short; the schema is in --help.
    let short = ok(bin(d).args(["inspect", "-h"]));
    assert!(!short.contains("file_bytes"), "{short}");
}
