//! HTML reports of a training run (`train --report DIR`), a pretraining run (`pretrain
//! --report DIR`) and an evaluation (`eval --report DIR`).
//!
//! A report is one self-contained `report.html`: styles inline, charts inline SVG, no scripts,
//! no links to fetch, so it opens offline and can be attached to a CI run as a single artifact.
//! The page is also well-formed XML (every tag closed, text escaped), which the tests check
//! with an XML parser. Training reports add `history.csv`, evaluation reports `mistakes.csv`.

pub mod charts;
pub mod evaluation;
pub mod evaluation_classes;
pub mod pretraining;
pub mod training;

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{Error, Result};
use crate::files::{self, write_atomic};

/// The files a report consists of: (file name, contents).
#[derive(Clone, Debug)]
pub struct Report {
    pub files: Vec<(&'static str, String)>,
}

impl Report {
    /// Writes every file into `dir` (created if missing), each atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io("cannot create report directory", dir, e))?;
        for (name, contents) in &self.files {
            write_atomic(&dir.join(name), contents.as_bytes(), "report file")?;
        }
        Ok(())
    }

    /// The contents of one file.
    pub fn file(&self, name: &str) -> Option<&str> {
        self.files
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| c.as_str())
    }
}

/// The files of a training report, in `dir`.
pub const TRAINING_FILES: [&str; 2] = ["report.html", "history.csv"];
/// The files of an evaluation report, in `dir`.
pub const EVALUATION_FILES: [&str; 2] = ["report.html", "mistakes.csv"];

/// Fails before a long run if `dir` cannot hold a report: it must be a directory (or not exist
/// yet, with a parent that is a directory), and each of `names` in it must be replaceable
/// (see [`files::check_output`]).
pub fn check_dir(dir: &Path, names: &[&str]) -> Result<()> {
    let not_dir = |what: &str| Error::Io {
        action: "cannot write report to",
        path: dir.to_path_buf(),
        cause: std::io::Error::other(format!(
            "{what}; give a directory (it is created if missing), e.g. --report report"
        )),
    };
    if dir.as_os_str().is_empty() {
        return Err(not_dir("the path is empty"));
    }
    if dir.exists() {
        if !dir.is_dir() {
            return Err(not_dir("it is a file, not a directory"));
        }
        for name in names {
            files::check_output(&dir.join(name), "report file")?;
        }
    } else if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        if parent.exists() && !parent.is_dir() {
            return Err(not_dir("its parent is a file"));
        }
    }
    Ok(())
}

/// Escapes text for HTML/XML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML; show them as the replacement mark.
            c if c.is_control() && !matches!(c, '\n' | '\t') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A CSV file built in memory by the `csv` crate's writer: RFC 4180 quoting (a field is quoted
/// when it holds a comma, a quote or a line break, and its quotes are doubled), `\n` after each
/// row, and every row as long as the header.
pub struct CsvText {
    writer: csv::Writer<Vec<u8>>,
}

impl CsvText {
    /// Starts the file with its header row.
    pub fn new(header: &[&str]) -> Result<Self> {
        let mut csv = Self {
            writer: csv::Writer::from_writer(Vec::new()),
        };
        csv.row(header)?;
        Ok(csv)
    }

    /// Adds a row.
    pub fn row<T: AsRef<[u8]>>(&mut self, fields: &[T]) -> Result<()> {
        self.writer.write_record(fields).map_err(csv_error)
    }

    /// The file's text.
    pub fn finish(self) -> Result<String> {
        let bytes = self
            .writer
            .into_inner()
            .map_err(|e| csv_error(e.into_error()))?;
        // Every field was a `&str`, and the writer adds only ASCII.
        String::from_utf8(bytes).map_err(csv_error)
    }
}

fn csv_error(e: impl std::fmt::Display) -> Error {
    Error::Report(format!("csv: {e}"))
}

/// Builds the HTML page: a title, then sections in order.
pub struct Page {
    title: String,
    subtitle: String,
    body: String,
}

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2129}\
header{background:#1d2129;color:#fff;padding:18px 32px}\
header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#c5cad3;font-size:14px}\
main{padding:8px 32px 40px;max-width:1240px}\
section{background:#fff;border:1px solid #e1e4e8;border-radius:8px;padding:12px 20px;margin:16px 0}\
h2{font-size:17px;margin:4px 0 10px}\
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts figure{margin:0}\
figcaption{font-size:12px;color:#57606a;max-width:560px}\
table{border-collapse:collapse;font-size:13px}td,th{border-bottom:1px solid #eaecef;padding:4px 10px;text-align:left;vertical-align:top}\
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}\
.kv td:first-child{color:#57606a}\
.cm td{text-align:center;min-width:90px;font-size:15px}\
.text{max-width:760px}\
.note{font-size:12px;color:#57606a}";

impl Page {
    pub fn new(title: &str, subtitle: &str) -> Self {
        Self {
            title: title.to_string(),
            subtitle: subtitle.to_string(),
            body: String::new(),
        }
    }

    /// Adds a section; `html` must be well-formed (use [`escape`] for text).
    pub fn section(&mut self, id: &str, heading: &str, html: &str) {
        let _ = writeln!(
            self.body,
            "<section id=\"{}\"><h2>{}</h2>{html}</section>",
            escape(id),
            escape(heading)
        );
    }

    pub fn finish(self) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\
             <meta name=\"generator\" content=\"rnn-sentiment {}\"/>\
             <title>{}</title><style>{STYLE}</style></head>\n<body><header><h1>{}</h1><p>{}</p></header>\n<main>\n{}</main></body></html>\n",
            env!("CARGO_PKG_VERSION"),
            escape(&self.title),
            escape(&self.title),
            escape(&self.subtitle),
            self.body
        )
    }
}

/// A two-column key/value table.
pub fn key_values(rows: &[(&str, String)]) -> String {
    let mut html = String::from("<table class=\"kv\">");
    for (k, v) in rows {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(k),
            escape(v)
        );
    }
    html.push_str("</table>");
    html
}

/// A figure holding an inline SVG chart and a caption.
pub fn figure(svg: &str, caption: &str) -> String {
    format!(
        "<figure>{svg}<figcaption>{}</figcaption></figure>",
        escape(caption)
    )
}

/// A number for display: 4 decimals, or "n/a".
pub fn fixed(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.4}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_control_characters() {
        assert_eq!(
            escape("a<b> & \"c\" 'd'\u{1}"),
            "a&lt;b&gt; &amp; &quot;c&quot; &#39;d&#39;\u{fffd}"
        );
    }

    #[test]
    fn a_report_directory_must_be_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(check_dir(dir.path(), &[]).is_ok());
        assert!(check_dir(&dir.path().join("new"), &[]).is_ok());
        let e = check_dir(&file, &[]).unwrap_err().to_string();
        assert!(e.contains("it is a file"), "{e}");
        let e = check_dir(&file.join("below"), &[]).unwrap_err().to_string();
        assert!(e.contains("parent is a file"), "{e}");
    }
}
