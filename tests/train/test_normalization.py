"""Instance normalization outside the graph (issue #15 part B): the rules, their round trip, the
device's arithmetic against training's, and int8 in the closed loop on a decaying signal."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import cli, trains

from edge_forecast.bundle import validate_bundle_dict
from edge_forecast.errors import UserError
from edge_forecast.forecast import rmse, run_closed_loop
from edge_forecast.normalization import (
    DRIFT_LIMIT,
    RULES,
    Normalization,
    PerStepWindow,
    scale_drift,
)
from edge_forecast.run_record import RECORD_NAME
from edge_forecast.signals import ScaleKind, Scaler, damped_oscillation, mackey_glass
from edge_forecast.train.config import build_config
from edge_forecast.train.split import make_split


def _windows(seed: int = 0) -> np.ndarray:
    """Windows of very different levels and amplitudes, one of them flat (the floor's case)."""
    rng = np.random.default_rng(seed)
    rows = (rng.normal(size=(5, 20)) * np.array([[1e-2], [1.0], [50.0], [1e-9], [3.0]])
            + np.array([[0], [7], [-300], [2], [0]]))
    rows[4] = 1.25  # flat
    return rows


@pytest.mark.parametrize("rule", RULES)
def test_round_trip(rule):
    norm = Normalization.for_training(rule, np.linspace(-1, 1, 50))
    rows = _windows()
    loc, scale = norm.stats(rows)
    back = norm.inverse(norm.forward(rows, loc, scale), loc, scale)
    if rule == "none":
        assert np.array_equal(back, rows)  # the identity, bit for bit
    else:  # two float64 operations each way: within a few units in the last place of the values
        assert np.allclose(back, rows, rtol=4e-16, atol=4 * np.spacing(np.abs(rows).max(axis=1, keepdims=True)))
    assert np.isfinite(norm.forward(rows, loc, scale)).all()  # the flat window too (the floor)


def test_statistics_of_each_rule():
    rows = _windows()
    floor = 1e-3
    loc, scale = Normalization("origin", floor).stats(rows)
    assert np.allclose(loc[:, 0], rows.mean(axis=1))
    assert np.allclose(scale[:, 0], np.maximum(rows.std(axis=1), floor))
    assert scale[4, 0] == floor and scale[3, 0] == floor  # flat and near-flat windows use the floor
    assert np.array_equal(Normalization("perstep", floor).stats(rows)[1], scale)
    loc_m, scale_m = Normalization("origin-mean").stats(rows)
    assert np.array_equal(loc_m, loc) and np.all(scale_m == 1.0)
    normed = Normalization("origin", floor).forward(rows[:3], loc[:3], scale[:3])
    assert np.allclose(normed.mean(axis=1), 0, atol=1e-12) and np.allclose(normed.std(axis=1), 1)


def test_floor_is_fitted_on_the_training_part_and_recorded():
    norm = Normalization.for_training("perstep", np.array([0.0, 2.0, 4.0, 6.0]))
    assert norm.floor == pytest.approx(1e-3 * np.std([0, 2, 4, 6]))
    assert Normalization.from_dict(norm.to_dict()) == norm
    assert Normalization.for_training("origin-mean", np.arange(5.0)).floor == 0.0


def test_old_files_load_as_none_and_bad_records_are_user_errors():
    assert Normalization.from_dict(None) == Normalization("none")
    assert not Normalization.from_dict({}).active
    for bad in ({"rule": "zscore"}, {"rule": "perstep", "floor": 0}, {"rule": "origin", "floor": "x"}, {"floor": 1}):
        with pytest.raises(UserError):
            Normalization.from_dict(bad)


def _auto(config, series: np.ndarray) -> Normalization:
    """What `train` decides for `config` on `series`: the rule fitted on the training part only."""
    split = make_split(series.size, config.window, config.validation_split, config.test_split)
    train = Scaler.fit(config.scale, series[: split.train_end]).transform(series[: split.train_end])
    return Normalization.for_training(config.normalize, train, config.window, config.per_step_ok)


@pytest.mark.parametrize("signal, series, rule", [
    ("damped", damped_oscillation(), "perstep"),   # amplitude decays ~23x: scale-free windows
    ("mackey-glass", mackey_glass(), "none"),      # dynamics on the absolute level: keep it
])
def test_default_rule_is_chosen_by_the_training_part(signal, series, rule):
    config = build_config(signal=signal)
    assert config.normalize == "auto"
    norm = _auto(config, series)
    assert norm.rule == rule and "scale drifts" in norm.reason and norm.to_dict()["auto"] == norm.reason
    # the training part alone decides: a test segment that explodes changes nothing
    split = make_split(series.size, config.window, config.validation_split, config.test_split)
    wild = series.copy()
    wild[split.val_end :] *= 1000.0
    assert _auto(config, wild) == norm
    assert Normalization.from_dict(norm.to_dict()).reason == norm.reason


def test_scale_drift_measures_amplitude_change_not_level_dynamics():
    t = np.arange(600.0)
    assert scale_drift(damped_oscillation(), 20) > 4 * DRIFT_LIMIT  # 8.5
    assert scale_drift(mackey_glass(), 20) < 1.2
    assert scale_drift(np.sin(t / 5), 20) < 1.1
    assert scale_drift(np.exp(t / 200) * np.sin(t / 5), 20) > DRIFT_LIMIT  # growing amplitude counts too
    assert scale_drift(np.sin(t[:100]), 20) is None  # a third shorter than two windows: not measured


def test_auto_takes_none_where_perstep_cannot_train_and_the_seed_preset_stays_the_tutorial():
    series = damped_oscillation()
    for options in ({"models": ("ar",)}, {"highway": 4}, {"stream": 40}, {"models": ("auto",)}):
        norm = _auto(build_config(signal="damped", **options), series)
        assert norm.rule == "none" and "not trained with perstep" in norm.reason, options
    seed = build_config("seed")
    assert seed.normalize == "none" and _auto(seed, series) == Normalization("none") and not _auto(seed, series).reason
    # short training part: not measured, none
    assert _auto(build_config(signal="damped", points=80), damped_oscillation(points=80)).rule == "none"
    # explicit rules are kept as they are, auto is never recorded
    assert _auto(build_config(signal="mackey-glass", normalize="perstep"), mackey_glass()).rule == "perstep"
    with pytest.raises(UserError):
        Normalization.from_dict({"rule": "auto"})


def test_bundle_schema_checks_the_normalization(tiny_bundle_doc):
    doc = dict(tiny_bundle_doc)
    validate_bundle_dict(doc)  # an older bundle without the field is valid
    doc["normalization"] = {"rule": "perstep", "floor": 0.001}
    validate_bundle_dict(doc)
    doc["normalization"] = {"rule": "nope", "floor": 0.001}
    with pytest.raises(UserError, match="bundle.json: unknown --normalize rule 'nope'; valid: none, perstep"):
        validate_bundle_dict(doc)


@pytest.fixture
def tiny_bundle_doc() -> dict:
    """A minimal valid bundle.json document (no files: only the schema is checked)."""
    tensor = {"dtype": "float32", "scale": 0.0, "zero_point": 0, "shape": [1, 20, 1]}
    variant = {"file": "lstm.float32.tflite", "sha256": "0" * 64, "bytes": 1, "mode": "float32", "graph": "window",
               "input": tensor, "output": {**tensor, "shape": [1, 1]}, "ops": [], "errors": {}, "runtimes": {}}
    return {"format": "edge-forecast-bundle", "format_version": 2, "created": "", "edge_forecast_version": "",
            "converter": {}, "window": 20, "scaler": {"kind": "standard", "offset": 0.0, "scale": 1.0},
            "seed_window": [0.0] * 20, "signal": {}, "evaluation": {"segment": "test", "steps": 1, "truth": [0.0]},
            "models": {"lstm": {"kind": "lstm", "units": 4, "params": 1, "keras": {},
                                "variants": {"float32": variant}}}}


class _Graph:
    """A window-graph state stand-in with the SlidingWindow interface over a numpy predictor (here
    the thing under test is the normalization around the graph, not an interpreter)."""

    def __init__(self, predict):
        self.predict_rows = predict

    def fill(self, values):
        self.values = np.array(values, dtype=np.float64)

    def predict(self):
        return float(self.predict_rows(self.values[None])[0])


def test_device_per_step_loop_equals_trainings():
    """The runner's loop state (PerStepWindow, edge) and training's batched forecaster
    (window_forecaster: validation and the test backtest) give the same numbers, bit for bit."""
    norm = Normalization("perstep", 1e-3)
    rows = _windows(1)[:4]

    def predict(x):  # any nonlinear window map in normalized units
        return np.tanh(x[:, -1] * 0.8 - x[:, -3] * 0.3 + 0.1)

    batched = norm.window_forecaster(predict)(rows, 15)
    for i, row in enumerate(rows):
        state = PerStepWindow(_Graph(predict), norm, row.size)
        state.fill(row)
        assert np.array_equal(run_closed_loop(state, 15), batched[i])


def test_device_origin_map_equals_trainings():
    """Forecaster's OriginMap (scaler, then the origin's map) and training's wrap of a model-unit
    forecaster agree to float64 rounding, for both per-origin rules."""
    scaler = Scaler(ScaleKind.STANDARD, 3.0, 2.0)
    signal_rows = _windows(2)[:3] * 2.0 + 3.0

    def forecast(x, steps):  # a normalized-unit forecaster: decays toward 0
        return np.stack([x[:, -1] * 0.9 ** (k + 1) for k in range(steps)], axis=1)

    for rule in ("origin", "origin-mean"):
        norm = Normalization(rule, 1e-3)
        trained = scaler.inverse(norm.wrap(forecast)(scaler.transform(signal_rows), 6))
        for i, row in enumerate(signal_rows):
            origin = norm.origin(scaler, row)
            device = origin.inverse(forecast(origin.transform(row)[None], 6)[0])
            assert np.allclose(device, trained[i], rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("args, message", [
    (["--normalize", "zscore"], "Invalid value for '--normalize'"),
    (["--normalize", "perstep", "--stream", "40"], "a stream graph's carried state cannot follow"),
])
def test_bad_normalize_option_exits_2_with_one_line(tmp_path, args, message):
    done = cli("train", *args, "--epochs", "1", "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_tensorflow_statistics_equal_numpys():
    """The per-step map inside training's rollout (TensorFlow) is numpy's mean and population std."""
    import tensorflow as tf

    rows = _windows(3)[:3].astype(np.float32)
    loc = tf.reduce_mean(rows[..., None], axis=1, keepdims=True).numpy()[:, 0]
    std = tf.math.reduce_std(rows[..., None], axis=1, keepdims=True).numpy()[:, 0]
    ref_loc, ref_scale = Normalization("perstep", 1e-12).stats(rows.astype(np.float64))
    assert np.allclose(loc, ref_loc, rtol=1e-5) and np.allclose(std, ref_scale, rtol=1e-4)


@trains
def perstep_run_and_bundle(tmp_path_factory):
    """`train` with every default (the LSTM; --normalize auto chooses perstep) on a damped signal
    whose amplitude decays 20x (tau = 5 pi / ln 20), exported to float32, int8 and int16x8."""
    tau = 5 * np.pi / np.log(20.0)
    root = tmp_path_factory.mktemp("perstep")
    run, bundle = root / "run", root / "bundle"
    done = cli("train", "--tau", f"{tau:.6f}", "--quiet", "--out", str(run), timeout=1800)
    assert done.returncode == 0, done.stderr
    done = cli("export", str(run), "--out", str(bundle), "--quant", "float32,int8,int16x8", "--quiet", timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr
    # int8 misses 1.5x here (2.65x): the warning points to int16x8, not to the rule the run already has
    warning = [line for line in done.stderr.splitlines() if line.startswith("warning: lstm int8: closed-loop RMSE")]
    assert len(warning) == 1 and warning[0].endswith(
        "; try int16x8 (docs/guide/export-and-quantization.md: int8 and the closed loop)"), done.stderr
    return run, bundle


def _test_backtest(bundle, variant: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The device runner's forecasts from every test-segment origin of the run (horizon 20), the
    truth, and the persistence forecast from the same origins."""
    from edge_forecast.bundle import load_bundle
    from edge_forecast.edge.forecaster import Forecaster

    b = load_bundle(bundle)
    series = np.concatenate([b.context_window, b.truth])
    horizon, w = int(b.evaluation.horizon), b.window
    f = Forecaster(b, variant=variant)
    origins = b.evaluation.origins
    forecasts = np.stack([f.forecast(series[o : o + w], horizon=horizon) for o in origins])
    truth = np.stack([series[o + w : o + w + horizon] for o in origins])
    persistence = np.stack([np.full(horizon, series[o + w - 1]) for o in origins])
    return forecasts, truth, persistence


@pytest.mark.slow
def test_device_forecasts_equal_the_runs_keras_backtest(perstep_run_and_bundle):
    """Device-side normalization equals training's: the float32 export run by the device's
    Forecaster reproduces the run record's Keras test backtest (same origins, same per-step maps)."""
    run, bundle = perstep_run_and_bundle
    record = json.loads((run / RECORD_NAME).read_text())
    assert record["normalization"]["rule"] == "perstep" and record["normalization"]["floor"] > 0
    assert record["config"]["normalize"] == "auto" and "scale drifts" in record["normalization"]["auto"]
    assert json.loads((bundle / "bundle.json").read_text())["normalization"] == record["normalization"]
    device, _, _ = _test_backtest(bundle, "float32")
    keras = np.asarray(record["models"]["lstm"]["test"]["forecasts"])
    assert device.shape == keras.shape
    assert np.max(np.abs(device - keras)) < 1e-4  # float32 TFLite vs Keras over 20 closed-loop steps


@pytest.mark.slow
def test_integer_closed_loop_with_per_step_normalization_on_a_decaying_signal(perstep_run_and_bundle):
    """Issue #15's goal on a signal whose amplitude decays 20x: integer closed-loop test RMSE
    (rolling origins, horizon 20, the device runner) at most 1.5x the float32 export's.

    Measured (docs/design/0003-instance-normalization.md): the goal holds for int16x8, the fallback (1.21x
    here); int8 proper does not meet it (2.65x here; 1.06x-3.19x over five seeds of the seed signal
    in docs/design/evidence/instance_norm_int8.md, where one model's int8 ranges from 1.0x to 10.5x
    with the calibration subset): its grids step ~1 % of each window's spread, while the float
    model's error is smaller than that. So this asserts what holds: int16x8 within 1.5x, int8
    within 3x (without normalization: ~10x), and the bundle labels each variant honestly."""
    _, bundle = perstep_run_and_bundle
    f32, truth, persistence = _test_backtest(bundle, "float32")
    # a model that learned (half the persistence error or better): a ratio of two bad fits proves nothing
    assert rmse(f32, truth) < 0.5 * rmse(persistence, truth)
    ratios = {mode: rmse(_test_backtest(bundle, mode)[0], truth) / rmse(f32, truth) for mode in ("int8", "int16x8")}
    print(f"float32 test RMSE {rmse(f32, truth):.4g}, persistence {rmse(persistence, truth):.4g}, "
          + ", ".join(f"{m} / float32 {r:.2f}x" for m, r in ratios.items()))  # shown with pytest -s
    assert ratios["int16x8"] <= 1.5, ratios
    assert ratios["int8"] <= 3.0, ratios
    variants = json.loads((bundle / "bundle.json").read_text())["models"]["lstm"]["variants"]
    for mode in ("int8", "int16x8"):
        recorded = variants[mode]["errors"]["closed_loop_rmse_ratio_vs_float32"]
        assert variants[mode]["closed_loop_within_bound"] == (recorded <= 1.5)


@pytest.mark.slow
def test_perstep_bundle_refuses_carried_state_graphs(perstep_run_and_bundle, tmp_path):
    run, bundle = perstep_run_and_bundle
    done = cli("export", str(run), "--out", str(tmp_path / "b"), "--graphs", "window,step")
    assert done.returncode == 2 and "only the window graph" in done.stderr and "Traceback" not in done.stderr
    # the user never typed perstep: the message says who chose it and how to avoid it
    assert "the default --normalize auto chose perstep" in done.stderr and "--normalize none" in done.stderr
    assert not (tmp_path / "b").exists()
    done = cli("run", str(bundle), "--graph", "step", "--horizon", "3")
    assert done.returncode == 2 and "only the window graph" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_origin_rule_on_every_graph_equals_trainings(tmp_path):
    """--normalize origin (one map per forecast origin): the window, step and rollout graphs run by
    the device's Forecaster reproduce the run's Keras test backtest, and an update (which moves
    the origin) equals a fresh forecast from the new last W values."""
    from edge_forecast.bundle import load_bundle
    from edge_forecast.edge.forecaster import Forecaster

    run, out = tmp_path / "run", tmp_path / "bundle"
    done = cli("train", "--normalize", "origin", "--epochs", "3", "--quiet", "--out", str(run), timeout=1800)
    assert done.returncode == 0, done.stderr
    done = cli("export", str(run), "--out", str(out), "--quant", "float32", "--graphs", "window,step,rollout",
               "--rollout-horizon", "20", "--quiet", timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads((run / RECORD_NAME).read_text())
    keras = np.asarray(record["models"]["lstm"]["test"]["forecasts"])
    b = load_bundle(out)
    series = np.concatenate([b.context_window, b.truth])
    origins, w = b.evaluation.origins, b.window
    for graph in ("window", "step", "rollout"):
        f = Forecaster(b, graph=graph)
        device = np.stack([f.forecast(series[o : o + w], horizon=20) for o in origins])
        assert device.shape == keras.shape and np.max(np.abs(device - keras)) < 1e-4, graph
    f = Forecaster(b, graph="step")
    f.reset(series[:w])
    moved = f.update(series[w], horizon=5)
    fresh = Forecaster(b, graph="step").forecast(series[1 : w + 1], horizon=5)
    assert np.allclose(moved, fresh, rtol=0, atol=1e-9)


def test_micro_header_carries_the_rule_and_its_c():
    from edge_forecast.micro.carray import _normalization_lines

    lines = "\n".join(_normalization_lines({"rule": "perstep", "floor": 0.001}))
    assert 'kNormalization[] = "perstep"' in lines and "kNormFloor = 0.001" in lines
    assert "input[i] = (w[i] - m) / s" in lines and "y = output * s + m" in lines
    assert "none: the model's input is w itself." in "\n".join(_normalization_lines({"rule": "none", "floor": 0.0}))
