//! `train --init BASE`: what a run takes from a base model (a language model from `pretrain`,
//! or a classifier), and the architecture and tokenizer options it decides.

use std::path::Path;

use anyhow::{bail, Result};
use serde_json::{json, Value};

use rnn_sentiment::config::{ModelConfig, TrainOptions};
use rnn_sentiment::embeddings;
use rnn_sentiment::model::params::Params;
use rnn_sentiment::model_file::{self, Base};
use rnn_sentiment::text::{TokenizerConfig, Vocab};
use rnn_sentiment::train::Init;

use super::sniff::check_model_path;

/// A base model, read.
pub(crate) struct BaseModel {
    pub(crate) init: Init,
    config: ModelConfig,
    tokenizer: TokenizerConfig,
    /// "language model" or "classifier", for messages.
    kind: &'static str,
}

/// Reads the base model of `--init`.
pub(crate) fn load_base(path: &Path) -> Result<BaseModel> {
    check_model_path(path)?;
    let (config, tokenizer, vocab, params, kind): (_, _, Vocab, Params<f32>, _) =
        match model_file::load_base(path)? {
            Base::Classifier(m) => (
                m.classifier.config,
                m.tokenizer.config().clone(),
                m.vocab,
                m.classifier.params,
                "classifier",
            ),
            Base::LanguageModel(lm) => (
                lm.model.config,
                lm.tokenizer.config().clone(),
                lm.vocab,
                lm.model.params,
                "language model",
            ),
        };
    Ok(BaseModel {
        init: Init {
            vocab,
            embedding: params.embedding,
            rnn: params.rnn,
        },
        config,
        tokenizer,
        kind,
    })
}

impl BaseModel {
    /// The options the base decides, as (key, the base's value).
    fn decided(&self) -> [(&'static str, Value); 8] {
        let (c, t) = (&self.config, &self.tokenizer);
        [
            ("cell", json!(c.cell)),
            ("embed_dim", json!(c.embed_dim)),
            ("hidden_dim", json!(c.hidden_dim)),
            ("layers", json!(c.layers)),
            ("bidirectional", json!(c.bidirectional)),
            ("lowercase", json!(t.lowercase)),
            ("punctuation", json!(t.punctuation)),
            ("strip_html", json!(t.strip_html)),
        ]
    }

    /// `options` with the base's architecture and tokenizer; an option `given` (on the command
    /// line or in a config file) with another value is an error naming both.
    pub(crate) fn decide(
        &self,
        options: &TrainOptions,
        path: &Path,
        given: impl Fn(&str) -> bool,
    ) -> Result<TrainOptions> {
        let current = serde_json::to_value(options)?;
        let mut changes = Vec::new();
        for (key, value) in self.decided() {
            if current[key] == value {
                continue;
            }
            if given(key) {
                bail!(
                    "--{} {} contradicts the base {} {}, whose {key} is {}: leave the option \
                     out (the base decides the architecture and the tokenizer), or start from \
                     a base built with it",
                    key.replace('_', "-"),
                    shown(&current[key]),
                    self.kind,
                    path.display(),
                    shown(&value)
                );
            }
            changes.push((key, value));
        }
        options
            .with(changes.iter().map(|(k, v)| (*k, v)))
            .map_err(|(key, message)| {
                anyhow::anyhow!("--init {}: {key}: {message}", path.display())
            })
    }

    /// `--embeddings` with `--init`: the vectors fill the rows the base lacks, so they must
    /// have the base's size E.
    pub(crate) fn check_vectors(&self, vectors: &Path, path: &Path) -> Result<()> {
        let (dim, base_dim) = (embeddings::peek_dim(vectors)?, self.config.embed_dim);
        if dim != base_dim {
            bail!(
                "--embeddings {} has {dim} values per word, but the base {} {} has embedding \
                 size E = {base_dim}: the vectors fill the rows the base lacks (--extend-vocab), \
                 so they must have its size; give vectors of dimension {base_dim}, pretrain a \
                 base of E = {dim} (pretrain --embeddings {}), or leave out --embeddings",
                vectors.display(),
                self.kind,
                path.display(),
                vectors.display(),
            );
        }
        Ok(())
    }
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
