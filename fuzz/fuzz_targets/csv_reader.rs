#![no_main]
//! Arbitrary bytes through the CSV/TSV reader, as a `.csv` and as a `.tsv` file.

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rnn_sentiment::data::{read_labeled_from, CsvOptions};

fuzz_target!(|data: &[u8]| {
    let options = CsvOptions::default();
    let _ = read_labeled_from(data, Path::new("fuzz.csv"), &options);
    let _ = read_labeled_from(data, Path::new("fuzz.tsv"), &options);
});
