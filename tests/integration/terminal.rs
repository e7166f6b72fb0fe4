//! On a terminal: a pseudo-terminal the test opens, 70 columns wide, rendered as a screen.
//! Training's progress bar fits the width and shows the run's ETA; Ctrl-C clears it before
//! the checkpoint message; `predict` reading the terminal says what it waits for.

#![cfg(unix)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;

const COLUMNS: u16 = 70;
const ROWS: u16 = 40;

/// A pseudo-terminal: everything the child writes to it is collected from the master side.
struct Terminal {
    master: File,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Terminal {
    /// Opens a terminal of [`ROWS`] x [`COLUMNS`] and runs `cmd` on it (stdin and stderr on the
    /// terminal, stdout too when `stdout` is set).
    fn run(cmd: &mut Command, stdout: bool) -> (Self, Child) {
        let (mut master, mut slave) = (-1, -1);
        let size = libc::winsize {
            ws_row: ROWS,
            ws_col: COLUMNS,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two descriptors into the given integers; the name and
        // termios pointers may be null; the window size is read only.
        let status = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(status, 0, "openpty failed");
        // SAFETY: both descriptors were just opened and are owned by nothing else.
        let (master, slave) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let clone = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup"));
        cmd.stdin(clone(&slave)).stderr(clone(&slave));
        if stdout {
            cmd.stdout(clone(&slave));
        } else {
            cmd.stdout(Stdio::null());
        }
        let child = cmd.spawn().expect("command starts");
        // Only the child holds the terminal now: reading ends when it exits.
        drop(slave);
        let output = Arc::new(Mutex::new(Vec::new()));
        let (mut reader, sink) = (master.try_clone().expect("dup"), output.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        (Self { master, output }, child)
    }

    /// What the terminal shows now.
    fn screen(&self) -> vt100::Parser {
        let mut parser = vt100::Parser::new(ROWS, COLUMNS, 0);
        parser.process(&self.output.lock().unwrap());
        parser
    }

    /// Waits (up to a minute) until the screen satisfies `ready`; returns it.
    fn wait_for(&self, what: &str, ready: impl Fn(&vt100::Screen) -> bool) -> vt100::Parser {
        let start = Instant::now();
        loop {
            let parser = self.screen();
            if ready(parser.screen()) {
                return parser;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "waited a minute for {what}; the screen:\n{}",
                parser.screen().contents()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn binary() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("rnn-sentiment"))
}

#[test]
fn the_bar_fits_shows_the_run_eta_and_is_cleared_on_ctrl_c() {
    let dir = temp_dir();
    let d = dir.path();
    write(d, "big.csv", synthetic_csv(6000));
    let (terminal, mut child) = Terminal::run(
        binary()
            .current_dir(d)
            .args([
                "train",
                "--epochs",
                "4",
                "--patience",
                "0",
                "--hidden-dim",
                "32",
            ])
            .args(["-o", "m.json", "big.csv"]),
        false,
    );
    // A bar in the second epoch, once it has an ETA.
    let bar_row = |screen: &vt100::Screen| {
        (0..ROWS).find(|&r| {
            let row = screen.contents_between(r, 0, r, COLUMNS);
            row.starts_with("epoch 2/4 [") && row.contains("run ≤")
        })
    };
    let parser = terminal.wait_for("the second epoch's bar with the run's ETA", |s| {
        bar_row(s).is_some()
    });
    let screen = parser.screen();
    let row = bar_row(screen).unwrap();
    assert!(
        !screen.row_wrapped(row),
        "the bar wrapped at {COLUMNS} columns:\n{}",
        screen.contents()
    );
    let line = screen.contents_between(row, 0, row, COLUMNS);
    assert!(line.contains(" ETA "), "no epoch ETA: {line}");

    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let parser = terminal.wait_for("the checkpoint message", |s| {
        s.contents().contains("continue with:")
    });
    let contents = parser.screen().contents();
    for piece in ["[=", "ETA", "run ≤", "epoch 2/4"] {
        assert!(
            !contents.contains(piece),
            "the bar ({piece:?}) stayed on the screen:\n{contents}"
        );
    }
    assert!(contents.contains("epoch   1  train loss"), "{contents}");
    drop(terminal.master);
}

#[test]
fn predict_on_a_terminal_says_what_it_waits_for() {
    let dir = temp_dir();
    let d = dir.path();
    train_small(d, "gru", "m.json", &[]);
    let (mut terminal, mut child) = Terminal::run(
        binary().current_dir(d).args(["predict", "-m", "m.json"]),
        true,
    );
    terminal.wait_for("the hint", |s| s.contents().contains("end with Ctrl-D"));
    terminal.master.write_all(b"I love it\n").unwrap();
    terminal.wait_for("the prediction", |s| {
        s.contents()
            .lines()
            .any(|l| l.starts_with("positive ") || l.starts_with("negative "))
    });
    // Ctrl-D at the start of a line: end of input.
    terminal.master.write_all(&[4]).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let contents = terminal.screen().screen().contents();
    assert!(
        contents.contains("reading texts from the terminal, one per line"),
        "{contents}"
    );
}
