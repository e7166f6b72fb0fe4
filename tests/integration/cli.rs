//! The command line, end to end: train -> eval -> predict -> tokenize on the shipped sample
//! data, stdin handling, the quality gate's exit codes, determinism, config precedence, and
//! bad input (exit 2, a message naming the problem, no panic, the old model untouched).

use std::path::Path;

use rnn_sentiment::batch::Batch;
use rnn_sentiment::kernels::float::sigmoid;
use rnn_sentiment::model::Mode;
use serde_json::{json, Value};

use crate::common::*;

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Accuracy and ROC AUC of a model on the held-out sample file.
fn held_out(dir: &Path, model: &str) -> (f64, f64) {
    let (code, stdout, stderr) = run(bin(dir)
        .args(["eval", "--json", "-m", model])
        .arg(sample("test.csv")));
    assert_eq!(code, 0, "{stderr}");
    let m: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(m["count"], 120);
    for key in [
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
        "confusion",
    ] {
        assert!(!m[key].is_null(), "eval --json lacks {key}");
    }
    (
        m["accuracy"].as_f64().unwrap(),
        m["roc_auc"].as_f64().unwrap(),
    )
}

#[test]
fn readme_command_trains_a_model_that_beats_chance() {
    // The README's first command (default cell and output path), then eval on held-out data.
    // Chance is 0.5 with a standard deviation of 0.046 on 120 rows.
    let dir = temp_dir();
    let (code, stdout, stderr) = run(bin(dir.path()).arg("train").arg(sample("train.csv")));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("saved model.json"), "{stdout}");
    assert!(
        stderr.contains("epoch   1"),
        "per-epoch lines when not a terminal: {stderr}"
    );
    let (accuracy, auc) = held_out(dir.path(), "model.json");
    assert!(
        accuracy >= 0.65 && auc >= 0.7,
        "accuracy {accuracy}, auc {auc}"
    );
}

#[test]
fn every_cell_learns_the_sample_data() {
    let dir = temp_dir();
    for cell in ["rnn", "lstm", "gru"] {
        let out = format!("{cell}.json");
        let (code, _, stderr) = run(bin(dir.path())
            .args(["train", "--quiet", "--valid-split", "0", "--epochs", "5"])
            .args(["--cell", cell, "-o", &out])
            .arg(sample("train.csv")));
        assert_eq!(code, 0, "{stderr}");
        let (accuracy, auc) = held_out(dir.path(), &out);
        assert!(
            accuracy >= 0.6 && auc >= 0.62,
            "{cell}: accuracy {accuracy}, auc {auc}"
        );
    }
}

#[test]
fn predict_and_tokenize_for_every_cell() {
    let dir = temp_dir();
    for cell in ["rnn", "lstm", "gru"] {
        let model = train_small(dir.path(), cell, &format!("{cell}.json"), &[]);
        let (code, stdout, _) = run(bin(dir.path()).arg("predict").arg("-m").arg(&model).args([
            "I love this movie",
            "",
            "awful.",
        ]));
        assert_eq!(code, 0);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 3, "{stdout}");
        for line in lines {
            let (label, p) = line.split_once('\t').expect("label<TAB>probability");
            assert!(label == "positive" || label == "negative");
            let p: f64 = p.parse().unwrap();
            assert!((0.0..=1.0).contains(&p));
            assert_eq!(label == "positive", p >= 0.5);
        }
        let (code, stdout, _) = run(bin(dir.path())
            .args(["tokenize", "-m"])
            .arg(&model)
            .arg("Great movie, zzzunknownzzz!"));
        assert_eq!(code, 0);
        let v = &json_lines(&stdout)[0];
        assert_eq!(
            v["tokens"],
            serde_json::json!(["great", "movie", ",", "zzzunknownzzz", "!"])
        );
        let ids = v["ids"].as_array().unwrap();
        assert_eq!(ids.len(), 5);
        assert_eq!(ids[3], 1, "unknown word maps to <unk> = 1");
        assert!(ids[0].as_u64().unwrap() > 1);
    }
}

#[test]
fn stdin_gives_one_line_per_input_line_and_newlines_never_change_scores() {
    let dir = temp_dir();
    let model = train_small(dir.path(), "gru", "m.json", &[]);
    let input = "great fun\r\n\nboring and slow\n   \nlast line without newline";
    let (code, stdout, _) = run(bin(dir.path())
        .args(["predict", "--json", "-m"])
        .arg(&model)
        .write_stdin(input));
    assert_eq!(code, 0);
    let rows = json_lines(&stdout);
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0]["text"], "great fun");
    assert_eq!(rows[1]["text"], "");
    // The same texts as arguments, with and without trailing newlines: identical scores.
    let (_, args_out, _) = run(bin(dir.path())
        .args(["predict", "--json", "-m"])
        .arg(&model)
        .args(["great fun", "great fun\n", "last line without newline\r\n"]));
    let by_arg = json_lines(&args_out);
    assert_eq!(by_arg[0]["probability"], rows[0]["probability"]);
    assert_eq!(by_arg[1]["probability"], rows[0]["probability"]);
    assert_eq!(by_arg[2]["probability"], rows[4]["probability"]);
    // "-" means stdin too, and --file reads the same lines.
    let file = write(dir.path(), "texts.txt", input);
    let (_, dash_out, _) = run(bin(dir.path())
        .args(["predict", "--json", "-m"])
        .arg(&model)
        .arg("-")
        .write_stdin(input));
    assert_eq!(dash_out, stdout);
    let (_, file_out, _) = run(bin(dir.path())
        .args(["predict", "--json", "-m"])
        .arg(&model)
        .arg("--file")
        .arg(&file));
    assert_eq!(file_out, stdout);
    // tokenize reads stdin the same way.
    let (_, tok_out, _) = run(bin(dir.path())
        .args(["tokenize", "-m"])
        .arg(&model)
        .write_stdin(input));
    assert_eq!(json_lines(&tok_out).len(), 5);
}

#[test]
fn min_accuracy_is_a_quality_gate() {
    let dir = temp_dir();
    let model = train_small(dir.path(), "lstm", "m.json", &[]);
    let eval = |extra: &[&str]| {
        let mut cmd = bin(dir.path());
        cmd.args(["eval", "-m"])
            .arg(&model)
            .arg(sample("test.csv"))
            .args(extra);
        run(&mut cmd)
    };
    let (code, stdout, _) = eval(&["--json"]);
    assert_eq!(code, 0);
    let accuracy = serde_json::from_str::<Value>(&stdout).unwrap()["accuracy"]
        .as_f64()
        .unwrap();
    assert!(accuracy < 1.0);
    let (code, _, _) = eval(&["--min-accuracy", &format!("{}", accuracy - 0.01)]);
    assert_eq!(code, 0);
    let (code, _, _) = eval(&["--min-accuracy", &format!("{accuracy}")]);
    assert_eq!(code, 0, "equal accuracy passes");
    let (code, _, stderr) = eval(&["--min-accuracy", &format!("{}", accuracy + 0.01)]);
    assert_eq!(code, 1);
    assert!(stderr.contains("quality gate failed"), "{stderr}");
    let (code, stdout, _) = eval(&["--json", "--min-accuracy", "1"]);
    assert_eq!(code, 1);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()["passed"],
        false
    );
    fails_with(
        bin(dir.path())
            .args(["eval", "--min-accuracy", "1.5"])
            .arg(sample("test.csv")),
        &["--min-accuracy"],
    );
}

#[test]
fn same_seed_same_bytes_and_other_seed_other_bytes() {
    let dir = temp_dir();
    for cell in ["rnn", "lstm", "gru"] {
        let a = train_small(dir.path(), cell, "a.json", &["--seed", "5"]);
        let b = train_small(dir.path(), cell, "b.json", &["--seed", "5"]);
        let c = train_small(dir.path(), cell, "c.json", &["--seed", "6"]);
        let (a, b, c) = (
            std::fs::read(a).unwrap(),
            std::fs::read(b).unwrap(),
            std::fs::read(c).unwrap(),
        );
        assert!(a == b, "{cell}: same seed gave different files");
        assert!(a != c, "{cell}: different seeds gave the same file");
    }
}

#[test]
fn command_line_beats_config_file_beats_defaults() {
    let dir = temp_dir();
    let config = write(
        dir.path(),
        "c.toml",
        "cell = \"gru\"\nhidden_dim = 8\nembed_dim = 8\nepochs = 2\npatience = 0\nseed = 3\nlowercase = false\n",
    );
    let out = dir.path().join("m.json");
    let (code, stdout, stderr) = run(bin(dir.path())
        .args([
            "train",
            "--quiet",
            "--json",
            "--hidden-dim",
            "6",
            "--config",
        ])
        .arg(&config)
        .arg("-o")
        .arg(&out)
        .arg(sample("train.csv")));
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["epochs_run"], 2);
    // The merged options are the ones training used: the same flags given directly (the
    // default batch size among them, spelled out) train the same bytes.
    let direct = dir.path().join("direct.json");
    let (code, _, stderr) = run(bin(dir.path())
        .args(["train", "--quiet", "--cell", "gru", "--hidden-dim", "6"])
        .args([
            "--embed-dim",
            "8",
            "--epochs",
            "2",
            "--patience",
            "0",
            "--seed",
            "3",
        ])
        .args(["--no-lowercase", "--batch-size", "32", "-o"])
        .arg(&direct)
        .arg(sample("train.csv")));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        std::fs::read(&out).unwrap() == std::fs::read(&direct).unwrap(),
        "config file + command line and the same options as flags trained different models"
    );
    // And those options are in effect: GRU weights (3 gates) of H = 6 from the command line
    // over the file's 8, E = 8 from the file over the default, and case kept in tokens.
    let model: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        model["weights"]["rnn.weight_ih_l0"]["shape"],
        json!([18, 8])
    );
    assert_eq!(
        model["weights"]["rnn.weight_hh_l0"]["shape"],
        json!([18, 6])
    );
    let (code, stdout, _) = run(bin(dir.path())
        .args(["tokenize", "-m"])
        .arg(&out)
        .arg("Great MOVIE"));
    assert_eq!(code, 0);
    assert_eq!(json_lines(&stdout)[0]["tokens"], json!(["Great", "MOVIE"]));
    // A key the file does not know is an error naming it.
    let bad = write(dir.path(), "bad.toml", "hiden_dim = 8\n");
    fails_with(
        bin(dir.path())
            .args(["train", "--config"])
            .arg(&bad)
            .arg(sample("train.csv")),
        &["bad.toml", "hiden_dim"],
    );
}

#[test]
fn config_example_documents_every_key_with_its_default() {
    use rnn_sentiment::config::{ConfigFile, TrainOptions};
    let path = repo_file("config.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    // Every key is valid (the file parses with unknown keys refused) and sets its default...
    let file = ConfigFile::load(&path).unwrap();
    assert_eq!(file.options(), TrainOptions::default());
    // ...and every option a config file can set appears in it: set to its real default, or,
    // for options without a default value, as a comment.
    let example: toml::Table = toml::from_str(&text).unwrap();
    let defaults = serde_json::to_value(TrainOptions::default()).unwrap();
    for key in TrainOptions::keys() {
        match example.get(*key) {
            Some(value) => assert_eq!(
                serde_json::to_value(value).unwrap(),
                defaults[key],
                "config.example.toml: {key}"
            ),
            None => assert!(
                defaults[key].is_null() && text.contains(&format!("# {key} =")),
                "config.example.toml lacks {key}"
            ),
        }
    }
}

/// The example file trains as its header says, to the model the defaults give: its
/// fine-tuning keys (set to their defaults) do not make a run without --init an error.
#[test]
fn training_with_config_example_gives_the_default_model() {
    let dir = temp_dir();
    let d = dir.path();
    let (code, _, stderr) = run(bin(d)
        .args(["train", "-q", "--epochs", "1", "--config"])
        .arg(repo_file("config.example.toml"))
        .arg(sample("train.csv")));
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = run(bin(d)
        .args(["train", "-q", "--epochs", "1", "-o", "plain.json"])
        .arg(sample("train.csv")));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        std::fs::read(d.join("model.json")).unwrap()
            == std::fs::read(d.join("plain.json")).unwrap()
    );
}

#[test]
fn help_shows_defaults() {
    let dir = temp_dir();
    let (code, stdout, _) = run(bin(dir.path()).args(["train", "--help"]));
    assert_eq!(code, 0);
    for fragment in [
        "[default: lstm]",
        "[default: 128]",
        "[default: 0.002]",
        "[default: model.json]",
        "--valid-split",
        "--patience",
    ] {
        assert!(stdout.contains(fragment), "train --help lacks {fragment}");
    }
    let (_, stdout, _) = run(bin(dir.path()).args(["predict", "--help"]));
    assert!(stdout.contains("--model") && stdout.contains("[default: model.json]"));
}

#[test]
fn bad_data_fails_cleanly_and_leaves_the_old_model_untouched() {
    let dir = temp_dir();
    let d = dir.path();
    let model = train_small(d, "rnn", "keep.json", &[]);
    let before = std::fs::read(&model).unwrap();
    let train_into = |data: &Path| {
        let mut cmd = bin(d);
        cmd.args(["train", "--quiet", "-o"]).arg(&model).arg(data);
        cmd
    };
    fails_with(
        &mut train_into(&d.join("missing.csv")),
        &["missing.csv", "cannot read"],
    );
    let cases: &[(&str, &[u8], &[&str])] = &[
        ("empty.csv", b"", &["empty.csv", "empty"]),
        (
            "header.csv",
            b"text,label\n",
            &["header.csv", "no data rows"],
        ),
        (
            "cols.csv",
            b"review,stars\nok,1\n",
            &["cols.csv", "\"review\"", "\"stars\"", "--text-column"],
        ),
        (
            // A label other than a binary word makes K classes (and trains); an empty one is
            // no class name.
            "label.csv",
            b"text,label\ngood,1\nbad,0\nmeh, \n",
            &["label.csv, line 4", "empty after trimming"],
        ),
        (
            "utf8.csv",
            b"text,label\ngood,1\nbad \xff\xfe,0\n",
            &["utf8.csv, line 3", "UTF-8"],
        ),
        (
            "fields.csv",
            b"text,label\ngood,1,extra\n",
            &["fields.csv, line 2", "fields"],
        ),
        (
            "oneclass.csv",
            b"text,label\ngood,1\ngreat,1\nfine,1\n",
            &["oneclass.csv", "both classes"],
        ),
    ];
    for (name, contents, fragments) in cases {
        let path = write(d, name, contents);
        fails_with(&mut train_into(&path), fragments);
        assert_eq!(
            std::fs::read(&model).unwrap(),
            before,
            "{name} changed the model"
        );
    }
    // Bad option values: named, and still nothing written.
    for (flag, value) in [
        ("--lr", "0"),
        ("--batch-size", "0"),
        ("--epochs", "0"),
        ("--max-len", "0"),
        ("--hidden-dim", "0"),
    ] {
        let mut cmd = train_into(&sample("train.csv"));
        cmd.args([flag, value]);
        fails_with(&mut cmd, &[flag.trim_start_matches('-')]);
        assert_eq!(std::fs::read(&model).unwrap(), before);
    }
    // Output problems are found before training.
    let (code, _, stderr) = run(bin(d)
        .args(["train", "--quiet", "-o"])
        .arg(d.join("no/such/dir/m.json"))
        .arg(sample("train.csv")));
    assert_eq!(code, 2);
    assert!(stderr.contains("no/such/dir"), "{stderr}");
    fails_with(
        bin(d)
            .args(["train", "--quiet", "-o"])
            .arg(d)
            .arg(sample("train.csv")),
        &["directory"],
    );
}

#[test]
fn bad_model_files_fail_cleanly() {
    let dir = temp_dir();
    let d = dir.path();
    let good = train_small(d, "lstm", "good.json", &[]);
    let bytes = std::fs::read(&good).unwrap();
    let truncated = write(d, "truncated.json", &bytes[..bytes.len() / 2]);
    let garbled = write(d, "garbled.json", b"{\"format\": rnn-sentiment}");
    let mut v: Value = serde_json::from_slice(&bytes).unwrap();
    v["config"]["hidden_dim"] = Value::from(17);
    let mismatched = write(d, "mismatched.json", v.to_string());
    for (path, fragment) in [
        (&truncated, "truncated"),
        (&garbled, "not valid JSON"),
        (&mismatched, "rnn.weight_ih_l0"),
        (&d.join("absent.json"), "cannot read model file"),
    ] {
        let name = path.file_name().unwrap().to_str().unwrap();
        fails_with(
            bin(d).args(["predict", "-m"]).arg(path).arg("hi"),
            &[name, fragment],
        );
        fails_with(
            bin(d)
                .args(["eval", "-m"])
                .arg(path)
                .arg(sample("test.csv")),
            &[name, fragment],
        );
        fails_with(bin(d).args(["tokenize", "-m"]).arg(path).arg("hi"), &[name]);
    }
    // Non-UTF-8 input on stdin names the line.
    fails_with(
        bin(d)
            .args(["predict", "-m"])
            .arg(&good)
            .write_stdin(&b"fine\nbad \xff\n"[..]),
        &["<stdin>", "line 2", "UTF-8"],
    );
    // A usage error is exit 2 too.
    fails_with(
        bin(d).args(["predict", "--no-such-flag"]),
        &["--no-such-flag"],
    );
}

/// A model file as JSON.
fn model_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// `predict --json`'s probabilities for `texts`.
fn probabilities(dir: &Path, model: &Path, texts: &[&str]) -> Vec<f64> {
    let (code, stdout, stderr) = run(bin(dir)
        .args(["predict", "--json", "-m"])
        .arg(model)
        .args(texts));
    assert_eq!(code, 0, "{stderr}");
    json_lines(&stdout)
        .iter()
        .map(|line| line["probability"].as_f64().unwrap())
        .collect()
}

const REVIEWS: [&str; 5] = [
    "a wonderful, moving film",
    "dull and far too long",
    "not bad at all",
    "I loved the acting but the plot was a mess",
    "",
];

/// `--layers`, `--bidirectional` and `--pooling` shape the weights as PyTorch names and sizes
/// them; the pooling the file records is the one inference uses; and a run with every
/// architecture and optimisation option at once is deterministic.
#[test]
fn architecture_options_shape_the_model_file() {
    let dir = temp_dir();
    let d = dir.path();
    // GRU (G = 3 gates), E = H = 16 (train_small), two bidirectional layers, last + max.
    let options = [
        "--layers",
        "2",
        "--bidirectional",
        "--pooling",
        "last-max",
        "--dropout",
        "0.3",
        "--embed-dropout",
        "0.1",
        "--weight-decay",
        "0.01",
        "--lr-schedule",
        "cosine",
        "--warmup",
        "0.1",
        "--pos-weight",
        "1.5",
    ];
    let a = train_small(d, "gru", "a.json", &options);
    let b = train_small(d, "gru", "b.json", &options);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let v = model_json(&a);
    let vocab = v["vocab"].as_array().unwrap().len();
    let shapes = |v: &Value| -> Vec<(String, Value)> {
        v["weights"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, w)| (name.clone(), w["shape"].clone()))
            .collect()
    };
    let mut want = vec![("embedding.weight".to_string(), json!([vocab, 16]))];
    for layer in 0..2 {
        // Layer 1 reads both directions of layer 0: 2H inputs.
        let inputs = if layer == 0 { 16 } else { 32 };
        for suffix in ["", "_reverse"] {
            want.extend([
                (
                    format!("rnn.weight_ih_l{layer}{suffix}"),
                    json!([48, inputs]),
                ),
                (format!("rnn.weight_hh_l{layer}{suffix}"), json!([48, 16])),
                (format!("rnn.bias_ih_l{layer}{suffix}"), json!([48])),
                (format!("rnn.bias_hh_l{layer}{suffix}"), json!([48])),
            ]);
        }
    }
    // The head reads the last state and the max of both directions: 4H.
    want.extend([
        ("fc.weight".to_string(), json!([1, 64])),
        ("fc.bias".to_string(), json!([1])),
    ]);
    let sorted = |mut v: Vec<(String, Value)>| {
        v.sort_by(|x, y| x.0.cmp(&y.0));
        v
    };
    assert_eq!(sorted(shapes(&v)), sorted(want));

    // One layer, one direction, the last state: a plain GRU's weights and a head on H.
    let single = train_small(
        d,
        "gru",
        "single.json",
        &["--layers", "1", "--no-bidirectional", "--pooling", "last"],
    );
    let want = vec![
        ("embedding.weight".to_string(), json!([vocab, 16])),
        ("rnn.weight_ih_l0".to_string(), json!([48, 16])),
        ("rnn.weight_hh_l0".to_string(), json!([48, 16])),
        ("rnn.bias_ih_l0".to_string(), json!([48])),
        ("rnn.bias_hh_l0".to_string(), json!([48])),
        ("fc.weight".to_string(), json!([1, 16])),
        ("fc.bias".to_string(), json!([1])),
    ];
    assert_eq!(sorted(shapes(&model_json(&single))), sorted(want));

    // Max, mean and last pooling feed the head vectors of the same size, so the weights of a
    // max-pooled model can be read with another pooling: the scores change, because the
    // pooling the file records is the one inference uses.
    let max = train_small(d, "gru", "max.json", &["--pooling", "max"]);
    let mut v = model_json(&max);
    assert_eq!(v["config"]["pooling"], "max");
    let scores = probabilities(d, &max, &REVIEWS);
    for other in ["mean", "last"] {
        v["config"]["pooling"] = json!(other);
        let edited = write(d, &format!("{other}.json"), v.to_string());
        assert_ne!(
            probabilities(d, &edited, &REVIEWS),
            scores,
            "the weights scored the same with {other} pooling as with max"
        );
    }
}

/// Dropout acts in training only: the rates change the trained weights, the rates a model file
/// records never change what inference prints, and `predict` gives an evaluation-mode forward
/// pass of the stored weights.
#[test]
fn dropout_acts_in_training_and_never_at_inference() {
    let dir = temp_dir();
    let d = dir.path();
    // Two layers: dropout on the embeddings, between the layers and before the head.
    let rates = |p: &'static str| ["--layers", "2", "--embed-dropout", p, "--dropout", p];
    let dropped = train_small(d, "lstm", "dropped.json", &rates("0.5"));
    let plain = train_small(d, "lstm", "plain.json", &rates("0"));
    let mut v = model_json(&dropped);
    assert!(
        v["weights"] != model_json(&plain)["weights"],
        "training with dropout 0.5 gave the weights of dropout 0"
    );

    // The same weights with the recorded rates set to 0 and to 0.9: every inference command
    // prints the same bytes.
    let options = &v["training"]["options"];
    assert_eq!(options["dropout"], 0.5);
    assert_eq!(options["embed_dropout"], 0.5);
    // Each file is `m.json` in its own directory, so that eval's output (which names the model)
    // can be compared too.
    let mut variants = Vec::new();
    for p in [0.0, 0.9] {
        v["training"]["options"]["dropout"] = json!(p);
        v["training"]["options"]["embed_dropout"] = json!(p);
        let variant = d.join(format!("rates-{p}"));
        std::fs::create_dir(&variant).unwrap();
        write(&variant, "m.json", v.to_string());
        variants.push(variant);
    }
    let original = d.join("original");
    std::fs::create_dir(&original).unwrap();
    std::fs::copy(&dropped, original.join("m.json")).unwrap();
    let succeed = |cmd: &mut assert_cmd::Command| -> String {
        let (code, stdout, stderr) = run(cmd);
        assert_eq!(code, 0, "{stderr}");
        stdout
    };
    let outputs = |dir: &Path| -> [String; 3] {
        [
            succeed(
                bin(dir)
                    .args(["predict", "--json", "-m", "m.json"])
                    .args(REVIEWS),
            ),
            succeed(
                bin(dir)
                    .args(["predict", "--explain", "--json", "-m", "m.json"])
                    .args(REVIEWS),
            ),
            succeed(
                bin(dir)
                    .args(["eval", "--json", "-m", "m.json"])
                    .arg(sample("test.csv")),
            ),
        ]
    };
    let want = outputs(&original);
    for variant in &variants {
        assert_eq!(outputs(variant), want, "{}", variant.display());
    }

    // And the probabilities are those of the stored weights in evaluation mode, computed here.
    let model = rnn_sentiment::model_file::load(&dropped).unwrap();
    for (line, text) in json_lines(&want[0]).iter().zip(REVIEWS) {
        let batch = Batch::from_sequences(&[model.encode(text)]);
        let (logits, _) = model.classifier.forward(&batch, Mode::Eval);
        assert_eq!(
            line["probability"].as_f64(),
            Some(sigmoid(f64::from(logits[(0, 0)]))),
            "{text:?}"
        );
    }
}

/// Each optimisation option changes what training does, in the direction it should. Every
/// option is checked against one base run (same seed, no dropout) and all failures are
/// reported together.
#[test]
fn optimisation_options_change_training() {
    let dir = temp_dir();
    let d = dir.path();
    let base_options = [
        ("--seed", "7"),
        ("--dropout", "0"),
        ("--embed-dropout", "0"),
    ];
    // The base run with `flag value` added or put in place of the base's value.
    let train = |name: &str, change: Option<(&str, &str)>| -> Value {
        let mut options = base_options.to_vec();
        if let Some((flag, value)) = change {
            options.retain(|&(f, _)| f != flag);
            options.push((flag, value));
        }
        let args: Vec<&str> = options.iter().flat_map(|&(f, v)| [f, v]).collect();
        model_json(&train_small(d, "gru", name, &args))
    };
    // Per-epoch learning rates as recorded, the L2 norm of the weight matrices and the mean
    // probability on the held-out texts.
    let lrs = |v: &Value| -> Vec<f64> {
        v["training"]["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["lr"].as_f64().unwrap())
            .collect()
    };
    let matrix_norm = |v: &Value| -> f64 {
        v["weights"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(name, _)| name.starts_with("rnn.weight") || *name == "fc.weight")
            .flat_map(|(_, w)| floats(&w["data"]))
            .map(|x| x * x)
            .sum::<f64>()
            .sqrt()
    };
    let texts: Vec<String> = csv::Reader::from_path(sample("test.csv"))
        .unwrap()
        .records()
        .map(|r| r.unwrap()[0].to_string())
        .collect();
    let mean_probability = |name: &str, v: &Value| -> f64 {
        let path = write(d, name, v.to_string());
        let model = rnn_sentiment::model_file::load(&path).unwrap();
        let p = model.probabilities(&texts);
        p.iter().sum::<f64>() / p.len() as f64
    };

    let base = train("base.json", None);
    let lr = lrs(&base)[0];
    assert!(lrs(&base).iter().all(|&x| x == lr), "constant by default");
    let mut failures = Vec::new();
    let mut expect = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };
    for (option, value) in [
        ("--lr-schedule", "cosine"),
        ("--warmup", "0.5"),
        ("--weight-decay", "5"),
        ("--pos-weight", "4"),
        ("--dropout", "0.5"),
        ("--embed-dropout", "0.5"),
    ] {
        let v = train(&format!("{}.json", &option[2..]), Some((option, value)));
        expect(
            v["weights"] != base["weights"],
            format!("{option} {value} trained the base run's weights"),
        );
        let (got, base_lrs) = (lrs(&v), lrs(&base));
        match option {
            // Cosine decay: each epoch ends at a lower rate, the last well below the base.
            "--lr-schedule" => expect(
                got.windows(2).all(|w| w[1] < w[0]) && got[2] < 0.5 * lr,
                format!("cosine schedule recorded {got:?} (base {base_lrs:?})"),
            ),
            // Warm-up over half the steps: the first epoch (a third of them) ends below lr.
            "--warmup" => expect(
                got[0] < lr && got[2] <= lr,
                format!("warm-up recorded {got:?} (base {base_lrs:?})"),
            ),
            // Decoupled decay shrinks the weight matrices: by (1 - 0.002 * 5) a step.
            "--weight-decay" => {
                let (with, without) = (matrix_norm(&v), matrix_norm(&base));
                expect(
                    with < 0.9 * without,
                    format!("weight decay 5: matrix norm {with} against {without} without"),
                );
            }
            // Positive rows weigh 4x in the loss: the model leans positive.
            "--pos-weight" => {
                let (with, without) = (
                    mean_probability("pos.json", &v),
                    mean_probability("base-copy.json", &base),
                );
                expect(
                    with > without,
                    format!("pos-weight 4: mean probability {with} against {without} without"),
                );
            }
            _ => {}
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");

    for (flag, value) in [
        ("--dropout", "1"),
        ("--layers", "0"),
        ("--warmup", "1.5"),
        ("--pos-weight", "0"),
    ] {
        fails_with(
            bin(d).args(["train", flag, value]).arg(sample("train.csv")),
            &[flag.trim_start_matches('-')],
        );
    }
}

#[test]
fn pretrained_vectors_initialise_and_can_freeze_the_embedding() {
    let dir = temp_dir();
    let d = dir.path();
    let vector = |seed: usize| -> Vec<String> {
        (0..16)
            .map(|i| format!("{:.3}", libm::sin((seed * 16 + i) as f64 * 0.37)))
            .collect()
    };
    let mut file = String::from("5 16\n");
    for (i, word) in ["great", "terrible", "movie", "Boring", "zzznotinvocab"]
        .iter()
        .enumerate()
    {
        file.push_str(&format!("{word} {}\n", vector(i).join(" ")));
    }
    let vectors = write(d, "vectors.vec", &file);
    let out = d.join("m.json");
    let (code, stdout, stderr) = run(bin(d)
        .args([
            "train",
            "--json",
            "--epochs",
            "2",
            "--embed-dim",
            "16",
            "--hidden-dim",
            "8",
        ])
        .args(["--freeze-embeddings", "--embeddings"])
        .arg(&vectors)
        .arg("-o")
        .arg(&out)
        .arg(sample("train.csv")));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("4 of") && stderr.contains("1 via lowercasing"),
        "{stderr}"
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["pretrained"]["matched"], 4);
    assert!(report["pretrained"]["token_coverage"].as_f64().unwrap() > 0.0);
    let model: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let vocab: Vec<&str> = model["vocab"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let table = model["weights"]["embedding.weight"]["data"]
        .as_array()
        .unwrap();
    for (i, word) in ["great", "terrible", "movie", "boring"].iter().enumerate() {
        let id = vocab
            .iter()
            .position(|t| t == word)
            .expect("word in the sample vocabulary");
        // The file stores f32 in shortest form: compare as f32.
        let row: Vec<f32> = table[id * 16..(id + 1) * 16]
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        let want: Vec<f32> = vector(i)
            .iter()
            .map(|x| x.parse::<f32>().unwrap())
            .collect();
        assert_eq!(row, want, "frozen row of {word}");
    }
    // A dimension that does not match --embed-dim is refused with the fix.
    fails_with(
        bin(d)
            .args(["train", "--embed-dim", "8", "--embeddings"])
            .arg(&vectors)
            .arg(sample("train.csv")),
        &["vectors.vec", "embed-dim"],
    );
}

#[test]
fn tuned_threshold_is_reported_stored_and_used() {
    let dir = temp_dir();
    let model = train_small(dir.path(), "lstm", "m.json", &[]);
    let eval_json = |extra: &[&str]| -> Value {
        let mut cmd = bin(dir.path());
        cmd.args(["eval", "--json", "-m"])
            .arg(&model)
            .arg(sample("test.csv"))
            .args(extra);
        let (code, stdout, stderr) = run(&mut cmd);
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_str(&stdout).unwrap()
    };
    let plain = eval_json(&[]);
    let tuned = eval_json(&["--tune-threshold", "accuracy", "--store"]);
    let t = tuned["threshold"].as_f64().unwrap();
    assert!(t > 0.0 && t < 1.0);
    assert!(tuned["accuracy"].as_f64() >= plain["accuracy"].as_f64());
    let stored: Value = serde_json::from_slice(&std::fs::read(&model).unwrap()).unwrap();
    assert_eq!(stored["config"]["threshold"].as_f64(), Some(t));
    let again = eval_json(&[]);
    assert_eq!(again["threshold"], tuned["threshold"]);
    assert_eq!(again["accuracy"], tuned["accuracy"]);
    let f1 = eval_json(&["--tune-threshold", "f1"]);
    assert!(f1["f1"].as_f64() >= plain["f1"].as_f64());
    fails_with(
        bin(dir.path())
            .args(["eval", "--store"])
            .arg(sample("test.csv")),
        &["--tune-threshold"],
    );
}

#[test]
fn thread_count_never_changes_the_model_file() {
    let dir = temp_dir();
    // Batch 48 = three 16-row shards, with dropout so every shard draws masks.
    let options = ["--batch-size", "48", "--dropout", "0.2", "--layers", "2"];
    // The model file of a training with `extra` options on `threads` threads.
    let model_bytes = |name: &str, extra: &[&str], threads: &str| {
        let args = [&options[..], extra, &["--threads", threads]].concat();
        std::fs::read(train_small(dir.path(), "lstm", name, &args)).unwrap()
    };
    let bytes = model_bytes("t1.json", &[], "1");
    assert!(
        bytes == model_bytes("t2.json", &[], "2"),
        "1 vs 2 threads differ"
    );
    assert!(
        bytes == model_bytes("t3.json", &[], "3"),
        "1 vs 3 threads differ"
    );
    // Dense embedding updates take another path (gradient tables summed whole): the same
    // holds there, and its models differ from the sparse ones (every row moves each step).
    let dense = ["--dense-embedding-updates"];
    let dense_bytes = model_bytes("d1.json", &dense, "1");
    assert!(
        dense_bytes == model_bytes("d3.json", &dense, "3"),
        "dense updates: 1 vs 3 threads differ"
    );
    let weights = |bytes: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(bytes).unwrap()["weights"].take()
    };
    assert_ne!(
        weights(&dense_bytes),
        weights(&bytes),
        "dense and sparse updates agree"
    );
}

#[test]
fn divergence_stops_with_advice_and_saves_nothing() {
    let dir = temp_dir();
    let out = dir.path().join("m.json");
    let stderr = fails_with(
        bin(dir.path())
            .args(["train", "--quiet", "--lr", "1e30", "--clip-norm", "0", "-o"])
            .arg(&out)
            .arg(sample("train.csv")),
        &["diverged", "--lr", "--clip-norm"],
    );
    assert!(stderr.contains("NaN") || stderr.contains("inf"), "{stderr}");
    assert!(!out.exists(), "a diverged run wrote a model");
}
