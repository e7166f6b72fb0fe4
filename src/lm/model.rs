//! The pretraining network: the classifier's embedding and recurrent stack, read as one
//! language model per direction (ELMo-style), and a decoder over the vocabulary.
//!
//! ```text
//! x_t     = embedding[id_t]                                     (E)
//! o^k_t   = cell^k_d(in^k_t, state)      in^0 = x,  in^k = o^{k-1} (placed in its half)
//! z_t     = decoder.weight o^L_t + decoder.bias                 (V)
//! forward direction:  z_t scores id_{t+1}, over the text stream
//! reverse direction:  the same over the reversed stream, so z_t scores the previous id
//! ```
//!
//! Each direction predicts only from its own states: above the first layer of a bidirectional
//! network, a cell's input in the classifier is `[o_fwd, o_rev]` (D*H), of which the LM fills
//! only the direction's own half and leaves the other at zero. Those weight columns get no
//! gradient here and are trained when the classifier fine-tunes, where the other direction's
//! states exist. A state is carried from one chunk of the stream to the next, and gradients
//! stop at chunk boundaries (truncated backpropagation through time).
//!
//! The LM's [`Params`] are the classifier's with `fc_weight`/`fc_bias` holding the decoder,
//! `decoder.weight` (V, H) and `decoder.bias` (V), so the optimizer, clipping and the model
//! file walk one tensor list.
//!
//! With tied weights (E = H) the decoder's weight *is* the embedding: `z_t = embedding o^L_t +
//! decoder.bias`, and the embedding's gradient is the sum of both uses (PyTorch's
//! `decoder.weight = embedding.weight`, whose `<pad>` row, too, then learns from the decoder).
//! `fc_weight` is unused while training and holds a copy of the embedding in the file, so a
//! tied base loads into PyTorch like any other.

use ndarray::{s, Array2, ArrayView2};

use crate::config::CellKind;
use crate::config::ModelConfig;
use crate::kernels::float::Float;
use crate::kernels::linalg::scatter_add_rows;
use crate::model::dropout;
use crate::model::packing::Packing;
use crate::model::params::{expected_shapes, CellParams, Params, Tensor};
use crate::model::recurrent::{self, Input, RecurrentCache, State};
use crate::model::with_cell;
use crate::rng::Rng;

/// [`expected_shapes`] of a pretraining language model: the classifier's, with the head
/// replaced by the decoder over the vocabulary, `decoder.weight` (V, H) and `decoder.bias` (V)
/// (see the module docs).
pub fn language_model_shapes(config: &ModelConfig) -> Vec<(String, Vec<usize>)> {
    let mut shapes = expected_shapes(config);
    shapes.truncate(shapes.len() - 2);
    let (v, h) = (config.vocab_size, config.hidden_dim);
    shapes.push(("decoder.weight".to_string(), vec![v, h]));
    shapes.push(("decoder.bias".to_string(), vec![v]));
    shapes
}

/// A language model: the shared network and its decoder (in `params.fc_*`).
#[derive(Clone, Debug, PartialEq)]
pub struct LanguageModel<F> {
    pub config: ModelConfig,
    pub params: Params<F>,
    /// The decoder's weight is the embedding (see the module docs).
    pub tied: bool,
}

/// One chunk of a direction's stream: B rows of T ids, and the id each position predicts.
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk {
    /// (B, T) input ids.
    pub inputs: Array2<u32>,
    /// (B, T) the next id of the direction's stream after each input.
    pub targets: Array2<u32>,
}

impl Chunk {
    /// The targets in packed (time-major) order, as the top states come out.
    pub fn packed_targets(&self) -> Vec<u32> {
        packed(&self.inputs.dim(), &self.targets)
    }
}

/// `a[(b, t)]` in time-major order: t = 0 for every row, then t = 1, ...
fn packed(dim: &(usize, usize), a: &Array2<u32>) -> Vec<u32> {
    let (b, t) = *dim;
    (0..t)
        .flat_map(|t| (0..b).map(move |r| a[(r, t)]))
        .collect()
}

/// Dropout in training.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropouts {
    pub embed: f64,
    /// Between layers and before the decoder.
    pub hidden: f64,
}

/// What one direction's forward kept.
#[derive(Debug)]
struct StackCache<F> {
    /// (N) input ids, packed.
    ids: Vec<u32>,
    /// Per layer: the dropout mask on its input (N, E or H).
    input_masks: Vec<Option<Array2<F>>>,
    layers: Vec<RecurrentCache<F>>,
    /// (N, H) the decoder's dropout mask.
    head_mask: Option<Array2<F>>,
}

/// Everything forward computed that backward needs.
#[derive(Debug)]
pub struct LmCache<F> {
    packing: Packing,
    directions: Vec<StackCache<F>>,
}

/// The states every layer of every direction ends a chunk in: `[direction][layer]`.
pub type States<F> = Vec<Vec<State<F>>>;

impl<F: Float> LanguageModel<F> {
    /// A new language model: the classifier's initialisation (see [`Params::init`]) with the
    /// embedding drawn from N(0, `embed_init`), and the decoder ~ U(-1/sqrt(H), 1/sqrt(H))
    /// (`nn.Linear(H, V)`).
    pub fn new(config: ModelConfig, embed_init: f64, rng: &mut Rng) -> Self {
        let mut params = Params::<F>::init(&config, rng);
        // As the classifier's training scales it (the <pad> row stays zero).
        let std = F::of(embed_init);
        params.embedding.data.iter_mut().for_each(|x| *x *= std);
        let (v, h) = (config.vocab_size, config.hidden_dim);
        let bound = 1.0 / (h as f64).sqrt();
        params.fc_weight = Tensor::uniform(&[v, h], bound, rng);
        params.fc_bias = Tensor::uniform(&[v], bound, rng);
        Self {
            config,
            params,
            tied: false,
        }
    }

    /// This model with the decoder's weight tied to the embedding (E must equal H).
    pub fn tie(mut self) -> Self {
        debug_assert_eq!(self.config.embed_dim, self.config.hidden_dim);
        self.tied = true;
        self.sync_tied();
        self
    }

    /// Copies the embedding into `fc_weight` when tied, so the decoder tensor a file holds is
    /// the weight the model used.
    pub fn sync_tied(&mut self) {
        if self.tied {
            self.params.fc_weight = self.params.embedding.clone();
        }
    }

    /// Zero gradients with the shapes of every tensor.
    pub fn zero_grads(&self) -> Params<F> {
        Params::from_tensors(
            self.params
                .tensors()
                .iter()
                .map(|t| Tensor::zeros(&t.shape))
                .collect(),
        )
    }

    /// Zero states for `rows` rows.
    pub fn zero_states(&self, rows: usize) -> States<F> {
        let c = &self.config;
        let has_c = c.cell == CellKind::Lstm;
        (0..c.directions())
            .map(|_| {
                (0..c.layers)
                    .map(|_| State::zeros(rows, c.hidden_dim, has_c))
                    .collect()
            })
            .collect()
    }

    /// The decoder's weights.
    pub fn decoder(&self) -> super::head::Decoder<'_, F> {
        super::head::Decoder {
            weight: if self.tied {
                &self.params.embedding
            } else {
                &self.params.fc_weight
            },
            bias: &self.params.fc_bias,
        }
    }

    fn cell(&self, layer: usize, direction: usize) -> &CellParams<F> {
        &self.params.rnn[layer * self.config.directions() + direction]
    }

    /// Runs each direction over its chunk (`chunks[d]`, all (B, T)) from `states`. Returns
    /// each direction's top states after the decoder's dropout, (N = T*B, H) time-major, the
    /// cache for [`Self::backward`], and the states to start the next chunk from. With
    /// `dropouts`, masks come from `rng` (direction 0's first, in layer order). With `keep`
    /// false (evaluation) nothing backward needs is kept, and the cache must not be given to
    /// it.
    pub fn forward(
        &self,
        chunks: &[Chunk],
        states: &States<F>,
        dropouts: Option<(Dropouts, &mut Rng)>,
        keep: bool,
    ) -> (Vec<Array2<F>>, LmCache<F>, States<F>) {
        let dirs = self.config.directions();
        debug_assert_eq!((chunks.len(), states.len()), (dirs, dirs));
        let (b, t) = chunks[0].inputs.dim();
        let packing = Packing::new(&vec![t; b]);
        let masks: Vec<Masks<F>> = match dropouts {
            Some((p, rng)) => (0..dirs).map(|_| self.draw_masks(b * t, p, rng)).collect(),
            None => (0..dirs).map(|_| Masks::none(self.config.layers)).collect(),
        };
        let run = |d: usize, masks: Masks<F>| {
            self.forward_direction(d, (&chunks[d], &states[d]), &packing, masks, keep)
        };
        let mut masks = masks.into_iter();
        let results = if dirs == 2 {
            let (m0, m1) = (masks.next().expect("two"), masks.next().expect("two"));
            let (f, r) = rayon::join(|| run(0, m0), || run(1, m1));
            vec![f, r]
        } else {
            vec![run(0, masks.next().expect("one"))]
        };
        let mut tops = Vec::with_capacity(dirs);
        let mut caches = Vec::with_capacity(dirs);
        let mut next = Vec::with_capacity(dirs);
        for (top, cache, state) in results {
            tops.push(top);
            caches.push(cache);
            next.push(state);
        }
        let cache = LmCache {
            packing,
            directions: caches,
        };
        (tops, cache, next)
    }

    fn draw_masks(&self, n: usize, p: Dropouts, rng: &mut Rng) -> Masks<F> {
        let c = &self.config;
        let mut draw = |cols: usize, p: f64| (p > 0.0).then(|| dropout::mask::<F>(n, cols, p, rng));
        let mut inputs = vec![draw(c.embed_dim, p.embed)];
        for _ in 1..c.layers {
            inputs.push(draw(c.hidden_dim, p.hidden));
        }
        let head = draw(c.hidden_dim, p.hidden);
        Masks { inputs, head }
    }

    /// One direction's stack over its chunk.
    fn forward_direction(
        &self,
        d: usize,
        (chunk, states): (&Chunk, &[State<F>]),
        packing: &Packing,
        masks: Masks<F>,
        keep: bool,
    ) -> (Array2<F>, StackCache<F>, Vec<State<F>>) {
        let c = &self.config;
        let ids = packed(&chunk.inputs.dim(), &chunk.inputs);
        let mut output = self.embed(&ids);
        let mut layers = Vec::with_capacity(c.layers);
        let mut next = Vec::with_capacity(c.layers);
        for (layer, (mask, state)) in masks.inputs.iter().zip(states).enumerate() {
            if let Some(m) = mask {
                output *= m;
            }
            let input = self.place(d, layer, output);
            let (h_all, cache, last) = with_cell!(c.cell, C => recurrent::forward_from::<C, F>(
                self.cell(layer, d),
                Input::Raw(input),
                packing,
                keep,
                Some(state),
            ));
            layers.push(cache);
            next.push(last);
            output = h_all;
        }
        if let Some(m) = &masks.head {
            output *= m;
        }
        let cache = StackCache {
            ids,
            input_masks: masks.inputs,
            layers,
            head_mask: masks.head,
        };
        (output, cache, next)
    }

    /// A layer's input in the classifier's width: the direction's own states in its half of
    /// D*H above the first layer of a bidirectional network, zeros in the other.
    fn place(&self, d: usize, layer: usize, x: Array2<F>) -> Array2<F> {
        let width = self.config.layer_input_dim(layer);
        if width == x.ncols() {
            return x;
        }
        let h = self.config.hidden_dim;
        let mut wide = Array2::zeros((x.nrows(), width));
        wide.slice_mut(s![.., d * h..(d + 1) * h]).assign(&x);
        wide
    }

    fn embed(&self, ids: &[u32]) -> Array2<F> {
        self.params.embedding.gather_rows(ids)
    }

    /// Adds dL/d(params) into `grads` (every tensor, the decoder's excepted: the loss added
    /// those), given dL/d(top states) of each direction, (N, H) as [`Self::forward`] returned.
    pub fn backward(&self, cache: LmCache<F>, d_tops: Vec<Array2<F>>, grads: &mut Params<F>) {
        let c = &self.config;
        let dirs = c.directions();
        let LmCache {
            packing,
            directions,
        } = cache;
        // Each direction has its own recurrent gradients; the embedding's are summed after,
        // in direction order.
        let (cells, embedding) = (&mut grads.rnn, &mut grads.embedding);
        let mut per_direction: Vec<Vec<&mut CellParams<F>>> =
            (0..dirs).map(|_| Vec::new()).collect();
        for (i, cell) in cells.iter_mut().enumerate() {
            per_direction[i % dirs].push(cell);
        }
        let run = |d: usize, stack: StackCache<F>, d_top: Array2<F>, g: Vec<&mut CellParams<F>>| {
            self.backward_direction(d, &packing, stack, d_top, g)
        };
        let mut stacks = directions.into_iter();
        let mut d_tops = d_tops.into_iter();
        let mut grads_by_d = per_direction.into_iter();
        let results: Vec<(Array2<F>, Vec<u32>)> = if dirs == 2 {
            let (s0, s1) = (stacks.next().expect("two"), stacks.next().expect("two"));
            let (t0, t1) = (d_tops.next().expect("two"), d_tops.next().expect("two"));
            let (g0, g1) = (
                grads_by_d.next().expect("two"),
                grads_by_d.next().expect("two"),
            );
            let (a, b) = rayon::join(|| run(0, s0, t0, g0), || run(1, s1, t1, g1));
            vec![a, b]
        } else {
            vec![run(
                0,
                stacks.next().expect("one"),
                d_tops.next().expect("one"),
                grads_by_d.next().expect("one"),
            )]
        };
        for (d_x, ids) in results {
            scatter_add_rows(&mut embedding.data, d_x.view(), &ids, crate::text::PAD_ID);
        }
    }

    /// One direction's backward; returns dL/dx of its embeddings (N, E) and their ids.
    fn backward_direction(
        &self,
        d: usize,
        packing: &Packing,
        stack: StackCache<F>,
        mut d_out: Array2<F>,
        mut grads: Vec<&mut CellParams<F>>,
    ) -> (Array2<F>, Vec<u32>) {
        let h = self.config.hidden_dim;
        if let Some(m) = &stack.head_mask {
            d_out *= m;
        }
        for layer in (0..self.config.layers).rev() {
            let d_x = with_cell!(self.config.cell, C => recurrent::backward::<C, F>(
                self.cell(layer, d),
                &stack.layers[layer],
                packing,
                d_out.view(),
                &mut *grads[layer],
            ));
            // Above the first layer of a bidirectional network the input held this
            // direction's states in its half only.
            let mut d_in = if layer > 0 && self.config.bidirectional {
                own_half(d_x.view(), d, h)
            } else {
                d_x
            };
            if let Some(m) = &stack.input_masks[layer] {
                d_in *= m;
            }
            d_out = d_in;
        }
        (d_out, stack.ids)
    }
}

/// The columns of direction `d`'s half, (N, H).
fn own_half<F: Float>(x: ArrayView2<'_, F>, d: usize, h: usize) -> Array2<F> {
    x.slice(s![.., d * h..(d + 1) * h]).to_owned()
}

/// One direction's dropout masks: per layer input, and before the decoder.
struct Masks<F> {
    inputs: Vec<Option<Array2<F>>>,
    head: Option<Array2<F>>,
}

impl<F> Masks<F> {
    fn none(layers: usize) -> Self {
        Self {
            inputs: (0..layers).map(|_| None).collect(),
            head: None,
        }
    }
}
