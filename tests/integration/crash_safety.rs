//! Crash safety: `train -o m.json` killed with SIGKILL at seeded pseudo-random moments over an
//! existing model never leaves anything but the old model or the complete new one at
//! `m.json`. Some kills are aimed at the save itself by watching for its temporary file.
#![cfg(unix)]

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rnn_sentiment::model_file;
use rnn_sentiment::rng::Rng;

use crate::common::*;

const TRIALS: usize = 60;

/// `train` over `m.json` in `dir`: small and single-threaded, so the test stays light.
fn train(dir: &Path, seed: u64) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("rnn-sentiment"));
    cmd.current_dir(dir)
        .args(["train", "--quiet", "--cell", "gru", "--threads", "1"])
        .args(["--embed-dim", "16", "--hidden-dim", "16", "--epochs", "2"])
        .args(["--seed", &seed.to_string(), "-o", "m.json"])
        .arg(repo_file("data/train.csv"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Files in `dir` other than the model.
fn strays(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "m.json")
        .collect()
}

/// How a trial picks its moment to kill.
#[derive(Clone, Copy, Debug)]
enum Moment {
    /// After this many seconds.
    After(f64),
    /// As soon as the save's temporary file appears (after the start-up writability check).
    DuringSave { not_before: f64 },
}

/// Waits for the moment, then sends SIGKILL; returns whether the kill found the temporary
/// file of the save in place.
fn kill_at(child: &mut Child, dir: &Path, moment: Moment) -> bool {
    let start = Instant::now();
    // The save's temporary file: `.m.json.tmp-PID-RANDOM`, the random part unguessable.
    let prefix = format!(".m.json.tmp-{}-", child.id());
    let temp_exists = || strays(dir).iter().any(|n| n.starts_with(&prefix));
    match moment {
        Moment::After(seconds) => {
            std::thread::sleep(Duration::from_secs_f64(seconds));
            let during_save = temp_exists();
            let _ = child.kill();
            during_save
        }
        Moment::DuringSave { not_before } => {
            std::thread::sleep(Duration::from_secs_f64(not_before));
            loop {
                if temp_exists() {
                    let _ = child.kill();
                    return true;
                }
                if matches!(child.try_wait(), Ok(Some(_)))
                    || start.elapsed() > Duration::from_secs(20)
                {
                    let _ = child.kill();
                    return false;
                }
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }
}

#[test]
fn sigkill_during_train_leaves_the_old_or_the_complete_new_model() {
    // On disk rather than a tmpfs /tmp, so the save's fsync takes real time.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let d = dir.path();
    let model = d.join("m.json");

    // The old model, then one complete run over it: the new model and the typical run time.
    assert!(train(d, 1).status().unwrap().success());
    let old = std::fs::read(&model).unwrap();
    // The median of three runs, since the first one also pays for a cold start.
    let mut times: Vec<f64> = (0..3)
        .map(|_| {
            let started = Instant::now();
            assert!(train(d, 2).status().unwrap().success());
            started.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let typical = times[1];
    let new = std::fs::read(&model).unwrap();
    assert_ne!(old, new, "the two seeds must give different models");
    std::fs::write(&model, &old).unwrap();
    assert!(strays(d).is_empty(), "a complete run left {:?}", strays(d));

    let mut rng = Rng::new(20_261_127);
    let mut killed_pids = BTreeSet::new();
    let (mut kept_old, mut got_new, mut during_save) = (0, 0, 0);
    for trial in 0..TRIALS {
        let moment = match trial % 3 {
            0 => Moment::After(rng.uniform_in(0.0, typical)),
            1 => Moment::After(rng.uniform_in(0.8 * typical, 1.1 * typical)),
            _ => Moment::DuringSave {
                not_before: rng.uniform_in(0.3, 0.7) * typical,
            },
        };
        let mut child = train(d, 2).spawn().unwrap();
        let pid = child.id();
        during_save += usize::from(kill_at(&mut child, d, moment));
        let status = child.wait().unwrap();
        if status.signal() == Some(9) {
            killed_pids.insert(pid);
        } else {
            assert!(status.success(), "trial {trial}: {status:?}");
        }

        let bytes = std::fs::read(&model).unwrap();
        model_file::load(&model)
            .unwrap_or_else(|e| panic!("trial {trial} ({moment:?}): m.json does not load: {e}"));
        if bytes == old {
            kept_old += 1;
        } else if bytes == new {
            got_new += 1;
            std::fs::write(&model, &old).unwrap();
        } else {
            panic!("trial {trial} ({moment:?}): m.json is neither the old nor the new model");
        }

        // Only a killed writer may leave its temporary file, one each, holding a prefix of
        // the model it was writing (empty for the start-up writability check).
        for name in strays(d) {
            let pid: u32 = name
                .strip_prefix(".m.json.tmp-")
                .and_then(|p| p.split_once('-'))
                .and_then(|(pid, _)| pid.parse().ok())
                .unwrap_or_else(|| panic!("trial {trial}: unexpected file {name:?}"));
            assert!(
                killed_pids.contains(&pid),
                "trial {trial}: {name} is from a process that was not killed"
            );
            let partial = std::fs::read(d.join(&name)).unwrap();
            assert!(
                new.starts_with(&partial),
                "trial {trial}: {name} is not a prefix of the new model"
            );
        }
    }
    assert_eq!(kept_old + got_new, TRIALS);
    let left = strays(d).len();
    assert!(left <= killed_pids.len());
    eprintln!(
        "{TRIALS} trials (typical run {typical:.2}s): {} killed, {kept_old} kept the old model, \
         {got_new} have the new one; {during_save} kills while the save's temporary file \
         existed; {left} temporary files left by killed writers",
        killed_pids.len()
    );
    // Early kills always keep the old model; whether late ones find the new model depends on
    // the machine's load, and the complete run above already checked that outcome.
    assert!(kept_old > 0, "no kill landed before the save");
}
