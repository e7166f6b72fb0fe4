//! `train --report` and `eval --report` through the real binary: the page is well-formed (it
//! parses as XML), self-contained (no scripts, nothing to fetch), holds its charts, and its
//! numbers agree with what the same commands print as JSON.

use std::path::Path;

use roxmltree::{Document, Node, ParsingOptions};
use serde_json::Value;

use crate::common::*;

/// Parses a report page; panics with the parser's position if it is not well-formed.
fn parse(html: &str) -> Document<'_> {
    let options = ParsingOptions {
        allow_dtd: true,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(html, options).unwrap_or_else(|e| panic!("malformed page: {e}"))
}

fn elements<'a, 'i>(doc: &'a Document<'i>, name: &'a str) -> impl Iterator<Item = Node<'a, 'i>> {
    doc.descendants()
        .filter(move |n| n.is_element() && n.tag_name().name() == name)
}

/// The page loads nothing and runs nothing: no scripts, frames or external references.
fn assert_self_contained(doc: &Document<'_>) {
    for node in doc.descendants().filter(Node::is_element) {
        let tag = node.tag_name().name();
        assert!(
            !matches!(
                tag,
                "script" | "iframe" | "link" | "img" | "object" | "embed"
            ),
            "<{tag}> in a self-contained report"
        );
        for attribute in node.attributes() {
            let name = attribute.name();
            assert!(!name.starts_with("on"), "event handler {name} on <{tag}>");
            if matches!(name, "src" | "href") {
                assert!(
                    attribute.value().starts_with('#'),
                    "<{tag} {name}={}> fetches something",
                    attribute.value()
                );
            }
        }
    }
}

/// The text of every SVG `<text>` element (chart titles, axis labels, legends), trimmed.
fn chart_texts(doc: &Document<'_>) -> Vec<String> {
    elements(doc, "text")
        .map(|n| n.text().unwrap_or_default().trim().to_string())
        .collect()
}

fn section_ids(doc: &Document<'_>) -> Vec<String> {
    elements(doc, "section")
        .filter_map(|n| n.attribute("id").map(str::to_string))
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn train_report_holds_the_run_and_agrees_with_the_json() {
    let dir = temp_dir();
    let (code, stdout, stderr) = run(bin(dir.path())
        .args([
            "train",
            "--json",
            "--cell",
            "gru",
            "--epochs",
            "3",
            "--patience",
            "0",
        ])
        .args(["--embed-dim", "16", "--hidden-dim", "16", "-o", "m.json"])
        .args(["--report", "out/run"])
        .arg(sample("train.csv")));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("report written to out/run/report.html"),
        "{stderr}"
    );
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["report"], "out/run/report.html");

    let html = read(&dir.path().join("out/run/report.html"));
    let doc = parse(&html);
    assert_self_contained(&doc);
    assert_eq!(
        section_ids(&doc),
        ["summary", "curves", "data", "config", "history"]
    );
    // Loss, accuracy, learning rate, throughput and the length histogram.
    assert_eq!(elements(&doc, "svg").count(), 5);
    let texts = chart_texts(&doc);
    for title in [
        "Loss",
        "Accuracy",
        "Learning rate",
        "Throughput",
        "Training text lengths",
    ] {
        assert!(texts.iter().any(|t| t == title), "no chart {title:?}");
    }
    // Three epochs: three markers on each of the 2 + 2 + 1 + 1 epoch series.
    assert_eq!(elements(&doc, "circle").count(), 3 * 6);

    // history.csv: a header and one row per epoch, with the numbers the JSON reports.
    let mut reader = csv::Reader::from_path(dir.path().join("out/run/history.csv")).unwrap();
    assert_eq!(
        reader.headers().unwrap(),
        vec![
            "epoch",
            "train_loss",
            "train_accuracy",
            "valid_loss",
            "valid_accuracy",
            "lr",
            "tokens",
            "seconds",
            "tokens_per_s"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let history = json["history"].as_array().unwrap();
    assert_eq!(rows.len(), history.len());
    assert_eq!(history.len(), 3);
    for (row, record) in rows.iter().zip(history) {
        assert_eq!(row[0], record["epoch"].to_string());
        let loss: f64 = row[1].parse().unwrap();
        assert_eq!(loss, record["train_loss"].as_f64().unwrap());
        let valid_accuracy: f64 = row[4].parse().unwrap();
        assert_eq!(valid_accuracy, record["valid_accuracy"].as_f64().unwrap());
        let tokens_per_s: f64 = row[8].parse().unwrap();
        assert!(tokens_per_s > 0.0, "{row:?}");
    }
    // The page shows the data the run saw: 480 rows, 10% held out.
    assert!(html.contains("432 (50.0% positive)"), "training rows");
    assert!(html.contains("48 (50.0% positive)"), "validation rows");
    assert!(html.contains(&format!(
        "{} run, best {} kept",
        json["epochs_run"], json["best_epoch"]
    )));
}

#[test]
fn the_config_file_can_ask_for_the_report() {
    let dir = temp_dir();
    let config = write(
        dir.path(),
        "run.toml",
        "epochs = 1\nreport = \"from-config\"\n",
    );
    bin(dir.path())
        .args(["train", "--quiet", "--embed-dim", "8", "--hidden-dim", "8"])
        .args(["-o", "m.json", "--config"])
        .arg(&config)
        .arg(sample("train.csv"))
        .assert()
        .success();
    let doc_text = read(&dir.path().join("from-config/report.html"));
    parse(&doc_text);
    // --report on the command line wins over the file.
    bin(dir.path())
        .args(["train", "--quiet", "--embed-dim", "8", "--hidden-dim", "8"])
        .args(["-o", "m.json", "--report", "from-cli", "--config"])
        .arg(&config)
        .arg(sample("train.csv"))
        .assert()
        .success();
    assert!(dir.path().join("from-cli/history.csv").is_file());
}

#[test]
fn a_report_path_that_is_a_file_fails_before_training() {
    let dir = temp_dir();
    write(dir.path(), "taken", "not a directory");
    fails_with(
        bin(dir.path())
            .args(["train", "-o", "m.json", "--report", "taken"])
            .arg(sample("train.csv")),
        &["taken", "is a file, not a directory"],
    );
    assert!(!dir.path().join("m.json").exists(), "trained anyway");
}

#[test]
fn eval_report_holds_curves_confusion_and_mistakes() {
    let dir = temp_dir();
    let model = train_small(dir.path(), "lstm", "m.json", &[]);
    // Hostile text must come out escaped, and the page must still parse.
    let mut data = read(&sample("test.csv"));
    data.push_str("\"<script>alert('x')</script> & <b>bold</b> \"\"quoted\"\"\",1\n");
    data.push_str("\"<script>alert('y')</script> & more\",0\n");
    // Texts that mistakes.csv must quote (line breaks, LF and CRLF, commas and quotes), each
    // with both labels: the same text scores the same, so one of the two is a mistake.
    let awkward = ["two\nlines, \"quoted\"", "crlf\r\ninside"];
    for text in awkward {
        for label in [1, 0] {
            data.push_str(&format!("\"{}\",{label}\n", text.replace('"', "\"\"")));
        }
    }
    let data_text = data;
    let data = write(dir.path(), "hostile.csv", &data_text);

    let (code, stdout, stderr) = run(bin(dir.path())
        .args(["eval", "--json", "--report", "ev", "--mistakes", "5", "-m"])
        .arg(&model)
        .arg(&data));
    assert_eq!(code, 0, "{stderr}");
    let metrics: Value = serde_json::from_str(&stdout).unwrap();
    let html = read(&dir.path().join("ev/report.html"));
    let doc = parse(&html);
    assert_self_contained(&doc);
    assert!(!html.contains("<script>alert"), "unescaped text");
    assert_eq!(
        section_ids(&doc),
        ["summary", "curves", "confusion", "mistakes"]
    );
    // ROC, precision-recall, calibration and the score distribution.
    assert_eq!(elements(&doc, "svg").count(), 4);
    let texts = chart_texts(&doc);
    let auc = metrics["roc_auc"].as_f64().unwrap();
    assert!(
        texts.contains(&format!("ROC curve (AUC {auc:.4})")),
        "{texts:?}"
    );
    for prefix in ["Precision-recall (AP ", "Calibration (ECE "] {
        assert!(texts.iter().any(|t| t.starts_with(prefix)), "no {prefix}");
    }

    // The confusion matrix shows the counts the JSON reports.
    let c = &metrics["confusion"];
    let count = |k: &str| c[k].as_u64().unwrap();
    let cells: Vec<String> = elements(&doc, "table")
        .find(|t| t.attribute("class") == Some("cm"))
        .expect("confusion table")
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "td")
        .map(|n| n.text().unwrap_or_default().to_string())
        .collect();
    let leading: Vec<u64> = cells
        .iter()
        .map(|t| t.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        leading,
        [
            count("true_negative"),
            count("false_positive"),
            count("false_negative"),
            count("true_positive")
        ]
    );

    // mistakes.csv lists every error, most confident first; the page shows the first 5.
    let errors = count("false_positive") + count("false_negative");
    let mut reader = csv::Reader::from_path(dir.path().join("ev/mistakes.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len() as u64, errors);
    let margin = |r: &csv::StringRecord| (r[2].parse::<f64>().unwrap() - 0.5).abs();
    assert!(rows.windows(2).all(|w| margin(&w[0]) >= margin(&w[1])));
    // Every field reads back as the input had it: the text and label of that line.
    let mut input = csv::Reader::from_reader(data_text.as_bytes());
    let by_line: std::collections::HashMap<u64, (String, String)> = input
        .records()
        .map(|r| {
            let r = r.unwrap();
            let line = r.position().unwrap().line();
            (line, (r[0].to_string(), r[1].to_string()))
        })
        .collect();
    for r in &rows {
        let p: f64 = r[2].parse().unwrap();
        assert_eq!(r[1] == *"1", p < 0.5, "row {:?} is not a mistake", r);
        let line: u64 = r[0].parse().unwrap();
        let (text, label) = &by_line[&line];
        assert_eq!(
            (&r[3], &r[1]),
            (text.as_str(), label.as_str()),
            "line {line}"
        );
    }
    for text in awkward {
        assert_eq!(rows.iter().filter(|r| &r[3] == text).count(), 1, "{text:?}");
    }
    let table = elements(&doc, "section")
        .find(|s| s.attribute("id") == Some("mistakes"))
        .unwrap();
    let shown = table
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "tr")
        .count()
        - 1;
    assert_eq!(shown as u64, errors.min(5));
}

/// One-vs-rest ROC AUC by its definition: the share of (row of the class, row of another class)
/// pairs the class's probability orders right, ties counting half.
fn pairwise_auc(scores: &[f64], is_class: &[bool]) -> f64 {
    let (mut right, mut pairs) = (0.0, 0.0);
    for (p, _) in scores.iter().zip(is_class).filter(|(_, &y)| y) {
        for (n, _) in scores.iter().zip(is_class).filter(|(_, &y)| !y) {
            pairs += 1.0;
            right += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    right / pairs
}

/// The cells of a table row, as text.
fn cell_texts(row: Node<'_, '_>) -> Vec<String> {
    row.children()
        .filter(|n| n.is_element() && n.tag_name().name() == "td")
        .map(|n| n.text().unwrap_or_default().to_string())
        .collect()
}

fn section<'a, 'i>(doc: &'a Document<'i>, id: &str) -> Node<'a, 'i> {
    elements(doc, "section")
        .find(|s| s.attribute("id") == Some(id))
        .unwrap_or_else(|| panic!("no section {id}"))
}

fn rows_of<'a, 'i>(node: Node<'a, 'i>) -> Vec<Node<'a, 'i>> {
    node.descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "tr")
        .collect()
}

#[test]
fn eval_report_of_a_k_class_model_shows_every_class() {
    let dir = temp_dir();
    let d = dir.path();
    let mut data_text = three_class_csv(240, 7);
    // The same text under each class: two of the three rows are mistakes. And hostile text.
    for label in ["neg", "neutral", "pos"] {
        data_text.push_str(&format!("the film was great and awful,{label}\n"));
    }
    data_text.push_str("\"<script>alert('x')</script> & <b>fine</b>\",neutral\n");
    let data = write(d, "three.csv", &data_text);
    let model = train_classes(d, &data, "k.json", &["--epochs", "3"]);
    let (code, stdout, stderr) = run(bin(d)
        .args(["eval", "--json", "--report", "ev", "--mistakes", "4", "-m"])
        .arg(&model)
        .arg(&data));
    assert_eq!(code, 0, "{stderr}");
    let metrics: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(metrics["report"], "ev/report.html");
    let html = read(&d.join("ev/report.html"));
    assert!(!html.contains("<script>alert"), "unescaped text");
    let doc = parse(&html);
    assert_self_contained(&doc);
    assert_eq!(
        section_ids(&doc),
        ["summary", "classes", "confusion", "curves", "mistakes"]
    );
    // ROC and precision-recall (a curve per class), and the top-class calibration.
    assert_eq!(elements(&doc, "svg").count(), 3);
    let classes = ["neg", "neutral", "pos"];

    // Each class's AUC, in the table and the legend, is that of its probabilities as `predict`
    // prints them.
    let texts: Vec<String> = csv::Reader::from_reader(data_text.as_bytes())
        .records()
        .map(|r| r.unwrap()[0].to_string())
        .collect();
    let labels: Vec<String> = csv::Reader::from_reader(data_text.as_bytes())
        .records()
        .map(|r| r.unwrap()[1].to_string())
        .collect();
    let (code, predicted, stderr) = run(bin(d)
        .args(["predict", "--json", "-m"])
        .arg(&model)
        .write_stdin(texts.join("\n")));
    assert_eq!(code, 0, "{stderr}");
    let probabilities: Vec<Value> = predicted
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["probabilities"].clone())
        .collect();
    assert_eq!(probabilities.len(), texts.len());
    let table_rows = rows_of(section(&doc, "classes"));
    let legend = chart_texts(&doc);
    for (k, class) in classes.iter().enumerate() {
        let scores: Vec<f64> = probabilities
            .iter()
            .map(|p| p[class].as_f64().unwrap())
            .collect();
        let is_class: Vec<bool> = labels.iter().map(|l| l == class).collect();
        let auc = pairwise_auc(&scores, &is_class);
        let cells = cell_texts(table_rows[k + 1]);
        assert_eq!(cells[0], *class);
        assert_eq!(cells[6], format!("{auc:.4}"), "{class}");
        assert!(
            legend.contains(&format!("{class} ({auc:.3})")),
            "{legend:?}"
        );
        let f1 = metrics["per_class"][k]["f1"].as_f64().unwrap();
        assert_eq!(cells[4], format!("{f1:.4}"));
    }

    // The heat map holds the JSON's confusion matrix, each cell with its row share.
    let confusion: Vec<Vec<u64>> = serde_json::from_value(metrics["confusion"].clone()).unwrap();
    let heat = elements(&doc, "table")
        .find(|t| t.attribute("class") == Some("cm"))
        .expect("confusion table");
    for (k, row) in rows_of(heat).iter().skip(1).enumerate() {
        let total: u64 = confusion[k].iter().sum();
        let cells = cell_texts(*row);
        let expected: Vec<String> = confusion[k]
            .iter()
            .map(|&n| format!("{n} ({:.1}%)", 100.0 * n as f64 / total as f64))
            .chain([total.to_string()])
            .collect();
        assert_eq!(cells, expected, "row {}", classes[k]);
    }

    // mistakes.csv: every wrong row, most confident first, with both class names.
    let correct: u64 = (0..3).map(|k| confusion[k][k]).sum();
    let mut reader = csv::Reader::from_path(d.join("ev/mistakes.csv")).unwrap();
    assert_eq!(
        reader.headers().unwrap(),
        vec![
            "line",
            "label",
            "predicted",
            "probability",
            "label_probability",
            "text"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len() as u64, texts.len() as u64 - correct);
    assert!(rows.len() >= 2, "the repeated text is wrong at least twice");
    let p = |r: &csv::StringRecord, i: usize| r[i].parse::<f64>().unwrap();
    assert!(rows.windows(2).all(|w| p(&w[0], 3) >= p(&w[1], 3)));
    for r in &rows {
        let line: usize = r[0].parse().unwrap();
        // Line 1 is the header.
        assert_eq!(
            (&r[1], &r[5]),
            (labels[line - 2].as_str(), texts[line - 2].as_str())
        );
        assert_ne!(&r[1], &r[2]);
        let row_p = &probabilities[line - 2];
        assert_eq!(p(r, 3), row_p[&r[2]].as_f64().unwrap());
        assert_eq!(p(r, 4), row_p[&r[1]].as_f64().unwrap());
    }
    assert_eq!(
        rows_of(section(&doc, "mistakes")).len() - 1,
        rows.len().min(4)
    );
}

/// `pretrain --report`: a self-contained page with the corpus numbers `--json` gives, the
/// loss, perplexity, per-step loss and learning-rate charts, the options, and history.csv.
#[test]
fn a_pretraining_report_shows_the_corpus_and_the_curves() {
    let dir = temp_dir();
    let d = dir.path();
    let (code, stdout, stderr) = run(bin(d)
        .args([
            "pretrain",
            "--json",
            "-q",
            "--report",
            "rep",
            "-o",
            "base.json",
        ])
        .args(["--embed-dim", "8", "--hidden-dim", "8", "--bptt", "8"])
        .args(["--batch-size", "20", "--samples", "16", "--epochs", "2"])
        .arg(sample("train.csv")));
    assert_eq!(code, 0, "{stderr}");
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["report"], "rep/report.html");
    let html = std::fs::read_to_string(d.join("rep/report.html")).unwrap();
    let doc = parse(&html);
    assert_self_contained(&doc);
    assert_eq!(
        section_ids(&doc),
        ["summary", "corpus", "curves", "config", "history"]
    );
    let cells: Vec<String> = elements(&doc, "td")
        .map(|n| n.text().unwrap_or_default().to_string())
        .collect();
    let row = |key: &str| {
        let at = cells
            .iter()
            .position(|c| c == key)
            .unwrap_or_else(|| panic!("no {key}"));
        cells[at + 1].clone()
    };
    let number = |key: &str| summary[key].to_string();
    assert_eq!(row("texts"), number("texts"));
    assert!(row("stream positions").starts_with(&number("positions")));
    assert!(row("trained on").starts_with(&number("train_positions")));
    assert!(row("held out").starts_with(&number("valid_positions")));
    assert!(row("vocabulary").starts_with(&number("vocab_size")));
    assert!(row("coverage").contains("unknown rate"));
    assert_eq!(row("token stream"), "in memory");
    assert!(row("parameters").starts_with(&number("parameters")));
    let perplexity = summary["valid_perplexity"].as_f64().unwrap();
    assert_eq!(
        row("validation perplexity (best epoch)"),
        format!("{perplexity:.2}")
    );
    assert!(row("throughput").contains("tokens/s"));
    assert_eq!(row("softmax"), "sampled");
    let texts = chart_texts(&doc);
    for title in [
        "Training loss",
        "Validation perplexity",
        "Training loss per step",
        "Learning rate",
    ] {
        assert!(
            texts.iter().any(|t| t == title),
            "no chart {title}: {texts:?}"
        );
    }
    let csv = std::fs::read_to_string(d.join("rep/history.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.starts_with("epoch,train_loss,valid_perplexity,lr\n"));
    // The model file is the same with or without a report.
    let (code, _, stderr) = run(bin(d)
        .args(["pretrain", "-q", "-o", "plain.json"])
        .args(["--embed-dim", "8", "--hidden-dim", "8", "--bptt", "8"])
        .args(["--batch-size", "20", "--samples", "16", "--epochs", "2"])
        .arg(sample("train.csv")));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        std::fs::read(d.join("plain.json")).unwrap() == std::fs::read(d.join("base.json")).unwrap()
    );
}
