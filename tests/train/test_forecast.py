"""The one closed loop (edge_forecast.forecast), on numpy predictors with known answers."""

from __future__ import annotations

import numpy as np

from edge_forecast.forecast import closed_loop, closed_loop_batch


def test_a_predictor_returning_a_view_of_the_windows():
    # seasonal naive with period 2 returns rows[:, -2], a view into the windows the loop shifts in
    # place: the forecast must still repeat the last season
    windows = np.array([[1.0, 2.0, 3.0], [7.0, 8.0, 9.0]])
    out = closed_loop_batch(lambda rows: rows[:, -2], windows, 4)
    assert out.tolist() == [[2.0, 3.0, 2.0, 3.0], [8.0, 9.0, 8.0, 9.0]]


def test_batch_rows_are_independent_and_equal_single_loops():
    rng = np.random.default_rng(0)
    windows = rng.normal(size=(5, 4))
    coef = np.array([0.1, -0.2, 0.3, 0.7])
    batch = closed_loop_batch(lambda rows: rows @ coef, windows, 12)
    for row, expected in zip(windows, batch, strict=True):
        assert np.allclose(closed_loop(lambda w: float(w @ coef), row, 12), expected, rtol=0, atol=1e-12)


def test_a_linear_recurrence_is_continued_exactly():
    # y[t] = 2 y[t-1] - y[t-2] continues a straight line
    out = closed_loop(lambda w: 2 * w[-1] - w[-2], np.array([0.0, 1.0]), 5)
    assert out.tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]
