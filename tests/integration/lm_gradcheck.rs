//! Finite-difference checks of the language model's gradients, in f64, as `gradcheck.rs`
//! does for the classifier: every parameter, `(L(p + h) - L(p - h)) / 2h` against the
//! analytic gradient. The chunk starts from a non-zero carried state (its first step's
//! recurrent product and dW_hh term are then real), both softmaxes are checked (the sampled
//! one with fixed candidates holding a duplicate and an accidental hit), and dropout with
//! masks redrawn from the same seed at each evaluation.

use ndarray::Array2;
use rnn_sentiment::config::{CellKind, ModelConfig};
use rnn_sentiment::lm::head::Candidates;
use rnn_sentiment::lm::model::{Chunk, Dropouts, LanguageModel, States};
use rnn_sentiment::lm::objective::{loss_and_grads, nll, Softmax};
use rnn_sentiment::lm::sampler::{Proposal, Sampler};
use rnn_sentiment::model::params::Params;
use rnn_sentiment::model::recurrent::State;
use rnn_sentiment::rng::Rng;

use crate::common::*;

const H: f64 = 1e-5;
const TOL: f64 = 1e-7;
const VOCAB: usize = 9;

/// Two rows of four steps per direction; the reverse direction reads other ids.
fn chunks(directions: usize) -> Vec<Chunk> {
    let ids = |offset: u32| {
        Array2::from_shape_fn((2, 5), |(r, t)| {
            1 + (offset + 3 * r as u32 + 5 * t as u32) % 8
        })
    };
    (0..directions as u32)
        .map(|d| {
            let all = ids(d * 7);
            Chunk {
                inputs: all.slice(ndarray::s![.., ..4]).to_owned(),
                targets: all.slice(ndarray::s![.., 1..]).to_owned(),
            }
        })
        .collect()
}

/// Random non-zero states to start from.
fn states(model: &LanguageModel<f64>, rng: &mut Rng) -> States<f64> {
    let mut s = model.zero_states(2);
    for layer in s.iter_mut().flatten() {
        let State { h, c } = layer;
        h.mapv_inplace(|_| rng.uniform_in(-0.8, 0.8));
        c.mapv_inplace(|_| rng.uniform_in(-0.8, 0.8));
    }
    s
}

#[derive(Clone, Copy, Debug)]
enum Spec {
    Full,
    Sampled,
    FullDropout,
}

fn candidates() -> Candidates {
    // 3 twice (a duplicate); 2 and 5 are targets somewhere (accidental hits).
    let ids = vec![3, 7, 2, 3, 5];
    let log_expected = ids.iter().map(|&id| -0.3 - 0.1 * id as f64).collect();
    Candidates { ids, log_expected }
}

fn loss(model: &LanguageModel<f64>, spec: Spec) -> (f64, Params<f64>) {
    let dirs = model.config.directions();
    let start = states(model, &mut Rng::new(4));
    let sampler = Sampler::new(Proposal::Unigram, &[0, 5, 9, 2, 7, 1, 4, 3, 8], 5);
    let candidates = candidates();
    let softmax = match spec {
        Spec::Sampled => Softmax::Sampled {
            sampler: &sampler,
            candidates: &candidates,
        },
        _ => Softmax::Full,
    };
    let mut rng = Rng::new(8);
    let dropouts = matches!(spec, Spec::FullDropout).then_some((
        Dropouts {
            embed: 0.3,
            hidden: 0.4,
        },
        &mut rng,
    ));
    let mut g = model.zero_grads();
    let (l, _) = loss_and_grads(
        model,
        &chunks(dirs),
        &start,
        (softmax, 8 * dirs),
        dropouts,
        &mut g,
    );
    (l, g)
}

fn check(cell: CellKind, layers: usize, bidirectional: bool, spec: Spec) {
    let config = ModelConfig {
        layers,
        bidirectional,
        ..tiny_config(cell, VOCAB, 3, 4)
    };
    let model = LanguageModel::<f64>::new(config, 0.5, &mut Rng::new(13));
    check_model(model, spec);
}

fn check_model(mut model: LanguageModel<f64>, spec: Spec) {
    let (cell, layers, bidirectional) = (
        model.config.cell,
        model.config.layers,
        model.config.bidirectional,
    );
    for cell in &mut model.params.rnn {
        cell.w_hh.data.iter_mut().for_each(|w| *w *= 3.0);
    }
    let (_, analytic) = loss(&model, spec);
    let what = format!(
        "{} L={layers} bi={bidirectional} {spec:?} tied={}",
        cell.name(),
        model.tied
    );
    let mut checked = 0;
    for index in 0..model.params.tensors().len() {
        for i in 0..analytic.tensors()[index].data.len() {
            let mut plus = model.clone();
            plus.params.tensors_mut()[index].data[i] += H;
            let mut minus = model.clone();
            minus.params.tensors_mut()[index].data[i] -= H;
            let numeric = (loss(&plus, spec).0 - loss(&minus, spec).0) / (2.0 * H);
            let a = analytic.tensors()[index].data[i];
            let err = (a - numeric).abs() / a.abs().max(numeric.abs()).max(1e-3);
            assert!(
                err < TOL,
                "{what} tensor {index}[{i}]: analytic {a:e}, numeric {numeric:e}, error {err:e}"
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "{what}: {checked}");
    if model.tied {
        // The decoder's own weight is unused: the embedding took its gradient.
        assert!(analytic.fc_weight.data.iter().all(|&g| g == 0.0));
        return;
    }
    // The <pad> row gets no gradient; neither do, above the first layer of a bidirectional
    // network, the input columns of the other direction's half.
    assert!(analytic.embedding.data[..3].iter().all(|&g| g == 0.0));
    if bidirectional && layers > 1 {
        let w = analytic.rnn[2].w_ih.matrix(); // layer 1, forward: (G*H, 2H)
        assert!(w
            .columns()
            .into_iter()
            .skip(4)
            .all(|c| c.iter().all(|&g| g == 0.0)));
        assert!(w
            .columns()
            .into_iter()
            .take(4)
            .any(|c| c.iter().any(|&g| g != 0.0)));
    }
}

#[test]
fn every_cell_matches_finite_differences_with_the_full_softmax() {
    for cell in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        check(cell, 1, false, Spec::Full);
    }
}

#[test]
fn the_sampled_softmax_matches_finite_differences() {
    for cell in [CellKind::Lstm, CellKind::Gru] {
        check(cell, 1, false, Spec::Sampled);
    }
}

#[test]
fn stacked_bidirectional_with_dropout_matches_finite_differences() {
    check(CellKind::Lstm, 2, true, Spec::FullDropout);
    check(CellKind::Gru, 2, true, Spec::Sampled);
}

/// Tied (E = H), the embedding's gradient is the sum of its input and its decoder uses: ids
/// 1..8 are inputs and targets, and the sampled candidates (3, 7, 2, 5) and the full
/// softmax's every class reach the embedding through the decoder.
#[test]
fn tied_weights_match_finite_differences() {
    for (cell, bidirectional, spec) in [
        (CellKind::Lstm, false, Spec::Full),
        (CellKind::Gru, true, Spec::Sampled),
        (CellKind::Lstm, true, Spec::FullDropout),
    ] {
        let config = ModelConfig {
            bidirectional,
            ..tiny_config(cell, VOCAB, 4, 4)
        };
        let model = LanguageModel::<f64>::new(config, 0.5, &mut Rng::new(13)).tie();
        assert_eq!(model.params.fc_weight, model.params.embedding);
        check_model(model, spec);
    }
}

/// The full-softmax loss of a step is the validation likelihood of the same chunk (no
/// dropout): `nll / positions`.
#[test]
fn the_training_loss_without_dropout_is_the_validation_likelihood() {
    let config = ModelConfig {
        bidirectional: true,
        ..tiny_config(CellKind::Lstm, VOCAB, 3, 4)
    };
    let model = LanguageModel::<f64>::new(config, 0.5, &mut Rng::new(2));
    let start = states(&model, &mut Rng::new(4));
    let (l, _) = loss(&model, Spec::Full);
    let (total, _) = nll(&model, &chunks(2), &start);
    assert!((l - total / 16.0).abs() < 1e-12, "{l} vs {}", total / 16.0);
}
