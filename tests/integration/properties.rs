//! Property tests (proptest): the tokenizer, label parsing, CSV reading and the model file hold
//! their contracts on arbitrary input, not only on the cases someone thought of.

use std::path::Path;

use proptest::prelude::*;
use rnn_sentiment::config::{CellKind, ModelConfig, Pooling};
use rnn_sentiment::data::{parse_label, read_labeled_from, CsvOptions};
use rnn_sentiment::model::Classifier;
use rnn_sentiment::model_file::{from_json, to_json};
use rnn_sentiment::rng::Rng;
use rnn_sentiment::sentiment::SentimentModel;
use rnn_sentiment::text::{Tokenizer, TokenizerConfig, Truncation, Vocab};
use rnn_sentiment::training_info::TrainingInfo;

fn tokenizer(max_len: usize, left: bool, punctuation: bool) -> Tokenizer {
    Tokenizer::new(TokenizerConfig {
        max_len,
        truncation: if left {
            Truncation::Left
        } else {
            Truncation::Right
        },
        punctuation,
        ..TokenizerConfig::default()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn tokenizer_never_panics_and_is_deterministic(
        text in "\\PC{0,200}",
        max_len in 1usize..20,
        left: bool,
        punctuation: bool,
    ) {
        let t = tokenizer(max_len, left, punctuation);
        let tokens = t.tokenize(&text);
        prop_assert_eq!(&tokens, &t.tokenize(&text));
        prop_assert!(tokens.len() <= max_len);
        for token in &tokens {
            prop_assert!(!token.is_empty());
            prop_assert!(!token.chars().any(char::is_whitespace), "{:?}", token);
        }
        // Truncation keeps a contiguous run of the full token list, at the configured end.
        let all = t.tokens(&text);
        if left {
            prop_assert_eq!(&all[all.len() - tokens.len()..], &tokens[..]);
        } else {
            prop_assert_eq!(&all[..tokens.len()], &tokens[..]);
        }
        // A trailing newline never changes what the model sees.
        prop_assert_eq!(&tokens, &t.tokenize(&format!("{text}\n")));
    }

    #[test]
    fn ids_stay_inside_the_vocabulary(
        train in proptest::collection::vec("\\PC{0,40}", 0..20),
        text in "\\PC{0,80}",
        max_size in 2usize..30,
    ) {
        let t = tokenizer(50, false, true);
        let tokens: Vec<Vec<String>> = train.iter().map(|s| t.tokenize(s)).collect();
        let vocab = Vocab::build(&tokens, 1, max_size);
        prop_assert!(vocab.len() <= max_size);
        for id in vocab.encode(&t.tokenize(&text)) {
            prop_assert!((id as usize) < vocab.len() && id != 0);
        }
    }

    #[test]
    fn labels_parse_in_any_case_and_spacing(
        word in prop_oneof!["1", "0", "positive", "negative", "pos", "neg", "true", "false"],
        upper in proptest::collection::vec(any::<bool>(), 8),
        pad_left in " {0,3}",
        pad_right in " {0,3}",
    ) {
        let cased: String = word
            .chars()
            .zip(upper.iter().cycle())
            .map(|(c, &u)| if u { c.to_ascii_uppercase() } else { c })
            .collect();
        let expected = matches!(word.as_str(), "1" | "positive" | "pos" | "true");
        prop_assert_eq!(parse_label(&format!("{pad_left}{cased}{pad_right}")), Some(expected));
    }

    #[test]
    fn label_parsing_never_panics(s in "\\PC{0,20}") {
        let _ = parse_label(&s);
    }

    #[test]
    fn csv_reading_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), tsv: bool) {
        let name = if tsv { "x.tsv" } else { "x.csv" };
        let _ = read_labeled_from(&bytes, Path::new(name), &CsvOptions::default());
        let mut with_header = b"text,label\n".to_vec();
        with_header.extend(&bytes);
        if let Ok(rows) = read_labeled_from(&with_header, Path::new(name), &CsvOptions::default()) {
            prop_assert!(rows.iter().all(|r| r.line >= 2));
        }
    }

    #[test]
    fn model_files_round_trip_byte_for_byte(
        cell in prop_oneof![Just(CellKind::Rnn), Just(CellKind::Lstm), Just(CellKind::Gru)],
        pooling in prop_oneof![Just(Pooling::Last), Just(Pooling::Mean), Just(Pooling::Max), Just(Pooling::LastMax)],
        layers in 1usize..3,
        bidirectional: bool,
        embed in 1usize..5,
        hidden in 1usize..5,
        seed: u64,
    ) {
        let config = ModelConfig {
            cell,
            vocab_size: 4,
            embed_dim: embed,
            hidden_dim: hidden,
            layers,
            bidirectional,
            pooling,
            forget_bias: None,
            threshold: 0.5,
            classes: Vec::new(),
        };
        let tokens = ["<pad>", "<unk>", "good", "bad"].map(String::from).to_vec();
        let model = SentimentModel {
            tokenizer: Tokenizer::new(TokenizerConfig::default()),
            vocab: Vocab::from_tokens(tokens).unwrap(),
            classifier: Classifier::new(config, &mut Rng::new(seed)),
            training: TrainingInfo::default(),
        };
        let bytes = to_json(&model).unwrap();
        let loaded = from_json(&bytes).unwrap();
        prop_assert_eq!(&loaded.classifier, &model.classifier);
        prop_assert_eq!(to_json(&loaded).unwrap(), bytes.clone());
        // Any prefix that loses part of the document is refused, never loaded and never a
        // panic. (The file ends in a newline; without it the document is whole.)
        let document = bytes.trim_ascii_end().len();
        prop_assert_eq!(document, bytes.len() - 1);
        let cut = (seed as usize) % document;
        prop_assert!(from_json(&bytes[..cut]).is_err());
    }

    #[test]
    fn model_loading_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = from_json(&bytes);
        let mut json = b"{\"format\":\"rnn-sentiment\",\"version\":1,".to_vec();
        json.extend(&bytes);
        let _ = from_json(&json);
    }
}
