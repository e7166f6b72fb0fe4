//! `predict` on records (CSV, TSV, JSON lines) through the binary: the header is never
//! scored, `--keep` columns survive in order, the output is CSV or JSON lines, and every
//! probability is the one plain `predict` gives the same text, whatever the chunking or the
//! number of threads.

use std::path::Path;

use serde_json::Value;

use crate::common::*;

/// `predict --json` of `texts`, one per line, as JSON values.
fn plain_json(dir: &Path, model: &Path, texts: &[&str]) -> Vec<Value> {
    let lines = write(dir, "plain.txt", texts.join("\n") + "\n");
    let (code, stdout, stderr) = run(bin(dir)
        .args(["predict", "--json", "-m"])
        .arg(model)
        .arg("--file")
        .arg(&lines));
    assert_eq!(code, 0, "{stderr}");
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs `predict` on `--file input` with `extra`; returns stdout.
fn predict_file(dir: &Path, model: &Path, input: &Path, extra: &[&str]) -> String {
    let (code, stdout, stderr) = run(bin(dir)
        .args(["predict", "-m"])
        .arg(model)
        .arg("--file")
        .arg(input)
        .args(extra));
    assert_eq!(code, 0, "{stderr}");
    stdout
}

/// Parses CSV output into its header and rows.
fn csv_rows(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

const TEXTS: [&str; 4] = [
    "a great, moving film",
    "awful \"acting\" and a dull plot",
    "",
    "fine",
];

#[test]
fn csv_records_keep_their_columns_and_plain_predict_probabilities() {
    let dir = temp_dir();
    let d = dir.path();
    let model = train_small(d, "gru", "m.json", &[]);
    let expected = plain_json(d, &model, &TEXTS);
    let mut csv = String::from("id,text,date\n");
    for (i, text) in TEXTS.iter().enumerate() {
        let quoted = text.replace('"', "\"\"");
        csv.push_str(&format!("r{},\"{quoted}\",2026-0{}\r\n", 100 + i, i + 1));
    }
    let input = write(d, "ids.csv", &csv);
    let out = predict_file(d, &model, &input, &["--keep", "date,id=review_id"]);
    let (header, rows) = csv_rows(&out);
    assert_eq!(
        header,
        ["date", "review_id", "text", "label", "probability"]
    );
    assert_eq!(rows.len(), TEXTS.len(), "the header is not scored: {out}");
    for (i, (row, want)) in rows.iter().zip(&expected).enumerate() {
        assert_eq!(row[0], format!("2026-0{}", i + 1));
        assert_eq!(row[1], format!("r{}", 100 + i));
        assert_eq!(row[2], TEXTS[i]);
        assert_eq!(row[3], want["label"].as_str().unwrap());
        // Every digit: the same f64 as predict --json.
        assert_eq!(row[4], want["probability"].to_string());
    }
    // --input-format lines reads the same file as plain lines, header and all.
    let out = predict_file(d, &model, &input, &["--input-format", "lines"]);
    assert_eq!(out.lines().count(), 1 + TEXTS.len());
    assert!(
        out.lines().all(|l| l.contains('\t')),
        "plain label<TAB>p lines: {out}"
    );
    // --json (JSON lines out) is predict --json's object with the kept fields first.
    let plain = predict_file(d, &model, &d.join("plain.txt"), &["--json"]);
    let out = predict_file(d, &model, &input, &["--keep", "id", "--json"]);
    assert_eq!(out.lines().count(), TEXTS.len());
    for (i, (line, want)) in out.lines().zip(plain.lines()).enumerate() {
        let want = format!("{{\"id\":\"r{}\",{}", 100 + i, &want[1..]);
        assert_eq!(line, want);
    }
}

#[test]
fn jsonl_in_gives_predict_json_byte_for_byte_across_chunks_and_threads() {
    let dir = temp_dir();
    let d = dir.path();
    let model = train_small(d, "lstm", "m.json", &[]);
    // More rows than one chunk (8,192), so chunk boundaries are crossed.
    let words = ["good", "bad", "film", "plot", "great", "awful", "fine"];
    let texts: Vec<String> = (0..9000)
        .map(|i| {
            (0..1 + i % 9)
                .map(|j| words[(i * 7 + j * 3) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let lines = write(d, "texts.txt", texts.join("\n") + "\n");
    let want = predict_file(d, &model, &lines, &["--json"]);
    let jsonl: String = texts
        .iter()
        .map(|t| format!("{}\n", serde_json::json!({ "text": t })))
        .collect();
    let input = write(d, "texts.jsonl", &jsonl);
    for threads in ["1", "2"] {
        let got = predict_file(d, &model, &input, &["--threads", threads]);
        assert!(
            got == want,
            "JSON lines output differs from predict --json with --threads {threads}"
        );
    }
    // Plain lines turned into records: the same objects.
    let got = predict_file(d, &model, &lines, &["--output-format", "jsonl"]);
    assert!(
        got == want,
        "--output-format jsonl of plain lines differs from --json"
    );
}

#[test]
fn k_class_records_carry_every_class_probability() {
    let dir = temp_dir();
    let d = dir.path();
    let data = write(d, "three.csv", three_class_csv(300, 3));
    let model = train_classes(d, &data, "k.json", &[]);
    let expected = plain_json(d, &model, &TEXTS[..2]);
    let tsv = format!("id\ttext\nr1\t{}\nr2\t{}\n", TEXTS[0], TEXTS[1]);
    let input = write(d, "two.tsv", tsv);
    let out = predict_file(d, &model, &input, &["--keep", "id"]);
    let (header, rows) = csv_rows(&out);
    assert_eq!(
        header,
        [
            "id",
            "text",
            "label",
            "probability",
            "probability_neg",
            "probability_neutral",
            "probability_pos"
        ]
    );
    for (row, want) in rows.iter().zip(&expected) {
        assert_eq!(row[2], want["label"].as_str().unwrap());
        assert_eq!(row[3], want["probability"].to_string());
        for (k, class) in ["neg", "neutral", "pos"].iter().enumerate() {
            assert_eq!(row[4 + k], want["probabilities"][class].to_string());
        }
    }
    let out = predict_file(d, &model, &input, &["--output-format", "jsonl"]);
    let got: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn stdin_records_need_the_format_and_keep_json_values_as_written() {
    let dir = temp_dir();
    let d = dir.path();
    let model = train_small(d, "rnn", "m.json", &[]);
    let input = "{\"id\": 12345678901234567890123, \"body\": \"great\", \"meta\": {\"a\": [1, 2]}}\n\n{\"id\": null, \"body\": \"bad\", \"meta\": \"x,y\"}\n";
    let (code, out, stderr) = run(bin(d)
        .args([
            "predict",
            "--input-format",
            "jsonl",
            "--text-column",
            "body",
        ])
        .args(["--keep", "id,meta", "--output-format", "csv", "-m"])
        .arg(&model)
        .arg("-")
        .write_stdin(input));
    assert_eq!(code, 0, "{stderr}");
    let (header, rows) = csv_rows(&out);
    assert_eq!(header, ["id", "meta", "text", "label", "probability"]);
    assert_eq!(
        rows[0][..3],
        ["12345678901234567890123", "{\"a\": [1, 2]}", "great"]
    );
    assert_eq!(rows[1][..3], ["", "x,y", "bad"]);
    // Without --input-format, stdin is plain lines: each line is a text.
    let (_, out, _) = run(bin(d)
        .args(["predict", "-m"])
        .arg(&model)
        .write_stdin("id,text\nr1,x\n"));
    assert_eq!(out.lines().count(), 2);
}

/// Records are written as they are scored: a full chunk (8,192 records) is answered while
/// the input is still open, so memory does not grow with the input.
#[test]
fn records_are_written_while_the_input_is_still_open() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    use std::sync::mpsc;
    use std::time::Duration;

    let dir = temp_dir();
    let d = dir.path();
    let model = train_small(d, "rnn", "m.json", &[]);
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("rnn-sentiment"))
        .args(["predict", "--input-format", "jsonl", "--keep", "id", "-m"])
        .arg(&model)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("predict starts");
    let mut stdin = child.stdin.take().expect("stdin piped");
    let chunk: String = (0..8192)
        .map(|i| format!("{{\"id\":{i},\"text\":\"a fine film\"}}\n"))
        .collect();
    stdin.write_all(chunk.as_bytes()).expect("records written");
    stdin.flush().expect("records flushed");
    let stdout = BufReader::new(child.stdout.take().expect("stdout piped"));
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines() {
            if send.send(line.expect("output is text")).is_err() {
                break;
            }
        }
    });
    for i in 0..8192 {
        let line = receive
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("record {i} not written while the input is open"));
        assert!(line.starts_with(&format!("{{\"id\":{i},")), "{line}");
    }
    drop(stdin);
    assert!(child.wait().expect("predict ends").success());
}
