#![no_main]
//! Bytes -> lossy UTF-8 -> tokenize with several configurations. Tokens must be non-empty,
//! contain no whitespace, and there are at most `max_len` of them.

use libfuzzer_sys::fuzz_target;
use rnn_sentiment::text::{Tokenizer, TokenizerConfig, Truncation};

fn configs() -> Vec<TokenizerConfig> {
    let mut out = Vec::new();
    for truncation in [Truncation::Right, Truncation::Left] {
        for punctuation in [true, false] {
            for (lowercase, strip_html) in [(true, true), (false, false)] {
                for max_len in [1, 7, 400] {
                    out.push(TokenizerConfig {
                        lowercase,
                        punctuation,
                        strip_html,
                        max_len,
                        truncation,
                    });
                }
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for config in configs() {
        let max_len = config.max_len;
        let tokenizer = Tokenizer::new(config);
        let tokens = tokenizer.tokenize(&text);
        assert!(
            tokens.len() <= max_len,
            "{} tokens > max_len {}",
            tokens.len(),
            max_len
        );
        for token in &tokens {
            assert!(!token.is_empty(), "empty token");
            assert!(
                !token.chars().any(char::is_whitespace),
                "whitespace in token {token:?}"
            );
        }
    }
});
