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
        let mut counts = TokenCounts::default();
        for text in texts {
            counts.add(text);
        }
        Self::from_counts(&counts, min_count, max_size).0
    }

    /// Builds the vocabulary from counted tokens; also returns each counted token's id (by
    /// its index in `counts`), [`UNK_ID`] for those left out. Read it with
    /// `ids.get(k).copied().unwrap_or(UNK_ID)`, which also covers [`UNCOUNTED`].
    pub fn from_counts(
        counts: &TokenCounts,
        min_count: usize,
        max_size: usize,
    ) -> (Self, Vec<u32>) {
        let mut ranked: Vec<usize> = (0..counts.types.len())
            .filter(|&k| {
                let token = counts.types[k].as_str();
                counts.counts[k] >= min_count && token != PAD && token != UNK
            })
            .collect();
        ranked.sort_unstable_by(|&a, &b| {
            let by_count = counts.counts[b].cmp(&counts.counts[a]);
            by_count.then_with(|| counts.types[a].cmp(&counts.types[b]))
        });
        ranked.truncate(max_size.saturating_sub(2));
        let mut ids = vec![UNK_ID; counts.types.len()];
        for (rank, &k) in ranked.iter().enumerate() {
            // Ids 0 and 1 are <pad> and <unk>; from_tokens checks the total fits u32.
            ids[k] = (rank + 2) as u32;
        }
        let tokens = [PAD, UNK]
            .into_iter()
            .chain(ranked.iter().map(|&k| counts.types[k].as_str()))
            .map(str::to_string)
            .collect();
        let vocab = Self::from_tokens(tokens).expect("built vocabulary is well formed");
        (vocab, ids)
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

/// The index [`TokenCounts::add`] gives a new token once u32 cannot number any more distinct
/// tokens (far beyond the vocabulary's limit of 5,000,000): not counted, and mapped to
/// [`UNK_ID`] by [`Vocab::from_counts`]'s table, which it lies outside of.
pub const UNCOUNTED: u32 = u32::MAX;

/// How often each distinct token occurs in a corpus, each stored once and known by its index
/// (in order of first appearance).
///
/// Training counts its texts through this and keeps them as indices, mapped to vocabulary ids
/// afterwards ([`Vocab::from_counts`]), instead of keeping every token as a `String` until the
/// vocabulary exists: IMDB's 25,000 reviews are 5.8 million tokens, several hundred MB as
/// strings and 23 MB as indices.
#[derive(Clone, Debug, Default)]
pub struct TokenCounts {
    types: Vec<String>,
    counts: Vec<usize>,
    index: HashMap<String, u32>,
}

impl TokenCounts {
    /// Counts a text's tokens; returns their indices.
    pub fn add<S: AsRef<str>>(&mut self, tokens: impl IntoIterator<Item = S>) -> Vec<u32> {
        tokens
            .into_iter()
            .map(|token| {
                let token = token.as_ref();
                let k = match self.index.get(token) {
                    Some(&k) => k,
                    None => match u32::try_from(self.types.len()) {
                        Ok(k) if k < UNCOUNTED => {
                            self.index.insert(token.to_string(), k);
                            self.types.push(token.to_string());
                            self.counts.push(0);
                            k
                        }
                        _ => return UNCOUNTED,
                    },
                };
                self.counts[k as usize] += 1;
                k
            })
            .collect()
    }

    /// Distinct tokens counted.
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// How often the token of index `k` was seen.
    pub fn count(&self, k: usize) -> usize {
        self.counts[k]
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
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
    fn counted_texts_map_to_the_ids_encode_gives() {
        let t = texts(&["b a c", "a b", "a d <unk>", "c e"]);
        let mut counts = TokenCounts::default();
        let indices: Vec<Vec<u32>> = t.iter().map(|text| counts.add(text)).collect();
        assert_eq!(counts.len(), 6);
        for (min_count, max_size) in [(1, 100), (2, 100), (1, 4)] {
            let (vocab, ids) = Vocab::from_counts(&counts, min_count, max_size);
            assert_eq!(vocab, Vocab::build(&t, min_count, max_size));
            for (text, idx) in t.iter().zip(&indices) {
                let mapped: Vec<u32> = idx.iter().map(|&k| ids[k as usize]).collect();
                assert_eq!(mapped, vocab.encode(text), "{min_count} {max_size}");
            }
        }
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
