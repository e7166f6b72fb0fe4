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

use rayon::prelude::*;
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

/// The one pass of serde over a model file: small sections stay raw JSON, checked after
/// format and version; each weight's numbers stay raw text for [`parse_f32_array`].
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
    weights: Option<BTreeMap<String, TensorIn<'a>>>,
    #[serde(borrow)]
    training: Option<&'a RawValue>,
}

/// Only format and version, read when a file does not fit [`FileIn`], so that a file of
/// another format or a future version is named as such rather than by its first odd field.
#[derive(Deserialize)]
struct Header {
    format: Option<serde_json::Value>,
    version: Option<serde_json::Value>,
}

/// Checks format and version; `Ok` when they are this build's.
fn check_header(format: Option<&str>, version: Option<u64>) -> std::result::Result<(), String> {
    match format {
        Some(FORMAT) => {}
        Some(other) => return Err(format!("format is {other:?}, expected {FORMAT:?}")),
        None => {
            return Err(format!(
                "no \"format\" field; expected \"format\": {FORMAT:?}"
            ))
        }
    }
    match version {
        Some(VERSION) => Ok(()),
        Some(v) => Err(format!(
            "file version {v} is not supported; this build of rnn-sentiment {} reads version {VERSION}",
            env!("CARGO_PKG_VERSION")
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

fn skip_whitespace(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// Parses a JSON array of numbers (already validated as JSON by serde_json) into f32,
/// rounding each decimal directly to the nearest f32 (what the writer's shortest form
/// round-trips to). `expected` sizes the allocation; errors name the value's index. Arrays of
/// more than [`PARALLEL_BYTES`] are cut at commas into pieces parsed on all cores.
fn parse_f32_array(raw: &str, expected: usize) -> std::result::Result<Vec<f32>, String> {
    let bytes = raw.as_bytes();
    let start = skip_whitespace(bytes, 0);
    let end = bytes.iter().rposition(|&b| b == b']');
    let (Some(b'['), Some(end)) = (bytes.get(start), end) else {
        return Err("\"data\" is not an array of numbers".into());
    };
    let body = &bytes[start + 1..end];
    if skip_whitespace(body, 0) == body.len() {
        return Ok(Vec::new());
    }
    let pieces = split_at_commas(body, rayon::current_num_threads().max(1));
    let parsed: Vec<std::result::Result<Vec<f32>, (usize, String)>> = if pieces.len() > 1 {
        pieces
            .par_iter()
            .map(|p| parse_numbers(p, expected / pieces.len() + 1))
            .collect()
    } else {
        vec![parse_numbers(body, expected)]
    };
    let mut out = Vec::with_capacity(expected);
    for piece in parsed {
        match piece {
            Ok(values) => out.extend(values),
            Err((index, message)) => {
                return Err(format!("value {}{message}", out.len() + index));
            }
        }
    }
    Ok(out)
}

/// Arrays longer than this (in bytes of JSON) are parsed in parallel pieces.
const PARALLEL_BYTES: usize = 1 << 20;

/// Cuts `body` (the inside of an array) into about `parts` pieces, each ending before a comma.
fn split_at_commas(body: &[u8], parts: usize) -> Vec<&[u8]> {
    if body.len() < PARALLEL_BYTES || parts < 2 {
        return vec![body];
    }
    let mut pieces = Vec::with_capacity(parts);
    let mut from = 0;
    for k in 1..parts {
        let target = (body.len() * k / parts).max(from);
        match body[target..].iter().position(|&b| b == b',') {
            Some(offset) => {
                pieces.push(&body[from..target + offset]);
                from = target + offset + 1;
            }
            None => break,
        }
    }
    pieces.push(&body[from..]);
    pieces
}

/// Parses comma-separated numbers; an error carries the index within this piece.
fn parse_numbers(piece: &[u8], capacity: usize) -> std::result::Result<Vec<f32>, (usize, String)> {
    let mut out = Vec::with_capacity(capacity);
    let mut i = skip_whitespace(piece, 0);
    loop {
        let (value, used) = fast_float2::parse_partial::<f32, _>(&piece[i..])
            .map_err(|_| (out.len(), " is not a number".to_string()))?;
        if !value.is_finite() {
            return Err((
                out.len(),
                format!(
                    " ({}) is not a finite 32-bit float",
                    String::from_utf8_lossy(&piece[i..i + used])
                ),
            ));
        }
        out.push(value);
        i = skip_whitespace(piece, i + used);
        match piece.get(i) {
            Some(b',') => i = skip_whitespace(piece, i + 1),
            None => return Ok(out),
            Some(_) => return Err((out.len() - 1, " is not followed by , or ]".to_string())),
        }
    }
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
                    h.version.as_ref().and_then(|v| v.as_u64()),
                )?;
            }
            return Err(format!("not a model file ({e})"));
        }
    };
    check_header(file.format.as_deref(), file.version)?;
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
    let mut weights = file.weights.ok_or("no \"weights\" section")?;
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
        let data = parse_f32_array(t.data.get(), n).map_err(|m| format!("weight {name:?}: {m}"))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_arrays_parse_exactly_and_report_bad_values() {
        assert_eq!(parse_f32_array(" [ ] ", 0).unwrap(), Vec::<f32>::new());
        assert_eq!(
            parse_f32_array("[1, -0.5,3e-2 ,0.1]", 4).unwrap(),
            [1.0, -0.5, 0.03, 0.1]
        );
        let err = parse_f32_array("[1, 1e39]", 2).unwrap_err();
        assert!(err.contains("value 1 (1e39) is not a finite"), "{err}");
        assert!(parse_f32_array("[1, [2]]", 2)
            .unwrap_err()
            .contains("value 1"));
        assert!(parse_f32_array("{}", 0).is_err());
    }

    #[test]
    fn large_arrays_split_into_pieces_give_the_same_values() {
        // Over PARALLEL_BYTES, so the parallel path runs; shortest-form f32 text round-trips.
        let values: Vec<f32> = (0..300_000)
            .map(|i| ((i as f32) * 0.618).sin() * 3.0)
            .collect();
        let text = serde_json::to_string(&values).unwrap();
        assert!(text.len() > PARALLEL_BYTES);
        assert_eq!(parse_f32_array(&text, values.len()).unwrap(), values);
        let pieces = split_at_commas(&text.as_bytes()[1..text.len() - 1], 4);
        assert_eq!(pieces.len(), 4);
        let mut bad = values.clone();
        bad[250_000] = 0.0;
        let text = serde_json::to_string(&bad)
            .unwrap()
            .replacen(",0.0,", ",1e99,", 1);
        let err = parse_f32_array(&text, values.len()).unwrap_err();
        assert!(err.starts_with("value 250000 (1e99)"), "{err}");
    }
}
