//! The cells' matrix products, every element one chain of fused multiply-adds in order of k:
//!
//! `acc = start_ij;  acc = fma(a_ip, b_pj, acc) for p = 0, 1, ..., k - 1;  out_ij = end(acc)`
//!
//! with `start = out` and `end(acc) = acc` for [`gemm_add`] (`out += a · b`, backward),
//! `start = 0` for [`gemm_set`] (`out = a · b`) and `start = 0`, `end(acc) = bias_j + acc`
//! for [`gemm_bias_rows`] (`out = bias + a · b`, forward).
//!
//! That order is the definition of the result, so it is the same bits on every CPU and at
//! every [`SimdLevel`]: a vector lane computes one element's chain, and the width only decides
//! how many chains run side by side. (The `gemm` crate used before for backward chose its
//! micro-kernel by instruction set, blocked k by the cache sizes it detected and added each
//! block's partial sum to `out` separately, so the same training gave other bits on another
//! CPU.) It also makes a row of the product a function of that row of `a` alone, so a text's
//! probability does not depend on which texts share its batch. Blocking k for the caches is
//! free under this definition: a block's partial result is stored in `out` exactly and the
//! next block resumes its chain from there.
//!
//! The kernel reads `a` row-major or column-major (the cells pass `X`, `h`, `dA` and `dA^T`)
//! and `b` row-major (the cells transpose their weights once per call for forward), in place;
//! other layouts are copied first. Tiles of `ROWS x COLS` accumulators stay in vector
//! registers, sized for each level's register file: with AVX-512, criterion's shard forward +
//! backward runs as fast as with the `gemm` crate (within this machine's noise).

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut2};

use super::float::Float;
use super::simd::{level, simd_at, SimdLevel};

/// Values of k per block: a block of `b` (`K_BLOCK x COLS`, 64 KB in f32 at 64 columns)
/// stays in the L2 cache while every row tile of `a` passes over it.
const K_BLOCK: usize = 256;

/// `out += a · b`: `(m, k) x (k, n)` added into `(m, n)`, in the order the module defines.
pub fn gemm_add<F: Float>(a: ArrayView2<F>, b: ArrayView2<F>, out: &mut ArrayViewMut2<F>) {
    product_at(level(), a, b, out, Chain::FromOut);
}

/// `out = a · b`: as [`gemm_add`] onto zeros (each chain starts from `+0`); `out`'s old values
/// are never read, so it can be [`super::linalg::scratch`].
pub fn gemm_set<F: Float>(a: ArrayView2<F>, b: ArrayView2<F>, out: &mut ArrayViewMut2<F>) {
    product_at(level(), a, b, out, Chain::FromZero { bias: None });
}

/// `out = bias + a · b` for a bias row `bias` (n values): each chain starts from `+0` and
/// `out_ij = bias_j + acc`; `out`'s old values are never read. The forward pass (`x W^T + b`)
/// relies on each row of `out` depending on that row of `a` only, so that predict, explain
/// and eval agree bit for bit whatever texts share a batch. Adding the bias as each tile is
/// stored, rather than writing bias rows first and adding the product onto them, saves a pass
/// over the output (1 MB per training shard for the input projection).
pub fn gemm_bias_rows<F: Float>(
    a: ArrayView2<F>,
    b: ArrayView2<F>,
    bias: &[F],
    out: &mut ArrayViewMut2<F>,
) {
    assert_eq!(bias.len(), b.ncols(), "one bias per column");
    product_at(level(), a, b, out, Chain::FromZero { bias: Some(bias) });
}

/// Where each element's chain starts, and what is added when it ends.
#[derive(Clone, Copy)]
pub(crate) enum Chain<'a, F> {
    /// `acc = out_ij`, `out_ij = acc` ([`gemm_add`]).
    FromOut,
    /// `acc = 0`, then `out_ij = acc` ([`gemm_set`]) or `bias_j + acc` ([`gemm_bias_rows`]).
    FromZero { bias: Option<&'a [F]> },
}

/// The product with chains as `chain` says, run at `level`: the tests compare every level in
/// one process.
pub(crate) fn product_at<F: Float>(
    level: SimdLevel,
    a: ArrayView2<F>,
    b: ArrayView2<F>,
    out: &mut ArrayViewMut2<F>,
    chain: Chain<'_, F>,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    assert_eq!(b.nrows(), k, "inner dimensions differ");
    assert_eq!(out.dim(), (m, n), "output shape differs");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // An empty sum: each chain ends where it starts.
        if let Chain::FromZero { bias } = chain {
            for mut row in out.rows_mut() {
                match bias {
                    Some(bias) => row.zip_mut_with(&ArrayView1::from(bias), |o, &b| {
                        *o = b + F::zero();
                    }),
                    None => row.fill(F::zero()),
                }
            }
        }
        return;
    }
    // Row-major b and out are read in place; the cells never pass anything else.
    let b = b.as_standard_layout();
    let b = b.as_slice().expect("standard layout");
    let a_t = a.t();
    let lhs_owned;
    let lhs = match (a.as_slice(), a_t.as_slice()) {
        (Some(rows), _) => Lhs::Rows(rows),
        (None, Some(columns)) => Lhs::Columns(columns),
        (None, None) => {
            lhs_owned = a.as_standard_layout();
            Lhs::Rows(lhs_owned.as_slice().expect("standard layout"))
        }
    };
    let shape = Shape { m, k, n };
    match out.as_slice_mut() {
        Some(out) => blocks_at(level, lhs, b, out, shape, chain),
        None => {
            let mut copy = out.view().as_standard_layout().into_owned();
            let slice = copy.as_slice_mut().expect("an owned array is standard");
            blocks_at(level, lhs, b, slice, shape, chain);
            out.assign(&copy);
        }
    }
}

/// `a` as the kernel reads it: `a_ip` is `rows[i * k + p]` or `columns[p * m + i]`.
#[derive(Clone, Copy)]
enum Lhs<'a, F> {
    Rows(&'a [F]),
    Columns(&'a [F]),
}

/// The product's dimensions: `(m, k) x (k, n)`.
#[derive(Clone, Copy)]
struct Shape {
    m: usize,
    k: usize,
    n: usize,
}

/// The product in register tiles sized for `level`'s register file (AVX-512: 32 registers of
/// 16 f32, a 4 x 64 tile in 16 of them; AVX2 and SSE2: 16 registers, a 4 x 16 tile in 8 or
/// 16). Any tile gives the same bits; these keep the accumulators out of memory (4 x 64 at
/// AVX2 spilled them: LSTM forward + backward of a shard took 2.4 times as long).
fn blocks_at<F: Float>(
    level: SimdLevel,
    a: Lhs<'_, F>,
    b: &[F],
    out: &mut [F],
    shape: Shape,
    chain: Chain<'_, F>,
) {
    match level {
        SimdLevel::Avx512 => simd_at(
            level,
            #[inline(always)]
            || blocks::<F, 4, 64, false>(a, b, out, shape, chain),
        ),
        SimdLevel::Avx2 => simd_at(
            level,
            #[inline(always)]
            || blocks::<F, 4, 16, false>(a, b, out, shape, chain),
        ),
        // No FMA instruction: f32::mul_add would call the C library's fmaf for every
        // multiply-add; Float::fma_in_f64 gives the same bits inline, 1.5 times as fast.
        SimdLevel::Baseline => simd_at(
            level,
            #[inline(always)]
            || blocks::<F, 4, 16, true>(a, b, out, shape, chain),
        ),
    }
}

/// Every tile of the product, one block of k at a time (see [`K_BLOCK`]); within a block, row
/// tiles of `ROWS` (then single rows) and column tiles of `COLS` (then 8, then 1). `IN_F64`:
/// each fused multiply-add by [`Float::fma_in_f64`] rather than `mul_add`.
#[inline(always)]
fn blocks<F: Float, const ROWS: usize, const COLS: usize, const IN_F64: bool>(
    a: Lhs<'_, F>,
    b: &[F],
    out: &mut [F],
    shape: Shape,
    chain: Chain<'_, F>,
) {
    let Shape { m, k, n } = shape;
    debug_assert_eq!(out.len(), m * n);
    for p0 in (0..k).step_by(K_BLOCK) {
        let ks = p0..(p0 + K_BLOCK).min(k);
        // The first block starts the chains, later ones resume them from `out`; the last one
        // ends them.
        let ends = Ends {
            load: matches!(chain, Chain::FromOut) || p0 > 0,
            bias: match chain {
                Chain::FromZero { bias } if ks.end == k => bias,
                _ => None,
            },
        };
        let mut i = 0;
        while i + ROWS <= m {
            row_tiles::<F, ROWS, COLS, IN_F64>(a, b, out, shape, i, ks.clone(), ends);
            i += ROWS;
        }
        while i < m {
            row_tiles::<F, 1, COLS, IN_F64>(a, b, out, shape, i, ks.clone(), ends);
            i += 1;
        }
    }
}

/// How the chains of one block of k start and end: from `out` (`load`) or from zero, and with
/// `bias_j` added as they are stored.
#[derive(Clone, Copy)]
struct Ends<'a, F> {
    load: bool,
    bias: Option<&'a [F]>,
}

/// Rows `i..i + ROWS` over the values of k in `ks`, tile by tile across the columns.
#[inline(always)]
fn row_tiles<F: Float, const ROWS: usize, const COLS: usize, const IN_F64: bool>(
    a: Lhs<'_, F>,
    b: &[F],
    out: &mut [F],
    shape: Shape,
    i: usize,
    ks: std::ops::Range<usize>,
    ends: Ends<'_, F>,
) {
    let n = shape.n;
    let mut j = 0;
    while j + COLS <= n {
        tile::<F, ROWS, COLS, IN_F64>(a, b, out, shape, (i, j), ks.clone(), ends);
        j += COLS;
    }
    while j + 8 <= n {
        tile::<F, ROWS, 8, IN_F64>(a, b, out, shape, (i, j), ks.clone(), ends);
        j += 8;
    }
    while j < n {
        tile::<F, ROWS, 1, IN_F64>(a, b, out, shape, (i, j), ks.clone(), ends);
        j += 1;
    }
}

/// One `(ROWS, COLS)` tile of `out` at `(i, j)`: its chains carried over the values of k in
/// `ks`, started and ended as `ends` says.
#[inline(always)]
fn tile<F: Float, const ROWS: usize, const COLS: usize, const IN_F64: bool>(
    a: Lhs<'_, F>,
    b: &[F],
    out: &mut [F],
    shape: Shape,
    (i, j): (usize, usize),
    ks: std::ops::Range<usize>,
    ends: Ends<'_, F>,
) {
    let Shape { m, k, n } = shape;
    let mut acc = [[F::zero(); COLS]; ROWS];
    if ends.load {
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let start = (i + r) * n + j;
            acc_r.copy_from_slice(&out[start..start + COLS]);
        }
    }
    match a {
        Lhs::Rows(rows) => {
            // a_ip = rows[i + r][p]: each row of the tile read in order.
            let len = ks.len();
            let a_rows: [&[F]; ROWS] = std::array::from_fn(|r| {
                let start = (i + r) * k + ks.start;
                &rows[start..start + len]
            });
            chains::<F, ROWS, COLS, IN_F64>(&mut acc, b, n, j, ks, |q| {
                std::array::from_fn(|r| a_rows[r][..len][q])
            });
        }
        Lhs::Columns(columns) => {
            // a_ip = columns[p][i + r]: the tile's ROWS values of step p lie side by side.
            let first = ks.start;
            chains::<F, ROWS, COLS, IN_F64>(&mut acc, b, n, j, ks, |q| {
                let start = (first + q) * m + i;
                columns[start..start + ROWS]
                    .try_into()
                    .expect("ROWS values")
            });
        }
    }
    if let Some(bias) = ends.bias {
        // Copied: read through the slice, LLVM cannot rule out that the stores to `out`
        // change it, and it then kept the accumulator tile in memory (25 instead of 114
        // GFLOP/s).
        let bias: [F; COLS] = bias[j..j + COLS].try_into().expect("COLS values");
        for acc_r in &mut acc {
            for (v, &b) in acc_r.iter_mut().zip(&bias) {
                *v = b + *v;
            }
        }
    }
    for (r, acc_r) in acc.iter().enumerate() {
        let start = (i + r) * n + j;
        out[start..start + COLS].copy_from_slice(acc_r);
    }
}

/// `acc[r][c] = fma(a_p[r], b[p, j + c], acc[r][c])` for p in `ks`, in order, with `a_p` the
/// column of `a`'s tile at `p` (`a_at(p - ks.start)`); the tile stays in registers.
#[inline(always)]
fn chains<F: Float, const ROWS: usize, const COLS: usize, const IN_F64: bool>(
    acc: &mut [[F; COLS]; ROWS],
    b: &[F],
    ldb: usize,
    j: usize,
    ks: std::ops::Range<usize>,
    a_at: impl Fn(usize) -> [F; ROWS],
) {
    let mut tile = *acc;
    for (q, p) in ks.enumerate() {
        let a_p = a_at(q);
        let b_row: &[F; COLS] = b[p * ldb + j..p * ldb + j + COLS]
            .try_into()
            .expect("COLS values");
        for r in 0..ROWS {
            for c in 0..COLS {
                tile[r][c] = if IN_F64 {
                    a_p[r].fma_in_f64(b_row[c], tile[r][c])
                } else {
                    a_p[r].mul_add(b_row[c], tile[r][c])
                };
            }
        }
    }
    *acc = tile;
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array2};

    /// Values of mixed sign and magnitude, so a change of order shows in the low bits.
    fn filled(rows: usize, cols: usize, seed: f64) -> Array2<f32> {
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            let x = (i * cols + j) as f64 * 0.618 + seed;
            ((x * 7.31).fract() - 0.5) as f32 * (1.0 + (x * 3.7).fract() as f32 * 100.0)
        })
    }

    /// The module's definition, one element at a time.
    fn sequential(a: ArrayView2<f32>, b: ArrayView2<f32>, out: &mut Array2<f32>) {
        for ((i, j), o) in out.indexed_iter_mut() {
            let mut acc = *o;
            for p in 0..a.ncols() {
                acc = a[[i, p]].mul_add(b[[p, j]], acc);
            }
            *o = acc;
        }
    }

    /// Shapes with zero, one, primes, k over several blocks and columns past every tile width.
    const SHAPES: [(usize, usize, usize); 10] = [
        (0, 3, 4),
        (3, 0, 4),
        (3, 4, 0),
        (1, 1, 1),
        (2, 3, 5),
        (7, 11, 13),
        (5, 600, 131),
        (17, 257, 71),
        (13, 37, 75),
        (4, 512, 128),
    ];

    /// Runs `check(a, b, out)` on every layout the kernel takes for `(m, k, n)`: `a` row-major,
    /// transposed (column-major) and strided; `b` row-major and transposed; `out` row-major and
    /// strided (a column-major copy).
    fn for_each_layout(
        (m, k, n): (usize, usize, usize),
        mut check: impl FnMut(&str, ArrayView2<f32>, ArrayView2<f32>, &mut ArrayViewMut2<f32>),
    ) {
        let a = filled(m, k, 0.1);
        let b = filled(k, n, 0.2);
        let a_t = a.t().to_owned();
        let b_t = b.t().to_owned();
        let a_wide = filled(m, 2 * k, 0.1);
        let a_strided = a_wide.slice(s![.., ..;2]);
        for (name, a_view, b_view) in [
            ("plain", a.view(), b.view()),
            ("a^T", a_t.t(), b.view()),
            ("a strided", a_strided, b.view()),
            ("b^T", a.view(), b_t.t()),
            ("both^T", a_t.t(), b_t.t()),
        ] {
            let mut out = filled(m, n, 0.3);
            check(name, a_view, b_view, &mut out.view_mut());
            let mut out_t = filled(n, m, 0.3);
            check(
                &format!("{name}, out^T"),
                a_view,
                b_view,
                &mut out_t.view_mut().reversed_axes(),
            );
        }
    }

    /// The three kinds of chain: from `out`, from zero, from zero with a bias at the end.
    fn chains_of(bias: &[f32]) -> [(&'static str, Chain<'_, f32>); 3] {
        [
            ("add", Chain::FromOut),
            ("set", Chain::FromZero { bias: None }),
            ("bias", Chain::FromZero { bias: Some(bias) }),
        ]
    }

    #[test]
    fn every_level_computes_the_defined_order_bit_for_bit() {
        for shape in SHAPES {
            let bias = filled(1, shape.2, 0.7).into_raw_vec_and_offset().0;
            for_each_layout(shape, |name, a, b, out| {
                for (kind, chain) in chains_of(&bias) {
                    let mut want = out.to_owned();
                    if let Chain::FromZero { bias } = chain {
                        want.fill(0.0);
                        sequential(a, b, &mut want);
                        for mut row in want.rows_mut() {
                            for (o, &b) in row.iter_mut().zip(bias.unwrap_or(&[])) {
                                *o += b;
                            }
                        }
                    } else {
                        sequential(a, b, &mut want);
                    }
                    for level in SimdLevel::supported() {
                        let mut got = out.to_owned();
                        if matches!(chain, Chain::FromZero { .. }) {
                            got.fill(f32::NAN);
                        }
                        product_at(level, a, b, &mut got.view_mut(), chain);
                        let bits = |x: &Array2<f32>| x.mapv(f32::to_bits);
                        assert_eq!(bits(&got), bits(&want), "{shape:?} {name} {level} {kind}");
                    }
                }
                // And in place, through the public function, at the configured level.
                let mut want = out.to_owned();
                sequential(a, b, &mut want);
                gemm_add(a, b, out);
                assert_eq!(*out, want, "{shape:?} {name} gemm_add");
            });
        }
    }

    #[test]
    fn a_row_never_depends_on_the_other_rows() {
        // Row i of a product of the first m rows is bit for bit row i of the full one, so a
        // text's probability does not depend on its batch-mates.
        for &(k, n) in &[(1, 1), (3, 9), (128, 512), (512, 128), (5, 70)] {
            let (a, b) = (filled(37, k, 0.1), filled(k, n, 0.2));
            let bias = filled(1, n, 0.3).into_raw_vec_and_offset().0;
            let mut all = Array2::from_elem((37, n), f32::NAN);
            gemm_bias_rows(a.view(), b.view(), &bias, &mut all.view_mut());
            for m in 1..37 {
                let mut part = Array2::from_elem((m, n), f32::NAN);
                let a_part = a.slice(s![..m, ..]);
                gemm_bias_rows(a_part, b.view(), &bias, &mut part.view_mut());
                assert_eq!(part, all.slice(s![..m, ..]), "{k}x{n}, {m} rows");
            }
        }
    }

    #[test]
    fn matches_a_product_in_f64() {
        for shape in SHAPES {
            for_each_layout(shape, |name, a, b, out| {
                let (a64, b64) = (a.mapv(f64::from), b.mapv(f64::from));
                let want = out.mapv(f64::from) + a64.dot(&b64);
                // Each step of a chain rounds once: |error| <= k eps sum_p |a_ip b_pj| + ...
                let bound = a64.mapv(f64::abs).dot(&b64.mapv(f64::abs)) + out.mapv(f64::from);
                let mut got = out.to_owned();
                gemm_add(a, b, &mut got.view_mut());
                let eps = f64::from(f32::EPSILON);
                for ((x, y), scale) in got.iter().zip(&want).zip(&bound) {
                    let tol = (shape.1 as f64 + 1.0) * eps * scale.abs() + 1e-30;
                    assert!(
                        (f64::from(*x) - y).abs() <= tol,
                        "{shape:?} {name}: {x} vs {y}"
                    );
                }
            });
        }
    }

    #[test]
    fn set_ignores_old_values_and_add_keeps_them_for_empty_k() {
        let a = Array2::<f32>::zeros((2, 0));
        let b = Array2::<f32>::zeros((0, 3));
        let mut out = Array2::<f32>::ones((2, 3));
        gemm_add(a.view(), b.view(), &mut out.view_mut());
        assert!(out.iter().all(|&v| v == 1.0));
        let mut out = Array2::from_elem((2, 3), f32::NAN);
        gemm_set(a.view(), b.view(), &mut out.view_mut());
        assert!(out.iter().all(|&v| v == 0.0));
        let mut out = Array2::from_elem((2, 3), f32::NAN);
        gemm_bias_rows(a.view(), b.view(), &[1.0, -2.0, 3.0], &mut out.view_mut());
        assert_eq!(out, ndarray::array![[1.0, -2.0, 3.0], [1.0, -2.0, 3.0]]);
        let (a, b) = (filled(3, 5, 0.4), filled(5, 2, 0.5));
        let mut out = Array2::from_elem((3, 2), f32::NAN);
        gemm_set(a.view(), b.view(), &mut out.view_mut());
        let mut want = Array2::zeros((3, 2));
        sequential(a.view(), b.view(), &mut want);
        assert_eq!(out, want);
    }
}
