//! Hardening, second round (issue 13), through the real binary: outputs that equal inputs,
//! tampered checkpoints, planted temporary-file links, outputs that are not regular files, an
//! unwritable output found before training, full and closed standard streams, unbounded sizes
//! (batch, epochs, threads, config keys, endless inputs) and misleading messages.
//!
//! Every process runs under a hang guard (killed after [`GUARD`], which fails the case), and
//! every case that could grow memory without bound runs under `ulimit -v` ([`MEMORY_KB`]), so a
//! regression fails the test instead of eating the machine. Nothing here writes to a device:
//! `/dev/zero` and `/dev/full` are used only as inputs or as standard streams. Each test
//! collects every failing case and reports them together.
#![cfg(target_os = "linux")]

use std::collections::BTreeSet;
use std::ffi::CString;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, FileTypeExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

use crate::common::{sample, temp_dir, write};

/// A process still running after this long is killed and its case fails.
const GUARD: Duration = Duration::from_secs(60);

/// `ulimit -v` for cases whose broken form grows memory without bound (KiB).
const MEMORY_KB: &str = "4000000";

/// Small, fast model options (one epoch).
const FAST: [&str; 8] = [
    "--epochs",
    "1",
    "--embed-dim",
    "8",
    "--hidden-dim",
    "8",
    "--cell",
    "gru",
];

/// The same without the epoch count.
const DIMS: [&str; 6] = ["--embed-dim", "8", "--hidden-dim", "8", "--cell", "gru"];

/// Options of the interrupted run that makes the shared checkpoint, and of every resume from
/// it: one text per batch and one thread, so an epoch takes long enough to interrupt reliably
/// (about 50 ms), yet the whole run is short.
const CK_OPTS: [&str; 16] = [
    "--epochs",
    "10",
    "--patience",
    "0",
    "--embed-dim",
    "8",
    "--hidden-dim",
    "8",
    "--cell",
    "gru",
    "--batch-size",
    "1",
    "--threads",
    "1",
    "--seed",
    "5",
];

fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_rnn-sentiment")
}

/// The binary, run in `dir`.
fn cli(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("rnn-sentiment").expect("binary built");
    cmd.current_dir(dir);
    cmd
}

/// The binary, run in `dir` under `ulimit -v MEMORY_KB` (bash execs it: same process id).
fn limited(dir: &Path) -> Command {
    let mut cmd = Command::new("bash");
    cmd.current_dir(dir)
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_KB}; exec \"$@\""))
        .arg("_")
        .arg(exe());
    cmd
}

/// Where a standard output stream of the child goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sink {
    /// A pipe that is read to the end.
    Capture,
    /// A pipe whose reading end is closed right after the spawn.
    Closed,
    /// `/dev/full` (every write fails with ENOSPC).
    Full,
}

/// What the child reads on stdin.
enum Input {
    Null,
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// How one process ended.
struct Out {
    code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    stdout: Vec<u8>,
    stderr: String,
}

impl Out {
    fn new(status: ExitStatus, timed_out: bool, stdout: Vec<u8>, stderr: String) -> Self {
        Out {
            code: status.code(),
            signal: status.signal(),
            timed_out,
            stdout,
            stderr,
        }
    }

    fn describe(&self) -> String {
        let how = if self.timed_out {
            format!("killed after {} s (hang guard)", GUARD.as_secs())
        } else if let Some(s) = self.signal {
            format!("killed by signal {s}")
        } else {
            format!("exit {}", self.code.unwrap_or(-1))
        };
        format!("{how}; stderr: {}", self.stderr.trim_end())
    }
}

/// Waits for `child`, killing it after `limit`; returns its status and whether it was killed.
fn wait_guarded(child: &mut Child, limit: Duration) -> (ExitStatus, bool) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            return (status, false);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            return (child.wait().expect("wait for the killed child"), true);
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn reader(stream: Option<impl Read + Send + 'static>) -> Option<thread::JoinHandle<Vec<u8>>> {
    stream.map(|mut s| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = s.read_to_end(&mut bytes);
            bytes
        })
    })
}

fn sink(kind: Sink) -> Stdio {
    match kind {
        Sink::Capture | Sink::Closed => Stdio::piped(),
        Sink::Full => Stdio::from(
            fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .expect("open /dev/full"),
        ),
    }
}

/// Runs `cmd` under the hang guard with the given streams.
fn run_with(cmd: &mut Command, stdin: Input, stdout: Sink, stderr: Sink) -> Out {
    cmd.stdin(match &stdin {
        Input::Null => Stdio::null(),
        Input::Bytes(_) => Stdio::piped(),
        Input::File(path) => Stdio::from(File::open(path).expect("open the stdin file")),
    })
    .stdout(sink(stdout))
    .stderr(sink(stderr));
    let mut child = cmd.spawn().expect("spawn the binary");
    let out_thread = if stdout == Sink::Closed {
        drop(child.stdout.take());
        None
    } else {
        reader(child.stdout.take())
    };
    let err_thread = if stderr == Sink::Closed {
        drop(child.stderr.take());
        None
    } else {
        reader(child.stderr.take())
    };
    if let (Input::Bytes(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // The child may stop reading early; a broken pipe here is its business.
        thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    let (status, timed_out) = wait_guarded(&mut child, GUARD);
    let stdout = out_thread.map(|t| t.join().unwrap()).unwrap_or_default();
    let stderr = err_thread.map(|t| t.join().unwrap()).unwrap_or_default();
    Out::new(
        status,
        timed_out,
        stdout,
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// Runs `cmd` under the hang guard, stdin empty, stdout and stderr captured.
fn run(cmd: &mut Command) -> Out {
    run_with(cmd, Input::Null, Sink::Capture, Sink::Capture)
}

/// Runs commands at the same time (each under the hang guard), so cases that may hang cost
/// one guard period in all.
fn run_parallel(cmds: Vec<Command>) -> Vec<Out> {
    thread::scope(|s| {
        let handles: Vec<_> = cmds
            .into_iter()
            .map(|mut cmd| s.spawn(move || run(&mut cmd)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn send(child: &Child, signal: i32) {
    // SAFETY: kill(2) on our own, not yet reaped child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, signal);
    }
}

/// Runs `cmd` (stdout discarded, stderr read line by line), waits for its first `epoch`
/// progress line, then sends each signal after its delay in milliseconds. A process that ends
/// before any epoch line (e.g. refusing at once) gets no signal.
fn interrupt(cmd: &mut Command, signals: &[(i32, u64)]) -> Out {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn the binary");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let lines = thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("epoch") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let start = Instant::now();
    let epoch_seen = loop {
        match rx.recv_timeout(Duration::from_millis(10)) {
            Ok(()) => break true,
            Err(RecvTimeoutError::Disconnected) => break false,
            Err(RecvTimeoutError::Timeout) if start.elapsed() > GUARD => break false,
            Err(RecvTimeoutError::Timeout) => {}
        }
    };
    if epoch_seen {
        for &(signal, delay) in signals {
            thread::sleep(Duration::from_millis(delay));
            send(&child, signal);
        }
    }
    let (status, timed_out) = wait_guarded(&mut child, GUARD);
    let stderr = lines.join().unwrap();
    Out::new(status, timed_out, Vec::new(), stderr)
}

/// Runs cases and records what went wrong, instead of stopping at the first failure.
#[derive(Default)]
struct Cases {
    run: usize,
    failures: Vec<String>,
}

impl Cases {
    fn fail(&mut self, case: &str, what: impl std::fmt::Display) {
        self.failures.push(format!("{case}: {what}"));
    }

    /// Counts a run and records a hang, a signal or a panic; false for any of them (then
    /// nothing else about the run is checked).
    fn sound(&mut self, case: &str, out: &Out) -> bool {
        self.run += 1;
        if out.timed_out || out.signal.is_some() {
            self.fail(case, out.describe());
            return false;
        }
        if out.code == Some(101) || out.stderr.contains("panicked") {
            self.fail(case, format!("panicked: {}", out.describe()));
            return false;
        }
        true
    }

    /// Expects exit 2 with every fragment in stderr; false when the run was not sound.
    fn fails(&mut self, case: &str, out: &Out, fragments: &[&str]) -> bool {
        if !self.sound(case, out) {
            return false;
        }
        if out.code != Some(2) {
            self.fail(case, format!("expected exit 2, got {}", out.describe()));
            return true;
        }
        for f in fragments {
            if !out.stderr.contains(f) {
                self.fail(
                    case,
                    format!("stderr lacks {f:?}: {}", out.stderr.trim_end()),
                );
            }
        }
        true
    }

    /// Expects exit 0.
    fn succeeds(&mut self, case: &str, out: &Out) {
        if self.sound(case, out) && out.code != Some(0) {
            self.fail(case, format!("expected exit 0, got {}", out.describe()));
        }
    }

    /// Records a failure when stderr contains `fragment`.
    fn lacks(&mut self, case: &str, out: &Out, fragment: &str) {
        if out.stderr.contains(fragment) {
            self.fail(
                case,
                format!("stderr contains {fragment:?}: {}", out.stderr.trim_end()),
            );
        }
    }

    fn check(&mut self, case: &str, ok: bool, what: impl std::fmt::Display) {
        if !ok {
            self.fail(case, what);
        }
    }

    /// Records a failure unless `path` still holds `before`.
    fn unchanged(&mut self, case: &str, path: &Path, before: &[u8]) {
        let now = fs::read(path);
        if now.as_deref().ok() != Some(before) {
            let how = match now {
                Ok(b) => format!("now {} bytes, was {}", b.len(), before.len()),
                Err(e) => format!("{e}"),
            };
            self.fail(case, format!("{} changed ({how})", path.display()));
        }
    }

    /// Records a failure unless `path` is a model the binary loads.
    fn loads(&mut self, case: &str, dir: &Path, path: &Path) {
        let out = run(cli(dir).args(["inspect", "-m"]).arg(path));
        if out.code != Some(0) {
            self.fail(
                case,
                format!("{} does not load: {}", path.display(), out.describe()),
            );
        }
    }

    fn finish(self, what: &str) {
        eprintln!("{} {what} cases run", self.run);
        assert!(
            self.failures.is_empty(),
            "{} {what} failures in {} runs:\n{}",
            self.failures.len(),
            self.run,
            self.failures.join("\n")
        );
    }
}

/// Trains a small model at `dir/name` (setup: must succeed); returns its path and bytes.
fn small_model(dir: &Path, name: &str, extra: &[&str]) -> (PathBuf, Vec<u8>) {
    let path = dir.join(name);
    let out = run(cli(dir)
        .args(["train", "-q"])
        .args(FAST)
        .args(extra)
        .arg("-o")
        .arg(&path)
        .arg(sample("train.csv")));
    assert_eq!(out.code, Some(0), "setup training: {}", out.describe());
    let bytes = fs::read(&path).unwrap();
    (path, bytes)
}

/// The names in a directory.
fn listing(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
}

/// A real checkpoint: `train -o m.json` interrupted by SIGINT after its first epoch (so it
/// has a history entry and a best epoch), made once and shared.
fn checkpoint() -> &'static [u8] {
    static CHECKPOINT: OnceLock<Vec<u8>> = OnceLock::new();
    CHECKPOINT.get_or_init(|| {
        let dir = temp_dir();
        let out = interrupt(
            cli(dir.path())
                .arg("train")
                .args(CK_OPTS)
                .args(["-o", "m.json"])
                .arg(sample("train.csv")),
            &[(libc::SIGINT, 0)],
        );
        assert_eq!(
            out.code,
            Some(130),
            "setup: the interrupted run: {}",
            out.describe()
        );
        let bytes = fs::read(dir.path().join("m.json.ckpt")).expect("setup: m.json.ckpt");
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(
            v["epoch"].as_u64() >= Some(2) && !v["best"].is_null(),
            "setup: the checkpoint should be past epoch 1 with a best epoch"
        );
        bytes
    })
}

/// Item 1 and 3: an output that is the same file as an input (or as another output) is
/// refused before any work, by file identity: equal paths, `./x`, symbolic and hard links.
#[test]
fn outputs_that_are_inputs_are_refused() {
    let dir = temp_dir();
    let d = dir.path();
    let mut cases = Cases::default();
    let data = fs::read(sample("train.csv")).unwrap();
    let (_, model) = small_model(d, "model.json", &[]);
    let ckpt = checkpoint();
    let config = "epochs = 1\nembed_dim = 8\nhidden_dim = 8\ncell = \"gru\"\nquiet = true\n";
    let mut vectors = String::new();
    for (i, word) in ["good", "bad", "great", "awful", "movie", "book"]
        .iter()
        .enumerate()
    {
        let values: Vec<String> = (0..8)
            .map(|j| format!("{:.3}", (i * 8 + j) as f64 / 100.0))
            .collect();
        vectors.push_str(&format!("{word} {}\n", values.join(" ")));
    }
    let valid = fs::read(sample("test.csv")).unwrap();

    // (case, files written first, links (name, target, hard), arguments after `train`,
    // files that must stay byte-identical)
    type Case<'a> = (
        &'a str,
        Vec<(&'a str, &'a [u8])>,
        Vec<(&'a str, &'a str, bool)>,
        Vec<String>,
        Vec<&'a str>,
    );
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let data_path = sample("train.csv").display().to_string();
    let with_ck = |tail: &[&str]| {
        let mut v = vec![data_path.clone()];
        v.extend(s(&CK_OPTS));
        v.extend(s(tail));
        v
    };
    let with_fast = |head: &[&str], tail: &[&str]| {
        let mut v = s(head);
        v.extend(s(&FAST));
        v.push("-q".into());
        v.extend(s(tail));
        v
    };
    let dp = data_path.as_str();
    let cases_list: Vec<Case> = vec![
        (
            "-o X --resume X",
            vec![("same.ckpt", ckpt)],
            vec![],
            with_ck(&["-o", "same.ckpt", "--resume", "same.ckpt"]),
            vec!["same.ckpt"],
        ),
        (
            "-o ./X --resume X",
            vec![("same.ckpt", ckpt)],
            vec![],
            with_ck(&["-o", "./same.ckpt", "--resume", "same.ckpt"]),
            vec!["same.ckpt"],
        ),
        (
            "-o X --resume symlink-to-X",
            vec![("same.ckpt", ckpt)],
            vec![("link.ckpt", "same.ckpt", false)],
            with_ck(&["-o", "same.ckpt", "--resume", "link.ckpt"]),
            vec!["same.ckpt", "link.ckpt"],
        ),
        (
            "-o X --resume hardlink-to-X",
            vec![("same.ckpt", ckpt)],
            vec![("hard.ckpt", "same.ckpt", true)],
            with_ck(&["-o", "same.ckpt", "--resume", "hard.ckpt"]),
            vec!["same.ckpt", "hard.ckpt"],
        ),
        (
            "-o X --config X",
            vec![("cfg.toml", config.as_bytes())],
            vec![],
            s(&[dp, "--config", "cfg.toml", "-o", "cfg.toml"]),
            vec!["cfg.toml"],
        ),
        (
            "-o ./X --config X",
            vec![("cfg.toml", config.as_bytes())],
            vec![],
            s(&[dp, "--config", "cfg.toml", "-o", "./cfg.toml"]),
            vec!["cfg.toml"],
        ),
        (
            "-o X --config symlink-to-X",
            vec![("cfg.toml", config.as_bytes())],
            vec![("link.toml", "cfg.toml", false)],
            s(&[dp, "--config", "link.toml", "-o", "cfg.toml"]),
            vec!["cfg.toml", "link.toml"],
        ),
        (
            "-o X --embeddings X",
            vec![("vec.txt", vectors.as_bytes())],
            vec![],
            with_fast(&[dp], &["--embeddings", "vec.txt", "-o", "vec.txt"]),
            vec!["vec.txt"],
        ),
        (
            "-o X --embeddings hardlink-to-X",
            vec![("vec.txt", vectors.as_bytes())],
            vec![("hard.txt", "vec.txt", true)],
            with_fast(&[dp], &["--embeddings", "hard.txt", "-o", "vec.txt"]),
            vec!["vec.txt", "hard.txt"],
        ),
        (
            "-o X --valid X",
            vec![("valid.csv", &valid[..])],
            vec![],
            with_fast(&[dp], &["--valid", "valid.csv", "-o", "valid.csv"]),
            vec!["valid.csv"],
        ),
        (
            "-o X --valid hardlink-to-X",
            vec![("valid.csv", &valid[..])],
            vec![("hard.csv", "valid.csv", true)],
            with_fast(&[dp], &["--valid", "hard.csv", "-o", "valid.csv"]),
            vec!["valid.csv", "hard.csv"],
        ),
        (
            "DATA X -o X",
            vec![("data.csv", &data[..])],
            vec![],
            with_fast(&["data.csv"], &["-o", "data.csv"]),
            vec!["data.csv"],
        ),
        (
            "DATA X -o ./X",
            vec![("data.csv", &data[..])],
            vec![],
            with_fast(&["data.csv"], &["-o", "./data.csv"]),
            vec!["data.csv"],
        ),
        (
            "DATA symlink-to-X -o X",
            vec![("data.csv", &data[..])],
            vec![("link.csv", "data.csv", false)],
            with_fast(&["link.csv"], &["-o", "data.csv"]),
            vec!["data.csv", "link.csv"],
        ),
        (
            "DATA hardlink-to-X -o X",
            vec![("data.csv", &data[..])],
            vec![("hard.csv", "data.csv", true)],
            with_fast(&["hard.csv"], &["-o", "data.csv"]),
            vec!["data.csv", "hard.csv"],
        ),
        (
            "-o DIR/report.html --report DIR",
            vec![("rep/report.html", &model[..])],
            vec![],
            with_fast(&[dp], &["-o", "rep/report.html", "--report", "rep"]),
            vec!["rep/report.html"],
        ),
        (
            "-o DIR/history.csv --report DIR",
            vec![("rep/history.csv", &model[..])],
            vec![],
            with_fast(&[dp], &["-o", "rep/history.csv", "--report", "rep"]),
            vec!["rep/history.csv"],
        ),
        (
            "-o NEW --report NEW (the model and the report directory)",
            vec![("keep.csv", &data[..])],
            vec![],
            with_fast(&[dp], &["-o", "new", "--report", "new"]),
            vec!["keep.csv"],
        ),
    ];
    for (i, (case, files, links, args, kept)) in cases_list.into_iter().enumerate() {
        let sub = d.join(format!("case{i}"));
        fs::create_dir_all(sub.join("rep")).unwrap();
        for (name, bytes) in &files {
            write(&sub, name, bytes);
        }
        for (name, target, hard) in &links {
            if *hard {
                fs::hard_link(sub.join(target), sub.join(name)).unwrap();
            } else {
                symlink(target, sub.join(name)).unwrap();
            }
        }
        let before: Vec<(PathBuf, Vec<u8>)> = kept
            .iter()
            .map(|name| (sub.join(name), fs::read(sub.join(name)).unwrap()))
            .collect();
        let out = run(cli(&sub).arg("train").args(&args));
        cases.fails(case, &out, &["same file"]);
        for (path, bytes) in &before {
            cases.unchanged(case, path, bytes);
        }
    }

    // The normal resume, `-o m.json --resume m.json.ckpt`, stays allowed.
    let sub = d.join("normal");
    fs::create_dir(&sub).unwrap();
    write(&sub, "n.json.ckpt", ckpt);
    let out = run(cli(&sub)
        .arg("train")
        .arg(sample("train.csv"))
        .args(CK_OPTS)
        .args(["-o", "n.json", "--resume", "n.json.ckpt"]));
    cases.succeeds("-o m.json --resume m.json.ckpt (normal use)", &out);
    cases.finish("same-file");
}

/// Items 2 and 8: a checkpoint whose tensors, optimizer state or counters do not fit is
/// refused before anything is written: the existing model stays, nothing is left behind.
#[test]
fn tampered_checkpoints_are_refused_before_anything_is_written() {
    let dir = temp_dir();
    let d = dir.path();
    let mut cases = Cases::default();
    let original: Value = serde_json::from_slice(checkpoint()).unwrap();
    let (out_path, model) = small_model(d, "out.json", &[]);
    let epochs: u64 = CK_OPTS[1].parse().unwrap();
    let epoch = original["epoch"].as_u64().unwrap();

    fn data(v: &mut Value) -> &mut Vec<Value> {
        v["data"].as_array_mut().unwrap()
    }
    fn tensors(v: &mut Value, best: bool) -> &mut Vec<Value> {
        if best {
            v["best"][2].as_array_mut().unwrap()
        } else {
            v["params"].as_array_mut().unwrap()
        }
    }
    type Tamper = Box<dyn Fn(&mut Value)>;
    let mut variants: Vec<(String, Tamper)> = Vec::new();
    for (place, best) in [("params", false), ("best", true)] {
        variants.push((
            format!("{place}: a tensor one value short"),
            Box::new(move |v| {
                data(&mut tensors(v, best)[1]).pop();
            }),
        ));
        variants.push((
            format!("{place}: a tensor one value long"),
            Box::new(move |v| data(&mut tensors(v, best)[1]).push(0.0.into())),
        ));
        variants.push((
            format!("{place}: a tensor's shape changed"),
            Box::new(move |v| {
                let shape = tensors(v, best)[1]["shape"].as_array_mut().unwrap();
                let first = shape[0].as_u64().unwrap();
                shape[0] = (first + 1).into();
            }),
        ));
        variants.push((
            format!("{place}: a tensor missing"),
            Box::new(move |v| {
                tensors(v, best).pop();
            }),
        ));
    }
    // The optimizer's per-parameter arrays (Adam's moments, SGD's velocity).
    let arrays: Vec<String> = original["optimizer"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, x)| {
            x.as_array()
                .and_then(|a| a.get(1))
                .is_some_and(Value::is_array)
        })
        .map(|(k, _)| k.clone())
        .collect();
    assert!(
        !arrays.is_empty(),
        "setup: no optimizer state arrays in the checkpoint"
    );
    for key in arrays {
        let k = key.clone();
        variants.push((
            format!("optimizer {key}: an array one value short"),
            Box::new(move |v| {
                v["optimizer"][&k][1].as_array_mut().unwrap().pop();
            }),
        ));
        let k = key.clone();
        variants.push((
            format!("optimizer {key}: an array one value long"),
            Box::new(move |v| {
                v["optimizer"][&k][1]
                    .as_array_mut()
                    .unwrap()
                    .push(0.0.into())
            }),
        ));
        let k = key.clone();
        variants.push((
            format!("optimizer {key}: an array missing"),
            Box::new(move |v| {
                v["optimizer"][&k].as_array_mut().unwrap().pop();
            }),
        ));
    }
    variants.push(("epoch 0".into(), Box::new(|v| v["epoch"] = 0.into())));
    variants.push((
        format!("epoch {} > epochs {epochs}", epochs + 1),
        Box::new(move |v| v["epoch"] = (epochs + 1).into()),
    ));
    variants.push((
        "batch beyond the batches of an epoch".into(),
        Box::new(|v| v["batch"] = 100_000.into()),
    ));
    variants.push((
        "step huge".into(),
        Box::new(|v| v["step"] = 1_000_000_000_000u64.into()),
    ));
    variants.push((
        "partial: correct > seen".into(),
        Box::new(|v| {
            let seen = v["partial"][2].as_u64().unwrap();
            v["partial"][1] = (seen + 1).into();
        }),
    ));
    variants.push((
        format!("history longer than epoch - 1 = {}", epoch - 1),
        Box::new(|v| {
            let history = v["history"].as_array_mut().unwrap();
            let last = history.last().unwrap().clone();
            history.push(last);
        }),
    ));

    for (case, tamper) in &variants {
        let mut v = original.clone();
        tamper(&mut v);
        let tampered = serde_json::to_vec(&v).unwrap();
        write(d, "tampered.ckpt", &tampered);
        write(d, "out.json", &model);
        let before = listing(d);
        let out = run(cli(d)
            .arg("train")
            .arg(sample("train.csv"))
            .args(CK_OPTS)
            .args(["-o", "out.json", "--resume", "tampered.ckpt"]));
        cases.fails(case, &out, &["checkpoint"]);
        cases.unchanged(case, &out_path, &model);
        cases.unchanged(case, &d.join("tampered.ckpt"), &tampered);
        let after = listing(d);
        cases.check(
            case,
            after == before,
            format!("directory was {before:?}, now {after:?}"),
        );
    }
    cases.finish("tampered checkpoint");
}

/// Plants `.NAME.tmp-PID` links to `victim` in `dir` for the next 3000 process ids after a
/// fresh process's; returns the planted ids.
fn plant(dir: &Path, name: &str, victim: &Path) -> BTreeSet<u32> {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().contains(".tmp-") {
            fs::remove_file(entry.path()).unwrap();
        }
    }
    let pid_max: u32 = fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(32768);
    let mut probe = Command::new("true").spawn().unwrap();
    let base = probe.id();
    probe.wait().unwrap();
    let mut planted = BTreeSet::new();
    for i in 0..3000 {
        let mut pid = base + i;
        if pid >= pid_max {
            pid = 300 + (pid - pid_max);
        }
        symlink(victim, dir.join(format!(".{name}.tmp-{pid}"))).unwrap();
        planted.insert(pid);
    }
    planted
}

/// Item 4: links planted at the predictable temporary names of an atomic write are never
/// followed: the file they point to stays byte-identical.
#[test]
fn planted_temporary_file_links_are_not_followed() {
    let dir = temp_dir();
    let d = dir.path();
    let mut cases = Cases::default();
    let victim_bytes = b"precious contents, not a model\n".to_vec();
    let victim = write(d, "victim.txt", &victim_bytes);
    let out_dir = d.join("out");
    fs::create_dir(&out_dir).unwrap();
    let (_, model) = small_model(d, "source.json", &[]);
    let bad = write(d, "bad.csv", "text,label\ngood film,1\nbad film,2\n");

    let runs: Vec<(&str, Command, bool)> = vec![
        (
            "train on bad data -o m.json",
            {
                let mut c = cli(&out_dir);
                c.args(["train", "-q", "-o", "m.json"]).args(FAST).arg(&bad);
                c
            },
            false,
        ),
        (
            "train -o m.json",
            {
                let mut c = cli(&out_dir);
                c.args(["train", "-q", "-o", "m.json"])
                    .args(FAST)
                    .arg(sample("train.csv"));
                c
            },
            true,
        ),
        (
            "eval --tune-threshold accuracy --store -m m.json",
            {
                let mut c = cli(&out_dir);
                c.args([
                    "eval",
                    "--tune-threshold",
                    "accuracy",
                    "--store",
                    "-m",
                    "m.json",
                ])
                .arg(sample("test.csv"));
                c
            },
            true,
        ),
    ];
    for (case, mut cmd, must_succeed) in runs {
        if case.starts_with("eval") {
            write(&out_dir, "m.json", &model);
        }
        fs::write(&victim, &victim_bytes).unwrap();
        let planted = plant(&out_dir, "m.json", &victim);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let pid = child.id();
        let out_thread = reader(child.stdout.take());
        let err_thread = reader(child.stderr.take());
        let (status, timed_out) = wait_guarded(&mut child, GUARD);
        out_thread.unwrap().join().unwrap();
        let stderr = String::from_utf8_lossy(&err_thread.unwrap().join().unwrap()).into_owned();
        let out = Out::new(status, timed_out, Vec::new(), stderr);
        cases.check(
            case,
            planted.contains(&pid),
            format!("test setup: pid {pid} was not among the planted names"),
        );
        if must_succeed {
            cases.succeeds(case, &out);
        } else {
            cases.sound(case, &out);
        }
        cases.unchanged(case, &victim, &victim_bytes);
        let meta = fs::symlink_metadata(out_dir.join("m.json"));
        if must_succeed {
            cases.check(
                case,
                meta.is_ok_and(|m| m.file_type().is_file()),
                "m.json is not a regular file afterwards",
            );
        }
    }
    cases.finish("planted temporary name");
}

/// Item 5: an output that is a FIFO, a device or a symbolic link is refused and left as it
/// was.
#[test]
fn outputs_that_are_not_regular_files_are_refused() {
    let dir = temp_dir();
    let d = dir.path();
    let mut cases = Cases::default();
    let train = |out: &str| {
        let mut c = cli(d);
        c.args(["train", "-q", "-o", out])
            .args(FAST)
            .arg(sample("train.csv"));
        c
    };

    let fifo = d.join("pipe");
    mkfifo(&fifo);
    let out = run(&mut train("pipe"));
    cases.fails("-o FIFO", &out, &["not a regular file"]);
    cases.check(
        "-o FIFO",
        fs::symlink_metadata(&fifo).is_ok_and(|m| m.file_type().is_fifo()),
        "the FIFO was replaced",
    );

    // A private null device in the temporary directory (never /dev/null itself), when this
    // user may create one.
    let dev = d.join("nulldev");
    let made = Command::new("mknod")
        .arg(&dev)
        .args(["c", "1", "3"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if made {
        let out = run(&mut train("nulldev"));
        cases.fails("-o character device", &out, &["not a regular file"]);
        cases.check(
            "-o character device",
            fs::symlink_metadata(&dev).is_ok_and(|m| m.file_type().is_char_device()),
            "the device node was replaced",
        );
    } else {
        eprintln!("note: mknod is not permitted here; the character-device case is skipped");
    }

    let (target, model) = small_model(d, "model.json", &[]);
    symlink("model.json", d.join("link.json")).unwrap();
    let out = run(&mut train("link.json"));
    cases.fails("-o symlink", &out, &["symbolic link"]);
    cases.check(
        "-o symlink",
        fs::read_link(d.join("link.json")).is_ok_and(|t| t == Path::new("model.json")),
        "the link was replaced or retargeted",
    );
    cases.unchanged("-o symlink", &target, &model);
    cases.finish("non-regular output");
}

/// Removes the immutable attribute again, so the temporary directory can be removed.
struct Immutable(PathBuf);

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

/// Item 6: an output that cannot be replaced (immutable) is found before training.
#[test]
fn an_unreplaceable_output_is_found_before_training() {
    let dir = temp_dir();
    let d = dir.path();
    let mut cases = Cases::default();
    let (path, model) = small_model(d, "out.json", &[]);
    let set = Command::new("chattr")
        .arg("+i")
        .arg(&path)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !set {
        eprintln!("note: chattr +i is not available here; the immutable-output test is skipped");
        return;
    }
    let _guard = Immutable(path.clone());

    let out = run(cli(d)
        .args(["train", "-o", "out.json", "--epochs", "3"])
        .args(DIMS)
        .arg(sample("train.csv")));
    cases.fails("train -o immutable", &out, &["out.json"]);
    cases.check(
        "train -o immutable",
        !out.stderr.lines().any(|l| l.starts_with("epoch")),
        format!("trained before refusing: {}", out.stderr.trim_end()),
    );

    let out = run(cli(d)
        .args([
            "eval",
            "--tune-threshold",
            "accuracy",
            "--store",
            "-m",
            "out.json",
        ])
        .arg(sample("test.csv")));
    cases.fails("eval --store -m immutable", &out, &["out.json"]);
    cases.unchanged("immutable", &path, &model);
    cases.finish("unreplaceable output");
}

/// Item 7: a full or closed stdout ends the command with exit 2 (or quietly for a closed
/// pipe), never a panic; a broken stderr never stops training or the save.
#[test]
fn full_and_closed_streams_do_not_panic_or_lose_the_model() {
    let dir = temp_dir();
    let d = dir.path();
    let mut cases = Cases::default();
    let (m, _) = small_model(d, "m.json", &[]);
    let test = sample("test.csv");

    // (case, command, the model it writes)
    let commands = |tag: &str| -> Vec<(String, Command, Option<PathBuf>)> {
        let mut list = Vec::new();
        let mut c = cli(d);
        c.args(["eval", "-m"]).arg(&m).arg(&test);
        list.push(("eval".to_string(), c, None));
        let mut c = cli(d);
        c.args(["eval", "--json", "-m"]).arg(&m).arg(&test);
        list.push(("eval --json".to_string(), c, None));
        let mut c = cli(d);
        c.args(["inspect", "--json", "-m"]).arg(&m);
        list.push(("inspect --json".to_string(), c, None));
        for json in [false, true] {
            let model = d.join(format!("x-{tag}-{json}.json"));
            let mut c = cli(d);
            c.arg("train").args(FAST).arg("-o").arg(&model);
            if json {
                c.arg("--json");
            }
            c.arg(sample("train.csv"));
            let name = if json { "train --json" } else { "train" };
            list.push((name.to_string(), c, Some(model)));
        }
        list
    };

    for (name, mut cmd, model) in commands("full") {
        let case = format!("{name} >/dev/full");
        let out = run_with(&mut cmd, Input::Null, Sink::Full, Sink::Capture);
        cases.fails(&case, &out, &["standard output"]);
        if let Some(model) = model {
            cases.loads(&case, d, &model);
        }
    }
    for (name, mut cmd, model) in commands("closed") {
        let case = format!("{name} | (closed pipe)");
        let out = run_with(&mut cmd, Input::Null, Sink::Closed, Sink::Capture);
        if cases.sound(&case, &out) {
            cases.check(
                &case,
                matches!(out.code, Some(0 | 2)),
                format!("expected exit 0 or 2, got {}", out.describe()),
            );
        }
        if let Some(model) = model {
            cases.loads(&case, d, &model);
        }
    }
    for (sink, tag) in [
        (Sink::Full, "2>/dev/full"),
        (Sink::Closed, "2>(closed pipe)"),
    ] {
        let case = format!("train {tag}");
        let model = d.join(format!("e-{}.json", sink == Sink::Full));
        let out = run_with(
            cli(d)
                .arg("train")
                .args(FAST)
                .arg("-o")
                .arg(&model)
                .arg(sample("train.csv")),
            Input::Null,
            Sink::Capture,
            sink,
        );
        cases.succeeds(&case, &out);
        cases.loads(&case, d, &model);
    }
    cases.finish("broken stream");
}

/// Items 9 and 10: batch size and epochs are bounded by limits checked before anything is
/// allocated, on the command line and in a config file; a batch larger than the data is the
/// whole data.
#[test]
fn sizes_are_bounded_before_allocation() {
    let dir = temp_dir();
    let d = dir.path();
    let mut cases = Cases::default();
    write(d, "big_batch.toml", "batch_size = 100000000\n");
    let train = |extra: &[&str]| {
        let mut c = limited(d);
        c.args(["train", "-q", "-o", "b.json"])
            .args(DIMS)
            .args(extra)
            .arg(sample("train.csv"));
        c
    };
    for (case, extra, fragments) in [
        (
            "--batch-size u64::MAX",
            &["--epochs", "1", "--batch-size", "18446744073709551615"][..],
            &["batch", "limit"][..],
        ),
        (
            "--batch-size 1e9",
            &["--epochs", "1", "--batch-size", "1000000000"],
            &["batch", "limit"],
        ),
        (
            "config batch_size = 1e8",
            &["--epochs", "1", "--config", "big_batch.toml"],
            &["batch", "limit"],
        ),
        (
            "--epochs u64::MAX",
            &["--epochs", "18446744073709551615"],
            &["epochs", "limit"],
        ),
    ] {
        let out = run(&mut train(extra));
        cases.fails(case, &out, fragments);
    }

    // Within the limit but larger than the data: the same model as a batch of all rows
    // (apart from the batch size the file records among the options).
    let rows = fs::read_to_string(sample("train.csv"))
        .unwrap()
        .lines()
        .count();
    assert!(rows < 5000, "setup: data/train.csv has {rows} lines");
    let mut models = Vec::new();
    for size in ["100000", "5000"] {
        let case = format!("--batch-size {size}");
        let path = d.join(format!("b{size}.json"));
        let out = run(cli(d)
            .args(["train", "-q", "--batch-size", size])
            .args(FAST)
            .arg("-o")
            .arg(&path)
            .arg(sample("train.csv")));
        cases.succeeds(&case, &out);
        let bytes = fs::read(&path).unwrap_or_default();
        let mut v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if let Some(options) = v
            .pointer_mut("/training/options")
            .and_then(Value::as_object_mut)
        {
            options.remove("batch_size");
        }
        models.push(v);
    }
    cases.check(
        "--batch-size 100000 vs 5000",
        !models[0].is_null() && models[0] == models[1],
        "the models differ (beyond the recorded batch size)",
    );
    cases.finish("size limit");
}

/// Item 11: huge thread counts are capped (or refused), not spawned.
#[test]
fn huge_thread_counts_finish() {
    let dir = temp_dir();
    let d = dir.path();
    let mut cases = Cases::default();
    let (m, _) = small_model(d, "m.json", &[]);
    // Under the memory limit too: thread stacks are memory.
    let mut predict = limited(d);
    predict
        .args(["predict", "--threads", "100000", "-m"])
        .arg(&m)
        .arg("good");
    let mut eval = limited(d);
    eval.args(["eval", "--threads", "50000", "-m"])
        .arg(&m)
        .arg(sample("test.csv"));
    let outs = run_parallel(vec![predict, eval]);
    for (case, out) in ["predict --threads 100000", "eval --threads 50000"]
        .iter()
        .zip(&outs)
    {
        if cases.sound(case, out) {
            let ok = out.code == Some(0) || (out.code == Some(2) && out.stderr.contains("threads"));
            cases.check(
                case,
                ok,
                format!("expected exit 0, or 2 naming threads: {}", out.describe()),
            );
        }
    }
    cases.finish("thread count");
}

/// Item 12: a config file of 200,000 unknown keys is refused quickly.
#[test]
fn a_config_of_many_unknown_keys_is_refused_quickly() {
    let dir = temp_dir();
    let d = dir.path();
    let mut cases = Cases::default();
    // 200,000 keys are past the config file's size limit (1 MiB); 100,000 fit under it
    // and are read, so the unknown-key lookup itself must be linear.
    for (keys, expected) in [
        (200_000, &["config file", "limit of 1048576 bytes"][..]),
        (
            100_000,
            &["unknown key `k0`", "99999 more unknown keys"][..],
        ),
    ] {
        let text: String = (0..keys).map(|i| format!("k{i}=1\n")).collect();
        write(d, "many.toml", text);
        let out = run(limited(d)
            .args(["train", "-q", "--config", "many.toml", "-o", "m.json"])
            .args(FAST)
            .arg(sample("train.csv")));
        cases.fails(&format!("{keys} unknown keys"), &out, expected);
    }
    cases.finish("unknown key");
}

/// Item 13: endless inputs (`/dev/zero`) as any file or stdin, and an 80 MB line, are refused
/// by a limit before memory runs out.
#[test]
fn endless_and_huge_inputs_are_refused_by_limits() {
    let dir = temp_dir();
    let d = dir.path();
    let mut cases = Cases::default();
    let (m, _) = small_model(d, "m.json", &[]);
    let zero = "/dev/zero";
    let data = sample("train.csv");
    let test = sample("test.csv");
    let train = |extra: &[&str], data: &Path| {
        let mut c = limited(d);
        c.args(["train", "-q", "-o", "z.json"])
            .args(FAST)
            .args(extra)
            .arg(data);
        c
    };
    let mut list: Vec<(&str, Command, Input)> = vec![
        ("train /dev/zero", train(&[], Path::new(zero)), Input::Null),
        (
            "train --config /dev/zero",
            train(&["--config", zero], &data),
            Input::Null,
        ),
        (
            "train --resume /dev/zero",
            train(&["--resume", zero], &data),
            Input::Null,
        ),
        (
            "train --valid /dev/zero",
            train(&["--valid", zero], &data),
            Input::Null,
        ),
        (
            "train --embeddings /dev/zero",
            train(&["--embeddings", zero], &data),
            Input::Null,
        ),
    ];
    let mut c = limited(d);
    c.args(["eval", "-m"]).arg(&m).arg(zero);
    list.push(("eval /dev/zero", c, Input::Null));
    let mut c = limited(d);
    c.args(["eval", "-m", zero]).arg(&test);
    list.push(("eval -m /dev/zero", c, Input::Null));
    let mut c = limited(d);
    c.args(["predict", "-m", zero, "good"]);
    list.push(("predict -m /dev/zero", c, Input::Null));
    let mut c = limited(d);
    c.args(["inspect", "-m", zero]);
    list.push(("inspect -m /dev/zero", c, Input::Null));
    let mut c = limited(d);
    c.args(["predict", "--file", zero, "-m"]).arg(&m);
    list.push(("predict --file /dev/zero", c, Input::Null));
    let mut c = limited(d);
    c.args(["predict", "-m"]).arg(&m);
    list.push(("predict <dev/zero", c, Input::File(PathBuf::from(zero))));
    // One at a time: each may take its whole memory allowance before the fix.
    for (case, mut cmd, stdin) in list {
        let from_stdin = matches!(stdin, Input::File(_));
        let out = run_with(&mut cmd, stdin, Sink::Capture, Sink::Capture);
        if !cases.fails(case, &out, &[]) {
            continue;
        }
        cases.lacks(case, &out, "out of memory");
        let named = if from_stdin {
            out.stderr.contains("stdin") || out.stderr.contains("standard input")
        } else {
            out.stderr.contains(zero)
        };
        cases.check(
            case,
            named,
            format!("stderr does not name the input: {}", out.stderr.trim_end()),
        );
    }

    // One 80 MB line without a line break.
    let big = write(d, "line.txt", "word ".repeat(16_000_000));
    let mut c = limited(d);
    c.args(["predict", "--file"]).arg(&big).arg("-m").arg(&m);
    let out = run(&mut c);
    cases.fails("predict --file (80 MB line)", &out, &["limit"]);
    let out = run(&mut train(&[], &big));
    cases.fails("train (80 MB line)", &out, &["limit"]);
    cases.finish("endless input");
}

/// Misleading (a): a failed checkpoint or report write names what it was writing.
#[test]
fn failed_checkpoint_and_report_writes_say_what_they_were() {
    let dir = temp_dir();
    let d = dir.path();
    let mut cases = Cases::default();
    fs::create_dir(d.join("m.json.ckpt")).unwrap();
    let out = interrupt(
        cli(d)
            .arg("train")
            .args(CK_OPTS)
            .args(["-o", "m.json"])
            .arg(sample("train.csv")),
        &[(libc::SIGINT, 0)],
    );
    cases.fails("m.json.ckpt is a directory", &out, &["checkpoint"]);
    cases.lacks("m.json.ckpt is a directory", &out, "model file");

    fs::create_dir_all(d.join("rep/report.html")).unwrap();
    let out = run(cli(d)
        .args(["train", "-q", "-o", "r.json", "--report", "rep"])
        .args(FAST)
        .arg(sample("train.csv")));
    cases.fails("report.html is a directory", &out, &["report"]);
    cases.lacks("report.html is a directory", &out, "model file");
    cases.finish("write-failure message");
}

/// Misleading (b): a second SIGTERM exits 130 at once and says no checkpoint was written.
#[test]
fn a_second_signal_says_no_checkpoint_was_written() {
    let dir = temp_dir();
    let d = dir.path();
    let mut cases = Cases::default();
    // One batch per epoch that takes a few hundred milliseconds, so both signals arrive
    // while it runs, before any checkpoint could be written.
    let out = interrupt(
        cli(d)
            .args([
                "train",
                "--epochs",
                "50",
                "--patience",
                "0",
                "--threads",
                "1",
            ])
            .args(["--cell", "lstm", "--embed-dim", "64", "--hidden-dim", "256"])
            .args(["--batch-size", "1000", "-o", "m.json"])
            .arg(sample("train.csv")),
        &[(libc::SIGTERM, 0), (libc::SIGTERM, 50)],
    );
    if cases.sound("double SIGTERM", &out) {
        cases.check(
            "double SIGTERM",
            out.code == Some(130),
            format!("expected exit 130, got {}", out.describe()),
        );
        cases.check(
            "double SIGTERM",
            out.stderr.contains("no checkpoint"),
            format!("stderr lacks \"no checkpoint\": {}", out.stderr.trim_end()),
        );
    }
    cases.check(
        "double SIGTERM",
        !d.join("m.json.ckpt").exists() && !d.join("m.json").exists(),
        "a file was written",
    );
    cases.finish("double signal");
}

/// Misleading (c) to (g): model versions that are not integers, a validation split that leaves
/// nothing to train, empty paths in a config file, duplicate weight names, NUL bytes and
/// invalid UTF-8 on predict's stdin.
#[test]
fn misleading_messages_name_the_real_problem() {
    let dir = temp_dir();
    let d = dir.path();
    let mut cases = Cases::default();
    let (_, model) = small_model(d, "m.json", &[]);
    let text = String::from_utf8(model.clone()).unwrap();
    assert!(text.contains("\"version\":1,"), "setup: model version");

    // (c) "version": 1.0 and -1.
    for (value, name) in [("1.0", "v-float.json"), ("-1", "v-negative.json")] {
        let case = format!("\"version\": {value}");
        write(
            d,
            name,
            text.replacen("\"version\":1,", &format!("\"version\":{value},"), 1),
        );
        let out = run(cli(d).args(["predict", "-m", name, "good"]));
        cases.fails(&case, &out, &["version", value]);
        cases.lacks(&case, &out, "no \"version\" field");
    }

    // (d) --valid-split that leaves (almost) no training rows.
    let out = run(cli(d)
        .args(["train", "-q", "--valid-split", "0.9999", "-o", "v.json"])
        .args(FAST)
        .arg(sample("train.csv")));
    cases.fails("--valid-split 0.9999", &out, &["valid-split"]);

    // (e) Empty paths in a config file.
    write(d, "empty_output.toml", "output = \"\"\n");
    let out = run(cli(d)
        .args(["train", "-q", "--config", "empty_output.toml"])
        .args(FAST)
        .arg(sample("train.csv")));
    cases.fails("config output = \"\"", &out, &["output"]);
    write(d, "empty_report.toml", "report = \"\"\n");
    let out = run(cli(d)
        .args([
            "train",
            "-q",
            "--config",
            "empty_report.toml",
            "-o",
            "r.json",
        ])
        .args(FAST)
        .arg(sample("train.csv")));
    cases.fails("config report = \"\"", &out, &["report"]);

    // (f) A weight name twice inside "weights".
    let v: Value = serde_json::from_str(&text).unwrap();
    let (first, tensor) = v["weights"].as_object().unwrap().iter().next().unwrap();
    let duplicate = format!("\"weights\":{{\"{first}\":{tensor},");
    assert!(text.contains("\"weights\":{"), "setup: weights object");
    write(d, "dup.json", text.replacen("\"weights\":{", &duplicate, 1));
    let out = run(cli(d).args(["predict", "-m", "dup.json", "good"]));
    cases.fails("duplicate weight name", &out, &["duplicate"]);

    // (g) predict's stdin follows the data files' rules.
    let out = run_with(
        cli(d).args(["predict", "-m", "m.json"]),
        Input::Bytes(b"good film\nbad\0film\nfine\n".to_vec()),
        Sink::Capture,
        Sink::Capture,
    );
    cases.fails("NUL byte on stdin line 2", &out, &["line 2", "NUL"]);
    let out = run_with(
        cli(d).args(["predict", "-m", "m.json"]),
        Input::Bytes(b"good film\nfine\nbad \xff\xfe film\n".to_vec()),
        Sink::Capture,
        Sink::Capture,
    );
    cases.fails("invalid UTF-8 on stdin line 3", &out, &["line 3", "UTF-8"]);
    cases.finish("misleading message");
}

/// Misleading (h): occlusion on a long text removes windows of tokens (reported as "window"),
/// so it is not quadratic; short texts keep single-token occlusion.
#[test]
fn explain_occludes_windows_on_long_texts() {
    let dir = temp_dir();
    let d = dir.path();
    let mut cases = Cases::default();
    let (m, _) = small_model(d, "long.json", &["--max-len", "1000000"]);
    let long = "good bad ".repeat(2000);
    let out = run(cli(d)
        .args(["predict", "--explain", "--json", "-m"])
        .arg(&m)
        .arg(long.trim_end())
        .arg("good movie"));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let sound = cases.sound("--explain", &out);
    if sound && (out.code != Some(0) || lines.len() != 2) {
        cases.fail(
            "--explain",
            format!("expected exit 0 and two JSON lines: {}", out.describe()),
        );
    } else if sound {
        for (case, line, long) in [
            ("4000 tokens", &lines[0], true),
            ("2 tokens", &lines[1], false),
        ] {
            let window = line["window"].as_u64();
            let attributions = line["attributions"].as_array().cloned().unwrap_or_default();
            let tokens = line["tokens"].as_array().map_or(0, Vec::len);
            if long {
                cases.check(case, tokens == 4000, format!("{tokens} tokens"));
                cases.check(
                    case,
                    window.is_some_and(|w| w > 1),
                    format!("\"window\" is {:?}, expected > 1", line.get("window")),
                );
                if let Some(w) = window.filter(|&w| w > 1) {
                    let uneven = attributions
                        .chunks(w as usize)
                        .position(|c| c.iter().any(|a| a != &c[0]));
                    cases.check(
                        case,
                        uneven.is_none(),
                        format!("window {uneven:?} of {w} tokens has unequal attributions"),
                    );
                }
            } else {
                cases.check(
                    case,
                    window == Some(1),
                    format!("\"window\" is {:?}, expected 1", line.get("window")),
                );
            }
            cases.check(
                case,
                attributions.len() == tokens,
                "one attribution per token",
            );
        }
    }
    cases.finish("explain window");
}
