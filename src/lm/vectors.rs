//! `pretrain --embeddings FILE`: word vectors (GloVe, word2vec or fastText text format, as
//! `train --embeddings` reads them) put into the language model's embedding before its first
//! step, so that pretraining starts from them: "vectors, then a language model, then
//! fine-tuning". Words the file lacks keep the usual initialisation.

use super::corpus::Corpus;
use super::options::PretrainConfig;
use crate::embeddings::{self, EmbeddingsOptions};
use crate::error::Result;
use crate::model::params::Tensor;
use crate::training_info::PretrainedInfo;

/// Writes the vectors of `config.embeddings` into `embedding` (V, E) for the corpus's words
/// they have, and returns what they gave (`None` without the option). The token coverage is
/// over the corpus's stream positions.
pub fn initialise(
    config: &PretrainConfig,
    corpus: &Corpus,
    embedding: &mut Tensor<f32>,
) -> Result<Option<PretrainedInfo>> {
    let Some(path) = &config.embeddings else {
        return Ok(None);
    };
    let options = EmbeddingsOptions {
        lowercase: config.tokenizer.lowercase,
        first_id: 0,
    };
    let vectors = embeddings::load(path, &corpus.vocab, &options)?;
    vectors.apply(&mut embedding.data, config.embed_dim)?;
    let covered: u64 = vectors
        .vectors
        .iter()
        .map(|(id, _)| corpus.counts[*id as usize])
        .sum();
    let positions = corpus.positions().max(1);
    Ok(Some(PretrainedInfo::new(
        &vectors,
        covered as f64 / positions as f64,
    )))
}
