//! The vocabulary: token <-> id.
//!
//! Ids: 0 = `<pad>`, 1 = `<unk>`, then tokens by training-set count descending, ties broken by
//! the token's bytes ascending, so the order never depends on hash or file order. `max_size`
//! counts `<pad>` and `<unk>`: a vocabulary of size N has N embedding rows.

use std::collections::HashMap;

/// The padding token (id 0); never produced by the tokenizer.
pub const PAD: &str = "<pad>";
/// The unknown-word token (id 1).
pub const UNK: &str = "<unk>";
pub const PAD_ID: u32 = 0;
pub const UNK_ID: u32 = 1;

/// A token <-> id mapping.
#[derive(Clone, Debug, PartialEq)]
pub struct Vocab {
    tokens: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Vocab {
    /// Builds the vocabulary from tokenized training texts.
    pub fn build<'a, I, T>(texts: I, min_count: usize, max_size: usize) -> Self
    where
        I: IntoIterator<Item = T>,
        T: IntoIterator<Item = &'a String>,
    {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for text in texts {
            for token in text {
                *counts.entry(token.as_str()).or_insert(0) += 1;
            }
        }
        let mut ranked: Vec<(&str, usize)> = counts
            .into_iter()
            .filter(|&(token, count)| count >= min_count && token != PAD && token != UNK)
            .collect();
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        ranked.truncate(max_size.saturating_sub(2));
        let tokens = [PAD, UNK]
            .into_iter()
            .chain(ranked.into_iter().map(|(token, _)| token))
            .map(str::to_string)
            .collect();
        Self::from_tokens(tokens).expect("built vocabulary is well formed")
    }

    /// Rebuilds a vocabulary from its id-ordered token list (as stored in a model file).
    /// Errors say what is wrong: a missing `<pad>`/`<unk>` or a duplicate token.
    pub fn from_tokens(tokens: Vec<String>) -> Result<Self, String> {
        if tokens.first().map(String::as_str) != Some(PAD) {
            return Err(format!("vocab[0] must be \"{PAD}\""));
        }
        if tokens.get(1).map(String::as_str) != Some(UNK) {
            return Err(format!("vocab[1] must be \"{UNK}\""));
        }
        let mut ids = HashMap::with_capacity(tokens.len());
        for (id, token) in tokens.iter().enumerate() {
            let id = u32::try_from(id).map_err(|_| "vocabulary too large".to_string())?;
            if ids.insert(token.clone(), id).is_some() {
                return Err(format!("token {token:?} appears twice (second at id {id})"));
            }
        }
        Ok(Self { tokens, ids })
    }

    /// Number of entries, counting `<pad>` and `<unk>`.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Never true: `<pad>` and `<unk>` are always present.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The id of a token, [`UNK_ID`] when unknown.
    pub fn id(&self, token: &str) -> u32 {
        self.ids.get(token).copied().unwrap_or(UNK_ID)
    }

    /// Ids of a token list.
    pub fn encode<S: AsRef<str>>(&self, tokens: &[S]) -> Vec<u32> {
        tokens.iter().map(|t| self.id(t.as_ref())).collect()
    }

    /// Tokens in id order.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(words: &[&str]) -> Vec<Vec<String>> {
        words
            .iter()
            .map(|t| t.split(' ').map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn order_is_count_then_token() {
        let v = Vocab::build(&texts(&["b a c", "a b", "a d"]), 1, 100);
        assert_eq!(v.tokens(), ["<pad>", "<unk>", "a", "b", "c", "d"]);
        assert_eq!(v.id("a"), 2);
        assert_eq!(v.id("zzz"), UNK_ID);
        assert_eq!(v.encode(&["d", "q"]), [5, 1]);
    }

    #[test]
    fn min_count_and_max_size_include_specials() {
        let t = texts(&["b a c", "a b", "a d"]);
        let v = Vocab::build(&t, 2, 100);
        assert_eq!(v.tokens(), ["<pad>", "<unk>", "a", "b"]);
        let v = Vocab::build(&t, 1, 3);
        assert_eq!(v.len(), 3);
        assert_eq!(v.tokens(), ["<pad>", "<unk>", "a"]);
    }

    #[test]
    fn bad_token_lists_are_refused() {
        let s = |v: &[&str]| v.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        assert!(Vocab::from_tokens(s(&["<unk>", "<pad>"])).is_err());
        assert!(Vocab::from_tokens(s(&["<pad>", "<unk>", "a", "a"]))
            .unwrap_err()
            .contains("twice"));
        assert!(Vocab::from_tokens(s(&["<pad>", "<unk>", "a"])).is_ok());
    }
}
