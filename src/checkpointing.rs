//! What the classifier's and the language model's resume checkpoints share, below both
//! trainers: where an interrupted run leaves its checkpoint, how one is written, and how what
//! it holds is checked against the run that continues it (tensors, options).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::params::Tensor;

/// Where an interrupted `train -o MODEL` (or `pretrain -o MODEL`) leaves its checkpoint:
/// `MODEL.ckpt`, or for a compressed model `NAME.gz`, `NAME.ckpt.gz`. A checkpoint is three to
/// four times the model's size, so it is compressed when the model is, and its name ends in
/// `.gz` because that is what makes a file be written compressed (and what tells `zcat` it may
/// read it).
pub fn checkpoint_path(model: &Path) -> PathBuf {
    let gz_extension = model
        .extension()
        .filter(|_| crate::files::gzip::is_gzip_name(model));
    let mut name = match gz_extension {
        Some(_) => model.with_extension("").into_os_string(),
        None => model.as_os_str().to_owned(),
    };
    name.push(".ckpt");
    if let Some(ext) = gz_extension {
        name.push(".");
        name.push(ext);
    }
    PathBuf::from(name)
}

/// Writes a checkpoint (training or pretraining) to `path` as JSON, atomically,
/// gzip-compressed when the name ends in `.gz`.
pub(crate) fn write_checkpoint<C: Serialize>(checkpoint: &C, path: &Path) -> Result<()> {
    let bytes =
        serde_json::to_vec(checkpoint).map_err(|e| Error::option("checkpoint", e.to_string()))?;
    crate::files::json::write_file(path, &bytes, "checkpoint")
}

/// Checks a tensor list read from a checkpoint against the model's: the same count and
/// shapes, each with as many values as its shape needs, all finite.
pub(crate) fn check_tensors(
    what: &str,
    tensors: &[Tensor<f32>],
    expected: &[&Tensor<f32>],
) -> Result<(), String> {
    if tensors.len() != expected.len() {
        return Err(format!(
            "{what} has {} tensors where the model has {}",
            tensors.len(),
            expected.len()
        ));
    }
    for (i, (t, e)) in tensors.iter().zip(expected).enumerate() {
        if t.shape != e.shape {
            return Err(format!(
                "{what} tensor {i} has shape {:?} where the model needs {:?} (other data or \
                 vocabulary?)",
                t.shape, e.shape
            ));
        }
        if t.data.len() != e.data.len() {
            return Err(format!(
                "{what} tensor {i} has {} values but its shape {:?} needs {}",
                t.data.len(),
                t.shape,
                e.data.len()
            ));
        }
        if !t.data.iter().all(|x| x.is_finite()) {
            return Err(format!("{what} tensor {i} holds NaN or infinite values"));
        }
    }
    Ok(())
}

/// The first setting in which the checkpoint's options `recorded` and the run's `asked`
/// differ, as `key: recorded here, asked there` (training or pretraining options; the
/// tokenizer's settings are read as top-level keys).
pub(crate) fn first_difference<C: Serialize>(recorded: &C, asked: &C) -> String {
    let flat = |c: &C| {
        let mut map = serde_json::to_value(c).expect("options serialize to JSON");
        let tokenizer = map["tokenizer"].take();
        let mut map = map.as_object().cloned().unwrap_or_default();
        map.extend(tokenizer.as_object().cloned().unwrap_or_default());
        map
    };
    let (old, new) = (flat(recorded), flat(asked));
    old.iter()
        .find(|(key, value)| new.get(*key) != Some(*value))
        .map(|(key, value)| {
            let now = new.get(key).unwrap_or(&serde_json::Value::Null);
            format!("{key} is {now} in this run but {value} in the checkpoint")
        })
        .unwrap_or_else(|| "in a setting that is not shown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compressed_model_gets_a_compressed_checkpoint() {
        for (model, checkpoint) in [
            ("model.json", "model.json.ckpt"),
            ("dir/m.json.gz", "dir/m.json.ckpt.gz"),
            ("m.GZ", "m.ckpt.GZ"),
            ("m", "m.ckpt"),
        ] {
            assert_eq!(checkpoint_path(Path::new(model)), Path::new(checkpoint));
        }
    }
}
