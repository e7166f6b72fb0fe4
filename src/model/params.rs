//! Parameters: named, contiguous tensors in PyTorch's `state_dict` layout.
//!
//! Every parameter is one row-major `Vec` with a shape and a PyTorch name. Gradients use the
//! same [`Params`] type, so the optimizer, gradient clipping, checkpointing and the model file
//! all walk one list ([`Params::tensors`]) in one fixed order.

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2};

use crate::config::{CellKind, ModelConfig};
use crate::float::Float;
use crate::rng::Rng;

/// A dense row-major tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor<F> {
    pub shape: Vec<usize>,
    pub data: Vec<F>,
}

impl<F: Float> Tensor<F> {
    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Self {
            shape: shape.to_vec(),
            data: vec![F::zero(); shape.iter().product()],
        }
    }

    /// Values drawn from `U(-bound, bound)`, PyTorch's default for recurrent and linear layers.
    pub fn uniform(shape: &[usize], bound: f64, rng: &mut Rng) -> Self {
        let n = shape.iter().product();
        Self {
            shape: shape.to_vec(),
            data: (0..n)
                .map(|_| F::of(rng.uniform_in(-bound, bound)))
                .collect(),
        }
    }

    /// The tensor as a matrix: `shape[0]` rows by the product of the other dimensions.
    pub fn matrix(&self) -> ArrayView2<'_, F> {
        let (rows, cols) = self.rows_cols();
        ArrayView2::from_shape((rows, cols), &self.data).expect("tensor data matches its shape")
    }

    /// Mutable [`Tensor::matrix`].
    pub fn matrix_mut(&mut self) -> ArrayViewMut2<'_, F> {
        let (rows, cols) = self.rows_cols();
        ArrayViewMut2::from_shape((rows, cols), &mut self.data)
            .expect("tensor data matches its shape")
    }

    /// The tensor as a flat vector.
    pub fn vector(&self) -> ArrayView1<'_, F> {
        ArrayView1::from(&self.data[..])
    }

    /// Mutable [`Tensor::vector`].
    pub fn vector_mut(&mut self) -> ArrayViewMut1<'_, F> {
        ArrayViewMut1::from(&mut self.data[..])
    }

    /// Converts every element to another float type.
    pub fn cast<G: Float>(&self) -> Tensor<G> {
        Tensor {
            shape: self.shape.clone(),
            data: self.data.iter().map(|x| G::of(x.to_f64_exact())).collect(),
        }
    }

    fn rows_cols(&self) -> (usize, usize) {
        let rows = self.shape.first().copied().unwrap_or(1);
        let cols = self.shape.iter().skip(1).product();
        (rows, cols)
    }
}

/// The weights of one recurrent layer, as in `torch.nn.RNN/LSTM/GRU` (G gates: 1, 4 or 3).
#[derive(Clone, Debug, PartialEq)]
pub struct CellParams<F> {
    /// `weight_ih_l0`, (G*H, E): input-to-hidden weights, gate blocks stacked in PyTorch order.
    pub w_ih: Tensor<F>,
    /// `weight_hh_l0`, (G*H, H): hidden-to-hidden weights.
    pub w_hh: Tensor<F>,
    /// `bias_ih_l0`, (G*H).
    pub b_ih: Tensor<F>,
    /// `bias_hh_l0`, (G*H).
    pub b_hh: Tensor<F>,
}

/// All parameters of the classifier (or, with the same layout, their gradients).
#[derive(Clone, Debug, PartialEq)]
pub struct Params<F> {
    /// `embedding.weight`, (V, E). Row 0 is `<pad>`: initialised to zero and never updated.
    pub embedding: Tensor<F>,
    /// `rnn.*_l0`.
    pub rnn: CellParams<F>,
    /// `fc.weight`, (1, H).
    pub fc_weight: Tensor<F>,
    /// `fc.bias`, (1).
    pub fc_bias: Tensor<F>,
}

/// The PyTorch `state_dict` names, in the order [`Params::tensors`] yields them.
pub const PARAM_NAMES: [&str; 7] = [
    "embedding.weight",
    "rnn.weight_ih_l0",
    "rnn.weight_hh_l0",
    "rnn.bias_ih_l0",
    "rnn.bias_hh_l0",
    "fc.weight",
    "fc.bias",
];

impl<F: Float> Params<F> {
    /// Zeros with the shapes `config` implies (the starting point of a gradient buffer).
    pub fn zeros(config: &ModelConfig) -> Self {
        let shapes = expected_shapes(config);
        let t = |i: usize| Tensor::zeros(&shapes[i]);
        Self {
            embedding: t(0),
            rnn: CellParams {
                w_ih: t(1),
                w_hh: t(2),
                b_ih: t(3),
                b_hh: t(4),
            },
            fc_weight: t(5),
            fc_bias: t(6),
        }
    }

    /// PyTorch's default initialisation:
    /// - embedding ~ N(0, 1) (`nn.Embedding`), with the `<pad>` row zero (`padding_idx=0`);
    /// - every recurrent weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)) (`nn.RNN/LSTM/GRU`);
    /// - `fc` weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)) (`nn.Linear` with fan-in H).
    ///
    /// With `config.forget_bias` set (an LSTM option, on by default), the forget-gate slice of
    /// `bias_ih_l0` is set to that value and the one of `bias_hh_l0` to 0, so the sum the cell
    /// sees is exactly `forget_bias` (Jozefowicz et al. 2015; Keras' `unit_forget_bias`).
    pub fn init(config: &ModelConfig, rng: &mut Rng) -> Self {
        let shapes = expected_shapes(config);
        let h = config.hidden_dim;
        let bound = 1.0 / (h as f64).sqrt();
        let mut embedding = Tensor {
            shape: shapes[0].clone(),
            data: (0..shapes[0].iter().product::<usize>())
                .map(|_| F::of(rng.normal()))
                .collect(),
        };
        embedding.data[..config.embed_dim].fill(F::zero());
        let mut rnn = CellParams {
            w_ih: Tensor::uniform(&shapes[1], bound, rng),
            w_hh: Tensor::uniform(&shapes[2], bound, rng),
            b_ih: Tensor::uniform(&shapes[3], bound, rng),
            b_hh: Tensor::uniform(&shapes[4], bound, rng),
        };
        if let (CellKind::Lstm, Some(forget)) = (config.cell, config.forget_bias) {
            // Gate order i, f, g, o: the forget gate is the second block of H.
            rnn.b_ih.data[h..2 * h].fill(F::of(forget));
            rnn.b_hh.data[h..2 * h].fill(F::zero());
        }
        Self {
            embedding,
            rnn,
            fc_weight: Tensor::uniform(&shapes[5], bound, rng),
            fc_bias: Tensor::uniform(&shapes[6], bound, rng),
        }
    }

    /// The tensors in [`PARAM_NAMES`] order.
    pub fn tensors(&self) -> [&Tensor<F>; 7] {
        [
            &self.embedding,
            &self.rnn.w_ih,
            &self.rnn.w_hh,
            &self.rnn.b_ih,
            &self.rnn.b_hh,
            &self.fc_weight,
            &self.fc_bias,
        ]
    }

    /// Mutable [`Params::tensors`].
    pub fn tensors_mut(&mut self) -> [&mut Tensor<F>; 7] {
        [
            &mut self.embedding,
            &mut self.rnn.w_ih,
            &mut self.rnn.w_hh,
            &mut self.rnn.b_ih,
            &mut self.rnn.b_hh,
            &mut self.fc_weight,
            &mut self.fc_bias,
        ]
    }

    /// `(name, tensor)` pairs in canonical order.
    pub fn named(&self) -> impl Iterator<Item = (&'static str, &Tensor<F>)> {
        PARAM_NAMES.into_iter().zip(self.tensors())
    }

    /// Builds parameters from tensors given in [`PARAM_NAMES`] order.
    pub fn from_tensors(tensors: [Tensor<F>; 7]) -> Self {
        let [embedding, w_ih, w_hh, b_ih, b_hh, fc_weight, fc_bias] = tensors;
        Self {
            embedding,
            rnn: CellParams {
                w_ih,
                w_hh,
                b_ih,
                b_hh,
            },
            fc_weight,
            fc_bias,
        }
    }

    /// Sets every element to zero (gradients are zeroed here, then accumulated by backward).
    pub fn fill_zero(&mut self) {
        for t in self.tensors_mut() {
            t.data.fill(F::zero());
        }
    }

    /// Total number of scalars.
    pub fn len(&self) -> usize {
        self.tensors().iter().map(|t| t.data.len()).sum()
    }

    /// True when there are no scalars at all (never for a valid config).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Converts every tensor to another float type.
    pub fn cast<G: Float>(&self) -> Params<G> {
        Params::from_tensors(self.tensors().map(Tensor::cast))
    }

    /// True when every element is finite.
    pub fn all_finite(&self) -> bool {
        self.tensors()
            .iter()
            .all(|t| t.data.iter().all(|x| x.is_finite()))
    }
}

/// The shape of each parameter, in [`PARAM_NAMES`] order, for a model configuration.
pub fn expected_shapes(config: &ModelConfig) -> [Vec<usize>; 7] {
    let (v, e, h) = (config.vocab_size, config.embed_dim, config.hidden_dim);
    let gh = config.cell.gates() * h;
    [
        vec![v, e],
        vec![gh, e],
        vec![gh, h],
        vec![gh],
        vec![gh],
        vec![1, h],
        vec![1],
    ]
}
