//! Packed variable-length batches, as `torch.nn.utils.rnn.pack_padded_sequence`.
//!
//! Rows are visited longest first (a stable sort, so equal lengths keep their order). At step
//! `t` the rows still running are then a prefix of the sorted rows, `batch_sizes[t]` of them,
//! and their states are stored contiguously at `offsets[t]..offsets[t] + batch_sizes[t]` of a
//! packed `(N, ...)` array, where N is the number of real tokens in the batch. Padding is never
//! computed, so it cannot change a result; a row of length 0 keeps its initial state.

/// The layout of one packed batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packing {
    /// `sorted_rows[s]` is the batch row visited in sorted position `s`.
    pub sorted_rows: Vec<usize>,
    /// Rows still running at each step (non-increasing); its length is the longest length T.
    pub batch_sizes: Vec<usize>,
    /// Start of each step's rows in the packed arrays (prefix sums of `batch_sizes`).
    pub offsets: Vec<usize>,
    /// N: real tokens in the batch.
    pub total: usize,
    /// Length of each sorted row (non-increasing).
    pub lengths: Vec<usize>,
}

impl Packing {
    /// Builds the layout for rows of the given lengths (in any order).
    pub fn new(lengths: &[usize]) -> Self {
        let mut sorted_rows: Vec<usize> = (0..lengths.len()).collect();
        sorted_rows.sort_by(|&a, &b| lengths[b].cmp(&lengths[a]));
        let steps = lengths.iter().copied().max().unwrap_or(0);
        let mut batch_sizes = Vec::with_capacity(steps);
        let mut offsets = Vec::with_capacity(steps);
        let mut total = 0;
        for t in 0..steps {
            let running = sorted_rows
                .iter()
                .take_while(|&&row| lengths[row] > t)
                .count();
            offsets.push(total);
            batch_sizes.push(running);
            total += running;
        }
        let lengths = sorted_rows.iter().map(|&row| lengths[row]).collect();
        Self {
            sorted_rows,
            batch_sizes,
            offsets,
            total,
            lengths,
        }
    }

    /// Packed index of step `t` of sorted row `s` (requires `t < lengths[s]`).
    pub fn index(&self, t: usize, s: usize) -> usize {
        debug_assert!(t < self.lengths[s]);
        self.offsets[t] + s
    }

    /// For each packed index `(t, s)`, the packed index of `(len_s - 1 - t, s)`: the same row
    /// read backwards. Gathering rows by it reverses every sequence in place, and it is its own
    /// inverse, so the reverse direction of a bidirectional layer runs on the same layout.
    pub fn reversed(&self) -> Vec<usize> {
        let mut out = vec![0; self.total];
        for (t, (&n, &off)) in self.batch_sizes.iter().zip(&self.offsets).enumerate() {
            for s in 0..n {
                out[off + s] = self.index(self.lengths[s] - 1 - t, s);
            }
        }
        out
    }

    /// Number of batch rows B.
    pub fn rows(&self) -> usize {
        self.sorted_rows.len()
    }

    /// Number of steps T (the longest length).
    pub fn steps(&self) -> usize {
        self.batch_sizes.len()
    }

    /// The packed index of every token: `(row, t)` for each packed position, in packed order.
    pub fn positions(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.batch_sizes
            .iter()
            .enumerate()
            .flat_map(move |(t, &n)| self.sorted_rows[..n].iter().map(move |&row| (row, t)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsorted_lengths_pack_longest_first() {
        let p = Packing::new(&[2, 0, 3, 1]);
        assert_eq!(p.sorted_rows, [2, 0, 3, 1]);
        assert_eq!(p.batch_sizes, [3, 2, 1]);
        assert_eq!(p.offsets, [0, 3, 5]);
        assert_eq!(p.total, 6);
        let positions: Vec<_> = p.positions().collect();
        assert_eq!(positions, [(2, 0), (0, 0), (3, 0), (2, 1), (0, 1), (2, 2)]);
    }

    #[test]
    fn empty_batch_and_all_empty_rows() {
        let p = Packing::new(&[]);
        assert_eq!((p.rows(), p.steps(), p.total), (0, 0, 0));
        let p = Packing::new(&[0, 0]);
        assert_eq!((p.rows(), p.steps(), p.total), (2, 0, 0));
    }
}
