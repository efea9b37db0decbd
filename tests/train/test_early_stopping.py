"""Early stopping of a budgeted run (train/budget.py stale, train/rollout.py fit_epochs).

A run with an automatic epoch count stops once its best validation backtest is at least half the
gradient steps done old (and STALE_MIN_STEPS old); a given --epochs runs them all."""

from __future__ import annotations

import numpy as np
import pytest

from edge_forecast.train.budget import STALE_MIN_STEPS, resolve_budget, stale
from edge_forecast.train.config import TrainConfig
from edge_forecast.train.rollout import Validation, fit_epochs


def test_a_run_is_stale_when_its_best_is_half_its_steps_and_the_minimum_old():
    assert not stale(1200, 201)  # a tutorial-sized budget stops only if its best came in the first 200 steps
    assert stale(2 * STALE_MIN_STEPS, 0)
    assert not stale(3480, 1741) and stale(3480, 1740)  # nyc_taxi: best at epoch 30 of 58 steps
    assert not stale(20000, 12000)             # 8,000 steps since the best, but under half the run


@pytest.mark.parametrize(("epochs", "stop_early"), [(None, True), (40, False)])
def test_only_an_automatic_epoch_count_stops_early(epochs, stop_early):
    config, note = resolve_budget(TrainConfig(epochs=epochs), samples=4000)
    assert config.stop_early is stop_early and note["stop_early"] == "auto"
    forced, note = resolve_budget(TrainConfig(epochs=epochs, stop_early=not stop_early), samples=4000)
    assert forced.stop_early is (not stop_early) and note["stop_early"] == "given"


class _Frozen:
    """A model whose weights training never changes (a learning rate of 0): its validation can
    only be as good as after the first epoch, so the run stops at the first stale evaluation."""

    def __init__(self) -> None:
        self.weights = [np.zeros(3)]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [w.copy() for w in weights]


@pytest.mark.parametrize(("stop_early", "select"), [(True, "best"), (False, "best"), (True, "last")])
def test_fit_epochs_stops_at_the_first_stale_evaluation(stop_early, select):
    epochs = 300  # 100 windows at batch 10: 10 steps an epoch; evaluated every 10 epochs
    windows = np.zeros((4, 5))
    validation = Validation(windows, np.ones((4, 3)))
    config = TrainConfig(epochs=epochs, batch_size=10, stop_early=stop_early, select=select)
    history = fit_epochs(_Frozen(), config, (np.zeros((100, 5)),), lambda x: 0.0,
                         lambda w, steps: np.zeros((len(w), steps)), validation, None)
    if stop_early:
        # best at the first evaluation (epoch 10, 100 steps); stale once 1,000 steps and half the
        # run lie after it: 1,100 steps, epoch 110, the first evaluation at or after that
        assert history["stopped_early"] == [110.0, 10.0] and len(history["loss"]) == 110
    else:
        assert "stopped_early" not in history and len(history["loss"]) == epochs
    # the staleness is the validation's, whatever selection keeps (select last: the last weights)
    assert history.get("selected_val_closed_loop_rmse") == ([1.0] if select == "best" else None)
