//! Configuration: what a model is ([`ModelConfig`], saved in the model file) and how it is
//! trained ([`TrainConfig`]). Values are validated once, in [`TrainConfig::validate`] and
//! [`ModelConfig::validate`]; the rest of the library trusts them.
//!
//! Training options come from three places, in this order of precedence: the command line, a
//! TOML file ([`ConfigFile`], keys named like the long options with `_` for `-`), and the
//! built-in defaults in [`TrainConfig::default`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::limits;

mod file;
mod options;

use crate::text::TokenizerConfig;
pub use file::ConfigFile;
pub(crate) use file::{load_with, located, located_error, parse_table};
pub(crate) use options::{field_names, with_keys};
pub use options::{ClassWeight, Delimiter, ForgetBias, TrainOptions};

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

fn unit() -> f64 {
    1.0
}

fn is_unit(x: &f64) -> bool {
    *x == 1.0
}

fn is_false(x: &bool) -> bool {
    !*x
}

fn is_zero(x: &usize) -> bool {
    *x == 0
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
    /// Probability at or above which a text is called positive (binary models).
    pub threshold: f64,
    /// The class names of a K-class model, in the order of the head's K outputs; empty for a
    /// binary model (one logit, sigmoid). Not written when empty, so binary model files are
    /// byte for byte what they were before K classes existed, and they still load.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
}

impl ModelConfig {
    /// Checks sizes against [`limits`]; `what` prefixes messages (e.g. the option's origin).
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.vocab_size < 2 || self.vocab_size > limits::MAX_VOCAB {
            return Err(format!(
                "vocab_size {} is outside 2..={} (the limit on vocabulary entries, <pad> and \
                 <unk> counted); build the model again with --max-vocab {} or less",
                self.vocab_size,
                limits::MAX_VOCAB,
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
        validate_classes(&self.classes)
    }

    /// True for a binary model (one logit), false for a K-class one (K logits, softmax).
    pub fn is_binary(&self) -> bool {
        self.classes.is_empty()
    }

    /// The head's outputs: 1 logit for a binary model, K for K classes.
    pub fn outputs(&self) -> usize {
        self.classes.len().max(1)
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
        let k = self.outputs();
        v.saturating_mul(e)
            .saturating_add(layers.saturating_mul(self.directions()))
            .saturating_add(self.head_dim().saturating_mul(k))
            .saturating_add(k)
    }
}

/// Checks a K-class model's class names: none (binary), or 2 to [`limits::MAX_CLASSES`]
/// names, each non-empty and different from the others.
pub fn validate_classes(classes: &[String]) -> std::result::Result<(), String> {
    if classes.is_empty() {
        return Ok(());
    }
    if classes.len() < 2 || classes.len() > limits::MAX_CLASSES {
        return Err(format!(
            "{} classes is outside 2..={}",
            classes.len(),
            limits::MAX_CLASSES
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (k, name) in classes.iter().enumerate() {
        if name.trim().is_empty() {
            return Err(format!("class {k} has an empty name"));
        }
        if !seen.insert(name.as_str()) {
            return Err(format!("class {name:?} is named twice"));
        }
    }
    Ok(())
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
            // cos from the `libm` crate: the same bits on every CPU (see Float::portable_exp).
            LrSchedule::Cosine => 0.5 * (1.0 + libm::cos(std::f64::consts::PI * progress)),
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
    /// A base model whose tokenizer, vocabulary, embedding and recurrent layers the run starts
    /// from (`train --init`): a language model from `pretrain`, or a classifier. Not written
    /// when absent, so other models' files stay as they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<PathBuf>,
    /// With `init`: a factor on the learning rate of the layers the base gave (embedding and
    /// recurrent layers); the new head learns at `lr`. Not written when 1.
    #[serde(default = "unit", skip_serializing_if = "is_unit")]
    pub init_lr_scale: f64,
    /// With `init`: training words the base's vocabulary lacks (seen `min_count` times, up to
    /// `max_vocab` entries in all) get new embedding rows after the base's. Not written when
    /// off.
    #[serde(default, skip_serializing_if = "is_false")]
    pub extend_vocab: bool,
    /// With `init`: gradual unfreezing over this many epochs (0: everything trains from the
    /// start); see `train::unfreezing_groups`. Not written when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unfreeze_epochs: usize,
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
    /// The class names of a K-class model in index order ([`crate::data::Example::label`]
    /// indexes them); empty trains a binary model (labels 0 = negative, 1 = positive). Set from
    /// the data's label set, not typed; not written when empty (binary files stay as they were).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// Per-class weights of the K-class loss (`CrossEntropyLoss(weight=)`), in class order;
    /// empty weighs every class 1. Not written when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub class_weights: Vec<f64>,
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
            init: None,
            init_lr_scale: 1.0,
            extend_vocab: false,
            // docs/sweep.md, "Fine-tuning schedule": gradual unfreezing over two epochs gained
            // in the median over MR, CR, SST-5 and SST-2; a lower rate for the base did not.
            unfreeze_epochs: 2,
            freeze_embeddings: false,
            dense_embedding_updates: false,
            clip_norm: 5.0,
            patience: 2,
            valid_split: 0.1,
            min_count: 1,
            max_vocab: 30_000,
            seed: 42,
            tokenizer: TokenizerConfig::default(),
            classes: Vec::new(),
            class_weights: Vec::new(),
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
            ("unfreeze-epochs", self.unfreeze_epochs, limits::MAX_EPOCHS),
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
        if !(self.init_lr_scale.is_finite() && self.init_lr_scale >= 0.0) {
            return Err(Error::option(
                "init-lr-scale",
                format!(
                    "{} must be a factor of at least 0 (0 keeps the base's layers fixed)",
                    self.init_lr_scale
                ),
            ));
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
        self.validate_classes()?;
        self.tokenizer.validate()
    }

    /// The class names, and the loss weights against them: `pos_weight` is for binary
    /// models, class weights for K-class ones, one positive number per class.
    fn validate_classes(&self) -> Result<()> {
        validate_classes(&self.classes).map_err(|m| Error::option("classes", m))?;
        let k = self.classes.len();
        if k > 0 && self.pos_weight != 1.0 {
            return Err(Error::option(
                "pos-weight",
                format!(
                    "is for binary labels; these data have {k} classes: weigh them with \
                     --class-weight name=w,..."
                ),
            ));
        }
        if self.class_weights.is_empty() {
            return Ok(());
        }
        if k == 0 {
            return Err(Error::option(
                "class-weight",
                "are for K-class labels; weigh the positive class of binary labels with \
                 pos-weight",
            ));
        }
        if self.class_weights.len() != k {
            return Err(Error::option(
                "class-weight",
                format!(
                    "{} weights for {k} classes; give one per class",
                    self.class_weights.len()
                ),
            ));
        }
        match self
            .class_weights
            .iter()
            .position(|w| !(w.is_finite() && *w > 0.0))
        {
            Some(i) => Err(Error::option(
                "class-weight",
                format!(
                    "the weight of class {:?} is {}; each must be a positive number",
                    self.classes[i], self.class_weights[i]
                ),
            )),
            None => Ok(()),
        }
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
            classes: self.classes.clone(),
        }
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
            classes: Vec::new(),
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
            classes: Vec::new(),
        };
        assert_eq!(c.parameter_count(), usize::MAX);
        assert!(c.validate().is_err());
    }
}
