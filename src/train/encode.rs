//! The training and validation splits as vocabulary ids: with a vocabulary built from the
//! training texts (a fresh run) or with a given one (a base model's).

use crate::config::TrainConfig;
use crate::data::Example;
use crate::text::{TokenCounts, Tokenizer, Vocab, UNK_ID};

/// A split's texts as vocabulary ids, and their labels (class indices).
pub(super) struct Encoded {
    pub(super) ids: Vec<Vec<u32>>,
    pub(super) labels: Vec<usize>,
}

/// Builds the vocabulary from the training texts and encodes both splits. Texts are kept as
/// token indices while counting, then mapped to vocabulary ids in place: no token is held as
/// a string beyond its own text (see [`TokenCounts`]).
pub(super) fn encode(
    config: &TrainConfig,
    tokenizer: &Tokenizer,
    train: &[Example],
    valid: &[Example],
) -> (Vocab, Encoded, Encoded) {
    let mut counts = TokenCounts::default();
    let mut train_ids: Vec<Vec<u32>> = train
        .iter()
        .map(|e| counts.add(tokenizer.tokenize(&e.text)))
        .collect();
    let (vocab, ids) = Vocab::from_counts(&counts, config.min_count, config.max_vocab);
    drop(counts);
    for text in &mut train_ids {
        text.iter_mut()
            .for_each(|k| *k = ids.get(*k as usize).copied().unwrap_or(UNK_ID));
    }
    let valid_ids = valid
        .iter()
        .map(|e| vocab.encode(&tokenizer.tokenize(&e.text)))
        .collect();
    let labels = |rows: &[Example]| rows.iter().map(|e| e.label).collect();
    let train = Encoded {
        ids: train_ids,
        labels: labels(train),
    };
    let valid = Encoded {
        ids: valid_ids,
        labels: labels(valid),
    };
    (vocab, train, valid)
}

/// Encodes both splits with a given vocabulary (a base model's).
pub(super) fn encode_with(
    vocab: Vocab,
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
    let (train, valid) = (encoded(train), encoded(valid));
    (vocab, train, valid)
}
