//! rnn-sentiment: sentiment classifiers (binary, or K named classes) built from recurrent
//! networks.
//!
//! The pipeline: text -> [`text::Tokenizer`] -> [`text::Vocab`] -> id sequences padded into a
//! [`batch::Batch`] with their lengths -> embedding -> RNN | LSTM | GRU -> the hidden state
//! after each row's last real token (or another pooling) -> linear -> sigmoid of one logit
//! (binary) or softmax over K logits (K classes). The math follows `torch.nn.RNN`,
//! `nn.LSTM` and `nn.GRU` exactly, with PyTorch's parameter names, shapes and gate orders, so
//! a model file loads into PyTorch and gives the same probabilities.
//!
//! Shape letters used in comments throughout: B rows in a batch, T steps (the longest row),
//! N real tokens in a batch (packed), V vocabulary size, E embedding size, H hidden size,
//! G gate blocks (RNN 1, LSTM 4, GRU 3), K outputs of the head (1 for a binary model, else the
//! number of classes).
//!
//! The library never prints; the binary (`src/cli.rs`) does.

pub mod batch;
pub mod checkpointing;
pub mod config;
pub mod data;
pub mod embeddings;
pub mod error;
pub mod files;
pub mod kernels;
pub mod limits;
pub mod lm;
pub mod metrics;
pub mod model;
pub mod model_file;
pub mod optim;
pub mod report;
pub mod rng;
pub mod row_grads;
pub mod sentiment;
pub mod text;
pub mod train;
pub mod training_info;

pub use error::{Error, Result};
