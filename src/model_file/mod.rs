//! The model file: one versioned JSON document, written atomically, validated on load.
//!
//! ```text
//! {"format": "rnn-sentiment", "version": 1,
//!  "config":    {cell, vocab_size, embed_dim, hidden_dim, layers, bidirectional, pooling,
//!               forget_bias, threshold, classes},   (classes: K-class models only)
//!  "tokenizer": {lowercase, punctuation, strip_html, max_len, truncation},
//!  "vocab":     ["<pad>", "<unk>", ...]                     (id order)
//!  "weights":   {"embedding.weight": {"shape": [V, E], "data": [...]}, ...}  (row-major,
//!               PyTorch state_dict names and order)
//!  "training":  {...}}                                      (how it was trained; no timings)
//! ```
//!
//! A language model written by `pretrain` is the same document with `"kind":
//! "language-model"` after the version, the decoder (`decoder.weight` (V, H), `decoder.bias`
//! (V)) in place of `fc`, and a `"pretraining"` section in place of `"training"`. Classifier
//! files have no `"kind"` (it is written only for other kinds), so they are byte for byte what
//! they were. [`load`] reads classifiers and refuses a language model with what to do;
//! [`load_base`] reads either, for `train --init`.
//!
//! A binary model has no `classes`: one logit, `fc.weight` (1, P). A K-class model names its
//! K >= 2 classes in output order, and its `fc.weight` is (K, P); files written before K
//! classes existed are binary ones and load as they always did.
//!
//! Floats are written in their shortest form that reads back to the same `f32`, so a
//! save -> load -> save round trip is byte-identical. Saving writes a temporary file in the
//! target's directory, flushes it to disk and renames it over the target: a crash leaves
//! either the old file or the complete new one, never a mix.
//!
//! A file whose name ends in `.gz` is written gzip-compressed, and any file that starts like
//! gzip is read decompressed, within the same limit on its (decompressed) JSON text
//! ([`crate::files::gzip`]); checkpoints are read and written by the same two functions.
//!
//! This file holds the format (its serde types, [`FORMAT`], [`VERSION`]), writing, reading
//! and the validation of each section. Loading a 23 MB model in milliseconds takes the
//! rest: `cut.rs` cuts the weight arrays out of the document so serde reads only the small
//! rest; `arrays.rs` parses each array on all cores; `numbers.rs` parses one number at a
//! time (the writer's form without branches, then exact fallbacks); `x86.rs` does the
//! writer's form in SSE/AVX2 vectors.

use std::collections::BTreeMap;

use std::path::Path;

use rayon::prelude::*;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::config::ModelConfig;
use crate::error::{Error, Result};
pub use crate::files::json::{read_file, write_file};
use crate::limits::MAX_MODEL_BYTES;
use crate::lm::info::{LanguageModelFile, PretrainInfo};
use crate::lm::model::{language_model_shapes, LanguageModel};
use crate::model::params::{expected_shapes, Params, Tensor};
use crate::model::Classifier;
use crate::sentiment::SentimentModel;
use crate::text::{Tokenizer, TokenizerConfig, Vocab};
use crate::training_info::TrainingInfo;

mod arrays;
mod cut;
mod numbers;
#[cfg(target_arch = "x86_64")]
mod x86;

use arrays::{parse_f32_array, parse_f32_body};
use cut::{cut_weight_arrays, CutArrays};

/// The `format` value of every model file.
pub const FORMAT: &str = "rnn-sentiment";
/// The file version this build writes and reads.
pub const VERSION: u64 = 1;
/// The `kind` of a language model's file; a file without `kind` is a classifier.
pub const KIND_LANGUAGE_MODEL: &str = "language-model";

#[derive(Serialize)]
struct FileOut<'a> {
    format: &'static str,
    version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    config: &'a ModelConfig,
    tokenizer: &'a TokenizerConfig,
    vocab: &'a [String],
    weights: WeightsOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    training: Option<&'a TrainingInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pretraining: Option<&'a PretrainInfo>,
}

/// Serializes the weights as a JSON object in canonical order: `shapes` names them.
struct WeightsOut<'a>(Vec<(String, Vec<usize>)>, &'a Params<f32>);

#[derive(Serialize)]
struct TensorOut<'a> {
    shape: &'a [usize],
    data: &'a [f32],
}

impl Serialize for WeightsOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let shapes = &self.0;
        let mut map = serializer.serialize_map(Some(shapes.len()))?;
        for ((name, _), t) in shapes.iter().zip(self.1.tensors()) {
            map.serialize_entry(
                name,
                &TensorOut {
                    shape: &t.shape,
                    data: &t.data,
                },
            )?;
        }
        map.end()
    }
}

/// The one pass of serde over a model file: small sections stay raw JSON, checked after
/// format and version; each weight's numbers stay raw text for [`parse_f32_array`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIn<'a> {
    format: Option<String>,
    version: Option<u64>,
    kind: Option<String>,
    #[serde(borrow)]
    config: Option<&'a RawValue>,
    #[serde(borrow)]
    tokenizer: Option<&'a RawValue>,
    #[serde(borrow)]
    vocab: Option<&'a RawValue>,
    #[serde(borrow)]
    weights: Option<Weights<'a>>,
    #[serde(borrow)]
    training: Option<&'a RawValue>,
    #[serde(borrow)]
    pretraining: Option<&'a RawValue>,
}

/// The `"weights"` object, by name. A name given twice is an error, as a duplicate key is
/// anywhere else in the file (serde refuses those for the fixed fields).
struct Weights<'a>(BTreeMap<String, TensorIn<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for Weights<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visitor<'a> {
            type Value = Weights<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of named weights")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut weights = BTreeMap::new();
                while let Some(name) = map.next_key::<String>()? {
                    let tensor: TensorIn<'a> = map.next_value()?;
                    if weights.contains_key(&name) {
                        return Err(serde::de::Error::custom(format!(
                            "duplicate weight {name:?}"
                        )));
                    }
                    weights.insert(name, tensor);
                }
                Ok(Weights(weights))
            }
        }
        d.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

/// Only format and version, read when a file does not fit [`FileIn`], so that a file of
/// another format or a future version is named as such rather than by its first odd field.
#[derive(Deserialize)]
struct Header {
    format: Option<serde_json::Value>,
    version: Option<serde_json::Value>,
}

/// Checks format and version; `Ok` when they are this build's.
fn check_header(
    format: Option<&str>,
    version: Option<&serde_json::Value>,
) -> std::result::Result<(), String> {
    match format {
        Some(FORMAT) => {}
        Some(other) => return Err(format!("format is {other:?}, expected {FORMAT:?}")),
        None => {
            return Err(format!(
                "no \"format\" field; expected \"format\": {FORMAT:?}: this JSON file is not an \
                 rnn-sentiment model; give a model written by `rnn-sentiment train` (-o names it)"
            ))
        }
    }
    match version.map(|v| (v.as_u64(), v)) {
        Some((Some(VERSION), _)) => Ok(()),
        Some((Some(v), _)) => Err(format!(
            "file version {v} is not supported; this build of rnn-sentiment {} reads version {VERSION}",
            env!("CARGO_PKG_VERSION")
        )),
        Some((None, v)) => Err(format!(
            "the \"version\" field is {v}, not a positive whole number; this build reads version {VERSION}"
        )),
        None => Err("no \"version\" field".into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TensorIn<'a> {
    shape: Vec<u64>,
    /// Kept as JSON text and parsed by [`parse_f32_array`] once the shape has been checked:
    /// no allocation before the shape is known to be right, and numbers go straight to f32.
    #[serde(borrow)]
    data: &'a RawValue,
}

/// Serializes a model to its JSON text.
pub fn to_json(model: &SentimentModel) -> Result<Vec<u8>> {
    let config = &model.classifier.config;
    serialize(&FileOut {
        format: FORMAT,
        version: VERSION,
        kind: None,
        config,
        tokenizer: model.tokenizer.config(),
        vocab: model.vocab.tokens(),
        weights: WeightsOut(expected_shapes(config), &model.classifier.params),
        training: Some(&model.training),
        pretraining: None,
    })
}

fn serialize(file: &FileOut<'_>) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec(file).map_err(|e| Error::option("model", e.to_string()))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Serializes a pretrained language model to its JSON text.
pub fn language_model_to_json(file: &LanguageModelFile) -> Result<Vec<u8>> {
    let config = &file.model.config;
    serialize(&FileOut {
        format: FORMAT,
        version: VERSION,
        kind: Some(KIND_LANGUAGE_MODEL),
        config,
        tokenizer: file.tokenizer.config(),
        vocab: file.vocab.tokens(),
        weights: WeightsOut(language_model_shapes(config), &file.model.params),
        training: None,
        pretraining: Some(&file.info),
    })
}

/// Writes a pretrained language model to `path` atomically, as [`save`] writes a classifier.
pub fn save_language_model(file: &LanguageModelFile, path: &Path) -> Result<()> {
    if !file.model.params.all_finite() {
        return Err(Error::Model {
            path: path.to_path_buf(),
            message: "refusing to save weights that are NaN or infinite".into(),
        });
    }
    write_file(path, &language_model_to_json(file)?, "model file")
}

/// Writes a model to `path` atomically (see the module docs), gzip-compressed when the name
/// ends in `.gz`. Refuses non-finite weights.
pub fn save(model: &SentimentModel, path: &Path) -> Result<()> {
    if !model.classifier.params.all_finite() {
        return Err(Error::Model {
            path: path.to_path_buf(),
            message: "refusing to save weights that are NaN or infinite".into(),
        });
    }
    let bytes = to_json(model)?;
    write_file(path, &bytes, "model file")
}

/// Reads and validates a model file, plain or gzip-compressed.
pub fn load(path: &Path) -> Result<SentimentModel> {
    parse_file(path, &read_text(path)?)
}

/// What `train --init` can start from: a classifier, or a language model from `pretrain`.
#[derive(Clone, Debug)]
pub enum Base {
    Classifier(Box<SentimentModel>),
    LanguageModel(Box<LanguageModelFile>),
}

/// Reads a model file of either kind.
pub fn load_base(path: &Path) -> Result<Base> {
    let json = read_text(path)?;
    parse_any(&json).map_err(|message| Error::Model {
        path: path.to_path_buf(),
        message,
    })
}

/// Parses model JSON of either kind.
pub fn parse_any(bytes: &[u8]) -> std::result::Result<Base, String> {
    let fast = cut_weight_arrays(bytes)
        .and_then(|(reduced, bodies)| parse_model(&reduced, Some((bytes, &bodies))).ok());
    match fast {
        Some(base) => Ok(base),
        None => parse_model(bytes, None),
    }
}

/// The JSON text of a model file (decompressed when it is gzip), up to [`MAX_MODEL_BYTES`].
pub fn read_text(path: &Path) -> Result<Vec<u8>> {
    read_file(path, MAX_MODEL_BYTES, "model file")
}

/// Validates the JSON text of the model file at `path` (named in the error).
pub fn parse_file(path: &Path, json: &[u8]) -> Result<SentimentModel> {
    from_json(json).map_err(|message| Error::Model {
        path: path.to_path_buf(),
        message,
    })
}

/// Parses and validates a classifier's model JSON; the error says which part is wrong, and a
/// language model is refused with what to do with it.
pub fn from_json(bytes: &[u8]) -> std::result::Result<SentimentModel, String> {
    // Whatever is wrong with a file, the plain path says it with positions in the whole file.
    classifier_only(parse_any(bytes)?)
}

/// [`from_json`] without the fast path: the reference it must agree with (tests and the
/// fuzzer compare them).
#[doc(hidden)]
pub fn from_json_plain(bytes: &[u8]) -> std::result::Result<SentimentModel, String> {
    classifier_only(parse_model(bytes, None)?)
}

fn classifier_only(base: Base) -> std::result::Result<SentimentModel, String> {
    match base {
        Base::Classifier(model) => Ok(*model),
        Base::LanguageModel(_) => Err(
            "this is a language model written by `rnn-sentiment pretrain`, not a classifier: \
             it scores no sentiment until it is fine-tuned on labelled data, with \
             `rnn-sentiment train --init THIS_FILE DATA -o model.json`"
                .into(),
        ),
    }
}

/// Everything in a model file but the weights' values, read and checked.
struct Head<'a> {
    /// Whether the file is a language model's.
    language_model: bool,
    config: ModelConfig,
    tokenizer: TokenizerConfig,
    vocab: Vocab,
    /// The weights by name, their values still JSON text (or, on the fast path, the index of
    /// a cut-out array).
    weights: BTreeMap<String, TensorIn<'a>>,
    training: TrainingInfo,
    pretraining: PretrainInfo,
}

/// Parses the document and checks every section but the weights' values.
fn parse_head(bytes: &[u8]) -> std::result::Result<Head<'_>, String> {
    let file: FileIn = match serde_json::from_slice(bytes) {
        Ok(file) => file,
        Err(e) => {
            if e.is_eof() {
                return Err(format!(
                    "the file is truncated ({e}); it may be from an interrupted copy"
                ));
            }
            if e.is_syntax() {
                return Err(format!("not valid JSON ({e})"));
            }
            // Valid JSON of another shape: say so by format and version when those are off.
            if let Ok(h) = serde_json::from_slice::<Header>(bytes) {
                check_header(
                    h.format.as_ref().and_then(|f| f.as_str()),
                    h.version.as_ref(),
                )?;
            }
            return Err(format!("not a model file ({e})"));
        }
    };
    check_header(
        file.format.as_deref(),
        file.version.map(serde_json::Value::from).as_ref(),
    )?;
    let language_model = match file.kind.as_deref() {
        None => false,
        Some(KIND_LANGUAGE_MODEL) => true,
        Some(other) => {
            return Err(format!(
                "\"kind\" is {other:?}; this build reads classifiers (no \"kind\") and \
                 {KIND_LANGUAGE_MODEL:?}"
            ))
        }
    };
    fn section<'a, T: Deserialize<'a>>(
        raw: Option<&'a RawValue>,
        name: &str,
    ) -> std::result::Result<T, String> {
        let raw = raw.ok_or_else(|| format!("no \"{name}\" section"))?;
        serde_json::from_str(raw.get()).map_err(|e| format!("bad \"{name}\" section: {e}"))
    }
    let config: ModelConfig = section(file.config, "config")?;
    config
        .validate()
        .map_err(|m| format!("bad \"config\" section: {m}"))?;
    let tokenizer: TokenizerConfig = section(file.tokenizer, "tokenizer")?;
    tokenizer
        .validate()
        .map_err(|e| format!("bad \"tokenizer\" section: {e}"))?;
    let tokens: Vec<String> = section(file.vocab, "vocab")?;
    if tokens.len() != config.vocab_size {
        return Err(format!(
            "the vocabulary has {} entries but config.vocab_size is {}",
            tokens.len(),
            config.vocab_size
        ));
    }
    let vocab = Vocab::from_tokens(tokens).map_err(|m| format!("bad \"vocab\": {m}"))?;
    let weights = file.weights.ok_or("no \"weights\" section")?.0;
    let training: TrainingInfo = match file.training {
        Some(_) => section(file.training, "training")?,
        None => TrainingInfo::default(),
    };
    let pretraining: PretrainInfo = match file.pretraining {
        Some(_) => section(file.pretraining, "pretraining")?,
        None => PretrainInfo::default(),
    };
    Ok(Head {
        language_model,
        config,
        tokenizer,
        vocab,
        weights,
        training,
        pretraining,
    })
}

/// A cut-out array parsed on the fast path; taken (`None`) once a weight has used it.
type ParsedArray = Option<std::result::Result<Vec<f32>, String>>;

fn parse_model(bytes: &[u8], cut: Option<CutArrays<'_>>) -> std::result::Result<Base, String> {
    // On the fast path every cut-out array is parsed, on all cores, while the rest of the
    // document is read and checked (a cold start waited for one, then the other);
    // [`take_weights`] then takes each weight's values by its index. A file that turns out to
    // be wrong goes to the plain path anyway, which checks shapes before it parses any array.
    let (head, mut parsed): (_, Vec<ParsedArray>) = match cut {
        Some((original, bodies)) => rayon::join(
            || parse_head(bytes),
            || {
                bodies
                    .par_iter()
                    .map(|body| Some(parse_f32_body(&original[body.clone()])))
                    .collect::<Vec<_>>()
            },
        ),
        None => (parse_head(bytes), Vec::new()),
    };
    let Head {
        language_model,
        config,
        tokenizer,
        vocab,
        weights,
        training,
        pretraining,
    } = head?;
    let shapes = if language_model {
        language_model_shapes(&config)
    } else {
        expected_shapes(&config)
    };
    let tensors = take_weights(
        &config,
        &shapes,
        weights,
        cut.map(|_| parsed.as_mut_slice()),
    )?;
    // A "data" array cut from somewhere other than a weight was never checked: let the plain
    // path judge such a file.
    if parsed.iter().any(Option::is_some) {
        return Err("a \"data\" array outside the weights".into());
    }
    let params = Params::from_tensors(tensors);
    let tokenizer = Tokenizer::new(tokenizer);
    Ok(if language_model {
        let tied = pretraining.options.as_ref().is_some_and(|o| o.tie_weights);
        if tied && params.fc_weight != params.embedding {
            return Err(
                "the pretraining options say tie_weights, but \"decoder.weight\" is not \
                        \"embedding.weight\""
                    .into(),
            );
        }
        Base::LanguageModel(Box::new(LanguageModelFile {
            tokenizer,
            vocab,
            model: LanguageModel {
                config,
                params,
                tied,
            },
            info: pretraining,
        }))
    } else {
        Base::Classifier(Box::new(SentimentModel {
            tokenizer,
            vocab,
            classifier: Classifier { config, params },
            training,
        }))
    })
}

/// The weights in the config's order, each checked against its expected shape; an error for
/// a missing or unexpected weight, a wrong shape or a wrong number of values. `parsed` holds
/// the fast path's cut-out arrays (`None` on the plain path, which parses each weight's text).
fn take_weights(
    config: &ModelConfig,
    shapes: &[(String, Vec<usize>)],
    mut weights: BTreeMap<String, TensorIn<'_>>,
    mut parsed: Option<&mut [ParsedArray]>,
) -> std::result::Result<Vec<Tensor<f32>>, String> {
    let mut tensors = Vec::with_capacity(shapes.len());
    for (name, shape) in shapes {
        let t = weights
            .remove(name)
            .ok_or_else(|| format!("weight {name:?} is missing"))?;
        let expected: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        if t.shape != expected {
            return Err(wrong_shape(name, &t.shape, config, &expected));
        }
        let n: usize = shape.iter().product();
        let data = weight_values(t.data, parsed.as_deref_mut())
            .map_err(|m| format!("weight {name:?}: {m}"))?;
        if data.len() != n {
            return Err(format!(
                "weight {name:?} has {} values but its shape {:?} needs {n}",
                data.len(),
                t.shape
            ));
        }
        tensors.push(Tensor {
            shape: shape.clone(),
            data,
        });
    }
    if let Some(extra) = weights.keys().next() {
        return Err(unexpected_weight(extra, config, shapes));
    }
    Ok(tensors)
}

/// One weight's values: its JSON text parsed, or on the fast path (`parsed` given) the
/// cut-out array whose index stands in the text, each used once.
fn weight_values(
    data: &RawValue,
    parsed: Option<&mut [ParsedArray]>,
) -> std::result::Result<Vec<f32>, String> {
    let Some(parsed) = parsed else {
        return parse_f32_array(data.get());
    };
    let not_cut = || "not a cut array".to_string();
    let index: usize = serde_json::from_str::<[usize; 1]>(data.get()).map_err(|_| not_cut())?[0];
    parsed
        .get_mut(index)
        .and_then(Option::take)
        .unwrap_or_else(|| Err(not_cut()))
}

/// The error for a weight whose shape is not the one the config needs.
fn wrong_shape(name: &str, shape: &[u64], config: &ModelConfig, expected: &[u64]) -> String {
    format!(
        "weight {name:?} has shape {shape:?}, but the config (cell {}, V={}, E={}, H={}, {} layer(s), D={}, pooling {}, {}) needs {expected:?}",
        config.cell.name(),
        config.vocab_size,
        config.embed_dim,
        config.hidden_dim,
        config.layers,
        config.directions(),
        config.pooling.name(),
        match config.classes.len() {
            0 => "binary".to_string(),
            k => format!("K={k} classes"),
        },
    )
}

/// The error for a weight the config does not have, listing the ones it has.
fn unexpected_weight(extra: &str, config: &ModelConfig, shapes: &[(String, Vec<usize>)]) -> String {
    format!(
        "unexpected weight {extra:?}; the config (cell {}, {} layer(s), {}) has {}",
        config.cell.name(),
        config.layers,
        if config.bidirectional {
            "bidirectional"
        } else {
            "one direction"
        },
        shapes
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}
