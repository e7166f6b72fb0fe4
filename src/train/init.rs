//! `train --init`: what a run takes from a base model, and how it takes it.

use crate::config::TrainConfig;
use crate::data::Example;
use crate::error::{Error, Result};
use crate::model::Classifier;
use crate::text::{TokenCounts, Tokenizer, Vocab, UNK_ID};

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

/// The vocabulary of a run from a base: the base's, then (`--extend-vocab`) the training
/// words it lacks that occur at least `min_count` times, in the order a fresh vocabulary
/// ranks them (count descending, ties by token), as many as fit in `max_vocab` entries in all.
/// The base's entries keep their ids; a base larger than `max_vocab` gets no new entries.
pub(super) fn extended_vocab(
    base: &Vocab,
    tokenizer: &Tokenizer,
    train: &[Example],
    min_count: usize,
    max_vocab: usize,
) -> Vocab {
    let mut missing = TokenCounts::default();
    for e in train {
        let tokens = tokenizer.tokenize(&e.text);
        missing.add(tokens.iter().filter(|t| base.id(t) == UNK_ID));
    }
    let room = max_vocab.saturating_sub(base.len());
    // `from_counts` counts <pad> and <unk> in its size and leaves them out of its ranking.
    let (new, _) = Vocab::from_counts(&missing, min_count, room + 2);
    let tokens = base
        .tokens()
        .iter()
        .chain(&new.tokens()[2..])
        .cloned()
        .collect();
    Vocab::from_tokens(tokens).expect("new tokens are not in the base")
}

/// The vocabulary of a run from `base`: the base's, extended with `--extend-vocab`.
pub(super) fn run_vocab(
    base: &Init,
    config: &TrainConfig,
    tokenizer: &Tokenizer,
    train: &[Example],
) -> Vocab {
    if !config.extend_vocab {
        return base.vocab.clone();
    }
    extended_vocab(
        &base.vocab,
        tokenizer,
        train,
        config.min_count,
        config.max_vocab,
    )
}

/// Replaces the fresh recurrent weights by the base's (same shapes), and the fresh embedding's
/// first rows by the base's: the rows after them (`--extend-vocab`'s words) keep their fresh
/// initialisation (or pretrained vectors).
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
    for (k, (f, g)) in fresh.iter().zip(given).enumerate() {
        // The embedding (k = 0) may have more rows than the base's: new words.
        let fits = match k {
            0 => {
                (f.shape.len(), g.shape.len()) == (2, 2)
                    && f.shape[1] == g.shape[1]
                    && f.shape[0] >= g.shape[0]
            }
            _ => f.shape == g.shape,
        };
        if !fits {
            return Err(Error::option(
                "init",
                format!(
                    "the base's weight of shape {:?} does not fit the run's {:?}",
                    g.shape, f.shape
                ),
            ));
        }
    }
    let rows = base.embedding.data.len();
    model.params.embedding.data[..rows].copy_from_slice(&base.embedding.data);
    model.params.rnn = base.rnn.clone();
    Ok(())
}
