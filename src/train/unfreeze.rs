//! Gradual unfreezing (`train --init BASE --unfreeze-epochs N`), as ULMFiT (Howard and Ruder,
//! 2018) fine-tunes: the new head trains alone first, then the base's layers join from the
//! top down, so the randomly initialised head does not push large gradients through the
//! pretrained layers before it fits them.
//!
//! The schedule is a function of the epoch number alone, so a resumed run sets the same
//! tensors frozen as the interrupted one had ([`Unfreezing::apply`]).

use crate::config::{ModelConfig, TrainConfig};
use crate::optim::Optimizer;

/// The base's tensors in the order they join training, as groups of indices into
/// [`crate::model::params::Params::tensors`]: the top recurrent layer (every direction), then
/// each layer below it, then the embedding. The head (the last two tensors) is in none: it
/// always trains.
pub fn unfreezing_groups(layers: usize, directions: usize) -> Vec<Vec<usize>> {
    // Tensor 0 is the embedding; layer-direction c (= layer * directions + direction) owns
    // tensors 1 + 4c .. 1 + 4c + 4 (w_ih, w_hh, b_ih, b_hh).
    let layer = |k: usize| (1 + 4 * k * directions..1 + 4 * (k + 1) * directions).collect();
    (0..layers)
        .rev()
        .map(layer)
        .chain(std::iter::once(vec![0]))
        .collect()
}

/// How many of `groups` = K groups (top down) train in epoch `epoch` (1-based) when
/// unfreezing over `unfreeze_epochs` = N epochs: all of them when N = 0; otherwise
/// `min(K, floor((epoch - 1) K / N))`: none in epoch 1, the last group from epoch N + 1 on
/// exactly (so every N gives its own schedule), the groups spread evenly in between.
pub fn groups_training(epoch: usize, unfreeze_epochs: usize, groups: usize) -> usize {
    if unfreeze_epochs == 0 {
        return groups;
    }
    let joined = epoch.saturating_sub(1) * groups / unfreeze_epochs;
    joined.min(groups)
}

/// A run's unfreezing schedule.
#[derive(Clone, Debug)]
pub(super) struct Unfreezing {
    groups: Vec<Vec<usize>>,
    epochs: usize,
    /// `--freeze-embeddings`: the embedding's turn comes, but it stays frozen.
    embedding_fixed: bool,
}

impl Unfreezing {
    /// The schedule of a run from a base with `--unfreeze-epochs` N > 0, else `None`.
    pub(super) fn new(config: &TrainConfig, from_base: bool, model: &ModelConfig) -> Option<Self> {
        if !from_base || config.unfreeze_epochs == 0 {
            return None;
        }
        let directions = if model.bidirectional { 2 } else { 1 };
        Some(Self {
            groups: unfreezing_groups(model.layers, directions),
            epochs: config.unfreeze_epochs,
            embedding_fixed: config.freeze_embeddings,
        })
    }

    /// Sets which of the base's tensors `optimizer` updates in epoch `epoch`: the groups due
    /// train (from their first step, see [`Optimizer::unfreeze`]), the others are frozen.
    pub(super) fn apply(&self, epoch: usize, optimizer: &mut Optimizer<f32>) {
        let due = groups_training(epoch, self.epochs, self.groups.len());
        for (j, group) in self.groups.iter().enumerate() {
            for &index in group {
                if j < due && !(index == 0 && self.embedding_fixed) {
                    optimizer.unfreeze(index);
                } else {
                    optimizer.freeze(index);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_run_from_the_top_layer_down_to_the_embedding() {
        assert_eq!(unfreezing_groups(1, 1), vec![vec![1, 2, 3, 4], vec![0]]);
        assert_eq!(
            unfreezing_groups(2, 2),
            vec![(9..17).collect::<Vec<_>>(), (1..9).collect(), vec![0]]
        );
    }

    #[test]
    fn the_head_trains_alone_in_epoch_one_and_everything_from_epoch_n_plus_one() {
        let schedule = |n: usize, k: usize| -> Vec<usize> {
            (1..=6).map(|e| groups_training(e, n, k)).collect()
        };
        assert_eq!(schedule(0, 3), [3; 6]);
        // One group an epoch when N = K (ULMFiT), several when N < K, slower when N > K;
        // the last group always joins in epoch N + 1.
        assert_eq!(schedule(3, 3), [0, 1, 2, 3, 3, 3]);
        assert_eq!(schedule(1, 3), [0, 3, 3, 3, 3, 3]);
        assert_eq!(schedule(2, 3), [0, 1, 3, 3, 3, 3]);
        assert_eq!(schedule(2, 2), [0, 1, 2, 2, 2, 2]);
        assert_eq!(schedule(3, 2), [0, 0, 1, 2, 2, 2]);
        assert_eq!(schedule(5, 2), [0, 0, 0, 1, 1, 2]);
    }
}
