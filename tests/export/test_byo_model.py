"""Bring your own Keras model: `edge-forecast export MODEL.keras --signal ...` and
`edge_forecast.export(model, ...)`, as a notebook user would (the tutorial's models saved with
model.save, then exported, run and benched with no training here), and the one-line refusals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import zoo
from conftest import cli, one_line_error, trains

import edge_forecast as ef
from edge_forecast.errors import UserError
from edge_forecast.export.from_model import is_model_path, model_name, parse_scale
from edge_forecast.signals import ScaleKind

WINDOW = 20


def _tutorial_series() -> np.ndarray:
    x = np.linspace(0, 5 * math.pi, 200)
    return np.exp(-x / 5) * np.cos(x)


@trains
def notebook(tmp_path_factory) -> Path:
    """The tutorial's rnn_model and lstm_model as a notebook makes them: Sequential, window 20,
    return_sequences=True, Dense(1), trained (briefly) and saved with model.save as .keras and .h5."""
    keras = zoo.seeded_keras()
    where = tmp_path_factory.mktemp("notebook")
    y = _tutorial_series()
    x_train = np.array([y[i : i + WINDOW] for i in range(len(y) - WINDOW)])[..., None]
    y_train = np.array([y[i + 1 : i + WINDOW + 1] for i in range(len(y) - WINDOW)])[..., None]
    for name, cell in (("rnn_model", keras.layers.SimpleRNN), ("lstm_model", keras.layers.LSTM)):
        model = keras.Sequential([keras.Input((WINDOW, 1)), cell(40, return_sequences=True), keras.layers.Dense(1)])
        model.compile(loss="mse", optimizer="adam")
        model.fit(x_train, y_train, epochs=20, batch_size=10, verbose=0)
        model.save(where / f"{name}.keras")
        model.save(where / f"{name}.h5")
    return where


@trains
def nb_bundle(notebook, tmp_path_factory) -> Path:
    """`edge-forecast export lstm_model.keras --signal damped --window 20` in every mode."""
    out = tmp_path_factory.mktemp("nb") / "bundle"
    done = cli("export", str(notebook / "lstm_model.keras"), "--signal", "damped", "--window", "20", "--out", str(out),
               timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_the_notebook_lstm_exports_in_every_mode_verified_against_keras(nb_bundle):
    doc = json.loads((nb_bundle / "bundle.json").read_text())
    model = doc["models"]["lstm_model"]
    assert model["kind"] == "keras" and model["params"] == 6761
    assert model["forecaster"]["output"] == "sequence" and model["forecaster"]["window"] == 20
    assert set(model["variants"]) == {"float32", "float16", "dynamic", "int8", "int16x8"}
    # float32 within 1e-5 of Keras over the whole closed loop (the bar)
    assert model["variants"]["float32"]["errors"]["closed_loop_max_abs_vs_keras"] <= 1e-5
    assert doc["evaluation"]["segment"] == "test" and doc["scaler"]["kind"] == "none"
    for key in ("int8", "int16x8"):  # integer window graphs are smaller than float32 (export/compact.py)
        assert model["variants"][key]["bytes"] < model["variants"]["float32"]["bytes"], key


def test_the_notebook_bundle_runs_and_benches_as_a_trained_ones(nb_bundle, tmp_path):
    done = cli("run", str(nb_bundle), "--variant", "int8", "--horizon", "5")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().splitlines()) == 6  # header + 5 steps
    report = tmp_path / "report"
    done = cli("bench", str(nb_bundle), "--out", str(report), "--runtimes", "litert", "--repeats", "1")
    assert done.returncode == 0, done.stderr
    assert (report / "report.md").exists() and (report / "forecast.png").exists()


def test_an_h5_file_and_an_in_memory_model_export_from_python(notebook, tmp_path):
    """The notebook form: edge_forecast.export(rnn_model, signal=y, window=20, out=...)."""
    keras = zoo.seeded_keras()
    rnn_model = keras.models.load_model(notebook / "rnn_model.keras")
    y = _tutorial_series()
    out = ef.export(rnn_model, tmp_path / "mem", signal=y, window=20, quant="float32,int8", quiet=True)
    doc = json.loads((out / "bundle.json").read_text())
    (name,) = doc["models"]
    assert set(doc["models"][name]["variants"]) == {"float32", "int8"}
    assert doc["models"][name]["variants"]["float32"]["errors"]["closed_loop_max_abs_vs_keras"] <= 1e-5
    forecast = ef.Forecaster(out).forecast(horizon=10)
    assert forecast.shape == (10,) and np.isfinite(forecast).all()
    h5 = ef.export(notebook / "rnn_model.h5", tmp_path / "h5", signal="damped", quant="float32", quiet=True)
    got = json.loads((h5 / "bundle.json").read_text())["models"]["rnn_model"]["variants"]["float32"]
    assert got["errors"]["closed_loop_max_abs_vs_keras"] <= 1e-5


def _save(model, where: Path) -> Path:
    path = where / f"{model.name}.keras"
    model.save(path)
    return path


@pytest.mark.slow
def test_models_that_are_not_forecasters_here_are_refused_with_one_line(tmp_path):
    keras = zoo.seeded_keras()
    layers = keras.layers
    inp = keras.Input((WINDOW, 1))
    two = keras.Input((WINDOW, 1))
    cases = {
        "image": (keras.Sequential([keras.Input((28, 28, 1)), layers.Flatten(), layers.Dense(10)], name="image"),
                  "image-like shape"),
        "flat": (keras.Sequential([keras.Input((WINDOW,)), layers.Dense(1)], name="flat"), "no time axis"),
        "classifier": (keras.Sequential([keras.Input((WINDOW, 1)), layers.LSTM(4),
                                         layers.Dense(3, activation="softmax")], name="classifier"), "classifier"),
        "two_inputs": (keras.Model([inp, two], layers.Dense(1)(layers.LSTM(4)(layers.Add()([inp, two]))),
                                   name="two_inputs"), "2 inputs"),
        "reads_more": (keras.Sequential([keras.Input((WINDOW, 3)), layers.LSTM(4), layers.Dense(1)], name="reads_more"),
                       "future values"),
    }
    for name, (model, fragment) in cases.items():
        out = tmp_path / f"out_{name}"
        one_line_error(cli("export", str(_save(model, tmp_path)), "--signal", "damped", "--out", str(out)), fragment)
        assert not out.exists(), name
    # a window that the model does not take
    lstm = keras.Sequential([keras.Input((WINDOW, 1)), layers.LSTM(4), layers.Dense(1)], name="fixed")
    one_line_error(cli("export", str(_save(lstm, tmp_path)), "--signal", "damped", "--window", "30",
                        "--out", str(tmp_path / "w")), "--window 30 does not match", "window 20")
    # a model that takes any window length needs --window
    free = keras.Sequential([keras.Input((None, 1)), layers.GRU(4), layers.Dense(1)], name="free")
    one_line_error(cli("export", str(_save(free, tmp_path)), "--signal", "damped", "--out", str(tmp_path / "f")),
                    "any length", "--window")
    assert not (tmp_path / "w").exists() and not (tmp_path / "f").exists()


@pytest.mark.parametrize(("make", "fragment"), [
    (lambda p: p.write_bytes(b"PK\x03\x04 not a whole archive"), "not a Keras archive"),
    (lambda p: p.write_bytes(b"hello"), "not a Keras archive"),
])
def test_a_damaged_keras_file_is_one_line_and_nothing_written(tmp_path, make, fragment):
    model = tmp_path / "m.keras"
    make(model)
    one_line_error(cli("export", str(model), "--signal", "damped", "--out", str(tmp_path / "B")), fragment)
    assert not (tmp_path / "B").exists()


def test_other_bad_sources_are_one_line(tmp_path):
    (tmp_path / "m.h5").write_bytes(b"not hdf5")
    one_line_error(cli("export", str(tmp_path / "m.h5"), "--signal", "damped", "--out", str(tmp_path / "B")),
                    "not an HDF5 file")
    one_line_error(cli("export", str(tmp_path / "missing.keras"), "--signal", "damped", "--out",
                        str(tmp_path / "B")), "does not exist")
    # SavedModel folders (read in a child, so slow): tests/export/test_savedmodel.py
    import zipfile

    with zipfile.ZipFile(tmp_path / "ok.keras", "w") as archive:  # a whole archive: the series is checked next
        archive.writestr("config.json", "{}")
    one_line_error(cli("export", str(tmp_path / "ok.keras"), "--out", str(tmp_path / "B")), "--signal")
    one_line_error(cli("export", str(tmp_path / "ok.keras"), "--signal", "damped", "--models", "a", "--out",
                        str(tmp_path / "B")), "--models applies to a training run")
    assert not (tmp_path / "B").exists()


def test_series_options_with_a_run_directory_are_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    one_line_error(cli("export", str(run), "--signal", "damped", "--out", str(tmp_path / "B")),
                    "--signal applies to a model file")


@pytest.mark.parametrize(("text", "kind", "given"), [
    (None, ScaleKind.NONE, None), ("standard", ScaleKind.STANDARD, None), ("MinMax", ScaleKind.MINMAX, None),
    ("2.5,0.5", ScaleKind.STANDARD, (2.5, 0.5)), (" -1, 4 ", ScaleKind.STANDARD, (-1.0, 4.0)),
])
def test_scale_is_a_kind_or_an_offset_and_scale(text, kind, given):
    assert parse_scale(text) == (kind, given)


@pytest.mark.parametrize("text", ["1,0", "nan,1", "1", "a,b", "1,2,3", "zscore", "1,inf"])
def test_a_scale_that_is_none_of_them_is_refused(text):
    with pytest.raises(UserError, match="^scale '.*' is neither none, standard, minmax nor OFFSET,SCALE"):
        parse_scale(text)


def test_model_paths_and_names(tmp_path):
    assert is_model_path(tmp_path / "a.keras") and is_model_path(tmp_path / "b.H5")
    assert not is_model_path(tmp_path / "run")
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"")
    assert is_model_path(tmp_path / "sm")
    assert model_name(Path("my model (v2).keras")) == "my_model_v2" and model_name(Path("---.keras")) == "model"
