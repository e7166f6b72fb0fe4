//! Gzip-compressed model files: `-o NAME.gz` writes gzip whose JSON is byte for byte the
//! plain file's, every command reads it (by its magic bytes, whatever its name), the same run
//! gives the same compressed bytes, and damaged, cut-short or expanding-without-end files are
//! refused with the file and the reason named. Resuming from a gzip checkpoint is in
//! resume.rs.

use std::io::{Read, Write};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use rnn_sentiment::model_file;

use crate::common::*;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// stdout of a successful command.
fn stdout_of(cmd: &mut assert_cmd::Command) -> String {
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    stdout
}

/// A command's `--json` object without its "model" field (the path differs).
fn without_model(json: &str) -> serde_json::Value {
    let mut value: serde_json::Value = serde_json::from_str(json).unwrap();
    value.as_object_mut().unwrap().remove("model");
    value
}

#[test]
fn a_gz_model_is_gzip_of_the_same_json_and_every_command_reads_it() {
    let dir = temp_dir();
    let d = dir.path();
    let plain = train_small(d, "gru", "m.json", &[]);
    let gz = train_small(d, "gru", "m.json.gz", &[]);
    let (plain_bytes, gz_bytes) = (std::fs::read(&plain).unwrap(), std::fs::read(&gz).unwrap());
    assert!(gz_bytes.starts_with(&GZIP_MAGIC), "not gzip");
    assert!(gunzip(&gz_bytes) == plain_bytes, "the JSON inside differs");
    assert!(gz_bytes.len() * 2 < plain_bytes.len(), "{}", gz_bytes.len());

    let texts = ["I love this movie", "dull and far too long"];
    let predict = |m: &Path| stdout_of(bin(d).arg("predict").arg("-m").arg(m).args(texts));
    assert_eq!(predict(&gz), predict(&plain));
    let explain = |m: &Path| {
        stdout_of(
            bin(d)
                .args(["predict", "--explain", "-m"])
                .arg(m)
                .arg(texts[0]),
        )
    };
    assert_eq!(explain(&gz), explain(&plain));
    let tokenize = |m: &Path| stdout_of(bin(d).args(["tokenize", "-m"]).arg(m).arg(texts[1]));
    assert_eq!(tokenize(&gz), tokenize(&plain));
    let eval = |m: &Path| {
        let out = stdout_of(
            bin(d)
                .args(["eval", "--json", "-m"])
                .arg(m)
                .arg(sample("test.csv")),
        );
        without_model(&out)
    };
    assert_eq!(eval(&gz), eval(&plain));

    let inspect = |m: &Path| {
        let out = stdout_of(bin(d).args(["inspect", "--json", "-m"]).arg(m));
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    let (of_gz, of_plain) = (inspect(&gz), inspect(&plain));
    assert_eq!(of_gz["file_bytes"], gz_bytes.len() as u64);
    assert_eq!(of_gz["json_bytes"], plain_bytes.len() as u64);
    assert_eq!(of_plain["file_bytes"], of_plain["json_bytes"]);
    let text = stdout_of(bin(d).args(["inspect", "-m"]).arg(&gz));
    let sizes = format!(
        "{} bytes, {} bytes of JSON",
        gz_bytes.len(),
        plain_bytes.len()
    );
    assert!(text.contains(&sizes), "{text}");

    // Detected by its bytes, not its name: a renamed gzip file still loads.
    let renamed = d.join("renamed.json");
    std::fs::copy(&gz, &renamed).unwrap();
    assert_eq!(predict(&renamed), predict(&plain));

    // Rewriting a model in place keeps it compressed, since its name ends in .gz.
    stdout_of(
        bin(d)
            .args(["eval", "--tune-threshold", "accuracy", "--store", "-m"])
            .arg(&gz)
            .arg(sample("test.csv")),
    );
    assert!(std::fs::read(&gz).unwrap().starts_with(&GZIP_MAGIC));
}

#[test]
fn the_same_run_gives_byte_identical_gz_files() {
    let dir = temp_dir();
    let d = dir.path();
    let a = std::fs::read(train_small(d, "lstm", "a.json.gz", &["--seed", "5"])).unwrap();
    let b = std::fs::read(train_small(d, "lstm", "b.json.gz", &["--seed", "5"])).unwrap();
    assert!(a.starts_with(&GZIP_MAGIC), "not gzip");
    // No time stamp and no file name in the header: the names differ, the bytes may not.
    assert_eq!(&a[4..8], &[0, 0, 0, 0], "a time stamp in the header");
    assert!(a == b, "two runs gave different .json.gz files");
}

#[test]
fn damaged_or_cut_short_gz_models_are_named_errors() {
    let dir = temp_dir();
    let d = dir.path();
    let gz = std::fs::read(train_small(d, "rnn", "m.json.gz", &[])).unwrap();
    let cut = write(d, "cut.json.gz", &gz[..gz.len() / 2]);
    fails_with(
        bin(d).args(["predict", "-m"]).arg(&cut).arg("fine"),
        &[
            "cannot read model file",
            "cut.json.gz",
            "gzip data is cut short",
            "interrupted copy",
        ],
    );
    let mut flipped = gz.clone();
    // Deflate data past the JSON's first block, so the start still reads.
    let at = gz.len() * 3 / 4;
    flipped[at] ^= 0xff;
    let damaged = write(d, "damaged.json.gz", &flipped);
    fails_with(
        bin(d).args(["predict", "-m"]).arg(&damaged).arg("fine"),
        &["damaged.json.gz", "gzip data is"],
    );
    // Only the header: nothing to decompress.
    let header_only = write(d, "header.json.gz", &gz[..10]);
    fails_with(
        bin(d).args(["inspect", "-m"]).arg(&header_only),
        &["header.json.gz", "gzip data is cut short"],
    );
    let checkpoint = write(d, "m.json.ckpt.gz", &gz[..gz.len() / 3]);
    fails_with(
        bin(d)
            .args(["train", "--resume"])
            .arg(&checkpoint)
            .arg(sample("train.csv")),
        &["checkpoint", "m.json.ckpt.gz", "gzip data is cut short"],
    );
}

/// A gzip bomb: a few kilobytes that expand past the limit. The limit is on the decompressed
/// text (what is held in memory), and the read stops there. Read with a 1 MiB limit: the real
/// ones (4 GiB for a model, 8 GiB for a checkpoint) take as long to reach as a real file.
#[test]
fn a_gz_file_that_expands_past_the_limit_is_refused_at_the_limit() {
    let dir = temp_dir();
    let mut json = b"{\"format\": \"rnn-sentiment\", \"vocab\": [".to_vec();
    json.resize(16 << 20, b' ');
    let bomb = write(dir.path(), "bomb.json.gz", gzip(&json));
    let size = std::fs::metadata(&bomb).unwrap().len();
    assert!(size < 50_000, "{size}");
    let e = model_file::read_file(&bomb, 1 << 20, "model file")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bomb.json.gz")
            && e.contains("model file")
            && e.contains("decompressed content is larger than the limit of 1048576 bytes"),
        "{e}"
    );
    // The same text within the limit reads whole.
    let small = write(dir.path(), "small.json.gz", gzip(&json[..1 << 20]));
    assert_eq!(
        model_file::read_file(&small, 1 << 20, "model file")
            .unwrap()
            .len(),
        1 << 20
    );
    // Zeros (`head -c 1G /dev/zero | gzip`) are not JSON: refused after the first block.
    let zeros = write(dir.path(), "zeros.json.gz", gzip(&vec![0u8; 16 << 20]));
    let e = model_file::read_file(&zeros, 1 << 30, "model file")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not valid JSON (it starts with byte 0x00)"),
        "{e}"
    );
    fails_with(
        bin(dir.path())
            .args(["predict", "-m"])
            .arg(&zeros)
            .arg("fine"),
        &["zeros.json.gz is not an rnn-sentiment model file"],
    );
}

#[test]
fn gzip_mix_ups_get_the_usual_hints() {
    let dir = temp_dir();
    let d = dir.path();
    let model = train_small(d, "gru", "m.json.gz", &[]);
    // A compressed model given as data is named as a model.
    fails_with(
        bin(d).arg("eval").arg(&model),
        &[
            "m.json.gz looks like an rnn-sentiment model file",
            "did you mean -m",
        ],
    );
    fails_with(
        bin(d).arg("train").arg(&model),
        &["looks like an rnn-sentiment model file"],
    );
    fails_with(
        bin(d).arg("predict").arg("-m").arg(&model).arg("m.json.gz"),
        &["is an rnn-sentiment model file, given as a text to score"],
    );
    // Compressed data given as data says to decompress it; given as a model, that it is data.
    let csv = std::fs::read(sample("test.csv")).unwrap();
    let data = write(d, "test.csv.gz", gzip(&csv));
    fails_with(
        bin(d).args(["eval", "-m"]).arg(&model).arg(&data),
        &["test.csv.gz is gzip-compressed", "gunzip -k", "zcat"],
    );
    fails_with(
        bin(d).args(["predict", "-m"]).arg(&data).arg("fine"),
        &[
            "looks like a CSV/text file, not a model",
            "zcat",
            "rnn-sentiment train -",
        ],
    );
}
