//! Configuration: what a model is ([`ModelConfig`], saved in the model file) and how it is
//! trained ([`TrainConfig`]). Values are validated once, in [`TrainConfig::validate`] and
//! [`ModelConfig::validate`]; the rest of the library trusts them.
//!
//! Training options come from three places, in this order of precedence: the command line, a
//! TOML file ([`ConfigFile`], keys named like the long options with `_` for `-`), and the
//! built-in defaults in [`TrainConfig::default`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::limits;
use crate::text::TokenizerConfig;

/// The recurrent cell, as in `torch.nn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    /// Elman RNN with tanh (`nn.RNN`).
    Rnn,
    /// Long short-term memory (`nn.LSTM`), gates i, f, g, o.
    Lstm,
    /// Gated recurrent unit (`nn.GRU`), gates r, z, n, reset applied after the recurrent product.
    Gru,
}

impl CellKind {
    /// Number of gate blocks G stacked in `weight_ih`/`weight_hh` (rows are G*H).
    pub fn gates(self) -> usize {
        match self {
            CellKind::Rnn => 1,
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }

    /// The lowercase name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            CellKind::Rnn => "rnn",
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
        }
    }
}

/// How the head summarises the sequence of top-layer outputs of a row (all mask-aware: only
/// real tokens count).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Pooling {
    /// The state after the last real token (for a bidirectional model: the forward state after
    /// the last token and the backward state after the first, as PyTorch's `h_n`).
    Last,
    /// The mean over real tokens.
    Mean,
    /// The element-wise maximum over real tokens.
    Max,
    /// `last` and `max` concatenated.
    LastMax,
}

impl Pooling {
    /// How many D*H-wide blocks the pooled vector has.
    pub fn blocks(self) -> usize {
        match self {
            Pooling::LastMax => 2,
            _ => 1,
        }
    }

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Pooling::Last => "last",
            Pooling::Mean => "mean",
            Pooling::Max => "max",
            Pooling::LastMax => "last-max",
        }
    }
}

fn one() -> usize {
    1
}

fn last() -> Pooling {
    Pooling::Last
}

/// What a trained model is: everything needed to rebuild it from its weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub cell: CellKind,
    /// V: rows of the embedding, counting `<pad>` (id 0) and `<unk>` (id 1).
    pub vocab_size: usize,
    /// E.
    pub embed_dim: usize,
    /// H.
    pub hidden_dim: usize,
    /// L: stacked recurrent layers; layer k > 0 reads layer k-1's outputs.
    #[serde(default = "one")]
    pub layers: usize,
    /// Run a second cell over the reversed sequence (D = 2) and concatenate its outputs.
    #[serde(default)]
    pub bidirectional: bool,
    /// How the head summarises the top layer's outputs.
    #[serde(default = "last")]
    pub pooling: Pooling,
    /// Initial LSTM forget-gate bias (recorded for reference; only used at initialisation).
    pub forget_bias: Option<f64>,
    /// Probability at or above which a text is called positive.
    pub threshold: f64,
}

impl ModelConfig {
    /// Checks sizes against [`limits`]; `what` prefixes messages (e.g. the option's origin).
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.vocab_size < 2 || self.vocab_size > limits::MAX_VOCAB {
            return Err(format!(
                "vocab_size {} is outside 2..={}",
                self.vocab_size,
                limits::MAX_VOCAB
            ));
        }
        for (name, value) in [
            ("embed_dim", self.embed_dim),
            ("hidden_dim", self.hidden_dim),
        ] {
            if value == 0 || value > limits::MAX_DIM {
                return Err(format!("{name} {value} is outside 1..={}", limits::MAX_DIM));
            }
        }
        if self.layers == 0 || self.layers > limits::MAX_LAYERS {
            return Err(format!(
                "layers {} is outside 1..={}",
                self.layers,
                limits::MAX_LAYERS
            ));
        }
        let params = self.parameter_count();
        if params > limits::MAX_PARAMS {
            return Err(format!(
                "{params} parameters is more than the limit of {}",
                limits::MAX_PARAMS
            ));
        }
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            return Err(format!(
                "threshold {} is not strictly between 0 and 1",
                self.threshold
            ));
        }
        if let Some(b) = self.forget_bias {
            if !b.is_finite() {
                return Err(format!("forget_bias {b} is not finite"));
            }
        }
        Ok(())
    }

    /// D: 2 for a bidirectional model, else 1.
    pub fn directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }

    /// Width of each layer's output, D*H (saturating).
    pub fn output_dim(&self) -> usize {
        self.directions().saturating_mul(self.hidden_dim)
    }

    /// Width of the pooled vector the head reads.
    pub fn head_dim(&self) -> usize {
        self.pooling.blocks().saturating_mul(self.output_dim())
    }

    /// Input width of layer `layer`: E for the first, D*H above it.
    pub fn layer_input_dim(&self, layer: usize) -> usize {
        if layer == 0 {
            self.embed_dim
        } else {
            self.output_dim()
        }
    }

    /// Number of scalar parameters (computed without overflow for any input).
    pub fn parameter_count(&self) -> usize {
        let (v, e, h) = (self.vocab_size, self.embed_dim, self.hidden_dim);
        let gh = self.cell.gates().saturating_mul(h);
        let per_direction =
            |input: usize| gh.saturating_mul(input.saturating_add(h).saturating_add(2));
        let first = per_direction(e);
        let upper = per_direction(self.output_dim());
        let layers = first.saturating_add(upper.saturating_mul(self.layers.saturating_sub(1)));
        v.saturating_mul(e)
            .saturating_add(layers.saturating_mul(self.directions()))
            .saturating_add(self.head_dim())
            .saturating_add(1)
    }
}

/// Learning-rate schedule over all training steps (after any warm-up).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    /// The same rate throughout.
    Constant,
    /// Linear decay to 0 at the last step.
    Linear,
    /// Cosine decay to 0 at the last step.
    Cosine,
}

impl LrSchedule {
    /// The learning-rate multiplier at `step` (0-based) of `total`, with linear warm-up over
    /// the first `warmup_steps`: `(step + 1) / warmup_steps` during warm-up, then
    /// constant 1, linear `1 - p` or cosine `(1 + cos(pi p)) / 2`, where `p` is the fraction of
    /// the post-warm-up steps already taken.
    pub fn factor(self, step: usize, total: usize, warmup_steps: usize) -> f64 {
        if step < warmup_steps {
            return (step + 1) as f64 / warmup_steps as f64;
        }
        let span = total.saturating_sub(warmup_steps).max(1);
        let progress = ((step - warmup_steps) as f64 / span as f64).min(1.0);
        match self {
            LrSchedule::Constant => 1.0,
            LrSchedule::Linear => 1.0 - progress,
            LrSchedule::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        }
    }
}

/// Optimizer choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam (beta1 0.9, beta2 0.999, eps 1e-8), as `torch.optim.Adam`.
    Adam,
    /// SGD with momentum, as `torch.optim.SGD(momentum=..)`.
    Sgd,
}

/// Every option of `train`, validated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub cell: CellKind,
    pub embed_dim: usize,
    pub hidden_dim: usize,
    pub layers: usize,
    pub bidirectional: bool,
    pub pooling: Pooling,
    /// Standard deviation of the embedding's normal initialisation (PyTorch's is 1).
    pub embed_init: f64,
    /// Dropout on the embeddings.
    pub embed_dropout: f64,
    /// Dropout between stacked layers and before the head.
    pub dropout: f64,
    pub forget_bias: Option<f64>,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub optimizer: OptimizerKind,
    pub momentum: f64,
    /// Decoupled weight decay (AdamW; L2 for SGD) on weight matrices, not biases.
    pub weight_decay: f64,
    pub lr_schedule: LrSchedule,
    /// Linear warm-up over this fraction of all steps.
    pub warmup: f64,
    /// Batch texts of similar length together (shuffled, seeded).
    pub bucket: bool,
    /// Weight of the positive class in the loss (`pos_weight` of `BCEWithLogitsLoss`).
    pub pos_weight: f64,
    /// Pretrained word vectors (word2vec/GloVe/fastText text format) to initialise the
    /// embedding; words not in the file keep the usual initialisation.
    pub embeddings: Option<PathBuf>,
    /// Keep the embedding fixed (useful with pretrained vectors).
    pub freeze_embeddings: bool,
    /// Update every embedding row every step (PyTorch's dense Adam) instead of only the rows
    /// of the batch's tokens (lazy, much faster for large vocabularies).
    pub dense_embedding_updates: bool,
    /// Clip the global gradient norm to this; 0 turns clipping off.
    pub clip_norm: f64,
    /// Stop after this many epochs without a lower validation loss; 0 turns it off.
    pub patience: usize,
    /// Fraction of the training file held out for validation when no validation file is given.
    pub valid_split: f64,
    /// Keep tokens seen at least this often in the training split.
    pub min_count: usize,
    /// Largest vocabulary, counting `<pad>` and `<unk>`.
    pub max_vocab: usize,
    pub seed: u64,
    pub tokenizer: TokenizerConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            cell: CellKind::Lstm,
            embed_dim: 128,
            hidden_dim: 128,
            // The recipe below comes from the sweep recorded in docs/sweep.md: a bidirectional
            // layer read through max pooling, with dropout and a small embedding init, was the
            // best single recipe across SST-2, MR, CR and IMDB.
            layers: 1,
            bidirectional: true,
            pooling: Pooling::Max,
            embed_init: 0.1,
            embed_dropout: 0.3,
            dropout: 0.5,
            forget_bias: Some(1.0),
            epochs: 10,
            batch_size: 32,
            lr: 2e-3,
            optimizer: OptimizerKind::Adam,
            momentum: 0.9,
            weight_decay: 0.0,
            lr_schedule: LrSchedule::Constant,
            warmup: 0.0,
            bucket: true,
            pos_weight: 1.0,
            embeddings: None,
            freeze_embeddings: false,
            dense_embedding_updates: false,
            clip_norm: 5.0,
            patience: 2,
            valid_split: 0.1,
            min_count: 1,
            max_vocab: 30_000,
            seed: 42,
            tokenizer: TokenizerConfig::default(),
        }
    }
}

impl TrainConfig {
    /// Checks every value once; the error names the option and says what is allowed.
    pub fn validate(&self) -> Result<()> {
        let positive = |name: &'static str, v: usize| {
            if v == 0 {
                Err(Error::option(name, "must be at least 1"))
            } else {
                Ok(())
            }
        };
        positive("epochs", self.epochs)?;
        positive("batch-size", self.batch_size)?;
        for (name, value, limit) in [
            ("epochs", self.epochs, limits::MAX_EPOCHS),
            ("batch-size", self.batch_size, limits::MAX_BATCH),
        ] {
            if value > limit {
                return Err(Error::option(
                    name,
                    format!("{value} is more than the limit of {limit}"),
                ));
            }
        }
        positive("min-count", self.min_count)?;
        for (name, v) in [
            ("embed-dim", self.embed_dim),
            ("hidden-dim", self.hidden_dim),
        ] {
            if v == 0 || v > limits::MAX_DIM {
                return Err(Error::option(
                    name,
                    format!("{v} is outside 1..={}", limits::MAX_DIM),
                ));
            }
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::option(
                "lr",
                format!("{} must be a positive number such as 0.002", self.lr),
            ));
        }
        if !(self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum)) {
            return Err(Error::option(
                "momentum",
                format!("{} must be in [0, 1)", self.momentum),
            ));
        }
        if !(self.clip_norm.is_finite() && self.clip_norm >= 0.0) {
            return Err(Error::option(
                "clip-norm",
                format!("{} must be >= 0 (0 turns clipping off)", self.clip_norm),
            ));
        }
        if !(self.valid_split.is_finite() && (0.0..1.0).contains(&self.valid_split)) {
            return Err(Error::option(
                "valid-split",
                format!("{} must be in [0, 1)", self.valid_split),
            ));
        }
        if self.max_vocab < 2 || self.max_vocab > limits::MAX_VOCAB {
            return Err(Error::option(
                "max-vocab",
                format!(
                    "{} is outside 2..={} (it counts <pad> and <unk>)",
                    self.max_vocab,
                    limits::MAX_VOCAB
                ),
            ));
        }
        if let Some(b) = self.forget_bias {
            if !b.is_finite() {
                return Err(Error::option("forget-bias", format!("{b} is not finite")));
            }
        }
        if self.layers == 0 || self.layers > limits::MAX_LAYERS {
            return Err(Error::option(
                "layers",
                format!("{} is outside 1..={}", self.layers, limits::MAX_LAYERS),
            ));
        }
        for (name, p) in [
            ("dropout", self.dropout),
            ("embed-dropout", self.embed_dropout),
            ("warmup", self.warmup),
        ] {
            if !(p.is_finite() && (0.0..1.0).contains(&p)) {
                return Err(Error::option(name, format!("{p} must be in [0, 1)")));
            }
        }
        if !(self.embed_init.is_finite() && self.embed_init > 0.0) {
            return Err(Error::option(
                "embed-init",
                format!("{} must be a positive standard deviation", self.embed_init),
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::option(
                "weight-decay",
                format!("{} must be >= 0", self.weight_decay),
            ));
        }
        if !(self.pos_weight.is_finite() && self.pos_weight > 0.0) {
            return Err(Error::option(
                "pos-weight",
                format!("{} must be a positive number", self.pos_weight),
            ));
        }
        self.tokenizer.validate()
    }

    /// The model this configuration trains, for a vocabulary of `vocab_size` entries.
    pub fn model_config(&self, vocab_size: usize) -> ModelConfig {
        ModelConfig {
            cell: self.cell,
            vocab_size,
            embed_dim: self.embed_dim,
            hidden_dim: self.hidden_dim,
            layers: self.layers,
            bidirectional: self.bidirectional,
            pooling: self.pooling,
            forget_bias: match self.cell {
                CellKind::Lstm => self.forget_bias,
                _ => None,
            },
            threshold: 0.5,
        }
    }
}

/// The TOML configuration file for `train`: every key is optional and overrides the default;
/// command-line options override the file. `config.example.toml` documents every key.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub cell: Option<CellKind>,
    pub embed_dim: Option<usize>,
    pub hidden_dim: Option<usize>,
    pub layers: Option<usize>,
    pub bidirectional: Option<bool>,
    pub pooling: Option<Pooling>,
    pub embed_dropout: Option<f64>,
    pub embed_init: Option<f64>,
    pub dropout: Option<f64>,
    pub weight_decay: Option<f64>,
    pub lr_schedule: Option<LrSchedule>,
    pub warmup: Option<f64>,
    pub bucket: Option<bool>,
    pub pos_weight: Option<f64>,
    pub embeddings: Option<PathBuf>,
    pub freeze_embeddings: Option<bool>,
    pub dense_embedding_updates: Option<bool>,
    /// A number, or the string "none" to keep PyTorch's plain initialisation.
    pub forget_bias: Option<ForgetBias>,
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub lr: Option<f64>,
    pub optimizer: Option<OptimizerKind>,
    pub momentum: Option<f64>,
    pub clip_norm: Option<f64>,
    pub patience: Option<usize>,
    pub valid_split: Option<f64>,
    pub valid: Option<PathBuf>,
    pub min_count: Option<usize>,
    pub max_vocab: Option<usize>,
    pub seed: Option<u64>,
    pub max_len: Option<usize>,
    pub truncation: Option<crate::text::Truncation>,
    pub lowercase: Option<bool>,
    pub punctuation: Option<bool>,
    pub strip_html: Option<bool>,
    pub text_column: Option<String>,
    pub label_column: Option<String>,
    pub delimiter: Option<String>,
    pub output: Option<PathBuf>,
    /// Directory for the training report (`train --report`).
    pub report: Option<PathBuf>,
    pub quiet: Option<bool>,
}

/// `forget_bias` in a config file: a number or `"none"`.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ForgetBias {
    Value(f64),
    Named(NoneWord),
}

/// The word `none`.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoneWord {
    None,
}

impl ForgetBias {
    /// The bias, or `None` for "none".
    pub fn value(self) -> Option<f64> {
        match self {
            ForgetBias::Value(v) => Some(v),
            ForgetBias::Named(NoneWord::None) => None,
        }
    }
}

impl ConfigFile {
    /// Reads and parses a TOML file; errors name the file, line and key.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = crate::files::read_limited(path, limits::MAX_CONFIG_BYTES, "config file")?;
        let text = String::from_utf8(bytes).map_err(|e| Error::ConfigFile {
            path: path.to_path_buf(),
            message: format!(
                "not UTF-8 text (bad byte at offset {}); a config file is TOML text",
                e.utf8_error().valid_up_to()
            ),
        })?;
        Self::parse(&text).map_err(|message| Error::ConfigFile {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses TOML text. An unknown key is reported with its line and the closest valid key.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        // toml's message spans several lines with a source excerpt; keep it, trimmed.
        let toml_message = |e: toml::de::Error| e.to_string().trim_end().to_string();
        let table: toml::Table = toml::from_str(text).map_err(toml_message)?;
        if let Some(message) = unknown_key_message(text, &table) {
            return Err(message);
        }
        let file: Self = toml::from_str(text).map_err(toml_message)?;
        // A bad value is the file's fault even if the command line would override it: name
        // the key and its line rather than an option the user never typed.
        let located = |key: &str, message: String| {
            let location = key_line(text, key).map_or(String::new(), |l| format!("line {l}: "));
            format!("{location}invalid value for {key}: {message}")
        };
        match file.apply(TrainConfig::default()).validate() {
            Ok(()) => {}
            Err(Error::InvalidOption { name, message }) => {
                return Err(located(&name.replace('-', "_"), message))
            }
            Err(other) => return Err(other.to_string()),
        }
        if let Some(d) = &file.delimiter {
            crate::data::parse_delimiter(d).map_err(|m| located("delimiter", m))?;
        }
        // As on the command line, a path or a column name may not be empty.
        let paths = [
            ("output", &file.output),
            ("report", &file.report),
            ("valid", &file.valid),
            ("embeddings", &file.embeddings),
        ];
        for (key, path) in paths {
            if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                return Err(located(key, "the path is empty".into()));
            }
        }
        for (key, column) in [
            ("text_column", &file.text_column),
            ("label_column", &file.label_column),
        ] {
            if column.as_ref().is_some_and(|c| c.trim().is_empty()) {
                return Err(located(key, "the column name is empty".into()));
            }
        }
        Ok(file)
    }

    /// `base` with every option this file sets replaced by the file's value.
    pub fn apply(&self, base: TrainConfig) -> TrainConfig {
        let mut c = base;
        macro_rules! set {
            ($($field:ident),*) => {
                $(if let Some(v) = &self.$field {
                    c.$field = v.clone();
                })*
            };
        }
        set!(
            cell,
            embed_dim,
            hidden_dim,
            layers,
            bidirectional,
            pooling,
            embed_dropout,
            embed_init,
            dropout,
            weight_decay,
            lr_schedule,
            warmup,
            bucket,
            pos_weight,
            freeze_embeddings,
            dense_embedding_updates,
            epochs,
            batch_size,
            lr,
            optimizer,
            momentum,
            clip_norm,
            patience,
            valid_split,
            min_count,
            max_vocab,
            seed
        );
        if let Some(path) = &self.embeddings {
            c.embeddings = Some(path.clone());
        }
        if let Some(b) = self.forget_bias {
            c.forget_bias = b.value();
        }
        macro_rules! set_tokenizer {
            ($($field:ident),*) => {
                $(if let Some(v) = &self.$field {
                    c.tokenizer.$field = v.clone();
                })*
            };
        }
        set_tokenizer!(max_len, truncation, lowercase, punctuation, strip_html);
        c
    }

    /// Every key a config file may have, as serde sees them.
    pub fn keys() -> &'static [&'static str] {
        field_names::<ConfigFile>()
    }
}

/// The message for the first unknown key of `table` (in file order), if there is one.
fn unknown_key_message(text: &str, table: &toml::Table) -> Option<String> {
    let keys = ConfigFile::keys();
    let unknown: std::collections::BTreeSet<&str> = table
        .keys()
        .map(String::as_str)
        .filter(|k| !keys.contains(k))
        .collect();
    // The first unknown key in file order, found in one pass over the lines (a file of many
    // unknown keys must not cost a pass per key).
    let (line, key) = text
        .lines()
        .enumerate()
        .find_map(|(i, l)| {
            line_key(l)
                .and_then(|k| unknown.get(k))
                .map(|&k| (Some(i + 1), k))
        })
        .or_else(|| unknown.first().map(|&k| (None, k)))?;
    let location = line.map_or(String::new(), |l| format!("line {l}: "));
    let more = match unknown.len() - 1 {
        0 => String::new(),
        n => format!(" ({n} more unknown key{})", if n == 1 { "" } else { "s" }),
    };
    let hint = if table[key].is_table() {
        " (keys go at the top level of the file, not in a [section])".to_string()
    } else {
        String::new()
    };
    Some(match closest(key, keys) {
        Some(best) => format!(
            "{location}unknown key `{key}`{hint}; did you mean `{best}`?{more} \
             (config.example.toml lists every key)"
        ),
        None => format!(
            "{location}unknown key `{key}`{hint}{more}; the keys are {}",
            keys.iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// The key a line defines: `key = ...`, `"key" = ...`, `'key' = ...` or `[key]`, `key.sub`.
fn line_key(line: &str) -> Option<&str> {
    let line = line.trim_start();
    let line = line.strip_prefix('[').unwrap_or(line);
    let (key, rest) = match line.chars().next()? {
        q @ ('"' | '\'') => {
            let end = line[1..].find(q)? + 1;
            (&line[1..end], &line[end + 1..])
        }
        _ => {
            let end = line
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(line.len());
            line.split_at(end)
        }
    };
    let rest = rest.trim_start();
    (!key.is_empty() && (rest.starts_with('=') || rest.starts_with(']') || rest.starts_with('.')))
        .then_some(key)
}

/// The 1-based line where `key` is defined (a bare or quoted key, or a `[key]` table).
fn key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            let rest = [key.to_string(), format!("\"{key}\""), format!("'{key}'")]
                .iter()
                .find_map(|k| {
                    line.strip_prefix(k.as_str()).or_else(|| {
                        line.strip_prefix('[')
                            .and_then(|l| l.strip_prefix(k.as_str()))
                    })
                });
            rest.is_some_and(|r| {
                let r = r.trim_start();
                r.starts_with('=') || r.starts_with(']') || r.starts_with('.')
            })
        })
        .map(|i| i + 1)
}

/// The known key closest to `key` by edit distance, if it is close enough to be a typo.
fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let normalized = key.to_ascii_lowercase().replace('-', "_");
    known
        .iter()
        .map(|&k| (edit_distance(&normalized, k), k))
        .min()
        .filter(|&(d, k)| d <= 2.max(k.len() / 3))
        .map(|(_, k)| k)
}

/// Levenshtein distance (insertions, deletions, substitutions) over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// The field names serde uses for struct `T`, captured from `deserialize_struct` so that the
/// list can never drift from the struct.
fn field_names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    use serde::de::{self, Visitor};
    struct Capture<'a>(&'a mut &'static [&'static str]);
    impl<'de> de::Deserializer<'de> for Capture<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(
            self,
            _: V,
        ) -> std::result::Result<V::Value, Self::Error> {
            Err(de::Error::custom("field names only"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> std::result::Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("field names only"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Capture(&mut fields));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        TrainConfig::default().validate().unwrap();
    }

    #[test]
    fn bad_values_are_named() {
        let error = |c: TrainConfig| c.validate().unwrap_err().to_string();
        let d = TrainConfig::default;
        assert!(error(TrainConfig { lr: 0.0, ..d() }).contains("lr"));
        assert!(error(TrainConfig {
            lr: f64::NAN,
            ..d()
        })
        .contains("lr"));
        assert!(error(TrainConfig {
            batch_size: 0,
            ..d()
        })
        .contains("batch-size"));
        assert!(error(TrainConfig {
            valid_split: 1.0,
            ..d()
        })
        .contains("valid-split"));
        assert!(error(TrainConfig {
            max_vocab: 1,
            ..d()
        })
        .contains("max-vocab"));
    }

    #[test]
    fn config_file_parses_and_rejects_unknown_keys() {
        let c = ConfigFile::parse("cell = \"gru\"\nepochs = 3\nforget_bias = \"none\"\n").unwrap();
        assert_eq!(c.cell, Some(CellKind::Gru));
        assert_eq!(c.epochs, Some(3));
        assert_eq!(c.forget_bias.map(ForgetBias::value), Some(None));
        let c = ConfigFile::parse("forget_bias = 2.0").unwrap();
        assert_eq!(c.forget_bias.map(ForgetBias::value), Some(Some(2.0)));
        let err = ConfigFile::parse("epoch = 3").unwrap_err();
        assert!(err.contains("epoch"), "{err}");
        let err = ConfigFile::parse("epochs = \"three\"").unwrap_err();
        assert!(err.contains("epochs"), "{err}");
    }

    #[test]
    fn unknown_keys_get_the_closest_suggestion_and_a_line() {
        let err = ConfigFile::parse("epochs = 3\nhiden_dim = 64\n").unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("did you mean `hidden_dim`?"),
            "{err}"
        );
        let err = ConfigFile::parse("batch-size = 8").unwrap_err();
        assert!(err.contains("did you mean `batch_size`?"), "{err}");
        let err = ConfigFile::parse("[train]\nepochs = 3\n").unwrap_err();
        assert!(
            err.contains("line 1") && err.contains("[section]") && err.contains("`epochs`"),
            "{err}"
        );
        let keys = ConfigFile::keys();
        assert!(
            keys.contains(&"hidden_dim") && keys.contains(&"quiet"),
            "{keys:?}"
        );
        assert_eq!(edit_distance("hiden_dim", "hidden_dim"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(closest("zzzzzzzz", keys), None);
    }

    #[test]
    fn bad_values_in_a_file_name_the_key_and_line() {
        let err = ConfigFile::parse("cell = \"gru\"\nepochs = 0\n").unwrap_err();
        assert!(
            err.contains("line 2: invalid value for epochs: must be at least 1"),
            "{err}"
        );
        let err = ConfigFile::parse("max_len = 0").unwrap_err();
        assert!(err.contains("line 1: invalid value for max_len"), "{err}");
        let err = ConfigFile::parse("delimiter = \"::\"").unwrap_err();
        assert!(err.contains("line 1: invalid value for delimiter"), "{err}");
        let file = ConfigFile::parse("lr = 0.5\nforget_bias = \"none\"\nmax_len = 7").unwrap();
        let c = file.apply(TrainConfig::default());
        assert_eq!((c.lr, c.forget_bias, c.tokenizer.max_len), (0.5, None, 7));
    }

    #[test]
    fn schedules_warm_up_then_decay() {
        let f = |s: LrSchedule, step| s.factor(step, 10, 2);
        assert_eq!(f(LrSchedule::Linear, 0), 0.5);
        assert_eq!(f(LrSchedule::Linear, 1), 1.0);
        assert_eq!(f(LrSchedule::Linear, 2), 1.0);
        assert_eq!(f(LrSchedule::Linear, 6), 0.5);
        assert!((f(LrSchedule::Cosine, 6) - 0.5).abs() < 1e-12);
        assert!(f(LrSchedule::Cosine, 9) > 0.0);
        assert_eq!(f(LrSchedule::Constant, 9), 1.0);
        assert_eq!(LrSchedule::Constant.factor(0, 10, 0), 1.0);
    }

    #[test]
    fn parameter_count_matches_pytorch_for_stacked_bidirectional() {
        // nn.LSTM(5, 4, num_layers=2, bidirectional=True): 2 * (16*(5+4+2)) + 2 * (16*(8+4+2))
        // = 352 + 448 = 800; embedding 12*5 = 60; head over last+max: 2*8 + 1 = 17.
        let c = ModelConfig {
            cell: CellKind::Lstm,
            vocab_size: 12,
            embed_dim: 5,
            hidden_dim: 4,
            layers: 2,
            bidirectional: true,
            pooling: Pooling::LastMax,
            forget_bias: None,
            threshold: 0.5,
        };
        assert_eq!(c.parameter_count(), 60 + 800 + 17);
    }

    #[test]
    fn parameter_count_saturates_instead_of_overflowing() {
        let c = ModelConfig {
            cell: CellKind::Lstm,
            vocab_size: usize::MAX,
            embed_dim: usize::MAX,
            hidden_dim: usize::MAX,
            layers: usize::MAX,
            bidirectional: true,
            pooling: Pooling::LastMax,
            forget_bias: None,
            threshold: 0.5,
        };
        assert_eq!(c.parameter_count(), usize::MAX);
        assert!(c.validate().is_err());
    }
}
