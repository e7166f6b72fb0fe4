//! The TOML configuration file of `train`: every key is optional and sets the option of the
//! same name ([`TrainOptions`]); the command line overrides the file. A file is checked whole
//! when it is read: unknown keys (with the closest valid key suggested), values of the wrong
//! type and values out of range are errors naming the key and its line.

use serde_json::{Map, Value};

use super::TrainOptions;
use crate::error::{Error, Result};
use crate::limits;
use std::path::Path;

/// A checked config file: the keys it sets and their values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConfigFile {
    values: Map<String, Value>,
}

impl ConfigFile {
    /// Reads and parses a TOML file; errors name the file, line and key.
    pub fn load(path: &Path) -> Result<Self> {
        load_with(path, Self::parse)
    }

    /// Parses TOML text and checks every key and value.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let values = parse_table(text, TrainOptions::keys(), "config.example.toml")?;
        let located = |key: &str, message: String| located(text, key, message);
        let file = Self { values };
        let options = TrainOptions::default()
            .with(file.values())
            .map_err(|(key, message)| located(&key, message))?;
        options.to_config().map_err(|e| located_error(text, e))?;
        // As on the command line, a path or a column name may not be empty.
        let texts = [
            ("output", options.output.to_str()),
            ("report", options.report.as_deref().and_then(Path::to_str)),
            ("valid", options.valid.as_deref().and_then(Path::to_str)),
            (
                "embeddings",
                options.embeddings.as_deref().and_then(Path::to_str),
            ),
            ("init", options.init.as_deref().and_then(Path::to_str)),
            ("text_column", Some(options.text_column.as_str())),
            ("label_column", Some(options.label_column.as_str())),
        ];
        for (key, value) in texts {
            if file.values.contains_key(key) && value.is_some_and(|v| v.trim().is_empty()) {
                return Err(located(key, "it is empty".into()));
            }
        }
        Ok(file)
    }

    /// Whether this file sets `key`.
    pub fn sets(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// The keys this file sets, with their values (as JSON values).
    pub fn values(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The default options with every key of this file applied.
    pub fn options(&self) -> TrainOptions {
        TrainOptions::default()
            .with(self.values())
            .expect("a config file's values were checked when it was read")
    }
}

/// Reads the config file at `path` (within [`limits::MAX_CONFIG_BYTES`], UTF-8) and parses
/// it with `parse`; errors name the file.
pub(crate) fn load_with<T>(
    path: &Path,
    parse: impl FnOnce(&str) -> std::result::Result<T, String>,
) -> Result<T> {
    let error = |message: String| Error::ConfigFile {
        path: path.to_path_buf(),
        message,
    };
    let bytes = crate::files::read_limited(path, limits::MAX_CONFIG_BYTES, "config file")?;
    let text = String::from_utf8(bytes).map_err(|e| {
        error(format!(
            "not UTF-8 text (bad byte at offset {}); a config file is TOML text",
            e.utf8_error().valid_up_to()
        ))
    })?;
    parse(&text).map_err(error)
}

/// An error of the options a file sets, as a message: an option out of range names the key
/// (the option's name, `--embed-dim` or `embed-dim`, written as a key) and its line.
pub(crate) fn located_error(text: &str, error: Error) -> String {
    match error {
        Error::InvalidOption { name, message } => {
            let key = name.trim_start_matches('-').replace('-', "_");
            located(text, &key, message)
        }
        other => other.to_string(),
    }
}

/// Reads a config file's TOML `text` as JSON values by key, refusing a key not in `keys`
/// (suggesting the closest, and `example`, the file that lists them all) and a float that
/// is not finite. The one reader of every command's config file.
pub(crate) fn parse_table(
    text: &str,
    keys: &[&str],
    example: &str,
) -> std::result::Result<Map<String, Value>, String> {
    // toml's message spans several lines with a source excerpt; keep it, trimmed.
    let toml_message = |e: toml::de::Error| e.to_string().trim_end().to_string();
    let table: toml::Table = toml::from_str(text).map_err(toml_message)?;
    if let Some(message) = unknown_key_message(text, &table, keys, example) {
        return Err(message);
    }
    // JSON, the medium of the merge, has no NaN or infinity: refuse them here, by name.
    for (key, value) in &table {
        if let toml::Value::Float(x) = value {
            if !x.is_finite() {
                return Err(located(text, key, format!("{x} is not a finite number")));
            }
        }
    }
    match serde_json::to_value(&table) {
        Ok(Value::Object(values)) => Ok(values),
        _ => Err("not a table of keys and values".into()),
    }
}

/// `message` about the value of `key`, prefixed by the line of `text` that sets it. A bad
/// value is the file's fault even if the command line would override it: name the key and
/// its line rather than an option the user never typed.
pub(crate) fn located(text: &str, key: &str, message: String) -> String {
    let location = key_line(text, key).map_or(String::new(), |l| format!("line {l}: "));
    format!("{location}invalid value for {key}: {message}")
}

/// The message for the first unknown key of `table` (in file order), if there is one.
fn unknown_key_message(
    text: &str,
    table: &toml::Table,
    keys: &[&str],
    example: &str,
) -> Option<String> {
    let unknown: std::collections::BTreeSet<&str> = table
        .keys()
        .map(String::as_str)
        .filter(|k| !keys.contains(k))
        .collect();
    // The first unknown key in file order, found in one pass over the lines (a file of many
    // unknown keys must not cost a pass per key).
    let (line, key) = text
        .lines()
        .enumerate()
        .find_map(|(i, l)| {
            line_key(l)
                .and_then(|k| unknown.get(k))
                .map(|&k| (Some(i + 1), k))
        })
        .or_else(|| unknown.first().map(|&k| (None, k)))?;
    let location = line.map_or(String::new(), |l| format!("line {l}: "));
    let more = match unknown.len() - 1 {
        0 => String::new(),
        n => format!(" ({n} more unknown key{})", if n == 1 { "" } else { "s" }),
    };
    let hint = if table[key].is_table() {
        " (keys go at the top level of the file, not in a [section])".to_string()
    } else {
        String::new()
    };
    Some(match closest(key, keys) {
        Some(best) => format!(
            "{location}unknown key `{key}`{hint}; did you mean `{best}`?{more} \
             ({example} lists every key)"
        ),
        None => format!(
            "{location}unknown key `{key}`{hint}{more}; the keys are {}",
            keys.iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// The key a line defines: `key = ...`, `"key" = ...`, `'key' = ...` or `[key]`, `key.sub`.
fn line_key(line: &str) -> Option<&str> {
    let line = line.trim_start();
    let line = line.strip_prefix('[').unwrap_or(line);
    let (key, rest) = match line.chars().next()? {
        q @ ('"' | '\'') => {
            let end = line[1..].find(q)? + 1;
            (&line[1..end], &line[end + 1..])
        }
        _ => {
            let end = line
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(line.len());
            line.split_at(end)
        }
    };
    let rest = rest.trim_start();
    (!key.is_empty() && (rest.starts_with('=') || rest.starts_with(']') || rest.starts_with('.')))
        .then_some(key)
}

/// The 1-based line where `key` is defined (a bare or quoted key, or a `[key]` table).
fn key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            let rest = [key.to_string(), format!("\"{key}\""), format!("'{key}'")]
                .iter()
                .find_map(|k| {
                    line.strip_prefix(k.as_str()).or_else(|| {
                        line.strip_prefix('[')
                            .and_then(|l| l.strip_prefix(k.as_str()))
                    })
                });
            rest.is_some_and(|r| {
                let r = r.trim_start();
                r.starts_with('=') || r.starts_with(']') || r.starts_with('.')
            })
        })
        .map(|i| i + 1)
}

/// The known key closest to `key` by edit distance, if it is close enough to be a typo.
fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let normalized = key.to_ascii_lowercase().replace('-', "_");
    known
        .iter()
        .map(|&k| (edit_distance(&normalized, k), k))
        .min()
        .filter(|&(d, k)| d <= 2.max(k.len() / 3))
        .map(|(_, k)| k)
}

/// Levenshtein distance (insertions, deletions, substitutions) over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CellKind, ForgetBias};

    #[test]
    fn config_file_parses_and_rejects_unknown_keys() {
        let c = ConfigFile::parse("cell = \"gru\"\nepochs = 3\nforget_bias = \"none\"\n")
            .unwrap()
            .options();
        assert_eq!(
            (c.cell, c.epochs, c.forget_bias),
            (CellKind::Gru, 3, ForgetBias(None))
        );
        let c = ConfigFile::parse("forget_bias = 2.0").unwrap().options();
        assert_eq!(c.forget_bias, ForgetBias(Some(2.0)));
        let err = ConfigFile::parse("epoch = 3").unwrap_err();
        assert!(err.contains("epoch"), "{err}");
        let err = ConfigFile::parse("epochs = \"three\"").unwrap_err();
        assert!(err.contains("epochs"), "{err}");
    }

    #[test]
    fn unknown_keys_get_the_closest_suggestion_and_a_line() {
        let err = ConfigFile::parse("epochs = 3\nhiden_dim = 64\n").unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("did you mean `hidden_dim`?"),
            "{err}"
        );
        let err = ConfigFile::parse("batch-size = 8").unwrap_err();
        assert!(err.contains("did you mean `batch_size`?"), "{err}");
        let err = ConfigFile::parse("[train]\nepochs = 3\n").unwrap_err();
        assert!(
            err.contains("line 1") && err.contains("[section]") && err.contains("`epochs`"),
            "{err}"
        );
        let keys = TrainOptions::keys();
        assert!(
            keys.contains(&"hidden_dim") && keys.contains(&"quiet"),
            "{keys:?}"
        );
        assert_eq!(edit_distance("hiden_dim", "hidden_dim"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(closest("zzzzzzzz", keys), None);
    }

    #[test]
    fn bad_values_in_a_file_name_the_key_and_line() {
        let err = ConfigFile::parse("cell = \"gru\"\nepochs = 0\n").unwrap_err();
        assert!(
            err.contains("line 2: invalid value for epochs: must be at least 1"),
            "{err}"
        );
        let err = ConfigFile::parse("max_len = 0").unwrap_err();
        assert!(err.contains("line 1: invalid value for max_len"), "{err}");
        let err = ConfigFile::parse("delimiter = \"::\"").unwrap_err();
        assert!(err.contains("line 1: invalid value for delimiter"), "{err}");
        let file = ConfigFile::parse("lr = 0.5\nforget_bias = \"none\"\nmax_len = 7").unwrap();
        let c = file.options().to_config().unwrap();
        assert_eq!((c.lr, c.forget_bias, c.tokenizer.max_len), (0.5, None, 7));
    }
}
