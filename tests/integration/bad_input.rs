//! The bad-input corpus (`tests/bad_input/`, listed in its README) run through the real
//! binary: every case must exit 2 with a message naming the file and the line or field, must
//! not panic, and must leave an existing model at the output path byte-identical. Large inputs
//! (a 20 MB line, 200k empty texts) are generated here rather than committed.
//!
//! Each test collects every failing case and reports them together, so one run shows the whole
//! picture rather than the first problem.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

use crate::common::*;

fn corpus(rel: &str) -> PathBuf {
    repo_file(&format!("tests/bad_input/{rel}"))
}

fn sample_train() -> PathBuf {
    repo_file("data/train.csv")
}

/// Runs cases and records what went wrong, instead of stopping at the first failure.
#[derive(Default)]
struct Cases {
    run: usize,
    failures: Vec<String>,
}

impl Cases {
    /// Runs `cmd`; returns (exit code, stderr), recording a panic as a failure.
    fn output(&mut self, case: &str, cmd: &mut Command) -> (i32, String) {
        self.run += 1;
        let output = cmd.output().expect("command runs");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let code = output.status.code().unwrap_or(-1);
        if code == 101 || stderr.contains("panicked") {
            self.failures
                .push(format!("{case}: panicked (exit {code}): {stderr}"));
        }
        (code, stderr)
    }

    /// Expects exit 2 with every fragment in stderr.
    fn fails(&mut self, case: &str, cmd: &mut Command, fragments: &[&str]) {
        let (code, stderr) = self.output(case, cmd);
        if code != 2 {
            self.failures
                .push(format!("{case}: exit {code}, expected 2: {stderr}"));
        }
        for f in fragments {
            if !stderr.contains(f) {
                self.failures
                    .push(format!("{case}: stderr lacks {f:?}: {stderr}"));
            }
        }
    }

    /// Expects exit 0.
    fn succeeds(&mut self, case: &str, cmd: &mut Command) {
        let (code, stderr) = self.output(case, cmd);
        if code != 0 {
            self.failures
                .push(format!("{case}: exit {code}, expected 0: {stderr}"));
        }
    }

    /// Records a failure unless `path` still holds `before`.
    fn unchanged(&mut self, case: &str, path: &Path, before: &[u8]) {
        if std::fs::read(path).ok().as_deref() != Some(before) {
            self.failures
                .push(format!("{case}: the model at {} changed", path.display()));
        }
    }

    fn finish(self, what: &str, at_least: usize) {
        eprintln!("{} {what} cases run", self.run);
        assert!(
            self.failures.is_empty(),
            "{} of {} {what} cases failed:\n{}",
            self.failures.len(),
            self.run,
            self.failures.join("\n")
        );
        assert!(
            self.run >= at_least,
            "only {} {what} cases ran, expected at least {at_least}",
            self.run
        );
    }
}

/// Trains a small model quickly; returns its path and bytes.
fn small_model(dir: &Path, name: &str) -> (PathBuf, Vec<u8>) {
    let out = dir.join(name);
    bin(dir)
        .args(["train", "--quiet", "--cell", "gru", "--epochs", "1"])
        .args(["--embed-dim", "8", "--hidden-dim", "8", "-o"])
        .arg(&out)
        .arg(sample_train())
        .assert()
        .success();
    let bytes = std::fs::read(&out).unwrap();
    (out, bytes)
}

/// Options that make a successful training run on tiny data fast.
const FAST: [&str; 8] = [
    "--epochs",
    "1",
    "--embed-dim",
    "4",
    "--hidden-dim",
    "4",
    "--valid-split",
    "0",
];

/// Files of `DATA_CASES` whose labels are not binary words: `train` reads them as K named
/// classes (and trains); `eval` of a binary model refuses them with the listed fragments.
const K_CLASS_LABELS: &[&str] = &[
    "label_2.csv",
    "label_minus_1.csv",
    "label_half.csv",
    "label_yes.csv",
    "label_one_point_zero.csv",
    "bad_label.tsv",
];

/// Every file under `tests/bad_input/data/` and what the error must say besides the file name;
/// `None` means the file is accepted (an edge case that must train).
const DATA_CASES: &[(&str, Option<&[&str]>)] = &[
    ("empty.csv", Some(&["the file is empty", "header row"])),
    ("blank_lines.csv", Some(&["the file is empty"])),
    ("header_only.csv", Some(&["no data rows"])),
    ("header_only_no_newline.csv", Some(&["no data rows"])),
    (
        "no_header.csv",
        Some(&[
            "no text column named \"text\"",
            "\"great movie\"",
            "header row naming the columns is required",
        ]),
    ),
    (
        "missing_text_column.csv",
        Some(&[
            "no text column named \"text\"",
            "\"review\"",
            "--text-column",
        ]),
    ),
    (
        "missing_label_column.csv",
        Some(&[
            "no label column named \"label\"",
            "\"stars\"",
            "--label-column",
        ]),
    ),
    ("duplicate_text_column.csv", Some(&["\"text\" 2 times"])),
    ("duplicate_label_column.csv", Some(&["\"label\" 2 times"])),
    ("unterminated_quote.csv", Some(&["line 3:", "never closed"])),
    (
        "unterminated_quote_last_line.csv",
        Some(&["line 4:", "never closed"]),
    ),
    (
        "unterminated_quote_after_multiline.csv",
        Some(&["line 5:", "column 4", "never closed"]),
    ),
    (
        "invalid_utf8_middle.csv",
        Some(&["line 4:", "column 4", "0xff", "not valid UTF-8"]),
    ),
    (
        "invalid_utf8_header.csv",
        Some(&["line 1:", "not valid UTF-8"]),
    ),
    ("latin1.csv", Some(&["line 3:", "0xe9", "not valid UTF-8"])),
    (
        "truncated_utf8_at_end.csv",
        Some(&["line 3:", "not valid UTF-8"]),
    ),
    ("nul_byte.csv", Some(&["line 3:", "NUL byte at column 3"])),
    ("binary_png.csv", Some(&["line 3:", "NUL byte"])),
    (
        "utf16le_bom.csv",
        Some(&["UTF-16 little-endian", "re-save as UTF-8"]),
    ),
    (
        "utf16be_bom.csv",
        Some(&["UTF-16 big-endian", "re-save as UTF-8"]),
    ),
    (
        "utf16le_no_bom.csv",
        Some(&["line 1:", "NUL byte", "UTF-16 without a byte-order mark"]),
    ),
    (
        "label_2.csv",
        Some(&["line 4:", "unknown label \"2\"", "use 1/0"]),
    ),
    (
        "label_minus_1.csv",
        Some(&["line 3:", "unknown label \"-1\""]),
    ),
    (
        "label_half.csv",
        Some(&["line 4:", "unknown label \"0.5\""]),
    ),
    ("label_yes.csv", Some(&["line 2:", "unknown label \"yes\""])),
    // Empty after trimming: no class name (train), and no binary label (eval).
    ("label_empty.csv", Some(&["line 3:", "label \"\""])),
    (
        "label_one_point_zero.csv",
        Some(&["line 2:", "unknown label \"1.0\""]),
    ),
    // Only for train (eval accepts one class, reporting ROC AUC as n/a).
    ("one_class.csv", Some(&["all positive", "both classes"])),
    (
        "too_many_fields.csv",
        Some(&["line 3:", "expected 2 fields", "found 3"]),
    ),
    ("too_few_fields.csv", Some(&["line 3:", "found 1"])),
    ("tab_separated_named_csv.csv", Some(&["--delimiter tab"])),
    ("semicolon_separated.csv", Some(&["--delimiter ;"])),
    (
        "missing_label_column.tsv",
        Some(&["no label column named \"label\"", "\"score\""]),
    ),
    (
        "bad_label.tsv",
        Some(&["line 3:", "unknown label \"maybe\""]),
    ),
    // Labels are trimmed and case-insensitive: " 1 ", "POSITIVE", " neg", "True".
    ("ok_trimmed_labels.csv", None),
];

#[test]
fn bad_data_files_name_file_and_line_and_keep_the_old_model() {
    let dir = temp_dir();
    let d = dir.path();
    let (model, before) = small_model(d, "keep.json");
    let mut cases = Cases::default();

    // The table and the corpus directory must agree, so no file goes untested.
    let mut on_disk: Vec<String> = std::fs::read_dir(corpus("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = DATA_CASES.iter().map(|(n, _)| n.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "tests/bad_input/data and DATA_CASES differ"
    );

    for &(name, expected) in DATA_CASES {
        let data = corpus(&format!("data/{name}"));
        let mut train = bin(d);
        train
            .args(["train", "--quiet", "-o"])
            .arg(&model)
            .arg(&data);
        match expected {
            Some(fragments) if K_CLASS_LABELS.contains(&name) => {
                let out = d.join("classes.json");
                cases.succeeds(
                    &format!("train {name} (K classes)"),
                    bin(d)
                        .args(["train", "--quiet", "-o"])
                        .arg(&out)
                        .args(FAST)
                        .arg(&data),
                );
                let mut all = vec![name];
                all.extend_from_slice(fragments);
                cases.fails(
                    &format!("eval {name}"),
                    bin(d).args(["eval", "-m"]).arg(&model).arg(&data),
                    &all,
                );
            }
            Some(fragments) => {
                let mut all = vec![name];
                all.extend_from_slice(fragments);
                cases.fails(&format!("train {name}"), &mut train, &all);
                cases.unchanged(&format!("train {name}"), &model, &before);
                if name != "one_class.csv" {
                    cases.fails(
                        &format!("eval {name}"),
                        bin(d).args(["eval", "-m"]).arg(&model).arg(&data),
                        &all,
                    );
                }
            }
            None => {
                let out = d.join("accepted.json");
                cases.succeeds(
                    &format!("train {name}"),
                    bin(d)
                        .args(["train", "--quiet", "-o"])
                        .arg(&out)
                        .args(FAST)
                        .arg(&data),
                );
                cases.succeeds(
                    &format!("eval {name}"),
                    bin(d).args(["eval", "-m"]).arg(&out).arg(&data),
                );
            }
        }
    }

    // A bad validation file is named as such.
    cases.fails(
        "train --valid label_2.csv",
        bin(d)
            .args(["train", "--quiet", "-o"])
            .arg(&model)
            .arg("--valid")
            .arg(corpus("data/label_2.csv"))
            .arg(sample_train()),
        &["label_2.csv, line 4:", "\"2\""],
    );
    // Files that are not there, or are directories.
    cases.fails(
        "missing data file",
        bin(d)
            .args(["train", "--quiet", "-o"])
            .arg(&model)
            .arg(d.join("absent.csv")),
        &["absent.csv", "cannot read data file"],
    );
    cases.fails(
        "data path is a directory",
        bin(d).args(["train", "--quiet", "-o"]).arg(&model).arg(d),
        &["cannot read data file"],
    );
    cases.fails(
        "text and label columns are the same",
        bin(d)
            .args(["train", "--quiet", "--text-column", "label", "-o"])
            .arg(&model)
            .arg(sample_train()),
        &["--text-column and --label-column", "\"label\""],
    );
    cases.fails(
        "predict --file with invalid UTF-8",
        bin(d)
            .args(["predict", "-m"])
            .arg(&model)
            .arg("--file")
            .arg(corpus("data/latin1.csv")),
        &["latin1.csv, line 3", "UTF-8"],
    );
    cases.unchanged("after all data cases", &model, &before);
    cases.finish("data", 70);
}

/// Every file under `tests/bad_input/config/` and what the error must say besides its name.
const CONFIG_CASES: &[(&str, &[&str])] = &[
    (
        "unknown_key.toml",
        &[
            "line 2:",
            "unknown key `hiden_dim`",
            "did you mean `hidden_dim`?",
        ],
    ),
    (
        "unknown_key_dashes.toml",
        &[
            "line 1:",
            "unknown key `batch-size`",
            "did you mean `batch_size`?",
        ],
    ),
    (
        "section.toml",
        &["line 1:", "unknown key `train`", "[section]"],
    ),
    (
        "unknown_key_no_match.toml",
        &["unknown key `zzzzzzzzzzzz`", "`hidden_dim`", "`epochs`"],
    ),
    (
        "wrong_type_string.toml",
        &["line 1", "epochs", "invalid type"],
    ),
    (
        "wrong_type_bool.toml",
        &["line 1", "bidirectional", "invalid type"],
    ),
    ("negative_epochs.toml", &["line 1", "epochs", "-1"]),
    (
        "float_for_integer.toml",
        &["line 1", "hidden_dim", "invalid type"],
    ),
    (
        "huge_hidden_dim.toml",
        &["line 1: invalid value for hidden_dim", "1000000000000"],
    ),
    (
        "lr_zero.toml",
        &["line 1: invalid value for lr", "positive"],
    ),
    (
        "lr_negative.toml",
        &["line 1: invalid value for lr", "-0.01"],
    ),
    ("lr_nan.toml", &["line 1: invalid value for lr", "NaN"]),
    (
        "hidden_dim_zero.toml",
        &["line 1: invalid value for hidden_dim"],
    ),
    (
        "embed_dim_zero.toml",
        &["line 1: invalid value for embed_dim"],
    ),
    (
        "epochs_zero.toml",
        &["line 1: invalid value for epochs", "at least 1"],
    ),
    (
        "batch_size_zero.toml",
        &["line 1: invalid value for batch_size", "at least 1"],
    ),
    ("max_len_zero.toml", &["line 1: invalid value for max_len"]),
    ("dropout_one.toml", &["line 1: invalid value for dropout"]),
    ("layers_zero.toml", &["line 1: invalid value for layers"]),
    ("unknown_cell.toml", &["line 1", "transformer"]),
    ("syntax_error.toml", &["line 1"]),
    (
        "bad_delimiter.toml",
        &["line 1: invalid value for delimiter", "\"::\""],
    ),
];

/// Option values on the command line: `(flags, fragments)`.
const CLI_CASES: &[(&[&str], &[&str])] = &[
    (&["--lr", "0"], &["invalid value for lr"]),
    (&["--lr=-1"], &["invalid value for lr"]),
    (&["--lr", "NaN"], &["invalid value for lr"]),
    (&["--lr", "inf"], &["invalid value for lr"]),
    (&["--hidden-dim", "0"], &["invalid value for hidden-dim"]),
    (
        &["--hidden-dim", "1000000"],
        &["invalid value for hidden-dim"],
    ),
    (&["--embed-dim", "0"], &["invalid value for embed-dim"]),
    (&["--epochs", "0"], &["invalid value for epochs"]),
    (&["--batch-size", "0"], &["invalid value for batch-size"]),
    (&["--max-len", "0"], &["invalid value for max-len"]),
    (&["--layers", "0"], &["invalid value for layers"]),
    (&["--max-vocab", "1"], &["invalid value for max-vocab"]),
    (&["--valid-split", "1"], &["invalid value for valid-split"]),
    (&["--dropout", "1.5"], &["invalid value for dropout"]),
    (&["--momentum", "1"], &["invalid value for momentum"]),
    (&["--clip-norm=-1"], &["invalid value for clip-norm"]),
    (&["--pos-weight", "0"], &["invalid value for pos-weight"]),
    (&["--forget-bias", "big"], &["--forget-bias", "\"big\""]),
    (&["--epochs=-1"], &["--epochs", "-1"]),
    (&["--epochs", "many"], &["--epochs", "many"]),
    (&["--cell", "transformer"], &["--cell", "transformer"]),
    (&["--delimiter", "::"], &["--delimiter", "\"::\""]),
    (
        &[
            "--embed-dim",
            "8192",
            "--hidden-dim",
            "8192",
            "--layers",
            "16",
        ],
        &["parameters is more than the limit"],
    ),
];

#[test]
fn bad_config_files_and_option_values_are_refused_by_name() {
    let dir = temp_dir();
    let d = dir.path();
    let model = write(d, "keep.json", b"not touched");
    let mut cases = Cases::default();
    let mut on_disk: Vec<String> = std::fs::read_dir(corpus("config"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CONFIG_CASES.iter().map(|(n, _)| n.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "tests/bad_input/config and CONFIG_CASES differ"
    );

    for &(name, fragments) in CONFIG_CASES {
        let mut all = vec![name];
        all.extend_from_slice(fragments);
        cases.fails(
            name,
            bin(d)
                .args(["train", "--quiet", "-o"])
                .arg(&model)
                .arg("--config")
                .arg(corpus(&format!("config/{name}")))
                .arg(sample_train()),
            &all,
        );
    }
    cases.fails(
        "missing config file",
        bin(d)
            .args(["train", "--quiet", "--config", "absent.toml"])
            .arg(sample_train()),
        &["absent.toml", "cannot read config file"],
    );
    for &(flags, fragments) in CLI_CASES {
        cases.fails(
            &flags.join(" "),
            bin(d)
                .args(["train", "--quiet", "-o"])
                .arg(&model)
                .args(flags)
                .arg(sample_train()),
            fragments,
        );
    }
    // Bad thresholds and gates for the other commands.
    let (m, _) = small_model(d, "m.json");
    for (args, fragment) in [
        (&["predict", "--threshold", "1.5", "hi"][..], "--threshold"),
        (
            &["eval", "--min-accuracy", "2", "x.csv"][..],
            "--min-accuracy",
        ),
    ] {
        cases.fails(
            &args.join(" "),
            bin(d).args(args).arg("-m").arg(&m),
            &[fragment],
        );
    }
    cases.unchanged("after all option cases", &model, b"not touched");
    cases.finish("config and option", 45);
}

/// A model file edited by `edit` (on the parsed JSON).
fn edited(good: &Value, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v = good.clone();
    edit(&mut v);
    v.to_string().into_bytes()
}

#[test]
fn bad_model_files_fail_cleanly_in_every_command() {
    let dir = temp_dir();
    let d = dir.path();
    let (_, bytes) = small_model(d, "good.json");
    let good: Value = serde_json::from_slice(&bytes).unwrap();
    let mut models: Vec<(String, Vec<u8>, Vec<&str>)> = Vec::new();

    // Truncated at many offsets (the last byte is the newline, so stop two before the end).
    let n = bytes.len();
    for cut in [
        0,
        1,
        2,
        10,
        50,
        100,
        n / 5,
        n / 3,
        n / 2,
        2 * n / 3,
        n - 10,
        n - 2,
    ] {
        models.push((
            format!("truncated_at_{cut}.json"),
            bytes[..cut].to_vec(),
            vec!["truncated"],
        ));
    }
    // The exact wording for files that are not model JSON at all belongs to checkpoint.rs
    // and cli.rs; these cases only require the file to be named and called not a model.
    let wrong_shapes: [(&str, &[u8], &str); 6] = [
        ("array.json", b"[1, 2, 3]", "model"),
        ("string.json", b"\"model\"", "model"),
        ("empty_object.json", b"{}", "no \"format\" field"),
        ("not_json.json", b"format: rnn-sentiment", "model"),
        (
            "header_only.json",
            b"{\"format\": \"rnn-sentiment\", \"version\": 1}",
            "no \"config\" section",
        ),
        ("utf16.json", b"\xff\xfe{\x00}\x00", "model"),
    ];
    for (name, contents, fragment) in wrong_shapes {
        models.push((name.into(), contents.to_vec(), vec![fragment]));
    }
    type Edit = fn(&mut Value);
    let edits: [(&str, Edit, &[&str]); 15] = [
        (
            "unknown_format.json",
            |v| v["format"] = "onnx".into(),
            &["format is \"onnx\""],
        ),
        (
            "future_version.json",
            |v| v["version"] = 2.into(),
            &["file version 2 is not supported", "reads version 1"],
        ),
        (
            "extra_field.json",
            |v| v["surprise"] = 1.into(),
            &["not a model file", "surprise"],
        ),
        (
            "weight_too_short.json",
            |v| {
                v["weights"]["fc.weight"]["data"]
                    .as_array_mut()
                    .unwrap()
                    .pop();
            },
            &["\"fc.weight\"", "values but its shape"],
        ),
        (
            "weight_wrong_shape.json",
            |v| v["weights"]["fc.bias"]["shape"] = serde_json::json!([2]),
            &["\"fc.bias\" has shape [2]"],
        ),
        (
            "weight_missing.json",
            |v| {
                v["weights"].as_object_mut().unwrap().remove("fc.bias");
            },
            &["\"fc.bias\" is missing"],
        ),
        (
            "weight_out_of_f32_range.json",
            |v| v["weights"]["fc.bias"]["data"][0] = 1e39.into(),
            &["\"fc.bias\"", "not a finite 32-bit float"],
        ),
        (
            "weight_nan_string.json",
            |v| v["weights"]["fc.bias"]["data"][0] = "NaN".into(),
            &["\"fc.bias\""],
        ),
        (
            "huge_embed_dim.json",
            |v| v["config"]["embed_dim"] = 1_000_000_000_000u64.into(),
            &["embed_dim 1000000000000 is outside"],
        ),
        (
            "huge_vocab_size.json",
            |v| v["config"]["vocab_size"] = 1_000_000_000_000u64.into(),
            &["vocab_size 1000000000000 is outside"],
        ),
        (
            "float_dimension.json",
            |v| v["config"]["hidden_dim"] = 1e12.into(),
            &["bad \"config\" section"],
        ),
        (
            "vocab_duplicate.json",
            |v| v["vocab"][3] = v["vocab"][2].clone(),
            &["bad \"vocab\""],
        ),
        (
            "vocab_missing_pad.json",
            |v| v["vocab"][0] = "<padding>".into(),
            &["bad \"vocab\"", "<pad>"],
        ),
        (
            "vocab_missing_unk.json",
            |v| v["vocab"][1] = "<unknown>".into(),
            &["bad \"vocab\"", "<unk>"],
        ),
        (
            "vocab_size_mismatch.json",
            |v| {
                v["vocab"].as_array_mut().unwrap().pop();
            },
            &["config.vocab_size"],
        ),
    ];
    for (name, edit, fragments) in edits {
        models.push((name.into(), edited(&good, edit), fragments.to_vec()));
    }
    // Deeply nested JSON, at the top level and inside a section.
    let deep = |depth: usize| "[".repeat(depth) + &"]".repeat(depth);
    models.push((
        "deeply_nested.json".into(),
        deep(1_000_000).into_bytes(),
        vec!["model"],
    ));
    // Section bodies are replaced as text: a 100k-deep serde_json::Value would overflow the
    // test's own stack when dropped.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let replace_between = |start: &str, end: &str, with: &str| {
        let from = text.find(start).expect("section present") + start.len();
        let to = text[from..].find(end).expect("section end") + from;
        format!("{}{with}{}", &text[..from], &text[to..]).into_bytes()
    };
    models.push((
        "deeply_nested_vocab.json".into(),
        replace_between("\"vocab\":", ",\"weights\":", &deep(100_000)),
        vec!["\"vocab\""],
    ));
    let nested_section = replace_between(
        "\"training\":",
        "\n",
        &format!("{{\"history\":{}}}}}", deep(100_000)),
    );
    models.push((
        "deeply_nested_section.json".into(),
        nested_section,
        vec!["bad \"training\" section"],
    ));

    let mut cases = Cases::default();
    let test_csv = repo_file("data/test.csv");
    for (name, contents, fragments) in &models {
        let path = write(d, name, contents);
        let mut all = vec![name.as_str()];
        all.extend(fragments.iter().copied());
        cases.fails(
            &format!("predict {name}"),
            bin(d).args(["predict", "-m"]).arg(&path).arg("hi"),
            &all,
        );
        cases.fails(
            &format!("eval {name}"),
            bin(d).args(["eval", "-m"]).arg(&path).arg(&test_csv),
            &all,
        );
        cases.fails(
            &format!("tokenize {name}"),
            bin(d).args(["tokenize", "-m"]).arg(&path).arg("hi"),
            &all,
        );
        // eval --tune-threshold --store must not overwrite a bad file either.
        cases.unchanged(&format!("{name} after use"), &path, contents);
    }
    cases.fails(
        "model path is a directory",
        bin(d).args(["predict", "-m"]).arg(d).arg("hi"),
        &["cannot read model file"],
    );
    cases.fails(
        "model file missing",
        bin(d).args(["predict", "-m", "absent.json", "hi"]),
        &["absent.json", "cannot read model file"],
    );
    cases.finish("model file", 100);
}

/// Whether this process can create files in a directory without write permission (root can).
#[cfg(unix)]
fn permissions_are_enforced(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let probe = dir.join("probe");
    std::fs::create_dir(&probe).unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o500)).unwrap();
    let enforced = std::fs::write(probe.join("x"), b"x").is_err();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::remove_dir_all(&probe).unwrap();
    enforced
}

#[test]
fn output_path_problems_are_found_before_training_and_keep_the_old_model() {
    let dir = temp_dir();
    let d = dir.path();
    let (model, before) = small_model(d, "keep.json");
    let mut cases = Cases::default();
    let train_to = |out: &Path| {
        let mut cmd = bin(d);
        cmd.args(["train", "--quiet", "-o"])
            .arg(out)
            .arg(sample_train());
        cmd
    };
    cases.fails(
        "output directory does not exist",
        &mut train_to(&d.join("no/such/dir/m.json")),
        &["no/such/dir/m.json", "cannot write model file"],
    );
    cases.fails(
        "output is a directory",
        &mut train_to(d),
        &["cannot write model file", "it is a directory"],
    );
    let file = write(d, "file.txt", b"a file");
    cases.fails(
        "output parent is a file",
        &mut train_to(&file.join("m.json")),
        &["file.txt/m.json", "cannot write model file"],
    );
    cases.unchanged("output parent is a file", &file, b"a file");
    // The existing model used as a directory (a trailing slash).
    let mut slashed = model.clone().into_os_string();
    slashed.push("/");
    cases.fails(
        "output is the old model with a trailing slash",
        &mut train_to(Path::new(&slashed)),
        &["keep.json/", "cannot write model file"],
    );
    // An existing model in a read-only directory: training must refuse up front and leave it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if permissions_are_enforced(d) {
            let locked = d.join("locked");
            std::fs::create_dir(&locked).unwrap();
            let inside = locked.join("keep.json");
            std::fs::write(&inside, &before).unwrap();
            std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).unwrap();
            cases.fails(
                "no write permission",
                &mut train_to(&inside),
                &["locked/keep.json", "cannot write model file"],
            );
            // eval --store writes too, and must fail the same way.
            cases.fails(
                "eval --store without write permission",
                bin(d)
                    .args(["eval", "--tune-threshold", "accuracy", "--store", "-m"])
                    .arg(&inside)
                    .arg(repo_file("data/test.csv")),
                &["locked/keep.json", "cannot write model file"],
            );
            std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
            cases.unchanged("no write permission", &inside, &before);
        } else {
            // Running as root: a directory without write permission is still writable, so
            // this sub-case cannot fail a write and is skipped.
            eprintln!("skipping the no-write-permission case: permissions are not enforced (root)");
        }
    }
    // A failing run never leaves its temporary file behind, and never touches the old model.
    let stray: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(stray.is_empty(), "temporary files left: {stray:?}");
    cases.unchanged("after all output cases", &model, &before);
    cases.finish("output path", 4);
}

#[test]
fn large_generated_inputs_train_without_crashing() {
    let dir = temp_dir();
    let d = dir.path();
    let mut cases = Cases::default();

    // One 20 MB line (4M words in a single field), plus a few short rows of both classes.
    // Decision: it trains; the text is cut to --max-len tokens for the model.
    let mut big = String::from("text,label\n");
    big.push_str(&"word ".repeat(4_000_000));
    big.push_str(",1\n");
    for i in 0..20 {
        big.push_str(&format!("good {i},1\nbad {i},0\n"));
    }
    assert!(big.len() > 20_000_000);
    let big = write(d, "big_line.csv", big);
    cases.succeeds(
        "20 MB line",
        bin(d)
            .args(["train", "--quiet", "-o", "big.json"])
            .args(FAST)
            .arg(&big),
    );

    // 200k rows whose texts are all empty, labels of both classes. Decision: training
    // succeeds (there is nothing to learn but the base rate, which the bias learns), and the
    // model scores every text with that rate.
    let mut empty = String::from("text,label\n");
    for i in 0..200_000 {
        empty.push_str(if i % 4 == 0 { ",1\n" } else { ",0\n" });
    }
    let empty = write(d, "empty_texts.csv", empty);
    cases.succeeds(
        "200k empty texts",
        bin(d)
            .args(["train", "--quiet", "-o", "empty.json"])
            .args(FAST)
            .arg(&empty),
    );
    cases.succeeds(
        "eval on 200k empty texts",
        bin(d).args(["eval", "-m", "empty.json"]).arg(&empty),
    );
    // A 20 MB unterminated quote: found, with the line where it opens.
    let mut open_quote = String::from("text,label\ngood,1\nbad,0\n\"");
    open_quote.push_str(&"word ".repeat(4_000_000));
    let open_quote = write(d, "big_open_quote.csv", open_quote);
    cases.fails(
        "20 MB unterminated quote",
        bin(d)
            .args(["train", "--quiet", "-o", "q.json"])
            .arg(&open_quote),
        &["big_open_quote.csv, line 4:", "never closed"],
    );
    cases.finish("large input", 4);
}

/// K-class label problems: `(file under tests/bad_input/classes/, train options, fragments)`.
/// The fragments name the file and line, or the option.
const CLASS_CASES: &[(&str, &[&str], &[&str])] = &[
    (
        "one_class.csv",
        &[],
        &[
            "one_class.csv",
            "every row has label \"neutral\"",
            "at least two classes",
        ],
    ),
    (
        "empty_class_name.csv",
        &[],
        &["empty_class_name.csv, line 3:", "empty after trimming"],
    ),
    (
        "three_classes.csv",
        &["--classes", "neg,pos"],
        &[
            "three_classes.csv, line 4:",
            "\"neutral\"",
            "--classes: neg, pos",
        ],
    ),
    (
        "three_classes.csv",
        &["--classes", "neg,neutral,pos,neg"],
        &["invalid value for classes", "\"neg\" is listed twice"],
    ),
    (
        "three_classes.csv",
        &["--classes", "neg,,pos"],
        &["invalid value for classes", "name 2 of 3 is empty"],
    ),
    (
        "three_classes.csv",
        &["--pos-weight", "2"],
        &[
            "invalid value for pos-weight",
            "3 classes",
            "--class-weight",
        ],
    ),
    (
        "three_classes.csv",
        &["--class-weight", "meh=2"],
        &[
            "invalid value for class-weight",
            "\"meh\" is not a class",
            "neg, neutral, pos",
        ],
    ),
    (
        "three_classes.csv",
        &["--class-weight", "neutral"],
        &["--class-weight", "name=weight"],
    ),
    (
        "three_classes.csv",
        &["--class-weight", "neutral=0"],
        &["invalid value for class-weight", "\"neutral\" is 0"],
    ),
    (
        "one_class.csv",
        &["--class-weight", "neutral=2"],
        &["one_class.csv", "at least two classes"],
    ),
    // Binary labels take no class weights.
    (
        "../../../data/train.csv",
        &["--class-weight", "1=2"],
        &["class-weight", "binary"],
    ),
];

#[test]
fn bad_class_labels_and_options_are_named_and_keep_the_old_model() {
    let dir = temp_dir();
    let d = dir.path();
    let (model, before) = small_model(d, "keep.json");
    let mut cases = Cases::default();
    let mut on_disk: Vec<String> = std::fs::read_dir(corpus("classes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CLASS_CASES
        .iter()
        .map(|(n, _, _)| n.to_string())
        .chain(["valid_unknown_class.csv".to_string()])
        .filter(|n| !n.starts_with(".."))
        .collect();
    listed.sort();
    listed.dedup();
    assert_eq!(
        on_disk, listed,
        "tests/bad_input/classes and CLASS_CASES differ"
    );
    let train = |data: &Path| {
        let mut cmd = bin(d);
        cmd.args(["train", "--quiet", "-o"])
            .arg(&model)
            .args(FAST)
            .arg(data);
        cmd
    };
    for &(name, options, fragments) in CLASS_CASES {
        let case = format!("train {name} {}", options.join(" "));
        cases.fails(
            &case,
            train(&corpus(&format!("classes/{name}"))).args(options),
            fragments,
        );
        cases.unchanged(&case, &model, &before);
    }
    let three = corpus("classes/three_classes.csv");
    // A validation file with a label the training data does not have.
    cases.fails(
        "train --valid valid_unknown_class.csv",
        train(&three)
            .arg("--valid")
            .arg(corpus("classes/valid_unknown_class.csv")),
        &[
            "valid_unknown_class.csv, line 4:",
            "\"meh\"",
            "the classes of the training data",
            "neg, neutral, pos",
        ],
    );
    // More than limits::MAX_CLASSES distinct labels.
    let mut many = String::from("text,label\n");
    for i in 0..=1000 {
        many.push_str(&format!("text {i},class{i}\n"));
    }
    cases.fails(
        "1001 classes",
        &mut train(&write(d, "many.csv", many)),
        &["many.csv", "1001 distinct labels", "limit of 1000 classes"],
    );
    let names: Vec<String> = (0..=1000).map(|i| format!("c{i}")).collect();
    cases.fails(
        "--classes with 1001 names",
        train(&three).args(["--classes", &names.join(",")]),
        &["invalid value for classes", "limit of 1000"],
    );
    cases.unchanged("after the train cases", &model, &before);

    cases.finish("class", 14);
}

/// eval and predict of a K-class model refuse what it cannot do, by name.
#[test]
fn k_class_models_refuse_binary_only_options_and_unknown_labels() {
    let dir = temp_dir();
    let d = dir.path();
    let (model, _) = small_model(d, "binary.json");
    let three = corpus("classes/three_classes.csv");
    let mut cases = Cases::default();
    let k_model = d.join("k.json");
    cases.succeeds(
        "train three_classes.csv",
        bin(d)
            .args(["train", "--quiet", "-o"])
            .arg(&k_model)
            .args(FAST)
            .arg(&three),
    );
    let k_before = std::fs::read(&k_model).unwrap_or_default();
    cases.fails(
        "eval with an unknown class",
        bin(d)
            .args(["eval", "-m"])
            .arg(&k_model)
            .arg(corpus("classes/valid_unknown_class.csv")),
        &[
            "valid_unknown_class.csv, line 4:",
            "\"meh\"",
            "the model's classes: neg, neutral, pos",
        ],
    );
    cases.fails(
        "eval --tune-threshold of a K-class model",
        bin(d)
            .args(["eval", "--tune-threshold", "f1", "--store", "-m"])
            .arg(&k_model)
            .arg(&three),
        &["--tune-threshold", "K-class", "3 classes"],
    );
    cases.fails(
        "eval --threshold of a K-class model",
        bin(d)
            .args(["eval", "--threshold", "0.3", "-m"])
            .arg(&k_model)
            .arg(&three),
        &["--threshold", "K-class"],
    );
    cases.fails(
        "predict --threshold of a K-class model",
        bin(d)
            .args(["predict", "--threshold", "0.3", "-m"])
            .arg(&k_model)
            .arg("good"),
        &["--threshold", "K-class"],
    );
    cases.fails(
        "predict --explain-class that is not a class",
        bin(d)
            .args(["predict", "--explain", "--explain-class", "meh", "-m"])
            .arg(&k_model)
            .arg("good"),
        &["--explain-class", "\"meh\"", "neg, neutral, pos"],
    );
    cases.fails(
        "predict --top-k 0",
        bin(d)
            .args(["predict", "--top-k", "0", "-m"])
            .arg(&k_model)
            .arg("good"),
        &["--top-k"],
    );
    cases.fails(
        "predict --top-k of a binary model",
        bin(d)
            .args(["predict", "--top-k", "2", "-m"])
            .arg(&model)
            .arg("good"),
        &["--top-k", "binary"],
    );
    cases.unchanged("K-class model after eval", &k_model, &k_before);
    // K-class reports exist since 8599fd8: what was refused here now succeeds.
    cases.succeeds(
        "eval --report of a K-class model",
        bin(d)
            .args(["eval", "--report"])
            .arg(d.join("report"))
            .arg("-m")
            .arg(&k_model)
            .arg(&three),
    );
    cases.fails(
        "eval --min-macro-f1 out of range",
        bin(d)
            .args(["eval", "--min-macro-f1", "1.5", "-m"])
            .arg(&k_model)
            .arg(&three),
        &["--min-macro-f1", "1.5"],
    );
    cases.finish("K-class eval and predict", 10);
}

/// `predict` on CSV/TSV/JSON lines records: a missing column, a malformed record or options
/// that do not fit the input are refused with exit 2, naming the file, the line or column and
/// what to do; nothing panics.
#[test]
fn bad_records_for_predict_name_file_line_and_column() {
    let dir = temp_dir();
    let d = dir.path();
    let (model, _) = small_model(d, "m.json");
    let mut cases = Cases::default();
    let mut predict =
        |case: &str, name: &str, contents: &str, extra: &[&str], fragments: &[&str]| {
            let file = write(d, name, contents);
            cases.fails(
                case,
                bin(d)
                    .args(["predict", "-m"])
                    .arg(&model)
                    .arg("--file")
                    .arg(&file)
                    .args(extra),
                fragments,
            );
        };
    predict(
        "CSV without the text column",
        "reviews.csv",
        "id,review\nr1,great\n",
        &[],
        &[
            "reviews.csv: no text column named \"text\"",
            "\"id\", \"review\"",
            "--text-column",
        ],
    );
    predict(
        "CSV without a header row",
        "noheader.csv",
        "r100,a great film\n",
        &[],
        &["noheader.csv", "\"r100\", \"a great film\"", "never scored"],
    );
    predict(
        "--keep a column that is not there",
        "keep.csv",
        "id,text\nr1,great\n",
        &["--keep", "id,date"],
        &[
            "keep.csv: no column to keep named \"date\"",
            "\"id\", \"text\"",
        ],
    );
    predict(
        "CSV record with a field too many",
        "fields.csv",
        "id,text\nr1,fine\nr2,good, really\n",
        &[],
        &[
            "fields.csv, line 3",
            "expected 2 fields like the header, found 3",
            "quote",
        ],
    );
    predict(
        "CSV quote never closed",
        "quote.csv",
        "id,text\nr1,\"fine\nr2,good\n",
        &[],
        &["quote.csv, line 2", "never closed"],
    );
    predict(
        "TSV record with a tab too many",
        "tabs.tsv",
        "id\ttext\nr1\ta\tb\n",
        &[],
        &["tabs.tsv, line 2", "found 3"],
    );
    predict(
        "JSON lines record that is not an object",
        "bad.jsonl",
        "{\"text\":\"fine\"}\nfine\n",
        &[],
        &["bad.jsonl, line 2", "not a JSON object"],
    );
    predict(
        "JSON lines text that is not a string",
        "number.jsonl",
        "{\"text\":5}\n",
        &[],
        &["number.jsonl, line 1", "\"text\" holds 5, not a string"],
    );
    predict(
        "JSON lines record without the text key",
        "nokey.jsonl",
        "{\"text\":\"a\"}\n{\"body\":\"b\",\"id\":2}\n",
        &[],
        &[
            "nokey.jsonl, line 2",
            "no text key \"text\"",
            "\"body\", \"id\"",
        ],
    );
    predict(
        "--keep a prediction field's name",
        "label.csv",
        "label,text\n1,great\n",
        &["--keep", "label"],
        &[
            "--keep",
            "\"label\"",
            "prediction field",
            "--keep label=true_label",
        ],
    );
    predict(
        "--keep a column twice",
        "twice.csv",
        "id,text\nr1,great\n",
        &["--keep", "id,id"],
        &["--keep", "\"id\" is named twice"],
    );
    predict(
        "--keep with plain lines",
        "plain.txt",
        "great\n",
        &["--keep", "id"],
        &["--keep", "--input-format"],
    );
    predict(
        "--explain with records",
        "explain.csv",
        "id,text\nr1,great\n",
        &["--explain"],
        &["--explain", "plain text lines"],
    );
    predict(
        "--json with --output-format csv",
        "json.csv",
        "id,text\nr1,great\n",
        &["--json", "--output-format", "csv"],
        &["--json", "--output-format csv"],
    );
    predict(
        "--delimiter with TSV",
        "delim.tsv",
        "id\ttext\nr1\tgreat\n",
        &["--delimiter", "semicolon"],
        &["--delimiter", "tsv"],
    );
    cases.fails(
        "invalid UTF-8 in a CSV field",
        bin(d)
            .args(["predict", "-m"])
            .arg(&model)
            .arg("--file")
            .arg(write(d, "latin1b.csv", b"id,text\nr1,caf\xe9\n")),
        &["latin1b.csv, line 2", "UTF-8"],
    );
    cases.fails(
        "stdin CSV without the text column",
        bin(d)
            .args(["predict", "--input-format", "csv", "-m"])
            .arg(&model)
            .write_stdin("id,body\nr1,x\n"),
        &["<stdin>: no text column named \"text\""],
    );
    cases.fails(
        "--input-format with texts as arguments",
        bin(d)
            .args(["predict", "--input-format", "csv", "-m"])
            .arg(&model)
            .arg("id,text"),
        &["arguments", "--file"],
    );
    cases.fails(
        "--input-format that is not one",
        bin(d)
            .args(["predict", "--input-format", "xml", "-m"])
            .arg(&model)
            .arg("great"),
        &["--input-format", "lines, csv, tsv, jsonl"],
    );
    cases.finish("records for predict", 18);
}

/// `pretrain` and `train --init` given the wrong kind of file: each is refused with exit 2,
/// naming the file and what to do, and no file is written or touched.
#[test]
fn bad_corpora_and_bases_name_the_file_and_what_to_do() {
    let dir = temp_dir();
    let d = dir.path();
    let (model, before) = small_model(d, "m.json");
    let mut cases = Cases::default();
    let blank = write(d, "blank.txt", "\n\n   \n");
    let checkpoint = write(
        d,
        "m.json.ckpt",
        r#"{"format":"rnn-sentiment-checkpoint","version":2}"#,
    );
    let future = write(
        d,
        "future.json",
        String::from_utf8(before.clone())
            .unwrap()
            .replacen("\"version\":1", "\"version\":9", 1),
    );
    let pretrain = |corpus: &Path| {
        let mut cmd = bin(d);
        cmd.args(["pretrain", "-q", "-o", "base.json"]).arg(corpus);
        cmd
    };
    cases.fails(
        "pretrain on a corpus with no token",
        &mut pretrain(&blank),
        &["blank.txt", "too little to pretrain", "give more text"],
    );
    cases.fails(
        "pretrain on a model",
        &mut pretrain(&model),
        &[
            "m.json",
            "looks like an rnn-sentiment model",
            "one text per line",
        ],
    );
    let init = |base: &Path| {
        let mut cmd = bin(d);
        cmd.args(["train", "-q", "-o", "new.json", "--init"])
            .arg(base)
            .arg(sample_train());
        cmd
    };
    cases.fails(
        "--init with data",
        &mut init(&sample_train()),
        &["train.csv", "not a model"],
    );
    cases.fails(
        "--init with a checkpoint",
        &mut init(&checkpoint),
        &["m.json.ckpt", "checkpoint", "--resume"],
    );
    let lm_checkpoint = write(
        d,
        "base.json.ckpt",
        r#"{"format":"rnn-sentiment-pretrain-checkpoint","version":1}"#,
    );
    cases.fails(
        "--init with a pretraining checkpoint",
        &mut init(&lm_checkpoint),
        &["base.json.ckpt", "pretrain --resume", "train --init BASE"],
    );
    for command in [&["predict", "good"][..], &["eval"][..]] {
        let mut cmd = bin(d);
        cmd.arg(command[0])
            .arg("-m")
            .arg(&lm_checkpoint)
            .args(&command[1..]);
        if command[0] == "eval" {
            cmd.arg(sample_train());
        }
        cases.fails(
            "predict or eval with a pretraining checkpoint",
            &mut cmd,
            &[
                "base.json.ckpt",
                "pretraining checkpoint",
                "pretrain --resume",
            ],
        );
    }
    cases.fails(
        "--init with a model of another format version",
        &mut init(&future),
        &["future.json", "version 9", "reads version 1"],
    );
    cases.fails(
        "--init contradicted by an option",
        init(&model).args(["--hidden-dim", "16"]),
        &["--hidden-dim 16", "hidden_dim is 8", "m.json"],
    );
    // A base whose config claims more vocabulary entries than the limit is refused before
    // its vocabulary or weights are read.
    let mut json: serde_json::Value = serde_json::from_slice(&before).unwrap();
    json["config"]["vocab_size"] = 5_000_001.into();
    let huge = write(d, "huge.json", json.to_string());
    cases.fails(
        "--init with a base whose vocabulary exceeds the limit",
        &mut init(&huge),
        &["huge.json", "vocab_size 5000001", "5000000", "--max-vocab"],
    );
    cases.fails(
        "--extend-vocab without --init",
        bin(d)
            .args(["train", "-q", "-o", "new.json", "--extend-vocab"])
            .arg(sample_train()),
        &["--extend-vocab", "needs --init", "leave --extend-vocab out"],
    );
    cases.fails(
        "--unfreeze-epochs without --init",
        bin(d)
            .args(["train", "-q", "-o", "new.json", "--unfreeze-epochs", "2"])
            .arg(sample_train()),
        &[
            "--unfreeze-epochs",
            "needs --init",
            "leave --unfreeze-epochs out",
        ],
    );
    cases.fails(
        "--init-lr-scale without --init",
        bin(d)
            .args(["train", "-q", "-o", "new.json", "--init-lr-scale", "0.5"])
            .arg(sample_train()),
        &[
            "--init-lr-scale",
            "needs --init",
            "leave --init-lr-scale out",
        ],
    );
    let vectors = write(d, "vectors.txt", "good 0.1 0.2 0.3\nbad 0.3 0.2 0.1\n");
    cases.fails(
        "--init with --embeddings of another size",
        init(&model)
            .args(["--extend-vocab", "--embeddings"])
            .arg(&vectors),
        &[
            "vectors.txt has 3 values per word",
            "m.json",
            "E = 8",
            "give vectors of dimension 8",
        ],
    );
    cases.unchanged("the model given as a base", &model, &before);
    for out in ["base.json", "new.json"] {
        if d.join(out).exists() {
            cases.failures.push(format!("{out} was written"));
        }
    }
    cases.finish("corpus and base", 10);
}
