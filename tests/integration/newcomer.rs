//! What a newcomer trips over (issue 15), each through the real binary: a model given where a
//! checkpoint or a text is expected, `-q` that still printed, a single-dash long option, and
//! the README's install command.

use std::path::Path;

use crate::common::*;

/// Options that make a training run take a fraction of a second.
const FAST: [&str; 6] = ["--epochs", "1", "--embed-dim", "8", "--hidden-dim", "8"];

/// A small model at `dir/name`.
fn small_model(dir: &Path, name: &str) {
    let (code, _, stderr) = run(bin(dir)
        .args(["train", "-q"])
        .args(FAST)
        .args(["-o", name])
        .arg(sample("train.csv")));
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_model_given_to_resume_is_named_as_a_model() {
    let dir = temp_dir();
    let d = dir.path();
    small_model(d, "m.json");
    let (code, _, stderr) = run(bin(d)
        .args(["train", "-q", "--resume", "m.json", "-o", "other.json"])
        .arg(sample("train.csv")));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("m.json") && stderr.contains("is a model file, not a training checkpoint"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("unknown field"),
        "serde internals: {stderr}"
    );
    assert!(!d.join("other.json").exists());
}

#[test]
fn a_model_file_given_as_a_text_is_refused_with_the_hint() {
    let dir = temp_dir();
    let d = dir.path();
    small_model(d, "mr.json");
    small_model(d, "model.json");
    for command in ["predict", "tokenize"] {
        let (code, stdout, stderr) = run(bin(d).args([command, "mr.json", "I love it"]));
        assert_eq!(code, 2, "{command}: {stdout} {stderr}");
        assert!(stderr.contains("did you mean -m mr.json?"), "{stderr}");
        assert!(
            stdout.is_empty(),
            "{command} scored the file name: {stdout}"
        );
    }
    // A text that only looks like a file name is still a text.
    let (code, stdout, stderr) = run(bin(d).args(["predict", "no-such-file.json"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 1);
}

#[test]
fn quiet_training_prints_nothing_but_json_when_asked() {
    let dir = temp_dir();
    let d = dir.path();
    let train = |extra: &[&str]| {
        run(bin(d)
            .args(["train", "-q"])
            .args(FAST)
            .args(extra)
            .arg(sample("train.csv")))
    };
    let (code, stdout, stderr) = train(&["-o", "q.json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!((stdout.as_str(), stderr.as_str()), ("", ""));
    assert!(d.join("q.json").exists());
    let (code, stdout, stderr) = train(&["-o", "j.json", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr, "");
    let summary: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert_eq!(summary["model"], "j.json");
}

#[test]
fn a_single_dash_long_option_is_caught() {
    let dir = temp_dir();
    let d = dir.path();
    for (args, meant) in [
        (&["predict", "-model", "posneg.json", "hi"][..], "--model"),
        (&["train", "-epochs", "3", "data.csv"][..], "--epochs"),
        (&["eval", "-threads=2", "x.csv"][..], "--threads=2"),
    ] {
        let (code, _, stderr) = run(bin(d).args(args));
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("did you mean {meant}?")),
            "{args:?}: {stderr}"
        );
    }
    // Short options and texts after `--` are not long options.
    small_model(d, "model.json");
    let (code, _, stderr) = run(bin(d).args(["predict", "-m", "model.json", "--", "-model"]));
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn the_readme_installs_with_the_locked_versions() {
    let readme = std::fs::read_to_string(repo_file("README.md")).unwrap();
    for line in readme.lines().filter(|l| l.contains("cargo install")) {
        assert!(line.contains("--locked"), "README: {line}");
    }
    assert!(readme.contains("cargo install --locked --path ."));
    assert!(
        readme.contains("the first run builds the tool"),
        "the README should say the first command builds first"
    );
}

#[test]
fn missing_and_mistaken_files_say_what_they_are_and_what_to_do() {
    let dir = temp_dir();
    let d = dir.path();
    std::fs::create_dir(d.join("folder")).unwrap();
    std::fs::write(
        d.join("config.json"),
        r#"{"architectures": ["Bert"], "hidden_size": 8}"#,
    )
    .unwrap();
    std::fs::write(d.join("c.csv"), "review,stars\ngood,1\n").unwrap();
    let cases: [(&[&str], &[&str]); 5] = [
        (
            &["predict", "I love this"],
            &[
                "cannot read model file model.json: there is no such file",
                "rnn-sentiment train DATA -o model.json",
                "-m FILE",
            ],
        ),
        (
            &["predict", "-m", "folder", "hi"],
            &["model file folder: it is a directory, not a model file"],
        ),
        (
            &["train", "folder"],
            &["data file folder: it is a directory; give a CSV or TSV file"],
        ),
        (
            &["predict", "-m", "config.json", "hi"],
            &[
                "this JSON file is not an rnn-sentiment model",
                "rnn-sentiment train",
            ],
        ),
        (
            &["train", "c.csv"],
            &["no text column named \"text\" and no label column named \"label\""],
        ),
    ];
    for (args, fragments) in cases {
        let (code, _, stderr) = run(bin(d).args(args));
        assert_eq!(code, 2, "{args:?}: {stderr}");
        for f in fragments {
            assert!(stderr.contains(f), "{args:?}: lacks {f:?}: {stderr}");
        }
        assert!(
            !stderr.contains("os error"),
            "{args:?}: a raw OS error: {stderr}"
        );
    }
}

#[test]
fn train_and_eval_read_csv_from_stdin_for_a_dash() {
    let dir = temp_dir();
    let d = dir.path();
    let data = std::fs::read(sample("train.csv")).unwrap();
    let (code, _, stderr) = run(bin(d)
        .args(["train", "-", "-o", "piped.json"])
        .args(FAST)
        .arg("-q")
        .write_stdin(data.clone()));
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = run(bin(d)
        .arg("train")
        .arg(sample("train.csv"))
        .args(["-o", "file.json"])
        .args(FAST)
        .arg("-q"));
    assert_eq!(code, 0, "{stderr}");
    // The same rows give the same model, whichever way they came in.
    let piped = std::fs::read(d.join("piped.json")).unwrap();
    let file = std::fs::read(d.join("file.json")).unwrap();
    assert_eq!(piped, file, "train - and train FILE differ");
    let test = std::fs::read(sample("test.csv")).unwrap();
    let (code, stdout, stderr) = run(bin(d)
        .args(["eval", "--json", "-m", "piped.json", "-"])
        .write_stdin(test));
    assert_eq!(code, 0, "{stderr}");
    let metrics: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(metrics["count"], 120);
}

#[test]
fn pretrained_vectors_set_the_embedding_size_and_report_coverage_first() {
    let dir = temp_dir();
    let d = dir.path();
    // Six values per word, for words of the sample data; --embed-dim is not given.
    let words = ["the", "a", "movie", "good", "bad", "film", "great", "and"];
    let vectors: String = words
        .iter()
        .map(|w| format!("{w} 0.1 0.2 -0.3 0.4 0.05 -0.6\n"))
        .collect();
    std::fs::write(d.join("vec6.txt"), vectors).unwrap();
    let (code, _, stderr) = run(bin(d)
        .args(["train", "--epochs", "1", "--hidden-dim", "8"])
        .args(["--embeddings", "vec6.txt", "-o", "e.json"])
        .arg(sample("train.csv")));
    assert_eq!(code, 0, "{stderr}");
    let (_, stdout, _) = run(bin(d).args(["inspect", "--json", "-m", "e.json"]));
    let info: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(info["embed_dim"], 6, "the vectors' size");
    // The coverage is said before training starts, not after it.
    let coverage = stderr
        .find("pretrained vectors vec6.txt")
        .expect("coverage line");
    let first_epoch = stderr.find("epoch   1").expect("epoch line");
    assert!(coverage < first_epoch, "{stderr}");
    // A size asked for still wins, and a mismatch is still an error.
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
        .args(["--embeddings", "vec6.txt", "-o", "f.json"])
        .arg(sample("train.csv")));
    assert_eq!(code, 2, "{stderr}");
}

/// The model file as JSON.
fn model_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("model file");
    serde_json::from_str(&text).expect("model JSON")
}

#[test]
fn on_off_options_are_flags_with_negations() {
    let dir = temp_dir();
    let d = dir.path();
    let train = |name: &str, extra: &[&str]| {
        let (code, _, stderr) = run(bin(d)
            .args(["train", "-q"])
            .args(FAST)
            .args(extra)
            .args(["-o", name])
            .arg(sample("train.csv")));
        assert_eq!(code, 0, "{extra:?}: {stderr}");
        model_json(&d.join(name))
    };
    // A switch directly before the data path, as the README lists it.
    let on = train("on.json", &["--no-lowercase", "--bidirectional"]);
    assert_eq!(on["config"]["bidirectional"], true);
    assert_eq!(on["tokenizer"]["lowercase"], false);
    let off = train("off.json", &["--no-bidirectional", "--no-punctuation"]);
    assert_eq!(off["config"]["bidirectional"], false);
    assert_eq!(off["tokenizer"]["punctuation"], false);
    // The last one given wins.
    let last = train("last.json", &["--no-bidirectional", "--bidirectional"]);
    assert_eq!(last["config"]["bidirectional"], true);
    // Config keys stay booleans; a flag on the command line wins over the file.
    write(d, "uni.toml", "bidirectional = false\nlowercase = false\n");
    let from_file = train("file.json", &["--config", "uni.toml"]);
    assert_eq!(from_file["config"]["bidirectional"], false);
    assert_eq!(from_file["tokenizer"]["lowercase"], false);
    let over = train(
        "over.json",
        &["--config", "uni.toml", "--bidirectional", "--lowercase"],
    );
    assert_eq!(over["config"]["bidirectional"], true);
    assert_eq!(over["tokenizer"]["lowercase"], true);
    // The old spelling is refused with the new one, never read as data or as "on".
    for old in [["--bidirectional", "false"], ["--lowercase", "true"]] {
        let (code, _, stderr) = run(bin(d)
            .args(["train", "-q"])
            .args(old)
            .arg(sample("train.csv")));
        assert_eq!(code, 2, "{stderr}");
        let switch = old[0];
        assert!(
            stderr.contains(&format!("{switch} is a flag and takes no value"))
                && stderr.contains(&format!("--no-{}", &switch[2..])),
            "{stderr}"
        );
    }
    // `no_` forms are command-line spellings, not config keys.
    write(d, "neg.toml", "no_bidirectional = true\n");
    let (code, _, stderr) = run(bin(d)
        .args(["train", "-q", "--config", "neg.toml"])
        .arg(sample("train.csv")));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no_bidirectional"), "{stderr}");
}

/// The interrupted run's hint is a command that works when pasted: the checkpoint records
/// the data, the output and every option; an option given again that differs is named with
/// both values; `inspect` reads the checkpoint.
#[cfg(unix)]
#[test]
fn the_resume_hint_is_a_command_that_works_when_pasted() {
    let dir = temp_dir();
    let d = dir.path();
    write(d, "big.csv", synthetic_csv(6000));
    let options = ["--epochs", "4", "--patience", "0", "--hidden-dim", "16"];
    let options = [
        &options[..],
        &["--no-bidirectional", "-o", "mr2.json", "big.csv"],
    ]
    .concat();
    let (code, _, stderr) = run(bin(d).args(["train", "-q", "--seed", "3"]).args(&options));
    assert_eq!(code, 0, "{stderr}");
    std::fs::rename(d.join("mr2.json"), d.join("reference.json")).unwrap();
    // Another model where a resumed run without -o used to write.
    write(d, "model.json", "another model");

    let (code, seen) = interrupt_in_second_epoch(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("rnn-sentiment"))
            .current_dir(d)
            .args(["train", "--seed", "3"])
            .args(&options),
    );
    assert_eq!(code, Some(130), "{seen}");
    let hint = seen
        .lines()
        .find_map(|l| l.strip_prefix("continue with: "))
        .unwrap_or_else(|| panic!("no hint: {seen}"));
    assert_eq!(hint, "rnn-sentiment train --resume mr2.json.ckpt");

    // inspect reads the checkpoint and gives the same command.
    let (code, stdout, stderr) = run(bin(d).args(["inspect", "-m", "mr2.json.ckpt"]));
    assert_eq!(code, 0, "{stderr}");
    for fact in [
        "interrupted training run",
        "epoch 1 ",
        "big.csv",
        "mr2.json, written",
        hint,
    ] {
        assert!(stdout.contains(fact), "{fact:?} missing: {stdout}");
    }
    let (_, stdout, _) = run(bin(d).args(["inspect", "--json", "-m", "mr2.json.ckpt"]));
    let facts: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(facts["resume_command"], hint);
    assert_eq!(facts["options"]["epochs"], 4);
    assert_eq!(facts["epoch"], 2);

    // An option given again that differs is named with both values; nothing is written.
    for (again, named) in [
        (vec!["--epochs", "9"], ["--epochs 9", "--epochs 4"]),
        (
            vec!["--bidirectional"],
            ["--bidirectional", "--no-bidirectional"],
        ),
    ] {
        let (code, _, stderr) = run(bin(d)
            .args(["train", "--resume", "mr2.json.ckpt"])
            .args(&again));
        assert_eq!(code, 2, "{stderr}");
        let message = format!(
            "{} differs from the interrupted run's {}",
            named[0], named[1]
        );
        assert!(stderr.contains(&message), "{stderr}");
        assert!(!d.join("mr2.json").exists());
    }
    // From another directory, the relative paths would name other files: refused, with the
    // command to run from the right one.
    std::fs::create_dir(d.join("elsewhere")).unwrap();
    let (code, _, stderr) =
        run(bin(&d.join("elsewhere")).args(["train", "--resume", "../mr2.json.ckpt"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("resume from there: cd "), "{stderr}");

    // The hint, pasted word for word, finishes the run into the run's own output.
    let words: Vec<&str> = hint.split(' ').collect();
    assert_eq!(words[0], "rnn-sentiment");
    let (code, _, stderr) = run(bin(d).args(&words[1..]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        std::fs::read(d.join("model.json")).unwrap(),
        b"another model"
    );
    assert!(
        std::fs::read(d.join("mr2.json")).unwrap()
            == std::fs::read(d.join("reference.json")).unwrap(),
        "the resumed model differs from the uninterrupted run's"
    );
    assert!(!d.join("mr2.json.ckpt").exists());
}

#[test]
fn a_checkpoint_given_as_a_model_says_what_it_is() {
    let dir = temp_dir();
    let d = dir.path();
    write(
        d,
        "m.json.ckpt",
        "{\"format\": \"rnn-sentiment-checkpoint\", \"version\": 2}",
    );
    let (code, stdout, stderr) = run(bin(d).args(["predict", "-m", "m.json.ckpt", "fine"]));
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("is a training checkpoint (an interrupted run), not a model")
            && stderr.contains("rnn-sentiment train --resume m.json.ckpt"),
        "{stderr}"
    );
}

/// The sample data with other column names and `;` between fields.
fn renamed_columns_csv() -> String {
    let text = std::fs::read_to_string(sample("train.csv")).unwrap();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let mut out = csv::WriterBuilder::new()
        .delimiter(b';')
        .from_writer(Vec::new());
    out.write_record(["review", "stars"]).unwrap();
    for row in rows.records() {
        out.write_record(&row.unwrap()).unwrap();
    }
    String::from_utf8(out.into_inner().unwrap()).unwrap()
}

#[test]
fn eval_reads_the_columns_the_model_was_trained_on_and_a_config_file() {
    let dir = temp_dir();
    let d = dir.path();
    write(d, "reviews.csv", renamed_columns_csv());
    let config = "text_column = \"review\"\nlabel_column = \"stars\"\ndelimiter = \";\"\n";
    write(d, "columns.toml", config);
    let (code, _, stderr) = run(bin(d)
        .args(["train", "-q", "--config", "columns.toml", "-o", "m.json"])
        .args(FAST)
        .arg("reviews.csv"));
    assert_eq!(code, 0, "{stderr}");
    // The model remembers how its data was read: eval on the same file needs no flags.
    let (code, stdout, stderr) =
        run(bin(d).args(["eval", "--json", "-m", "m.json", "reviews.csv"]));
    assert_eq!(code, 0, "{stderr}");
    let metrics: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(metrics["count"], 480);
    let (_, stdout, _) = run(bin(d).args(["inspect", "-m", "m.json"]));
    assert!(
        stdout.contains("input columns  text \"review\", label \"stars\", delimiter ';'"),
        "{stdout}"
    );
    // A model trained on the default columns reads the same file through --config.
    small_model(d, "plain.json");
    let (code, _, stderr) = run(bin(d).args(["eval", "-m", "plain.json", "reviews.csv"]));
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = run(bin(d).args([
        "eval",
        "-m",
        "plain.json",
        "--config",
        "columns.toml",
        "reviews.csv",
    ]));
    assert_eq!(code, 0, "{stderr}");
    // The command line wins over both.
    let (code, _, stderr) = run(bin(d)
        .args([
            "eval",
            "-m",
            "m.json",
            "--text-column",
            "stars",
            "--label-column",
            "review",
        ])
        .arg("reviews.csv"));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("reviews.csv"), "{stderr}");
    // A key eval does not know is still refused by name, as train refuses it.
    write(d, "typo.toml", "text_colum = \"review\"\n");
    let (code, _, stderr) = run(bin(d).args([
        "eval",
        "-m",
        "m.json",
        "--config",
        "typo.toml",
        "reviews.csv",
    ]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("text_colum"), "{stderr}");
}
