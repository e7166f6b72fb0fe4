//! Criterion benchmarks of the hot paths: one batch through the classifier (forward, and
//! forward + backward) for each cell, and reading and writing a model file.
//!
//! Shapes are those of the speed issue's synthetic step and of `torch_rnn.py --synthetic`:
//! B = 64 rows of T = 32 tokens (no padding), E = H = 128, V = 20,000, one layer, one
//! direction, last-state pooling, f32. Throughput is reported in tokens (B * T per batch).
//! Training runs each batch as shards of `train::SHARD_ROWS` (16) rows, one per core, so the
//! `shard_*` group times forward + backward at that size: the unit the training loop runs.
//!
//! ```sh
//! cargo bench --bench cells                 # all benchmarks, about a minute
//! cargo bench --bench cells -- lstm         # only the LSTM ones (a criterion filter)
//! cargo bench --bench cells -- --quick      # criterion's quick mode, a smoke test
//! ```
//!
//! Everything here runs on one thread: `Classifier::forward`/`backward` do not use rayon (the
//! training loop parallelises over shards of a batch, `predict` over batches).

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode,
    Throughput,
};

use rnn_sentiment::batch::Batch;
use rnn_sentiment::config::{CellKind, ModelConfig, Pooling};
use rnn_sentiment::model::params::Params;
use rnn_sentiment::model::{Classifier, Mode};
use rnn_sentiment::model_file;
use rnn_sentiment::rng::Rng;
use rnn_sentiment::sentiment::SentimentModel;
use rnn_sentiment::text::{Tokenizer, TokenizerConfig, Vocab, PAD, UNK};
use rnn_sentiment::train::SHARD_ROWS;
use rnn_sentiment::training_info::TrainingInfo;

/// B: rows per batch.
const BATCH: usize = 64;
/// T: tokens per row (every row full, as in `torch_rnn.py --synthetic`).
const SEQ_LEN: usize = 32;
/// E and H.
const DIM: usize = 128;
/// V, counting `<pad>` and `<unk>`.
const VOCAB: usize = 20_000;

const CELLS: [CellKind; 3] = [CellKind::Rnn, CellKind::Lstm, CellKind::Gru];

fn model_config(cell: CellKind) -> ModelConfig {
    ModelConfig {
        cell,
        vocab_size: VOCAB,
        embed_dim: DIM,
        hidden_dim: DIM,
        layers: 1,
        bidirectional: false,
        pooling: Pooling::Last,
        forget_bias: (cell == CellKind::Lstm).then_some(1.0),
        threshold: 0.5,
        classes: Vec::new(),
    }
}

/// `rows` random rows of T ids drawn from the real tokens (ids 2..V: no `<pad>`, no `<unk>`).
fn random_batch(rows: usize, rng: &mut Rng) -> Batch {
    let rows: Vec<Vec<u32>> = (0..rows)
        .map(|_| {
            (0..SEQ_LEN)
                .map(|_| 2 + rng.below(VOCAB - 2) as u32)
                .collect()
        })
        .collect();
    Batch::from_sequences(&rows)
}

/// Keeps each benchmark short so that the whole `cargo bench` takes about a minute.
fn short<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group
}

/// dL/dz of a mean BCE loss at p = 0.5 with alternating labels: realistic magnitudes.
/// dL/d(logits) of a binary head, (rows, 1).
fn d_logits(rows: usize) -> ndarray::Array2<f32> {
    ndarray::Array2::from_shape_fn((rows, 1), |(b, _)| {
        (if b % 2 == 0 { 0.5 } else { -0.5 }) / rows as f32
    })
}

fn bench_cells(c: &mut Criterion) {
    let mut group = short(c, "classifier_b64_t32_e128_h128");
    group.throughput(Throughput::Elements((BATCH * SEQ_LEN) as u64));
    for cell in CELLS {
        let config = model_config(cell);
        let model = Classifier::<f32>::new(config.clone(), &mut Rng::new(1));
        let batch = random_batch(BATCH, &mut Rng::new(2));
        let d_logits = d_logits(BATCH);

        group.bench_with_input(
            BenchmarkId::new("forward", cell.name()),
            &batch,
            |b, batch| b.iter(|| black_box(model.forward(black_box(batch), Mode::Eval).0)),
        );
        // What `predict` and `eval` run: forward without the backward cache.
        group.bench_with_input(
            BenchmarkId::new("logits", cell.name()),
            &batch,
            |b, batch| b.iter(|| black_box(model.logits(black_box(batch)))),
        );

        // Gradients accumulate across iterations (backward adds, never zeroes): zeroing all
        // V*E embedding rows each time would time a 10 MB memset the training loop never does.
        let mut grads = Params::<f32>::zeros(&config);
        bench_forward_backward(&mut group, cell, &model, &batch, &d_logits, &mut grads);
    }
    group.finish();

    let mut group = short(c, "shard_b16_t32_e128_h128");
    group.throughput(Throughput::Elements((SHARD_ROWS * SEQ_LEN) as u64));
    for cell in CELLS {
        let config = model_config(cell);
        let model = Classifier::<f32>::new(config.clone(), &mut Rng::new(1));
        let batch = random_batch(SHARD_ROWS, &mut Rng::new(2));
        let d_logits = d_logits(SHARD_ROWS);
        let mut grads = Params::<f32>::zeros(&config);
        bench_forward_backward(&mut group, cell, &model, &batch, &d_logits, &mut grads);
    }
    group.finish();
}

/// Times forward + backward of `batch` as one benchmark of `group`, named by the cell.
fn bench_forward_backward(
    group: &mut BenchmarkGroup<'_, WallTime>,
    cell: CellKind,
    model: &Classifier<f32>,
    batch: &Batch,
    d_logits: &ndarray::Array2<f32>,
    grads: &mut Params<f32>,
) {
    group.bench_with_input(
        BenchmarkId::new("forward_backward", cell.name()),
        batch,
        |b, batch| {
            b.iter(|| {
                let (_, cache) = model.forward(black_box(batch), Mode::Eval);
                model.backward(cache, black_box(d_logits).view(), grads);
            })
        },
    );
    black_box(&grads);
}

/// An untrained LSTM model with a 20k-word vocabulary, E = H = 128, as a model file would hold.
fn model_with_vocab() -> SentimentModel {
    let tokens: Vec<String> = [PAD.to_string(), UNK.to_string()]
        .into_iter()
        .chain((0..VOCAB - 2).map(|i| format!("w{i}")))
        .collect();
    SentimentModel {
        tokenizer: Tokenizer::new(TokenizerConfig::default()),
        vocab: Vocab::from_tokens(tokens).expect("distinct tokens after <pad>, <unk>"),
        classifier: Classifier::new(model_config(CellKind::Lstm), &mut Rng::new(1)),
        training: TrainingInfo::default(),
    }
}

fn bench_model_file(c: &mut Criterion) {
    let model = model_with_vocab();
    let json = model_file::to_json(&model).expect("serializable model");
    let mut group = short(c, "model_file_v20000_e128_h128_lstm");
    // ~0.1 s per call: the same iteration count in every sample fits the 3 s budget.
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Bytes(json.len() as u64));
    group.bench_function("from_json", |b| {
        b.iter(|| model_file::from_json(black_box(&json)).expect("valid model JSON"))
    });
    group.bench_function("to_json", |b| {
        b.iter(|| model_file::to_json(black_box(&model)).expect("serializable model"))
    });
    group.finish();
}

criterion_group!(benches, bench_cells, bench_model_file);
criterion_main!(benches);
