//! A complete sentiment model: the text pipeline, the vocabulary and the classifier, i.e.
//! everything a model file holds and everything `predict` needs.

use rayon::prelude::*;

use crate::batch::Batch;
use crate::float::sigmoid;
use crate::model::{Classifier, Mode};
use crate::text::{Tokenizer, Vocab};
use crate::train::TrainingInfo;

/// Texts scored per batch at inference.
pub const INFERENCE_BATCH: usize = 256;

/// Tokenizer + vocabulary + classifier (+ how it was trained).
#[derive(Clone, Debug)]
pub struct SentimentModel {
    pub tokenizer: Tokenizer,
    pub vocab: Vocab,
    pub classifier: Classifier<f32>,
    pub training: TrainingInfo,
}

impl SentimentModel {
    /// The ids the model sees for a text (tokenized, truncated, mapped).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.vocab.encode(&self.tokenizer.tokenize(text))
    }

    /// Logits for many texts.
    pub fn logits<S: AsRef<str>>(&self, texts: &[S]) -> Vec<f64> {
        let sequences: Vec<Vec<u32>> = texts.iter().map(|t| self.encode(t.as_ref())).collect();
        logits_batched(&self.classifier, &sequences, INFERENCE_BATCH)
    }

    /// Probabilities of the positive class for many texts.
    pub fn probabilities<S: AsRef<str>>(&self, texts: &[S]) -> Vec<f64> {
        self.logits(texts).into_iter().map(sigmoid).collect()
    }

    /// The decision threshold stored in the model.
    pub fn threshold(&self) -> f64 {
        self.classifier.config.threshold
    }
}

/// Logits for id sequences, `batch_size` at a time. Sequences are grouped by length so that
/// batches hold similar lengths (less padding, no wasted work); results come back in input
/// order, and are the same as scoring each sequence alone.
pub fn logits_batched<S: AsRef<[u32]> + Sync>(
    classifier: &Classifier<f32>,
    sequences: &[S],
    batch_size: usize,
) -> Vec<f64> {
    let mut order: Vec<usize> = (0..sequences.len()).collect();
    order.sort_by_key(|&i| sequences[i].as_ref().len());
    // Batches are independent, so they run in parallel (rayon's pool) without changing a
    // result.
    let scored: Vec<Vec<f32>> = order
        .par_chunks(batch_size.max(1))
        .map(|chunk| {
            let rows: Vec<&[u32]> = chunk.iter().map(|&i| sequences[i].as_ref()).collect();
            classifier
                .forward(&Batch::from_sequences(&rows), Mode::Eval)
                .0
        })
        .collect();
    let mut logits = vec![0.0; sequences.len()];
    for (&i, z) in order.iter().zip(scored.into_iter().flatten()) {
        logits[i] = f64::from(z);
    }
    logits
}
