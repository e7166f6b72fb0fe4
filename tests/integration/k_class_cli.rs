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
