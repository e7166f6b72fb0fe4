//! The math kernels the network is built on: matrix products ([`gemm::gemm_bias_rows`]
//! forward, [`gemm::gemm_add`] backward), transposes, the embedding's scatter-add, the
//! vectorised gate math ([`float::Float`]'s `gate_sigmoid`/`gate_tanh`, [`float::fast_exp`]),
//! the per-thread scratch buffers the cells reuse ([`linalg::zeros`], [`linalg::scratch`],
//! [`linalg::recycle`]), and the choice of vector instructions ([`simd::widest_simd`], capped
//! by `RNN_SENTIMENT_SIMD`). Every result is the same bits at every vector width and on every
//! x86-64 CPU: the products fix one order of fused multiply-adds, and nothing calls the C
//! library's math functions, which choose their code by CPU.
//!
//! Everything here is generic over the scalar ([`float::Float`]: `f32` for training and
//! serving, `f64` for the gradient and reference checks) and knows nothing of the model: no
//! cells, parameters, configs or files. The layers above import this one, never the reverse.

pub mod float;
pub mod gemm;
pub mod linalg;
pub mod simd;
#[cfg(test)]
pub(crate) mod target_features;
