"""A user's direct multi-step model (issue 26: (B, W, 1) -> (B, H)) exported end to end: H values
per invoke, the closed loop fed back a block at a time on the device as in Keras; `run`,
`run --follow` and `bench` on its bundle; `micro` refuses it with one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import cli, trains

WINDOW, BLOCK = 20, 24


def _damped(points: int = 200) -> np.ndarray:
    x = np.linspace(0.0, 5 * np.pi, points)
    return (np.exp(-x / 5) * np.cos(x)).astype(np.float32)


def _direct_model(steps: int = 30):
    """LSTM(16) -> Dense(24) fit for a few batches on the damped wave's (window, next 24) pairs."""
    import keras

    keras.utils.set_random_seed(0)
    y = _damped()
    count = y.size - WINDOW - BLOCK + 1
    x = np.stack([y[i : i + WINDOW] for i in range(count)])[..., None]
    target = np.stack([y[i + WINDOW : i + WINDOW + BLOCK] for i in range(count)])
    model = keras.Sequential([keras.Input((WINDOW, 1)), keras.layers.LSTM(16), keras.layers.Dense(BLOCK)])
    model.compile(optimizer="adam", loss="mse")
    for step in range(steps):
        start = step * 16 % (count - 16)
        model.train_on_batch(x[start : start + 16], target[start : start + 16])
    return model


def _keras_blocks(model, window: np.ndarray, horizon: int) -> np.ndarray:
    """The Keras block closed loop: invoke on the last W values, append all 24, repeat."""
    from edge_forecast.forecast import closed_loop_blocks

    def predict(rows: np.ndarray) -> np.ndarray:
        return np.asarray(model(rows[..., None].astype(np.float32), training=False))

    return closed_loop_blocks(predict, window, horizon, BLOCK)


@trains
def direct(tmp_path_factory):
    import edge_forecast

    model = _direct_model()
    out = tmp_path_factory.mktemp("direct") / "bundle"
    edge_forecast.export(model, out, signal=_damped(), window=WINDOW, quant="float32,int8", quiet=True)
    return model, out


def test_the_device_forecast_is_the_keras_block_loop(direct):
    import edge_forecast

    model, out = direct
    doc = json.loads((out / "bundle.json").read_text())
    (name, entry), = doc["models"].items()
    assert (entry["forecaster"]["output"], entry["forecaster"]["horizon"]) == ("direct", BLOCK)
    for variant in ("float32", "int8"):
        assert entry["variants"][variant]["output"]["shape"] == [1, BLOCK]
        assert entry["variants"][variant]["errors"]["block"] == BLOCK  # every value per invoke was checked
    forecaster = edge_forecast.Forecaster(out)
    assert forecaster.block == BLOCK
    got = forecaster.forecast(horizon=50)
    want = _keras_blocks(model, forecaster.bundle.context_window, 50)
    assert np.max(np.abs(got - want)) <= 1e-4
    # the bundle's own Keras loop is the same loop
    keras_loop = np.asarray(entry["keras"]["closed_loop"])
    assert np.max(np.abs(keras_loop[:40] - want[:40])) <= 1e-5
    # int8 follows the same loop, within its rounding
    assert np.max(np.abs(edge_forecast.Forecaster(out, variant="int8").forecast(horizon=50) - want)) < 0.1


def test_an_update_forecasts_a_new_block_from_the_newest_window(direct):
    import edge_forecast

    model, out = direct
    forecaster = edge_forecast.Forecaster(out)
    context = forecaster.bundle.context_window
    observed = np.array([0.05, 0.02, -0.01])
    for i, value in enumerate(observed):
        got = forecaster.update(value, horizon=30)
        newest = np.concatenate([context, observed[: i + 1]])[-WINDOW:]
        assert np.max(np.abs(got - _keras_blocks(model, newest, 30))) <= 1e-4
    # the forecast's own values never entered the stream: the next value is from observations only
    assert forecaster.update(0.0)[0] == pytest.approx(
        _keras_blocks(model, np.concatenate([context, observed, [0.0]])[-WINDOW:], 1)[0], abs=1e-5)


def test_run_and_follow_on_the_command_line(direct):
    import edge_forecast

    _, out = direct
    done = cli("run", str(out), "--horizon", "50")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "step,value" and len(lines) == 51
    values = np.array([float(line.split(",")[1]) for line in lines[1:]])
    assert np.allclose(values, edge_forecast.Forecaster(out).forecast(horizon=50), rtol=0, atol=1e-8)
    # --follow: one line per observation, one block (24 values) each by default
    done = cli("run", str(out), "--follow", input="0.05\n0.02\n-0.01\n")
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split(",") == ["observation", *(f"t+{h}" for h in range(1, BLOCK + 1))]
    assert len(rows) == 3 and all(len(row.split(",")) == BLOCK + 1 for row in rows)


def test_bench_says_a_step_is_one_invoke_over_the_block(direct, tmp_path):
    _, out = direct
    done = cli("bench", str(out), "--out", str(tmp_path / "report"), "--runtimes", "litert", "--repeats", "1")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    measured = [e for e in report["results"] if e["status"] == "measured"]
    assert measured and all(e["values_per_invoke"] == BLOCK for e in measured)
    assert f"one invoke of {BLOCK} values / {BLOCK}" in (tmp_path / "report" / "report.md").read_text()


def test_micro_refuses_it_in_one_line(direct, tmp_path):
    from edge_forecast.bundle import load_bundle
    from edge_forecast.errors import UserError
    from edge_forecast.micro.command import choose_items

    _, out = direct
    with pytest.raises(UserError, match=f"forecasts {BLOCK} values per invoke"):
        choose_items(load_bundle(out), None, None)


def test_the_rollout_graph_feeds_blocks(tmp_path):
    import edge_forecast

    model = _direct_model(steps=10)
    out = edge_forecast.export(model, tmp_path / "bundle", signal=_damped(), window=WINDOW, quant="float32",
                               graphs="window,rollout", rollout_horizon=50, quiet=True)
    forecaster = edge_forecast.Forecaster(out)
    assert forecaster.forecast_graph(50) == "rollout"
    got = forecaster.forecast(horizon=50)
    assert np.max(np.abs(got - _keras_blocks(model, forecaster.bundle.context_window, 50))) <= 1e-4


test_the_rollout_graph_feeds_blocks = pytest.mark.slow(test_the_rollout_graph_feeds_blocks)
