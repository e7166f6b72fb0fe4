//! A token stream cut for truncated BPTT, as PyTorch's word-language-model example batches
//! its corpus: the stream is split into B contiguous rows of `len / B` ids (the remainder is
//! dropped), and chunk k is columns `k*T .. k*T + T` of every row with the next ids as targets.
//! Row r's state at the end of chunk k is where its chunk k + 1 starts, so the recurrent state
//! can be carried between chunks.

use ndarray::{s, Array2};

use super::model::Chunk;

/// A stream split into rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Rows {
    /// (B, L) the stream, row-major: row r is ids `r*L .. (r+1)*L`.
    ids: Array2<u32>,
    /// T, the chunk length.
    bptt: usize,
}

impl Rows {
    /// Splits `stream` into `rows` rows cut into chunks of `bptt` steps. Empty (no chunk)
    /// when the stream has fewer than two ids per row.
    pub fn new(stream: &[u32], rows: usize, bptt: usize) -> Self {
        debug_assert!(rows > 0 && bptt > 0);
        let len = stream.len() / rows;
        let ids = Array2::from_shape_vec((rows, len), stream[..rows * len].to_vec())
            .expect("rows * len ids");
        Self { ids, bptt }
    }

    /// The number of chunks: the last may be shorter than T.
    pub fn chunks(&self) -> usize {
        let steps = self.ids.ncols().saturating_sub(1);
        steps.div_ceil(self.bptt)
    }

    /// Chunk `k`: inputs `[k*T, k*T + t)` and targets one step later, with `t` = T or what is
    /// left.
    pub fn chunk(&self, k: usize) -> Chunk {
        let start = k * self.bptt;
        let end = (start + self.bptt).min(self.ids.ncols() - 1);
        Chunk {
            inputs: self.ids.slice(s![.., start..end]).to_owned(),
            targets: self.ids.slice(s![.., start + 1..end + 1]).to_owned(),
        }
    }

    /// Predicted positions over all chunks: B * (L - 1).
    pub fn positions(&self) -> usize {
        self.ids.nrows() * self.ids.ncols().saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_contiguous_and_chunks_predict_the_next_id() {
        let stream: Vec<u32> = (10..31).collect(); // 21 ids
        let rows = Rows::new(&stream, 2, 4); // 2 rows of 10, one id dropped
        assert_eq!(rows.chunks(), 3); // 9 predicted steps: 4 + 4 + 1
        let c0 = rows.chunk(0);
        assert_eq!(c0.inputs.row(0).to_vec(), [10, 11, 12, 13]);
        assert_eq!(c0.targets.row(0).to_vec(), [11, 12, 13, 14]);
        assert_eq!(c0.inputs.row(1).to_vec(), [20, 21, 22, 23]);
        let c2 = rows.chunk(2);
        assert_eq!(c2.inputs.row(1).to_vec(), [28]);
        assert_eq!(c2.targets.row(1).to_vec(), [29]);
        assert_eq!(rows.positions(), 18);
        assert_eq!(Rows::new(&[1, 2, 3], 2, 4).chunks(), 0);
    }
}
