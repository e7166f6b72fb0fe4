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
