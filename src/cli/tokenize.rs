//! `tokenize`: the tokens and ids a model sees for each text.

use std::io::{self, BufWriter};

use anyhow::Result;
use clap::Args;

use super::args::ModelArg;
use super::output::{emit, flush};
use super::predict::{check_text_file, Source, TextInput};
use super::sniff::load_model;

pub(crate) const TOKENIZE_JSON: &str = "\
Output (always JSON; --json is accepted for symmetry with the other commands): one object per
input line, in input order:
  {\"text\": the input, \"tokens\": [..], \"ids\": [..]}
The tokens are those the model sees (normalised, split, truncated to max_len); id 1 is <unk>.";

#[derive(Args)]
pub(crate) struct TokenizeArgs {
    #[command(flatten)]
    pub(crate) input: TextInput,
    #[command(flatten)]
    pub(crate) model: ModelArg,
    /// Print JSON lines {"text","tokens","ids"} (the output is always JSON; accepted so that
    /// every command takes --json).
    #[arg(long)]
    pub(crate) json: bool,
}

/// One line of `tokenize`.
#[derive(serde::Serialize)]
pub(crate) struct TokenizeLine<'a> {
    pub(crate) text: &'a str,
    pub(crate) tokens: &'a [String],
    pub(crate) ids: &'a [u32],
}

pub(crate) fn tokenize(args: TokenizeArgs) -> Result<i32> {
    check_text_file(&args.input)?;
    let model = load_model(&args.model.model)?;
    let mut out = BufWriter::new(io::stdout().lock());
    Source::of(&args.input).for_each_chunk(|texts| {
        for text in texts {
            let tokens = model.tokenizer.tokenize(text);
            let ids = model.vocab.encode(&tokens);
            let line = TokenizeLine {
                text,
                tokens: &tokens,
                ids: &ids,
            };
            emit(&mut out, format_args!("{}", serde_json::to_string(&line)?))?;
        }
        flush(&mut out)
    })?;
    Ok(0)
}
