//! `predict --explain` through the real binary, on a case whose answer is known: a model
//! trained on synthetic sentences where one word decides the label ("wonderful" -> 1,
//! "dreadful" -> 0, the rest random filler) must give that word the largest attribution.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use rnn_sentiment::rng::Rng;
use serde_json::Value;

use crate::common::*;

/// Words that appear in both classes equally often, so they carry no signal.
const FILLER: [&str; 12] = [
    "the", "film", "plot", "was", "quite", "actor", "scene", "ending", "music", "story", "long",
    "very",
];

fn bin() -> Command {
    Command::cargo_bin("rnn-sentiment").expect("binary built")
}

/// Runs and returns (exit code, stdout, stderr), checking that nothing panicked.
fn run(cmd: &mut Command) -> (i32, String, String) {
    let output = cmd.output().expect("command runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    (
        output.status.code().expect("exited normally"),
        stdout,
        stderr,
    )
}

/// 300 seeded rows: 2-7 filler words with "wonderful" (label 1) or "dreadful" (label 0)
/// inserted at a random position.
fn synthetic_csv() -> String {
    let mut rng = Rng::new(7);
    let mut csv = String::from("text,label\n");
    for row in 0..300 {
        let positive = row % 2 == 0;
        let mut words: Vec<&str> = (0..2 + rng.below(6))
            .map(|_| FILLER[rng.below(FILLER.len())])
            .collect();
        let at = rng.below(words.len() + 1);
        words.insert(at, if positive { "wonderful" } else { "dreadful" });
        csv.push_str(&format!("{},{}\n", words.join(" "), u8::from(positive)));
    }
    csv
}

/// The model trained on [`synthetic_csv`], trained once per test run and shared.
fn model() -> &'static Path {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("explain");
        std::fs::create_dir_all(&dir).expect("test directory");
        let data = write(&dir, "one_word_decides.csv", synthetic_csv());
        let model = dir.join("model.json");
        let (code, _, stderr) = run(bin()
            .args([
                "train",
                "--quiet",
                "--embed-dim",
                "16",
                "--hidden-dim",
                "16",
            ])
            .args([
                "--epochs",
                "8",
                "--valid-split",
                "0",
                "--seed",
                "1",
                "--threads",
                "2",
            ])
            .arg("-o")
            .arg(&model)
            .arg(&data));
        assert_eq!(code, 0, "{stderr}");
        model
    })
}

/// `predict --explain` with extra arguments; returns stdout.
fn explain(args: &[&str]) -> String {
    let (code, stdout, stderr) = run(bin()
        .args(["predict", "--explain", "--threads", "2", "-m"])
        .arg(model())
        .args(args));
    assert_eq!(code, 0, "{stderr}");
    stdout
}

fn explain_json(texts: &[&str]) -> Vec<Value> {
    let mut args = vec!["--json"];
    args.extend_from_slice(texts);
    explain(&args)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

/// Index of the largest value of `key(attribution)`.
fn arg_max(attributions: &[f64], key: impl Fn(f64) -> f64) -> usize {
    (0..attributions.len())
        .max_by(|&a, &b| key(attributions[a]).total_cmp(&key(attributions[b])))
        .expect("tokens")
}

#[test]
fn the_deciding_word_gets_the_largest_attribution() {
    let texts = [
        "the plot wonderful story",
        "film was dreadful very long",
        "wonderful scene music ending actor",
        "quite long plot the dreadful",
    ];
    let lines = explain_json(&texts);
    assert_eq!(lines.len(), texts.len());
    for (text, line) in texts.iter().zip(&lines) {
        assert_eq!(line["text"], *text);
        let tokens = strings(&line["tokens"]);
        let attributions = floats(&line["attributions"]);
        assert_eq!(attributions.len(), tokens.len(), "{line}");
        assert_eq!(line["ids"].as_array().unwrap().len(), tokens.len());
        assert_eq!(line["unknown"].as_array().unwrap().len(), tokens.len());
        let p = line["probability"].as_f64().unwrap();
        let decider = if text.contains("wonderful") {
            assert_eq!(line["label"], "positive", "{line}");
            let best = arg_max(&attributions, |a| a);
            assert_eq!(tokens[best], "wonderful", "{line}");
            assert!(attributions[best] > 0.0, "{line}");
            best
        } else {
            assert_eq!(line["label"], "negative", "{line}");
            let worst = arg_max(&attributions, |a| -a);
            assert_eq!(tokens[worst], "dreadful", "{line}");
            assert!(attributions[worst] < 0.0, "{line}");
            worst
        };
        // Not a near tie: the filler words matter far less than the deciding word.
        let filler_max = (0..tokens.len())
            .filter(|&i| i != decider)
            .map(|i| attributions[i].abs())
            .fold(0.0, f64::max);
        assert!(attributions[decider].abs() > 3.0 * filler_max, "{line}");
        assert!((0.0..=1.0).contains(&p));
    }
    // The probability is exactly the one plain `predict` gives.
    let (code, stdout, _) = run(bin()
        .args(["predict", "--json", "-m"])
        .arg(model())
        .args(texts));
    assert_eq!(code, 0);
    for (plain, explained) in stdout.lines().zip(&lines) {
        let plain: Value = serde_json::from_str(plain).unwrap();
        assert_eq!(plain["probability"], explained["probability"]);
        assert_eq!(plain["label"], explained["label"]);
    }
}

#[test]
fn plain_output_has_bracketed_numbers_and_no_colour_off_a_terminal() {
    for no_color in [None, Some(""), Some("1")] {
        let mut cmd = bin();
        cmd.args(["predict", "--explain", "--threads", "2", "-m"])
            .arg(model())
            .arg("the film was wonderful");
        match no_color {
            Some(value) => cmd.env("NO_COLOR", value),
            None => cmd.env_remove("NO_COLOR"),
        };
        let (code, stdout, _) = run(&mut cmd);
        assert_eq!(code, 0);
        assert!(!stdout.contains('\x1b'), "ANSI escape in {stdout:?}");
        let fields: Vec<&str> = stdout.trim_end_matches('\n').split('\t').collect();
        assert_eq!(fields.len(), 3, "{stdout:?}");
        assert_eq!(fields[0], "positive");
        fields[1].parse::<f64>().expect("a probability");
        let tokens: Vec<&str> = fields[2].split(' ').collect();
        assert_eq!(tokens.len(), 4, "{stdout:?}");
        for (token, word) in tokens.iter().zip(["the", "film", "was", "wonderful"]) {
            let number = token
                .strip_prefix(word)
                .and_then(|rest| rest.strip_prefix('['))
                .and_then(|rest| rest.strip_suffix(']'))
                .unwrap_or_else(|| panic!("{token:?} is not {word}[number]"));
            assert!(number.starts_with(['+', '-']), "{token:?} has no sign");
            number.parse::<f64>().expect("an attribution");
        }
    }
}

#[test]
fn unknown_words_are_marked() {
    let line = &explain_json(&["zorgblat wonderful"])[0];
    assert_eq!(strings(&line["tokens"]), ["zorgblat", "wonderful"]);
    assert_eq!(line["ids"][0], 1);
    assert_ne!(line["ids"][1], 1);
    assert_eq!(line["unknown"], serde_json::json!([true, false]));

    let plain = explain(&["zorgblat wonderful"]);
    assert!(plain.contains("\tzorgblat(unk)["), "{plain:?}");
    assert!(plain.contains(" wonderful["), "{plain:?}");
}

#[test]
fn an_empty_line_gives_an_empty_explanation_and_still_one_line() {
    let input = "plot was wonderful\n\nthe dreadful music\n";
    let run_stdin = |json: bool| {
        let mut cmd = bin();
        cmd.args(["predict", "--explain", "--threads", "2", "-m"])
            .arg(model());
        if json {
            cmd.arg("--json");
        }
        let (code, stdout, stderr) = run(cmd.write_stdin(input));
        assert_eq!(code, 0, "{stderr}");
        stdout
    };

    let stdout = run_stdin(true);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    let empty = &lines[1];
    assert_eq!(empty["text"], "");
    for key in ["tokens", "ids", "attributions", "unknown"] {
        assert_eq!(empty[key], serde_json::json!([]), "{key}");
    }
    assert!(empty["probability"].as_f64().is_some());

    let stdout = run_stdin(false);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout:?}");
    let fields: Vec<&str> = lines[1].split('\t').collect();
    assert_eq!(fields.len(), 3, "{stdout:?}");
    assert_eq!(fields[2], "");
}
