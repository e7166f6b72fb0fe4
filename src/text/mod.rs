//! The text pipeline: normalize -> split into tokens -> map to ids.
//!
//! It is saved inside the model file and runs identically in train, eval, predict and
//! tokenize. This module knows nothing of the model.

mod tokenizer;
mod vocab;

pub use tokenizer::{Tokenizer, TokenizerConfig, Truncation};
pub use vocab::{TokenCounts, Vocab, PAD, PAD_ID, UNCOUNTED, UNK, UNK_ID};
