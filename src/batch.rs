//! A batch of id sequences, padded to a rectangle, with each row's true length.

use ndarray::Array2;

use crate::text::PAD_ID;

/// Token ids `(B, T)` padded with [`PAD_ID`], and the real length of each row.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// (B, T), T = the longest row.
    pub ids: Array2<u32>,
    /// (B): real tokens per row; a row may be empty.
    pub lengths: Vec<usize>,
}

impl Batch {
    /// Pads sequences (any lengths, any order) into one batch.
    pub fn from_sequences<S: AsRef<[u32]>>(sequences: &[S]) -> Self {
        let lengths: Vec<usize> = sequences.iter().map(|s| s.as_ref().len()).collect();
        let t = lengths.iter().copied().max().unwrap_or(0);
        let mut ids = Array2::from_elem((sequences.len(), t), PAD_ID);
        for (mut row, s) in ids.rows_mut().into_iter().zip(sequences) {
            for (slot, &id) in row.iter_mut().zip(s.as_ref()) {
                *slot = id;
            }
        }
        Self { ids, lengths }
    }

    /// Number of rows B.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// True for a batch without rows.
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// Real tokens in the batch.
    pub fn tokens(&self) -> usize {
        self.lengths.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_with_zero_and_keeps_lengths() {
        let b = Batch::from_sequences(&[vec![5, 6], vec![], vec![7, 8, 9]]);
        assert_eq!(b.lengths, [2, 0, 3]);
        assert_eq!(b.ids.dim(), (3, 3));
        assert_eq!(b.ids.row(0).to_vec(), [5, 6, 0]);
        assert_eq!(b.ids.row(1).to_vec(), [0, 0, 0]);
        assert_eq!(b.tokens(), 5);
    }
}
