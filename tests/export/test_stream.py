"""Streaming training (`train --stream`): the record, the stream graphs and rollout it exports,
and what it buys over a window-trained model run as a stream."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import cli, trains

from edge_forecast.bundle import load_bundle
from edge_forecast.edge import Forecaster

STREAM_ARGS = ["--stream", "40", "--train-horizon", "5", "--epochs", "25", "--seed", "3",
               "--points", "300", "--test-split", "80"]  # a test segment longer than the rollout graph checks
ROLLOUT_STEPS = 70  # past the 60 steps that gate a state-carrying float32 loop at export


@trains(scope="module")
def stream_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("stream") / "run"
    done = cli("train", "--model", "rnn,lstm", *STREAM_ARGS, "--quiet", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


@trains(scope="module")
def stream_bundle(stream_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("stream") / "bundle"
    # no stream in --graphs: a stream-trained run gets its stream graph anyway
    done = cli("export", str(stream_run), "--out", str(out), "--quant", "float32,int8",
               "--graphs", "step,rollout", "--rollout-horizon", str(ROLLOUT_STEPS), "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_stream_option_errors(tmp_path):
    for args, message in (
        (["--stream", "20"], "--stream must be 0 (window training) or longer than the window (20)"),
        (["--stream", "-1"], "--stream must be 0"),
        (["--stream", "40", "--input-noise", "0.1"], "--input-noise applies to window training only"),
        (["--stream", "190"], "too short for --stream 190"),
    ):
        done = cli("train", *args, "--epochs", "1", "--out", str(tmp_path / "run"))
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.strip() == f"error: {done.stderr.strip()[7:]}" and message in done.stderr
        assert "Traceback" not in done.stderr and not (tmp_path / "run").exists()


def test_stream_record_metrics_match_a_recomputation(stream_run):
    from edge_forecast.signals import Scaler
    from edge_forecast.train.keras_env import quiet_tensorflow

    quiet_tensorflow()
    import keras

    from edge_forecast.train.models import keras_forecast_fn

    record = json.loads((stream_run / "training.json").read_text())
    assert record["config"]["stream"] == 40
    series = np.load(stream_run / "signal.npy")
    scaler = Scaler.from_dict(record["scaler"])
    for name in ("rnn", "lstm"):
        entry = record["models"][name]
        assert entry["training"] == "stream"
        model = keras.models.load_model(stream_run / entry["file"], compile=False)
        loop = scaler.inverse(keras_forecast_fn(model, name, stream=True)(scaler.transform(series[:20]), 30))
        assert np.allclose(loop, entry["in_sample_closed_loop"]["forecast"][:30], atol=1e-6)
        test = entry["test"]
        origins = np.asarray(test["origin_index"])
        windows = np.stack([series[o - 20 : o] for o in origins])
        again = scaler.inverse(keras_forecast_fn(model, name, stream=True)(scaler.transform(windows), test["horizon"]))
        truth = np.stack([series[o : o + test["horizon"]] for o in origins])
        assert abs(np.sqrt(np.mean((again - truth) ** 2)) - test["rmse"]) < 1e-6


@pytest.mark.slow
def test_stream_training_beats_a_window_model_run_as_a_stream(stream_run, tmp_path):
    """Same signal, seed and epochs: the window-trained model, run with its state carried (the
    stream graph), drifts; the stream-trained one was trained for exactly that."""
    from edge_forecast.signals import Scaler
    from edge_forecast.train.keras_env import quiet_tensorflow

    quiet_tensorflow()
    import keras

    from edge_forecast.train.models import keras_forecast_fn

    window_run = tmp_path / "window"
    done = cli("train", "--model", "rnn", *[a for a in STREAM_ARGS if a not in ("--stream", "40")], "--quiet",
               "--out", str(window_run))
    assert done.returncode == 0, done.stderr
    record = json.loads((window_run / "training.json").read_text())
    assert record["models"]["rnn"]["training"] == "window"
    series = np.load(window_run / "signal.npy")
    scaler = Scaler.from_dict(record["scaler"])
    model = keras.models.load_model(window_run / "rnn.keras", compile=False)
    as_stream = scaler.inverse(keras_forecast_fn(model, "rnn", stream=True)(scaler.transform(series[:20]),
                                                                             series.size - 20))
    window_as_stream = float(np.sqrt(np.mean((as_stream - series[20:]) ** 2)))
    streamed = json.loads((stream_run / "training.json").read_text())["models"]["rnn"]["in_sample_closed_loop"]["rmse"]
    assert streamed < window_as_stream / 2, (streamed, window_as_stream)


@pytest.mark.slow
def test_stream_graphs_and_rollout_equal_the_keras_stream_loop(stream_bundle):
    bundle = load_bundle(stream_bundle)
    bundle.verify_all()
    for name in ("rnn", "lstm"):
        assert bundle.stream_trained(name)
        keras = bundle.keras_loop(name)
        assert np.allclose(keras, bundle.model(name).keras["stream_closed_loop"])
        stream = Forecaster(bundle, model=name, graph="stream").forecast(horizon=keras.size)
        # a barely trained closed loop grows float32 rounding: equal over the first 60 steps,
        # within the recorded closed-loop error over all of them
        assert np.max(np.abs(stream[:60] - keras[:60])) <= 1e-5
        recorded = bundle.variant(name, "stream-float32").errors
        assert np.max(np.abs(stream - keras)) <= recorded["closed_loop_max_abs_vs_keras"] / bundle.scaler.scale + 1e-6
        assert recorded["teacher_forced_max_abs_vs_keras"] <= 1e-5 * bundle.scaler.scale
        rollout = bundle.variant(name, "rollout-float32")
        assert rollout.errors["compared_with"].startswith("keras closed loop, state carried")
        assert bundle.variant(name, "stream-float32").errors["gated_steps"] == 60
        auto = Forecaster(bundle, model=name)
        assert auto.stepper_graph == "stream"  # update / --follow carry the state
        assert np.max(np.abs(auto.forecast(horizon=ROLLOUT_STEPS) - keras[:ROLLOUT_STEPS])) <= 1e-5  # the rollout graph
        # the stream graph
        assert np.max(np.abs(auto.forecast(horizon=ROLLOUT_STEPS + 5) - keras[: ROLLOUT_STEPS + 5])) <= 1e-5
        # the window graph of the same weights restarts its state every step: another forecaster
        window = Forecaster(bundle, model=name, graph="window").forecast(horizon=keras.size)
        assert np.max(np.abs(window - keras)) > 1e-3
        for graph in ("stream", "rollout"):
            entry = bundle.variant(name, f"{graph}-int8")
            got = Forecaster(bundle, model=name, variant="int8", graph=graph).forecast(horizon=ROLLOUT_STEPS)
            assert np.max(np.abs(got - keras[:ROLLOUT_STEPS])) <= entry.errors["closed_loop_max_abs_vs_keras"] + 1e-6


@pytest.mark.slow
def test_stream_bundle_bench_compares_with_the_stream_loop(stream_bundle, tmp_path):
    out = tmp_path / "report"
    done = cli("bench", str(stream_bundle), "--out", str(out), "--runtimes", "litert", "--horizon", "40",
               "--repeats", "1", "--quiet")
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["models"]["rnn"]["training"] == "stream"
    rows = {e["variant"]: e for e in report["results"] if e["model"] == "rnn" and e["runtime"] == "litert"}
    # each graph against the Keras loop it implements; the report's Keras row is the stream loop
    assert rows["stream-float32"]["accuracy"]["closed_loop_rmse_vs_keras"] < 1e-5
    assert rows["float32"]["accuracy"]["closed_loop_rmse_vs_keras"] < 1e-5
    keras = load_bundle(stream_bundle).model("rnn").keras
    assert np.allclose(report["models"]["rnn"]["keras"]["closed_loop"], keras["stream_closed_loop"])
    assert not np.allclose(keras["stream_closed_loop"], keras["closed_loop"], atol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("damage, message", [
    (lambda m: m.update(training="online"), "models.rnn.training must be one of window, stream"),
    (lambda m: m["keras"].pop("stream_closed_loop"), "models.rnn.keras.stream_closed_loop is missing"),
    (lambda m: m["keras"]["closed_loop"].__setitem__(0, "x"),
     "models.rnn.keras.closed_loop must be a list of finite numbers"),
])
def test_bundle_refuses_damaged_stream_records(stream_bundle, tmp_path, damage, message):
    import shutil

    copy = tmp_path / "b"
    shutil.copytree(stream_bundle, copy)
    doc = json.loads((copy / "bundle.json").read_text())
    damage(doc["models"]["rnn"])
    (copy / "bundle.json").write_text(json.dumps(doc))
    done = cli("run", str(copy), "--horizon", "3")
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_export_refuses_an_unknown_training_kind_in_the_run(stream_run, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(stream_run, copy)
    record = json.loads((copy / "training.json").read_text())
    record["models"]["rnn"]["training"] = "Stream"
    (copy / "training.json").write_text(json.dumps(record))
    done = cli("export", str(copy), "--out", str(tmp_path / "b"))
    assert done.returncode == 2, done.stderr
    assert "training.json is damaged: models.rnn.training must be one of window, stream" in done.stderr
    assert not (tmp_path / "b").exists()
