//! K named classes through the real binary: how `train` reads labels into classes (order,
//! `--classes`, `--class-weight`, counts and warnings), thread-count independence of the
//! model file, and eval / predict / inspect of a K-class model.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

fn model_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn classes_of(path: &Path) -> Vec<String> {
    serde_json::from_value(model_json(path)["config"]["classes"].clone()).unwrap()
}

/// The three-class sample written into `dir`.
fn three_class(dir: &Path) -> PathBuf {
    write(dir, "three.csv", three_class_csv(300, 1))
}

#[test]
fn classes_are_sorted_by_name_and_train_shows_their_counts() {
    let dir = temp_dir();
    let d = dir.path();
    let data = three_class(d);
    let (code, _, stderr) = run(bin(d)
        .args([
            "train",
            "--epochs",
            "1",
            "--embed-dim",
            "8",
            "--hidden-dim",
            "8",
        ])
        .arg(&data));
    assert_eq!(code, 0, "{stderr}");
    let model = d.join("model.json");
    assert_eq!(classes_of(&model), ["neg", "neutral", "pos"]);
    // Counts of the training rows (after the 10% validation split), in class order.
    let line = stderr
        .lines()
        .find(|l| l.starts_with("classes (3): "))
        .unwrap_or_else(|| panic!("no class counts: {stderr}"));
    let counts: Vec<usize> = line["classes (3): ".len()..]
        .split(", ")
        .map(|c| c.split(' ').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), 270, "{line}");
    assert!(line.contains("neg ") && line.contains("%)"), "{line}");
    assert!(!stderr.contains("% positive"), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn integer_labels_are_in_numeric_order_and_classes_fix_any_order() {
    let dir = temp_dir();
    let d = dir.path();
    let text = three_class_csv(200, 2)
        .replace(",neg\n", ",10\n")
        .replace(",neutral\n", ",9\n")
        .replace(",pos\n", ",1\n");
    let stars = write(d, "stars.csv", text);
    let fast = ["--epochs", "1", "--embed-dim", "4", "--hidden-dim", "4"];
    let model = train_classes(d, &stars, "stars.json", &fast);
    assert_eq!(classes_of(&model), ["1", "9", "10"]);
    let model = train_classes(
        d,
        &stars,
        "fixed.json",
        &[&fast[..], &["--classes", "10, 1,9"]].concat(),
    );
    assert_eq!(classes_of(&model), ["10", "1", "9"]);
    // --classes makes binary-word labels K classes; without it they stay binary.
    let binary = sample("train.csv");
    let model = train_classes(
        d,
        &binary,
        "forced.json",
        &[&fast[..], &["--classes", "1,0"]].concat(),
    );
    assert_eq!(classes_of(&model), ["1", "0"]);
    let model = train_classes(d, &binary, "binary.json", &fast);
    assert!(model_json(&model)["config"].get("classes").is_none());
}

#[test]
fn a_rare_class_is_warned_about() {
    let dir = temp_dir();
    let d = dir.path();
    let mut text = three_class_csv(400, 3);
    text.push_str("a strange film,odd\n");
    let data = write(d, "rare.csv", text);
    let (code, _, stderr) = run(bin(d)
        .args([
            "train",
            "--epochs",
            "1",
            "--embed-dim",
            "4",
            "--hidden-dim",
            "4",
        ])
        .args(["--valid-split", "0", "-o"])
        .arg(d.join("rare.json"))
        .arg(&data));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(
            "warning: a class has fewer than 1% of the 401 training rows each: \"odd\" (1 rows)"
        ),
        "{stderr}"
    );
    assert_eq!(
        classes_of(&d.join("rare.json")),
        ["neg", "neutral", "odd", "pos"]
    );
}

#[test]
fn class_weights_are_recorded_in_class_order() {
    let dir = temp_dir();
    let d = dir.path();
    let data = three_class(d);
    let model = train_classes(
        d,
        &data,
        "w.json",
        &["--epochs", "1", "--class-weight", "pos=0.5,neg=2"],
    );
    let options = &model_json(&model)["training"]["options"];
    assert_eq!(options["class_weights"], serde_json::json!([2.0, 1.0, 0.5]));
    let unweighted = train_classes(d, &data, "u.json", &["--epochs", "1"]);
    assert_ne!(
        std::fs::read(model).unwrap(),
        std::fs::read(unweighted).unwrap()
    );
}

#[test]
fn a_k_class_model_file_is_the_same_for_any_thread_count() {
    let dir = temp_dir();
    let d = dir.path();
    let data = three_class(d);
    let args = [
        "--cell",
        "gru",
        "--layers",
        "2",
        "--batch-size",
        "16",
        "--class-weight",
        "neutral=2",
    ];
    let one = train_classes(
        d,
        &data,
        "t1.json",
        &[&args[..], &["--threads", "1"]].concat(),
    );
    let two = train_classes(
        d,
        &data,
        "t2.json",
        &[&args[..], &["--threads", "2"]].concat(),
    );
    let (one, two) = (std::fs::read(one).unwrap(), std::fs::read(two).unwrap());
    assert!(
        one == two,
        "the model files differ between --threads 1 and 2"
    );
}

/// A K-class model trained on the three-class sample in `dir`, and the sample.
fn trained(dir: &Path) -> (PathBuf, PathBuf) {
    let data = three_class(dir);
    let model = train_classes(dir, &data, "k.json", &["--epochs", "6"]);
    (model, data)
}

fn json_of(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn eval_reports_every_class_and_gates_on_accuracy_and_macro_f1() {
    let dir = temp_dir();
    let d = dir.path();
    let (model, data) = trained(d);
    let (code, stdout, stderr) = run(bin(d).args(["eval", "--json", "-m"]).arg(&model).arg(&data));
    assert_eq!(code, 0, "{stderr}");
    let m = json_of(&stdout);
    assert_eq!(m["classes"], serde_json::json!(["neg", "neutral", "pos"]));
    assert_eq!(m["count"], 300);
    let confusion: Vec<Vec<u64>> = serde_json::from_value(m["confusion"].clone()).unwrap();
    let total: u64 = confusion.iter().flatten().sum();
    let correct: u64 = (0..3).map(|k| confusion[k][k]).sum();
    assert_eq!(total, 300);
    let accuracy = m["accuracy"].as_f64().unwrap();
    assert_eq!(accuracy, correct as f64 / 300.0);
    assert!(accuracy > 0.8, "the sample is easy: {accuracy}");
    let per_class = m["per_class"].as_array().unwrap();
    let f1: Vec<f64> = per_class
        .iter()
        .map(|c| c["f1"].as_f64().unwrap())
        .collect();
    assert_eq!(per_class[1]["class"], "neutral");
    for (k, c) in per_class.iter().enumerate() {
        assert_eq!(
            c["support"].as_u64().unwrap(),
            confusion[k].iter().sum::<u64>()
        );
        let predicted: u64 = confusion.iter().map(|row| row[k]).sum();
        assert_eq!(
            c["precision"].as_f64().unwrap(),
            confusion[k][k] as f64 / predicted as f64
        );
    }
    let macro_f1 = m["macro_f1"].as_f64().unwrap();
    assert!((macro_f1 - f1.iter().sum::<f64>() / 3.0).abs() < 1e-12);
    assert!(m["weighted_f1"].as_f64().unwrap() > 0.0 && m["log_loss"].as_f64().unwrap() > 0.0);

    // The text report names every class in the table and the confusion matrix.
    let (code, text, _) = run(bin(d).args(["eval", "-m"]).arg(&model).arg(&data));
    assert_eq!(code, 0);
    assert!(
        text.contains("classes      3 (neg, neutral, pos)"),
        "{text}"
    );
    assert!(
        text.contains(&format!("macro_f1     {macro_f1:.4}")),
        "{text}"
    );
    let matrix = text
        .split("confusion (rows: actual, columns: predicted)\n")
        .nth(1)
        .unwrap();
    let lines: Vec<&str> = matrix.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["neg", "neutral", "pos"]
    );
    let first: Vec<String> = confusion[0].iter().map(u64::to_string).collect();
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>()[1..],
        first[..]
    );

    // Gates: at the value passes, just above fails with exit 1.
    for (gate, value) in [("--min-accuracy", accuracy), ("--min-macro-f1", macro_f1)] {
        let ok = run(bin(d)
            .args(["eval", gate, &value.to_string(), "-m"])
            .arg(&model)
            .arg(&data));
        assert_eq!(ok.0, 0, "{gate} {value}: {}", ok.2);
        let above = (value + 1e-6).min(1.0);
        if above > value {
            let (code, stdout, stderr) = run(bin(d)
                .args(["eval", "--json", gate, &above.to_string(), "-m"])
                .arg(&model)
                .arg(&data));
            assert_eq!(code, 1, "{gate} {above}: {stderr}");
            assert!(stderr.contains("quality gate failed"), "{stderr}");
            assert_eq!(json_of(&stdout)["passed"], false);
        }
    }
}

#[test]
fn predict_prints_the_best_class_its_probability_and_the_top_k() {
    let dir = temp_dir();
    let d = dir.path();
    let (model, _) = trained(d);
    let texts = "a great film\nthe plot was awful\n\nit was okay\n";
    let (code, stdout, stderr) = run(bin(d)
        .args(["predict", "--json", "-m"])
        .arg(&model)
        .write_stdin(texts));
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<Value> = stdout.lines().map(json_of).collect();
    assert_eq!(lines.len(), 4, "one line per input line");
    let labels: Vec<&str> = lines.iter().map(|l| l["label"].as_str().unwrap()).collect();
    assert_eq!([labels[0], labels[1], labels[3]], ["pos", "neg", "neutral"]);
    for line in &lines {
        let p = line["probabilities"].as_object().unwrap();
        // In class order, not sorted by the JSON map.
        let order: Vec<&String> = p.keys().collect();
        assert_eq!(order, ["neg", "neutral", "pos"]);
        let sum: f64 = p.values().map(|v| v.as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-9);
        let best = p.values().map(|v| v.as_f64().unwrap()).fold(0.0, f64::max);
        assert_eq!(line["probability"].as_f64().unwrap(), best);
        assert_eq!(p[line["label"].as_str().unwrap()].as_f64().unwrap(), best);
    }
    // Plain: label<TAB>probability, the same numbers.
    let (_, plain, _) = run(bin(d)
        .args(["predict", "-m"])
        .arg(&model)
        .write_stdin(texts));
    for (line, json) in plain.lines().zip(&lines) {
        let expected = format!(
            "{}\t{:.6}",
            json["label"].as_str().unwrap(),
            json["probability"].as_f64().unwrap()
        );
        assert_eq!(line, expected);
    }
    // --top-k 2: two label/probability pairs, best first.
    let (_, top, _) = run(bin(d)
        .args(["predict", "--top-k", "2", "-m"])
        .arg(&model)
        .write_stdin(texts));
    for (line, json) in top.lines().zip(&lines) {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 4, "{line}");
        assert_eq!(fields[0], json["label"].as_str().unwrap());
        let (p1, p2): (f64, f64) = (fields[1].parse().unwrap(), fields[3].parse().unwrap());
        assert!(p1 >= p2 && fields[2] != fields[0], "{line}");
    }
    let (_, all, _) = run(bin(d)
        .args(["predict", "--json", "--top-k", "9", "-m"])
        .arg(&model)
        .arg("a great film"));
    assert_eq!(
        json_of(&all)["top"].as_array().unwrap().len(),
        3,
        "N is capped at K"
    );
}

#[test]
fn explain_attributes_the_predicted_class_or_the_one_asked_for() {
    let dir = temp_dir();
    let d = dir.path();
    let (model, _) = trained(d);
    let probabilities = |text: &str| -> Value {
        let (_, out, _) = run(bin(d)
            .args(["predict", "--json", "-m"])
            .arg(&model)
            .arg(text));
        json_of(&out)["probabilities"].clone()
    };
    let explain = |extra: &[&str]| -> Value {
        let (code, out, err) = run(bin(d)
            .args(["predict", "--json", "--explain", "-m"])
            .arg(&model)
            .args(extra)
            .arg("great film okay"));
        assert_eq!(code, 0, "{err}");
        json_of(&out)
    };
    let e = explain(&[]);
    assert_eq!(e["explained_class"], e["label"]);
    let asked = explain(&["--explain-class", "neg"]);
    assert_eq!(asked["explained_class"], "neg");
    assert_eq!(asked["label"], e["label"]);
    // attribution of "film" = p(class | text) - p(class | text without "film").
    let without = probabilities("great okay");
    let whole = probabilities("great film okay");
    for (line, class) in [(&e, e["label"].as_str().unwrap()), (&asked, "neg")] {
        let tokens: Vec<&str> = line["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(tokens, ["great", "film", "okay"]);
        let expected = whole[class].as_f64().unwrap() - without[class].as_f64().unwrap();
        let film = line["attributions"][1].as_f64().unwrap();
        assert!((film - expected).abs() < 1e-12, "{film} vs {expected}");
        assert_eq!(line["explained_probability"], whole[class]);
    }
    // Plain: the predicted label and its probability, then the tokens.
    let (_, plain, _) = run(bin(d)
        .args(["predict", "--explain", "-m"])
        .arg(&model)
        .arg("great film okay"));
    let fields: Vec<&str> = plain.trim_end().split('\t').collect();
    assert_eq!(fields[0], e["label"].as_str().unwrap());
    assert!(
        fields[2].starts_with("great[") && fields[2].contains(" film["),
        "{plain}"
    );
}

#[test]
fn inspect_shows_the_classes_and_their_shares() {
    let dir = temp_dir();
    let d = dir.path();
    let data = three_class(d);
    let model = train_classes(d, &data, "k.json", &["--epochs", "1", "--valid-split", "0"]);
    let sample = three_class_csv(300, 1);
    let labels: Vec<&str> = sample
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap())
        .collect();
    let count = |c: &str| labels.iter().filter(|&&l| l == c).count();
    let (code, text, _) = run(bin(d).args(["inspect", "-m"]).arg(&model));
    assert_eq!(code, 0);
    let expected = format!(
        "classes        3: neg ({}, {:.1}%), neutral ({}, {:.1}%), pos ({}, {:.1}%)",
        count("neg"),
        100.0 * count("neg") as f64 / 300.0,
        count("neutral"),
        100.0 * count("neutral") as f64 / 300.0,
        count("pos"),
        100.0 * count("pos") as f64 / 300.0
    );
    assert!(text.contains(&expected), "{expected}\n{text}");
    assert!(
        !text.contains("positive") && !text.contains("threshold"),
        "{text}"
    );
    let (_, json, _) = run(bin(d).args(["inspect", "--json", "-m"]).arg(&model));
    let classes = json_of(&json)["classes"].clone();
    assert_eq!(classes[2]["name"], "pos");
    assert_eq!(classes[2]["train_rows"], count("pos"));
    // A binary model has no classes entry and keeps its positive share.
    let binary = train_small(d, "gru", "b.json", &[]);
    let (_, text, _) = run(bin(d).args(["inspect", "-m"]).arg(&binary));
    assert!(
        text.contains("% positive)") && !text.contains("classes "),
        "{text}"
    );
    let (_, json, _) = run(bin(d).args(["inspect", "--json", "-m"]).arg(&binary));
    assert!(json_of(&json).get("classes").is_none());
}

#[test]
fn train_report_and_json_of_a_k_class_run_speak_of_classes() {
    let dir = temp_dir();
    let d = dir.path();
    let data = three_class(d);
    let (code, stdout, stderr) = run(bin(d)
        .args([
            "train",
            "--json",
            "--epochs",
            "2",
            "--embed-dim",
            "8",
            "--hidden-dim",
            "8",
        ])
        .args(["--report", "rep", "-o", "k.json"])
        .arg(&data));
    assert_eq!(code, 0, "{stderr}");
    let summary = json_of(stdout.lines().last().unwrap());
    let classes = summary["classes"].as_array().unwrap();
    let names: Vec<&str> = classes
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["neg", "neutral", "pos"]);
    let rows: u64 = classes
        .iter()
        .map(|c| c["train_rows"].as_u64().unwrap())
        .sum();
    assert_eq!(rows, summary["train_rows"].as_u64().unwrap());
    let html = std::fs::read_to_string(d.join("rep/report.html")).unwrap();
    assert!(
        html.contains("validation macro F1"),
        "no K-class metrics in the report"
    );
    assert!(
        !html.contains("% positive") && html.contains("neutral "),
        "class shares, not a positive rate"
    );
    // The saved model's metrics per class, on the validation rows.
    let table = html
        .split("<section id=\"classes\">")
        .nth(1)
        .expect("a per-class section")
        .split("</section>")
        .next()
        .unwrap();
    for class in ["neg", "neutral", "pos"] {
        assert!(table.contains(&format!("<tr><td>{class}</td>")), "{class}");
    }
    assert!(table.contains("<th>ROC AUC</th>"));
}

/// `--classes` and `--class-weight` are options of the run: an interrupted K-class run resumes
/// from its checkpoint alone to the uninterrupted run's model file, and a different `--classes`
/// given again is refused by name.
#[cfg(unix)]
#[test]
fn an_interrupted_k_class_run_resumes_with_its_classes() {
    let dir = temp_dir();
    let d = dir.path();
    let data = write(d, "big.csv", three_class_csv(8000, 4));
    let options = [
        "--epochs",
        "3",
        "--patience",
        "0",
        "--hidden-dim",
        "32",
        "--classes",
        "pos,neutral,neg",
        "--class-weight",
        "neutral=2",
    ];
    let reference = d.join("reference.json");
    let (code, _, stderr) = run(bin(d)
        .args(["train", "-q"])
        .args(options)
        .arg("-o")
        .arg(&reference)
        .arg(&data));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(classes_of(&reference), ["pos", "neutral", "neg"]);
    let out = d.join("m.json");
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
    let ckpt = d.join("m.json.ckpt");
    fails_with(
        bin(d)
            .args(["train", "--classes", "neg,neutral,pos", "--resume"])
            .arg(&ckpt),
        &["classes"],
    );
    let (code, _, stderr) = run(bin(d).args(["train", "-q", "--resume"]).arg(&ckpt));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        std::fs::read(&out).unwrap() == std::fs::read(&reference).unwrap(),
        "the resumed K-class model differs"
    );
}
