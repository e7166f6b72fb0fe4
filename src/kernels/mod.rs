//! The math kernels the network is built on: matrix products ([`linalg::gemm_bias_rows`]
//! forward, [`linalg::gemm_add`] backward), transposes, the embedding's scatter-add, the
//! vectorised gate math ([`float::Float`]'s `gate_sigmoid`/`gate_tanh`, [`float::fast_exp`],
//! run under [`simd::widest_simd`], whose level `RNN_SENTIMENT_SIMD` caps) and the per-thread scratch buffers the cells reuse
//! ([`linalg::zeros`], [`linalg::scratch`], [`linalg::recycle`]).
//!
//! Everything here is generic over the scalar ([`float::Float`]: `f32` for training and
//! serving, `f64` for the gradient and reference checks) and knows nothing of the model: no
//! cells, parameters, configs or files. The layers above import this one, never the reverse.

pub mod float;
pub mod linalg;
pub mod simd;
#[cfg(test)]
pub(crate) mod target_features;
