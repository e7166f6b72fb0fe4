//! Language-model pretraining on unlabeled text: the classifier's embedding and recurrent
//! layers learn to predict the next token (forward direction) and the previous one (reverse
//! direction) over a continuous stream of texts, so that `train --init` can start from them.
//!
//! - [`corpus`]: texts counted and stored as one stream with end-of-text tokens, in one
//!   pass; [`store`] keeps the stream in memory up to a bound, in a temporary file beyond;
//! - [`stream`]: the stream cut into B rows and chunks of T steps (truncated BPTT);
//! - [`model`]: the network, one language model per direction, with carried states;
//! - [`head`]: the decoder over the vocabulary, full and sampled softmax losses;
//! - [`sampler`]: the negative sampler of the sampled softmax;
//! - [`objective`]: a step's mean loss and gradients, and validation likelihood;
//! - [`options`]: what the command line and a config file set, and the limits on it;
//! - [`trainer`]: epochs, shards, Adam, validation perplexity and early stopping;
//! - [`checkpoint`]: the state an interrupted run continues from;
//! - [`info`]: what the model file records of a pretraining run;
//! - [`vectors`]: word vectors (`pretrain --embeddings`) for the embedding's first values.

pub mod checkpoint;
pub mod corpus;
pub mod head;
pub mod info;
pub mod model;
pub mod objective;
pub mod options;
pub mod sampler;
pub mod store;
pub mod stream;
pub mod trainer;
pub mod vectors;
