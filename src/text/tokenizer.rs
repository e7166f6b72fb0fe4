//! Normalisation and word splitting.
//!
//! Steps, in order (each optional step on by default):
//! 1. `strip_html`: every `<...>` tag (at most 200 characters long, as IMDB's `<br />`) becomes
//!    a space;
//! 2. typographic apostrophes (U+2019, U+2018) become `'`, so `don’t` and `don't` are one token;
//! 3. `lowercase`: Unicode lowercasing;
//! 4. split at Unicode word boundaries (UAX #29, `unicode-segmentation`): runs of letters and
//!    digits (with inner apostrophes and periods, as in `don't` or `3.5`) are words; each CJK
//!    ideograph is a word of its own; whitespace is dropped; any other segment (punctuation,
//!    symbols, emoji) is kept as a token when `punctuation` is on and dropped otherwise.
//!
//! The model then sees at most `max_len` tokens; `truncation` says which end is cut.

use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use crate::error::{Error, Result};
use crate::limits;

/// Which end of a text too long for `max_len` is cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Truncation {
    /// Cut the end: keep the first `max_len` tokens (the default).
    Right,
    /// Cut the start: keep the last `max_len` tokens (reviews often conclude at the end).
    Left,
}

/// The tokenizer's settings, saved in the model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerConfig {
    pub lowercase: bool,
    /// Keep punctuation, symbol and emoji tokens.
    pub punctuation: bool,
    pub strip_html: bool,
    /// Tokens the model sees per text at most.
    pub max_len: usize,
    pub truncation: Truncation,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        Self {
            lowercase: true,
            punctuation: true,
            strip_html: true,
            max_len: 400,
            truncation: Truncation::Right,
        }
    }
}

impl TokenizerConfig {
    /// Checks `max_len` against its limit.
    pub fn validate(&self) -> Result<()> {
        if self.max_len == 0 || self.max_len > limits::MAX_LEN {
            return Err(Error::option(
                "max-len",
                format!("{} is outside 1..={}", self.max_len, limits::MAX_LEN),
            ));
        }
        Ok(())
    }
}

/// Splits text into tokens according to a [`TokenizerConfig`].
#[derive(Clone, Debug)]
pub struct Tokenizer {
    config: TokenizerConfig,
}

fn html_tag() -> &'static Regex {
    static TAG: OnceLock<Regex> = OnceLock::new();
    TAG.get_or_init(|| Regex::new(r"<[^<>]{0,200}>").expect("valid regex"))
}

impl Tokenizer {
    pub fn new(config: TokenizerConfig) -> Self {
        Self { config }
    }

    pub fn config(&self) -> &TokenizerConfig {
        &self.config
    }

    /// All tokens of `text`, before truncation.
    pub fn tokens(&self, text: &str) -> Vec<String> {
        self.split(text, usize::MAX)
    }

    /// The first `limit` tokens of `text`; splitting stops there, so a huge text costs
    /// memory for its normalised copy only, not for millions of token strings.
    fn split(&self, text: &str, limit: usize) -> Vec<String> {
        let mut text = if self.config.strip_html {
            html_tag().replace_all(text, " ").into_owned()
        } else {
            text.to_string()
        };
        if text.contains(['\u{2019}', '\u{2018}']) {
            text = text.replace(['\u{2019}', '\u{2018}'], "'");
        }
        if self.config.lowercase {
            text = text.to_lowercase();
        }
        // A segment is split on whitespace again: for characters newer than the segmentation
        // tables, UAX #29 can return a space and a letter as one segment (found by proptest).
        text.split_word_bounds()
            .flat_map(str::split_whitespace)
            .filter(|piece| piece.chars().any(char::is_alphanumeric) || self.config.punctuation)
            .take(limit)
            .map(str::to_string)
            .collect()
    }

    /// The tokens the model sees: [`Tokenizer::tokens`] cut to `max_len`.
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        match self.config.truncation {
            Truncation::Right => self.split(text, self.config.max_len),
            Truncation::Left => {
                let mut tokens = self.tokens(text);
                self.truncate(&mut tokens);
                tokens
            }
        }
    }

    /// Cuts a token list to `max_len` at the configured end.
    pub fn truncate<T>(&self, tokens: &mut Vec<T>) {
        let max = self.config.max_len;
        if tokens.len() > max {
            match self.config.truncation {
                Truncation::Right => tokens.truncate(max),
                Truncation::Left => {
                    tokens.drain(..tokens.len() - max);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(text: &str) -> Vec<String> {
        Tokenizer::new(TokenizerConfig::default()).tokenize(text)
    }

    #[test]
    fn words_punctuation_and_case() {
        assert_eq!(
            tok("I LOVED it, didn't you?!"),
            ["i", "loved", "it", ",", "didn't", "you", "?", "!"]
        );
        assert_eq!(tok("don\u{2019}t"), ["don't"]);
        assert_eq!(tok("rated 3.5 stars"), ["rated", "3.5", "stars"]);
    }

    #[test]
    fn html_tags_become_spaces() {
        assert_eq!(tok("great<br /><br />film"), ["great", "film"]);
        let keep = Tokenizer::new(TokenizerConfig {
            strip_html: false,
            punctuation: false,
            ..TokenizerConfig::default()
        });
        assert_eq!(keep.tokenize("a<br />b"), ["a", "br", "b"]);
    }

    #[test]
    fn other_scripts_and_emoji() {
        assert_eq!(tok("这部电影很好"), ["这", "部", "电", "影", "很", "好"]);
        assert_eq!(tok("Très bien 👍"), ["très", "bien", "👍"]);
        // Hiragana and kanji have no word breaks in UAX #29 either: one token per character.
        assert_eq!(
            tok("素晴らしい映画"),
            ["素", "晴", "ら", "し", "い", "映", "画"]
        );
        assert_eq!(tok("カメラ最高"), ["カメラ", "最", "高"]);
        assert!(tok("").is_empty());
        assert!(tok(" \t\r\n").is_empty());
        // Characters newer than the segmentation tables: no token carries whitespace.
        assert_eq!(tok(" \u{113b8}"), ["\u{113b8}"]);
    }

    #[test]
    fn punctuation_can_be_dropped() {
        let t = Tokenizer::new(TokenizerConfig {
            punctuation: false,
            ..TokenizerConfig::default()
        });
        assert_eq!(t.tokenize("Bad... really bad!"), ["bad", "really", "bad"]);
    }

    #[test]
    fn truncation_keeps_the_configured_end() {
        let config = TokenizerConfig {
            max_len: 2,
            ..TokenizerConfig::default()
        };
        let right = Tokenizer::new(config.clone());
        assert_eq!(right.tokenize("a b c d"), ["a", "b"]);
        let left = Tokenizer::new(TokenizerConfig {
            truncation: Truncation::Left,
            ..config
        });
        assert_eq!(left.tokenize("a b c d"), ["c", "d"]);
    }
}
