//! Every size, count and length a user controls, with its limit: checked before anything
//! is allocated, and named in the error when exceeded.
//! They keep a typo (or a hostile file) from asking for absurd memory or time.

/// Largest embedding or hidden size.
pub const MAX_DIM: usize = 8192;
/// Largest vocabulary, counting `<pad>` and `<unk>`.
pub const MAX_VOCAB: usize = 5_000_000;
/// Largest total number of parameters (4 GB of f32).
pub const MAX_PARAMS: usize = 1 << 30;
/// Largest `max_len` (tokens kept per text).
pub const MAX_LEN: usize = 1_000_000;
/// Most classes of a K-class model (the head's outputs).
pub const MAX_CLASSES: usize = 1000;
/// Most stacked layers.
pub const MAX_LAYERS: usize = 16;
/// Largest batch (rows per training step). A batch larger than the data is the whole data.
pub const MAX_BATCH: usize = 1 << 20;
/// Most epochs.
pub const MAX_EPOCHS: usize = 100_000;
/// Most worker threads a `--threads` may ask for (inference never uses more than the
/// machine's cores, training never more than a batch's shards).
pub const MAX_THREADS: usize = 1024;
/// Longest line of a data file or of texts to score (64 MiB).
pub const MAX_LINE_BYTES: usize = 64 << 20;
/// Largest data file (CSV/TSV), read whole into memory (8 GiB).
pub const MAX_DATA_BYTES: u64 = 8 << 30;
/// Largest model file (4 GiB, some 300 million parameters as JSON text).
pub const MAX_MODEL_BYTES: u64 = 4 << 30;
/// Largest checkpoint file (weights, best weights and optimizer state: 8 GiB).
pub const MAX_CHECKPOINT_BYTES: u64 = 8 << 30;
/// Largest config file (1 MiB).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

// `serve`: what a client sends is bounded by these options, each checked before the memory or
// the work it asks for; the constants are the largest value each option accepts.

/// Largest request body `serve --max-body-bytes` allows (64 MiB).
pub const MAX_REQUEST_BYTES: usize = 64 << 20;
/// Most texts in one request `serve --max-texts` allows.
pub const MAX_REQUEST_TEXTS: usize = 100_000;
/// Longest text, in characters, `serve --max-text-chars` allows.
pub const MAX_TEXT_CHARS: usize = 1 << 20;
/// Most open connections `serve --max-connections` allows.
pub const MAX_CONNECTIONS: usize = 65_536;
/// Largest `serve --max-batch-tokens` (tokens of requests scored in one forward pass).
pub const MAX_BATCH_TOKENS: usize = 1 << 20;
/// Longest `serve --max-wait-ms`, in milliseconds.
pub const MAX_WAIT_MS: u64 = 10_000;
/// Longest `serve --request-timeout`, in seconds.
pub const MAX_REQUEST_TIMEOUT_SECONDS: f64 = 3600.0;
