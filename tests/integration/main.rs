//! The integration tests, built into one test binary: PyTorch reference values, finite
//! difference gradient checks, padding invariance, the model file, and the command line.

mod bad_input;
mod cli;
mod common;
mod crash_safety;
mod ergonomics;
mod explain;
mod fuzz_regressions;
mod gradcheck;
mod hardening;
mod model_file;
mod padding;
mod properties;
mod reference;
mod report;
mod resume;
