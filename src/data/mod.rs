//! Reading labelled data (CSV/TSV) and plain text lines; records to score (CSV, TSV, JSON lines)
//! are streamed by [`records`]. Knows nothing of the model.
//!
//! CSV follows RFC 4180 via the `csv` crate: quoted fields, embedded commas, quotes and line
//! breaks, CRLF, a UTF-8 byte-order mark. A file whose name ends in `.tsv` (or `--delimiter
//! tab`) is read tab-separated *without* quote handling, since TSV exports such as GLUE's
//! contain bare `"` characters. A header row is required; columns are found by name.
//!
//! Before parsing, the whole file is checked to be UTF-8 text: a UTF-16 byte-order mark, a NUL
//! byte or an invalid UTF-8 sequence is refused with its line (and column), and a quoted field
//! that is never closed (which the `csv` crate would accept as the rest of the file) is
//! refused with the line where its quote opens.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::limits;
use crate::rng::Rng;

mod labels;
mod records;

pub use labels::{assign_labels, class_counts, decide_labels, list_classes, LabelSet};
use records::{scan_quotes, Quote};
pub use records::{Field, InputFormat, Record, RecordSpec, Records};

/// One labelled text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    pub text: String,
    /// The class index: for binary data [`NEGATIVE`] or [`POSITIVE`]; for K classes an index
    /// into the class names (`TrainConfig::classes`).
    pub label: usize,
    /// 1-based line where the record starts in its file.
    pub line: u64,
}

/// One row as read, its label as written (untrimmed), before the labels are decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawExample {
    pub text: String,
    pub label: String,
    /// 1-based line where the record starts in its file.
    pub line: u64,
}

/// The class index of a negative binary label.
pub const NEGATIVE: usize = 0;
/// The class index of a positive binary label.
pub const POSITIVE: usize = 1;

impl Example {
    /// A labelled text of class `label` at `line` (1-based).
    pub fn new(text: impl Into<String>, label: usize, line: u64) -> Self {
        Self {
            text: text.into(),
            label,
            line,
        }
    }

    /// True for a positive binary label ([`POSITIVE`]).
    pub fn is_positive(&self) -> bool {
        self.label == POSITIVE
    }
}

/// Which columns to read and how the file is separated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    pub text_column: String,
    pub label_column: String,
    /// The field separator; `None` picks tab for `.tsv` files and comma otherwise.
    pub delimiter: Option<u8>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            text_column: "text".into(),
            label_column: "label".into(),
            delimiter: None,
        }
    }
}

/// Parses `--delimiter`: a single ASCII character, or the words `comma`, `tab`, `semicolon`.
pub fn parse_delimiter(value: &str) -> std::result::Result<u8, String> {
    match value {
        "comma" | "," => Ok(b','),
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        "semicolon" | ";" => Ok(b';'),
        "pipe" | "|" => Ok(b'|'),
        s if s.len() == 1 && s.is_ascii() && s != "\"" => Ok(s.as_bytes()[0]),
        s => Err(format!(
            "{s:?} is not a delimiter: give one ASCII character or comma, tab, semicolon, pipe"
        )),
    }
}

/// Accepted label spellings (case-insensitive, surrounding whitespace ignored):
/// `1/0`, `positive/negative`, `pos/neg`, `true/false`.
pub fn parse_label(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "positive" | "pos" | "true" => Some(true),
        "0" | "negative" | "neg" | "false" => Some(false),
        _ => None,
    }
}

pub(crate) const LABEL_HELP: &str = "use 1/0, positive/negative, pos/neg or true/false";

fn is_tsv(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"))
}

/// Reads every row of a CSV/TSV file with binary labels (see [`parse_label`]), as `eval` of a
/// binary model reads them. `-` reads standard input (named `<stdin>` in messages).
pub fn read_labeled(path: &Path, options: &CsvOptions) -> Result<Vec<Example>> {
    assign_labels(read_rows(path, options)?, &LabelSet::Binary, path, "")
}

/// Reads every row of a CSV/TSV file with its label as written, before the labels are
/// decided to be binary or K classes ([`decide_labels`], [`assign_labels`]).
/// `-` reads standard input (named `<stdin>` in messages), as `predict -` does.
pub fn read_rows(path: &Path, options: &CsvOptions) -> Result<Vec<RawExample>> {
    let read = |reader: &mut dyn BufRead, name: &Path| {
        crate::files::read_lines_limited(
            reader,
            name,
            "data file",
            limits::MAX_DATA_BYTES,
            limits::MAX_LINE_BYTES,
        )
    };
    if path == Path::new("-") {
        let stdin = Path::new("<stdin>");
        let bytes = read(&mut std::io::stdin().lock(), stdin)?;
        return read_rows_from(&bytes, stdin, options);
    }
    if path.is_dir() {
        return Err(Error::io(
            "cannot read data file",
            path,
            std::io::Error::other(
                "it is a directory; give a CSV or TSV file with text and label columns",
            ),
        ));
    }
    let file = File::open(path).map_err(|e| Error::io("cannot read data file", path, e))?;
    let bytes = read(&mut BufReader::with_capacity(1 << 20, file), path)?;
    read_rows_from(&bytes, path, options)
}

/// Counts line numbers from byte offsets. The `csv` crate's own line numbers are off by one
/// after CRLF line ends, so lines are counted here from the bytes (offsets only grow).
struct LineCounter<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u64,
}

impl LineCounter<'_> {
    /// The 1-based line of the first byte at or after `offset` that is not a line terminator
    /// (after a CRLF, the `csv` crate reports a record as starting at the `\n`).
    fn line_at(&mut self, offset: u64) -> u64 {
        let mut offset = (offset as usize).min(self.bytes.len());
        while offset < self.bytes.len() && matches!(self.bytes[offset], b'\r' | b'\n') {
            offset += 1;
        }
        if offset < self.offset {
            self.offset = 0;
            self.line = 1;
        }
        self.line += self.bytes[self.offset..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        self.offset = offset;
        self.line
    }
}

/// The text and label columns of a header row. A missing column is diagnosed: a file without
/// a header row (its first row looks like data), the wrong delimiter (a one-column header
/// holding another separator), both columns missing, or a column named twice.
fn header_columns(
    headers: &csv::ByteRecord,
    delimiter: u8,
    options: &CsvOptions,
    path: &Path,
) -> Result<(usize, usize)> {
    let file_error = |message: String| Error::DataFile {
        path: path.to_path_buf(),
        message,
    };
    let names: Vec<String> = headers
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().to_string())
        .collect();
    // A file without a header row has its first data row read as the header: say so.
    let header_looks_like_data = names.len() >= 2
        && !names.contains(&options.text_column)
        && !names.contains(&options.label_column)
        && names.iter().any(|n| parse_label(n).is_some());
    // A one-column header that contains another common separator: the wrong delimiter.
    let other_separator = match names.as_slice() {
        [only] => ['\t', ';', ',', '|']
            .into_iter()
            .find(|&c| c as u32 != u32::from(delimiter) && only.contains(c)),
        _ => None,
    };
    let find = |wanted: &str, what: &str| -> Result<usize> {
        let matches: Vec<usize> = (0..names.len()).filter(|&i| names[i] == wanted).collect();
        match matches.as_slice() {
            [i] => Ok(*i),
            [] => Err(file_error(format!(
                "no {what} column named {wanted:?}; the header has {}; choose one with --{what}-column{}",
                list_columns(&names),
                if header_looks_like_data {
                    format!(
                        ". The first row looks like data, but a header row naming the columns \
                         is required: add a first line such as `{},{}`",
                        options.text_column, options.label_column
                    )
                } else if let Some(other) = other_separator {
                    format!(
                        ". The header is one column containing {other:?}: if the file is \
                         separated by it, pass --delimiter {}",
                        match other {
                            '\t' => "tab".to_string(),
                            c => c.to_string(),
                        }
                    )
                } else {
                    String::new()
                }
            ))),
            _ => Err(file_error(format!(
                "the header names column {wanted:?} {} times; rename the duplicates",
                matches.len()
            ))),
        }
    };
    // Both columns missing (and not for a reason diagnosed below): name both at once.
    let absent: Vec<String> = [
        (&options.text_column, "text"),
        (&options.label_column, "label"),
    ]
    .into_iter()
    .filter(|(wanted, _)| !names.iter().any(|n| n == *wanted))
    .map(|(wanted, what)| format!("no {what} column named {wanted:?}"))
    .collect();
    if absent.len() == 2 && !header_looks_like_data && other_separator.is_none() {
        return Err(file_error(format!(
            "{}; the header has {}; choose them with --text-column and --label-column",
            absent.join(" and "),
            list_columns(&names)
        )));
    }
    Ok((
        find(&options.text_column, "text")?,
        find(&options.label_column, "label")?,
    ))
}

/// [`read_labeled`] from bytes in memory; `path` is used in messages.
pub fn read_labeled_from(bytes: &[u8], path: &Path, options: &CsvOptions) -> Result<Vec<Example>> {
    assign_labels(
        read_rows_from(bytes, path, options)?,
        &LabelSet::Binary,
        path,
        "",
    )
}

/// [`read_rows`] from bytes in memory; `path` is used in messages.
pub fn read_rows_from(bytes: &[u8], path: &Path, options: &CsvOptions) -> Result<Vec<RawExample>> {
    let mut lines = LineCounter {
        bytes,
        offset: 0,
        line: 1,
    };
    let tsv = is_tsv(path);
    let delimiter = options.delimiter.unwrap_or(if tsv { b'\t' } else { b',' });
    let quoting = delimiter != b'\t';
    check_encoding(bytes, path)?;
    if quoting {
        check_quotes(bytes, delimiter, path)?;
    }
    if options.text_column == options.label_column {
        return Err(Error::DataFile {
            path: path.to_path_buf(),
            message: format!(
                "--text-column and --label-column both name column {:?}; they must differ",
                options.text_column
            ),
        });
    }
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .delimiter(delimiter)
        .quoting(quoting)
        .from_reader(bytes);
    let file_error = |message: String| Error::DataFile {
        path: path.to_path_buf(),
        message,
    };
    let line_error = |line: u64, message: String| Error::DataLine {
        path: path.to_path_buf(),
        line,
        message,
    };

    let headers = csv
        .byte_headers()
        .map_err(|e| csv_error(path, e, &mut lines))?
        .clone();
    if headers.is_empty() || (headers.len() == 1 && headers[0].is_empty()) {
        return Err(file_error(format!(
            "the file is empty; expected a header row naming the columns, such as `{},{}`",
            options.text_column, options.label_column
        )));
    }
    let (text_col, label_col) = header_columns(&headers, delimiter, options, path)?;

    let mut examples = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(path, e, &mut lines)),
        }
        let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
        let field = |i: usize, what: &str| -> Result<String> {
            let bytes = record.get(i).unwrap_or_default();
            String::from_utf8(bytes.to_vec()).map_err(|e| {
                line_error(
                    line,
                    format!(
                        "the {what} field is not valid UTF-8 (bad byte at offset {}); \
                         re-save the file as UTF-8",
                        e.utf8_error().valid_up_to()
                    ),
                )
            })
        };
        examples.push(RawExample {
            label: field(label_col, "label")?,
            text: field(text_col, "text")?,
            line,
        });
    }
    if examples.is_empty() {
        return Err(file_error(
            "the file has a header but no data rows".to_string(),
        ));
    }
    Ok(examples)
}

/// The 1-based line holding byte `offset`, and the 1-based column (in bytes) within it.
fn line_and_column(bytes: &[u8], offset: usize) -> (u64, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count() as u64;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    (line, offset - start + 1)
}

/// Refuses what is not UTF-8 text before any parsing: UTF-16/UTF-32 (by their byte-order
/// marks), NUL bytes (binary files, or UTF-16 without a mark) and invalid UTF-8, each with the
/// line where it starts.
fn check_encoding(bytes: &[u8], path: &Path) -> Result<()> {
    let line_error = |offset: usize, message: &dyn Fn(usize) -> String| {
        let (line, column) = line_and_column(bytes, offset);
        Error::DataLine {
            path: path.to_path_buf(),
            line,
            message: message(column),
        }
    };
    let utf16 = match bytes {
        [0xff, 0xfe, ..] => Some("UTF-16 little-endian"),
        [0xfe, 0xff, ..] => Some("UTF-16 big-endian"),
        _ => None,
    };
    if let Some(encoding) = utf16 {
        return Err(Error::DataFile {
            path: path.to_path_buf(),
            message: format!(
                "the file is {encoding} (it starts with a UTF-16 byte-order mark); \
                 UTF-16 is not supported: re-save as UTF-8"
            ),
        });
    }
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        return Err(line_error(offset, &|column| {
            format!(
                "a NUL byte at column {column}, which text never has; this looks like a binary \
                 file or UTF-16 without a byte-order mark: re-save as UTF-8 text"
            )
        }));
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        let offset = e.valid_up_to();
        let byte = bytes[offset];
        return Err(line_error(offset, &|column| {
            format!(
                "byte 0x{byte:02x} at column {column} is not valid UTF-8; re-save the file as UTF-8"
            )
        }));
    }
    Ok(())
}

/// Finds a quoted field that is never closed. The `csv` crate accepts one silently, as a field
/// holding the rest of the file; this scan follows the same rules (a field is quoted only when
/// its first byte is `"`, `""` inside it is a quote) and reports the line where it opens.
fn check_quotes(bytes: &[u8], delimiter: u8, path: &Path) -> Result<()> {
    let mut state = Quote::FieldStart;
    for (i, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        state = scan_quotes(state, line, delimiter, i as u64 + 1);
    }
    match state {
        Quote::Quoted { line, column } => Err(Error::DataLine {
            path: path.to_path_buf(),
            line,
            message: format!(
                "the quote that opens a field here (column {column}) is never closed, so \
                 the field would run to the end of the file; close it with `\"`, or double \
                 a quote inside a quoted field as `\"\"`"
            ),
        }),
        _ => Ok(()),
    }
}

/// The header's column names for a message: quoted, at most [`LISTED_COLUMNS`] of them and
/// each cut to 40 characters, so a file that is not CSV at all cannot flood the terminal.
fn list_columns(names: &[String]) -> String {
    const LISTED_COLUMNS: usize = 10;
    let mut listed: Vec<String> = names
        .iter()
        .take(LISTED_COLUMNS)
        .map(|n| {
            if n.chars().count() > 40 {
                format!("{:?}...", n.chars().take(40).collect::<String>())
            } else {
                format!("{n:?}")
            }
        })
        .collect();
    if names.len() > LISTED_COLUMNS {
        listed.push(format!("and {} more", names.len() - LISTED_COLUMNS));
    }
    listed.join(", ")
}

fn csv_error(path: &Path, error: csv::Error, lines: &mut LineCounter) -> Error {
    let line = error.position().map(|p| lines.line_at(p.byte()));
    let message = match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!(
            "expected {expected_len} fields like the header, found {len}; \
             quote fields that contain the delimiter"
        ),
        csv::ErrorKind::Io(e) => format!("read error: {e}"),
        _ => error.to_string(),
    };
    match line {
        Some(line) => Error::DataLine {
            path: path.to_path_buf(),
            line,
            message,
        },
        None => Error::DataFile {
            path: path.to_path_buf(),
            message,
        },
    }
}

/// Plain text lines, one text per line, as `predict` and `tokenize` read them: the line
/// terminator (`\n` or `\r\n`) is removed, every other character kept, and an empty line is an
/// empty text. Yields `(line number, text)`.
pub struct TextLines<R> {
    reader: R,
    source: PathBuf,
    line: u64,
    buffer: Vec<u8>,
}

impl<R: BufRead> TextLines<R> {
    /// `source` names the input in messages (a path, or `<stdin>`).
    pub fn new(reader: R, source: impl Into<PathBuf>) -> Self {
        Self {
            reader,
            source: source.into(),
            line: 0,
            buffer: Vec::new(),
        }
    }
}

impl TextLines<BufReader<File>> {
    /// Opens a file of texts.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io("cannot open text file", path, e))?;
        Ok(Self::new(BufReader::new(file), path))
    }
}

impl<R> TextLines<R> {
    fn bad_line(&self, message: String) -> Error {
        Error::DataLine {
            path: self.source.clone(),
            line: self.line,
            message,
        }
    }
}

impl<R: BufRead> Iterator for TextLines<R> {
    type Item = Result<(u64, String)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.buffer.clear();
        let limit = limits::MAX_LINE_BYTES as u64 + 2;
        match std::io::Read::take(&mut self.reader, limit).read_until(b'\n', &mut self.buffer) {
            Ok(0) => None,
            Ok(_) => {
                self.line += 1;
                let ended = self.buffer.last() == Some(&b'\n');
                if self.buffer.len() as u64 == limit && !ended {
                    return Some(Err(self.bad_line(format!(
                        "the line is longer than the limit of {} bytes; give one text per line",
                        limits::MAX_LINE_BYTES
                    ))));
                }
                if let Some(at) = memchr::memchr(0, &self.buffer) {
                    return Some(Err(self.bad_line(format!(
                        "a NUL byte at offset {at}; texts must be UTF-8 text without NUL bytes"
                    ))));
                }
                if self.buffer.last() == Some(&b'\n') {
                    self.buffer.pop();
                    if self.buffer.last() == Some(&b'\r') {
                        self.buffer.pop();
                    }
                }
                Some(
                    String::from_utf8(std::mem::take(&mut self.buffer)).map_err(|e| {
                        Error::DataLine {
                            path: self.source.clone(),
                            line: self.line,
                            message: format!(
                                "not valid UTF-8 (bad byte at offset {})",
                                e.utf8_error().valid_up_to()
                            ),
                        }
                    }),
                )
                .map(|r| r.map(|text| (self.line, text)))
            }
            Err(e) => Some(Err(Error::io("cannot read", self.source.clone(), e))),
        }
    }
}

/// Splits off a validation set: within each class, a seeded shuffle picks
/// `round(fraction * class size)` rows, so both parts keep the class proportions. Both parts
/// keep file order. Returns `(train, valid)`.
pub fn split_validation(
    examples: Vec<Example>,
    fraction: f64,
    rng: &mut Rng,
) -> (Vec<Example>, Vec<Example>) {
    let mut in_valid = vec![false; examples.len()];
    // Classes in index order, at least the two binary ones (an empty class still takes its
    // shuffle, so binary splits draw what they always drew).
    let classes = examples
        .iter()
        .map(|e| e.label + 1)
        .max()
        .unwrap_or(0)
        .max(2);
    for class in 0..classes {
        let mut idx: Vec<usize> = (0..examples.len())
            .filter(|&i| examples[i].label == class)
            .collect();
        rng.shuffle(&mut idx);
        let take = (fraction * idx.len() as f64).round() as usize;
        for &i in &idx[..take.min(idx.len())] {
            in_valid[i] = true;
        }
    }
    let mut train = Vec::new();
    let mut valid = Vec::new();
    for (example, v) in examples.into_iter().zip(in_valid) {
        if v {
            valid.push(example);
        } else {
            train.push(example);
        }
    }
    (train, valid)
}

/// A 64-bit FNV-1a fingerprint of texts and labels, to tell whether two models saw the same
/// training data.
pub fn fingerprint(examples: &[Example]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for e in examples {
        eat(e.text.as_bytes());
        // 0xff never occurs in UTF-8, so it ends the text; the class index follows in
        // LEB128 (7 bits a byte), one byte for binary labels, as they always were.
        eat(&[0xff]);
        let mut label = e.label;
        loop {
            let low = (label & 0x7f) as u8;
            label >>= 7;
            if label == 0 {
                eat(&[low]);
                break;
            }
            eat(&[low | 0x80]);
        }
    }
    format!("fnv1a64:{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, name: &str) -> Result<Vec<Example>> {
        read_labeled_from(text.as_bytes(), Path::new(name), &CsvOptions::default())
    }

    #[test]
    fn labels() {
        for (s, v) in [
            ("1", true),
            ("POSITIVE", true),
            (" pos ", true),
            ("True", true),
            ("0", false),
            ("negative", false),
            ("Neg", false),
            ("FALSE", false),
        ] {
            assert_eq!(parse_label(s), Some(v), "{s}");
        }
        for s in ["2", "-1", "0.5", "yes", "", "1.0"] {
            assert_eq!(parse_label(s), None, "{s}");
        }
    }

    #[test]
    fn quoted_fields_crlf_bom_and_column_order() {
        let text =
            "\u{feff}label,text\r\n1,\"good, \"\"really\"\" good\"\r\n0,\"two\nlines\"\r\n0,\r\n";
        let rows = read(text, "x.csv").unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].text, "good, \"really\" good");
        assert!(rows[0].is_positive());
        assert_eq!(rows[1].text, "two\nlines");
        assert_eq!(rows[2].text, "");
        assert_eq!(rows[2].line, 5);
    }

    #[test]
    fn tsv_keeps_bare_quotes() {
        let rows = read("text\tlabel\nsay \"hi\" now\t1\n", "x.tsv").unwrap();
        assert_eq!(rows[0].text, "say \"hi\" now");
    }

    #[test]
    fn errors_name_line_and_value() {
        let e = read("text,label\ngood,1\nbad,maybe\n", "d.csv").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("d.csv, line 3") && msg.contains("\"maybe\""),
            "{msg}"
        );
        let e = read("review,label\nx,1\n", "d.csv")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"review\"") && e.contains("--text-column"),
            "{e}"
        );
        assert!(read("", "d.csv").unwrap_err().to_string().contains("empty"));
        assert!(read("text,label\n", "d.csv")
            .unwrap_err()
            .to_string()
            .contains("no data rows"));
        let e = read("text,label\na,1,3\n", "d.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("fields"), "{e}");
        let bytes = b"text,label\nok,1\nbad \xff byte,0\n";
        let e = read_labeled_from(bytes, Path::new("u.csv"), &CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("u.csv, line 3") && e.contains("UTF-8"), "{e}");
    }

    #[test]
    fn long_headers_are_listed_briefly() {
        let header: Vec<String> = (0..25).map(|i| format!("c{i}")).collect();
        let text = format!("{}\n{}\n", header.join(","), vec!["x"; 25].join(","));
        let e = read(&text, "wide.csv").unwrap_err().to_string();
        assert!(
            e.contains("\"c9\", and 15 more") && !e.contains("c10"),
            "{e}"
        );
        let long = "w".repeat(100);
        let e = read(&format!("{long},label\nx,1\n"), "long.csv")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("\"{}\"...", "w".repeat(40))) && !e.contains(&long),
            "{e}"
        );
    }

    #[test]
    fn text_lines_strip_terminators_only() {
        let input = "a\r\n\n  b  \nlast";
        let lines: Vec<_> = TextLines::new(input.as_bytes(), "<stdin>")
            .map(|r| r.unwrap().1)
            .collect();
        assert_eq!(lines, ["a", "", "  b  ", "last"]);
    }

    #[test]
    fn validation_split_is_stratified_and_seeded() {
        let examples: Vec<Example> = (0..100)
            .map(|i| Example {
                text: i.to_string(),
                label: usize::from(i % 4 == 0),
                line: i + 2,
            })
            .collect();
        let (t, v) = split_validation(examples.clone(), 0.2, &mut Rng::new(1));
        assert_eq!((t.len(), v.len()), (80, 20));
        assert_eq!(v.iter().filter(|e| e.is_positive()).count(), 5);
        let (_, v2) = split_validation(examples, 0.2, &mut Rng::new(1));
        assert_eq!(v, v2);
    }

    #[test]
    fn validation_split_keeps_every_class_proportion() {
        let examples: Vec<Example> = (0..90)
            .map(|i| Example::new(i.to_string(), (i % 9) as usize / 3, i + 2))
            .collect();
        let (t, v) = split_validation(examples, 0.2, &mut Rng::new(1));
        assert_eq!((t.len(), v.len()), (72, 18));
        for class in 0..3 {
            assert_eq!(v.iter().filter(|e| e.label == class).count(), 6);
        }
    }

    #[test]
    fn fingerprints_of_binary_labels_are_unchanged_and_classes_differ() {
        let rows = |labels: &[usize]| -> Vec<Example> {
            labels
                .iter()
                .map(|&l| Example::new("good film", l, 2))
                .collect()
        };
        // The value binary labels always had (one byte 0/1 after 0xff).
        assert_eq!(fingerprint(&rows(&[1, 0])), "fnv1a64:0fb88bc70366f2c4");
        let prints: std::collections::BTreeSet<String> = [0, 1, 2, 127, 128, 300, 999]
            .iter()
            .map(|&l| fingerprint(&rows(&[l])))
            .collect();
        assert_eq!(prints.len(), 7);
    }
}
