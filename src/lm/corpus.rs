//! An unlabeled corpus as one token stream: every text's tokens, then the end-of-text token
//! [`EOS`], text after text, counted and stored in one pass ([`CorpusBuilder`]) so that the
//! text is tokenized once and never held in memory. The vocabulary is built from the counts
//! when the pass ends; the stream keeps each token's counting index and maps it to its
//! vocabulary id as chunks are read.

use super::store::IdStore;
use super::stream::Source;
use crate::error::Result;
use crate::text::{TokenCounts, Tokenizer, Vocab, UNK_ID};

/// The end-of-text token between texts of the stream. The tokenizer never produces it (it
/// splits `<`, `/` and `>` off or drops them), so it cannot collide with a word.
pub const EOS: &str = "</s>";

/// Counts and stores a corpus text by text.
#[derive(Debug)]
pub struct CorpusBuilder {
    tokenizer: Tokenizer,
    counts: TokenCounts,
    store: IdStore,
    texts: u64,
}

impl CorpusBuilder {
    /// A builder that keeps up to `memory_ids` stream positions in memory (see [`IdStore`]).
    pub fn new(tokenizer: Tokenizer, memory_ids: usize) -> Self {
        Self {
            tokenizer,
            counts: TokenCounts::default(),
            store: IdStore::new(memory_ids),
            texts: 0,
        }
    }

    /// Adds a text: its tokens (all of them: `max_len` is the classifier's), then [`EOS`].
    pub fn add(&mut self, text: &str) -> Result<()> {
        let tokens = self.tokenizer.tokens(text);
        for index in self
            .counts
            .add(tokens.iter().map(String::as_str).chain([EOS]))
        {
            self.store.push(index)?;
        }
        self.texts += 1;
        Ok(())
    }

    /// Texts added so far.
    pub fn texts(&self) -> u64 {
        self.texts
    }

    /// Stream positions so far (tokens and one [`EOS`] per text).
    pub fn positions(&self) -> u64 {
        self.store.len()
    }

    /// Ends the pass: the vocabulary of tokens seen at least `min_count` times, at most
    /// `max_vocab` entries with `<pad>` and `<unk>`.
    pub fn finish(mut self, min_count: usize, max_vocab: usize) -> Result<Corpus> {
        self.store.finish()?;
        let (vocab, ids) = Vocab::from_counts(&self.counts, min_count, max_vocab);
        let mut counts = vec![0u64; vocab.len()];
        for (k, &id) in ids.iter().enumerate() {
            counts[id as usize] += self.counts.count(k) as u64;
        }
        Ok(Corpus {
            vocab,
            store: self.store,
            ids,
            counts,
            texts: self.texts,
            tokenizer: self.tokenizer,
        })
    }
}

/// A counted, stored corpus.
#[derive(Debug)]
pub struct Corpus {
    pub vocab: Vocab,
    pub tokenizer: Tokenizer,
    store: IdStore,
    /// Counting index -> vocabulary id.
    ids: Vec<u32>,
    /// Stream positions of each vocabulary id (`<unk>` gathers every token left out).
    pub counts: Vec<u64>,
    pub texts: u64,
}

impl Corpus {
    /// Stream positions.
    pub fn positions(&self) -> u64 {
        self.store.len()
    }

    /// Whether the stream lives in a temporary file.
    pub fn spilled(&self) -> bool {
        self.store.spilled()
    }

    /// The training part and the held-out part: the last `valid_fraction` of the stream's
    /// positions is validation.
    pub fn split(&self, valid_fraction: f64) -> (Part<'_>, Part<'_>) {
        let n = self.positions();
        let valid = ((n as f64) * valid_fraction).floor() as u64;
        (
            Part {
                corpus: self,
                start: 0,
                len: n - valid,
            },
            Part {
                corpus: self,
                start: n - valid,
                len: valid,
            },
        )
    }
}

/// A contiguous range of a corpus's stream, read as vocabulary ids.
#[derive(Clone, Copy, Debug)]
pub struct Part<'a> {
    corpus: &'a Corpus,
    start: u64,
    len: u64,
}

impl Source for Part<'_> {
    fn len(&self) -> u64 {
        self.len
    }

    fn read(&self, start: u64, len: usize) -> Result<Vec<u32>> {
        let indices = self.corpus.store.read(self.start + start, len)?;
        Ok(indices
            .iter()
            .map(|&k| self.corpus.ids.get(k as usize).copied().unwrap_or(UNK_ID))
            .collect())
    }
}
