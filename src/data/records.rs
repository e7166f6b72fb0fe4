//! Records to score, read as a stream: plain lines, CSV, TSV or JSON lines, each record's text
//! and the columns to carry through to the output. What `predict` reads; knows nothing of the
//! model.
//!
//! Memory stays bounded whatever the input's size: one record is held at a time, and a record
//! longer than the limit ([`limits::MAX_LINE_BYTES`] unless set otherwise) is an error before
//! more of it is read. A header row (CSV, TSV) is required and never scored. CSV follows the
//! same rules as the labelled-data reader ([`super::read_rows`]): RFC 4180 quoting through the
//! `csv` crate, a quoted field may hold line breaks, a quote that is never closed is an error
//! naming the line where it opens; TSV is split on tabs without quote handling; empty lines
//! are skipped. JSON lines: one object per line, blank lines skipped.

use std::io::{BufRead, Read};
use std::path::PathBuf;
use std::str::FromStr;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::list_columns;
use crate::error::{Error, Result};
use crate::limits;

/// How an input is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputFormat {
    /// One text per line, every line scored (an empty line is an empty text).
    Lines,
    /// Comma-separated (or another delimiter), quoted as RFC 4180, with a header row.
    Csv,
    /// Tab-separated without quote handling, with a header row.
    Tsv,
    /// One JSON object per line.
    Jsonl,
}

impl InputFormat {
    /// The names `--input-format` takes.
    pub const NAMES: &'static str = "lines, csv, tsv, jsonl";

    /// The format a file name says: `.csv`, `.tsv`, `.jsonl` or `.ndjson` (any case); any
    /// other name is plain lines.
    pub fn of_path(path: &std::path::Path) -> Self {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("csv") => InputFormat::Csv,
            Some("tsv") => InputFormat::Tsv,
            Some("jsonl" | "ndjson") => InputFormat::Jsonl,
            _ => InputFormat::Lines,
        }
    }

    /// The format's name, as `--input-format` takes it.
    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Lines => "lines",
            InputFormat::Csv => "csv",
            InputFormat::Tsv => "tsv",
            InputFormat::Jsonl => "jsonl",
        }
    }

    /// Whether records have named columns (a header row or JSON keys).
    pub fn has_columns(self) -> bool {
        self != InputFormat::Lines
    }
}

impl FromStr for InputFormat {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "lines" | "text" | "txt" => Ok(InputFormat::Lines),
            "csv" => Ok(InputFormat::Csv),
            "tsv" => Ok(InputFormat::Tsv),
            "jsonl" | "ndjson" => Ok(InputFormat::Jsonl),
            _ => Err(format!(
                "{s:?} is not an input format: give one of {}",
                Self::NAMES
            )),
        }
    }
}

/// What to read from each record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordSpec {
    pub format: InputFormat,
    /// The field separator of CSV (`None`: comma); TSV is always tab.
    pub delimiter: Option<u8>,
    /// The column (CSV/TSV) or key (JSON lines) holding the text.
    pub text_column: String,
    /// Columns copied to the output, in this order.
    pub keep: Vec<String>,
}

/// A value carried from the input to the output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    /// A CSV/TSV field, or a JSON string (decoded).
    Text(String),
    /// A JSON value other than a string, as written in the input (numbers keep their digits).
    Json(String),
}

impl Field {
    /// Bytes held, for bounding a chunk of records.
    pub fn len(&self) -> usize {
        match self {
            Field::Text(s) | Field::Json(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One record to score.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// 1-based line where the record starts.
    pub line: u64,
    pub text: String,
    /// The kept columns, in [`RecordSpec::keep`] order.
    pub kept: Vec<Field>,
}

/// Where a CSV/TSV record's fields are: the text's index and each kept column's.
struct Columns {
    count: usize,
    text: usize,
    keep: Vec<usize>,
}

/// Whether a quoted CSV field is open at the end of what was scanned, and where it opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Quote {
    FieldStart,
    Unquoted,
    /// Inside a quoted field opened at this line and byte column.
    Quoted {
        line: u64,
        column: usize,
    },
    /// A quote inside a quoted field: the field's end, or the first half of `""`.
    ClosingOrDoubled {
        line: u64,
        column: usize,
    },
}

/// Reads [`Record`]s from a stream. `source` names it in messages (a path, or `<stdin>`).
pub struct Records<R> {
    reader: R,
    source: PathBuf,
    spec: RecordSpec,
    delimiter: u8,
    /// CSV/TSV only, read by [`Records::new`].
    columns: Option<Columns>,
    /// Lines read so far.
    line: u64,
    limit: usize,
    buffer: Vec<u8>,
}

impl<R: BufRead> Records<R> {
    /// Starts reading; for CSV and TSV reads the header row and finds the columns.
    pub fn new(reader: R, source: impl Into<PathBuf>, spec: RecordSpec) -> Result<Self> {
        Self::with_limit(reader, source, spec, limits::MAX_LINE_BYTES)
    }

    /// [`Records::new`] with another limit on a record's bytes.
    pub fn with_limit(
        reader: R,
        source: impl Into<PathBuf>,
        spec: RecordSpec,
        limit: usize,
    ) -> Result<Self> {
        let delimiter = match spec.format {
            InputFormat::Tsv => b'\t',
            _ => spec.delimiter.unwrap_or(b','),
        };
        let mut records = Self {
            reader,
            source: source.into(),
            spec,
            delimiter,
            columns: None,
            line: 0,
            limit,
            buffer: Vec::new(),
        };
        if !records.spec.format.has_columns() && !records.spec.keep.is_empty() {
            return Err(records.file_error(
                "plain text lines have no columns to keep; give a CSV, TSV or JSON lines input"
                    .to_string(),
            ));
        }
        if matches!(records.spec.format, InputFormat::Csv | InputFormat::Tsv) {
            records.columns = Some(records.read_header()?);
        }
        Ok(records)
    }

    fn file_error(&self, message: String) -> Error {
        Error::DataFile {
            path: self.source.clone(),
            message,
        }
    }

    fn line_error(&self, line: u64, message: String) -> Error {
        Error::DataLine {
            path: self.source.clone(),
            line,
            message,
        }
    }

    /// Whether CSV quotes are honoured (not for TSV, nor a tab delimiter).
    fn quoting(&self) -> bool {
        self.spec.format == InputFormat::Csv && self.delimiter != b'\t'
    }

    /// The next record's bytes (line terminators kept) and the line where it starts, skipping
    /// empty lines unless the format is plain lines. `None` at the end of the input.
    fn next_raw(&mut self) -> Result<Option<u64>> {
        loop {
            self.buffer.clear();
            let start = self.line + 1;
            let mut quote = Quote::FieldStart;
            // The record and its line terminator (`\r\n`); one byte more is "too long".
            let most = self.limit + 2;
            loop {
                let before = self.buffer.len();
                let room = most.saturating_sub(before) as u64;
                let read = (&mut self.reader)
                    .take(room)
                    .read_until(b'\n', &mut self.buffer)
                    .map_err(|e| Error::io("cannot read", self.source.clone(), e))?;
                if read == 0 {
                    break;
                }
                self.line += 1;
                if self.line == 1 {
                    self.check_start()?;
                }
                if self.quoting() {
                    quote = scan_quotes(quote, &self.buffer[before..], self.delimiter, self.line);
                }
                let complete =
                    self.buffer.last() == Some(&b'\n') && !matches!(quote, Quote::Quoted { .. });
                if complete {
                    break;
                }
                if self.buffer.len() >= most {
                    return Err(self.too_long(start, quote));
                }
            }
            if self.buffer.is_empty() {
                if let Quote::Quoted { line, column } = quote {
                    return Err(unclosed(self, line, column));
                }
                return Ok(None);
            }
            if let Quote::Quoted { line, column } = quote {
                return Err(unclosed(self, line, column));
            }
            let blank = match self.spec.format {
                InputFormat::Lines => false,
                InputFormat::Jsonl => self.buffer.iter().all(u8::is_ascii_whitespace),
                InputFormat::Csv | InputFormat::Tsv => {
                    matches!(self.buffer.as_slice(), b"\n" | b"\r\n")
                }
            };
            if !blank {
                if let Some(at) = memchr::memchr(0, &self.buffer) {
                    return Err(self.line_error(
                        start,
                        format!(
                            "a NUL byte at offset {at} of the record, which text never has; \
                             this looks like a binary file or UTF-16: re-save as UTF-8 text"
                        ),
                    ));
                }
                return Ok(Some(start));
            }
        }
    }

    /// Refuses a UTF-16 file and drops a UTF-8 byte-order mark, on the first line read.
    fn check_start(&mut self) -> Result<()> {
        if let [0xff, 0xfe, ..] | [0xfe, 0xff, ..] = self.buffer.as_slice() {
            return Err(self.file_error(
                "the input is UTF-16 (it starts with a UTF-16 byte-order mark); UTF-16 is not \
                 supported: re-save as UTF-8"
                    .to_string(),
            ));
        }
        if self.buffer.starts_with(b"\xef\xbb\xbf") {
            self.buffer.drain(..3);
        }
        Ok(())
    }

    fn too_long(&self, start: u64, quote: Quote) -> Error {
        let hint = match quote {
            Quote::Quoted { line, column } => format!(
                "; the quote that opens a field at line {line}, column {column} is still open: \
                 close it with `\"`, or double a quote inside a quoted field as `\"\"`"
            ),
            _ => match self.spec.format {
                InputFormat::Lines => "; give one text per line".to_string(),
                _ => "; give one record per line".to_string(),
            },
        };
        self.line_error(
            start,
            format!(
                "the record is longer than the limit of {} bytes{hint}",
                self.limit
            ),
        )
    }

    /// Reads the header row and finds the text and kept columns.
    fn read_header(&mut self) -> Result<Columns> {
        let example = format!("id,{}", self.spec.text_column);
        let Some(line) = self.next_raw()? else {
            return Err(self.file_error(format!(
                "the input is empty; expected a header row naming the columns, such as \
                 `{example}`"
            )));
        };
        let names: Vec<String> = self
            .fields(line)?
            .into_iter()
            .map(|n| n.trim().to_string())
            .collect();
        let find = |wanted: &str, what: String| -> Result<usize> {
            let matches: Vec<usize> = (0..names.len()).filter(|&i| names[i] == wanted).collect();
            match matches.as_slice() {
                [i] => Ok(*i),
                [] => Err(self.file_error(
                    format!(
                        "no {what} named {wanted:?}; the header (line {line}, never scored) has {}",
                        list_columns(&names)
                    ) + &column_hint(&what, &names),
                )),
                _ => Err(self.file_error(format!(
                    "the header names column {wanted:?} {} times; rename the duplicates",
                    matches.len()
                ))),
            }
        };
        let text = find(&self.spec.text_column, "text column".to_string())?;
        let keep = self
            .spec
            .keep
            .iter()
            .map(|k| find(k, "column to keep".to_string()))
            .collect::<Result<Vec<usize>>>()?;
        Ok(Columns {
            count: names.len(),
            text,
            keep,
        })
    }

    /// The fields of the CSV/TSV record in the buffer, which starts at `line`.
    fn fields(&self, line: u64) -> Result<Vec<String>> {
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .delimiter(self.delimiter)
            .quoting(self.quoting())
            .flexible(true)
            .from_reader(self.buffer.as_slice());
        let mut record = csv::ByteRecord::new();
        let read = |csv: &mut csv::Reader<&[u8]>, record: &mut csv::ByteRecord| {
            csv.read_byte_record(record)
                .map_err(|e| self.line_error(line, format!("cannot parse the record: {e}")))
        };
        read(&mut csv, &mut record)?;
        if read(&mut csv, &mut csv::ByteRecord::new())? {
            return Err(self.line_error(
                line,
                "a carriage return alone ends a line here; use \\n or \\r\\n line ends".into(),
            ));
        }
        record
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                String::from_utf8(bytes.to_vec()).map_err(|e| {
                    self.line_error(
                        line,
                        format!(
                            "field {} is not valid UTF-8 (bad byte at offset {}); re-save the \
                             input as UTF-8",
                            i + 1,
                            e.utf8_error().valid_up_to()
                        ),
                    )
                })
            })
            .collect()
    }

    /// The record in the buffer, which starts at `line`.
    fn record(&self, line: u64) -> Result<Record> {
        match self.spec.format {
            InputFormat::Lines => self.line_record(line),
            InputFormat::Jsonl => self.json_record(line),
            InputFormat::Csv | InputFormat::Tsv => self.csv_record(line),
        }
    }

    fn line_record(&self, line: u64) -> Result<Record> {
        let mut bytes = self.buffer.as_slice();
        if let Some(rest) = bytes.strip_suffix(b"\n") {
            bytes = rest.strip_suffix(b"\r").unwrap_or(rest);
        }
        let text = String::from_utf8(bytes.to_vec()).map_err(|e| {
            self.line_error(
                line,
                format!(
                    "not valid UTF-8 (bad byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
            )
        })?;
        Ok(Record {
            line,
            text,
            kept: Vec::new(),
        })
    }

    fn csv_record(&self, line: u64) -> Result<Record> {
        let columns = self.columns.as_ref().expect("the header is read first");
        let mut fields = self.fields(line)?;
        if fields.len() != columns.count {
            let hint = if self.quoting() {
                "quote fields that contain the delimiter"
            } else {
                "a tab inside a field is read as a separator"
            };
            return Err(self.line_error(
                line,
                format!(
                    "expected {} fields like the header, found {}; {hint}",
                    columns.count,
                    fields.len()
                ),
            ));
        }
        let kept = columns
            .keep
            .iter()
            .map(|&i| Field::Text(fields[i].clone()))
            .collect();
        Ok(Record {
            line,
            text: std::mem::take(&mut fields[columns.text]),
            kept,
        })
    }

    fn json_record(&self, line: u64) -> Result<Record> {
        let object: Object = serde_json::from_slice(&self.buffer).map_err(|e| {
            self.line_error(
                line,
                format!(
                    "not a JSON object ({e}); each line of a JSON lines input is one object, \
                     such as {{\"id\": 1, \"{}\": \"a fine film\"}}",
                    self.spec.text_column
                ),
            )
        })?;
        let get = |key: &str, what: &str| -> Result<&RawValue> {
            object.get(key).ok_or_else(|| {
                let keys: Vec<String> = object.0.iter().map(|(k, _)| k.clone()).collect();
                self.line_error(
                    line,
                    format!(
                        "no {what} {key:?}; the object has {}",
                        if keys.is_empty() {
                            "no keys".to_string()
                        } else {
                            list_columns(&keys)
                        }
                    ) + &column_hint(what, &keys),
                )
            })
        };
        let raw = get(&self.spec.text_column, "text key")?;
        let text = match json_field(raw) {
            Field::Text(text) => text,
            Field::Json(value) => {
                return Err(self.line_error(
                    line,
                    format!(
                        "the text key {:?} holds {}, not a string",
                        self.spec.text_column,
                        shorten(&value)
                    ),
                ))
            }
        };
        let kept = self
            .spec
            .keep
            .iter()
            .map(|k| get(k, "key to keep").map(json_field))
            .collect::<Result<Vec<Field>>>()?;
        Ok(Record { line, text, kept })
    }
}

impl<R: BufRead> Iterator for Records<R> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_raw() {
            Ok(Some(line)) => Some(self.record(line)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// What to do when a column or key is missing.
fn column_hint(what: &str, names: &[String]) -> String {
    let option = if what.starts_with("text") {
        "--text-column"
    } else {
        "--keep"
    };
    let header = if what.ends_with("column") && names.len() < 2 {
        " (a header row naming the columns is required: is it missing, or the delimiter \
         another one?)"
    } else {
        ""
    };
    format!("; name the right one with {option}{header}")
}

fn unclosed<R: BufRead>(records: &Records<R>, line: u64, column: usize) -> Error {
    records.line_error(
        line,
        format!(
            "the quote that opens a field here (column {column}) is never closed, so the \
             field would run to the end of the input; close it with `\"`, or double a quote \
             inside a quoted field as `\"\"`"
        ),
    )
}

/// The quote state after `bytes`, the start of line `line` (at most the whole line).
/// Follows the `csv` crate: a field is quoted only when its first byte is `"`, and `""` inside
/// it is a quote.
pub(super) fn scan_quotes(mut state: Quote, bytes: &[u8], delimiter: u8, line: u64) -> Quote {
    for (i, &b) in bytes.iter().enumerate() {
        let column = i + 1;
        state = match state {
            Quote::FieldStart | Quote::Unquoted if b == delimiter || b == b'\n' || b == b'\r' => {
                Quote::FieldStart
            }
            Quote::FieldStart if b == b'"' => Quote::Quoted { line, column },
            Quote::FieldStart | Quote::Unquoted => Quote::Unquoted,
            Quote::Quoted { line, column } if b == b'"' => Quote::ClosingOrDoubled { line, column },
            quoted @ Quote::Quoted { .. } => quoted,
            Quote::ClosingOrDoubled { line, column } if b == b'"' => Quote::Quoted { line, column },
            Quote::ClosingOrDoubled { .. } if b == delimiter || b == b'\n' || b == b'\r' => {
                Quote::FieldStart
            }
            Quote::ClosingOrDoubled { .. } => Quote::Unquoted,
        };
    }
    state
}

/// A JSON value for the output: strings decoded, anything else as written.
fn json_field(raw: &RawValue) -> Field {
    match serde_json::from_str::<String>(raw.get()) {
        Ok(text) => Field::Text(text),
        Err(_) => Field::Json(raw.get().to_string()),
    }
}

/// A value for a message, cut to 40 characters.
fn shorten(value: &str) -> String {
    if value.chars().count() > 40 {
        format!("{}...", value.chars().take(40).collect::<String>())
    } else {
        value.to_string()
    }
}

/// A JSON object's keys and values as written, in file order.
struct Object(Vec<(String, Box<RawValue>)>);

impl Object {
    /// The value of `key` (the last one, if the key is repeated, as JSON parsers take it).
    fn get(&self, key: &str) -> Option<&RawValue> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| &**v)
    }
}

impl<'de> serde::Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = Object;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Object, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    entries.push(entry);
                }
                Ok(Object(entries))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(format: InputFormat, keep: &[&str]) -> RecordSpec {
        RecordSpec {
            format,
            delimiter: None,
            text_column: "text".into(),
            keep: keep.iter().map(|k| k.to_string()).collect(),
        }
    }

    fn read(input: &str, spec: RecordSpec, limit: usize) -> Result<Vec<Record>> {
        Records::with_limit(input.as_bytes(), "in.csv", spec, limit)?.collect()
    }

    fn text(s: &str) -> Field {
        Field::Text(s.into())
    }

    #[test]
    fn csv_header_is_not_scored_and_quoted_lines_keep_their_start() {
        let input = "\u{feff}id,text\r\nr1,\"good, \"\"really\"\"\r\ngood\"\r\n\r\nr2,bad\n";
        let rows = read(input, spec(InputFormat::Csv, &["id"]), 100).unwrap();
        assert_eq!(
            rows,
            [
                Record {
                    line: 2,
                    text: "good, \"really\"\r\ngood".into(),
                    kept: vec![text("r1")]
                },
                Record {
                    line: 5,
                    text: "bad".into(),
                    kept: vec![text("r2")]
                },
            ]
        );
    }

    #[test]
    fn tsv_keeps_bare_quotes_and_jsonl_keeps_values_as_written() {
        let rows = read(
            "date\ttext\n2020\tsay \"hi\n",
            spec(InputFormat::Tsv, &["date"]),
            100,
        )
        .unwrap();
        assert_eq!(
            (rows[0].text.as_str(), &rows[0].kept),
            ("say \"hi", &vec![text("2020")])
        );
        let input = "{\"id\": 12345678901234567890123, \"text\": \"caf\\u00e9\", \"d\": null}\n\n  \n{\"text\":\"x\",\"id\":\"r2\",\"d\":[1]}";
        let rows = read(input, spec(InputFormat::Jsonl, &["id", "d"]), 100).unwrap();
        assert_eq!(rows[0].text, "café");
        assert_eq!(
            rows[0].kept,
            [
                Field::Json("12345678901234567890123".into()),
                Field::Json("null".into())
            ]
        );
        assert_eq!(
            (rows[1].line, &rows[1].kept),
            (4, &vec![text("r2"), Field::Json("[1]".into())])
        );
    }

    #[test]
    fn lines_are_every_line_and_have_no_columns() {
        let rows = read("a\r\n\nb", spec(InputFormat::Lines, &[]), 100).unwrap();
        let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["a", "", "b"]);
        let e = read("a\n", spec(InputFormat::Lines, &["id"]), 100).unwrap_err();
        assert!(e.to_string().contains("no columns to keep"), "{e}");
    }

    fn error(input: &str, spec: RecordSpec, limit: usize) -> String {
        read(input, spec, limit).unwrap_err().to_string()
    }

    #[test]
    fn missing_columns_and_keys_name_what_is_there() {
        let e = error("r100,great film\n", spec(InputFormat::Csv, &[]), 100);
        assert!(
            e.contains("in.csv: no text column named \"text\"")
                && e.contains("\"r100\", \"great film\"")
                && e.contains("--text-column"),
            "{e}"
        );
        let e = error("id,text\n", spec(InputFormat::Csv, &["date"]), 100);
        assert!(
            e.contains("no column to keep named \"date\"") && e.contains("--keep"),
            "{e}"
        );
        let e = error(
            "{\"id\":1,\"body\":\"x\"}\n",
            spec(InputFormat::Jsonl, &[]),
            100,
        );
        assert!(
            e.contains("line 1: no text key \"text\"; the object has \"id\", \"body\""),
            "{e}"
        );
        let e = error("{\"text\":3}\n", spec(InputFormat::Jsonl, &[]), 100);
        assert!(e.contains("holds 3, not a string"), "{e}");
        let e = error(
            "{\"text\":\"a\"}\n[1]\n",
            spec(InputFormat::Jsonl, &[]),
            100,
        );
        assert!(e.contains("line 2: not a JSON object"), "{e}");
        assert!(error("", spec(InputFormat::Csv, &[]), 100).contains("empty"));
    }

    #[test]
    fn malformed_records_name_their_line() {
        let e = error("id,text\nr1,a,b\n", spec(InputFormat::Csv, &[]), 100);
        assert!(
            e.contains("line 2: expected 2 fields like the header, found 3"),
            "{e}"
        );
        let e = error(
            "id,text\nr1,ok\nr2,\"open\nmore\n",
            spec(InputFormat::Csv, &[]),
            100,
        );
        assert!(
            e.contains("line 3: the quote") && e.contains("never closed"),
            "{e}"
        );
        let e = error("id,text\nr1,caf\u{0}\n", spec(InputFormat::Csv, &[]), 100);
        assert!(e.contains("line 2: a NUL byte"), "{e}");
        let bytes = b"id,text\nr1,caf\xe9\n";
        let e = Records::new(&bytes[..], "l.csv", spec(InputFormat::Csv, &[]))
            .unwrap()
            .next()
            .unwrap()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("l.csv, line 2: field 2 is not valid UTF-8"),
            "{e}"
        );
    }

    #[test]
    fn records_longer_than_the_limit_are_refused_before_they_are_read_whole() {
        let long = "x".repeat(50);
        let e = error(
            &format!("id,text\nr1,{long}\n"),
            spec(InputFormat::Csv, &[]),
            20,
        );
        assert!(
            e.contains("line 2: the record is longer than the limit of 20 bytes"),
            "{e}"
        );
        // An open quote runs on over lines: the limit says where it opened.
        let input = format!("id,text\nr1,\"{}\n", "ab\n".repeat(20));
        let e = error(&input, spec(InputFormat::Csv, &[]), 20);
        assert!(
            e.contains("line 2") && e.contains("line 2, column 4 is still open"),
            "{e}"
        );
        // At the limit exactly, with \r\n, it is read.
        let fits = format!("id,text\n{}\r\n", "y".repeat(20));
        assert_eq!(
            read(&fits, spec(InputFormat::Lines, &[]), 20)
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn formats_come_from_names_and_extensions() {
        for (name, format) in [
            ("a.CSV", InputFormat::Csv),
            ("a.tsv", InputFormat::Tsv),
            ("a.jsonl", InputFormat::Jsonl),
            ("a.ndjson", InputFormat::Jsonl),
            ("a.txt", InputFormat::Lines),
            ("a", InputFormat::Lines),
        ] {
            assert_eq!(
                InputFormat::of_path(std::path::Path::new(name)),
                format,
                "{name}"
            );
            assert_eq!(format.name().parse::<InputFormat>(), Ok(format));
        }
        assert!("xml"
            .parse::<InputFormat>()
            .unwrap_err()
            .contains("lines, csv, tsv, jsonl"));
    }
}
