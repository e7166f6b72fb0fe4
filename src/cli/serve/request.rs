//! A `POST /v1/predict` body, read and checked: every field by name and type, every count and
//! length against its limit. What a client sends becomes a [`PredictRequest`] or an
//! [`ApiError`] that names the field; never a panic.

use serde::Deserialize;
use serde_json::value::RawValue;

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

/// The fields of a body, each kept as its raw JSON text (borrowed from the body): reading
/// them allocates nothing, so that a hostile body (a million tiny numbers) costs no more
/// memory than its bytes, and each field is then read with a message that names it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields<'a> {
    #[serde(borrow)]
    text: Option<&'a RawValue>,
    #[serde(borrow)]
    texts: Option<&'a RawValue>,
    #[serde(borrow)]
    explain: Option<&'a RawValue>,
    #[serde(borrow)]
    top_k: Option<&'a RawValue>,
    #[serde(borrow)]
    explain_class: Option<&'a RawValue>,
}

/// Reads a body (already within `max_body_bytes`) into a request.
pub(crate) fn parse(body: &[u8], limits: &RequestLimits) -> Result<PredictRequest, ApiError> {
    let whole: &RawValue = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    if !whole.get().starts_with('{') {
        return Err(ApiError::bad_request(format!(
            "the body must be a JSON object with \"text\" or \"texts\", not {}",
            kind(whole)
        )));
    }
    let fields: Fields = serde_json::from_str(whole.get()).map_err(|e| {
        let message = e.to_string();
        match message.split('`').nth(1) {
            Some(name) if message.starts_with("unknown field") => {
                ApiError::bad_request(format!("unknown field {name:?}; the fields are {FIELDS}"))
            }
            _ => ApiError::bad_request(format!("the body is not valid: {message}")),
        }
    })?;
    let (texts, single) =
        match (fields.text, fields.texts) {
            (Some(_), Some(_)) => return Err(ApiError::bad_request(
                "give either \"text\" (one string) or \"texts\" (an array of strings), not both",
            )),
            (None, None) => {
                return Err(ApiError::bad_request(
                    "missing field \"text\" (one string) or \"texts\" (an array of strings)",
                ))
            }
            (Some(text), None) => (vec![string("\"text\"", text)?], true),
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
        explain: optional::<bool>(fields.explain, "explain", "true or false")?.unwrap_or(false),
        top_k: optional::<u64>(fields.top_k, "top_k", "a positive integer")?
            .map(|k| usize::try_from(k).unwrap_or(usize::MAX)),
        explain_class: optional::<String>(fields.explain_class, "explain_class", "a class name")?,
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

/// A string field (`field` as the message names it).
fn string(field: &str, raw: &RawValue) -> Result<String, ApiError> {
    serde_json::from_str(raw.get())
        .map_err(|_| ApiError::bad_request(format!("{field} must be a string, not {}", kind(raw))))
}

/// `"texts"`: an array of at most `max_texts` strings, counted as it is read.
fn strings(raw: &RawValue, limits: &RequestLimits) -> Result<Vec<String>, ApiError> {
    if !raw.get().starts_with('[') {
        return Err(ApiError::bad_request(format!(
            "\"texts\" must be an array of strings, not {}",
            kind(raw)
        )));
    }
    let mut failure = None;
    let seed = Texts {
        max: limits.max_texts,
        failure: &mut failure,
    };
    let mut reader = serde_json::Deserializer::from_str(raw.get());
    match serde::de::DeserializeSeed::deserialize(seed, &mut reader) {
        Ok(texts) => Ok(texts),
        Err(e) => Err(failure
            .unwrap_or_else(|| ApiError::bad_request(format!("\"texts\" is not valid: {e}")))),
    }
}

/// Reads the elements of `"texts"` one by one, each a borrowed raw value made a string, and
/// stops at the first one past `max` or the first that is not a string.
struct Texts<'f> {
    max: usize,
    failure: &'f mut Option<ApiError>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Texts<'_> {
    type Value = Vec<String>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<String>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Texts<'_> {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of strings")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut texts = Vec::new();
        while let Some(raw) = seq.next_element::<&RawValue>()? {
            let failure = if texts.len() == self.max {
                ApiError::too_large(format!(
                    "\"texts\" holds more than the limit of {} texts a request (--max-texts); \
                     send them in several requests",
                    self.max
                ))
            } else {
                match string(&format!("\"texts\"[{}]", texts.len()), raw) {
                    Ok(text) => {
                        texts.push(text);
                        continue;
                    }
                    Err(failure) => failure,
                }
            };
            *self.failure = Some(failure);
            return Err(serde::de::Error::custom("stopped"));
        }
        Ok(texts)
    }
}

/// An optional field of type `T`.
fn optional<T: serde::de::DeserializeOwned>(
    raw: Option<&RawValue>,
    field: &str,
    expected: &str,
) -> Result<Option<T>, ApiError> {
    raw.map(|raw| {
        serde_json::from_str(raw.get()).map_err(|_| {
            ApiError::bad_request(format!("\"{field}\" must be {expected}, not {}", kind(raw)))
        })
    })
    .transpose()
}

/// What a JSON value is, for messages (from its first character: it is valid JSON).
fn kind(raw: &RawValue) -> String {
    let text = raw.get();
    match text.chars().next() {
        Some('n') => "null".into(),
        Some('t') => "true".into(),
        Some('f') => "false".into(),
        Some('"') => "a string".into(),
        Some('[') => "an array".into(),
        Some('{') => "an object".into(),
        _ => format!("the number {}", text.chars().take(40).collect::<String>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: RequestLimits = RequestLimits {
        max_body_bytes: 1 << 20,
        max_texts: 2,
        max_text_chars: 5,
    };

    fn parsed(body: &str) -> Result<PredictRequest, ApiError> {
        parse(body.as_bytes(), &LIMITS)
    }

    #[test]
    fn fields_are_read_whatever_their_spelling_and_spacing() {
        let r = parsed(" \n{\"te\\u0078t\": \"héllo\", \"explain\": true}\n ").unwrap();
        assert_eq!(
            (r.texts, r.single, r.explain),
            (vec!["héllo".to_string()], true, true)
        );
        let r = parsed(r#"{"texts": ["a", "b"], "top_k": 3, "explain_class": "x"}"#).unwrap();
        assert_eq!((r.texts.len(), r.single, r.top_k), (2, false, Some(3)));
        assert_eq!(r.explain_class.as_deref(), Some("x"));
    }

    #[test]
    fn each_wrong_field_is_named() {
        let message = |body: &str| parsed(body).unwrap_err().message;
        assert!(message(r#"{"text": "a", "text": "b"}"#).contains("duplicate field"));
        assert!(message(r#"{"texts": ["a", "b", "c"]}"#).contains("limit of 2 texts"));
        assert_eq!(
            parsed(r#"{"texts": ["a", "b", "c"]}"#).unwrap_err().status,
            axum::http::StatusCode::PAYLOAD_TOO_LARGE
        );
        assert!(message(r#"{"texts": ["a", {}]}"#)
            .contains("\"texts\"[1] must be a string, not an object"));
        assert!(message(r#"{"text": "abcdef"}"#).contains("\"text\" is longer than the limit of 5"));
        assert!(message(r#"{"text": "a", "top_k": 1.5}"#)
            .contains("\"top_k\" must be a positive integer, not the number 1.5"));
        assert!(message("true").contains("not true"));
    }
}
