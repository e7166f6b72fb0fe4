//! What a pretraining run is configured with ([`PretrainConfig`], every option with its
//! default), what a command line or a config file sets of it ([`PretrainOptions`], every one
//! optional) and the limits on the result ([`PretrainConfig::validate`]).
//!
//! Precedence, as for `train`: the command line, then the TOML file (`pretrain --config`,
//! keys named like the long options with `_` for `-`; `pretrain.example.toml` lists them),
//! then the defaults (or, resuming, the interrupted run's options).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::sampler::Proposal;
use crate::config::{
    field_names, load_with, located, located_error, parse_table, with_keys, CellKind, ModelConfig,
};
use crate::error::{Error, Result};
use crate::limits;
use crate::text::TokenizerConfig;

/// Which softmax trains the decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SoftmaxKind {
    /// Over the target and `samples` drawn ids (fast for large vocabularies).
    Sampled,
    /// Over the whole vocabulary (exact; for small vocabularies).
    Full,
}

/// Every option of `pretrain`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainConfig {
    pub cell: CellKind,
    pub embed_dim: usize,
    pub hidden_dim: usize,
    pub layers: usize,
    pub bidirectional: bool,
    pub forget_bias: Option<f64>,
    pub embed_init: f64,
    pub embed_dropout: f64,
    /// Between layers and before the decoder.
    pub dropout: f64,
    pub tokenizer: TokenizerConfig,
    pub min_count: usize,
    pub max_vocab: usize,
    /// T: steps of backpropagation through time per chunk.
    pub bptt: usize,
    /// B: rows of the stream read side by side.
    pub batch_size: usize,
    pub softmax: SoftmaxKind,
    /// S: candidates drawn per step for the sampled softmax.
    pub samples: usize,
    pub proposal: Proposal,
    pub lr: f64,
    pub weight_decay: f64,
    pub clip_norm: f64,
    pub epochs: usize,
    pub patience: usize,
    /// Fraction of the corpus's stream (its end) held out for validation perplexity.
    pub valid_split: f64,
    pub seed: u64,
    /// Step every row of both tables (dense Adam) instead of the touched rows (lazy Adam).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dense_updates: bool,
    /// Word vectors (`--embeddings`, the text format `train` reads) for the embedding rows of
    /// the words they have; not written when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embeddings: Option<std::path::PathBuf>,
    /// The decoder's weight is the embedding (Press and Wolf 2017; needs E = H): one (V, E)
    /// table learns from both ends; not written when off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tie_weights: bool,
}

impl Default for PretrainConfig {
    fn default() -> Self {
        let train = crate::config::TrainConfig::default();
        Self {
            cell: train.cell,
            embed_dim: train.embed_dim,
            hidden_dim: train.hidden_dim,
            layers: train.layers,
            bidirectional: train.bidirectional,
            forget_bias: train.forget_bias,
            embed_init: train.embed_init,
            embed_dropout: 0.1,
            dropout: 0.2,
            tokenizer: train.tokenizer,
            min_count: train.min_count,
            max_vocab: train.max_vocab,
            bptt: 35,
            batch_size: 32,
            softmax: SoftmaxKind::Sampled,
            samples: 512,
            proposal: Proposal::Unigram,
            lr: train.lr,
            weight_decay: 0.0,
            clip_norm: train.clip_norm,
            epochs: 1,
            patience: 2,
            valid_split: 0.02,
            seed: train.seed,
            dense_updates: false,
            embeddings: None,
            tie_weights: false,
        }
    }
}

impl PretrainConfig {
    /// The network's configuration for a vocabulary of `vocab_size` entries: the classifier's
    /// fields, which `train --init` takes over.
    pub fn model_config(&self, vocab_size: usize) -> ModelConfig {
        crate::config::TrainConfig {
            cell: self.cell,
            embed_dim: self.embed_dim,
            hidden_dim: self.hidden_dim,
            layers: self.layers,
            bidirectional: self.bidirectional,
            forget_bias: self.forget_bias,
            ..crate::config::TrainConfig::default()
        }
        .model_config(vocab_size)
    }
}

/// The file that lists every key of a pretraining config file with its default.
pub const EXAMPLE_FILE: &str = "pretrain.example.toml";

/// What one source (the command line, a config file) sets; `None`: not set there.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainOptions {
    pub cell: Option<CellKind>,
    pub embed_dim: Option<usize>,
    pub hidden_dim: Option<usize>,
    pub layers: Option<usize>,
    pub bidirectional: Option<bool>,
    pub bptt: Option<usize>,
    pub batch_size: Option<usize>,
    pub softmax: Option<SoftmaxKind>,
    pub samples: Option<usize>,
    pub proposal: Option<Proposal>,
    pub lr: Option<f64>,
    pub clip_norm: Option<f64>,
    pub dropout: Option<f64>,
    pub embed_dropout: Option<f64>,
    pub epochs: Option<usize>,
    pub patience: Option<usize>,
    pub valid_split: Option<f64>,
    pub min_count: Option<usize>,
    pub max_vocab: Option<usize>,
    pub seed: Option<u64>,
    pub dense_updates: Option<bool>,
    pub tie_weights: Option<bool>,
    pub embeddings: Option<PathBuf>,
    pub text_column: Option<String>,
    pub memory_tokens: Option<usize>,
    pub output: Option<PathBuf>,
    pub report: Option<PathBuf>,
    pub quiet: Option<bool>,
}

impl PretrainOptions {
    /// The keys a config file may set.
    pub fn keys() -> &'static [&'static str] {
        field_names::<PretrainOptions>()
    }

    /// Reads and checks a TOML config file; errors name the file, the line and the key.
    pub fn load(path: &Path) -> Result<Self> {
        load_with(path, Self::parse)
    }

    /// Parses TOML text: every key known, every value of its type and within its limits.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let values = parse_table(text, Self::keys(), EXAMPLE_FILE)?;
        let overrides = values.iter().map(|(k, v)| (k.as_str(), v));
        let options = with_keys(&Self::default(), overrides)
            .map_err(|(key, message)| located(text, &key, message))?;
        options
            .over(PretrainConfig::default())
            .validate()
            .map_err(|e| located_error(text, e))?;
        // As on the command line, a path or a column name may not be empty.
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.to_string_lossy().into_owned());
        for (key, value) in [
            ("embeddings", path(&options.embeddings)),
            ("output", path(&options.output)),
            ("report", path(&options.report)),
            ("text_column", options.text_column.clone()),
        ] {
            if value.is_some_and(|v| v.trim().is_empty()) {
                return Err(located(text, key, "it is empty".into()));
            }
        }
        Ok(options)
    }

    /// These options, and where one is not set, `fallback`'s.
    pub fn or(self, fallback: &PretrainOptions) -> PretrainOptions {
        macro_rules! either {
            ($($field:ident),*) => {
                PretrainOptions { $( $field: self.$field.or_else(|| fallback.$field.clone()), )* }
            };
        }
        either!(
            cell,
            embed_dim,
            hidden_dim,
            layers,
            bidirectional,
            bptt,
            batch_size,
            softmax,
            samples,
            proposal,
            lr,
            clip_norm,
            dropout,
            embed_dropout,
            epochs,
            patience,
            valid_split,
            min_count,
            max_vocab,
            seed,
            dense_updates,
            tie_weights,
            embeddings,
            text_column,
            memory_tokens,
            output,
            report,
            quiet
        )
    }

    /// `config` with every training option set here put in its place (the file and stream
    /// options, `text_column` to `quiet`, are not a [`PretrainConfig`]'s).
    pub fn over(&self, config: PretrainConfig) -> PretrainConfig {
        let mut c = config;
        macro_rules! take {
            ($($field:ident),*) => { $( if let Some(v) = self.$field.clone() { c.$field = v; } )* };
        }
        take!(
            cell,
            embed_dim,
            hidden_dim,
            layers,
            bidirectional,
            bptt,
            batch_size,
            softmax,
            samples,
            proposal,
            lr,
            clip_norm,
            dropout,
            embed_dropout,
            epochs,
            patience,
            valid_split,
            min_count,
            max_vocab,
            seed,
            dense_updates,
            tie_weights
        );
        if let Some(path) = &self.embeddings {
            c.embeddings = Some(path.clone());
        }
        c
    }
}

impl PretrainConfig {
    /// Every size and rate against its limits, before anything is read; errors name the
    /// command-line option.
    pub fn validate(&self) -> Result<()> {
        let c = self;
        let sizes = [
            ("--embed-dim", c.embed_dim, limits::MAX_DIM),
            ("--hidden-dim", c.hidden_dim, limits::MAX_DIM),
            ("--layers", c.layers, limits::MAX_LAYERS),
            ("--bptt", c.bptt, limits::MAX_LEN),
            ("--batch-size", c.batch_size, limits::MAX_BATCH),
            ("--samples", c.samples, limits::MAX_VOCAB),
            ("--epochs", c.epochs, limits::MAX_EPOCHS),
            ("--max-vocab", c.max_vocab, limits::MAX_VOCAB),
        ];
        for (option, value, most) in sizes {
            if value == 0 || value > most {
                return Err(Error::option(
                    option,
                    format!("{value} is outside 1..={most}"),
                ));
            }
        }
        if c.max_vocab < 3 {
            return Err(Error::option(
                "--max-vocab",
                format!(
                    "{} leaves no room for a word besides <pad>, <unk> and </s>",
                    c.max_vocab
                ),
            ));
        }
        for (option, p) in [
            ("--dropout", c.dropout),
            ("--embed-dropout", c.embed_dropout),
            ("--valid-split", c.valid_split),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(Error::option(
                    option,
                    format!("{p} must be at least 0 and below 1"),
                ));
            }
        }
        if !(c.lr.is_finite() && c.lr > 0.0) {
            return Err(Error::option(
                "--lr",
                format!("{} must be a positive rate", c.lr),
            ));
        }
        if !(c.clip_norm.is_finite() && c.clip_norm >= 0.0) {
            return Err(Error::option(
                "--clip-norm",
                format!("{} must be at least 0", c.clip_norm),
            ));
        }
        c.validate_tying()
    }

    fn validate_tying(&self) -> Result<()> {
        if !self.tie_weights || self.embed_dim == self.hidden_dim {
            return Ok(());
        }
        Err(Error::option(
            "--tie-weights",
            format!(
                "it needs the embedding and the hidden state to have one size, but \
                 --embed-dim is {} and --hidden-dim {}: give --hidden-dim {}{}",
                self.embed_dim,
                self.hidden_dim,
                self.embed_dim,
                if self.embeddings.is_some() {
                    " (E is the --embeddings vectors' dimension)"
                } else {
                    ", or leave --tie-weights out"
                }
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_sets_options_and_the_command_line_wins() {
        let file = PretrainOptions::parse(
            "cell = \"gru\"\nepochs = 3\nproposal = \"log-uniform\"\nsoftmax = \"full\"\n",
        )
        .unwrap();
        let cli = PretrainOptions {
            epochs: Some(5),
            ..PretrainOptions::default()
        };
        let c = cli.or(&file).over(PretrainConfig::default());
        assert_eq!(
            (c.cell, c.epochs, c.proposal, c.softmax),
            (CellKind::Gru, 5, Proposal::LogUniform, SoftmaxKind::Full)
        );
        let defaults = PretrainConfig::default();
        assert_eq!(c.hidden_dim, defaults.hidden_dim);
        assert_eq!(PretrainOptions::default().over(defaults.clone()), defaults);
    }

    #[test]
    fn bad_keys_and_values_name_the_key_and_line() {
        let err = PretrainOptions::parse("epochs = 2\nhiden_dim = 64\n").unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("did you mean `hidden_dim`?"),
            "{err}"
        );
        let err = PretrainOptions::parse("lr = 0.1\nbptt = \"long\"\n").unwrap_err();
        assert!(err.contains("line 2: invalid value for bptt"), "{err}");
        let err = PretrainOptions::parse("\nvalid_split = 1.5\n").unwrap_err();
        assert!(
            err.contains("line 2: invalid value for valid_split"),
            "{err}"
        );
        let err = PretrainOptions::parse("tie_weights = true\nhidden_dim = 64\n").unwrap_err();
        assert!(
            err.contains("line 1: invalid value for tie_weights") && err.contains("64"),
            "{err}"
        );
        let err = PretrainOptions::parse("output = \" \"").unwrap_err();
        assert!(
            err.contains("invalid value for output: it is empty"),
            "{err}"
        );
        // A training key that pretraining does not have.
        let err = PretrainOptions::parse("pooling = \"max\"").unwrap_err();
        assert!(err.contains("unknown key `pooling`"), "{err}");
    }
}
