//! The integration tests, built into one test binary: PyTorch reference values, finite
//! difference gradient checks, padding invariance, the model file (plain and gzip), the command
//! line, and the same results at every level of vector instructions.

mod bad_input;
mod batch_predict;
mod cli;
mod common;
mod crash_safety;
mod ergonomics;
mod explain;
mod finetune;
mod fuzz_regressions;
mod gradcheck;
mod gzip;
mod hardening;
mod k_class_cli;
mod k_classes;
mod lm_gradcheck;
mod lm_reference;
mod model_file;
mod newcomer;
mod padding;
mod pretrain;
mod pretrain_resume;
mod properties;
mod reference;
mod report;
mod resume;
mod serve;
mod simd_levels;
mod terminal;

/// The README's test command must run the library's `debug_assert!`s (shape checks, the
/// scratch buffers' NaN poisoning): this fails when the test build has them off, as
/// `cargo test --release` does.
#[test]
#[allow(clippy::assertions_on_constants)] // constant per build: that is what it checks
fn debug_assertions_are_on() {
    assert!(
        cfg!(debug_assertions),
        "debug assertions are off in this test build; run the tests with `cargo test --profile ci`"
    );
}
