//! The scalar type the math is generic over.
//!
//! Training and serving run in `f32`; the gradient checks and the PyTorch reference tests run the
//! very same code in `f64`, so the tolerances there can be tight (1e-9) instead of guessed.

use std::fmt::{Debug, Display};

use ndarray::{LinalgScalar, ScalarOperand};
use num_traits::{Float as NumFloat, FromPrimitive, NumAssign, ToPrimitive};

/// A floating-point type the model can compute in (`f32` or `f64`).
pub trait Float:
    NumFloat
    + NumAssign
    + LinalgScalar
    + ScalarOperand
    + FromPrimitive
    + ToPrimitive
    + Debug
    + Display
    + Default
    + Send
    + Sync
    + 'static
{
    /// Converts an `f64` constant; exact for `f64`, rounded to nearest for `f32`.
    fn of(x: f64) -> Self;

    /// Widens to `f64` (exact for both `f32` and `f64`).
    fn to_f64_exact(self) -> f64;

    /// The logistic function as the cells use it. `f64` computes it exactly ([`sigmoid`]), so the
    /// reference tests can be tight; `f32` uses [`fast_exp`], branch-free so the gate loops
    /// vectorise (relative error below 2e-7).
    fn gate_sigmoid(self) -> Self;

    /// `tanh` as the cells use it: exact for `f64` (libm), [`fast_exp`]-based for `f32`
    /// (absolute error below 3e-7).
    fn gate_tanh(self) -> Self;

    /// `e^x` by the `libm` crate (musl's code, in Rust), the same bits on every CPU. The
    /// standard library's `exp` calls the C library, and glibc picks another implementation
    /// (other rounding) on CPUs with FMA; so does `ln_1p`. Nothing that reaches a model file
    /// or a printed number may call those (`clippy.toml` refuses them).
    fn portable_exp(self) -> Self;

    /// `ln(1 + x)` by the `libm` crate, as [`Float::portable_exp`].
    fn portable_ln_1p(self) -> Self;

    /// `ln x` by the `libm` crate, as [`Float::portable_exp`].
    fn portable_ln(self) -> Self;

    /// `fma(self, b, c)`, correctly rounded like [`NumFloat::mul_add`], without an FMA
    /// instruction: for `f32`, in `f64` arithmetic that vectorises on SSE2 (where `mul_add`
    /// is a call to the C library's `fmaf` per element); for `f64`, `mul_add` itself.
    fn fma_in_f64(self, b: Self, c: Self) -> Self;

    /// `e^x` for the language model's softmax over thousands of scores: [`fast_exp`] for
    /// `f32`, so the loops vectorise (and anything below `e^-87`, `-inf` included, is 0);
    /// exact (libm) for `f64`, so the reference tests stay tight.
    fn wide_exp(self) -> Self;
}

impl Float for f32 {
    fn of(x: f64) -> Self {
        x as f32
    }
    fn to_f64_exact(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn gate_sigmoid(self) -> Self {
        // sigma(x) = 1 / (1 + e^-x); fast_exp clamps, so this is finite for every input.
        1.0 / (1.0 + fast_exp(-self))
    }
    #[inline(always)]
    fn gate_tanh(self) -> Self {
        // tanh(x) = 1 - 2 / (e^2x + 1)
        1.0 - 2.0 / (fast_exp(2.0 * self) + 1.0)
    }
    #[inline]
    fn portable_exp(self) -> Self {
        libm::expf(self)
    }
    #[inline]
    fn portable_ln_1p(self) -> Self {
        libm::log1pf(self)
    }
    #[inline]
    fn portable_ln(self) -> Self {
        libm::logf(self)
    }
    /// The product is exact in f64 (24 + 24 significant bits fit in 53) and the sum rounds
    /// once; TwoSum gives that rounding's error `e`. Rounding the sum to odd instead (an
    /// inexact sum with an even last bit moves one ulp toward the exact value) keeps the
    /// information the final rounding needs, so `s as f32` is the correctly rounded
    /// `a b + c`, as 53 >= 24 + 2 (Boldo and Melquiond, "Emulation of FMA and correctly
    /// rounded sums: proved algorithms using rounding to odd", 2008).
    #[inline(always)]
    fn fma_in_f64(self, b: f32, c: f32) -> f32 {
        let (p, c) = (f64::from(self) * f64::from(b), f64::from(c));
        // s + e = p + c exactly (Knuth's TwoSum).
        let s = p + c;
        let c_part = s - p;
        let e = (p - (s - c_part)) + (c - c_part);
        let bits = s.to_bits();
        // Toward e: one ulp up in magnitude when e has the sign of s, else down. Not for
        // infinities and NaN (e is NaN there), which pass through as they are.
        let step = if (e > 0.0) == (s > 0.0) { 1 } else { u64::MAX };
        let to_odd = e != 0.0 && bits & 1 == 0 && s.is_finite();
        f64::from_bits(if to_odd {
            bits.wrapping_add(step)
        } else {
            bits
        }) as f32
    }
    #[inline(always)]
    fn wide_exp(self) -> Self {
        // fast_exp clamps at -87; below it the true value is under 2e-38, and a removed
        // score (-inf) must weigh exactly 0.
        let e = fast_exp(self);
        if self < -87.0 {
            0.0
        } else {
            e
        }
    }
}

impl Float for f64 {
    fn of(x: f64) -> Self {
        x
    }
    fn to_f64_exact(self) -> f64 {
        self
    }
    #[inline]
    fn gate_sigmoid(self) -> Self {
        sigmoid(self)
    }
    #[inline]
    fn gate_tanh(self) -> Self {
        libm::tanh(self)
    }
    #[inline]
    fn portable_exp(self) -> Self {
        libm::exp(self)
    }
    #[inline]
    fn portable_ln_1p(self) -> Self {
        libm::log1p(self)
    }
    #[inline]
    fn portable_ln(self) -> Self {
        libm::log(self)
    }
    #[inline(always)]
    fn fma_in_f64(self, b: f64, c: f64) -> f64 {
        self.mul_add(b, c)
    }
    #[inline]
    fn wide_exp(self) -> Self {
        libm::exp(self)
    }
}

/// `e^x` for `f32` without branches or library calls, so loops over it vectorise: the
/// argument is clamped to [-87, 88], split as `x = n ln 2 + r` with |r| <= ln 2 / 2 (n
/// rounded by the 1.5 * 2^23 trick, ln 2 in two parts for precision), `e^r` comes from
/// Cephes' degree-6 polynomial, and `2^n` is built in the exponent bits. Relative error is
/// about 1e-7 (2 ulp) over the whole range.
#[inline(always)]
pub fn fast_exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 * 2^23: adding it rounds to an integer in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_2e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let e_r = p * r * r + r + 1.0;
    // t's low mantissa bits hold n exactly: bits(t) = bits(1.5 * 2^23) + n. So the exponent
    // field of 2^n is bits(t) - bits(1.5 * 2^23) + 127, computed in integers (a float-to-int
    // conversion would stop the loop from vectorising).
    let scale = f32::from_bits(t.to_bits().wrapping_sub(0x4B40_0000 - 127) << 23);
    e_r * scale
}

/// `sigma(x) = 1 / (1 + exp(-x))`, written so that neither branch overflows; `exp` is
/// [`Float::portable_exp`], so printed probabilities are the same on every CPU.
#[inline]
pub fn sigmoid<F: Float>(x: F) -> F {
    if x >= F::zero() {
        F::one() / (F::one() + (-x).portable_exp())
    } else {
        let e = x.portable_exp();
        e / (F::one() + e)
    }
}

/// `softmax(z)_k = exp(z_k - m) / sum_j exp(z_j - m)` with `m = max z`, in place: no
/// exponent is positive, so nothing overflows, and every value lies in [0, 1]. `exp` is
/// [`Float::portable_exp`], so probabilities are the same on every CPU.
pub fn softmax_in_place<F: Float>(z: &mut [F]) {
    let m = z.iter().copied().fold(F::neg_infinity(), F::max);
    let mut sum = F::zero();
    for x in z.iter_mut() {
        *x = (*x - m).portable_exp();
        sum += *x;
    }
    for x in z.iter_mut() {
        *x /= sum;
    }
}

/// `logsumexp(z) = m + ln sum_j exp(z_j - m)` with `m = max z`, which never overflows.
pub fn log_sum_exp<F: Float>(z: &[F]) -> F {
    let m = z.iter().copied().fold(F::neg_infinity(), F::max);
    m + z
        .iter()
        .map(|&x| (x - m).portable_exp())
        .fold(F::zero(), |a, b| a + b)
        .portable_ln()
}

/// Lanes of the wide reductions below: eight partial results, element `i` going to lane
/// `i % 8`, combined in one fixed tree. The order is the code's, not the CPU's, so the bits
/// are the same at every SIMD level.
const LANES: usize = 8;

/// `max z` over lanes (-inf for an empty slice).
fn lane_max<F: Float>(z: &[F]) -> F {
    let mut acc = [F::neg_infinity(); LANES];
    let chunks = z.chunks_exact(LANES);
    for (a, &x) in acc.iter_mut().zip(chunks.remainder()) {
        *a = a.max(x);
    }
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a = a.max(x);
        }
    }
    acc.into_iter().fold(F::neg_infinity(), F::max)
}

/// `sum_i f(z_i)` over lanes.
#[inline(always)]
fn lane_sum<F: Float>(z: &[F], f: impl Fn(F) -> F) -> F {
    let mut acc = [F::zero(); LANES];
    let chunks = z.chunks_exact(LANES);
    for (a, &x) in acc.iter_mut().zip(chunks.remainder()) {
        *a += f(x);
    }
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += f(x);
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// `logsumexp(z)` for long score rows (the language model's softmax): as [`log_sum_exp`], with
/// [`Float::wide_exp`] and lane sums, so it vectorises.
pub fn wide_log_sum_exp<F: Float>(z: &[F]) -> F {
    let m = lane_max(z);
    m + lane_sum(z, |x| (x - m).wide_exp()).portable_ln()
}

/// In place `z <- softmax(z)`, returning `logsumexp(z)`: one exponential per element (the
/// loss and its gradient `softmax - onehot` from one pass), with [`Float::wide_exp`] and lane
/// sums. A `-inf` score gets probability exactly 0.
pub fn wide_log_softmax_in_place<F: Float>(z: &mut [F]) -> F {
    wide_log_softmax_beside(F::neg_infinity(), z).0
}

/// The softmax of the scores `[first, z...]` without copying them into one row: `z` becomes
/// its part of the probabilities, and the result is `(logsumexp, probability of first)`. A
/// `first` of `-inf` weighs exactly 0, which makes this [`wide_log_softmax_in_place`].
pub fn wide_log_softmax_beside<F: Float>(first: F, z: &mut [F]) -> (F, F) {
    let m = lane_max(z).max(first);
    let e_first = (first - m).wide_exp();
    z.iter_mut().for_each(|x| *x = (*x - m).wide_exp());
    let sum = e_first + lane_sum(z, |x| x);
    z.iter_mut().for_each(|x| *x /= sum);
    (m + sum.portable_ln(), e_first / sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_and_log_sum_exp_are_stable() {
        let mut p = [1000.0f64, 1000.0, 1000.0 - libm::log(2.0)];
        softmax_in_place(&mut p);
        // 1000 - ln 2 itself is rounded at 1e-13.
        for (got, want) in p.iter().zip([0.4, 0.4, 0.2]) {
            assert!((got - want).abs() < 1e-12, "{got}");
        }
        let lse = log_sum_exp(&[1000.0f64, 1000.0]);
        assert!((lse - (1000.0 + libm::log(2.0))).abs() < 1e-12);
        assert!(
            (log_sum_exp(&[0.5f64, -1.0]) - libm::log(libm::exp(0.5) + libm::exp(-1.0))).abs()
                < 1e-15
        );
        let mut tiny = [-1e30f32, 0.0];
        softmax_in_place(&mut tiny);
        assert_eq!(tiny, [0.0, 1.0]);
    }

    #[test]
    fn wide_softmax_matches_the_exact_one() {
        // 1000 scores (not a multiple of the lanes), spread over 60 nats, one removed.
        let z: Vec<f64> = (0..1003)
            .map(|i| libm::cos(i as f64 * 0.71) * 30.0 + i as f64 * 1e-3)
            .collect();
        let mut z32: Vec<f32> = z.iter().map(|&x| x as f32).collect();
        z32[7] = f32::NEG_INFINITY;
        let mut want = z.clone();
        want[7] = f64::NEG_INFINITY;
        let lse = log_sum_exp(&want);
        softmax_in_place(&mut want);
        assert!((f64::from(wide_log_sum_exp(&z32)) - lse).abs() < 1e-5);
        let got = wide_log_softmax_in_place(&mut z32);
        assert!((f64::from(got) - lse).abs() < 1e-5, "{got} {lse}");
        assert_eq!(z32[7], 0.0);
        for (g, w) in z32.iter().zip(&want) {
            assert!((f64::from(*g) - w).abs() < 1e-6, "{g} {w}");
        }
        // f64 is exact up to the order of summation.
        let mut z64 = z.clone();
        let lse64 = wide_log_softmax_in_place(&mut z64);
        assert!((lse64 - log_sum_exp(&z)).abs() < 1e-12);
        // A score beside the row is scored as the row's first element.
        let mut rest = z[1..].to_vec();
        let (lse_beside, p_first) = wide_log_softmax_beside(z[0], &mut rest);
        assert!((lse_beside - lse64).abs() < 1e-12);
        assert!((p_first - z64[0]).abs() < 1e-15);
        for (a, b) in rest.iter().zip(&z64[1..]) {
            assert!((a - b).abs() < 1e-15);
        }
    }

    #[test]
    fn fma_in_f64_rounds_as_fma() {
        // Random sign, mantissa and exponent for each operand, exponents spread so that the
        // product and the addend overlap, nearly cancel or lie far apart (where the sticky
        // bits decide), plus ties, zeros of both signs, infinities and NaN.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut operand = |spread: u64| {
            let r = next();
            let exponent = (127 + (r >> 40) % (2 * spread + 1)) as u32 - spread as u32;
            f32::from_bits(((r >> 63) as u32) << 31 | exponent << 23 | (r as u32 & 0x7f_ffff))
        };
        let mut cases: Vec<[f32; 3]> = (0..2_000_000)
            .map(|i| {
                let spread = [3, 30, 60][i % 3];
                [operand(spread), operand(spread), operand(2 * spread)]
            })
            .collect();
        let specials = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ];
        for &x in &specials {
            for &y in &specials {
                cases.push([x, y, 1.0]);
                cases.push([1.0, x, y]);
            }
        }
        // a b just inside half an ulp of c, by less than half an ulp of f64: the sum in f64
        // rounds to the f32 midpoint, and ties-to-even would then pick the wrong neighbour
        // for c of odd or even mantissa (the double rounding the method exists to avoid).
        for k in 0..40_000u64 {
            let c = operand(30);
            let half_ulp = f32::from_bits(c.to_bits() & 0xff80_0000) * f32::EPSILON / 2.0;
            let x = 2f32.powi(-12 - (k % 12) as i32);
            let sign = if k & 64 == 0 { 1.0 } else { -1.0 };
            // (h (1 + x)) (1 - x) = h (1 - x^2); (h (1 - x)) (1 - x) = h (1 - 2x + x^2).
            cases.push([sign * half_ulp * (1.0 + x), 1.0 - x, c]);
            cases.push([sign * half_ulp * (1.0 - x), 1.0 - x, c]);
            cases.push([sign * half_ulp * (1.0 + x), 1.0 + x, c]);
        }
        for [a, b, c] in cases {
            let want = a.mul_add(b, c);
            let got = a.fma_in_f64(b, c);
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "fma({a:e}, {b:e}, {c:e}) = {want:e}, got {got:e}"
            );
        }
    }

    #[test]
    fn fast_exp_is_accurate_over_the_range() {
        let mut worst: f64 = 0.0;
        let mut x = -87.0f32;
        while x < 88.0 {
            let exact = libm::exp(f64::from(x));
            let err = ((f64::from(fast_exp(x)) - exact) / exact).abs();
            worst = worst.max(err);
            x += 0.0137;
        }
        assert!(worst < 3e-7, "worst relative error {worst:e}");
        assert!(fast_exp(-1000.0) > 0.0 && fast_exp(1000.0).is_finite());
    }

    #[test]
    fn fast_gates_match_exact_functions() {
        let mut x = -30.0f32;
        while x < 30.0 {
            let s = f64::from(x.gate_sigmoid());
            let t = f64::from(x.gate_tanh());
            let xs = f64::from(x);
            assert!(
                (s - 1.0 / (1.0 + libm::exp(-xs))).abs() < 2e-7,
                "sigmoid {x}"
            );
            assert!((t - libm::tanh(xs)).abs() < 3e-7, "tanh {x}");
            assert!((0.0..=1.0).contains(&s) && (-1.0..=1.0).contains(&t));
            x += 0.001_7;
        }
        assert_eq!(1000.0f32.gate_sigmoid(), 1.0);
        assert_eq!((-1000.0f32).gate_tanh(), -1.0);
    }
}
