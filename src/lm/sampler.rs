//! Negative sampling for the sampled softmax: a proposal distribution Q over the vocabulary,
//! S draws per step (with replacement, from a seeded [`Rng`]), and the expected count of each
//! id among them, `E(c) = S Q(c)`, whose log the loss subtracts (the "log-Q correction" that
//! makes the sampled softmax an unbiased estimate of the full one as S grows).
//!
//! Two proposals, as TensorFlow's `sampled_softmax_loss` offers:
//! - **unigram^0.75** (word2vec's): `Q(c) ∝ max(count(c), 1)^0.75` for every id but `<pad>`;
//! - **log-uniform** (Zipfian, for vocabularies in frequency order, as ours are):
//!   `Q(r) = (ln(r + 2) - ln(r + 1)) / ln(V)` for the rank `r = id - 1` of ids `1..V`.
//!
//! `<pad>` (id 0) is never drawn and never a target.

use crate::kernels::float::Float;
use crate::rng::Rng;
use crate::text::PAD_ID;

/// Which proposal distribution Q negatives are drawn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Proposal {
    /// `count^0.75`, counts from the training corpus.
    Unigram,
    /// Zipf's law over ids in frequency order.
    LogUniform,
}

/// Draws the candidates of one step and knows their expected counts.
#[derive(Clone, Debug)]
pub struct Sampler {
    /// `cumulative[i]` = Q(0) + ... + Q(i); the last is 1 up to rounding.
    cumulative: Vec<f64>,
    /// ln E(c) = ln(S Q(c)) for every id (-inf for `<pad>`).
    log_expected: Vec<f64>,
    draws: usize,
}

impl Sampler {
    /// A sampler of `draws` ids per step from `proposal` over ids `0..counts.len()`, with
    /// `counts[id]` the corpus count of each id (used by [`Proposal::Unigram`] only).
    pub fn new(proposal: Proposal, counts: &[u64], draws: usize) -> Self {
        let vocab = counts.len();
        let weights: Vec<f64> = (0..vocab)
            .map(|id| {
                if id == PAD_ID as usize {
                    return 0.0;
                }
                match proposal {
                    Proposal::Unigram => libm::pow(counts[id].max(1) as f64, 0.75),
                    Proposal::LogUniform => {
                        let r = (id - 1) as f64;
                        (r + 2.0).portable_ln() - (r + 1.0).portable_ln()
                    }
                }
            })
            .collect();
        let total: f64 = weights.iter().sum();
        let mut running = 0.0;
        let cumulative = weights
            .iter()
            .map(|w| {
                running += w / total;
                running
            })
            .collect();
        let log_expected = weights
            .iter()
            .map(|&w| (draws as f64 * w / total).portable_ln())
            .collect();
        Self {
            cumulative,
            log_expected,
            draws,
        }
    }

    /// S ids drawn from Q, with replacement, in draw order.
    pub fn draw(&self, rng: &mut Rng) -> Vec<u32> {
        (0..self.draws).map(|_| self.draw_one(rng)).collect()
    }

    /// The first id whose cumulative probability exceeds a uniform draw (never `<pad>`,
    /// whose Q is 0, and never past the last id if rounding leaves the sum under 1).
    fn draw_one(&self, rng: &mut Rng) -> u32 {
        let u = rng.uniform();
        let i = self.cumulative.partition_point(|&c| c <= u);
        let i = i.min(self.cumulative.len() - 1);
        debug_assert_ne!(i, PAD_ID as usize);
        i as u32
    }

    /// `ln E(c) = ln(S Q(c))`.
    pub fn log_expected(&self, id: u32) -> f64 {
        self.log_expected[id as usize]
    }

    /// S, the draws per step.
    pub fn draws(&self) -> usize {
        self.draws
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_uniform_is_zipf_over_ranks_and_sums_to_one() {
        let s = Sampler::new(Proposal::LogUniform, &[0; 11], 4);
        // Q(id 1) = ln 2 / ln 11; E = 4 Q.
        let q1 = libm::log(2.0) / libm::log(11.0);
        assert!((s.log_expected(1) - libm::log(4.0 * q1)).abs() < 1e-12);
        assert!((s.cumulative.last().unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(s.log_expected(0), f64::NEG_INFINITY);
    }

    #[test]
    fn draws_follow_the_unigram_proposal_and_never_pad() {
        // Counts 0 (pad), 1, 16, 81: weights 1, 8, 27 (count^0.75) of 36.
        let s = Sampler::new(Proposal::Unigram, &[5, 1, 16, 81], 8);
        let mut rng = Rng::new(3);
        let mut seen = [0usize; 4];
        for _ in 0..4000 {
            for id in s.draw(&mut rng) {
                seen[id as usize] += 1;
            }
        }
        assert_eq!(seen[0], 0);
        let n = 32000.0;
        for (id, w) in [(1, 1.0), (2, 8.0), (3, 27.0)] {
            let share = seen[id] as f64 / n;
            assert!((share - w / 36.0).abs() < 0.01, "id {id}: {share}");
        }
        // The same seed draws the same ids.
        assert_eq!(s.draw(&mut Rng::new(9)), s.draw(&mut Rng::new(9)));
    }
}
