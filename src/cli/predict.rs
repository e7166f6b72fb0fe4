//! `predict`: labels and probabilities for texts, with `--explain` attributions.

use std::io::{self, BufWriter, IsTerminal};
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::args::{check_threshold, set_inference_threads, ModelArg};
use super::output::{emit, flush};
use super::predict_records::{self, RecordArgs, Scoring};
use super::prediction_json::{binary_explained_json, binary_json, binary_label};
use super::sniff::{file_start, load_model, looks_like_model, reject_model_as_data};
use rnn_sentiment::data::TextLines;
use rnn_sentiment::kernels::float::sigmoid;
use rnn_sentiment::sentiment::{Explanation, SentimentModel};

pub(crate) const PREDICT_JSON: &str = "\
JSON output (--json): one object per input line, in input order:
  {\"text\": the input, \"label\": \"positive\" | \"negative\", \"probability\": p}
With --explain, also:
  tokens              the tokens the model sees (normalised, split, truncated to max_len)
  ids                 their ids; 1 is <unk>
  attributions        per token: p(text) - p(text with that token removed)
  unknown             per token: true when outside the vocabulary (the model sees <unk>)
  window              tokens removed together: 1, but past about 1,400 tokens a window of
                      consecutive tokens (each token carries its window's attribution)
For a K-class model (labels named classes), \"label\" is the most probable class,
\"probability\" its probability, and every line also has:
  probabilities       {class: p} for every class, in the model's class order
  top                 with --top-k N: [{\"label\", \"probability\"}] of the N most probable classes
  explained_class     with --explain: the class the attributions are to (the predicted one,
                      or --explain-class), and explained_probability its probability
Plain output: label<TAB>probability (K classes with --top-k N: N label<TAB>probability pairs,
most probable first, on the one line); with --explain, a third field: the tokens separated by
spaces, each followed by its signed attribution, e.g. great[+0.412] movie[+0.010], unknown
words marked (unk): zzz(unk)[-0.003]. On a terminal, tokens are coloured instead: green
raises the probability, red lowers it; bold bright for the strongest (|attribution| over 2/3
of the text's largest), uncoloured for the weakest (under 1/3). NO_COLOR (any non-empty
value) turns colour off.

Attribution method: leave-one-token-out occlusion. Each token is removed (not replaced by
<unk>) and the text rescored; the drop in probability is the token's attribution. It is exact
and faithful to this model, and all variants of a text score in one batched forward pass.
Removing each of T tokens costs T variants of T tokens; past about 1,400 tokens, windows of
consecutive tokens are removed together so that one text costs at most 2,000,000 tokens of
scoring (a 4,000-token text: windows of 8).";

#[derive(Args)]
pub(crate) struct TextInput {
    /// Texts to process; with none (or "-"), one text per line is read from stdin.
    pub(crate) texts: Vec<String>,
    /// Read one text per line from this file.
    #[arg(long, conflicts_with = "texts")]
    pub(crate) file: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct PredictArgs {
    #[command(flatten)]
    pub(crate) input: TextInput,
    #[command(flatten)]
    pub(crate) model: ModelArg,
    #[command(flatten)]
    pub(crate) records: RecordArgs,
    /// Probability at or above which a text is called positive [default: the model's].
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) threshold: Option<f64>,
    /// Print JSON lines {"text","label","probability"} (with --explain also
    /// "tokens","ids","attributions","unknown","window").
    #[arg(long)]
    pub(crate) json: bool,
    /// Show how much each token moves the probability (leave-one-token-out occlusion).
    #[arg(long)]
    pub(crate) explain: bool,
    /// With --explain, for a K-class model: attributions to this class's probability
    /// [default: the predicted class].
    #[arg(long, requires = "explain", value_name = "NAME")]
    pub(crate) explain_class: Option<String>,
    /// For a K-class model: print the N most probable classes with their probabilities.
    #[arg(long, value_name = "N")]
    pub(crate) top_k: Option<usize>,
    /// Threads for scoring (0: one per core); results do not depend on it.
    #[arg(long, default_value_t = 0)]
    pub(crate) threads: usize,
}

/// Where texts come from: arguments, a file, or stdin.
pub(crate) enum Source {
    Args(Vec<String>),
    File(PathBuf),
    Stdin,
}

impl Source {
    pub(crate) fn of(input: &TextInput) -> Self {
        match (&input.file, input.texts.as_slice()) {
            (Some(path), _) => Source::File(path.clone()),
            (None, []) => Source::Stdin,
            (None, [dash]) if dash == "-" => Source::Stdin,
            (None, texts) => Source::Args(texts.to_vec()),
        }
    }

    /// Calls `handle` with chunks of texts in input order. Chunks are large for files and
    /// pipes (fast batched inference) and one line for an interactive terminal (immediate
    /// answers).
    pub(crate) fn for_each_chunk(
        self,
        mut handle: impl FnMut(&[String]) -> Result<()>,
    ) -> Result<()> {
        // Large enough that length-sorted batches fill every core; a pipe is read ahead this far.
        const CHUNK: usize = 8192;
        let mut run = |lines: &mut dyn Iterator<Item = rnn_sentiment::Result<(u64, String)>>,
                       chunk_size: usize|
         -> Result<()> {
            let mut chunk = Vec::with_capacity(chunk_size);
            for item in lines {
                chunk.push(item?.1);
                if chunk.len() == chunk_size {
                    handle(&chunk)?;
                    chunk.clear();
                }
            }
            if !chunk.is_empty() {
                handle(&chunk)?;
            }
            Ok(())
        };
        match self {
            Source::Args(texts) => handle(&texts),
            Source::File(path) => run(&mut TextLines::open(&path)?, CHUNK),
            Source::Stdin => {
                let stdin = io::stdin();
                let chunk = if stdin.is_terminal() {
                    // Someone is typing: say what the silence waits for.
                    note!(
                        "reading texts from the terminal, one per line; end with Ctrl-D (or \
                         give the texts as arguments, or --file FILE)"
                    );
                    1
                } else {
                    CHUNK
                };
                run(&mut TextLines::new(stdin.lock(), "<stdin>"), chunk)
            }
        }
    }
}

/// `--file model.json` is a model given where texts are expected.
/// A positional text that names an existing model file (`predict mr.json "I love it"`, -m
/// forgotten) is the same mistake: refused, rather than scoring the string "mr.json".
pub(crate) fn check_text_file(input: &TextInput) -> Result<()> {
    if let Some(path) = &input.file {
        return reject_model_as_data(path, &format!("did you mean -m {}?", path.display()));
    }
    for text in &input.texts {
        let path = std::path::Path::new(text);
        if file_start(path).is_some_and(|start| looks_like_model(path, &start.bytes)) {
            anyhow::bail!(
                "{text} is an rnn-sentiment model file, given as a text to score; did you mean \
                 -m {text}?"
            );
        }
    }
    Ok(())
}

pub(crate) fn predict(args: PredictArgs) -> Result<i32> {
    set_inference_threads(args.threads)?;
    check_text_file(&args.input)?;
    let model = load_model(&args.model.model)?;
    let records = predict_records::plan(&args, &model)?;
    if !model.is_binary() {
        return super::predict_classes::predict_classes(&args, &model, records);
    }
    let shown = args.model.model.display();
    for (given, option) in [
        (args.top_k.is_some(), "--top-k"),
        (args.explain_class.is_some(), "--explain-class"),
    ] {
        if given {
            anyhow::bail!(
                "{option} is for K-class models; {shown} is a binary model (positive or \
                 negative, one probability): leave out {option}"
            );
        }
    }
    let threshold = check_threshold(args.threshold.unwrap_or(model.threshold()))?;
    if let Some(plan) = records {
        return predict_records::run(&args, &model, plan, Scoring::Binary { threshold });
    }
    if args.explain {
        return explain(&args, &model, threshold);
    }
    let mut out = BufWriter::new(io::stdout().lock());
    Source::of(&args.input).for_each_chunk(|texts| {
        for (text, z) in texts.iter().zip(model.logits(texts)) {
            let p = sigmoid(z);
            if args.json {
                emit(
                    &mut out,
                    format_args!("{}", binary_json(text, p, threshold)?),
                )?;
            } else {
                let label = binary_label(p, threshold);
                emit(&mut out, format_args!("{label}\t{p:.6}"))?;
            }
        }
        flush(&mut out)
    })?;
    Ok(0)
}

/// `predict --explain`: one line per input with the label, the probability and per-token
/// attributions.
pub(crate) fn explain(args: &PredictArgs, model: &SentimentModel, threshold: f64) -> Result<i32> {
    let colour = !args.json
        && use_colour(
            io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        );
    let mut out = BufWriter::new(io::stdout().lock());
    Source::of(&args.input).for_each_chunk(|texts| {
        for (text, e) in texts.iter().zip(model.explain_many(texts, None)) {
            if args.json {
                let line = binary_explained_json(text, &e, threshold)?;
                emit(&mut out, format_args!("{line}"))?;
            } else {
                let (label, p) = (binary_label(e.probability, threshold), e.probability);
                let tokens = highlight(&e, colour);
                emit(&mut out, format_args!("{label}\t{p:.6}\t{tokens}"))?;
            }
        }
        flush(&mut out)
    })?;
    Ok(0)
}

/// Colour on stdout: only on a terminal, and not when `NO_COLOR` is set to a non-empty value
/// (<https://no-color.org>; an empty value does not disable colour).
pub(crate) fn use_colour(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|value| value.is_empty())
}

/// Marks a token outside the vocabulary (the model sees `<unk>` in its place).
pub(crate) const UNKNOWN_MARK: &str = "(unk)";

/// The tokens of an explanation on one line, separated by spaces. Without colour each token
/// is followed by its signed attribution, `great[+0.412]`; with colour the sign and strength
/// are shown by ANSI colour: green raises p, red lowers it, bold bright for |a| above 2/3 of
/// the text's largest, plain for |a| below 1/3.
pub(crate) fn highlight(e: &Explanation, colour: bool) -> String {
    let max = e.max_magnitude();
    let mut line = String::new();
    for (i, ((token, &a), unknown)) in e
        .tokens
        .iter()
        .zip(&e.attributions)
        .zip(e.unknown())
        .enumerate()
    {
        if i > 0 {
            line.push(' ');
        }
        let mark = if unknown { UNKNOWN_MARK } else { "" };
        if !colour {
            line.push_str(&format!("{token}{mark}[{a:+.3}]"));
            continue;
        }
        let strength = if max > 0.0 { a.abs() / max } else { 0.0 };
        let style = match (a > 0.0, strength) {
            (_, s) if s < 1.0 / 3.0 => None,
            (true, s) if s > 2.0 / 3.0 => Some("1;92"),
            (false, s) if s > 2.0 / 3.0 => Some("1;91"),
            (true, _) => Some("32"),
            (false, _) => Some("31"),
        };
        match style {
            Some(style) => line.push_str(&format!("\x1b[{style}m{token}{mark}\x1b[0m")),
            None => line.push_str(&format!("{token}{mark}")),
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(!use_colour(false, None));
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(true, Some(OsStr::new("false"))));
        assert!(!use_colour(false, Some(OsStr::new("1"))));
        // no-color.org: only a non-empty value disables colour.
        assert!(use_colour(true, Some(OsStr::new(""))));
    }

    fn explanation() -> Explanation {
        Explanation {
            tokens: ["great", "zzz", "plot", "awful"].map(String::from).to_vec(),
            ids: vec![7, 1, 9, 4],
            attributions: vec![0.9, -0.01, 0.4, -0.75],
            probability: 0.8,
            window: 1,
            class: None,
        }
    }

    #[test]
    fn plain_tokens_carry_signed_attributions_and_unknown_marks() {
        assert_eq!(
            highlight(&explanation(), false),
            "great[+0.900] zzz(unk)[-0.010] plot[+0.400] awful[-0.750]"
        );
    }

    #[test]
    fn coloured_tokens_show_sign_and_strength() {
        assert_eq!(
            highlight(&explanation(), true),
            "\x1b[1;92mgreat\x1b[0m zzz(unk) \x1b[32mplot\x1b[0m \x1b[1;91mawful\x1b[0m"
        );
    }

    #[test]
    fn an_empty_explanation_is_an_empty_field() {
        let e = Explanation {
            tokens: vec![],
            ids: vec![],
            attributions: vec![],
            probability: 0.5,
            window: 1,
            class: None,
        };
        assert_eq!(highlight(&e, false), "");
        assert_eq!(highlight(&e, true), "");
    }
}
