//! What the cells need around their products (which are in [`super::gemm`]): weights
//! [`transposed`] to row-major once per call, per-thread scratch buffers ([`zeros`],
//! [`scratch`], [`recycle`], [`stack_rows`]), the embedding's [`scatter_add_rows`] and
//! [`prefetch`].

use std::any::Any;
use std::cell::RefCell;

use ndarray::{Array2, ArrayView2};

use crate::kernels::float::Float;
use crate::kernels::simd::widest_simd;

/// `a`'s transpose `(cols, rows)`, row-major, in a reused buffer as [`zeros`]: the weights
/// the row kernel reads. Each output row is written 16 values (one cache line) at a time from
/// 16 input rows: writes that jump from line to line stalled on every store, and ndarray's
/// element-wise `assign` of a transposed view took 38 us for a (512, 128) matrix, which each
/// cell's forward pass needs twice; this takes 18-19 us for either orientation.
pub fn transposed<F: Float>(a: ArrayView2<F>) -> Array2<F> {
    /// Input rows per pass: 16 f32 values are one 64-byte cache line of output.
    const BLOCK: usize = 16;
    let (rows, cols) = a.dim();
    let mut out = scratch::<F>(cols, rows);
    let Some(src) = a.as_slice() else {
        // Not row-major (a transposed view, say): element by element.
        out.assign(&a.t());
        return out;
    };
    let dst = out.as_slice_mut().expect("standard layout");
    for i0 in (0..rows).step_by(BLOCK) {
        let i1 = (i0 + BLOCK).min(rows);
        for j in 0..cols {
            // out[j, i0..i1] = a[i0..i1, j]
            for (i, o) in (i0..i1).zip(&mut dst[j * rows + i0..j * rows + i1]) {
                *o = src[i * cols + j];
            }
        }
    }
    out
}

/// Spare buffers kept per thread and type; more are dropped.
const SPARE_BUFFERS: usize = 16;

/// One thread's spare buffers, a pool per scalar type (see [`zeros`] and [`recycle`]).
struct SparePools {
    f32: Vec<Vec<f32>>,
    f64: Vec<Vec<f64>>,
}

thread_local! {
    static SPARE: RefCell<SparePools> = const {
        RefCell::new(SparePools {
            f32: Vec::new(),
            f64: Vec::new(),
        })
    };
}

/// Runs `f` on this thread's pool of spare buffers of type `F`. The pool is chosen by a
/// checked `Any` downcast (`F: 'static`, as every [`Float`] is), which the compiler resolves
/// for each `F`; a [`Float`] other than `f32` and `f64` gets an empty pool for the call, so
/// its buffers are simply not kept. `f` must not call back into the pools (none of this
/// module's callers does; the `RefCell` would panic rather than alias).
fn with_spare_buffers<F: Float, R>(f: impl FnOnce(&mut Vec<Vec<F>>) -> R) -> R {
    SPARE.with_borrow_mut(|pools| {
        if let Some(pool) = (&mut pools.f32 as &mut dyn Any).downcast_mut::<Vec<Vec<F>>>() {
            return f(pool);
        }
        if let Some(pool) = (&mut pools.f64 as &mut dyn Any).downcast_mut::<Vec<Vec<F>>>() {
            return f(pool);
        }
        f(&mut Vec::new())
    })
}

/// A `(rows, cols)` array of zeros, in a buffer reused from an earlier [`recycle`] on this
/// thread when one is large enough.
///
/// The cells allocate and free several (N, G*H) arrays per batch; glibc maps arrays of these
/// sizes afresh and unmaps them on free, so every batch paid page faults on new zero pages.
/// Reusing warm buffers raised LSTM training from about 62k to 81k tokens/s on one thread.
/// The numbers are the same, as every array starts as zeros either way.
pub fn zeros<F: Float>(rows: usize, cols: usize) -> Array2<F> {
    let mut buffer = spare_buffer(rows * cols);
    buffer.clear();
    buffer.resize(rows * cols, F::zero());
    Array2::from_shape_vec((rows, cols), buffer).expect("rows * cols values")
}

/// A `(rows, cols)` array for a caller that writes every element before it reads any: a
/// reused buffer keeps its old values instead of being zeroed first (the cells' per-token
/// arrays, every row of which the time loop writes). The old values are initialised floats,
/// so a caller that broke the rule would compute wrong numbers, not undefined behaviour; debug
/// builds fill the array with NaN so that such a mistake shows in every test.
pub fn scratch<F: Float>(rows: usize, cols: usize) -> Array2<F> {
    let len = rows * cols;
    let mut buffer = spare_buffer(len);
    let mut array = if cols == 0 || buffer.len() < len {
        buffer.resize(len, F::zero());
        Array2::from_shape_vec((rows, cols), buffer).expect("rows * cols values")
    } else {
        // A buffer handed back holds all the values it ever held: rather than cutting it to
        // `len` (and zeroing the cut part again when a larger array next takes it, 2% of a
        // training step), the array is its first `rows` of `buffer.len() / cols` rows.
        let all_rows = buffer.len() / cols;
        buffer.truncate(all_rows * cols);
        let mut whole = Array2::from_shape_vec((all_rows, cols), buffer).expect("whole rows");
        whole.slice_collapse(ndarray::s![..rows, ..]);
        debug_assert!(whole.is_standard_layout());
        whole
    };
    if cfg!(debug_assertions) {
        array.fill(F::nan());
    }
    array
}

/// A `(rows, cols)` array whose rows are the given slices in order, in a reused buffer as
/// [`zeros`] (written once, not zeroed first). Each slice must have `cols` values, and
/// there must be `rows` of them.
pub fn stack_rows<'a, F: Float>(
    rows: usize,
    cols: usize,
    slices: impl Iterator<Item = &'a [F]>,
) -> Array2<F> {
    let mut buffer = spare_buffer(rows * cols);
    buffer.clear();
    for row in slices {
        debug_assert_eq!(row.len(), cols, "row width");
        buffer.extend_from_slice(row);
    }
    Array2::from_shape_vec((rows, cols), buffer).expect("rows * cols values")
}

/// A vector with room for `len` values, holding whatever values it had: the smallest spare
/// buffer of this thread that is large enough, else a new, empty allocation.
fn spare_buffer<F: Float>(len: usize) -> Vec<F> {
    let buffer = with_spare_buffers::<F, _>(|spare| {
        let fit = (0..spare.len())
            .filter(|&i| spare[i].capacity() >= len)
            .min_by_key(|&i| spare[i].capacity())?;
        Some(spare.swap_remove(fit))
    })
    .unwrap_or_else(|| Vec::with_capacity(spare_capacity(len)));
    debug_assert!(buffer.capacity() >= len);
    buffer
}

/// The capacity a new buffer of `len` values gets: `len` rounded up to a quarter of its
/// power of two (at most 25% more). Batches differ in length, and exact sizes made each
/// slightly longer batch miss every spare buffer and allocate another, until each thread held
/// its full quota of near-equal buffers (predict --file: 200 MB more peak memory).
fn spare_capacity(len: usize) -> usize {
    if len <= 4 {
        return len;
    }
    let step = 1usize << (usize::BITS - 1 - len.leading_zeros() - 2);
    len.div_ceil(step) * step
}

/// Gives an array's buffer back for [`zeros`] to reuse on this thread.
pub fn recycle<F: Float>(a: Array2<F>) {
    let (buffer, _) = a.into_raw_vec_and_offset();
    if buffer.capacity() == 0 {
        return;
    }
    with_spare_buffers::<F, _>(|spare| {
        if spare.len() < SPARE_BUFFERS {
            spare.push(buffer);
        } else if let Some(smallest) = (0..spare.len()).min_by_key(|&i| spare[i].capacity()) {
            // Keep the larger buffers: they are the ones worth not re-faulting.
            if spare[smallest].capacity() < buffer.capacity() {
                spare[smallest] = buffer;
            }
        }
    });
}

/// Asks the CPU to start loading the cache lines of `data` (at most the first 1 KB; the
/// hardware's prefetcher follows longer streams). A hint only: it never faults and changes no
/// value.
#[inline(always)]
pub fn prefetch<F>(data: &[F]) {
    #[cfg(target_arch = "x86_64")]
    {
        const LINE: usize = 64;
        let bytes = std::mem::size_of_val(data);
        let start = data.as_ptr().cast::<i8>();
        for offset in (0..bytes.min(16 * LINE)).step_by(LINE) {
            // SAFETY: a prefetch cannot fault or write, and the address lies inside `data`.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    start.add(offset),
                );
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// `table[ids[i]] += rows[i]` for every row `i` of `rows` (in order) whose id is not `skip`:
/// the embedding's backward, where `table` is (V, E) and `rows` (N, E). Rows of the table are
/// scattered over more memory than the caches hold, so each is prefetched a few rows ahead.
pub fn scatter_add_rows<F: Float>(table: &mut [F], rows: ArrayView2<F>, ids: &[u32], skip: u32) {
    const AHEAD: usize = 4;
    let width = rows.ncols();
    assert_eq!(rows.nrows(), ids.len(), "one id per row");
    let rows = rows.as_slice().expect("rows row-major and contiguous");
    let start = |id: u32| id as usize * width;
    widest_simd(
        #[inline(always)]
        || {
            for (i, (row, &id)) in rows.chunks_exact(width).zip(ids).enumerate() {
                if let Some(&next) = ids.get(i + AHEAD) {
                    prefetch(&table[start(next)..start(next) + width]);
                }
                if id == skip {
                    continue;
                }
                let target = &mut table[start(id)..start(id) + width];
                for (g, &d) in target.iter_mut().zip(row) {
                    *g += d;
                }
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn filled(rows: usize, cols: usize, seed: f64) -> Array2<f64> {
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            libm::cos((i * cols + j) as f64 * 0.37 + seed)
        })
    }

    #[test]
    fn transposes_any_shape_and_layout() {
        for &(m, n) in &[(1, 1), (3, 40), (512, 128), (17, 33)] {
            let a = filled(m, n, 0.4);
            assert_eq!(transposed(a.view()), a.t());
            let a_t = a.t().to_owned();
            assert_eq!(transposed(a_t.t()), a.t(), "a transposed view");
        }
    }

    #[test]
    fn reused_buffers_come_back_as_zeros() {
        let mut a = zeros::<f32>(3, 5);
        a.fill(7.0);
        let ptr = a.as_ptr();
        recycle(a);
        let b = zeros::<f32>(2, 4);
        assert_eq!(b.as_ptr(), ptr, "the spare buffer is reused");
        assert_eq!(b, Array2::<f32>::zeros((2, 4)));
        let c = zeros::<f32>(100, 100);
        assert_eq!(c, Array2::<f32>::zeros((100, 100)));
    }

    #[test]
    fn each_float_type_has_its_own_pool() {
        let a = zeros::<f64>(6, 7);
        let ptr = a.as_ptr();
        recycle(a);
        // An f32 array of the same byte size does not take the f64 buffer ...
        let b = zeros::<f32>(6, 14);
        assert_ne!(b.as_ptr().cast::<f64>(), ptr);
        recycle(b);
        // ... which is there for the next f64 array, zeroed.
        let c = zeros::<f64>(6, 7);
        assert_eq!(c.as_ptr(), ptr);
        assert_eq!(c, Array2::<f64>::zeros((6, 7)));
    }

    #[test]
    fn scratch_reuses_a_larger_buffer_whole_for_any_shape() {
        let big = zeros::<f32>(40, 12);
        let ptr = big.as_ptr();
        recycle(big);
        // A smaller array of another width takes the buffer without cutting it ...
        let small = scratch::<f32>(3, 7);
        assert_eq!(small.as_ptr(), ptr);
        assert_eq!(small.dim(), (3, 7));
        assert!(small.is_standard_layout());
        assert_eq!(small.as_slice().map(<[f32]>::len), Some(21));
        recycle(small);
        // ... so the full size is there again for the next one.
        let again = scratch::<f32>(40, 12);
        assert_eq!(again.as_ptr(), ptr);
        assert_eq!(again.dim(), (40, 12));
        recycle(again);
        assert_eq!(scratch::<f32>(0, 5).dim(), (0, 5));
        assert_eq!(scratch::<f32>(5, 0).dim(), (5, 0));
    }

    #[test]
    fn spare_capacities_round_up_by_at_most_a_quarter() {
        for len in 0..5000 {
            let cap = spare_capacity(len);
            assert!(cap >= len && 4 * cap <= 5 * len.max(4), "{len} -> {cap}");
        }
        // Near-equal lengths share a capacity, so one buffer serves them all.
        assert_eq!(spare_capacity(4097 * 512), spare_capacity(5000 * 512));
        assert_eq!(spare_capacity(1024), 1024);
    }

    #[test]
    fn stacked_rows_fill_a_reused_buffer() {
        let mut a = zeros::<f32>(4, 3);
        a.fill(7.0);
        recycle(a);
        let (one, two) = ([1.0f32, 2.0, 3.0], [4.0f32, 5.0, 6.0]);
        let b = stack_rows(3, 3, [&one[..], &two, &one].into_iter());
        assert_eq!(
            b,
            ndarray::array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [1.0, 2.0, 3.0]]
        );
        assert_eq!(stack_rows::<f32>(0, 1, std::iter::empty()).dim(), (0, 1));
    }

    #[test]
    fn scatter_adds_rows_in_order_and_skips_the_given_id() {
        // Table of 4 rows of width 2; ids 2 and 0 repeat, id 3 is the one to skip.
        let mut table = vec![1.0f32; 8];
        let rows = ndarray::array![
            [1.0f32, 2.0],
            [3.0, 4.0],
            [5.0, 6.0],
            [7.0, 8.0],
            [0.5, 0.5]
        ];
        let ids = [2, 0, 2, 3, 0];
        scatter_add_rows(&mut table, rows.view(), &ids, 3);
        assert_eq!(
            table,
            [
                1.0 + 3.0 + 0.5,
                1.0 + 4.0 + 0.5,
                1.0,
                1.0,
                1.0 + 1.0 + 5.0,
                1.0 + 2.0 + 6.0,
                1.0,
                1.0
            ]
        );
    }
}
