//! Training progress on stderr: a bar per epoch on a terminal, else one line per epoch. The
//! bar shows the epoch's ETA and the run's (at most: early stopping may end it sooner), and
//! never wraps: a wrapped line stays behind on the screen when the bar is redrawn or cleared.

use std::io::{self, IsTerminal};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use rnn_sentiment::report::training::EpochTiming;
use rnn_sentiment::train::{BatchProgress, Observer};
use rnn_sentiment::training_info::{EpochRecord, PretrainedInfo};

/// Draws training progress on stderr: a bar per epoch on a terminal, else one line per epoch.
/// Also times each epoch for the report.
pub(crate) struct Progress {
    pub(crate) bar: Option<ProgressBar>,
    pub(crate) interactive: bool,
    pub(crate) quiet: bool,
    pub(crate) epoch_start: Instant,
    /// False for an epoch an interrupted process began: its token count is not all ours.
    pub(crate) epoch_timed: bool,
    pub(crate) last_tokens: usize,
    pub(crate) timings: Vec<EpochTiming>,
    /// This process's first batch of the epoch (a resumed epoch starts past 1) and its time.
    first_batch: Option<(usize, Instant)>,
    /// When the last batch ended, and how long the last validation took (the time from an
    /// epoch's last batch to its end).
    last_batch_at: Instant,
    valid_seconds: f64,
}

impl Progress {
    pub(crate) fn new(quiet: bool) -> Self {
        Self {
            bar: None,
            interactive: !quiet && io::stderr().is_terminal(),
            quiet,
            epoch_start: Instant::now(),
            epoch_timed: false,
            last_tokens: 0,
            timings: Vec::new(),
            first_batch: None,
            last_batch_at: Instant::now(),
            valid_seconds: 0.0,
        }
    }

    /// Removes a half-drawn bar.
    pub(crate) fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn epoch_start(&mut self, _epoch: usize, resumed: bool) {
        self.epoch_start = Instant::now();
        self.epoch_timed = !resumed;
        self.last_tokens = 0;
        self.first_batch = None;
    }

    fn batch(&mut self, p: &BatchProgress) {
        self.last_tokens = p.tokens;
        self.last_batch_at = Instant::now();
        let (first, since) = *self.first_batch.get_or_insert((p.batch, Instant::now()));
        if !self.interactive {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::new(p.batches as u64);
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{wide_bar}] {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar
        });
        let elapsed = self.epoch_start.elapsed().as_secs_f64().max(1e-9);
        // Seconds per batch, from the batches this process ran of the epoch.
        let per_batch =
            (p.batch > first).then(|| since.elapsed().as_secs_f64() / (p.batch - first) as f64);
        let prefix = format!("epoch {}/{}", p.epoch, p.epochs);
        let parts = [
            Some(format!("{}/{}", p.batch, p.batches)),
            per_batch.map(|s| format!("ETA {}", clock(s * (p.batches - p.batch) as f64))),
            per_batch.map(|s| {
                let epoch = s * p.batches as f64 + self.valid_seconds;
                let left = s * (p.batches - p.batch) as f64 + self.valid_seconds;
                format!(
                    "run ≤ {}",
                    clock(left + epoch * (p.epochs - p.epoch) as f64)
                )
            }),
            Some(format!("loss {:.4}", p.loss)),
            Some(format!("acc {:.3}", p.accuracy)),
            Some(format!("{:.0} tok/s", p.tokens as f64 / elapsed)),
        ];
        let width = console::Term::stderr()
            .size_checked()
            .map_or(80, |(_, cols)| usize::from(cols));
        bar.set_message(fitted(
            &parts,
            width.saturating_sub(prefix.chars().count() + MIN_BAR),
        ));
        bar.set_prefix(prefix);
        bar.set_position(p.batch as u64);
    }

    fn pretrained(&mut self, p: &PretrainedInfo, vocab_words: usize) {
        if self.quiet {
            return;
        }
        note!(
            "pretrained vectors {}: {} of {} vocabulary words found ({:.1}%, {} via lowercasing), covering {:.1}% of training tokens",
            p.path.display(),
            p.matched,
            vocab_words,
            100.0 * p.type_coverage,
            p.lowercased,
            100.0 * p.token_coverage
        );
    }

    fn epoch(&mut self, r: &EpochRecord) {
        self.clear();
        self.valid_seconds = self.last_batch_at.elapsed().as_secs_f64();
        let seconds = self.epoch_start.elapsed().as_secs_f64();
        if self.epoch_timed {
            self.timings.push(EpochTiming {
                epoch: r.epoch,
                tokens: self.last_tokens,
                seconds,
            });
        }
        if self.quiet {
            return;
        }
        let valid = match (r.valid_loss, r.valid_accuracy) {
            (Some(l), Some(a)) => format!("  valid loss {l:.4} acc {a:.4}"),
            _ => String::new(),
        };
        note!(
            "epoch {:>3}  train loss {:.4} acc {:.4}{valid}  {:.0} tok/s  {seconds:.1}s",
            r.epoch,
            r.train_loss,
            r.train_accuracy,
            self.last_tokens as f64 / seconds.max(1e-9),
        );
    }
}

/// Columns the bar line leaves for the bar itself (with its brackets and spaces), and at the
/// end for the `^C` a terminal echoes on Ctrl-C.
const MIN_BAR: usize = 16;

/// The parts that fit in `width` columns, joined by spaces, most useful first: a part that
/// does not fit is left out, and so is every part after it (the line stays in one order).
pub(crate) fn fitted(parts: &[Option<String>], width: usize) -> String {
    let mut line = String::new();
    for part in parts.iter().flatten() {
        let len = line.chars().count() + usize::from(!line.is_empty()) + part.chars().count();
        if len > width {
            break;
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(part);
    }
    line
}

/// `seconds` as `m:ss`, or `h:mm:ss` from an hour.
pub(crate) fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s / 3600 {
        0 => format!("{}:{:02}", s / 60, s % 60),
        h => format!("{h}:{:02}:{:02}", s / 60 % 60, s % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_that_do_not_fit_are_left_out_in_order() {
        let parts = [
            Some("12/240".to_string()),
            None,
            Some("ETA 0:12".into()),
            Some("loss 0.6931".into()),
        ];
        assert_eq!(fitted(&parts, 80), "12/240 ETA 0:12 loss 0.6931");
        assert_eq!(fitted(&parts, 15), "12/240 ETA 0:12");
        assert_eq!(fitted(&parts, 14), "12/240");
        assert_eq!(fitted(&parts, 3), "");
    }

    #[test]
    fn clocks_read_as_minutes_or_hours() {
        assert_eq!(clock(0.4), "0:00");
        assert_eq!(clock(75.0), "1:15");
        assert_eq!(clock(3600.0 + 61.0), "1:01:01");
        assert_eq!(clock(-3.0), "0:00");
    }
}
