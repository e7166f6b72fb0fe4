//! Pretrained word vectors: reading the text format shared by word2vec (text mode), GloVe and
//! fastText `.vec` files, and matching its words against a [`Vocab`].
//!
//! The format, as read here:
//! - each line is a word, then its values, separated by spaces or tabs (runs of them and
//!   trailing ones are fine); lines end in `\n` or `\r\n`; a UTF-8 byte-order mark is skipped;
//! - the first non-blank line may be a header `COUNT DIM` (exactly two integers), as word2vec
//!   and fastText write; GloVe files have none. DIM must match the rows; COUNT is only reported
//!   ([`Pretrained::header_count`]). So a headerless 1-dimensional file cannot start with an
//!   integer word such as `3 5`: that line reads as a header;
//! - every vector line has the same number of values: the header's DIM, or else the first
//!   vector line's count;
//! - a line with more fields than a word and DIM values, whose extra leading fields are not
//!   numbers, is a word containing spaces (GloVe's 840B file has `. . .` and
//!   `at name@domain.com`): its last DIM fields are the values, the rest is the word;
//! - blank lines are skipped; when a word appears twice, the first line wins.
//!
//! Files reach several GB, so lines are read one at a time and only the vectors of vocabulary
//! words are kept (memory is O(V * E), not O(file)). For the same reason the values of a word
//! that is not kept are counted but not parsed: a damaged number in a line nothing uses cannot
//! hurt the model, and parsing every value makes loading about three times slower (a 430 MB,
//! 300-dimensional file: 0.8 s when nothing matches, 2.3 s when every word does).
//! Every vector that *is* kept is checked to be finite.
//!
//! Matching: a file word fills the vocabulary entry spelled exactly like it. With
//! [`EmbeddingsOptions::lowercase`] (set it when the tokenizer lowercases), it also fills the
//! entry for its lowercased form, unless that entry already has a vector; an exact match (a
//! word already lowercase) replaces a lowercased one whatever the file order, because `apple`'s
//! own vector fits the token `apple` better than `Apple`'s. `<pad>` and `<unk>` (ids 0 and 1)
//! are never matched: they keep the model's own initialisation.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::kernels::float::Float;
use crate::text::{Vocab, PAD_ID, UNK_ID};

/// Bytes one line may hold. A 300-value line is about 3 KB; the limit only stops a binary or
/// newline-free file from being read into memory whole.
const MAX_LINE_BYTES: usize = 16 << 20;

/// The UTF-8 byte-order mark some editors put at the start of a file.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How file words are matched to vocabulary tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmbeddingsOptions {
    /// Also match a file word by its lowercased form (exact-case matches take precedence).
    /// Set it when the tokenizer lowercases, since `The` in a cased file is then the token `the`.
    pub lowercase: bool,
    /// Vocabulary ids below this are never matched (`train --init --embeddings`: the rows a
    /// base model gives, which win over the vectors). 0 matches every word.
    pub first_id: u32,
}

/// The vectors of a file that matched a vocabulary, with the numbers a user wants to see.
#[derive(Clone, Debug, PartialEq)]
pub struct Pretrained {
    /// The file the vectors came from (named in errors).
    pub path: PathBuf,
    /// Values per word (E).
    pub dim: usize,
    /// `(vocab id, vector of dim values)` for every vocabulary entry that got a vector, sorted
    /// by id. Ids 0 (`<pad>`) and 1 (`<unk>`) never appear.
    pub vectors: Vec<(u32, Vec<f32>)>,
    /// Vector lines in the file, kept or not, duplicates included.
    pub file_words: usize,
    /// Vocabulary entries that got a vector (`vectors.len()`).
    pub matched_ids: usize,
    /// How many of `matched_ids` got their vector from a differently cased word (only with
    /// [`EmbeddingsOptions::lowercase`]).
    pub lowercased_ids: usize,
    /// COUNT from the header line, if the file has one. Informational: it is not checked
    /// against `file_words`.
    pub header_count: Option<u64>,
    /// Entries of the vocabulary the file was matched against, counting `<pad>` and `<unk>`
    /// (V); [`Pretrained::apply`] expects a table of this many rows.
    pub vocab_size: usize,
    /// [`EmbeddingsOptions::first_id`]: ids below it were not open to the vectors.
    pub first_id: u32,
}

/// Reads the vectors in `path` for the words of `vocab`. See the module documentation for the
/// format and the matching rules.
///
/// # Errors
/// [`Error::Io`] when the file cannot be opened or read, and those of [`load_from`].
pub fn load(path: &Path, vocab: &Vocab, options: &EmbeddingsOptions) -> Result<Pretrained> {
    let file = File::open(path).map_err(|e| Error::io("cannot open word vectors", path, e))?;
    // A large buffer: these files are read start to end and can be several GB.
    load_from(
        BufReader::with_capacity(1 << 20, file),
        path,
        vocab,
        options,
    )
}

/// The dimension of a vectors file, read from its header or its first vector line, for
/// `train --embeddings` without `--embed-dim`. The full read ([`load`]) checks every line.
pub fn peek_dim(path: &Path) -> Result<usize> {
    let file = File::open(path).map_err(|e| Error::io("cannot open word vectors", path, e))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let (mut buffer, mut spans, mut line) = (Vec::new(), Vec::new(), 0u64);
    while let Some(text) = read_line(&mut reader, &mut buffer, &mut line, path)? {
        split_fields(text, &mut spans);
        if spans.is_empty() {
            continue;
        }
        if let Some((_, dim)) = parse_header(text, &spans, line, path)? {
            return Ok(dim);
        }
        if spans.len() < 2 {
            return Err(line_error(
                path,
                line,
                "a word without values; each line must be a word followed by its numbers".into(),
            ));
        }
        return Ok(spans.len() - 1);
    }
    Err(Error::DataFile {
        path: path.to_path_buf(),
        message: "no word vectors in the file".into(),
    })
}

/// [`load`] from any reader; `path` names the source in messages.
///
/// # Errors
/// [`Error::Io`] when reading fails; [`Error::DataLine`] naming the 1-based line for invalid
/// UTF-8, a wrong number of values, a value that is not a finite number, a dimension of 0 or an
/// overlong line; [`Error::DataFile`] for a file with no word vectors.
///
/// Longer than the 100-line guide, on purpose: one streaming pass that reads the optional
/// header, each vector line and the lowercase fallback, with the error for each case beside
/// the check that finds it.
pub fn load_from<R: BufRead>(
    mut reader: R,
    path: &Path,
    vocab: &Vocab,
    options: &EmbeddingsOptions,
) -> Result<Pretrained> {
    let mut matches = Matches::new(vocab, options);
    let mut buffer: Vec<u8> = Vec::new();
    // Byte ranges of the fields of the current line, reused across lines.
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut line: u64 = 0;
    let mut seen_content = false;
    // The values per line every vector line must have, once the header or first line says.
    let mut known_dim: Option<(usize, DimOrigin)> = None;
    let mut header_count = None;
    let mut file_words = 0usize;

    while let Some(text) = read_line(&mut reader, &mut buffer, &mut line, path)? {
        split_fields(text, &mut spans);
        let field = |i: usize| &text[spans[i].0..spans[i].1];
        if spans.is_empty() {
            continue;
        }

        if !seen_content {
            seen_content = true;
            if let Some((count, header_dim)) = parse_header(text, &spans, line, path)? {
                header_count = Some(count);
                known_dim = Some((header_dim, DimOrigin::Header(line)));
                continue;
            }
        }

        file_words += 1;
        let found = spans.len() - 1;
        let (dim, origin) = match known_dim {
            Some(known) => known,
            None if found == 0 => {
                return Err(line_error(
                    path,
                    line,
                    format!(
                        "the word {:?} has no values, so the dimension would be 0; each line \
                         must be a word followed by its numbers",
                        field(0)
                    ),
                ));
            }
            None => *known_dim.insert((found, DimOrigin::FirstVector(line))),
        };

        // The word is the first field, or, for a GloVe word containing spaces, everything
        // before the last `dim` fields when none of those extra fields is a number (a number
        // there means the line simply has too many values).
        let first_value = if found == dim {
            1
        } else if found > dim
            && spans[1..spans.len() - dim]
                .iter()
                .all(|&(start, end)| text[start..end].parse::<f64>().is_err())
        {
            spans.len() - dim
        } else {
            return Err(line_error(
                path,
                line,
                format!(
                    "expected {dim} values after the word {:?}, found {found}; {}; every line \
                     must hold a word and the same number of values (is the file truncated or \
                     a mix of files?)",
                    field(0),
                    origin.describe()
                ),
            ));
        };
        let word = text[..spans[first_value].0].trim_matches([' ', '\t']);

        let targets = matches.targets(word);
        if targets.is_empty() {
            continue;
        }
        let values = parse_values(text, &spans[first_value..], word, line, path)?;
        matches.store(targets, values);
    }

    let dim = match known_dim {
        Some((dim, _)) if file_words > 0 => dim,
        Some((dim, _)) => {
            return Err(Error::DataFile {
                path: path.to_path_buf(),
                message: format!(
                    "the header announces {} words of dimension {dim} but no word vectors \
                     follow; the file may be truncated",
                    header_count.unwrap_or(0)
                ),
            });
        }
        None => {
            return Err(Error::DataFile {
                path: path.to_path_buf(),
                message: "the file is empty; expected word vectors, one word per line \
                          followed by its values"
                    .to_string(),
            });
        }
    };

    let (vectors, lowercased_ids) = matches.into_vectors();
    Ok(Pretrained {
        path: path.to_path_buf(),
        dim,
        matched_ids: vectors.len(),
        vectors,
        file_words,
        lowercased_ids,
        header_count,
        vocab_size: vocab.len(),
        first_id: options.first_id,
    })
}

impl Pretrained {
    /// Fraction of the vocabulary's words open to vectors (all entries but `<pad>`, `<unk>`
    /// and those below [`EmbeddingsOptions::first_id`]) that got one; 0 when there are none.
    /// The vocabulary is the one given to [`load`].
    pub fn type_coverage(&self) -> f64 {
        let closed = (self.first_id as usize).max(2);
        let words = self.vocab_size.saturating_sub(closed);
        if words == 0 {
            return 0.0;
        }
        self.matched_ids as f64 / words as f64
    }

    /// Fraction of the given token occurrences (ids, e.g. the encoded training set) whose id got
    /// a vector. `<pad>` ids are not occurrences and are not counted; `<unk>` ids count as
    /// misses. 0 when there are no tokens.
    pub fn token_coverage<'a>(&self, ids: impl IntoIterator<Item = &'a u32>) -> f64 {
        let mut has_vector = vec![false; self.vocab_size];
        for &(id, _) in &self.vectors {
            if let Some(flag) = has_vector.get_mut(id as usize) {
                *flag = true;
            }
        }
        let (mut total, mut covered) = (0u64, 0u64);
        for &id in ids {
            if id == PAD_ID {
                continue;
            }
            total += 1;
            covered += u64::from(has_vector.get(id as usize).copied().unwrap_or(false));
        }
        if total == 0 {
            return 0.0;
        }
        covered as f64 / total as f64
    }

    /// Writes the vectors into a row-major (V, E) embedding table, `table[id * E..][..E]` for
    /// each matched id; rows of words without a vector (and `<pad>`, `<unk>`) are left as they
    /// are. Returns the number of rows written.
    ///
    /// # Errors
    /// Leaves the table untouched and returns [`Error::InvalidOption`] (`embed-dim`) when
    /// `embed_dim` is not the file's dimension, or [`Error::DataFile`] when the table does not
    /// have one row per entry of the vocabulary the vectors were matched with.
    pub fn apply<F: Float>(&self, table: &mut [F], embed_dim: usize) -> Result<usize> {
        if embed_dim != self.dim {
            return Err(Error::option(
                "embed-dim",
                format!(
                    "{embed_dim} does not match the {} values per word in {}; set --embed-dim \
                     {} (embed_dim in a config file) to use these vectors",
                    self.dim,
                    self.path.display(),
                    self.dim
                ),
            ));
        }
        if self.vocab_size.checked_mul(embed_dim) != Some(table.len()) {
            return Err(Error::DataFile {
                path: self.path.clone(),
                message: format!(
                    "the vectors were matched against a vocabulary of {} entries, but the \
                     embedding table holds {} values, not {} x {embed_dim}; load the vectors \
                     with the model's vocabulary",
                    self.vocab_size,
                    table.len(),
                    self.vocab_size
                ),
            });
        }
        for (id, vector) in &self.vectors {
            debug_assert_eq!(vector.len(), embed_dim);
            let start = *id as usize * embed_dim;
            for (cell, &value) in table[start..start + embed_dim].iter_mut().zip(vector) {
                *cell = F::of(f64::from(value));
            }
        }
        Ok(self.vectors.len())
    }
}

/// Where the dimension every line must match came from, for error messages.
#[derive(Clone, Copy, Debug)]
enum DimOrigin {
    Header(u64),
    FirstVector(u64),
}

impl DimOrigin {
    fn describe(self) -> String {
        match self {
            DimOrigin::Header(line) => format!("the header on line {line} sets the dimension"),
            DimOrigin::FirstVector(line) => {
                format!("the first vector, on line {line}, set the dimension")
            }
        }
    }
}

/// Fills `spans` with the byte ranges of the fields of `text`, separated by runs of spaces and
/// tabs. Only these two: other whitespace (U+00A0, ...) can be part of a fastText word.
fn split_fields(text: &str, spans: &mut Vec<(usize, usize)>) {
    spans.clear();
    let mut start = None;
    for (i, byte) in text.bytes().enumerate() {
        let separator = byte == b' ' || byte == b'\t';
        match (start, separator) {
            (None, false) => start = Some(i),
            (Some(s), true) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
}

/// `word` lowercased as the tokenizer does (Unicode), or `None` when that changes nothing.
fn lowercase_variant(word: &str) -> Option<String> {
    // Skip the allocation for the common all-lowercase ASCII word.
    if word.is_ascii() && !word.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let lower = word.to_lowercase();
    (lower != word).then_some(lower)
}

fn line_error(path: &Path, line: u64, message: String) -> Error {
    Error::DataLine {
        path: path.to_path_buf(),
        line,
        message,
    }
}

/// Reads the next line into `buffer` and returns it without its terminator (`\n` or `\r\n`),
/// or `None` at the end of the input. Counts lines in `line`; skips a byte-order mark on
/// line 1.
fn read_line<'b, R: BufRead>(
    reader: &mut R,
    buffer: &'b mut Vec<u8>,
    line: &mut u64,
    path: &Path,
) -> Result<Option<&'b str>> {
    buffer.clear();
    let read = reader
        .take(MAX_LINE_BYTES as u64 + 1)
        .read_until(b'\n', buffer)
        .map_err(|e| Error::io("cannot read word vectors from", path, e))?;
    if read == 0 {
        return Ok(None);
    }
    *line += 1;
    if buffer.last() == Some(&b'\n') {
        buffer.pop();
        if buffer.last() == Some(&b'\r') {
            buffer.pop();
        }
    } else if buffer.len() > MAX_LINE_BYTES {
        return Err(line_error(
            path,
            *line,
            format!(
                "the line is longer than {} MiB; this is not a text word-vector file \
                 (word2vec text, GloVe or fastText .vec)",
                MAX_LINE_BYTES >> 20
            ),
        ));
    }
    let skipped = if *line == 1 && buffer.starts_with(BOM) {
        BOM.len()
    } else {
        0
    };
    match std::str::from_utf8(&buffer[skipped..]) {
        Ok(text) => Ok(Some(text)),
        Err(e) => Err(line_error(
            path,
            *line,
            format!(
                "not valid UTF-8 (bad byte at offset {}); a word-vector file must be text: \
                 convert a binary word2vec .bin file to text format first",
                skipped + e.valid_up_to()
            ),
        )),
    }
}

/// `Some((COUNT, DIM))` when the line is a `COUNT DIM` header: exactly two integers.
fn parse_header(
    text: &str,
    spans: &[(usize, usize)],
    line: u64,
    path: &Path,
) -> Result<Option<(u64, usize)>> {
    let [(count_start, count_end), (dim_start, dim_end)] = *spans else {
        return Ok(None);
    };
    let (Ok(count), Ok(dim)) = (
        text[count_start..count_end].parse::<u64>(),
        text[dim_start..dim_end].parse::<usize>(),
    ) else {
        return Ok(None);
    };
    if dim == 0 {
        return Err(line_error(
            path,
            line,
            format!(
                "the header {text:?} gives dimension 0; a header is \"COUNT DIM\" with DIM the \
                 number of values per word"
            ),
        ));
    }
    Ok(Some((count, dim)))
}

/// Parses the value fields of `word`'s line; each must be a finite `f32`.
fn parse_values(
    text: &str,
    spans: &[(usize, usize)],
    word: &str,
    line: u64,
    path: &Path,
) -> Result<Vec<f32>> {
    let mut values = Vec::with_capacity(spans.len());
    for (k, &(start, end)) in spans.iter().enumerate() {
        let raw = &text[start..end];
        match raw.parse::<f32>() {
            Ok(value) if value.is_finite() => values.push(value),
            _ => {
                return Err(line_error(
                    path,
                    line,
                    format!(
                        "value {} of the word {word:?} is {raw:?}, not a finite number; every \
                         value must be a decimal number such as -0.0123 that fits in 32 bits",
                        k + 1
                    ),
                ));
            }
        }
    }
    Ok(values)
}

/// A vector found for one vocabulary id, and whether it came from an exact-case match (which
/// later lines may not replace) or a lowercased one (which an exact match replaces).
#[derive(Clone, Debug)]
struct Slot {
    exact: bool,
    values: Vec<f32>,
}

/// The vocabulary ids a file word should fill: its exact spelling and its lowercased form.
#[derive(Clone, Copy, Debug, Default)]
struct Targets {
    exact: Option<usize>,
    lowercased: Option<usize>,
}

impl Targets {
    fn is_empty(self) -> bool {
        self.exact.is_none() && self.lowercased.is_none()
    }
}

/// The vectors found so far, one slot per vocabulary id, so they come out sorted by id.
struct Matches<'v> {
    vocab: &'v Vocab,
    lowercase: bool,
    first_id: u32,
    slots: Vec<Option<Slot>>,
}

impl<'v> Matches<'v> {
    fn new(vocab: &'v Vocab, options: &EmbeddingsOptions) -> Self {
        Self {
            vocab,
            lowercase: options.lowercase,
            first_id: options.first_id,
            slots: vec![None; vocab.len()],
        }
    }

    /// Which slots `word` may fill under the precedence rules: an exact match fills an empty
    /// slot or replaces a lowercased one; a lowercased match only fills an empty slot.
    fn targets(&self, word: &str) -> Targets {
        let exact = self
            .matchable(word)
            .filter(|&id| self.slots[id].as_ref().is_none_or(|slot| !slot.exact));
        let lowercased = if self.lowercase {
            lowercase_variant(word)
                .and_then(|lower| self.matchable(&lower))
                .filter(|&id| self.slots[id].is_none())
        } else {
            None
        };
        Targets { exact, lowercased }
    }

    fn store(&mut self, targets: Targets, values: Vec<f32>) {
        if let Some(id) = targets.lowercased {
            self.slots[id] = Some(Slot {
                exact: false,
                values: values.clone(),
            });
        }
        if let Some(id) = targets.exact {
            self.slots[id] = Some(Slot {
                exact: true,
                values,
            });
        }
    }

    /// The vocabulary index of `word` if it is in the vocabulary and may get a vector (not
    /// `<pad>`, not `<unk>`).
    fn matchable(&self, word: &str) -> Option<usize> {
        // `Vocab::id` answers UNK_ID for unknown words, so "> UNK_ID" rules out unknown words,
        // `<unk>` itself and `<pad>` (id 0) at once.
        let id = self.vocab.id(word);
        (id > UNK_ID && id >= self.first_id).then_some(id as usize)
    }

    /// `(id, vector)` sorted by id, and how many came from lowercased matches.
    fn into_vectors(self) -> (Vec<(u32, Vec<f32>)>, usize) {
        let mut lowercased = 0;
        let vectors = self
            .slots
            .into_iter()
            .enumerate()
            .filter_map(|(id, slot)| {
                let slot = slot?;
                lowercased += usize::from(!slot.exact);
                // Ids came from the vocabulary, which keeps them within u32.
                Some((u32::try_from(id).ok()?, slot.values))
            })
            .collect();
        (vectors, lowercased)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(words: &[&str]) -> Vocab {
        let tokens = ["<pad>", "<unk>"]
            .iter()
            .chain(words)
            .map(|t| t.to_string())
            .collect();
        Vocab::from_tokens(tokens).unwrap()
    }

    fn read(bytes: &[u8], vocab: &Vocab, lowercase: bool) -> Result<Pretrained> {
        load_from(
            bytes,
            Path::new("vectors.txt"),
            vocab,
            &EmbeddingsOptions {
                lowercase,
                first_id: 0,
            },
        )
    }

    /// The vectors as (token, values) pairs, in id order.
    fn by_token(p: &Pretrained, vocab: &Vocab) -> Vec<(String, Vec<f32>)> {
        p.vectors
            .iter()
            .map(|(id, v)| (vocab.tokens()[*id as usize].clone(), v.clone()))
            .collect()
    }

    fn pairs(expected: &[(&str, &[f32])]) -> Vec<(String, Vec<f32>)> {
        expected
            .iter()
            .map(|(t, v)| (t.to_string(), v.to_vec()))
            .collect()
    }

    /// Asserts a per-line error on `line` whose message contains every fragment.
    fn assert_line_error(result: Result<Pretrained>, line: u64, fragments: &[&str]) {
        match result {
            Err(Error::DataLine {
                path,
                line: got,
                message,
            }) => {
                assert_eq!(path, Path::new("vectors.txt"));
                assert_eq!(got, line, "wrong line in {message:?}");
                for fragment in fragments {
                    assert!(message.contains(fragment), "{message:?} lacks {fragment:?}");
                }
            }
            other => panic!("expected an error on line {line}, got {other:?}"),
        }
    }

    fn assert_file_error(result: Result<Pretrained>, fragments: &[&str]) {
        match result {
            Err(Error::DataFile { path, message }) => {
                assert_eq!(path, Path::new("vectors.txt"));
                for fragment in fragments {
                    assert!(message.contains(fragment), "{message:?} lacks {fragment:?}");
                }
            }
            other => panic!("expected a whole-file error, got {other:?}"),
        }
    }

    #[test]
    fn reads_a_file_with_a_header() {
        let v = vocab(&["the", "good", "bad"]);
        let p = read(b"3 2\nthe 0.5 -1.25\nzzz 3 4\ngood 1e-2 2\n", &v, false).unwrap();
        assert_eq!(p.dim, 2);
        assert_eq!(p.header_count, Some(3));
        assert_eq!(p.file_words, 3);
        assert_eq!(p.matched_ids, 2);
        assert_eq!(p.lowercased_ids, 0);
        assert_eq!(p.vocab_size, 5);
        assert_eq!(p.path, Path::new("vectors.txt"));
        assert_eq!(p.vectors, [(2, vec![0.5, -1.25]), (3, vec![0.01, 2.0])]);
    }

    #[test]
    fn reads_a_glove_file_without_a_header() {
        let v = vocab(&["the", "good", "bad"]);
        let p = read(b"good 1 2 3\nthe 4 5 6\n", &v, false).unwrap();
        assert_eq!(p.dim, 3);
        assert_eq!(p.header_count, None);
        assert_eq!(p.file_words, 2);
        // Sorted by id, not file order.
        assert_eq!(
            by_token(&p, &v),
            pairs(&[("the", &[4.0, 5.0, 6.0]), ("good", &[1.0, 2.0, 3.0])])
        );
    }

    #[test]
    fn tolerates_crlf_tabs_runs_of_spaces_blank_lines_and_a_bom() {
        let v = vocab(&["the", "good"]);
        let text = b"\xEF\xBB\xBF2 2\r\n\r\nthe\t0.5  1 \r\n   \n\ngood 2\t\t3\t\r\nbad 0 0";
        let p = read(text, &v, false).unwrap();
        assert_eq!(p.header_count, Some(2));
        assert_eq!(p.file_words, 3);
        assert_eq!(
            by_token(&p, &v),
            pairs(&[("the", &[0.5, 1.0]), ("good", &[2.0, 3.0])])
        );
        // A last line without a terminator is read too.
        let p = read(b"the 1 2\r\ngood 3 4", &v, false).unwrap();
        assert_eq!(p.matched_ids, 2);
    }

    #[test]
    fn first_occurrence_of_a_word_wins() {
        let v = vocab(&["the"]);
        let p = read(b"the 1 1\nthe 2 2\nthe 3 3\n", &v, false).unwrap();
        assert_eq!(p.file_words, 3);
        assert_eq!(p.vectors, [(2, vec![1.0, 1.0])]);
    }

    #[test]
    fn lowercase_matching_prefers_the_exact_case_whatever_the_order() {
        let v = vocab(&["apple", "paris", "été"]);
        let file = "Apple 1\nPARIS 3\napple 2\nParis 4\nApple 5\nÉTÉ 6\n".as_bytes();
        let p = read(file, &v, true).unwrap();
        // `apple` comes after `Apple` but is an exact match, so it wins; `paris` has no exact
        // line, so the first lowercased one (`PARIS`) wins; Unicode letters are lowercased too.
        assert_eq!(
            by_token(&p, &v),
            pairs(&[("apple", &[2.0]), ("paris", &[3.0]), ("été", &[6.0])])
        );
        assert_eq!(p.matched_ids, 3);
        assert_eq!(p.lowercased_ids, 2);
        // Exact first, then a cased variant: still the exact one.
        let p = read(b"apple 2\nApple 1\n", &v, true).unwrap();
        assert_eq!(p.vectors, [(2, vec![2.0])]);
        // Without the option, only exact spellings match.
        let p = read(file, &v, false).unwrap();
        assert_eq!(by_token(&p, &v), pairs(&[("apple", &[2.0])]));
        assert_eq!(p.lowercased_ids, 0);
    }

    #[test]
    fn a_cased_word_fills_its_own_entry_and_its_lowercase_one() {
        let v = vocab(&["Apple", "apple"]);
        let p = read(b"Apple 1\n", &v, true).unwrap();
        assert_eq!(p.vectors, [(2, vec![1.0]), (3, vec![1.0])]);
    }

    #[test]
    fn keeps_only_vocabulary_words_and_never_pad_or_unk() {
        let v = vocab(&["the", "good"]);
        let p = read(
            b"<pad> 9 9\n<unk> 8 8\n<PAD> 7 7\nthe 1 2\nfoo 3 4\nbar 5 6\n",
            &v,
            true,
        )
        .unwrap();
        assert_eq!(p.file_words, 6);
        assert_eq!(p.vectors, [(2, vec![1.0, 2.0])]);
        // A file with no vocabulary word at all is not an error: the caller reports 0 matched.
        let p = read(b"foo 1\nbar 2\n", &v, true).unwrap();
        assert!(p.vectors.is_empty());
        assert_eq!(p.matched_ids, 0);
    }

    #[test]
    fn coverage_counts_words_and_occurrences() {
        let v = vocab(&["the", "good", "bad", "meh"]);
        let p = read(b"the 1\ngood 2\nother 3\n", &v, false).unwrap();
        assert_eq!(p.type_coverage(), 0.5);
        // Pads (0) are not occurrences; unk (1) and "bad" (4) are misses: 3 of 5 covered.
        let ids: Vec<u32> = vec![2, 2, 3, 1, 4, 0, 0];
        assert_eq!(p.token_coverage(&ids), 0.6);
        let nested = [vec![2u32, 3], vec![5]];
        assert!((p.token_coverage(nested.iter().flatten()) - 2.0 / 3.0).abs() < 1e-12);
        // Ids outside the vocabulary are misses, not a panic.
        assert_eq!(p.token_coverage(&[2, 99]), 0.5);
        assert_eq!(p.token_coverage(&[]), 0.0);
        assert_eq!(p.token_coverage(&[0, 0]), 0.0);
        let only_specials = vocab(&[]);
        let p = read(b"the 1\n", &only_specials, false).unwrap();
        assert_eq!(p.type_coverage(), 0.0);
    }

    #[test]
    fn a_one_dimensional_file_works() {
        let v = vocab(&["the", "good"]);
        let p = read(b"the 0.5\ngood -1\n", &v, false).unwrap();
        assert_eq!(p.dim, 1);
        assert_eq!(p.vectors, [(2, vec![0.5]), (3, vec![-1.0])]);
        let p = read(b"2 1\nthe 0.5\ngood -1\n", &v, false).unwrap();
        assert_eq!((p.dim, p.header_count), (1, Some(2)));
        assert_eq!(p.matched_ids, 2);
    }

    #[test]
    fn a_glove_word_containing_spaces_is_read_whole() {
        // glove.840B.300d has lines such as ". . . 0.1 ..." and "at name@domain.com 0.1 ...".
        let v = vocab(&["the", ". . ."]);
        let p = read(b"the 1 2\n. . . 3 4\nat name@domain.com 5 6\n", &v, false).unwrap();
        assert_eq!(p.file_words, 3);
        assert_eq!(
            by_token(&p, &v),
            pairs(&[("the", &[1.0, 2.0]), (". . .", &[3.0, 4.0])])
        );
    }

    #[test]
    fn a_wrong_number_of_values_names_the_line_and_both_counts() {
        let v = vocab(&["the"]);
        assert_line_error(
            read(b"the 1 2 3\n\nfoo 1 2\n", &v, false),
            3,
            &[
                "expected 3 values",
                "found 2",
                "\"foo\"",
                "first vector, on line 1",
            ],
        );
        // Too many values (numbers, so not a word containing spaces).
        assert_line_error(
            read(b"the 1 2\nfoo 1 2 3\n", &v, false),
            2,
            &["expected 2 values", "found 3"],
        );
        // A word with no values once the dimension is known.
        assert_line_error(
            read(b"the 1 2\nfoo\n", &v, false),
            2,
            &["expected 2 values", "found 0"],
        );
        // The header's dimension is checked against the rows.
        assert_line_error(
            read(b"2 3\nthe 1 2\n", &v, false),
            2,
            &["expected 3 values", "found 2", "header on line 1"],
        );
    }

    #[test]
    fn a_value_that_is_not_a_finite_number_is_quoted() {
        let v = vocab(&["the", "good"]);
        for bad in ["abc", "nan", "inf", "-infinity", "1e39", "1,5"] {
            let file = format!("good 1 2\n\nthe 0.5 {bad}\n");
            assert_line_error(
                read(file.as_bytes(), &v, false),
                3,
                &[
                    &format!("{bad:?}"),
                    "value 2",
                    "\"the\"",
                    "not a finite number",
                ],
            );
        }
        // Also when the word is matched only through lowercasing.
        assert_line_error(read(b"The nan\n", &v, true), 1, &["\"nan\"", "\"The\""]);
    }

    #[test]
    fn values_of_words_not_kept_are_counted_but_not_parsed() {
        // A damaged number in a line no vocabulary word uses cannot reach the model, and
        // skipping the parse keeps large files fast; the count is still checked.
        let v = vocab(&["the"]);
        let p = read(b"the 1 2\nfoo nan x\n", &v, false).unwrap();
        assert_eq!(p.vectors, [(2, vec![1.0, 2.0])]);
        assert_eq!(p.file_words, 2);
    }

    #[test]
    fn invalid_utf8_names_the_line_and_offset() {
        let v = vocab(&["the"]);
        assert_line_error(
            read(b"the 1 2\nfo\xFFo 1 2\n", &v, false),
            2,
            &["not valid UTF-8", "offset 2", ".bin"],
        );
        // The offset counts a skipped byte-order mark.
        assert_line_error(
            read(b"\xEF\xBB\xBFthe\xC3 1\n", &v, false),
            1,
            &["offset 6"],
        );
    }

    #[test]
    fn an_empty_file_is_refused() {
        let v = vocab(&["the"]);
        assert_file_error(read(b"", &v, false), &["empty"]);
        assert_file_error(read(b"\n\r\n  \t\n", &v, false), &["empty"]);
        assert_file_error(
            read(b"10 300\n\n", &v, false),
            &["announces 10 words", "dimension 300", "no word vectors"],
        );
    }

    #[test]
    fn dimension_zero_is_refused() {
        let v = vocab(&["the"]);
        assert_line_error(
            read(b"\n5 0\nthe\n", &v, false),
            2,
            &["dimension 0", "\"5 0\""],
        );
        assert_line_error(
            read(b"\nthe \nfoo 1\n", &v, false),
            2,
            &["\"the\" has no values", "dimension would be 0"],
        );
    }

    #[test]
    fn an_overlong_line_is_refused_without_reading_it_whole() {
        let v = vocab(&["the"]);
        let mut file = b"the 1\n".to_vec();
        file.resize(file.len() + MAX_LINE_BYTES + 10, b'x');
        assert_line_error(read(&file, &v, false), 2, &["longer than 16 MiB"]);
    }

    #[test]
    fn apply_writes_matched_rows_only() {
        let v = vocab(&["the", "good", "bad"]);
        let p = read(b"bad 5 6\nthe 1 2\n", &v, false).unwrap();
        let mut table = vec![-1.0f32; 5 * 2];
        assert_eq!(p.apply(&mut table, 2).unwrap(), 2);
        assert_eq!(
            table,
            [-1.0, -1.0, -1.0, -1.0, 1.0, 2.0, -1.0, -1.0, 5.0, 6.0]
        );
        // The same values land in an f64 table exactly.
        let mut table = vec![0.0f64; 5 * 2];
        p.apply(&mut table, 2).unwrap();
        assert_eq!(&table[4..6], [1.0, 2.0]);
    }

    #[test]
    fn apply_refuses_a_wrong_dimension_or_table_size() {
        let v = vocab(&["the"]);
        let p = read(b"the 1 2\n", &v, false).unwrap();
        let mut table = vec![0.0f32; 3 * 3];
        let err = p.apply(&mut table, 3).unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidOption {
                name: "embed-dim",
                ..
            }
        ));
        let message = err.to_string();
        assert!(
            message.contains("3 does not match the 2 values per word"),
            "{message}"
        );
        assert!(message.contains("vectors.txt"), "{message}");
        assert!(table.iter().all(|&x| x == 0.0));

        // Right dimension, but a table for another vocabulary (4 rows instead of 3).
        let mut table = vec![0.0f32; 4 * 2];
        let err = p.apply(&mut table, 2).unwrap_err();
        assert!(matches!(err, Error::DataFile { .. }));
        assert!(err.to_string().contains("vocabulary of 3 entries"), "{err}");
        assert!(table.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn load_reads_a_real_file_and_names_a_missing_one() {
        use std::io::Write;
        let v = vocab(&["the", "good"]);
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"2 3\nthe 1 2 3\nGood 4 5 6\n").unwrap();
        file.flush().unwrap();
        let p = load(
            file.path(),
            &v,
            &EmbeddingsOptions {
                lowercase: true,
                first_id: 0,
            },
        )
        .unwrap();
        assert_eq!(p.path, file.path());
        assert_eq!(
            p.vectors,
            [(2, vec![1.0, 2.0, 3.0]), (3, vec![4.0, 5.0, 6.0])]
        );
        assert_eq!(p.type_coverage(), 1.0);

        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("glove.txt");
        let err = load(&missing, &v, &EmbeddingsOptions::default()).unwrap_err();
        assert!(matches!(err, Error::Io { .. }));
        let message = err.to_string();
        assert!(message.contains("cannot open word vectors"), "{message}");
        assert!(message.contains("glove.txt"), "{message}");
    }
}
