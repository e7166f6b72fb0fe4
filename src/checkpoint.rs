//! The model file: one versioned JSON document, written atomically, validated on load.
//!
//! ```text
//! {"format": "rnn-sentiment", "version": 1,
//!  "config":    {cell, vocab_size, embed_dim, hidden_dim, forget_bias, threshold},
//!  "tokenizer": {lowercase, punctuation, strip_html, max_len, truncation},
//!  "vocab":     ["<pad>", "<unk>", ...]                     (id order)
//!  "weights":   {"embedding.weight": {"shape": [V, E], "data": [...]}, ...}  (row-major,
//!               PyTorch state_dict names and order)
//!  "training":  {...}}                                      (how it was trained; no timings)
//! ```
//!
//! Floats are written in their shortest form that reads back to the same `f32`, so a
//! save -> load -> save round trip is byte-identical. Saving writes a temporary file in the
//! target's directory, flushes it to disk and renames it over the target: a crash leaves
//! either the old file or the complete new one, never a mix.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::config::ModelConfig;
use crate::error::{Error, Result};
use crate::model::params::{expected_shapes, Params, Tensor};
use crate::model::Classifier;
use crate::sentiment::SentimentModel;
use crate::text::{Tokenizer, TokenizerConfig, Vocab};
use crate::train::TrainingInfo;

/// The `format` value of every model file.
pub const FORMAT: &str = "rnn-sentiment";
/// The file version this build writes and reads.
pub const VERSION: u64 = 1;

#[derive(Serialize)]
struct FileOut<'a> {
    format: &'static str,
    version: u64,
    config: &'a ModelConfig,
    tokenizer: &'a TokenizerConfig,
    vocab: &'a [String],
    weights: WeightsOut<'a>,
    training: &'a TrainingInfo,
}

/// Serializes the weights as a JSON object in canonical order.
struct WeightsOut<'a>(&'a ModelConfig, &'a Params<f32>);

#[derive(Serialize)]
struct TensorOut<'a> {
    shape: &'a [usize],
    data: &'a [f32],
}

impl Serialize for WeightsOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let shapes = expected_shapes(self.0);
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

/// The first pass of loading: sections are kept as raw JSON so that format and version are
/// checked before anything else is interpreted.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIn<'a> {
    format: Option<String>,
    version: Option<u64>,
    #[serde(borrow)]
    config: Option<&'a RawValue>,
    #[serde(borrow)]
    tokenizer: Option<&'a RawValue>,
    #[serde(borrow)]
    vocab: Option<&'a RawValue>,
    #[serde(borrow)]
    weights: Option<&'a RawValue>,
    #[serde(borrow)]
    training: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TensorIn {
    shape: Vec<u64>,
    /// Read as f64 so that a value too large for f32 is reported by weight name and index.
    data: Vec<f64>,
}

/// Serializes a model to its JSON text.
pub fn to_json(model: &SentimentModel) -> Result<Vec<u8>> {
    let file = FileOut {
        format: FORMAT,
        version: VERSION,
        config: &model.classifier.config,
        tokenizer: model.tokenizer.config(),
        vocab: model.vocab.tokens(),
        weights: WeightsOut(&model.classifier.config, &model.classifier.params),
        training: &model.training,
    };
    let mut bytes = serde_json::to_vec(&file).map_err(|e| Error::option("model", e.to_string()))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Writes a model to `path` atomically (see the module docs). Refuses non-finite weights.
pub fn save(model: &SentimentModel, path: &Path) -> Result<()> {
    if !model.classifier.params.all_finite() {
        return Err(Error::Model {
            path: path.to_path_buf(),
            message: "refusing to save weights that are NaN or infinite".into(),
        });
    }
    let bytes = to_json(model)?;
    write_atomic(path, &bytes)
}

/// Writes `bytes` to `path` via a temporary file and a rename in the same directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = temp_path(path);
    let result = (|| -> std::io::Result<()> {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        // Make the rename itself durable; not every platform can open a directory.
        if let Some(dir) = parent_dir(path) {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&temp);
        Error::io("cannot write model file", path, e)
    })
}

fn parent_dir(path: &Path) -> Option<&Path> {
    match path.parent() {
        Some(p) if p.as_os_str().is_empty() => Some(Path::new(".")),
        other => other,
    }
}

/// The temporary file [`write_atomic`] uses: hidden, beside the target, unique per process.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model.json".into());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Checks, before a long training run, that a model can be written to `path` later: the
/// directory exists and is writable, and `path` is not a directory. Writes nothing that stays.
pub fn check_writable(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Err(Error::io(
            "cannot write model file",
            path,
            std::io::Error::other("it is a directory; give a file name such as model.json"),
        ));
    }
    let temp = temp_path(path);
    File::create(&temp).map_err(|e| Error::io("cannot write model file", path, e))?;
    let _ = fs::remove_file(&temp);
    Ok(())
}

/// Reads and validates a model file.
pub fn load(path: &Path) -> Result<SentimentModel> {
    let bytes = fs::read(path).map_err(|e| Error::io("cannot read model file", path, e))?;
    from_json(&bytes).map_err(|message| Error::Model {
        path: path.to_path_buf(),
        message,
    })
}

/// Parses and validates model JSON; the error says which part is wrong.
pub fn from_json(bytes: &[u8]) -> std::result::Result<SentimentModel, String> {
    let file: FileIn = serde_json::from_slice(bytes).map_err(|e| {
        if e.is_eof() {
            format!("the file is truncated ({e}); it may be from an interrupted copy")
        } else if e.is_syntax() {
            format!("not valid JSON ({e})")
        } else {
            format!("not a model file ({e})")
        }
    })?;
    match file.format.as_deref() {
        Some(FORMAT) => {}
        Some(other) => return Err(format!("format is {other:?}, expected {FORMAT:?}")),
        None => {
            return Err(format!(
                "no \"format\" field; expected \"format\": {FORMAT:?}"
            ))
        }
    }
    match file.version {
        Some(VERSION) => {}
        Some(v) => {
            return Err(format!(
                "file version {v} is not supported; this build of rnn-sentiment {} reads version {VERSION}",
                env!("CARGO_PKG_VERSION")
            ))
        }
        None => return Err("no \"version\" field".into()),
    }
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
    let mut weights: BTreeMap<String, TensorIn> = section(file.weights, "weights")?;
    let training: TrainingInfo = match file.training {
        Some(_) => section(file.training, "training")?,
        None => TrainingInfo::default(),
    };

    let shapes = expected_shapes(&config);
    let mut tensors = Vec::with_capacity(shapes.len());
    for (name, shape) in &shapes {
        let t = weights
            .remove(name)
            .ok_or_else(|| format!("weight {name:?} is missing"))?;
        let expected: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        if t.shape != expected {
            return Err(format!(
                "weight {name:?} has shape {:?}, but the config (cell {}, V={}, E={}, H={}, {} layer(s), D={}, pooling {}) needs {:?}",
                t.shape,
                config.cell.name(),
                config.vocab_size,
                config.embed_dim,
                config.hidden_dim,
                config.layers,
                config.directions(),
                config.pooling.name(),
                expected
            ));
        }
        let n: usize = shape.iter().product();
        if t.data.len() != n {
            return Err(format!(
                "weight {name:?} has {} values but its shape {:?} needs {n}",
                t.data.len(),
                t.shape
            ));
        }
        let data: Vec<f32> = t.data.iter().map(|&x| x as f32).collect();
        if let Some(i) = data.iter().position(|x| !x.is_finite()) {
            return Err(format!(
                "weight {name:?} value {i} ({}) is not a finite 32-bit float",
                t.data[i]
            ));
        }
        tensors.push(Tensor {
            shape: shape.clone(),
            data,
        });
    }
    if let Some(extra) = weights.keys().next() {
        return Err(format!(
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
        ));
    }
    Ok(SentimentModel {
        tokenizer: Tokenizer::new(tokenizer),
        vocab,
        classifier: Classifier {
            config,
            params: Params::from_tensors(tensors),
        },
        training,
    })
}
