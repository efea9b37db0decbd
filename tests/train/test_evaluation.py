"""Honest evaluation: the test segment, rolling-origin backtests, MASE, baselines on the same origins."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import cli, trains

from edge_forecast.baselines import baseline_forecasters, drift_forecast, fit_ar
from edge_forecast.errors import UserError
from edge_forecast.evaluation import (
    backtest,
    naive_scale,
    origin_truth,
    origin_windows,
    plan_origins,
    score,
)
from edge_forecast.forecast import closed_loop_batch
from edge_forecast.signals import damped_oscillation
from edge_forecast.train.split import make_split


def test_mase_of_persistence_is_one_on_the_training_part():
    y = np.random.default_rng(0).normal(size=300).cumsum()
    train = y[:240]
    plan = plan_origins(1, train.size, window=1, horizon=1, stride=1)
    result = backtest(baseline_forecasters(train, 1)["persistence"], train, plan, 1, naive_scale(train, 1))
    assert result["origins"] == 239
    assert result["mase"] == pytest.approx(1.0, rel=1e-12)


def test_seasonal_naive_mase_is_one_with_its_season():
    y = np.sin(np.arange(400) * 2 * np.pi / 12) + np.random.default_rng(1).normal(scale=0.1, size=400).cumsum()
    plan = plan_origins(12, 400, window=12, horizon=1)
    naive = baseline_forecasters(y, 12, season=12)["seasonal_naive12"]
    assert backtest(naive, y, plan, 12, naive_scale(y, 12))["mase"] == pytest.approx(1.0, rel=1e-12)
    # a closed loop of the seasonal naive step repeats the last season
    window = y[:12]
    assert np.allclose(naive(window[None], 30)[0], np.tile(window, 3)[:30])


def test_ar_backtest_of_an_exact_linear_recurrence_is_zero():
    y = damped_oscillation(points=400)  # y[t] = 2r cos(w) y[t-1] - r^2 y[t-2] exactly
    ar = fit_ar(y[:200], 20)
    plan = plan_origins(300, 400, 20, horizon=30, stride=5)
    result = backtest(lambda w, s: closed_loop_batch(ar.predict, w, s), y, plan, 20, naive_scale(y[:200]))
    assert result["origins"] == 15 and result["rmse"] < 1e-9 and max(result["rmse_by_horizon"]) < 1e-9


def test_backtest_origins_windows_and_scores():
    y = np.arange(100.0)
    plan = plan_origins(80, 100, window=5, horizon=8, stride=3)
    assert list(plan.origins) == [80, 83, 86, 89, 92]
    assert np.array_equal(origin_windows(y, plan, 5)[0], y[75:80])
    assert np.array_equal(origin_truth(y, plan)[-1], y[92:100])
    # drift over a straight line is exact; persistence is off by h at step h
    assert np.allclose(drift_forecast(origin_windows(y, plan, 5), 8), origin_truth(y, plan))
    s = score(np.zeros((2, 3)), np.array([[1.0, 2, 3], [1, 2, 3]]), scale=2.0)
    assert s["mae_by_horizon"] == [1, 2, 3] and s["mase"] == pytest.approx(1.0)
    assert s["rmse"] == pytest.approx(np.sqrt(14 / 3))
    # a budget of origins raises the stride; a short segment shortens the horizon
    assert plan_origins(100, 10_100, 5, 20, 1, max_origins=100).origins.size <= 100
    assert plan_origins(100, 110, 5, 20).horizon == 10


def test_split_has_three_chronological_parts():
    split = make_split(1000, 20, 0.1, 0.2)
    assert (split.train_end, split.val_end) == (20 + 702, 800)
    assert make_split(1000, 20, 0.1, 150).val_end == 850
    assert make_split(200, 20, 0.1, 0).to_dict()["test_start"] == 200
    with pytest.raises(UserError, match="leaves 10 values before the test segment"):
        make_split(100, 20, 0.1, 90)
    with pytest.raises(UserError, match="neither a fraction"):
        make_split(100, 5, 0.1, 2.5)


def _npy(path, values):
    np.save(path, values)
    return str(path)


# --normalize none: the selection test recomputes the validation backtest without a normalization
TRAIN_ARGS = ["--normalize", "none", "--model", "rnn", "--window", "8", "--units", "6", "--epochs", "3",
              "--train-horizon", "3", "--test-split", "30", "--horizon", "6", "--stride", "2", "--seed", "5", "--quiet"]


@trains(scope="module")
def twin_runs(tmp_path_factory):
    """The same series twice, differing only in the test segment's values."""
    tmp = tmp_path_factory.mktemp("twins")
    y = damped_oscillation(points=150) + 0.05 * np.sin(np.arange(150))
    changed = y.copy()
    changed[-30:] = np.random.default_rng(3).normal(size=30) * 5
    runs = []
    for name, values in (("a", y), ("b", changed)):
        done = cli("train", "--signal", _npy(tmp / f"{name}.npy", values), *TRAIN_ARGS, "--out", str(tmp / name))
        assert done.returncode == 0, done.stderr
        runs.append((tmp / name, done))
    return runs


@pytest.mark.slow
def test_test_segment_values_never_reach_training_or_selection(twin_runs):
    import keras

    (a, _), (b, _) = twin_runs
    ra, rb = (json.loads((r / "training.json").read_text()) for r in (a, b))
    assert ra["split"]["test_start"] == 120
    assert ra["models"]["rnn"]["history"] == rb["models"]["rnn"]["history"]
    wa = keras.models.load_model(a / "rnn.keras").get_weights()
    wb = keras.models.load_model(b / "rnn.keras").get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(wa, wb, strict=True))
    assert ra["scaler"] == rb["scaler"] and ra["mase_scale"] == rb["mase_scale"]
    # ... while the test figures do see them
    assert ra["models"]["rnn"]["test"]["rmse"] != rb["models"]["rnn"]["test"]["rmse"]


@pytest.mark.slow
def test_record_metrics_match_a_recomputation_from_stored_forecasts(twin_runs):
    (run, done), _ = twin_runs
    record = json.loads((run / "training.json").read_text())
    series = np.load(run / "signal.npy")
    scale = record["mase_scale"]["in_sample_naive_mae"]
    # MASE's scale: the in-sample one-step seasonal naive MAE with the run's primary season (found
    # by --season auto; 1, persistence, when none is)
    season, train = record["mase_scale"]["season"], series[: record["split"]["train_points"]]
    assert season == (record["seasons"]["seasons"] or [1])[0]
    assert scale == pytest.approx(np.mean(np.abs(train[season:] - train[:-season])))
    for entry in [record["models"]["rnn"], *record["baselines"].values()]:
        test = entry["test"]
        assert (test["start"], test["stop"], test["horizon"], test["stride"]) == (120, 150, 6, 2)
        origins = np.asarray(test["origin_index"])
        assert list(origins) == list(range(120, 145, 2)) and test["origins"] == origins.size
        forecasts = np.asarray(test["forecasts"])
        truth = np.stack([series[o : o + 6] for o in origins])
        again = score(forecasts, truth, scale)
        for key in ("rmse", "mae", "mase"):
            assert test[key] == pytest.approx(again[key], rel=1e-12)
        assert test["rmse_by_horizon"] == pytest.approx(again["rmse_by_horizon"], rel=1e-12)
    # one seasonal naive per season found (the added sine's period, 2 pi, gives 6 here)
    seasonal = {f"seasonal_naive{s}" for s in record["seasons"]["seasons"]}
    assert set(record["baselines"]) == {"persistence", "drift", "ar8"} | seasonal
    # every figure in the record is strict JSON
    json.loads((run / "training.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in training.json"))


@pytest.mark.slow
def test_a_model_that_loses_to_a_baseline_is_warned_about(twin_runs):
    (run, done), _ = twin_runs
    record = json.loads((run / "training.json").read_text())
    best = min(b["test"]["rmse"] for b in record["baselines"].values())
    # 3 epochs cannot beat AR on a near-linear signal: the warning says so on stderr, even with --quiet
    assert record["models"]["rnn"]["test"]["rmse"] > best
    line = [x for x in done.stderr.splitlines() if x.startswith("warning:")]
    assert len(line) == 1 and "rnn does not beat the best baseline on the test segment" in line[0]
    # AR on the damped signal (an exact linear recurrence) is exact to float rounding: a ratio to
    # ~1e-16 says nothing, so the line says that instead
    assert best < 1e-12 and "(the baseline is exact to float rounding)" in line[0]


@pytest.mark.parametrize("value, message", [("1.5", "neither a fraction"), ("-0.1", "neither a fraction"),
                                            ("abc", "neither a fraction"), ("195", "leaves 5 values")])
def test_bad_test_split_exits_2(tmp_path, value, message):
    done = cli("train", "--test-split", value, "--epochs", "1", "--out", str(tmp_path / "r"))
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "r").exists()


def test_a_season_longer_than_the_window_is_refused_only_where_nothing_can_use_it():
    from edge_forecast.train.config import build_config

    # the seasonal naive baselines and MASE read a long season from the series: lstm takes it
    assert build_config(None, season=30, models=("lstm",)).season == (30,)
    # ar's seasonal difference reads the window: a given season it cannot use is said
    with pytest.raises(UserError, match=r"^season: season 30 does not fit the window \(20\)|^season 30 does not fit"):
        build_config(None, season=30, models=("ar",))
    assert build_config(None, season="30,4", models=("ar",)).fitting_seasons() == (4,)
    assert build_config(None).season is None and build_config("seed").season == ()
    assert build_config("seed", season="auto").season is None
    for text, message in (("0", "at least 1 value"), ("day", "not auto, none or whole numbers")):
        with pytest.raises(UserError, match=message):
            build_config(None, season=text)
    assert build_config("seed").test_split == 0.0 and build_config(None).test_split == 0.2


@pytest.mark.slow
def test_every_evaluation_field_of_the_bundle_is_the_test_segment(twin_runs, tmp_path):
    import keras

    from edge_forecast.bundle import load_bundle
    from edge_forecast.forecast import rmse
    from edge_forecast.signals import Scaler

    (run, _), _ = twin_runs
    done = cli("export", str(run), "--out", str(tmp_path / "b"), "--quant", "float32", "--quiet")
    assert done.returncode == 0, done.stderr
    bundle = load_bundle(tmp_path / "b")
    record = json.loads((run / "training.json").read_text())
    series = np.load(run / "signal.npy")
    ev, start = bundle.evaluation, 120
    assert (ev.segment, ev.start, ev.steps) == ("test", start, 30)
    assert np.array_equal(ev.truth, series[start:])
    assert np.array_equal(bundle.context_window, series[start - 8 : start])
    # the run's backtest origins, as offsets into the truth
    assert ev.horizon == 6 and [o + start for o in ev.origins] == record["models"]["rnn"]["test"]["origin_index"]
    model = bundle.model("rnn")
    trained = keras.models.load_model(run / "rnn.keras", compile=False)
    scaler = Scaler.from_dict(record["scaler"])
    windows = np.stack([series[i - 8 : i] for i in range(start, 150)])
    one_step = scaler.inverse(trained.predict(scaler.transform(windows)[..., None], verbose=0)[:, -1, 0])
    assert np.allclose(model.keras["one_step"], one_step, atol=1e-5)
    loop = np.asarray(model.keras["closed_loop"])
    assert loop.size == 30
    errors = model.variants["float32"].errors
    assert errors["test_closed_loop_rmse"] == pytest.approx(rmse(loop, series[start:]), abs=1e-5)
    test = {k: v for k, v in record["models"]["rnn"]["test"].items() if k not in ("forecasts", "origin_index")}
    assert model.keras["test"] == test
    for name, entry in bundle.document.baselines.items():
        assert entry["test"]["rmse"] == record["baselines"][name]["test"]["rmse"]
        assert entry["test_closed_loop_rmse"] == pytest.approx(rmse(entry["closed_loop"], series[start:]))
    assert bundle.document.baselines["persistence"]["closed_loop"] == [series[start - 1]] * 30
    # every figure against the truth anywhere in bundle.json is named for the test segment
    written = bundle.document.to_dict()
    against_truth = {k for k in _keys(written) if "truth" in k or k.startswith(("test_", "in_sample_"))}
    assert against_truth == {"truth", "test_closed_loop_rmse", "test_stream_closed_loop_rmse"}


def _keys(node) -> set[str]:
    """Every key of a JSON document, at any depth."""
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in _keys(v)}
    return set()


def test_readers_accept_the_old_names_of_existing_bundles():
    from edge_forecast.bundle import truth_figure, truth_key
    from edge_forecast.contracts.bundle import VariantEntry, VariantId
    from edge_forecast.export.exporter import _integer_checks

    assert truth_key("test", "closed_loop_rmse") == "test_closed_loop_rmse"
    assert truth_key("in-sample", "closed_loop_rmse") == "in_sample_closed_loop_rmse"
    for key in ("test_closed_loop_rmse", "in_sample_closed_loop_rmse", "closed_loop_rmse_vs_truth"):
        assert truth_figure({key: 0.25, "closed_loop_rmse_vs_keras": 1.0}, "closed_loop_rmse") == 0.25
    with pytest.raises(KeyError):
        truth_figure({"closed_loop_rmse_vs_keras": 1.0}, "closed_loop_rmse")
    # a bundle written before the names changed: its int8 check reads the old name
    old = {mode: VariantEntry(file="x.tflite", sha256="0" * 64, bytes=1, id=VariantId.parse(mode), input=None,
                              output=None, ops=[], errors={"closed_loop_rmse_vs_truth": rmse}, runtimes={})
           for mode, rmse in (("float32", 0.01), ("int8", 0.05))}
    assert _integer_checks(old)[0].startswith("int8: closed-loop RMSE vs truth 0.05 is 5.0x")
    assert old["int8"].errors["closed_loop_rmse_ratio_vs_float32"] == pytest.approx(5.0)


def test_an_old_run_or_bundle_is_a_one_line_error(tmp_path):
    from edge_forecast.bundle import validate_bundle_dict

    run = tmp_path / "old"
    run.mkdir()
    (run / "training.json").write_text(json.dumps({"format": "edge-forecast-run", "format_version": 1}))
    done = cli("export", str(run), "--out", str(tmp_path / "b"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: {run / 'training.json'} has format version 1; "
        "this edge-forecast reads version 2 (train the run again)"]
    with pytest.raises(UserError, match="format version 1 is not supported"):
        validate_bundle_dict({"format": "edge-forecast-bundle", "format_version": 1})


def test_strict_json_refuses_nan(tmp_path):
    from edge_forecast.fsio import write_json_atomic

    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "x.json", {"rmse": float("nan")})
    assert not (tmp_path / "x.json").exists() and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_selection_keeps_the_weights_with_the_best_validation_backtest(twin_runs):
    import keras

    from edge_forecast.evaluation import MAX_SELECTION_ORIGINS
    from edge_forecast.forecast import rmse
    from edge_forecast.signals import Scaler
    from edge_forecast.train.models import keras_forecast_fn

    (run, _), _ = twin_runs
    record = json.loads((run / "training.json").read_text())
    split, history = record["split"], record["models"]["rnn"]["history"]
    scaled = Scaler.from_dict(record["scaler"]).transform(np.load(run / "signal.npy"))
    plan = plan_origins(split["validation_start"], split["test_start"], 8, 6, 2, MAX_SELECTION_ORIGINS)
    model = keras.models.load_model(run / "rnn.keras", compile=False)
    again = rmse(keras_forecast_fn(model)(origin_windows(scaled, plan, 8), plan.horizon), origin_truth(scaled, plan))
    scored = [v for v in history["val_closed_loop_rmse"] if v is not None]
    assert history["selected_val_closed_loop_rmse"][0] == min(scored)
    assert again == pytest.approx(min(scored), rel=1e-5)


def test_baseline_warning_gives_the_ratio_or_says_the_baseline_is_exact():
    from edge_forecast.evaluation import baseline_warnings

    lines = baseline_warnings({"rnn": {"rmse": 0.03}, "lstm": {"rmse": 0.001}, "gru": None},
                              {"persistence": {"rmse": 0.05}, "ar20": {"rmse": 0.01}})
    assert lines == ["rnn does not beat the best baseline on the test segment: backtest RMSE 0.03 vs 0.01 for ar20 "
                     "(3.00x); train --model ar deploys that linear model, --model auto picks by validation"]
    exact = baseline_warnings({"rnn": {"rmse": 0.03}}, {"ar20": {"rmse": 4e-17}})
    assert exact == ["rnn does not beat the best baseline on the test segment: backtest RMSE 0.03 vs 4e-17 for ar20 "
                     "(the baseline is exact to float rounding); train --model ar deploys that linear model, "
                     "--model auto picks by validation"]
    drift = baseline_warnings({"rnn": {"rmse": 0.03}}, {"persistence": {"rmse": 0.01}})
    assert drift[0].endswith("(3.00x); train longer (--epochs), on a longer signal, or with --model auto")
    # a float32 ar model on an exact linear recurrence (damped signal: 2.4e-9 against the float64 AR
    # baseline's 4e-17) is exact to float32 rounding too: no warning
    assert baseline_warnings({"ar": {"rmse": 2.428e-09}}, {"persistence": {"rmse": 0.04973},
                                                           "ar20": {"rmse": 4.05e-17}}) == []
    assert len(baseline_warnings({"ar": {"rmse": 1e-4}}, {"persistence": {"rmse": 0.05}, "ar20": {"rmse": 4e-17}})) == 1
