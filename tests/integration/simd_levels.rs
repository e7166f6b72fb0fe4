//! The same model on every x86-64 CPU: training, `predict` and `eval` run at each level of
//! vector instructions this CPU has (AVX-512, AVX2 + FMA, the SSE2 baseline), capped with
//! `RNN_SENTIMENT_SIMD` as a CPU without the wider ones would run them, give the same model
//! bytes, probabilities and metrics.

use std::path::Path;

use rnn_sentiment::kernels::simd::{SimdLevel, VARIABLE};
use serde_json::Value;

use crate::common::{bin, fails_with, run, sample, temp_dir};

/// The glibc tunable that hides from the C library's own choices of code (memcpy, and the
/// math functions, which round differently with FMA) what a CPU at `level` lacks, so that a
/// run here takes the C library's paths of such a CPU too.
fn glibc_hwcaps(level: SimdLevel) -> &'static str {
    match level {
        SimdLevel::Avx512 => "",
        SimdLevel::Avx2 => "glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ",
        SimdLevel::Baseline => {
            "glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX2,-FMA,-BMI1,-BMI2,-LZCNT"
        }
    }
}

/// The binary, run in `dir` at `level`.
fn at(dir: &Path, level: SimdLevel) -> assert_cmd::Command {
    let mut cmd = bin(dir);
    cmd.env(VARIABLE, level.name())
        .env("GLIBC_TUNABLES", glibc_hwcaps(level));
    cmd
}

/// Runs `cmd` and returns its stdout, asserting success.
fn stdout_of(cmd: &mut assert_cmd::Command) -> String {
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, 0, "{stderr}");
    stdout
}

/// Architectures whose products have full, 8-wide and single-column tiles at every level
/// (E = 67, H = 21, 4H = 84 columns against tiles of 64 or 16), each cell's gate code, and
/// both directions with max and mean pooling; and a K-class head (softmax, its log-sum-exp and
/// cross-entropy gradient) on the same data, with class weights.
const MODELS: [(&str, &[&str]); 4] = [
    ("lstm", &["--cell", "lstm", "--pooling", "last"]),
    (
        "gru",
        &[
            "--cell",
            "gru",
            "--bidirectional",
            "--pooling",
            "max",
            "--layers",
            "2",
        ],
    ),
    (
        "rnn",
        &["--cell", "rnn", "--pooling", "mean", "--dropout", "0.2"],
    ),
    (
        "k-class",
        &[
            "--cell",
            "lstm",
            "--classes",
            "1,0",
            "--class-weight",
            "0=1.5",
        ],
    ),
];

#[test]
fn every_simd_level_trains_the_same_bytes_and_scores_the_same() {
    let levels = SimdLevel::supported();
    let dir = temp_dir();
    // Every sample text (each file's lines, header included, are texts to predict): a
    // probability is printed to 16 digits, so a last-bit difference anywhere shows.
    let texts = dir.path().join("texts.txt");
    let mut all = std::fs::read(sample("train.csv")).unwrap();
    all.extend(std::fs::read(sample("test.csv")).unwrap());
    std::fs::write(&texts, all).unwrap();
    for (name, options) in MODELS {
        let model_at = |level: SimdLevel| dir.path().join(format!("{name}-{level}.json"));
        let bytes: Vec<Vec<u8>> = levels
            .iter()
            .map(|&level| {
                let train = stdout_of(
                    at(dir.path(), level)
                        .args(["train", "--json", "--quiet", "--epochs", "2"])
                        .args(["--embed-dim", "67", "--hidden-dim", "21", "-o"])
                        .arg(model_at(level))
                        .args(options)
                        .arg(sample("train.csv")),
                );
                // The cap took effect: a level not reached would make the test vacuous.
                let summary: Value = serde_json::from_str(train.trim()).expect("a JSON object");
                assert_eq!(summary["simd"], level.name(), "{name}");
                assert_eq!(summary.get("classes").is_some(), name == "k-class");
                std::fs::read(model_at(level)).unwrap()
            })
            .collect();
        for (level, other) in levels.iter().zip(&bytes).skip(1) {
            assert!(
                *other == bytes[0],
                "{name}: the model trained at {level} differs from the one at {}",
                levels[0]
            );
        }
        // One model file scored at every level: `predict --json` and `eval --json` print the
        // same text (probabilities to the last digit, metrics, log loss).
        let model = model_at(levels[0]);
        let outputs: Vec<(String, String)> = levels
            .iter()
            .map(|&level| {
                let predict = stdout_of(
                    at(dir.path(), level)
                        .args(["predict", "--json", "-m"])
                        .arg(&model)
                        .arg("--file")
                        .arg(&texts),
                );
                let eval = stdout_of(
                    at(dir.path(), level)
                        .args(["eval", "--json", "-m"])
                        .arg(&model)
                        .arg(sample("test.csv")),
                );
                (predict, eval)
            })
            .collect();
        assert!(
            outputs[0].0.lines().count() > 600,
            "{name}: {}",
            outputs[0].0
        );
        for (level, other) in levels.iter().zip(&outputs).skip(1) {
            assert_eq!(other.0, outputs[0].0, "{name}: predict at {level}");
            assert_eq!(other.1, outputs[0].1, "{name}: eval at {level}");
        }
    }
}

#[test]
fn an_unknown_simd_level_stops_every_command_with_the_allowed_values() {
    let dir = temp_dir();
    for value in ["avx1024", "sse2", "AVX-512"] {
        fails_with(
            bin(dir.path())
                .env(VARIABLE, value)
                .args(["predict", "a fine film"]),
            &[
                "RNN_SENTIMENT_SIMD",
                &format!("{value:?}"),
                "avx512, avx2, baseline",
            ],
        );
    }
    // Training stops before it reads anything, and leaves no model.
    fails_with(
        bin(dir.path())
            .env(VARIABLE, "fast")
            .args(["train", "--quiet", "-o", "m.json"])
            .arg(sample("train.csv")),
        &["RNN_SENTIMENT_SIMD=\"fast\""],
    );
    assert!(!dir.path().join("m.json").exists());
    // A level this CPU lacks is refused too, naming the ones it has.
    if let Some(&missing) = SimdLevel::ALL
        .iter()
        .find(|l| !SimdLevel::supported().contains(l))
    {
        fails_with(
            bin(dir.path())
                .env(VARIABLE, missing.name())
                .args(["predict", "a fine film"]),
            &["this CPU lacks", missing.name()],
        );
    }
}

/// The same training on emulated older CPUs, when qemu's user-mode emulator is installed
/// (`apt-get install qemu-user`; skipped otherwise): Haswell (AVX2 + FMA, no AVX-512) and
/// Nehalem (no AVX at all). Unlike the cap, an emulated CPU also steers code that checks the
/// CPU itself, the C library's and any other crate's, as another machine would: the `gemm`
/// crate and glibc's math functions made this test fail on Nehalem before.
#[test]
fn emulated_older_cpus_train_the_same_bytes() {
    let Some(qemu) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("qemu-x86_64"))
            .find(|path| path.is_file())
    }) else {
        eprintln!("skipped: no qemu-x86_64 on PATH (apt-get install qemu-user)");
        return;
    };
    let dir = temp_dir();
    let binary = assert_cmd::cargo::cargo_bin("rnn-sentiment");
    // (emulated CPU, level the binary should find there); None: this machine, no emulator.
    let cpus = [
        (None, None),
        (Some("Haswell"), Some("avx2")),
        (Some("Nehalem"), Some("baseline")),
    ];
    let bytes: Vec<Vec<u8>> = cpus
        .iter()
        .map(|&(cpu, level)| {
            let model = dir.path().join(format!("{}.json", cpu.unwrap_or("native")));
            let mut cmd = match cpu {
                Some(cpu) => {
                    let mut cmd = assert_cmd::Command::new(&qemu);
                    cmd.args(["-cpu", cpu]).arg(&binary);
                    cmd
                }
                None => assert_cmd::Command::new(&binary),
            };
            let train = stdout_of(
                cmd.current_dir(dir.path())
                    .env_remove(VARIABLE)
                    .args([
                        "train", "--json", "--quiet", "--cell", "lstm", "--epochs", "2",
                    ])
                    .args(["--embed-dim", "16", "--hidden-dim", "16", "-o"])
                    .arg(&model)
                    .arg(sample("train.csv")),
            );
            let summary: Value = serde_json::from_str(train.trim()).expect("a JSON object");
            if let Some(level) = level {
                assert_eq!(summary["simd"], level, "the emulated {cpu:?}");
            }
            std::fs::read(&model).unwrap()
        })
        .collect();
    for ((cpu, _), other) in cpus.iter().zip(&bytes).skip(1) {
        assert!(
            *other == bytes[0],
            "the model trained on an emulated {cpu:?} differs"
        );
    }
}
