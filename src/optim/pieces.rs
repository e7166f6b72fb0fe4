//! What an optimizer step or a shard sum covers ([`Rows`]: every element, or only some rows of
//! the embedding) and how it is cut into [`Pieces`] of a fixed size, processed in parallel in
//! groups of a fixed size so that results never depend on the number of threads.

use std::ops::Range;

use crate::kernels::float::Float;
use crate::model::params::Params;

/// Which embedding rows a step, a norm or a zeroing covers: all of them (dense, PyTorch's
/// `Adam`), or only the listed token ids (sorted, unique), whose gradients are the only
/// non-zero ones.
#[derive(Clone, Copy, Debug)]
pub enum Rows<'a> {
    All,
    Only(&'a [u32]),
    /// A language model's step: only these rows of the embedding, and only these rows of the
    /// decoder (the last two tensors, `fc.weight` (V, H) and `fc.bias` (V)), as the sampled
    /// softmax touches only its targets' and candidates' rows.
    Tables {
        embedding: &'a [u32],
        decoder: &'a [u32],
    },
}

impl Rows<'_> {
    /// The element ranges of tensor `index` covered, of tensors with element counts `lens`
    /// (in [`Params::tensors`] order; the embedding first, of width `embed_dim`).
    pub(super) fn ranges(
        self,
        index: usize,
        lens: &[usize],
        embed_dim: usize,
    ) -> Vec<std::ops::Range<usize>> {
        let rows = |ids: &[u32], width: usize| -> Vec<Range<usize>> {
            ids.iter()
                .map(|&id| id as usize * width..(id as usize + 1) * width)
                .collect()
        };
        match self {
            Rows::Only(ids) if index == 0 => rows(ids, embed_dim),
            Rows::Tables { embedding, .. } if index == 0 => rows(embedding, embed_dim),
            Rows::Tables { decoder, .. } if index + 2 >= lens.len() => {
                let vocab = lens[0] / embed_dim;
                rows(decoder, lens[index] / vocab)
            }
            _ => std::iter::once(0..lens[index]).collect(),
        }
    }
}

/// The element count of each of `params`' tensors, for [`Rows::ranges`].
pub(super) fn lens<F: Float>(params: &Params<F>) -> Vec<usize> {
    params.tensors().iter().map(|t| t.data.len()).collect()
}

/// Elements per piece of the parallel passes. Fixed, so the pieces (and the norm's order of
/// summation) never depend on the number of threads; 16K f32 is 64 KB, well inside a core's
/// L2 cache, and large enough that scheduling a piece costs little next to its work.
pub(super) const PIECE: usize = 1 << 14;

// An embedding row is never split across pieces, so with [`Rows::Only`] the embedding's
// pieces are its rows, one each, in order: compact rows ([`RowGrads`]) are found by piece
// index.
const _: () = assert!(crate::limits::MAX_DIM <= PIECE);

/// The parts of the parameters a step covers ([`Rows`]), as `(tensor index, element range)`
/// pieces of at most [`PIECE`] elements, in tensor order and, within a tensor, in element
/// order without overlaps: what [`Pieces::carve`] needs to hand out disjoint slices.
///
/// The parallel passes run over groups of consecutive pieces of about [`PIECE`] elements in
/// all: with sparse embedding updates most pieces are one embedding row (E elements), and a
/// task per row cost more in scheduling than the row's arithmetic (a quarter of a training
/// step's optimizer time at E = 128).
#[derive(Clone, Debug)]
pub(super) struct Pieces {
    pub(super) pieces: Vec<(usize, Range<usize>)>,
    /// How many consecutive pieces each group holds, in order.
    pub(super) groups: Vec<usize>,
}

impl Pieces {
    /// The pieces of tensors with these element counts (in [`Params::tensors`] order).
    pub(super) fn new(lens: &[usize], rows: Rows<'_>, embed_dim: usize) -> Self {
        let mut pieces = Vec::new();
        for i in 0..lens.len() {
            for r in rows.ranges(i, lens, embed_dim) {
                let mut start = r.start;
                while start < r.end {
                    let end = (start + PIECE).min(r.end);
                    pieces.push((i, start..end));
                    start = end;
                }
            }
        }
        // Groups: consecutive pieces while their total stays within PIECE elements.
        let mut groups = Vec::new();
        let (mut count, mut elements) = (0, 0);
        for (_, r) in &pieces {
            if count > 0 && elements + r.len() > PIECE {
                groups.push(count);
                (count, elements) = (0, 0);
            }
            count += 1;
            elements += r.len();
        }
        if count > 0 {
            groups.push(count);
        }
        Self { pieces, groups }
    }

    /// Splits one item per piece (in piece order) into one vector per group.
    pub(super) fn grouped<T>(&self, items: Vec<T>) -> Vec<Vec<T>> {
        debug_assert_eq!(items.len(), self.pieces.len());
        let mut items = items.into_iter();
        self.groups
            .iter()
            .map(|&n| items.by_ref().take(n).collect())
            .collect()
    }

    /// The pieces of `params`' tensors.
    pub(super) fn of<F: Float>(params: &Params<F>, rows: Rows<'_>) -> Self {
        Self::new(&lens(params), rows, params.embedding.shape[1])
    }

    /// Cuts `tensors` (one slice per tensor, in order) into one disjoint slice per piece.
    pub(super) fn carve<'a, F>(&self, tensors: Vec<&'a mut [F]>) -> Vec<&'a mut [F]> {
        let mut out = Vec::with_capacity(self.pieces.len());
        let mut tensors = tensors.into_iter().enumerate();
        // The tensor being cut, what is left of it, and where that rest starts.
        let (mut index, mut rest, mut offset): (usize, &'a mut [F], usize) =
            (usize::MAX, &mut [], 0);
        for (t, r) in &self.pieces {
            while index != *t {
                (index, rest) = tensors.next().expect("a slice for every tensor");
                offset = 0;
            }
            let (_, tail) = std::mem::take(&mut rest).split_at_mut(r.start - offset);
            let (piece, tail) = tail.split_at_mut(r.len());
            out.push(piece);
            rest = tail;
            offset = r.end;
        }
        out
    }

    /// The tensor of each piece.
    pub(super) fn tensors(&self) -> impl Iterator<Item = usize> + '_ {
        self.pieces.iter().map(|(t, _)| *t)
    }

    /// The element range of each piece.
    pub(super) fn ranges(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        self.pieces.iter().map(|(_, r)| r.clone())
    }
}

/// Every tensor's data of `params`, mutably, in [`Params::tensors`] order.
pub(super) fn data_mut<F: Float>(params: &mut Params<F>) -> Vec<&mut [F]> {
    params
        .tensors_mut()
        .into_iter()
        .map(|t| t.data.as_mut_slice())
        .collect()
}

/// How many pieces ahead [`prefetch`] asks for. With sparse updates the optimizer walks
/// embedding rows scattered over tables larger than the caches, one row per piece: each row's
/// loads waited on memory before the next row's began. Asking for the rows 8 pieces ahead
/// keeps several in flight: the Adam step went from 0.43-0.57 to 0.25-0.34 ms, and the sum of
/// 4 shards' gradient tables (before they were compact) from 0.46 to 0.25-0.31 ms (2,048 rows
/// of 128, two threads; measured at 4, 6, 8 and 12).
pub(super) const AHEAD: usize = 8;
