//! Parameters: named, contiguous tensors in PyTorch's `state_dict` layout.
//!
//! Every parameter is one row-major `Vec` with a shape and a PyTorch name. Gradients use the
//! same [`Params`] type, so the optimizer, gradient clipping, checkpointing and the model file
//! all walk one list ([`Params::tensors`]) in one fixed order, named by [`expected_shapes`].

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2};

use crate::config::{CellKind, ModelConfig};
use crate::kernels::float::Float;
use crate::rng::Rng;

/// A dense row-major tensor.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
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

    /// Rows `ids` of the tensor as a matrix, stacked: `(ids.len(), columns)` (an embedding
    /// lookup).
    pub fn gather_rows(&self, ids: &[u32]) -> ndarray::Array2<F> {
        let width = self.rows_cols().1;
        crate::kernels::linalg::stack_rows(
            ids.len(),
            width,
            ids.iter().map(|&id| {
                let start = id as usize * width;
                debug_assert!(start < self.data.len(), "row {id} outside the tensor");
                &self.data[start..start + width]
            }),
        )
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

/// The weights of one recurrent layer in one direction, as in `torch.nn.RNN/LSTM/GRU`
/// (G gates: 1, 4 or 3; I input width: E for layer 0, D*H above).
#[derive(Clone, Debug, PartialEq)]
pub struct CellParams<F> {
    /// `weight_ih_l{k}`, (G*H, I): input-to-hidden weights, gate blocks in PyTorch order.
    pub w_ih: Tensor<F>,
    /// `weight_hh_l{k}`, (G*H, H): hidden-to-hidden weights.
    pub w_hh: Tensor<F>,
    /// `bias_ih_l{k}`, (G*H).
    pub b_ih: Tensor<F>,
    /// `bias_hh_l{k}`, (G*H).
    pub b_hh: Tensor<F>,
}

/// All parameters of the classifier (or, with the same layout, their gradients).
#[derive(Clone, Debug, PartialEq)]
pub struct Params<F> {
    /// `embedding.weight`, (V, E). Row 0 is `<pad>`: initialised to zero and never updated.
    pub embedding: Tensor<F>,
    /// `rnn.*_l{k}` and `rnn.*_l{k}_reverse`: index `k * D + d` for layer k, direction d
    /// (0 forward, 1 reverse).
    pub rnn: Vec<CellParams<F>>,
    /// `fc.weight`, (K, P): P is the pooled width, K the head's outputs (1 for a binary
    /// model, else the number of classes).
    pub fc_weight: Tensor<F>,
    /// `fc.bias`, (K).
    pub fc_bias: Tensor<F>,
}

/// The PyTorch `state_dict` names and shapes of every parameter of a model configuration, in
/// the order [`Params::tensors`] yields them: embedding, then per layer and direction
/// `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh` (PyTorch's order), then `fc`.
pub fn expected_shapes(config: &ModelConfig) -> Vec<(String, Vec<usize>)> {
    let (e, h) = (config.embed_dim, config.hidden_dim);
    let gh = config.cell.gates() * h;
    let mut shapes = vec![("embedding.weight".to_string(), vec![config.vocab_size, e])];
    for layer in 0..config.layers {
        for direction in 0..config.directions() {
            let suffix = format!("l{layer}{}", if direction == 1 { "_reverse" } else { "" });
            let input = config.layer_input_dim(layer);
            shapes.push((format!("rnn.weight_ih_{suffix}"), vec![gh, input]));
            shapes.push((format!("rnn.weight_hh_{suffix}"), vec![gh, h]));
            shapes.push((format!("rnn.bias_ih_{suffix}"), vec![gh]));
            shapes.push((format!("rnn.bias_hh_{suffix}"), vec![gh]));
        }
    }
    let k = config.outputs();
    shapes.push(("fc.weight".to_string(), vec![k, config.head_dim()]));
    shapes.push(("fc.bias".to_string(), vec![k]));
    shapes
}

impl<F: Float> Params<F> {
    /// Zeros with the shapes `config` implies (the starting point of a gradient buffer).
    pub fn zeros(config: &ModelConfig) -> Self {
        Self::from_tensors(
            expected_shapes(config)
                .iter()
                .map(|(_, shape)| Tensor::zeros(shape))
                .collect(),
        )
    }

    /// PyTorch's default initialisation:
    /// - embedding ~ N(0, 1) (`nn.Embedding`), with the `<pad>` row zero (`padding_idx=0`);
    /// - every recurrent weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)) (`nn.RNN/LSTM/GRU`);
    /// - `fc` weight and bias ~ U(-1/sqrt(P), 1/sqrt(P)) (`nn.Linear` with fan-in P).
    ///
    /// With `config.forget_bias` set (an LSTM option, on by default), the forget-gate slice of
    /// every `bias_ih` is set to that value and the one of `bias_hh` to 0, so the sum the cell
    /// sees is exactly `forget_bias` (Jozefowicz et al. 2015; Keras' `unit_forget_bias`).
    pub fn init(config: &ModelConfig, rng: &mut Rng) -> Self {
        let h = config.hidden_dim;
        let cell_bound = 1.0 / (h as f64).sqrt();
        let head_bound = 1.0 / (config.head_dim() as f64).sqrt();
        let shapes = expected_shapes(config);
        let count = shapes.len();
        let tensors = shapes
            .iter()
            .enumerate()
            .map(|(i, (_, shape))| {
                if i == 0 {
                    let mut t = Tensor {
                        shape: shape.clone(),
                        data: (0..shape.iter().product::<usize>())
                            .map(|_| F::of(rng.normal()))
                            .collect(),
                    };
                    t.data[..config.embed_dim].fill(F::zero());
                    t
                } else if i + 2 >= count {
                    Tensor::uniform(shape, head_bound, rng)
                } else {
                    Tensor::uniform(shape, cell_bound, rng)
                }
            })
            .collect();
        let mut params = Self::from_tensors(tensors);
        if let (CellKind::Lstm, Some(forget)) = (config.cell, config.forget_bias) {
            // Gate order i, f, g, o: the forget gate is the second block of H.
            for cell in &mut params.rnn {
                cell.b_ih.data[h..2 * h].fill(F::of(forget));
                cell.b_hh.data[h..2 * h].fill(F::zero());
            }
        }
        params
    }

    /// The tensors in [`expected_shapes`] order.
    pub fn tensors(&self) -> Vec<&Tensor<F>> {
        let mut out = vec![&self.embedding];
        for c in &self.rnn {
            out.extend([&c.w_ih, &c.w_hh, &c.b_ih, &c.b_hh]);
        }
        out.extend([&self.fc_weight, &self.fc_bias]);
        out
    }

    /// Mutable [`Params::tensors`].
    pub fn tensors_mut(&mut self) -> Vec<&mut Tensor<F>> {
        let mut out = vec![&mut self.embedding];
        for c in &mut self.rnn {
            out.extend([&mut c.w_ih, &mut c.w_hh, &mut c.b_ih, &mut c.b_hh]);
        }
        out.extend([&mut self.fc_weight, &mut self.fc_bias]);
        out
    }

    /// Builds parameters from tensors in [`expected_shapes`] order (embedding, 4 per
    /// layer-direction, fc weight and bias).
    pub fn from_tensors(tensors: Vec<Tensor<F>>) -> Self {
        debug_assert!(tensors.len() >= 3 && (tensors.len() - 3).is_multiple_of(4));
        let mut it = tensors.into_iter();
        let embedding = it.next().expect("embedding tensor");
        let rest: Vec<Tensor<F>> = it.collect();
        let cells = (rest.len() - 2) / 4;
        let mut it = rest.into_iter();
        let rnn = (0..cells)
            .map(|_| CellParams {
                w_ih: it.next().expect("weight_ih"),
                w_hh: it.next().expect("weight_hh"),
                b_ih: it.next().expect("bias_ih"),
                b_hh: it.next().expect("bias_hh"),
            })
            .collect();
        Self {
            embedding,
            rnn,
            fc_weight: it.next().expect("fc.weight"),
            fc_bias: it.next().expect("fc.bias"),
        }
    }

    /// Sets every element to zero (gradients are zeroed here, then accumulated by backward).
    pub fn fill_zero(&mut self) {
        for t in self.tensors_mut() {
            t.data.fill(F::zero());
        }
    }

    /// Adds `other` element-wise (summing gradient shards, in a fixed order).
    pub fn add_assign(&mut self, other: &Params<F>) {
        for (a, b) in self.tensors_mut().into_iter().zip(other.tensors()) {
            for (x, &y) in a.data.iter_mut().zip(&b.data) {
                *x += y;
            }
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
        Params::from_tensors(self.tensors().into_iter().map(Tensor::cast).collect())
    }

    /// True when every element is finite.
    pub fn all_finite(&self) -> bool {
        self.tensors()
            .iter()
            .all(|t| t.data.iter().all(|x| x.is_finite()))
    }
}
