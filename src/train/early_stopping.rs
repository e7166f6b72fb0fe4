//! Early stopping on the validation loss, and the best epoch's weights kept for the end.

use crate::model::params::Params;

/// The lowest validation loss so far, its epoch and weights, and the epochs since.
#[derive(Clone, Debug, Default)]
pub(super) struct EarlyStopping {
    /// Stop after this many epochs without a lower loss; 0 never stops.
    patience: usize,
    pub(super) best: Option<(f64, usize, Params<f32>)>,
    pub(super) epochs_without_gain: usize,
}

impl EarlyStopping {
    pub(super) fn new(patience: usize) -> Self {
        Self {
            patience,
            ..Self::default()
        }
    }

    /// Takes epoch `epoch`'s validation loss (`None` without validation data) and weights;
    /// returns whether training should stop. A loss must be strictly lower to count as a gain.
    pub(super) fn observe(
        &mut self,
        epoch: usize,
        loss: Option<f64>,
        params: &Params<f32>,
    ) -> bool {
        let Some(loss) = loss else {
            return false;
        };
        if self.best.as_ref().is_none_or(|(best, _, _)| loss < *best) {
            self.best = Some((loss, epoch, params.clone()));
            self.epochs_without_gain = 0;
            return false;
        }
        self.epochs_without_gain += 1;
        self.patience > 0 && self.epochs_without_gain >= self.patience
    }

    /// Puts the best epoch's weights into `params` and returns that epoch; without any
    /// validation loss, the last epoch (`epochs_run`) stays.
    pub(super) fn restore_best(self, params: &mut Params<f32>, epochs_run: usize) -> usize {
        match self.best {
            Some((_, epoch, best)) => {
                *params = best;
                epoch
            }
            None => epochs_run,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CellKind, ModelConfig, Pooling};

    fn params(value: f32) -> Params<f32> {
        let config = ModelConfig {
            cell: CellKind::Rnn,
            vocab_size: 3,
            embed_dim: 2,
            hidden_dim: 2,
            layers: 1,
            bidirectional: false,
            pooling: Pooling::Last,
            forget_bias: None,
            threshold: 0.5,
            classes: Vec::new(),
        };
        let mut p = Params::zeros(&config);
        p.embedding.data.fill(value);
        p
    }

    #[test]
    fn stops_after_patience_epochs_without_a_strictly_lower_loss() {
        let mut stop = EarlyStopping::new(2);
        assert!(!stop.observe(1, Some(0.5), &params(1.0)));
        assert!(!stop.observe(2, Some(0.4), &params(2.0)));
        assert!(
            !stop.observe(3, Some(0.4), &params(3.0)),
            "equal is no gain, but 1 < 2"
        );
        assert!(stop.observe(4, Some(0.45), &params(4.0)));
        assert_eq!(stop.best.as_ref().map(|b| b.1), Some(2));
    }

    #[test]
    fn patience_zero_never_stops_and_no_validation_never_stops() {
        let mut stop = EarlyStopping::new(0);
        for epoch in 1..10 {
            assert!(!stop.observe(epoch, Some(epoch as f64), &params(0.0)));
        }
        let mut without = EarlyStopping::new(1);
        for epoch in 1..5 {
            assert!(!without.observe(epoch, None, &params(0.0)));
        }
        let mut last = params(7.0);
        assert_eq!(without.restore_best(&mut last, 4), 4);
        assert_eq!(
            last.embedding.data[0], 7.0,
            "no validation: the last weights stay"
        );
    }

    #[test]
    fn the_best_epochs_weights_are_restored() {
        let mut stop = EarlyStopping::new(5);
        stop.observe(1, Some(0.9), &params(1.0));
        stop.observe(2, Some(0.3), &params(2.0));
        stop.observe(3, Some(0.6), &params(3.0));
        let mut current = params(3.0);
        assert_eq!(stop.restore_best(&mut current, 3), 2);
        assert_eq!(current.embedding.data[0], 2.0);
    }
}
