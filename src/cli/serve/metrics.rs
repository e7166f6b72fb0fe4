//! The server's counters, written in Prometheus's text format at `GET /metrics`: requests by
//! route and status, latency, texts and tokens scored, batch sizes, the model's load time and
//! version, reloads.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex, PoisonError};

/// Upper bounds of the latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];
/// Upper bounds of the batch-size buckets, in texts per forward pass.
const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0];

/// Cumulative-bucket histogram, as Prometheus wants it.
#[derive(Clone)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, x: f64) {
        for (count, &bound) in self.counts.iter_mut().zip(self.bounds) {
            if x <= bound {
                *count += 1;
            }
        }
        self.sum += x;
        self.count += 1;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (count, bound) in self.counts.iter().zip(self.bounds) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// What the model slot reports of the model it serves.
pub(crate) struct ModelFacts {
    pub(crate) path: String,
    pub(crate) tool_version: String,
    pub(crate) format_version: u64,
    pub(crate) generation: u64,
    pub(crate) load_seconds: f64,
    pub(crate) loaded_at: f64,
}

#[derive(Default)]
struct Counters {
    /// (route, status) -> requests.
    requests: BTreeMap<(&'static str, u16), u64>,
    /// route -> latency.
    latency: BTreeMap<&'static str, Histogram>,
    texts: u64,
    tokens: u64,
    batches: Option<Histogram>,
    reloads_ok: u64,
    reloads_failed: u64,
}

/// The counters, shared by the routes and the scoring workers (cheap to clone).
#[derive(Clone, Default)]
pub(crate) struct Metrics {
    counters: Arc<Mutex<Counters>>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Counters) -> T) -> T {
        // A panic elsewhere while counting leaves counts that are still counts.
        f(&mut self.counters.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A request answered: its route (one of a fixed set, so a client cannot grow the
    /// label set), status and seconds from its first byte to its answer.
    pub(crate) fn request(&self, route: &'static str, status: u16, seconds: f64) {
        self.with(|c| {
            *c.requests.entry((route, status)).or_default() += 1;
            c.latency
                .entry(route)
                .or_insert_with(|| Histogram::new(&LATENCY_BUCKETS))
                .observe(seconds);
        });
    }

    /// One forward pass of `texts` texts holding `tokens` tokens.
    pub(crate) fn batch(&self, texts: usize, tokens: usize) {
        self.with(|c| {
            c.texts += texts as u64;
            c.tokens += tokens as u64;
            c.batches
                .get_or_insert_with(|| Histogram::new(&BATCH_BUCKETS))
                .observe(texts as f64);
        });
    }

    pub(crate) fn reload(&self, ok: bool) {
        self.with(|c| {
            if ok {
                c.reloads_ok += 1;
            } else {
                c.reloads_failed += 1;
            }
        });
    }

    /// Everything, in Prometheus's text exposition format (version 0.0.4).
    pub(crate) fn render(&self, model: &ModelFacts) -> String {
        let c = self.with(|c| Counters {
            requests: c.requests.clone(),
            latency: c.latency.clone(),
            batches: c.batches.clone(),
            ..*c
        });
        let mut out = String::new();
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP rnn_sentiment_{name} {help}");
            let _ = writeln!(out, "# TYPE rnn_sentiment_{name} {kind}");
        };
        head(
            &mut out,
            "http_requests_total",
            "counter",
            "HTTP requests answered, by route and status.",
        );
        for ((route, status), n) in &c.requests {
            let _ = writeln!(
                out,
                "rnn_sentiment_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        head(
            &mut out,
            "http_request_duration_seconds",
            "histogram",
            "Seconds from a request's first byte to its answer.",
        );
        for (route, h) in &c.latency {
            h.write(
                &mut out,
                "rnn_sentiment_http_request_duration_seconds",
                &format!("route=\"{route}\""),
            );
        }
        head(&mut out, "texts_scored_total", "counter", "Texts scored.");
        let _ = writeln!(out, "rnn_sentiment_texts_scored_total {}", c.texts);
        head(&mut out, "tokens_scored_total", "counter", "Tokens scored.");
        let _ = writeln!(out, "rnn_sentiment_tokens_scored_total {}", c.tokens);
        head(
            &mut out,
            "batch_texts",
            "histogram",
            "Texts per batched forward pass.",
        );
        c.batches
            .unwrap_or_else(|| Histogram::new(&BATCH_BUCKETS))
            .write(&mut out, "rnn_sentiment_batch_texts", "");
        head(
            &mut out,
            "model_load_seconds",
            "gauge",
            "Seconds the served model took to read, parse and check.",
        );
        let _ = writeln!(
            out,
            "rnn_sentiment_model_load_seconds {}",
            model.load_seconds
        );
        head(
            &mut out,
            "model_loaded_timestamp_seconds",
            "gauge",
            "Unix time the served model was loaded.",
        );
        let _ = writeln!(
            out,
            "rnn_sentiment_model_loaded_timestamp_seconds {}",
            model.loaded_at
        );
        head(
            &mut out,
            "model_info",
            "gauge",
            "The served model: file, the version that wrote it, format version, load count.",
        );
        let _ = writeln!(
            out,
            "rnn_sentiment_model_info{{path=\"{}\",tool_version=\"{}\",format_version=\"{}\",generation=\"{}\",server_version=\"{}\"}} 1",
            label_value(&model.path),
            label_value(&model.tool_version),
            model.format_version,
            model.generation,
            env!("CARGO_PKG_VERSION"),
        );
        head(
            &mut out,
            "model_reloads_total",
            "counter",
            "Model reloads, by result (a failed one keeps the old model).",
        );
        let _ = writeln!(
            out,
            "rnn_sentiment_model_reloads_total{{result=\"ok\"}} {}",
            c.reloads_ok
        );
        let _ = writeln!(
            out,
            "rnn_sentiment_model_reloads_total{{result=\"failed\"}} {}",
            c.reloads_failed
        );
        out
    }
}

/// A label value with Prometheus's escapes (backslash, quote, newline).
fn label_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut h = Histogram::new(&BATCH_BUCKETS);
        for x in [1.0, 3.0, 3.0, 2000.0] {
            h.observe(x);
        }
        let mut out = String::new();
        h.write(&mut out, "b", "");
        assert!(out.contains("b_bucket{le=\"1\"} 1\n"), "{out}");
        assert!(out.contains("b_bucket{le=\"4\"} 3\n"), "{out}");
        assert!(out.contains("b_bucket{le=\"1024\"} 3\n"), "{out}");
        assert!(out.contains("b_bucket{le=\"+Inf\"} 4\n"), "{out}");
        assert!(out.contains("b_sum 2007\nb_count 4\n"), "{out}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
