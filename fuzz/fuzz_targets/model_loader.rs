#![no_main]
//! Bytes through the model loader: the fast path (weight arrays cut out before serde) must
//! agree with the plain one on every input, and a model that loads must save and load again.

use libfuzzer_sys::fuzz_target;
use rnn_sentiment::model_file::{from_json, from_json_plain, to_json};

fuzz_target!(|data: &[u8]| {
    let fast = from_json(data);
    let plain = from_json_plain(data);
    match (&fast, &plain) {
        (Ok(a), Ok(b)) => assert_eq!(
            to_json(a).expect("serializes"),
            to_json(b).expect("serializes"),
            "the two loading paths read different models"
        ),
        (Err(a), Err(b)) => assert_eq!(a, b, "the two loading paths give different errors"),
        _ => panic!(
            "one loading path accepts what the other refuses: fast {:?}, plain {:?}",
            fast.as_ref().err(),
            plain.as_ref().err()
        ),
    }
    if let Ok(model) = fast {
        let bytes = to_json(&model).expect("a loaded model serializes");
        if let Err(e) = from_json(&bytes) {
            panic!("a loaded model does not reload after to_json: {e}");
        }
    }
});
