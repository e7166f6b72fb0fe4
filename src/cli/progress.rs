//! Training progress on stderr: a bar per epoch on a terminal, else one line per epoch.

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
    }

    fn batch(&mut self, p: &BatchProgress) {
        self.last_tokens = p.tokens;
        if !self.interactive {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::new(p.batches as u64);
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar
        });
        let rate = p.tokens as f64 / self.epoch_start.elapsed().as_secs_f64().max(1e-9);
        bar.set_prefix(format!("epoch {}/{}", p.epoch, p.epochs));
        bar.set_message(format!(
            "loss {:.4} acc {:.3} {:.0} tok/s",
            p.loss, p.accuracy, rate
        ));
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
