//! `train --init`: what a run takes from a base model, and how it takes it.

use super::trainer::Encoded;
use crate::data::Example;
use crate::error::{Error, Result};
use crate::model::Classifier;
use crate::text::{Tokenizer, Vocab};

/// What a run takes from a base model (`train --init`): the vocabulary, and the embedding and
/// recurrent weights, in the shapes the run's architecture gives them (the caller has checked
/// that the architectures agree). The head is always new.
#[derive(Clone, Debug)]
pub struct Init {
    pub vocab: Vocab,
    /// `embedding.weight` (V, E).
    pub embedding: crate::model::params::Tensor<f32>,
    /// The recurrent layers, in [`crate::model::params::Params::rnn`] order.
    pub rnn: Vec<crate::model::params::CellParams<f32>>,
}

/// Encodes both splits with a given vocabulary (a base model's).
pub(super) fn encode_with(
    vocab: &Vocab,
    tokenizer: &Tokenizer,
    train: &[Example],
    valid: &[Example],
) -> (Vocab, Encoded, Encoded) {
    let encoded = |rows: &[Example]| Encoded {
        ids: rows
            .iter()
            .map(|e| vocab.encode(&tokenizer.tokenize(&e.text)))
            .collect(),
        labels: rows.iter().map(|e| e.label).collect(),
    };
    (vocab.clone(), encoded(train), encoded(valid))
}

/// Replaces the fresh embedding and recurrent weights by the base's (same shapes).
pub(super) fn take_base_weights(model: &mut Classifier<f32>, base: &Init) -> Result<()> {
    if base.rnn.len() != model.params.rnn.len() {
        return Err(Error::option(
            "init",
            format!(
                "the base has {} recurrent layer-directions, the run {}",
                base.rnn.len(),
                model.params.rnn.len()
            ),
        ));
    }
    let fresh = model.params.tensors();
    let given = std::iter::once(&base.embedding).chain(
        base.rnn
            .iter()
            .flat_map(|c| [&c.w_ih, &c.w_hh, &c.b_ih, &c.b_hh]),
    );
    for (f, g) in fresh.iter().zip(given) {
        if f.shape != g.shape {
            return Err(Error::option(
                "init",
                format!(
                    "the base's weight of shape {:?} does not fit the run's {:?}",
                    g.shape, f.shape
                ),
            ));
        }
    }
    model.params.embedding = base.embedding.clone();
    model.params.rnn = base.rnn.clone();
    Ok(())
}
