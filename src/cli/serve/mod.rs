//! `serve`: the model behind an HTTP API. The pieces: `request` reads and checks a predict
//! body, `batcher` scores concurrent requests together on a fixed pool of workers, `model_slot`
//! holds the model and reloads it, `routes` answers each route, `listener` accepts connections
//! and shuts down gracefully, `write_deadline` cuts off a client that stops reading,
//! `metrics` counts for Prometheus, `log` writes the access log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use super::args::{thread_count, ModelArg};
use rnn_sentiment::limits;

mod batcher;
mod listener;
mod log;
mod metrics;
mod model_slot;
mod request;
mod routes;
mod write_deadline;

use batcher::{BatchLimits, Batcher};
use log::Log;
use metrics::Metrics;
use model_slot::ModelSlot;
use request::RequestLimits;

pub(crate) const SERVE_HELP: &str = "\
API (JSON in, JSON out; every error is {\"error\": message, \"status\": code}):
  POST /v1/predict    body {\"text\": \"...\"} or {\"texts\": [\"...\", ...]}, optionally
                      \"explain\": true, and for a K-class model \"top_k\": N and
                      \"explain_class\": NAME. Answer: for \"text\", the object predict --json
                      prints for it; for \"texts\", {\"predictions\": [those objects, in input
                      order]}. The probabilities are predict's, bit for bit.
  GET  /v1/model      what inspect --json prints of the model being served
  GET  /healthz       200 while the process runs
  GET  /readyz        200 while serving the model, 503 once shutting down
  GET  /metrics       Prometheus text format: requests by route and status, latency
                      histogram, texts and tokens scored, batch sizes, model load time and
                      version, reloads
  POST /v1/reload     with --admin only: reload the model file (as SIGHUP does)
Errors: 400 malformed JSON or a wrong field (the message names it), or a text longer than
--max-text-chars; 404 unknown route; 405 wrong method; 408 a request not done within
--request-timeout (a client that stops sending headers, or stops reading its answer, is
disconnected after it too); 413 a body over --max-body-bytes or more texts than --max-texts;
500 a reload that failed (the old model keeps serving).

Scoring: concurrent requests are scored together in one batched forward pass (up to
--max-batch-tokens tokens; a worker waits up to --max-wait-ms for more to arrive) on --threads
workers. A text's probability does not depend on what it is batched with.

Operations: the bound address is logged at start (\"listening\", with --addr 127.0.0.1:0 the
system picks the port). SIGTERM or Ctrl-C: stop accepting, finish the requests in flight, exit
0. SIGHUP (or POST /v1/reload with --admin) reloads the model file; a file that does not load
is refused and logged, and the old model keeps serving. One access-log line per request on
stderr (--log-format text or json). It binds to loopback by default and speaks plain HTTP with
no authentication: for TLS and auth put a reverse proxy (nginx, Caddy, Envoy) in front of it.";

#[derive(Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) model: ModelArg,
    /// Address and port to listen on (port 0: any free port, logged at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) addr: SocketAddr,
    /// Scoring workers (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub(crate) threads: usize,
    /// Tokens scored together in one forward pass at most (a request is never split).
    #[arg(long, default_value_t = 4096)]
    pub(crate) max_batch_tokens: usize,
    /// Milliseconds a worker waits for more requests to fill a batch (0: score what is queued
    /// at once, so that a lone request is never delayed).
    #[arg(long, default_value_t = 0)]
    pub(crate) max_wait_ms: u64,
    /// Largest request body in bytes (larger: 413).
    #[arg(long, default_value_t = 1 << 20)]
    pub(crate) max_body_bytes: usize,
    /// Most texts in one request (more: 413).
    #[arg(long, default_value_t = 256)]
    pub(crate) max_texts: usize,
    /// Longest text in characters (longer: 400).
    #[arg(long, default_value_t = 10_000)]
    pub(crate) max_text_chars: usize,
    /// Most open connections; more wait to be accepted.
    #[arg(long, default_value_t = 256)]
    pub(crate) max_connections: usize,
    /// Seconds a request may take from its first byte to its answer, headers and body
    /// included (a slow or stalled client gets 408 or is disconnected).
    #[arg(long, default_value_t = 30.0)]
    pub(crate) request_timeout: f64,
    /// Access and event log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
    /// Enable the admin route POST /v1/reload.
    #[arg(long)]
    pub(crate) admin: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// The checked options the server runs with.
pub(crate) struct Settings {
    pub(crate) addr: SocketAddr,
    pub(crate) workers: usize,
    pub(crate) batch: BatchLimits,
    pub(crate) request: RequestLimits,
    pub(crate) max_connections: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) admin: bool,
}

/// What every route shares.
pub(crate) struct Shared {
    pub(crate) model: ModelSlot,
    pub(crate) batcher: Batcher,
    pub(crate) metrics: Metrics,
    pub(crate) log: Log,
    pub(crate) settings: Settings,
    /// Set once shutdown starts: `/readyz` answers 503.
    pub(crate) draining: std::sync::atomic::AtomicBool,
}

/// Checks each option against its limit.
fn settings(args: &ServeArgs) -> Result<Settings> {
    let in_range = |name: &str, value: usize, max: usize| -> Result<()> {
        if value == 0 || value > max {
            bail!("invalid value for --{name}: {value}; give a number from 1 to {max}");
        }
        Ok(())
    };
    in_range(
        "max-batch-tokens",
        args.max_batch_tokens,
        limits::MAX_BATCH_TOKENS,
    )?;
    in_range(
        "max-body-bytes",
        args.max_body_bytes,
        limits::MAX_REQUEST_BYTES,
    )?;
    in_range("max-texts", args.max_texts, limits::MAX_REQUEST_TEXTS)?;
    in_range(
        "max-text-chars",
        args.max_text_chars,
        limits::MAX_TEXT_CHARS,
    )?;
    in_range(
        "max-connections",
        args.max_connections,
        limits::MAX_CONNECTIONS,
    )?;
    if args.max_wait_ms > limits::MAX_WAIT_MS {
        bail!(
            "invalid value for --max-wait-ms: {}; give at most {} (0: no wait)",
            args.max_wait_ms,
            limits::MAX_WAIT_MS
        );
    }
    let timeout = args.request_timeout;
    if !(timeout > 0.0 && timeout <= limits::MAX_REQUEST_TIMEOUT_SECONDS) {
        bail!(
            "invalid value for --request-timeout: {timeout}; give seconds above 0 and at most {}",
            limits::MAX_REQUEST_TIMEOUT_SECONDS
        );
    }
    Ok(Settings {
        addr: args.addr,
        workers: thread_count(args.threads)?,
        batch: BatchLimits {
            max_tokens: args.max_batch_tokens,
            max_wait: Duration::from_millis(args.max_wait_ms),
        },
        request: RequestLimits {
            max_body_bytes: args.max_body_bytes,
            max_texts: args.max_texts,
            max_text_chars: args.max_text_chars,
        },
        max_connections: args.max_connections,
        request_timeout: Duration::from_secs_f64(timeout),
        admin: args.admin,
    })
}

pub(crate) fn serve(args: ServeArgs) -> Result<i32> {
    let settings = settings(&args)?;
    let log = Log::new(args.log_format);
    let metrics = Metrics::new();
    // A model that does not load stops the command before it listens.
    let model = ModelSlot::load(&args.model.model, &metrics)?;
    let batcher = Batcher::start(settings.workers, settings.batch, metrics.clone())?;
    let shared = Arc::new(Shared {
        model,
        batcher,
        metrics,
        log,
        settings,
        draining: std::sync::atomic::AtomicBool::new(false),
    });
    // HTTP work is light next to scoring: as many event-loop threads as scoring workers.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(shared.settings.workers.clamp(1, 4))
        .thread_name("serve-http")
        .enable_all()
        .build()
        .context("cannot start the HTTP runtime")?;
    runtime.block_on(listener::run(Arc::clone(&shared)))?;
    // Every connection is closed: the workers finish what is queued and stop.
    shared.batcher.stop();
    shared.log.event("stopped", &[]);
    Ok(0)
}
