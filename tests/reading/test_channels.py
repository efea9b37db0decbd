"""Models of several channels (issue 26): `--column a,b,c` reads F columns by the one reader, a user's
model of F channels forecasts them jointly (the closed loop feeds every predicted channel back), each
channel on its own scaler, exported float32 and int8 and run by the device's Forecaster exactly as
Keras' own closed loop runs, and the one-line refusals (a model that reads channels it does not
forecast; a series whose channel count is not the model's; a bad cell, by its line)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import cli, one_line_error, trains

import edge_forecast as ef
from edge_forecast.errors import UserError
from edge_forecast.export.from_model import parse_scale
from edge_forecast.signals import ScaleKind, Scaler, load_signal

DATA = Path(__file__).parents[1] / "data" / "etth2_excerpt.csv"  # 600 hourly rows of ETTh2 (tests/data/README.md)
WINDOW = 24
TRAIN_ROWS = 360  # the excerpt's first 60 %: what the export fits nothing on, the models learn from
FLOAT32 = 1e-5  # model units: the device's float32 closed loop against Keras' own


def _keras():
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    keras.utils.set_random_seed(0)
    return keras


def _standard(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    head = values[:TRAIN_ROWS]
    return head.mean(axis=0), head.std(axis=0)


def _scale_text(offset: np.ndarray, scale: np.ndarray) -> str:
    return ";".join(f"{o!r},{s!r}" for o, s in zip(offset.tolist(), scale.tolist(), strict=True))


def _fit(model, columns: str, horizon: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Train `model` briefly on the excerpt's standardized `columns`; the offset and scale it reads by."""
    values = load_signal(DATA, columns).values
    offset, scale = _standard(values)
    z = (values[:TRAIN_ROWS] - offset) / scale
    steps = horizon or 1
    n = TRAIN_ROWS - WINDOW - steps + 1
    x = np.stack([z[i : i + WINDOW] for i in range(n)])
    y = np.stack([z[i + WINDOW : i + WINDOW + steps] for i in range(n)])
    model.compile(loss="mse", optimizer="adam")
    model.fit(x, y if horizon else y[:, 0], epochs=3, batch_size=32, verbose=0)
    return offset, scale


@trains
def lstm3(tmp_path_factory) -> tuple[Path, Path]:
    """A 3-channel LSTM seq-to-one model (B, 24, 3) -> (B, 3) on HUFL, MUFL and OT, exported with
    `edge-forecast export lstm3.keras --column HUFL,MUFL,OT --scale O,S;O,S;O,S`."""
    keras = _keras()
    where = tmp_path_factory.mktemp("lstm3")
    model = keras.Sequential([keras.Input((WINDOW, 3)), keras.layers.LSTM(16), keras.layers.Dense(3)], name="lstm3")
    offset, scale = _fit(model, "HUFL,MUFL,OT", None)
    model.save(where / "lstm3.keras")
    out = where / "bundle"
    done = cli("export", str(where / "lstm3.keras"), "--signal", str(DATA), "--column", "HUFL,MUFL,OT",
               "--scale", _scale_text(offset, scale), "--quant", "float32,int8", "--out", str(out), timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr
    return where / "lstm3.keras", out


@trains
def direct2(tmp_path_factory) -> tuple[Path, Path]:
    """A 2-channel direct model (B, 24, 2) -> (B, 4, 2) (GRU, Dense(8), Reshape) on columns 1 and 3
    by index (HUFL, MUFL), exported from Python with its rollout graph."""
    keras = _keras()
    where = tmp_path_factory.mktemp("direct2")
    model = keras.Sequential([keras.Input((WINDOW, 2)), keras.layers.GRU(16), keras.layers.Dense(8),
                              keras.layers.Reshape((4, 2))], name="direct2")
    offset, scale = _fit(model, "1,3", 4)
    model.save(where / "direct2.keras")
    out = ef.export(model, where / "bundle", signal=DATA, column=[1, 3], scale=_scale_text(offset, scale),
                    quant="float32,int8", graphs="window,rollout", rollout_horizon=12, quiet=True)
    return where / "direct2.keras", Path(out)


def keras_closed_loop(model, context: np.ndarray, scaler: Scaler, steps: int) -> np.ndarray:
    """The user's Keras model's own closed loop from `context` (W, F) signal units: each forecast
    (a position, or a direct model's block of positions) appended to the window; (steps, F), signal units."""
    window = scaler.transform(context)
    out = []
    while len(out) < steps:
        y = np.asarray(model(window[None].astype(np.float32), training=False), dtype=np.float64)
        block = y.reshape(-1, window.shape[1])
        out.extend(block)
        window = np.concatenate([window, block])[-len(window) :]
    return scaler.inverse(np.array(out[:steps]))


def _check_device_against_keras(model_file: Path, bundle: Path, steps: int, graphs=("window",)) -> dict:
    keras = _keras()
    doc = json.loads((bundle / "bundle.json").read_text(encoding="utf-8"))
    model = keras.models.load_model(model_file, compile=False)
    scaler = Scaler.from_dict(doc["scaler"])
    context = np.asarray(doc["context_window"])
    expected = keras_closed_loop(model, context, scaler, steps)
    for graph in graphs:
        got = ef.Forecaster(bundle, variant="float32", graph=graph).forecast(horizon=steps)
        assert got.shape == (steps, doc["channels"])
        assert np.max(np.abs(scaler.transform(got) - scaler.transform(expected))) <= FLOAT32, graph
        quantized = ef.Forecaster(bundle, variant="int8", graph=graph).forecast(horizon=steps)
        assert quantized.shape == got.shape and np.isfinite(quantized).all()
    # a history of the right shape gives the same forecast as the bundle's context window
    again = ef.Forecaster(bundle, variant="float32").forecast(context, horizon=steps)
    np.testing.assert_allclose(again, ef.Forecaster(bundle, variant="float32").forecast(horizon=steps))
    return doc


def test_a_3_channel_lstm_exports_and_the_device_forecasts_every_channel_as_keras_does(lstm3):
    model_file, bundle = lstm3
    doc = _check_device_against_keras(model_file, bundle, 48)
    assert doc["channels"] == 3 and doc["format_minor"] == 3
    assert doc["signal"]["column"] == "HUFL,MUFL,OT"
    assert np.shape(doc["context_window"]) == (WINDOW, 3) and np.shape(doc["evaluation"]["truth"])[1] == 3
    assert len(doc["scaler"]["offset"]) == 3 and len(doc["scaler"]["scale"]) == 3
    model = doc["models"]["lstm3"]
    assert model["forecaster"]["channels"] == 3 and model["forecaster"]["output"] == "next"
    assert set(model["variants"]) == {"float32", "int8"}
    float32, int8 = model["variants"]["float32"], model["variants"]["int8"]
    assert float32["input"]["shape"] == [1, WINDOW, 3] and float32["output"]["shape"] == [1, 3]
    assert float32["errors"]["closed_loop_max_abs_vs_keras"] <= 1e-4  # signal units (scales up to ~10)
    assert int8["input"]["dtype"] == "int8" and int8["full_integer"]
    assert "step_refused" in model["forecaster"]  # one value per step: said, not attempted


def test_run_prints_one_column_per_channel_and_reads_a_history_of_several(lstm3, tmp_path):
    _, bundle = lstm3
    done = cli("run", str(bundle), "--horizon", "3")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "step,HUFL,MUFL,OT" and len(lines) == 4 and len(lines[1].split(",")) == 4
    # a history file with the same columns (others too, in any order): the bundle's columns are read
    done = cli("run", str(bundle), "--horizon", "2", "--history", str(DATA), "--format", "json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["channels"] == ["HUFL", "MUFL", "OT"] and np.shape(found["forecast"]) == (2, 3)
    one_line_error(cli("run", str(bundle), "--follow"), "3 channels")


def test_bench_reports_accuracy_over_and_per_channel(lstm3, tmp_path):
    _, bundle = lstm3
    report = tmp_path / "report"
    done = cli("bench", str(bundle), "--out", str(report), "--runtimes", "litert", "--repeats", "1")
    assert done.returncode == 0, done.stderr
    doc = json.loads((report / "report.json").read_text(encoding="utf-8"))
    assert doc["bundle"]["channels"] == 3
    for row in doc["results"]:
        accuracy = row["accuracy"]
        assert len(accuracy["test_closed_loop_rmse_per_channel"]) == 3 and np.shape(row["forecast"])[1] == 3
        assert "values_per_invoke" not in row  # one step per invoke: F values are one position
    assert "jointly" in (report / "report.md").read_text(encoding="utf-8")
    one_line_error(cli("micro", str(bundle)), "several channels")


def test_a_2_channel_direct_model_exports_window_and_rollout_graphs_that_match_keras(direct2):
    model_file, bundle = direct2
    doc = _check_device_against_keras(model_file, bundle, 12, graphs=("window", "rollout"))
    model = doc["models"]["direct2"]
    assert doc["channels"] == 2 and doc["signal"]["column"] == "HUFL,MUFL"
    assert model["forecaster"]["output"] == "direct" and model["forecaster"]["horizon"] == 4
    assert set(model["variants"]) == {"float32", "int8", "rollout-float32", "rollout-int8"}
    assert model["variants"]["float32"]["output"]["shape"] == [1, 8]
    assert model["variants"]["rollout-float32"]["horizon"] == 12
    assert model["variants"]["rollout-float32"]["errors"]["closed_loop_max_abs_vs_keras"] <= 1e-4


@pytest.mark.slow
def test_models_of_several_channels_that_cannot_be_exported_are_one_line(tmp_path):
    keras = _keras()
    layers = keras.layers
    # reads 3 channels, forecasts 2: the third's future values would be needed
    fewer = keras.Sequential([keras.Input((WINDOW, 3)), layers.LSTM(4), layers.Dense(2)], name="fewer")
    fewer.save(tmp_path / "fewer.keras")
    one_line_error(cli("export", str(tmp_path / "fewer.keras"), "--signal", str(DATA), "--column", "1,2,3",
                        "--out", str(tmp_path / "a")), "reads 3 channels and forecasts 2", "future values")
    # a series of 2 columns for a model of 3
    three = keras.Sequential([keras.Input((WINDOW, 3)), layers.LSTM(4), layers.Dense(3)], name="three")
    three.save(tmp_path / "three.keras")
    one_line_error(cli("export", str(tmp_path / "three.keras"), "--signal", str(DATA), "--column", "HUFL,OT",
                        "--out", str(tmp_path / "b")), "reads 3 channel(s)", "the series has 2")
    # a step graph of several channels: refused for that graph kind (asked alone: the export stops)
    one_line_error(cli("export", str(tmp_path / "three.keras"), "--signal", str(DATA), "--column", "1,2,3",
                        "--graphs", "step", "--out", str(tmp_path / "c")), "3 channels")
    assert not any((tmp_path / d).exists() for d in "abc")


def test_several_columns_are_read_side_by_side_by_the_one_reader(tmp_path):
    signal = load_signal(DATA, "OT,1")
    # indices count every column of the file, its time column too (0: date)
    assert signal.values.shape == (600, 2) and signal.column == "OT,HUFL"
    assert signal.values[0].tolist() == [38.6619987487793, 41.13000106811523]  # the file's first row
    assert signal.lines[0] == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("t,a,b\n1,1.0,2.0\n2,1.5,x\n3,2.0,3.0\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"line 3"):
        load_signal(bad, "a,b")
    with pytest.raises(UserError, match="unknown column 'c'"):
        load_signal(bad, "a,c")
    with pytest.raises(UserError, match="names a column twice"):
        load_signal(bad, "a,a")
    with pytest.raises(UserError, match="--max-gap"):
        load_signal(DATA, "a,b", max_gap=3)


def test_scale_per_channel():
    assert parse_scale("1,2;3,4", 2) == (ScaleKind.STANDARD, ((1.0, 3.0), (2.0, 4.0)))
    assert parse_scale("standard", 3) == (ScaleKind.STANDARD, None)
    with pytest.raises(UserError, match="2 OFFSET,SCALE pair"):
        parse_scale("1,2;3,4", 3)
    values = np.column_stack([np.arange(10.0), 100 + 10 * np.arange(10.0)])
    scaler = Scaler.fit("minmax", values)
    assert scaler.offset == (0.0, 100.0) and scaler.scale == (9.0, 90.0)
    np.testing.assert_allclose(scaler.inverse(scaler.transform(values)), values)
    assert Scaler.from_dict(json.loads(json.dumps(scaler.to_dict()))) == scaler


def test_bench_measures_a_several_channel_rollout_variant(direct2, tmp_path):
    _, bundle = direct2
    report = tmp_path / "report"
    done = cli("bench", str(bundle), "--out", str(report), "--runtimes", "litert", "--repeats", "1",
               "--horizon", "12")  # the rollout graph's horizon
    assert done.returncode == 0, done.stderr
    rows = {row["variant"]: row for row in json.loads((report / "report.json").read_text())["results"]}
    for key in ("float32", "rollout-float32"):
        assert rows[key]["status"] == "measured", rows[key]
        assert len(rows[key]["accuracy"]["test_closed_loop_rmse_per_channel"]) == 2
