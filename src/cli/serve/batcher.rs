//! Micro-batching: requests wait in one queue; a fixed pool of workers each takes the oldest
//! request and, with it, whatever else is queued for the same model, up to a token budget,
//! and scores them all in one batched forward pass. Under load the queue fills while the
//! workers compute, so batches grow with the load; a lone request finds an idle worker and is
//! scored at once (unless `--max-wait-ms` asks workers to wait for company).
//!
//! A text's probability does not depend on its batch: `logits_batched` gives every row the
//! bits of scoring it alone (rows are grouped by length, and padding never reaches a real
//! row's state), so a request gets `predict`'s numbers whatever it was batched with.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ndarray::{s, Array2};
use tokio::sync::oneshot;

use super::metrics::Metrics;
use super::model_slot::LoadedModel;
use rnn_sentiment::sentiment::{logits_batched, Explanation, INFERENCE_BATCH};

/// How large a batch may grow and how long a worker waits to grow it.
#[derive(Clone, Copy)]
pub(crate) struct BatchLimits {
    pub(crate) max_tokens: usize,
    pub(crate) max_wait: Duration,
}

/// One request's texts, to be scored by `model`.
pub(crate) struct Job {
    pub(crate) model: Arc<LoadedModel>,
    pub(crate) texts: Vec<String>,
    /// `Some(class)`: explain each text (to `class`, or the predicted class); scored alone,
    /// as its cost is its texts' tokens squared.
    pub(crate) explain: Option<Option<usize>>,
    pub(crate) reply: oneshot::Sender<Result<Scored, String>>,
}

/// A request's answer from the workers.
pub(crate) struct Scored {
    pub(crate) texts: Vec<String>,
    /// `(texts, K)`: the positive class's probability (K = 1) or each class's.
    pub(crate) probabilities: Array2<f64>,
    /// One per text when explaining, else empty.
    pub(crate) explanations: Vec<Explanation>,
    pub(crate) model: Arc<LoadedModel>,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    stopped: bool,
}

impl State {
    /// Drops the oldest jobs whose clients have gone (timed out or disconnected): under
    /// overload, the workers' time goes to requests someone still waits for.
    fn drop_abandoned(&mut self) {
        while self.jobs.front().is_some_and(|job| job.reply.is_closed()) {
            self.jobs.pop_front();
        }
    }
}

#[derive(Default)]
struct Queue {
    state: Mutex<State>,
    changed: Condvar,
}

pub(crate) struct Batcher {
    queue: Arc<Queue>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl Batcher {
    /// Starts `workers` scoring threads; rayon's pool (the one `predict` uses) gets as many
    /// threads, so that one large batch may still use every core.
    pub(crate) fn start(workers: usize, limits: BatchLimits, metrics: Metrics) -> Result<Self> {
        crate::cli::args::set_inference_threads(workers)?;
        let queue = Arc::new(Queue::default());
        let handles = (0..workers)
            .map(|i| {
                let (queue, metrics) = (Arc::clone(&queue), metrics.clone());
                std::thread::Builder::new()
                    .name(format!("serve-score-{i}"))
                    .spawn(move || work(&queue, limits, &metrics))
                    .context("cannot start a scoring worker")
            })
            .collect::<Result<_>>()?;
        Ok(Batcher {
            queue,
            workers: Mutex::new(handles),
        })
    }

    /// Queues a job; its answer comes on the job's `reply`.
    pub(crate) fn submit(&self, job: Job) {
        let mut state = self.queue.lock();
        state.jobs.push_back(job);
        drop(state);
        self.queue.changed.notify_one();
    }

    /// Lets the workers finish what is queued, then stops them.
    pub(crate) fn stop(&self) {
        self.queue.lock().stopped = true;
        self.queue.changed.notify_all();
        let handles =
            std::mem::take(&mut *self.workers.lock().unwrap_or_else(PoisonError::into_inner));
        for handle in handles {
            let _ = handle.join();
        }
    }
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The oldest job, waiting for one; `None` once stopped and empty.
    fn next(&self) -> Option<Job> {
        let mut state = self.lock();
        loop {
            state.drop_abandoned();
            if let Some(job) = state.jobs.pop_front() {
                return Some(job);
            }
            if state.stopped {
                return None;
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The oldest job if it can join a batch for `model` (same model, not an explanation),
    /// waiting until `deadline` for one to arrive.
    fn next_for(&self, model: &Arc<LoadedModel>, deadline: Instant) -> Option<Job> {
        let mut state = self.lock();
        loop {
            state.drop_abandoned();
            match state.jobs.front() {
                Some(job) if Arc::ptr_eq(&job.model, model) && job.explain.is_none() => {
                    return state.jobs.pop_front()
                }
                Some(_) => return None,
                None if state.stopped => return None,
                None => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// A job with its texts' ids.
struct Encoded {
    job: Job,
    ids: Vec<Vec<u32>>,
}

impl Encoded {
    fn new(job: Job) -> Self {
        let ids = job
            .texts
            .iter()
            .map(|t| job.model.model.encode(t))
            .collect();
        Encoded { job, ids }
    }

    fn tokens(&self) -> usize {
        self.ids.iter().map(Vec::len).sum()
    }
}

/// A worker: takes a batch, scores it, answers each of its requests; until stopped.
fn work(queue: &Queue, limits: BatchLimits, metrics: &Metrics) {
    while let Some(first) = queue.next() {
        let model = Arc::clone(&first.model);
        let explain = first.explain.is_some();
        let mut batch = vec![Encoded::new(first)];
        let mut tokens = batch[0].tokens();
        let deadline = Instant::now() + limits.max_wait;
        while !explain && tokens < limits.max_tokens {
            let Some(job) = queue.next_for(&model, deadline) else {
                break;
            };
            let job = Encoded::new(job);
            tokens += job.tokens();
            batch.push(job);
        }
        score(&model, batch, tokens, metrics);
    }
}

/// Scores a batch in one forward pass and sends each job its rows.
fn score(model: &Arc<LoadedModel>, batch: Vec<Encoded>, tokens: usize, metrics: &Metrics) {
    let sequences: Vec<&[u32]> = batch
        .iter()
        .flat_map(|b| &b.ids)
        .map(Vec::as_slice)
        .collect();
    let texts = sequences.len();
    // A panic here would be a bug, but it must cost one batch its answers (500), not the
    // server a worker.
    let probabilities = catch_unwind(AssertUnwindSafe(|| {
        let logits = logits_batched(&model.model.classifier, &sequences, INFERENCE_BATCH);
        model.model.output_probabilities(logits)
    }));
    metrics.batch(texts, tokens);
    let mut row = 0;
    for Encoded { job, ids } in batch {
        let rows = row..row + ids.len();
        row = rows.end;
        let answer = match &probabilities {
            Ok(p) => explain(&job).map(|explanations| Scored {
                probabilities: p.slice(s![rows, ..]).to_owned(),
                explanations,
                texts: job.texts,
                model: job.model,
            }),
            Err(_) => Err("scoring failed; see the server's log".to_string()),
        };
        // The client may have gone (timed out): nobody to answer.
        let _ = job.reply.send(answer);
    }
}

/// The explanations a job asks for (none unless it explains).
fn explain(job: &Job) -> Result<Vec<Explanation>, String> {
    let Some(class) = job.explain else {
        return Ok(Vec::new());
    };
    catch_unwind(AssertUnwindSafe(|| {
        job.model.model.explain_many(&job.texts, class)
    }))
    .map_err(|_| "explaining failed; see the server's log".to_string())
}
