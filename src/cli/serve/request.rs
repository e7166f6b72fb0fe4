//! A `POST /v1/predict` body, read and checked: every field by name and type, every count and
//! length against its limit. What a client sends becomes a [`PredictRequest`] or an
//! [`ApiError`] that names the field; never a panic.

use serde_json::{Map, Value};

use super::routes::ApiError;
use rnn_sentiment::sentiment::SentimentModel;

/// What a client may ask of one request.
#[derive(Clone, Copy)]
pub(crate) struct RequestLimits {
    pub(crate) max_body_bytes: usize,
    pub(crate) max_texts: usize,
    pub(crate) max_text_chars: usize,
}

/// The fields a predict body may hold.
const FIELDS: &str = "text, texts, explain, top_k, explain_class";

/// A checked predict request.
#[derive(Debug)]
pub(crate) struct PredictRequest {
    pub(crate) texts: Vec<String>,
    /// `{"text": ...}`: answered with one object, not a list.
    pub(crate) single: bool,
    pub(crate) explain: bool,
    pub(crate) top_k: Option<usize>,
    pub(crate) explain_class: Option<String>,
}

/// The options checked against the model that will score the texts.
pub(crate) struct ModelOptions {
    /// `top_k`, clamped to the number of classes.
    pub(crate) top_k: Option<usize>,
    /// The class `explain_class` names.
    pub(crate) explain_class: Option<usize>,
}

/// Reads a body (already within `max_body_bytes`) into a request.
pub(crate) fn parse(body: &[u8], limits: &RequestLimits) -> Result<PredictRequest, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let Value::Object(mut object) = value else {
        return Err(ApiError::bad_request(format!(
            "the body must be a JSON object with \"text\" or \"texts\", not {}",
            kind(&value)
        )));
    };
    if let Some(unknown) = object.keys().find(|k| !FIELDS.split(", ").any(|f| f == *k)) {
        return Err(ApiError::bad_request(format!(
            "unknown field {unknown:?}; the fields are {FIELDS}"
        )));
    }
    let (texts, single) =
        match (object.remove("text"), object.remove("texts")) {
            (Some(_), Some(_)) => return Err(ApiError::bad_request(
                "give either \"text\" (one string) or \"texts\" (an array of strings), not both",
            )),
            (None, None) => {
                return Err(ApiError::bad_request(
                    "missing field \"text\" (one string) or \"texts\" (an array of strings)",
                ))
            }
            (Some(text), None) => (vec![string("text", text)?], true),
            (None, Some(texts)) => (strings(texts, limits)?, false),
        };
    for (i, text) in texts.iter().enumerate() {
        // Counted only up to one past the limit: a long text costs no more to refuse.
        if text.chars().take(limits.max_text_chars + 1).count() > limits.max_text_chars {
            let field = if single {
                "\"text\"".to_string()
            } else {
                format!("\"texts\"[{i}]")
            };
            return Err(ApiError::bad_request(format!(
                "{field} is longer than the limit of {} characters (--max-text-chars)",
                limits.max_text_chars
            )));
        }
    }
    Ok(PredictRequest {
        texts,
        single,
        explain: optional(&object, "explain", Value::as_bool, "true or false")?.unwrap_or(false),
        top_k: optional(&object, "top_k", Value::as_u64, "a positive integer")?
            .map(|k| usize::try_from(k).unwrap_or(usize::MAX)),
        explain_class: optional(&object, "explain_class", Value::as_str, "a class name")?
            .map(str::to_string),
    })
}

impl PredictRequest {
    /// Checks `top_k` and `explain_class` against the model.
    pub(crate) fn options(&self, model: &SentimentModel) -> Result<ModelOptions, ApiError> {
        let classes = model.classes();
        if model.is_binary() {
            for (given, field) in [
                (self.top_k.is_some(), "top_k"),
                (self.explain_class.is_some(), "explain_class"),
            ] {
                if given {
                    return Err(ApiError::bad_request(format!(
                        "\"{field}\" is for K-class models; this is a binary model (positive or \
                         negative, one probability): leave out \"{field}\""
                    )));
                }
            }
        }
        let top_k = match self.top_k {
            Some(0) => {
                return Err(ApiError::bad_request(format!(
                    "\"top_k\" must be from 1 to {}, not 0",
                    classes.len()
                )))
            }
            other => other.map(|k| k.min(classes.len())),
        };
        let explain_class =
            match &self.explain_class {
                None => None,
                Some(_) if !self.explain => {
                    return Err(ApiError::bad_request(
                        "\"explain_class\" needs \"explain\": true",
                    ))
                }
                Some(name) => Some(classes.iter().position(|c| c == name.trim()).ok_or_else(
                    || {
                        ApiError::bad_request(format!(
                            "\"explain_class\" {name:?} is not a class of this model; its classes \
                         are {}",
                            rnn_sentiment::data::list_classes(classes)
                        ))
                    },
                )?),
            };
        Ok(ModelOptions {
            top_k,
            explain_class,
        })
    }
}

/// A field that must be a string.
fn string(field: &str, value: Value) -> Result<String, ApiError> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(ApiError::bad_request(format!(
            "\"{field}\" must be a string, not {}",
            kind(&other)
        ))),
    }
}

/// `"texts"`: an array of at most `max_texts` strings.
fn strings(value: Value, limits: &RequestLimits) -> Result<Vec<String>, ApiError> {
    let Value::Array(items) = value else {
        return Err(ApiError::bad_request(format!(
            "\"texts\" must be an array of strings, not {}",
            kind(&value)
        )));
    };
    if items.len() > limits.max_texts {
        return Err(ApiError::too_large(format!(
            "\"texts\" holds {} texts, more than the limit of {} a request (--max-texts); \
             send them in several requests",
            items.len(),
            limits.max_texts
        )));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) => Ok(s),
            other => Err(ApiError::bad_request(format!(
                "\"texts\"[{i}] must be a string, not {}",
                kind(&other)
            ))),
        })
        .collect()
}

/// An optional field read with `get`, which returns `None` for a value of the wrong type.
fn optional<'v, T>(
    object: &'v Map<String, Value>,
    field: &str,
    get: impl Fn(&'v Value) -> Option<T>,
    expected: &str,
) -> Result<Option<T>, ApiError> {
    match object.get(field) {
        None => Ok(None),
        Some(value) => get(value).map(Some).ok_or_else(|| {
            ApiError::bad_request(format!(
                "\"{field}\" must be {expected}, not {}",
                kind(value)
            ))
        }),
    }
}

/// What a JSON value is, for messages.
fn kind(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}
