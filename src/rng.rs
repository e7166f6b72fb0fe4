//! The one source of randomness: a seeded, portable ChaCha8 stream.
//!
//! Every random choice (initial weights, shuffles, the validation split) draws from a [`Rng`]
//! passed explicitly, never from a global. The conversions from raw bits to floats, the
//! shuffle and the normal sampler are written here rather than taken from `rand`, so that the
//! same seed gives the same model file on every platform and across dependency upgrades.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng as _, SeedableRng};

/// Where a [`Rng`] is in its stream: enough to continue it exactly (for resumable training).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RngState {
    seed: [u8; 32],
    stream: u64,
    /// The 128-bit word position, as decimal text (JSON numbers are not 128-bit safe).
    word_pos: String,
}

/// A deterministic random number generator.
#[derive(Clone, Debug)]
pub struct Rng {
    inner: ChaCha8Rng,
}

impl Rng {
    /// A generator whose whole stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            inner: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// A generator for one named purpose, independent of the other streams of the same seed:
    /// adding a draw to one purpose never changes what another purpose sees.
    pub fn stream(seed: u64, purpose: u64) -> Self {
        let mut inner = ChaCha8Rng::seed_from_u64(seed);
        inner.set_stream(purpose);
        Self { inner }
    }

    /// The generator's position, to continue it later with [`Rng::from_state`].
    pub fn state(&self) -> RngState {
        RngState {
            seed: self.inner.get_seed(),
            stream: self.inner.get_stream(),
            word_pos: self.inner.get_word_pos().to_string(),
        }
    }

    /// A generator continuing exactly where `state` was taken.
    pub fn from_state(state: &RngState) -> Result<Self, String> {
        let word_pos: u128 = state
            .word_pos
            .parse()
            .map_err(|_| format!("bad random-stream position {:?}", state.word_pos))?;
        let mut inner = ChaCha8Rng::from_seed(state.seed);
        inner.set_stream(state.stream);
        inner.set_word_pos(word_pos);
        Ok(Self { inner })
    }

    /// 64 uniformly random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[low, high)`.
    pub fn uniform_in(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.uniform()
    }

    /// Standard normal sample by the Box-Muller transform (one of the pair is discarded, which
    /// keeps the stream position a simple function of the number of draws).
    pub fn normal(&mut self) -> f64 {
        // 1 - u lies in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        // ln and cos from the `libm` crate: the C library's differ between CPUs with and
        // without FMA, and every initial weight comes from here.
        (-2.0 * libm::log(u1)).sqrt() * libm::cos(std::f64::consts::TAU * u2)
    }

    /// Uniform integer in `[0, n)` for `n > 0`, without modulo bias (Lemire's method).
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        let n = n as u64;
        loop {
            let product = u128::from(self.next_u64()) * u128::from(n);
            let low = product as u64;
            if low >= n.wrapping_neg() % n {
                return (product >> 64) as usize;
            }
        }
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_streams_differ() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(7).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut s1 = Rng::stream(7, 1);
        let mut s2 = Rng::stream(7, 2);
        assert_ne!(s1.next_u64(), s2.next_u64());
    }

    #[test]
    fn a_saved_state_continues_the_same_stream() {
        let mut a = Rng::stream(9, 3);
        for _ in 0..5 {
            a.next_u64();
        }
        let mut b = Rng::from_state(&a.state()).unwrap();
        let next: Vec<u64> = (0..10).map(|_| a.next_u64()).collect();
        assert_eq!(next, (0..10).map(|_| b.next_u64()).collect::<Vec<_>>());
    }

    #[test]
    fn uniform_and_below_stay_in_range() {
        let mut rng = Rng::new(1);
        for _ in 0..10_000 {
            let u = rng.uniform();
            assert!((0.0..1.0).contains(&u));
            assert!(rng.below(3) < 3);
        }
    }

    #[test]
    fn normal_has_unit_moments() {
        let mut rng = Rng::new(3);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "variance {var}");
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut rng = Rng::new(5);
        let mut v: Vec<usize> = (0..100).collect();
        rng.shuffle(&mut v);
        assert_ne!(v, (0..100).collect::<Vec<_>>());
        v.sort_unstable();
        assert_eq!(v, (0..100).collect::<Vec<_>>());
    }
}
