//! `inspect` of a language model written by `pretrain`: what it is, what it was trained on,
//! how pretraining went, and what to do with it; and of an interrupted `pretrain`'s
//! checkpoint: where it stopped and the command that continues it.

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use rnn_sentiment::lm::checkpoint::PretrainCheckpoint;
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
    let decoder = if file.model.tied {
        "the decoder over the vocabulary included, its weight tied to the embedding"
    } else {
        "the decoder over the vocabulary included"
    };
    say!("parameters   {parameters} ({decoder})");
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

/// `inspect -m BASE.ckpt`: an interrupted pretraining run.
pub(crate) fn inspect_pretrain_checkpoint(path: &Path, as_json: bool) -> Result<i32> {
    let file_bytes = std::fs::metadata(path)?.len();
    let c = PretrainCheckpoint::read(path)?.checkpoint;
    let resume = format!("rnn-sentiment pretrain --resume {}", path.display());
    let best = c.best.as_ref().map(|b| b.1);
    let invocation = c.invocation.as_ref();
    if as_json {
        say!(
            "{}",
            json!({
                "checkpoint": path,
                "kind": "pretraining",
                "file_bytes": file_bytes,
                "format_version": c.version,
                "epoch": c.epoch,
                "step": c.step,
                "epochs": c.options.epochs,
                "history": c.history,
                "best_epoch": best,
                "corpus": invocation.map(|i| &i.corpus),
                "output": invocation.map(|i| &i.output),
                "options": c.options,
                "resume_command": resume,
            })
        );
        return Ok(0);
    }
    say!(
        "checkpoint   {} ({file_bytes} bytes, format version {}): an interrupted pretraining run",
        path.display(),
        c.version
    );
    say!(
        "stopped      in epoch {} of {}, after step {}",
        c.epoch,
        c.options.epochs,
        c.step
    );
    let vocab_size = c.params.first().and_then(|t| t.shape.first()).copied();
    let architecture =
        super::inspect::architecture(&c.options.model_config(vocab_size.unwrap_or(0)));
    say!("architecture {}", architecture.replace(", pooling max", ""));
    for r in &c.history {
        say!(
            "epoch {:<6} training loss {:.4}, validation perplexity {}",
            r.epoch,
            r.train_loss,
            r.valid_perplexity
                .map_or("n/a".to_string(), |p| format!("{p:.2}"))
        );
    }
    if let Some(i) = invocation {
        let corpus: Vec<String> = i.corpus.iter().map(|p| p.display().to_string()).collect();
        say!("corpus       {}", corpus.join(", "));
        say!(
            "base model   {}, written when the run finishes",
            i.output.display()
        );
    }
    say!("continue     {resume}");
    Ok(0)
}
