//! Labels and classes: whether a file's labels are binary words or K named classes, the order
//! of the classes, and each row's class index.
//!
//! - **Binary**: every label is a binary spelling ([`parse_label`]: 1/0, positive/negative,
//!   pos/neg, true/false; trimmed, any case). Class 0 is negative, 1 positive, as always.
//! - **K classes**: any other label set (three or more distinct labels, or two that are not a
//!   binary pair). Each label is trimmed and is a class name, numbers included ("1".."5").
//!   The order is numeric when every label is an integer, else by name (byte order);
//!   `--classes` fixes the order and makes binary-word labels K classes too.
//!
//! The decision is made once, after the whole training file is read ([`decide_labels`]); the
//! validation file, and `eval`'s data, are then read against those classes ([`assign_labels`]).

use std::collections::BTreeSet;
use std::path::Path;

use super::{parse_label, Example, RawExample, LABEL_HELP, NEGATIVE, POSITIVE};
use crate::error::{Error, Result};
use crate::limits;

/// How labels name classes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelSet {
    /// Binary label words; one logit, sigmoid.
    Binary,
    /// K class names in index order; K logits, softmax.
    Classes(Vec<String>),
}

impl LabelSet {
    /// A model's label set from its class names (empty: binary).
    pub fn of_model(classes: &[String]) -> Self {
        if classes.is_empty() {
            LabelSet::Binary
        } else {
            LabelSet::Classes(classes.to_vec())
        }
    }

    /// The class names (empty for binary labels).
    pub fn classes(&self) -> &[String] {
        match self {
            LabelSet::Binary => &[],
            LabelSet::Classes(names) => names,
        }
    }

    /// Number of classes: 2 for binary labels.
    pub fn count(&self) -> usize {
        match self {
            LabelSet::Binary => 2,
            LabelSet::Classes(names) => names.len(),
        }
    }

    /// The name of class `k` as messages and counts show it.
    pub fn name(&self, k: usize) -> &str {
        match self {
            LabelSet::Binary if k == POSITIVE => "positive",
            LabelSet::Binary => "negative",
            LabelSet::Classes(names) => &names[k],
        }
    }
}

/// Class names for a message: at most 20, then how many more.
pub fn list_classes(classes: &[String]) -> String {
    const LISTED: usize = 20;
    let mut listed: Vec<String> = classes.iter().take(LISTED).cloned().collect();
    if classes.len() > LISTED {
        listed.push(format!("and {} more", classes.len() - LISTED));
    }
    listed.join(", ")
}

/// Checks `--classes` names: trimmed, none empty, none twice, 2 to
/// [`limits::MAX_CLASSES`] of them.
fn checked_forced(forced: &[String]) -> Result<Vec<String>> {
    let names: Vec<String> = forced.iter().map(|n| n.trim().to_string()).collect();
    if let Some(k) = names.iter().position(String::is_empty) {
        return Err(Error::option(
            "classes",
            format!(
                "name {} of {} is empty; give the class names separated by commas, e.g. \
                 --classes neg,neutral,pos",
                k + 1,
                names.len()
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    if let Some(twice) = names.iter().find(|n| !seen.insert(n.as_str())) {
        return Err(Error::option(
            "classes",
            format!("{twice:?} is listed twice; name each class once"),
        ));
    }
    if names.len() < 2 {
        return Err(Error::option(
            "classes",
            format!(
                "{} names one class; a classifier needs at least two",
                list_classes(&names)
            ),
        ));
    }
    if names.len() > limits::MAX_CLASSES {
        return Err(Error::option(
            "classes",
            format!(
                "{} classes are more than the limit of {} (limits::MAX_CLASSES)",
                names.len(),
                limits::MAX_CLASSES
            ),
        ));
    }
    Ok(names)
}

/// Decides, from every row of the training file at `path`, whether its labels are binary or
/// K named classes and in which order; `forced` is `--classes` (empty: decided by the data).
/// Errors: a label empty after trimming, one class only, more than [`limits::MAX_CLASSES`].
/// A label missing from `forced` is found by [`assign_labels`].
pub fn decide_labels(rows: &[RawExample], forced: &[String], path: &Path) -> Result<LabelSet> {
    if !forced.is_empty() {
        return Ok(LabelSet::Classes(checked_forced(forced)?));
    }
    if rows.iter().all(|r| parse_label(&r.label).is_some()) {
        return Ok(LabelSet::Binary);
    }
    if let Some(row) = rows.iter().find(|r| r.label.trim().is_empty()) {
        return Err(Error::DataLine {
            path: path.to_path_buf(),
            line: row.line,
            message: format!(
                "label {:?} is empty after trimming; every row needs a class name",
                row.label
            ),
        });
    }
    let distinct: BTreeSet<&str> = rows.iter().map(|r| r.label.trim()).collect();
    let file_error = |message: String| Error::DataFile {
        path: path.to_path_buf(),
        message,
    };
    if distinct.len() > limits::MAX_CLASSES {
        return Err(file_error(format!(
            "{} distinct labels are more than the limit of {} classes (limits::MAX_CLASSES); \
             is the label column (--label-column) the right one?",
            distinct.len(),
            limits::MAX_CLASSES
        )));
    }
    if distinct.len() == 1 {
        return Err(file_error(format!(
            "every row has label {:?}; a classifier needs examples of at least two classes",
            distinct.first().expect("one label")
        )));
    }
    let mut names: Vec<String> = distinct.into_iter().map(str::to_string).collect();
    // All integers ("1".."5" stars): numeric order, "10" after "9" (ties such as "01" and "1"
    // by name). Otherwise the BTreeSet's order: by name, byte for byte.
    let numbers: Option<Vec<i64>> = names.iter().map(|n| n.parse::<i64>().ok()).collect();
    if let Some(numbers) = numbers {
        let mut pairs: Vec<(i64, String)> = numbers.into_iter().zip(names).collect();
        pairs.sort();
        names = pairs.into_iter().map(|(_, n)| n).collect();
    }
    Ok(LabelSet::Classes(names))
}

/// Each row's class index under `labels`. A label that is not a class is an error naming the
/// file, the line, the label and `whose` classes they are (e.g. "the model's classes").
pub fn assign_labels(
    rows: Vec<RawExample>,
    labels: &LabelSet,
    path: &Path,
    whose: &str,
) -> Result<Vec<Example>> {
    let line_error = |line: u64, message: String| Error::DataLine {
        path: path.to_path_buf(),
        line,
        message,
    };
    let index: std::collections::BTreeMap<&str, usize> = labels
        .classes()
        .iter()
        .enumerate()
        .map(|(k, name)| (name.as_str(), k))
        .collect();
    rows.into_iter()
        .map(|row| {
            let label = match labels {
                LabelSet::Binary => match parse_label(&row.label) {
                    Some(true) => POSITIVE,
                    Some(false) => NEGATIVE,
                    None => {
                        return Err(line_error(
                            row.line,
                            format!("unknown label {:?}; {LABEL_HELP}", row.label),
                        ))
                    }
                },
                LabelSet::Classes(names) => match index.get(row.label.trim()) {
                    Some(&k) => k,
                    None => {
                        return Err(line_error(
                            row.line,
                            format!(
                                "label {:?} is not one of {whose}: {}",
                                row.label.trim(),
                                list_classes(names)
                            ),
                        ))
                    }
                },
            };
            Ok(Example {
                text: row.text,
                label,
                line: row.line,
            })
        })
        .collect()
}

/// Rows per class, in class order (`classes` entries).
pub fn class_counts(examples: &[Example], classes: usize) -> Vec<usize> {
    let mut counts = vec![0; classes];
    for e in examples {
        if let Some(c) = counts.get_mut(e.label) {
            *c += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(labels: &[&str]) -> Vec<RawExample> {
        labels
            .iter()
            .enumerate()
            .map(|(i, l)| RawExample {
                text: format!("text {i}"),
                label: l.to_string(),
                line: i as u64 + 2,
            })
            .collect()
    }

    fn decide(labels: &[&str], forced: &[&str]) -> Result<LabelSet> {
        let forced: Vec<String> = forced.iter().map(|s| s.to_string()).collect();
        decide_labels(&rows(labels), &forced, Path::new("d.csv"))
    }

    fn names(set: LabelSet) -> Vec<String> {
        set.classes().to_vec()
    }

    #[test]
    fn binary_words_stay_binary_and_other_sets_are_classes() {
        assert_eq!(
            decide(&["1", "0", " POS ", "negative"], &[]).unwrap(),
            LabelSet::Binary
        );
        // One class of binary words is still binary (training refuses it, as always).
        assert_eq!(decide(&["1", "1"], &[]).unwrap(), LabelSet::Binary);
        assert_eq!(
            names(decide(&["yes", "no", "yes"], &[]).unwrap()),
            ["no", "yes"]
        );
        assert_eq!(
            names(decide(&["1", "0", "2"], &[]).unwrap()),
            ["0", "1", "2"]
        );
        assert_eq!(
            names(decide(&["pos", " neutral", "neg "], &[]).unwrap()),
            ["neg", "neutral", "pos"]
        );
    }

    #[test]
    fn integer_labels_sort_numerically_others_by_name() {
        let stars = ["10", "9", "1", "-2", "3"];
        assert_eq!(
            names(decide(&stars, &[]).unwrap()),
            ["-2", "1", "3", "9", "10"]
        );
        assert_eq!(
            names(decide(&["10", "9", "x"], &[]).unwrap()),
            ["10", "9", "x"]
        );
        assert_eq!(
            names(decide(&["0.5", "1", "0"], &[]).unwrap()),
            ["0", "0.5", "1"]
        );
    }

    #[test]
    fn forced_classes_fix_order_and_force_k_classes() {
        let set = decide(&["1", "0"], &["1", " 0"]).unwrap();
        assert_eq!(names(set.clone()), ["1", "0"]);
        let examples =
            assign_labels(rows(&["1", "0 "]), &set, Path::new("d.csv"), "--classes").unwrap();
        assert_eq!(examples.iter().map(|e| e.label).collect::<Vec<_>>(), [0, 1]);
        let e = assign_labels(rows(&["1", "2"]), &set, Path::new("d.csv"), "--classes")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("d.csv, line 3") && e.contains("\"2\"") && e.contains("--classes: 1, 0"),
            "{e}"
        );
        for (forced, fragment) in [
            (&["a", "b", "a"][..], "\"a\" is listed twice"),
            (&["a", " ", "b"][..], "name 2 of 3 is empty"),
            (&["a"][..], "one class"),
        ] {
            let e = decide(&["a", "b"], forced).unwrap_err().to_string();
            assert!(
                e.contains("invalid value for classes") && e.contains(fragment),
                "{e}"
            );
        }
    }

    #[test]
    fn bad_label_sets_are_named() {
        let e = decide(&["a", " ", "b"], &[]).unwrap_err().to_string();
        assert!(e.contains("d.csv, line 3") && e.contains("empty"), "{e}");
        let e = decide(&["maybe", "maybe"], &[]).unwrap_err().to_string();
        assert!(
            e.contains("d.csv") && e.contains("\"maybe\"") && e.contains("two classes"),
            "{e}"
        );
        let many: Vec<String> = (0..=limits::MAX_CLASSES).map(|i| format!("c{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let e = decide(&many, &[]).unwrap_err().to_string();
        assert!(
            e.contains("1001 distinct labels") && e.contains("1000"),
            "{e}"
        );
        let e = assign_labels(rows(&["1", "2"]), &LabelSet::Binary, Path::new("d.csv"), "")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 3") && e.contains("unknown label \"2\"; use 1/0"),
            "{e}"
        );
    }
}
