//! `inspect` of a language model written by `pretrain`: what it is, what it was trained on,
//! how pretraining went, and what to do with it.

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use rnn_sentiment::lm::info::LanguageModelFile;
use rnn_sentiment::model_file;

use super::inspect::{on_off, truncation_name};

/// Prints a language model's facts, as text or `--json`.
pub(crate) fn inspect_language_model(
    path: &Path,
    json_bytes: u64,
    file: &LanguageModelFile,
    as_json: bool,
) -> Result<i32> {
    let c = &file.model.config;
    let info = &file.info;
    let parameters = file.parameters();
    let perplexity = file.valid_perplexity();
    let next = format!(
        "rnn-sentiment train --init {} DATA -o model.json",
        path.display()
    );
    if as_json {
        say!(
            "{}",
            json!({
                "path": path,
                "kind": model_file::KIND_LANGUAGE_MODEL,
                "format_version": model_file::VERSION,
                "json_bytes": json_bytes,
                "config": c,
                "parameters": parameters,
                "vocab_size": file.vocab.len(),
                "tokenizer": file.tokenizer.config(),
                "pretraining": info,
                "valid_perplexity": perplexity,
                "fine_tune": next,
            })
        );
        return Ok(0);
    }
    let t = file.tokenizer.config();
    say!(
        "model        {} (a language model from `pretrain`)",
        path.display()
    );
    say!(
        "architecture {}",
        super::inspect::architecture(c).replace(", pooling max", "")
    );
    say!("parameters   {parameters} (the decoder over the vocabulary included)");
    say!("vocabulary   {} entries", file.vocab.len());
    say!(
        "tokenizer    lowercase {}, punctuation {}, strip_html {}, max_len {} ({})",
        on_off(t.lowercase),
        on_off(t.punctuation),
        on_off(t.strip_html),
        t.max_len,
        truncation_name(t.truncation)
    );
    say!(
        "corpus       {} ({} texts, {} stream positions: {} trained on, {} held out)",
        info.corpus.join(", "),
        info.texts,
        info.positions,
        info.train_positions,
        info.valid_positions
    );
    say!(
        "pretraining  best epoch {} of {}, validation perplexity {}",
        info.best_epoch,
        info.epochs_run,
        perplexity.map_or("n/a".to_string(), |p| format!("{p:.2}"))
    );
    say!("written by   rnn-sentiment {}", info.tool_version);
    say!("fine-tune    {next}");
    Ok(0)
}
