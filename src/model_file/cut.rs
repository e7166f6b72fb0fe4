//! The fast path of loading: the weight arrays cut out of the document, so that serde reads
//! only the small rest and each array is parsed once, on all cores.

use std::ops::Range;

use super::numbers::skip_whitespace;

/// The file's bytes and the ranges of the weight arrays cut out of it by [`cut_weight_arrays`].
pub(super) type CutArrays<'a> = (&'a [u8], &'a [Range<usize>]);

/// The fast path of loading. serde must scan every byte of a raw value to find its end, and
/// the weights are nearly all of a model file; so this copies the document with the inside of
/// each tensor's `"data"` array replaced by an index (`[0]`, `[1]`, ...) and returns where
/// each inside was. serde then scans only the small rest, and
/// [`parse_f32_body`](super::arrays::parse_f32_body) reads each array once, on all cores,
/// checking the JSON grammar of its numbers itself. Returns `None` when the layout is not the
/// expected one (a truncated file, say); [`from_json`](super::from_json) then takes the plain
/// path, whose error messages point into the whole file.
pub(super) fn cut_weight_arrays(bytes: &[u8]) -> Option<(Vec<u8>, Vec<Range<usize>>)> {
    let mut reduced = Vec::with_capacity(bytes.len().min(1 << 20));
    let mut bodies = Vec::new();
    let mut copied = 0;
    // Nesting of objects and arrays: the root is 1, "weights" 2, each tensor 3.
    let mut depth = 0usize;
    let mut i = 0;
    // Byte by byte outside strings (only the small sections are walked so: strings are
    // skipped with memchr, weight arrays jumped over).
    while i < bytes.len() {
        let at = i;
        match bytes[at] {
            b'"' => {
                // The string's end: the next quote not escaped by a backslash.
                let mut j = at + 1;
                loop {
                    j += memchr::memchr2(b'"', b'\\', &bytes[j..])?;
                    if bytes[j] == b'\\' {
                        // Skip the escaped character; a backslash at the end is a cut file.
                        j += 2;
                        if j > bytes.len() {
                            return None;
                        }
                    } else {
                        break;
                    }
                }
                i = j + 1;
                if depth != 3 || &bytes[at..i] != b"\"data\"" {
                    continue;
                }
                let colon = skip_whitespace(bytes, i);
                if bytes.get(colon) != Some(&b':') {
                    continue;
                }
                let open = skip_whitespace(bytes, colon + 1);
                if bytes.get(open) != Some(&b'[') {
                    continue;
                }
                let close = open + 1 + memchr::memchr(b']', &bytes[open + 1..])?;
                reduced.extend_from_slice(&bytes[copied..=open]);
                reduced.extend_from_slice(bodies.len().to_string().as_bytes());
                bodies.push(open + 1..close);
                copied = close;
                i = close + 1;
            }
            b'{' | b'[' => {
                depth += 1;
                i = at + 1;
            }
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                i = at + 1;
            }
            _ => i = at + 1,
        }
    }
    reduced.extend_from_slice(&bytes[copied..]);
    Some((reduced, bodies))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;
    use crate::model::params::expected_shapes;
    use crate::model::Classifier;
    use crate::model_file::{from_json, from_json_plain, to_json};
    use crate::sentiment::SentimentModel;
    use crate::text::{Tokenizer, TokenizerConfig, Vocab};
    use crate::training_info::TrainingInfo;

    #[test]
    fn the_fast_loading_path_agrees_with_the_plain_one() {
        let config = ModelConfig {
            cell: crate::config::CellKind::Gru,
            vocab_size: 6,
            embed_dim: 3,
            hidden_dim: 2,
            layers: 1,
            bidirectional: true,
            pooling: crate::config::Pooling::Max,
            forget_bias: None,
            threshold: 0.5,
            classes: Vec::new(),
        };
        let mut rng = crate::rng::Rng::new(3);
        // Vocabulary entries that look like the structure the fast path looks for.
        let tokens = [
            "<pad>",
            "<unk>",
            "\"data\":[",
            "]}\\",
            "{\"data\": [1]}",
            "data",
        ];
        let model = SentimentModel {
            tokenizer: Tokenizer::new(TokenizerConfig::default()),
            vocab: Vocab::from_tokens(tokens.iter().map(|t| t.to_string()).collect()).unwrap(),
            classifier: Classifier::new(config, &mut rng),
            training: TrainingInfo::default(),
        };
        let bytes = to_json(&model).unwrap();
        let (reduced, bodies) = cut_weight_arrays(&bytes).expect("the writer's layout");
        assert_eq!(
            bodies.len(),
            expected_shapes(&model.classifier.config).len()
        );
        assert!(reduced.len() < bytes.len());
        let fast = from_json(&bytes).unwrap();
        assert_eq!(to_json(&fast).unwrap(), bytes);
        assert_eq!(to_json(&from_json_plain(&bytes).unwrap()).unwrap(), bytes);
        // Pretty-printed (other whitespace) loads the same.
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let pretty = serde_json::to_vec_pretty(&value).unwrap();
        assert!(cut_weight_arrays(&pretty).is_some());
        assert_eq!(to_json(&from_json(&pretty).unwrap()).unwrap(), bytes);
        // Damage: both paths refuse, with the plain path's message.
        let text = String::from_utf8(bytes.clone()).unwrap();
        for bad in [
            text.replacen("\"data\":[", "\"data\":[.5,", 1),
            text.replacen("\"data\":[", "\"data\":[[", 1),
            text[..text.len() / 2].to_string(),
            text.replacen(
                "\"training\":{",
                "\"training\":{\"x\":{\"y\":{\"data\":[1,\"",
                1,
            ),
        ] {
            let fast = from_json(bad.as_bytes()).unwrap_err();
            assert_eq!(fast, from_json_plain(bad.as_bytes()).unwrap_err());
        }
    }
}
