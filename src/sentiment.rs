//! A complete sentiment model: the text pipeline, the vocabulary and the classifier, i.e.
//! everything a model file holds and everything `predict` needs, including per-token
//! explanations of a prediction ([`SentimentModel::explain`]).

use ndarray::Array2;
use rayon::prelude::*;

use crate::batch::Batch;
use crate::kernels::float::{sigmoid, softmax_in_place};
use crate::model::{Classifier, TokenProjections};
use crate::text::{Tokenizer, Vocab, UNK_ID};
use crate::training_info::TrainingInfo;

/// Texts scored per batch at inference.
pub const INFERENCE_BATCH: usize = 256;
/// Real tokens per inference batch at most (bounds memory on long texts).
pub const INFERENCE_TOKENS: usize = 4_096;

/// Tokenizer + vocabulary + classifier (+ how it was trained).
#[derive(Clone, Debug)]
pub struct SentimentModel {
    pub tokenizer: Tokenizer,
    pub vocab: Vocab,
    pub classifier: Classifier<f32>,
    pub training: TrainingInfo,
}

impl SentimentModel {
    /// The ids the model sees for a text (tokenized, truncated, mapped).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.vocab.encode(&self.tokenizer.tokenize(text))
    }

    /// The logits of many texts, `(texts, K)`: one column for a binary model, K for K classes.
    /// Texts are tokenized on all cores too (in order, so the result is the same): on one
    /// thread, tokenizing a chunk of `predict --file` left the other cores idle for a few
    /// percent of the run.
    pub fn class_logits<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Array2<f64> {
        let sequences: Vec<Vec<u32>> = texts.par_iter().map(|t| self.encode(t.as_ref())).collect();
        logits_batched(&self.classifier, &sequences, INFERENCE_BATCH)
    }

    /// The one logit of each text, for a binary model.
    ///
    /// # Panics
    /// For a K-class model (it has K logits a text: see [`SentimentModel::class_logits`]).
    pub fn logits<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Vec<f64> {
        assert!(
            self.is_binary(),
            "a K-class model has K logits a text; use class_logits"
        );
        self.class_logits(texts).into_raw_vec_and_offset().0
    }

    /// Probabilities of the positive class for many texts, for a binary model.
    ///
    /// # Panics
    /// For a K-class model (see [`SentimentModel::class_probabilities`]).
    pub fn probabilities<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Vec<f64> {
        self.logits(texts).into_iter().map(sigmoid).collect()
    }

    /// Per-class probabilities of many texts, `(texts, K)`, `softmax(z)` of each text's
    /// logits, in the order of [`SentimentModel::classes`]. Each row depends on its text
    /// alone, bit for bit, as the binary probabilities do (see [`logits_batched`]).
    ///
    /// # Panics
    /// For a binary model (see [`SentimentModel::probabilities`]).
    pub fn class_probabilities<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Array2<f64> {
        assert!(
            !self.is_binary(),
            "a binary model has one probability a text; use probabilities"
        );
        self.output_probabilities(self.class_logits(texts))
    }

    /// Probabilities from logits `(texts, K)`, in place: `sigmoid(z)` of a binary model's one
    /// logit, `softmax(z)` of each row of a K-class model's. The same bits as
    /// [`SentimentModel::probabilities`] and [`SentimentModel::class_probabilities`] give.
    pub fn output_probabilities(&self, mut logits: Array2<f64>) -> Array2<f64> {
        if self.is_binary() {
            logits.mapv_inplace(sigmoid);
            return logits;
        }
        for mut row in logits.rows_mut() {
            softmax_in_place(row.as_slice_mut().expect("standard layout"));
        }
        logits
    }

    /// True for a binary model (one logit, sigmoid), false for a K-class one.
    pub fn is_binary(&self) -> bool {
        self.classifier.config.is_binary()
    }

    /// The class names of a K-class model in output order (empty for a binary model).
    pub fn classes(&self) -> &[String] {
        &self.classifier.config.classes
    }

    /// Per-token attribution for one text by leave-one-token-out occlusion; see
    /// [`Explanation`]. For a binary model: to the positive class's probability; for a K-class
    /// model: to the probability of the predicted (most probable) class.
    pub fn explain(&self, text: &str) -> Explanation {
        self.explain_class(text, None)
    }

    /// [`SentimentModel::explain`] to the probability of class `class` of a K-class model
    /// (`None`: the predicted class). A binary model ignores `class`.
    pub fn explain_class(&self, text: &str, class: Option<usize>) -> Explanation {
        let tokens = self.tokenizer.tokenize(text);
        let ids = self.vocab.encode(&tokens);
        let window = occlusion_window(ids.len());
        // Row 0 is the text as the model sees it; row 1 + k is the text without window k
        // (tokens k*w .. (k+1)*w). All rows are scored in one batched forward pass; their
        // tokens number at most OCCLUSION_BUDGET + T.
        let mut sequences: Vec<Vec<u32>> = Vec::with_capacity(ids.len() / window + 2);
        sequences.push(ids.clone());
        for start in (0..ids.len()).step_by(window) {
            let end = (start + window).min(ids.len());
            let mut without = Vec::with_capacity(ids.len() - (end - start));
            without.extend_from_slice(&ids[..start]);
            without.extend_from_slice(&ids[end..]);
            sequences.push(without);
        }
        let logits = logits_batched(&self.classifier, &sequences, INFERENCE_BATCH);
        // The explained probability of each row: sigmoid(z) for a binary model, softmax(z)[k]
        // for class k of a K-class model.
        let (class, probabilities): (Option<usize>, Vec<f64>) = if self.is_binary() {
            (None, logits.into_iter().map(sigmoid).collect())
        } else {
            let mut p = logits;
            for mut row in p.rows_mut() {
                softmax_in_place(row.as_slice_mut().expect("standard layout"));
            }
            let k = class.unwrap_or_else(|| crate::model::loss::argmax(p.row(0)));
            (Some(k), p.column(k).to_vec())
        };
        let probability = probabilities[0];
        // attribution_i = p(text) - p(text without the window holding token i)
        let attributions = (0..ids.len())
            .map(|i| probability - probabilities[1 + i / window])
            .collect();
        Explanation {
            tokens,
            ids,
            attributions,
            probability,
            window,
            class,
        }
    }

    /// [`SentimentModel::explain_class`] for many texts, in parallel; results in input order.
    pub fn explain_many<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        class: Option<usize>,
    ) -> Vec<Explanation> {
        texts
            .par_iter()
            .map(|t| self.explain_class(t.as_ref(), class))
            .collect()
    }

    /// The decision threshold stored in the model.
    pub fn threshold(&self) -> f64 {
        self.classifier.config.threshold
    }
}

/// Tokens scored in all of one text's occluded variants together, at most (a time bound:
/// leaving out each of T tokens costs T * T tokens of forward passes).
pub const OCCLUSION_BUDGET: usize = 2_000_000;

/// How many consecutive tokens [`SentimentModel::explain`] leaves out together for a text of
/// `tokens` tokens: 1 (each token alone) up to about 1,400 tokens, then the smallest window
/// that keeps the variants within [`OCCLUSION_BUDGET`] tokens.
pub fn occlusion_window(tokens: usize) -> usize {
    tokens
        .saturating_mul(tokens)
        .div_ceil(OCCLUSION_BUDGET)
        .clamp(1, tokens.max(1))
}

/// Why the model scored a text as it did: how much each token the model sees moves the
/// probability of the positive class.
///
/// Method: leave-one-token-out occlusion on the ids the model sees (after tokenization,
/// truncation to `max_len` and the vocabulary lookup):
///
/// ```text
/// attribution_i = p(ids) - p(ids with token i removed)
/// ```
///
/// The token is removed, not replaced by `<unk>`: `<unk>` has a learned embedding of its own
/// (and a frequent one when the vocabulary is capped), so replacing would measure "this word
/// versus an unknown word", not what the word contributes. Removal is possible because the
/// model reads sequences of any length (packed, mask-aware pooling), and a removed token
/// leaves exactly the input a text without that word would give.
///
/// Why occlusion rather than gradients (e.g. integrated gradients on the embeddings):
/// - faithful by construction: each number is a difference of two real outputs of this
///   model, no linearisation, baseline choice or path integral;
/// - exact: no step count to tune, no approximation error;
/// - cheap: all T variants of a text (T - 1 tokens each) and the text itself are scored in
///   one batched forward pass ([`logits_batched`]); O(T) sequences, inference only.
///
/// Long texts: leaving out each of T tokens costs T variants of T tokens, quadratic in T. Past
/// about 1,400 tokens, windows of `window` consecutive tokens are left out together (see
/// [`occlusion_window`]) so that the variants hold at most [`OCCLUSION_BUDGET`] tokens; each
/// token then carries its window's attribution.
///
/// Limits: it measures each token alone, so two words that each suffice (e.g. "great" twice)
/// may share little attribution; attributions are in probability units, so they shrink when
/// the prediction is saturated near 0 or 1. An empty text has no tokens and no attributions.
#[derive(Clone, Debug, PartialEq)]
pub struct Explanation {
    /// The tokens the model sees, as the tokenizer writes them (not `<unk>`).
    pub tokens: Vec<String>,
    /// Their ids; [`UNK_ID`] marks a token outside the vocabulary.
    pub ids: Vec<u32>,
    /// Per token: p(text) - p(text without it); positive pushes towards "positive".
    pub attributions: Vec<f64>,
    /// p(positive) for the whole text, the same number `predict` gives.
    pub probability: f64,
    /// Tokens left out together (1 but for long texts; see [`occlusion_window`]).
    pub window: usize,
    /// The class explained, for a K-class model (`None` for a binary model: the positive
    /// class); `probability` and `attributions` are of it.
    pub class: Option<usize>,
}

impl Explanation {
    /// Per token: true when it is outside the vocabulary (the model sees `<unk>`).
    pub fn unknown(&self) -> Vec<bool> {
        self.ids.iter().map(|&id| id == UNK_ID).collect()
    }

    /// The largest |attribution| (0 for an empty text).
    pub fn max_magnitude(&self) -> f64 {
        self.attributions.iter().fold(0.0, |m, a| m.max(a.abs()))
    }
}

/// Logits `(sequences, K)` for id sequences, `batch_size` at a time. Sequences are grouped by
/// length so that batches hold similar lengths (less padding, no wasted work); results come
/// back in input order, and are the same as scoring each sequence alone.
pub fn logits_batched<S: AsRef<[u32]> + Sync>(
    classifier: &Classifier<f32>,
    sequences: &[S],
    batch_size: usize,
) -> Array2<f64> {
    let mut order: Vec<usize> = (0..sequences.len()).collect();
    order.sort_by_key(|&i| sequences[i].as_ref().len());
    // Batches of at most `batch_size` rows and INFERENCE_TOKENS real tokens, so that memory
    // stays bounded for long texts (forward keeps per-token state for every layer).
    let mut chunks: Vec<&[usize]> = Vec::new();
    let mut start = 0;
    let mut tokens = 0;
    for (k, &i) in order.iter().enumerate() {
        let len = sequences[i].as_ref().len();
        let full = k - start >= batch_size.max(1) || (k > start && tokens + len > INFERENCE_TOKENS);
        if full {
            chunks.push(&order[start..k]);
            start = k;
            tokens = 0;
        }
        tokens += len;
    }
    if start < order.len() {
        chunks.push(&order[start..]);
    }
    let projections = token_projections(classifier, sequences);
    // Batches are independent, so they run in parallel (rayon's pool) without changing a
    // result.
    let scored: Vec<Array2<f32>> = chunks
        .par_iter()
        .map(|chunk| {
            let rows: Vec<&[u32]> = chunk.iter().map(|&i| sequences[i].as_ref()).collect();
            let batch = Batch::from_sequences(&rows);
            match &projections {
                Some(projections) => classifier.logits_projected(&batch, projections),
                None => classifier.logits(&batch),
            }
        })
        .collect();
    let mut logits = Array2::<f64>::zeros((sequences.len(), classifier.config.outputs()));
    let rows = scored.iter().flat_map(|s| s.rows());
    for (&i, z) in order.iter().zip(rows) {
        for (out, &x) in logits.row_mut(i).iter_mut().zip(z) {
            *out = f64::from(x);
        }
    }
    logits
}

/// Largest first-layer projection tables [`logits_batched`] builds; beyond, each token is
/// projected where it occurs, as in training.
const PROJECTION_BYTES: usize = 128 << 20;

/// The first layer's input projection of every distinct id of `sequences`, when there are at
/// most half as many distinct ids as tokens (so projecting each once at least halves that
/// product) and the tables fit in [`PROJECTION_BYTES`]. The logits are the same bits either
/// way ([`TokenProjections`]).
fn token_projections<S: AsRef<[u32]> + Sync>(
    classifier: &Classifier<f32>,
    sequences: &[S],
) -> Option<TokenProjections<f32>> {
    let config = &classifier.config;
    let tokens: usize = sequences.iter().map(|s| s.as_ref().len()).sum();
    let all = || sequences.iter().flat_map(|s| s.as_ref()).copied();
    // The distinct ids, sorted: by sorting when the texts are short next to the vocabulary
    // (no work in proportion to a large vocabulary for one sentence), else by marking.
    let ids: Vec<u32> = if tokens.saturating_mul(8) < config.vocab_size {
        let mut ids: Vec<u32> = all().collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    } else {
        let mut seen = vec![false; config.vocab_size];
        for id in all() {
            // An id outside the vocabulary is the forward pass's to report, not ours.
            *seen.get_mut(id as usize)? = true;
        }
        (0..config.vocab_size as u32)
            .filter(|&id| seen[id as usize])
            .collect()
    };
    if ids
        .last()
        .is_some_and(|&id| id as usize >= config.vocab_size)
    {
        return None;
    }
    let bytes = ids.len()
        * config.cell.gates()
        * config.hidden_dim
        * config.directions()
        * std::mem::size_of::<f32>();
    (2 * ids.len() <= tokens && bytes <= PROJECTION_BYTES).then(|| classifier.project_tokens(&ids))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CellKind, ModelConfig, Pooling};
    use crate::rng::Rng;
    use crate::text::TokenizerConfig;

    /// A random bidirectional LSTM over the vocabulary "good bad movie plot".
    fn model() -> SentimentModel {
        let tokens = ["<pad>", "<unk>", "good", "bad", "movie", "plot"];
        let config = ModelConfig {
            cell: CellKind::Lstm,
            vocab_size: tokens.len(),
            embed_dim: 4,
            hidden_dim: 3,
            layers: 1,
            bidirectional: true,
            pooling: Pooling::Max,
            forget_bias: None,
            threshold: 0.5,
            classes: Vec::new(),
        };
        SentimentModel {
            tokenizer: Tokenizer::new(TokenizerConfig::default()),
            vocab: Vocab::from_tokens(tokens.iter().map(|t| t.to_string()).collect())
                .expect("valid vocabulary"),
            classifier: Classifier::new(config, &mut Rng::new(3)),
            training: TrainingInfo::default(),
        }
    }

    #[test]
    fn attribution_is_the_probability_lost_by_removing_the_token() {
        let m = model();
        let e = m.explain("Good movie, zzz plot");
        assert_eq!(e.tokens, ["good", "movie", ",", "zzz", "plot"]);
        assert_eq!(e.ids, [2, 4, UNK_ID, UNK_ID, 5]);
        assert_eq!(e.unknown(), [false, false, true, true, false]);
        assert_eq!(e.attributions.len(), e.tokens.len());
        // The probability is predict's, bit for bit.
        assert_eq!(e.probability, m.probabilities(&["Good movie, zzz plot"])[0]);
        // Each attribution against the removed text scored on its own.
        let without = ["movie , zzz plot", "good , zzz plot", "good movie zzz plot"];
        for (i, text) in without.iter().enumerate() {
            let expected = e.probability - m.probabilities(&[text])[0];
            assert!((e.attributions[i] - expected).abs() < 1e-12, "token {i}");
        }
        assert!(e.max_magnitude() > 0.0);
    }

    #[test]
    fn empty_text_has_no_tokens_and_the_empty_probability() {
        let m = model();
        let e = m.explain("");
        assert!(e.tokens.is_empty() && e.ids.is_empty() && e.attributions.is_empty());
        assert_eq!(e.probability, m.probabilities(&[""])[0]);
        assert_eq!(e.max_magnitude(), 0.0);
    }

    /// Many texts over few distinct tokens: scored through the first layer's projection
    /// tables, with the bits of scoring each text alone.
    #[test]
    fn batched_logits_with_projection_tables_equal_each_text_alone() {
        let m = model();
        let sequences: Vec<Vec<u32>> = (0..300)
            .map(|i| (0..i % 7).map(|t| 2 + ((i + t) % 4) as u32).collect())
            .collect();
        assert!(token_projections(&m.classifier, &sequences).is_some());
        // Distinct tokens outnumber half the tokens: no tables.
        assert!(token_projections(&m.classifier, &[vec![2, 3], vec![4]]).is_none());
        let batched = logits_batched(&m.classifier, &sequences, 16);
        for (s, &z) in sequences.iter().zip(&batched) {
            let alone = m.classifier.logits(&Batch::from_sequences(&[s]))[(0, 0)];
            assert_eq!(z, f64::from(alone), "{s:?}");
        }
        // A vocabulary much larger than the texts: the distinct ids come from sorting.
        let mut large = m.classifier.clone();
        large.config.vocab_size = 1000;
        large.params.embedding.data.resize(1000 * 4, 0.25);
        large.params.embedding.shape[0] = 1000;
        let few = [vec![900, 7, 7], vec![900, 7]];
        let tables = token_projections(&large, &few).expect("2 distinct ids in 5 tokens");
        assert!(tables.covers(&[7, 900]) && !tables.covers(&[8]));
        assert!(token_projections(&large, &[vec![1000, 1000, 1000]]).is_none());
    }

    #[test]
    fn long_texts_are_explained_by_windows_within_the_budget() {
        assert_eq!(occlusion_window(0), 1);
        assert_eq!(occlusion_window(1000), 1);
        assert_eq!(occlusion_window(1414), 1);
        assert_eq!(occlusion_window(4000), 8);
        assert_eq!(occlusion_window(1_000_000), 500_000);
        for t in [1, 1415, 3000, 10_000, 1_000_000] {
            let w = occlusion_window(t);
            assert!(
                t.div_ceil(w) * t <= OCCLUSION_BUDGET + t,
                "{t} tokens, window {w}"
            );
        }
        let mut m = model();
        m.tokenizer = Tokenizer::new(TokenizerConfig {
            max_len: 10_000,
            ..TokenizerConfig::default()
        });
        let text = "good bad movie plot ".repeat(500);
        let e = m.explain(&text);
        assert_eq!(e.tokens.len(), 2000);
        assert_eq!(e.window, 2);
        for pair in e.attributions.chunks(2) {
            assert_eq!(pair[0], pair[1]);
        }
        assert_ne!(e.attributions[0], e.attributions[2]);
    }

    #[test]
    fn explain_many_keeps_input_order() {
        let m = model();
        let texts = ["bad plot", "", "good good movie", "movie"];
        let many = m.explain_many(&texts, None);
        for (text, e) in texts.iter().zip(&many) {
            assert_eq!(*e, m.explain(text));
        }
    }
}
