#![no_main]
//! UTF-8 input through the config-file parser.

use libfuzzer_sys::fuzz_target;
use rnn_sentiment::config::ConfigFile;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ConfigFile::parse(text);
    }
});
