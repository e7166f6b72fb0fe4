//! `predict` with a K-class model: the most probable class and its probability, every class's
//! probability (`--json`), the N best (`--top-k`), attributions to a class (`--explain`).

use std::io::{self, BufWriter, IsTerminal};

use anyhow::{bail, Result};

use rnn_sentiment::data::list_classes;
use rnn_sentiment::model::loss::argmax;
use rnn_sentiment::sentiment::SentimentModel;

use super::output::{emit, flush};
use super::predict::{highlight, use_colour, PredictArgs, Source};
use super::predict_records::{self, Plan, Scoring};
use super::prediction_json::{class_json, ranked};

/// Checks the options against a K-class model; returns `--top-k` (clamped to K) and the class
/// `--explain-class` names.
fn checked_options(
    args: &PredictArgs,
    model: &SentimentModel,
) -> Result<(Option<usize>, Option<usize>)> {
    let classes = model.classes();
    let shown = args.model.model.display();
    if args.threshold.is_some() {
        bail!(
            "--threshold is for binary models; {shown} is a K-class model of {} classes, which \
             predicts the most probable class: leave out --threshold (or see --top-k)",
            classes.len()
        );
    }
    let top_k = match args.top_k {
        Some(0) => bail!(
            "invalid value for --top-k: 0; give a number of classes from 1 to {}",
            classes.len()
        ),
        Some(n) => Some(n.min(classes.len())),
        None => None,
    };
    let explain_class = match &args.explain_class {
        Some(name) => Some(
            classes
                .iter()
                .position(|c| c == name.trim())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "--explain-class {name:?} is not a class of {shown}; its classes are {}",
                        list_classes(classes)
                    )
                })?,
        ),
        None => None,
    };
    Ok((top_k, explain_class))
}

pub(crate) fn predict_classes(
    args: &PredictArgs,
    model: &SentimentModel,
    records: Option<Plan>,
) -> Result<i32> {
    let (top_k, explain_class) = checked_options(args, model)?;
    if let Some(plan) = records {
        return predict_records::run(args, model, plan, Scoring::Classes);
    }
    let classes = model.classes();
    let colour = args.explain
        && !args.json
        && use_colour(
            io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        );
    let mut out = BufWriter::new(io::stdout().lock());
    Source::of(&args.input).for_each_chunk(|texts: &[String]| {
        let p = model.class_probabilities(texts);
        let explanations = if args.explain {
            model.explain_many(texts, explain_class)
        } else {
            Vec::new()
        };
        for (i, (text, row)) in texts.iter().zip(p.rows()).enumerate() {
            let row = row.as_slice().expect("standard layout");
            let e = explanations.get(i);
            if args.json {
                let line = class_json(text, classes, row, top_k, e)?;
                emit(&mut out, format_args!("{line}"))?;
                continue;
            }
            let best = argmax(ndarray::ArrayView1::from(row));
            let (label, probability) = (classes[best].as_str(), row[best]);
            let top: Option<Vec<usize>> = top_k.map(|n| ranked(row, n));
            let mut fields: Vec<String> = match &top {
                Some(top) => top
                    .iter()
                    .map(|&k| format!("{}\t{:.6}", classes[k], row[k]))
                    .collect(),
                None => vec![format!("{label}\t{probability:.6}")],
            };
            if let Some(e) = e {
                fields.push(highlight(e, colour));
            }
            emit(&mut out, format_args!("{}", fields.join("\t")))?;
        }
        flush(&mut out)
    })?;
    Ok(0)
}
