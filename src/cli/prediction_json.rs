//! The JSON object of one scored text, as `predict --json` prints it and `serve` answers it:
//! built here once so that the two stay the same, field for field and byte for byte.

use anyhow::Result;
use serde::Serialize;
use serde_json::value::RawValue;

use rnn_sentiment::model::loss::argmax;
use rnn_sentiment::sentiment::Explanation;

/// One line of `predict --json` for a binary model.
#[derive(Serialize)]
pub(crate) struct PredictionLine<'a> {
    pub(crate) text: &'a str,
    pub(crate) label: &'a str,
    pub(crate) probability: f64,
}

/// One line of `predict --explain --json` for a binary model.
#[derive(Serialize)]
struct ExplanationLine<'a> {
    text: &'a str,
    label: &'a str,
    probability: f64,
    tokens: &'a [String],
    ids: &'a [u32],
    attributions: &'a [f64],
    unknown: Vec<bool>,
    /// Tokens left out together to measure each attribution (1 but for long texts).
    window: usize,
}

/// One line of `predict --json` for a K-class model.
#[derive(Serialize)]
struct ClassLine<'a> {
    text: &'a str,
    label: &'a str,
    probability: f64,
    /// `{class: p}` in class order (written by hand: a JSON map would sort the names).
    probabilities: Box<RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top: Option<Vec<Ranked<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explained_class: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explained_probability: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tokens: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ids: Option<&'a [u32]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attributions: Option<&'a [f64]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unknown: Option<Vec<bool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    window: Option<usize>,
}

/// A class and its probability, in `top`.
#[derive(Serialize)]
struct Ranked<'a> {
    label: &'a str,
    probability: f64,
}

/// "positive" at or above the threshold, else "negative".
pub(crate) fn binary_label(p: f64, threshold: f64) -> &'static str {
    if p >= threshold {
        "positive"
    } else {
        "negative"
    }
}

/// `{"text","label","probability"}` of a binary model's text of probability `p`.
pub(crate) fn binary_json(text: &str, p: f64, threshold: f64) -> Result<String> {
    let line = PredictionLine {
        text,
        label: binary_label(p, threshold),
        probability: p,
    };
    Ok(serde_json::to_string(&line)?)
}

/// [`binary_json`] with the explanation's fields (`--explain`).
pub(crate) fn binary_explained_json(text: &str, e: &Explanation, threshold: f64) -> Result<String> {
    let line = ExplanationLine {
        text,
        label: binary_label(e.probability, threshold),
        probability: e.probability,
        tokens: &e.tokens,
        ids: &e.ids,
        attributions: &e.attributions,
        unknown: e.unknown(),
        window: e.window,
    };
    Ok(serde_json::to_string(&line)?)
}

/// A K-class model's text: the most probable class of `row` (the text's probabilities in
/// class order), every class's probability, the `top_k` best and the explanation's fields.
pub(crate) fn class_json(
    text: &str,
    classes: &[String],
    row: &[f64],
    top_k: Option<usize>,
    e: Option<&Explanation>,
) -> Result<String> {
    let best = argmax(ndarray::ArrayView1::from(row));
    let line = ClassLine {
        text,
        label: &classes[best],
        probability: row[best],
        probabilities: probabilities_object(classes, row)?,
        top: top_k.map(|n| {
            ranked(row, n)
                .into_iter()
                .map(|k| Ranked {
                    label: &classes[k],
                    probability: row[k],
                })
                .collect()
        }),
        explained_class: e.and_then(|e| e.class).map(|k| classes[k].as_str()),
        explained_probability: e.map(|e| e.probability),
        tokens: e.map(|e| e.tokens.as_slice()),
        ids: e.map(|e| e.ids.as_slice()),
        attributions: e.map(|e| e.attributions.as_slice()),
        unknown: e.map(|e| e.unknown()),
        window: e.map(|e| e.window),
    };
    Ok(serde_json::to_string(&line)?)
}

/// `{"neg":0.1,"pos":0.9}` with the classes in model order.
pub(crate) fn probabilities_object(classes: &[String], p: &[f64]) -> Result<Box<RawValue>> {
    let mut object = String::from("{");
    for (k, (name, p)) in classes.iter().zip(p).enumerate() {
        if k > 0 {
            object.push(',');
        }
        object.push_str(&serde_json::to_string(name)?);
        object.push(':');
        object.push_str(&serde_json::to_string(p)?);
    }
    object.push('}');
    Ok(RawValue::from_string(object)?)
}

/// The `n` most probable classes, most probable first (ties: class order).
pub(crate) fn ranked(p: &[f64], n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
    order.truncate(n);
    order
}
