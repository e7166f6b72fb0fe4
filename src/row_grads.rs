//! The gradient of a few rows of a large table (the embedding), kept compact: the rows a
//! training shard's tokens use, in id order, instead of a `(V, E)` table that is almost all
//! zeros.
//!
//! A shard of 16 texts touches a few hundred of the vocabulary's rows. Scattering its gradient
//! into a table of V rows, summing four such tables, handing the sum to the optimizer and
//! zeroing the tables again visited rows spread over tens of megabytes (four 10 MB tables at
//! V = 20,000, E = 128) and waited on memory at each one. The compact rows are contiguous and
//! stay in cache; only the optimizer still visits the table's scattered rows (the weights and
//! their moments).

use ndarray::ArrayView2;

use crate::kernels::float::Float;
use crate::kernels::simd::widest_simd;

/// Rows `ids` (sorted, unique) of a `(V, width)` table's gradient, row `u` of `data` being
/// the gradient of table row `ids[u]`; every other row's gradient is zero.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RowGrads<F> {
    width: usize,
    ids: Vec<u32>,
    data: Vec<F>,
}

impl<F: Float> RowGrads<F> {
    /// No rows, of width `width`.
    pub fn new(width: usize) -> Self {
        Self {
            width,
            ids: Vec::new(),
            data: Vec::new(),
        }
    }

    /// Becomes the gradient that `table[ids[i]] += rows[i]` would leave in a zero table, for
    /// every row `i` in order whose id is not `skip`: the embedding's backward. Each compact
    /// row adds its tokens' rows in the same order, so its values are the table row's bits.
    /// Reuses this value's allocations.
    pub fn gather(&mut self, ids: &[u32], rows: ArrayView2<F>, skip: u32) {
        assert_eq!(rows.nrows(), ids.len(), "one id per row");
        assert_eq!(rows.ncols(), self.width, "rows of this width");
        let width = self.width;
        self.set_ids(ids.iter().copied().filter(|&id| id != skip));
        let rows = rows.as_slice().expect("rows row-major and contiguous");
        let (sorted, data) = (&self.ids, &mut self.data);
        widest_simd(
            #[inline(always)]
            || {
                for (row, &id) in rows.chunks_exact(width).zip(ids) {
                    if id == skip {
                        continue;
                    }
                    let u = sorted.binary_search(&id).expect("every id was listed");
                    for (g, &d) in data[u * width..(u + 1) * width].iter_mut().zip(row) {
                        *g += d;
                    }
                }
            },
        );
    }

    /// Becomes zero rows for `ids` (any order, repeats allowed), for a sum to fill.
    pub fn set_ids(&mut self, ids: impl Iterator<Item = u32>) {
        self.ids.clear();
        self.ids.extend(ids);
        // Often sorted already (a union of sorted lists).
        if !self.ids.is_sorted() {
            self.ids.sort_unstable();
        }
        self.ids.dedup();
        self.data.clear();
        self.data.resize(self.ids.len() * self.width, F::zero());
    }

    /// The rows present, sorted.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// Values per row.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The gradient of row `ids()[u]`.
    pub fn row(&self, u: usize) -> &[F] {
        &self.data[u * self.width..(u + 1) * self.width]
    }

    /// Every row's gradient, mutably, in id order.
    pub fn rows_mut(&mut self) -> std::slice::ChunksExactMut<'_, F> {
        self.data.chunks_exact_mut(self.width.max(1))
    }

    /// `g *= coef` for every value (gradient clipping).
    pub fn scale(&mut self, coef: F) {
        for g in &mut self.data {
            *g *= coef;
        }
    }

    /// `table[ids[u]] += row(u)` for a `(V, width)` table (tests compare with tables).
    #[cfg(test)]
    pub(crate) fn add_to_table(&self, table: &mut [F]) {
        for (u, &id) in self.ids.iter().enumerate() {
            let start = id as usize * self.width;
            for (t, &g) in table[start..start + self.width].iter_mut().zip(self.row(u)) {
                *t += g;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::linalg::scatter_add_rows;

    #[test]
    fn gathered_rows_are_the_scattered_table_rows_bit_for_bit() {
        // Ids repeat out of order; id 0 is the one to skip. Values chosen so that the order of
        // the additions shows in the rounding.
        let ids = [3u32, 1, 3, 0, 5, 3, 1];
        let rows = ndarray::Array2::from_shape_fn((7, 3), |(i, j)| {
            (1.0f32 + i as f32 * 0.37).powi(7) * if j == 1 { -1.0 } else { 1e-3 }
        });
        let mut table = vec![0.0f32; 6 * 3];
        scatter_add_rows(&mut table, rows.view(), &ids, 0);
        let mut got = RowGrads::new(3);
        // A previous, larger content must not leak into the new one.
        got.set_ids([9u32, 7, 2, 4].into_iter());
        got.rows_mut().for_each(|r| r.fill(1.0));
        got.gather(&ids, rows.view(), 0);
        assert_eq!(got.ids(), &[1, 3, 5]);
        for (u, &id) in got.ids().iter().enumerate() {
            let start = id as usize * 3;
            assert_eq!(got.row(u), &table[start..start + 3], "row {id}");
        }
        let mut back = vec![0.0f32; 6 * 3];
        got.add_to_table(&mut back);
        assert_eq!(back, table);
    }

    #[test]
    fn scaling_and_empty_rows() {
        let mut g = RowGrads::<f64>::new(2);
        g.set_ids([4u32, 2, 4].into_iter());
        assert_eq!(g.ids(), &[2, 4]);
        assert_eq!(g.row(1), &[0.0, 0.0]);
        g.rows_mut()
            .enumerate()
            .for_each(|(u, r)| r.fill(u as f64 + 1.0));
        g.scale(0.5);
        assert_eq!((g.row(0), g.row(1)), (&[0.5, 0.5][..], &[1.0, 1.0][..]));
        g.gather(&[], ndarray::Array2::zeros((0, 2)).view(), 0);
        assert!(g.ids().is_empty());
    }
}
