//! Pretrained word vectors (placeholder: being written).
