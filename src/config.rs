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
use crate::text::TokenizerConfig;

/// Upper bounds that keep a typo (or a hostile model file) from asking for absurd memory.
pub mod limits {
    /// Largest embedding or hidden size.
    pub const MAX_DIM: usize = 8192;
    /// Largest vocabulary, counting `<pad>` and `<unk>`.
    pub const MAX_VOCAB: usize = 5_000_000;
    /// Largest total number of parameters (4 GB of f32).
    pub const MAX_PARAMS: usize = 1 << 30;
    /// Largest `max_len` (tokens kept per text).
    pub const MAX_LEN: usize = 1_000_000;
}

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

    /// Number of scalar parameters (computed without overflow for any input).
    pub fn parameter_count(&self) -> usize {
        let (v, e, h) = (self.vocab_size, self.embed_dim, self.hidden_dim);
        let gh = self.cell.gates().saturating_mul(h);
        v.saturating_mul(e)
            .saturating_add(gh.saturating_mul(e.saturating_add(h).saturating_add(2)))
            .saturating_add(h)
            .saturating_add(1)
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
    pub forget_bias: Option<f64>,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub optimizer: OptimizerKind,
    pub momentum: f64,
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
            forget_bias: Some(1.0),
            epochs: 10,
            batch_size: 32,
            lr: 2e-3,
            optimizer: OptimizerKind::Adam,
            momentum: 0.9,
            clip_norm: 5.0,
            patience: 3,
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
        self.tokenizer.validate()
    }

    /// The model this configuration trains, for a vocabulary of `vocab_size` entries.
    pub fn model_config(&self, vocab_size: usize) -> ModelConfig {
        ModelConfig {
            cell: self.cell,
            vocab_size,
            embed_dim: self.embed_dim,
            hidden_dim: self.hidden_dim,
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
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io("cannot read config file", path, e))?;
        Self::parse(&text).map_err(|message| Error::ConfigFile {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses TOML text.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        toml::from_str(text).map_err(|e| {
            // toml's message spans several lines with a source excerpt; keep it, trimmed.
            e.to_string().trim_end().to_string()
        })
    }
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
    fn parameter_count_saturates_instead_of_overflowing() {
        let c = ModelConfig {
            cell: CellKind::Lstm,
            vocab_size: usize::MAX,
            embed_dim: usize::MAX,
            hidden_dim: usize::MAX,
            forget_bias: None,
            threshold: 0.5,
        };
        assert_eq!(c.parameter_count(), usize::MAX);
        assert!(c.validate().is_err());
    }
}
