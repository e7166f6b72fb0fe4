//! Crashing inputs found by the cargo-fuzz targets (`fuzz/`), kept as regression tests.
//!
//! Every file in `fuzz/regressions/<target>/` and `fuzz/seeds/<target>/` goes through the same
//! code as that fuzz target and must return (Ok or Err) without panicking. Files whose names start with `.` and
//! `README.md` are skipped. Fuzzing itself is not part of CI; these tests are. The seeds the
//! fuzzers read in place (`tests/bad_input/`, `data/test.csv`, `config.example.toml`; see
//! `fuzz/README.md`) are not replayed here: the tests that own them run them.

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use rnn_sentiment::config::ConfigFile;
use rnn_sentiment::data::{read_labeled_from, CsvOptions};
use rnn_sentiment::model_file::{from_json, from_json_plain, to_json};
use rnn_sentiment::text::{Tokenizer, TokenizerConfig, Truncation};

fn inputs(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, Vec<u8>)> = entries
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.is_file())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.starts_with('.') && name != "README.md"
        })
        .map(|path| {
            let bytes = fs::read(&path).expect("readable regression input");
            (path, bytes)
        })
        .collect();
    out.sort();
    out
}

/// Runs `check` on every input of `target`; fails naming every input that panicked.
fn run_all(target: &str, check: impl Fn(&[u8])) {
    let mut failures = Vec::new();
    for (path, bytes) in inputs("regressions", target)
        .into_iter()
        .chain(inputs("seeds", target))
    {
        if catch_unwind(AssertUnwindSafe(|| check(&bytes))).is_err() {
            failures.push(path.display().to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: these inputs panic: {failures:?}"
    );
}

#[test]
fn csv_reader_inputs_do_not_panic() {
    run_all("csv_reader", |data| {
        let options = CsvOptions::default();
        let _ = read_labeled_from(data, Path::new("fuzz.csv"), &options);
        let _ = read_labeled_from(data, Path::new("fuzz.tsv"), &options);
    });
}

#[test]
fn tokenizer_inputs_do_not_panic() {
    run_all("tokenizer", |data| {
        let text = String::from_utf8_lossy(data);
        for truncation in [Truncation::Right, Truncation::Left] {
            for punctuation in [true, false] {
                for (lowercase, strip_html) in [(true, true), (false, false)] {
                    for max_len in [1, 7, 400] {
                        let tokenizer = Tokenizer::new(TokenizerConfig {
                            lowercase,
                            punctuation,
                            strip_html,
                            max_len,
                            truncation,
                        });
                        let tokens = tokenizer.tokenize(&text);
                        assert!(tokens.len() <= max_len);
                        for token in &tokens {
                            assert!(!token.is_empty());
                            assert!(!token.chars().any(char::is_whitespace));
                        }
                    }
                }
            }
        }
    });
}

#[test]
fn config_parser_inputs_do_not_panic() {
    run_all("config_parser", |data| {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = ConfigFile::parse(text);
        }
    });
}

#[test]
fn model_loader_inputs_do_not_panic() {
    run_all("model_loader", |data| {
        // The fast loading path and the plain one agree on every input.
        match (from_json(data), from_json_plain(data)) {
            (Ok(fast), Ok(plain)) => {
                let bytes = to_json(&fast).expect("a loaded model serializes");
                assert_eq!(
                    bytes,
                    to_json(&plain).unwrap(),
                    "the paths read different models"
                );
                from_json(&bytes).expect("a loaded model reloads after to_json");
            }
            (Err(fast), Err(plain)) => assert_eq!(fast, plain),
            (fast, plain) => panic!(
                "one path accepts what the other refuses: {:?} / {:?}",
                fast.err(),
                plain.err()
            ),
        }
    });
}
