//! What a model file records of how the model was trained: options, data, vocabulary
//! coverage, pretrained vectors and the per-epoch history. Training fills it in, the model
//! file stores it, reports and `inspect` show it. It holds no timings, so the same data and
//! seed give a byte-identical file.

use serde::{Deserialize, Serialize};

use crate::config::{Delimiter, TrainConfig};

/// One epoch's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub valid_loss: Option<f64>,
    pub valid_accuracy: Option<f64>,
    pub lr: f64,
}

/// What `--embeddings` contributed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PretrainedInfo {
    pub path: std::path::PathBuf,
    pub dim: usize,
    /// Vector lines in the file.
    pub file_words: usize,
    /// Vocabulary entries that got a vector (of which `lowercased` through lowercasing).
    pub matched: usize,
    pub lowercased: usize,
    /// `matched / (V - 2)`.
    pub type_coverage: f64,
    /// Fraction of training tokens whose word got a vector.
    pub token_coverage: f64,
}

impl PretrainedInfo {
    /// What `vectors` gave, `token_coverage` being the fraction of the training tokens (or
    /// stream positions) whose word got a vector.
    pub fn new(vectors: &crate::embeddings::Pretrained, token_coverage: f64) -> Self {
        Self {
            path: vectors.path.clone(),
            dim: vectors.dim,
            file_words: vectors.file_words,
            matched: vectors.matched_ids,
            lowercased: vectors.lowercased_ids,
            type_coverage: vectors.type_coverage(),
            token_coverage,
        }
    }
}

/// The columns and separator of the training data file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputColumns {
    pub text_column: String,
    pub label_column: String,
    /// `None`: tab for `.tsv` files, comma otherwise.
    pub delimiter: Option<Delimiter>,
}

/// How a model was trained; saved in the model file. Holds no timings, so that the same data
/// and seed give a byte-identical file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainingInfo {
    /// rnn-sentiment version that wrote the model.
    pub tool_version: String,
    /// All training options.
    pub options: Option<TrainConfig>,
    /// How the training data was read; `eval` reads its data the same way unless told
    /// otherwise.
    pub input: Option<InputColumns>,
    pub train_rows: usize,
    pub valid_rows: usize,
    pub train_positive_rate: f64,
    /// Training rows per class, in class order, for a K-class model (empty, and not written,
    /// for a binary one: its files stay as they were).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub train_class_counts: Vec<usize>,
    /// Fingerprint of the training split's texts and labels.
    pub data_fingerprint: String,
    /// Tokens of the training split that the vocabulary covers (not `<unk>`), as a fraction.
    pub vocab_coverage: f64,
    /// Pretrained vectors used, if any.
    pub pretrained: Option<PretrainedInfo>,
    pub epochs_run: usize,
    /// The epoch whose weights were kept (the lowest validation loss).
    pub best_epoch: usize,
    pub stopped_early: bool,
    pub history: Vec<EpochRecord>,
}
