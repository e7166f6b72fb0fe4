//! What a pretrained language model records about its training, in the model file's
//! `"pretraining"` section (the counterpart of a classifier's `"training"`).

use serde::{Deserialize, Serialize};

use super::model::LanguageModel;
use super::options::PretrainConfig;
use crate::text::{Tokenizer, Vocab};
use crate::training_info::PretrainedInfo;

/// How a language model was pretrained. Holds no timings, so the same corpus, seed and options
/// give a byte-identical file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PretrainInfo {
    /// rnn-sentiment version that wrote the model.
    pub tool_version: String,
    pub options: Option<PretrainConfig>,
    /// The corpus files, as given.
    pub corpus: Vec<String>,
    pub texts: u64,
    /// Stream positions (tokens and one end-of-text per text).
    pub positions: u64,
    pub train_positions: u64,
    pub valid_positions: u64,
    /// Positions whose token is in the vocabulary (not `<unk>`), as a fraction.
    pub vocab_coverage: f64,
    pub epochs_run: usize,
    /// The epoch whose weights were kept (the lowest validation perplexity).
    pub best_epoch: usize,
    pub stopped_early: bool,
    pub history: Vec<PretrainEpoch>,
    /// What `--embeddings` gave the embedding (the file, its dimension, the vocabulary rows
    /// it had a vector for); not written without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embeddings: Option<PretrainedInfo>,
}

/// A pretrained language model with its text pipeline: everything a `pretrain` model file
/// holds and what `train --init` starts from.
#[derive(Clone, Debug)]
pub struct LanguageModelFile {
    pub tokenizer: Tokenizer,
    pub vocab: Vocab,
    pub model: LanguageModel<f32>,
    pub info: PretrainInfo,
}

impl LanguageModelFile {
    /// Trainable parameters, the decoder included (its weight once when tied).
    pub fn parameters(&self) -> usize {
        let params = &self.model.params;
        let all: usize = params.tensors().iter().map(|t| t.data.len()).sum();
        all - if self.model.tied {
            params.fc_weight.data.len()
        } else {
            0
        }
    }

    /// The kept (best) epoch's validation perplexity, if it had validation text.
    pub fn valid_perplexity(&self) -> Option<f64> {
        let info = &self.info;
        info.history
            .iter()
            .find(|r| r.epoch == info.best_epoch)
            .and_then(|r| r.valid_perplexity)
    }
}

/// One epoch of pretraining, as recorded in the model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PretrainEpoch {
    pub epoch: usize,
    /// Mean training loss (of the training softmax: sampled or full).
    pub train_loss: f64,
    /// Validation perplexity, exact (full softmax); `None` without validation positions.
    pub valid_perplexity: Option<f64>,
    pub lr: f64,
}

/// The training loss of one step, `step` counted over the whole run (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepLoss {
    pub step: usize,
    pub loss: f64,
}
