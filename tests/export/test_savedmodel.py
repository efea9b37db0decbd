"""Bring your own model as a SavedModel folder (Keras 3 `model.export(dir)`): its serving function
exported as window graphs, verified against that function, run from the bundle; step and stream
graphs refused for it with one line; folders export cannot take refused with one line, exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import zoo
from conftest import cli, one_line_error, trains

import edge_forecast as ef

WINDOW = 20


@trains
def folders(tmp_path_factory) -> Path:
    """Tiny untrained models written with model.export(dir): LSTM(8) -> Dense(1) and a direct GRU(8)
    -> Dense(4) as Keras builds them (a rolled loop: a While op in the graph), an image classifier,
    and a tf.Module whose loop runs until the window's values are small (its trip count depends on
    the window)."""
    import tensorflow as tf

    keras = zoo.seeded_keras()
    layers = keras.layers
    where = tmp_path_factory.mktemp("savedmodels")
    models = {
        "lstm": keras.Sequential([keras.Input((WINDOW, 1)), layers.LSTM(8), layers.Dense(1)]),
        "gru_direct": keras.Sequential([keras.Input((WINDOW, 1)), layers.GRU(8), layers.Dense(4)]),
        "image": keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(2, 3), layers.Flatten(),
                                   layers.Dense(3, activation="softmax")]),
    }
    for name, model in models.items():
        model.export(str(where / name), verbose=False)

    class Halving(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, WINDOW, 1], tf.float32)])
        def serve(self, x):
            x = tf.while_loop(lambda x: tf.reduce_max(tf.abs(x)) > 1.0, lambda x: (x / 2,), (x,))[0]
            return x[:, -1, :]

    module = Halving()
    tf.saved_model.save(module, str(where / "halving"), signatures={"serving_default": module.serve})
    return where


def _function_closed_loop(folder: Path, context: list[float], steps: int) -> np.ndarray:
    """The SavedModel's own serving function fed back its forecasts, one value a call."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(folder))
    window = list(context)
    out = []
    for _ in range(steps):
        y = float(np.asarray(loaded.serve(np.asarray(window[-WINDOW:], np.float32).reshape(1, WINDOW, 1)))[0, 0])
        out.append(y)
        window.append(y)
    return np.asarray(out)


def test_a_savedmodel_folder_exports_float32_and_int8_and_runs(folders, tmp_path):
    out = tmp_path / "bundle"
    done = cli("export", str(folders / "lstm"), "--signal", "damped", "--quant", "float32,int8",
               "--graphs", "window,rollout,step", "--rollout-horizon", "3", "--out", str(out), timeout=1800)
    assert done.returncode == 0, done.stderr
    assert "lstm: no step graph: " in done.stdout
    assert "needs the Keras file: a SavedModel keeps no layers" in done.stdout
    doc = json.loads((out / "bundle.json").read_text())
    model = doc["models"]["lstm"]
    assert model["kind"] == "savedmodel" and model["forecaster"]["signature"] == "serving_default"
    assert set(model["variants"]) == {"float32", "int8", "rollout-float32", "rollout-int8"}
    for variant in ("float32", "rollout-float32"):
        assert model["variants"][variant]["errors"]["closed_loop_max_abs_vs_keras"] <= 1e-5
    # the reference is the folder's own function: its closed loop, recomputed here, is the bundle's
    steps = doc["evaluation"]["steps"]
    own = _function_closed_loop(folders / "lstm", doc["context_window"], steps)
    assert np.max(np.abs(own - np.asarray(model["keras"]["closed_loop"][:steps]))) <= 1e-5
    done = cli("run", str(out), "--variant", "int8", "--horizon", "5")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().splitlines()) == 6  # header + 5 steps
    forecast = ef.Forecaster(out).forecast(horizon=10)
    assert forecast.shape == (10,) and np.isfinite(forecast).all()


def test_a_direct_savedmodel_exports_from_python(folders, tmp_path):
    y = np.sin(np.linspace(0, 12 * np.pi, 300))
    out = ef.export(folders / "gru_direct", tmp_path / "direct", signal=y, quant="float32", quiet=True)
    doc = json.loads((out / "bundle.json").read_text())
    model = doc["models"]["gru_direct"]
    assert (model["forecaster"]["output"], model["forecaster"]["horizon"]) == ("direct", 4)
    errors = model["variants"]["float32"]["errors"]
    assert errors["closed_loop_max_abs_vs_keras"] <= 1e-5 and errors["block_max_abs"] <= 1e-5
    assert np.isfinite(ef.Forecaster(out).forecast(horizon=9)).all()


def test_folders_export_cannot_take_are_one_line_and_nothing_written(folders, tmp_path):
    def refused(folder: Path, *fragments: str) -> None:
        one_line_error(cli("export", str(folder), "--signal", "damped", "--out", str(tmp_path / "B")), *fragments)
        assert not (tmp_path / "B").exists()

    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("not a model")
    refused(plain)  # neither a SavedModel nor a training run
    truncated = tmp_path / "truncated"
    shutil.copytree(folders / "lstm", truncated)
    pb = truncated / "saved_model.pb"
    pb.write_bytes(pb.read_bytes()[: pb.stat().st_size // 2])
    refused(truncated, "TensorFlow cannot load it")
    refused(folders / "image", "image-like shape")
    refused(folders / "halving", "not one export can unroll", "trip count depends on the window", "WHILE")

