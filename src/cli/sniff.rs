//! Mix-ups caught before the real readers run: a model given as data, data given as a model,
//! compressed or not.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{bail, Result};

use rnn_sentiment::files::gzip;
use rnn_sentiment::lm::checkpoint::PRETRAIN_CHECKPOINT_FORMAT;
use rnn_sentiment::model_file;
use rnn_sentiment::sentiment::SentimentModel;
use rnn_sentiment::train::CHECKPOINT_FORMAT;

/// Loads the model of `-m`, saying what to do when there is none or it is a directory.
pub(crate) fn load_model(path: &Path) -> Result<SentimentModel> {
    check_model_path(path)?;
    Ok(model_file::load(path)?)
}

/// The checks [`load_model`] makes before reading: a directory, a missing file, or data given
/// as the model are each said as such.
pub(crate) fn check_model_path(path: &Path) -> Result<()> {
    let shown = path.display();
    if path.is_dir() {
        bail!(
            "cannot read model file {shown}: it is a directory, not a model file; give the \
             model file with -m FILE"
        );
    }
    if fs::symlink_metadata(path).is_err() {
        bail!(
            "cannot read model file {shown}: there is no such file; train one with \
             `rnn-sentiment train DATA -o {shown}`, or give an existing model with -m FILE"
        );
    }
    reject_data_as_model(path)?;
    reject_checkpoint_as_model(path)
}

/// A checkpoint given where a model is expected is said as such, with what to do with it.
fn reject_checkpoint_as_model(path: &Path) -> Result<()> {
    match file_start(path) {
        Some(start) if is_checkpoint(&start.bytes) => bail!(
            "{shown} is a training checkpoint (an interrupted run), not a model; continue the \
             run with `rnn-sentiment train --resume {shown}`, or see what it holds with \
             `rnn-sentiment inspect -m {shown}`",
            shown = path.display()
        ),
        Some(start) if is_pretrain_checkpoint(&start.bytes) => bail!(
            "{shown} is a pretraining checkpoint (an interrupted `pretrain`), not a model; \
             continue the run with `rnn-sentiment pretrain --resume {shown}`, then fine-tune \
             the base it writes with `rnn-sentiment train --init BASE DATA`; `rnn-sentiment \
             inspect -m {shown}` shows what it holds",
            shown = path.display()
        ),
        _ => Ok(()),
    }
}

/// Whether a file's start is a checkpoint's: JSON whose first key is the checkpoint format.
pub(crate) fn is_checkpoint(start: &[u8]) -> bool {
    first_non_space(start) == Some(b'{') && has_format(start, CHECKPOINT_FORMAT)
}

/// Whether a file's start is a pretraining checkpoint's.
pub(crate) fn is_pretrain_checkpoint(start: &[u8]) -> bool {
    first_non_space(start) == Some(b'{') && has_format(start, PRETRAIN_CHECKPOINT_FORMAT)
}

/// Whether `start`, whitespace removed, holds `"format":"<format>"`.
fn has_format(start: &[u8], format: &str) -> bool {
    let compact: Vec<u8> = start
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let marker = format!("\"format\":\"{format}\"");
    compact
        .windows(marker.len())
        .any(|w| w == marker.as_bytes())
}

/// How much of a file the mix-up checks below read.
pub(crate) const SNIFF_BYTES: u64 = 4096;

/// The first [`SNIFF_BYTES`] of a file, decompressed when it is gzip.
pub(crate) struct FileStart {
    /// Without a UTF-8 byte-order mark.
    pub(crate) bytes: Vec<u8>,
    /// Whether the file is gzip-compressed (by its magic bytes, not its name).
    pub(crate) gzip: bool,
}

/// The start of a file, or `None` when it cannot be read or decompressed (the real reader
/// then reports why) or is not a regular file: reading from a pipe (`eval <(zcat data.csv.gz)`)
/// would consume what the real reader needs.
pub(crate) fn file_start(path: &Path) -> Option<FileStart> {
    if !fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let mut raw = BufReader::new(File::open(path).ok()?);
    let gzip = gzip::is_gzip(raw.fill_buf().ok()?);
    let mut bytes = Vec::new();
    if gzip {
        gzip::Decoder::new(raw)
            .take(SNIFF_BYTES)
            .read_to_end(&mut bytes)
            .ok()?;
    } else {
        raw.take(SNIFF_BYTES).read_to_end(&mut bytes).ok()?;
    }
    if bytes.starts_with(b"\xef\xbb\xbf") {
        bytes.drain(..3);
    }
    Some(FileStart { bytes, gzip })
}

pub(crate) fn first_non_space(bytes: &[u8]) -> Option<u8> {
    bytes.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// Whether a file starts like a model file: JSON whose first key is `"format": "rnn-sentiment"`.
pub(crate) fn looks_like_model(path: &Path, start: &[u8]) -> bool {
    let is_json_name = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    (is_json_name || first_non_space(start) == Some(b'{')) && has_format(start, model_file::FORMAT)
}

/// A model file given where data is expected (`eval model.json`) is said as such, instead of
/// a CSV error about its columns.
/// A gzip file given as data is said as such too: data is read as plain text.
pub(crate) fn reject_model_as_data(path: &Path, hint: &str) -> Result<()> {
    match file_start(path) {
        Some(start) if looks_like_model(path, &start.bytes) => bail!(
            "{} looks like an rnn-sentiment model file, not data; {hint}",
            path.display()
        ),
        Some(start) if start.gzip => bail!(
            "{path} is gzip-compressed, and data is read as plain text; decompress it first \
             (`gunzip -k {path}`), or pipe it in with `zcat {path} |` (train and eval read \
             the data file `-` from standard input, predict reads texts from it)",
            path = path.display()
        ),
        _ => Ok(()),
    }
}

/// Data given where a model is expected (`predict -m data.csv`) is said as such, instead of a
/// JSON syntax error.
pub(crate) fn reject_data_as_model(path: &Path) -> Result<()> {
    let Some(FileStart { bytes: start, gzip }) = file_start(path) else {
        return Ok(());
    };
    match first_non_space(&start) {
        // Empty, or JSON: the model loader says what is wrong with it.
        None | Some(b'{' | b'[' | b'"') => Ok(()),
        Some(_) => {
            let text = match std::str::from_utf8(&start) {
                Ok(text) => Some(text),
                // The sniffed prefix may end inside a character.
                Err(e) if e.error_len().is_none() => {
                    std::str::from_utf8(&start[..e.valid_up_to()]).ok()
                }
                Err(_) => None,
            }
            .filter(|t| !t.contains('\0'));
            match text.and_then(|t| t.lines().find(|l| !l.trim().is_empty())) {
                Some(line) => {
                    let line: String = line.trim().chars().take(60).collect();
                    let path = path.display();
                    // train reads plain text, or gzip through a pipe.
                    let command = if gzip {
                        format!("zcat {path} | rnn-sentiment train -")
                    } else {
                        format!("rnn-sentiment train {path}")
                    };
                    bail!(
                        "{path} looks like a CSV/text file, not a model (it starts with {line:?}); \
                         to train a model from it, run `{command}`, and give the model file with -m"
                    )
                }
                None => bail!(
                    "{} is not an rnn-sentiment model file (it is not JSON text); give a model \
                     written by `rnn-sentiment train` with -m",
                    path.display()
                ),
            }
        }
    }
}
