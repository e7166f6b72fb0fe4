//! A token stream cut for truncated BPTT, as PyTorch's word-language-model example batches
//! its corpus: the stream is split into B contiguous rows of `len / B` ids (the remainder is
//! dropped), and chunk k is columns `k*T .. k*T + T` of every row with the next ids as targets.
//! Row r's state at the end of chunk k is where its chunk k + 1 starts, so the recurrent state
//! can be carried between chunks.
//!
//! The stream is read through a [`Source`] (a slice in memory, or the corpus's store), a row's
//! chunk at a time, so no copy of the whole stream is ever made; [`Reversed`] reads a source
//! backwards for the reverse direction's language model.

use ndarray::Array2;

use super::model::Chunk;
use crate::error::Result;

/// Ids by position.
pub trait Source {
    /// Positions in the stream.
    fn len(&self) -> u64;
    /// Whether the stream has no position.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `len` ids from position `start`.
    fn read(&self, start: u64, len: usize) -> Result<Vec<u32>>;
}

impl Source for [u32] {
    fn len(&self) -> u64 {
        <[u32]>::len(self) as u64
    }
    fn read(&self, start: u64, len: usize) -> Result<Vec<u32>> {
        Ok(self[start as usize..start as usize + len].to_vec())
    }
}

/// A source read from its end: position p is the source's `len - 1 - p`.
pub struct Reversed<'a, S: ?Sized>(pub &'a S);

impl<S: Source + ?Sized> Source for Reversed<'_, S> {
    fn len(&self) -> u64 {
        self.0.len()
    }
    fn read(&self, start: u64, len: usize) -> Result<Vec<u32>> {
        let n = self.0.len();
        let mut ids = self.0.read(n - start - len as u64, len)?;
        ids.reverse();
        Ok(ids)
    }
}

/// A stream of `len` positions split into rows and chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rows {
    /// B.
    rows: usize,
    /// L: positions per row.
    row_len: u64,
    /// T, the chunk length.
    bptt: usize,
}

impl Rows {
    /// Splits a stream of `len` positions into `rows` rows cut into chunks of `bptt` steps.
    /// Empty (no chunk) when the stream has fewer than two ids per row.
    pub fn new(len: u64, rows: usize, bptt: usize) -> Self {
        debug_assert!(rows > 0 && bptt > 0);
        Self {
            rows,
            row_len: len / rows as u64,
            bptt,
        }
    }

    /// The number of chunks: the last may be shorter than T.
    pub fn chunks(&self) -> usize {
        (self.row_len.saturating_sub(1) as usize).div_ceil(self.bptt)
    }

    /// Chunk `k` of `source`: inputs `[k*T, k*T + t)` of each row and targets one step later,
    /// with `t` = T or what is left.
    pub fn chunk<S: Source + ?Sized>(&self, k: usize, source: &S) -> Result<Chunk> {
        let start = (k * self.bptt) as u64;
        let t = (self.bptt as u64).min(self.row_len - 1 - start) as usize;
        let mut inputs = Array2::zeros((self.rows, t));
        let mut targets = Array2::zeros((self.rows, t));
        for r in 0..self.rows {
            let ids = source.read(r as u64 * self.row_len + start, t + 1)?;
            for (j, w) in ids.windows(2).enumerate() {
                inputs[(r, j)] = w[0];
                targets[(r, j)] = w[1];
            }
        }
        Ok(Chunk { inputs, targets })
    }

    /// Predicted positions over all chunks: B * (L - 1).
    pub fn positions(&self) -> u64 {
        self.rows as u64 * self.row_len.saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_contiguous_and_chunks_predict_the_next_id() {
        let stream: Vec<u32> = (10..31).collect(); // 21 ids
        let rows = Rows::new(21, 2, 4); // 2 rows of 10, one id dropped
        assert_eq!(rows.chunks(), 3); // 9 predicted steps: 4 + 4 + 1
        let c0 = rows.chunk(0, stream.as_slice()).unwrap();
        assert_eq!(c0.inputs.row(0).to_vec(), [10, 11, 12, 13]);
        assert_eq!(c0.targets.row(0).to_vec(), [11, 12, 13, 14]);
        assert_eq!(c0.inputs.row(1).to_vec(), [20, 21, 22, 23]);
        let c2 = rows.chunk(2, stream.as_slice()).unwrap();
        assert_eq!(c2.inputs.row(1).to_vec(), [28]);
        assert_eq!(c2.targets.row(1).to_vec(), [29]);
        assert_eq!(rows.positions(), 18);
        assert_eq!(Rows::new(3, 2, 4).chunks(), 0);
    }

    #[test]
    fn the_reversed_stream_predicts_the_previous_id() {
        let stream: Vec<u32> = (10..20).collect();
        let rows = Rows::new(10, 1, 3);
        let c = rows.chunk(0, &Reversed(stream.as_slice())).unwrap();
        assert_eq!(c.inputs.row(0).to_vec(), [19, 18, 17]);
        assert_eq!(c.targets.row(0).to_vec(), [18, 17, 16]);
    }
}
