"""Step and stream graphs of a user's own stack of recurrent layers (export/user_steps.py, issue 26).

A two-layer LSTM(16) -> GRU(8) -> Dense(1), trained a few steps, exported with every graph kind in
both step states: its step graph must forecast what its window graph does (the export's own
verification holds float32 to 1e-5 of Keras over the closed loop), its states are named per
layer, and `micro` takes the explicit-state stack. A Conv1D front keeps window and rollout and gets
one line for step and stream.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import zoo
from conftest import cli, trains

import edge_forecast
from edge_forecast.edge import Forecaster
from edge_forecast.edge.step import state_order

WINDOW = 20
GRAPHS = "window,step,stream,rollout"
# Every graph in float32 and int8 with the state explicit (what micro takes); float32 only with the
# state inside: the integer conversions are most of an export's minutes and the state's place does
# not change them.
QUANT = {"explicit": ("float32", "int8"), "inside": ("float32",)}


def variants(state: str) -> set[str]:
    return {f"{g}{m}" for g in ("", "step-", "stream-", "rollout-") for m in QUANT[state]}


def _fit(model, steps: int = 8):
    """A few training batches on the damped wave (windows -> next value)."""
    x = np.linspace(0.0, 5 * np.pi, 200)
    y = (np.exp(-x / 5) * np.cos(x)).astype(np.float32)
    windows = np.stack([y[i : i + WINDOW] for i in range(len(y) - WINDOW)])[..., None]
    model.compile(optimizer="adam", loss="mse")
    for step in range(steps):
        start = step * 16 % (len(windows) - 16)
        model.train_on_batch(windows[start : start + 16], y[WINDOW + start : WINDOW + start + 16, None])
    return model


def _stack_model():
    import keras

    keras.utils.set_random_seed(0)
    return _fit(keras.Sequential([keras.Input((WINDOW, 1)), keras.layers.LSTM(16, return_sequences=True),
                                  keras.layers.GRU(8), keras.layers.Dense(1)], name="stack"))


def _conv_model():
    import keras

    keras.utils.set_random_seed(0)
    return _fit(keras.Sequential([keras.Input((WINDOW, 1)), keras.layers.Conv1D(8, 3, padding="causal", name="front"),
                                  keras.layers.LSTM(8), keras.layers.Dense(1)], name="conv"))


@trains(scope="module")
def stack_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("stack") / "stack.keras"
    _stack_model().save(path)
    return path


def _export(path, out, step_state: str):
    return edge_forecast.export(path, out, signal="damped", window=WINDOW, quant=",".join(QUANT[step_state]),
                                graphs=GRAPHS, rollout_horizon=10, step_state=step_state, quiet=True)


class _Bundles(dict):
    """Step state -> the stack's bundle, exported when first asked for (each export takes minutes)."""

    def __init__(self, path, root) -> None:
        super().__init__()
        self.path, self.root = path, root

    def __missing__(self, state: str):
        self[state] = _export(self.path, self.root / state, state)
        return self[state]


@trains(scope="module")
def stack_bundles(stack_file, tmp_path_factory):
    return _Bundles(stack_file, tmp_path_factory.mktemp("stack_bundles"))


@pytest.mark.parametrize("state", ["inside", "explicit"])
def test_a_two_layer_stack_exports_every_graph_verified(stack_bundles, state):
    doc = json.loads((stack_bundles[state] / "bundle.json").read_text())
    (model,) = doc["models"].values()
    assert set(model["variants"]) == variants(state)  # each one verified (a failed one is left out)
    assert model["forecaster"]["state"] == ["h0", "c0", "h1"]
    assert model["forecaster"]["state_units"] == [16, 16, 8]
    step = model["variants"]["step-float32"]
    assert step["rows"] == WINDOW
    assert list(step["state"]) == ["h0", "c0", "h1"] == state_order(step["state"])
    assert [step["state"][n]["shape"] for n in ("h0", "c0", "h1")] == [[WINDOW, 16], [WINDOW, 16], [WINDOW, 8]]
    assert ("state_store" in step) is (state == "inside")
    if state == "explicit":
        assert set(step["tensors"]) == {"x", "y", "h0", "c0", "h1"}
    # float32: the closed loop within 1e-5 of Keras (the export's own gate, recorded)
    for key in ("step-float32", "rollout-float32"):
        assert model["variants"][key]["errors"]["closed_loop_max_abs_vs_keras"] <= 1e-5
    stream = model["variants"]["stream-float32"]["errors"]
    assert stream["compared_with"].startswith("keras closed loop, state carried")
    # a window-trained stack's stream graph is another forecaster: its Keras loop is recorded apart
    assert model["training"] == "window"
    assert model["keras"]["stream_closed_loop"] != model["keras"]["closed_loop"]


@pytest.mark.parametrize("state", ["inside", "explicit"])
def test_the_step_graph_forecasts_what_the_window_graph_does(stack_bundles, state):
    bundle = stack_bundles[state]
    step = Forecaster(bundle, variant="step-float32")
    window = Forecaster(bundle, variant="float32", graph="window")
    assert step.forecast_graph(30) == "step" and window.forecast_graph(30) == "window"
    a, b = step.forecast(None, 30), window.forecast(None, 30)
    assert np.max(np.abs(a - b)) <= 1e-4
    # and it keeps following a stream: update then forecast again
    for value in (0.01, -0.02, 0.015):
        step.update(value)
        window.update(value)
    assert np.max(np.abs(step.forecast(None, 5) - window.forecast(None, 5))) <= 1e-4


def test_micro_takes_the_explicit_state_stack(stack_bundles, tmp_path):
    pytest.importorskip("tflite_micro")
    import shutil

    out = tmp_path / "bundle"
    shutil.copytree(stack_bundles["explicit"], out)
    done = cli("micro", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads((out / "bundle.json").read_text())
    (model,) = doc["models"].values()
    for key in ("step-float32", "stream-float32"):
        record = model["variants"][key]["micro"]
        roles = [t["role"] for t in record["tensors"]["inputs"]]
        assert sorted(roles) == sorted(["x", "h0", "c0", "h1"])
        assert record["verified"]["ok"] is True


@trains(scope="module")
def conv_export(tmp_path_factory):
    root = tmp_path_factory.mktemp("conv")
    path = root / "conv.keras"
    _conv_model().save(path)
    done = cli("export", str(path), "--signal", "damped", "--window", str(WINDOW), "--quant", "float32",
               "--graphs", GRAPHS, "--rollout-horizon", "10", "--out", str(root / "bundle"))
    return root / "bundle", done


def test_a_conv1d_front_gets_one_line_for_step_and_stream_and_exports_the_rest(conv_export):
    bundle, done = conv_export
    assert done.returncode == 0, done.stdout + done.stderr
    refusals = [line for line in (done.stdout + done.stderr).splitlines() if "no step graph" in line
                or "no stream graph" in line]
    assert len(refusals) == 2
    for line in refusals:
        # named: Keras numbers unnamed layers per process (conv1d_3 after other tests in a worker)
        assert "layer 'front' (Conv1D)" in line and "window and rollout graphs apply" in line
    (model,) = json.loads((bundle / "bundle.json").read_text())["models"].values()
    assert set(model["variants"]) == {"float32", "rollout-float32"}
    assert "step_refused" in model["forecaster"]


# --- fast: which zoo models step, their state names, and how the device orders them -------------


@pytest.mark.parametrize("name", [n for n in zoo.NAMES if zoo.ZOO_BY_NAME[n].kind != "direct"])
def test_the_zoo_models_that_step_are_the_declared_ones(name: str) -> None:
    from edge_forecast.export import user_steps

    spec = zoo.ZOO_BY_NAME[name]
    found = user_steps.refusal(spec.build(zoo.WINDOW, steps=0), "next")
    if "step" in spec.graphs:
        assert "step_refused" not in found
        assert found["state"] == {"lstm_stack": ["h0", "c0", "h1", "c1"]}.get(
            name, ["h", "c"] if "lstm" in name else ["h"])
    else:
        assert "state" not in found
        assert "\n" not in found["step_refused"] and "layer '" in found["step_refused"]


def test_a_direct_output_has_no_step_graph() -> None:
    from edge_forecast.export import user_steps

    found = user_steps.refusal(zoo.build("lstm_direct24", steps=0), "direct")
    assert "several values per window" in found["step_refused"]


def test_state_names_are_ordered_by_layer_then_h_before_c() -> None:
    assert state_order(["c", "h", "x"]) == ["h", "c"]
    assert state_order(["h1", "c0", "h10", "h0", "y", "c1", "h2"]) == ["h0", "c0", "h1", "c1", "h2", "h10"]
