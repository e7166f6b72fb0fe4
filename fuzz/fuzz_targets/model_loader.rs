#![no_main]
//! Bytes through the model loader; a model that loads must save and load again.

use libfuzzer_sys::fuzz_target;
use rnn_sentiment::checkpoint::{from_json, to_json};

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = from_json(data) {
        let bytes = to_json(&model).expect("a loaded model serializes");
        if let Err(e) = from_json(&bytes) {
            panic!("a loaded model does not reload after to_json: {e}");
        }
    }
});
