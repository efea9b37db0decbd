"""The linear path: --model ar, the LSTNet highway, their export and their device run."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import cli, one_line_error, trains

from edge_forecast.baselines import fit_ar
from edge_forecast.bundle import truth_figure
from edge_forecast.errors import UserError
from edge_forecast.signals import damped_oscillation

AR_WINDOW = 12


@trains
def linear_run(tmp_path_factory):
    """ar (least squares) and an rnn with a highway of 4 on the damped signal, 2 epochs."""
    out = tmp_path_factory.mktemp("linear") / "run"
    done = cli("train", "--model", "ar,rnn", "--highway", "4", "--window", str(AR_WINDOW), "--units", "8",
               "--epochs", "2", "--quiet", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


@trains
def linear_bundle(linear_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("linear") / "bundle"
    done = cli("export", str(linear_run), "--out", str(out), "--graphs", "rollout", "--rollout-horizon", "8",
               "--quiet", timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.mark.slow
def test_ar_learns_a_linear_recurrence(linear_run):
    """The damped oscillation obeys y[t] = 2r cos(w) y[t-1] - r^2 y[t-2] exactly: ar learns it to
    float32 rounding on the held-out test segment (its values peak at ~0.2 there)."""
    record = json.loads((linear_run / "training.json").read_text())
    ar = record["models"]["ar"]
    assert ar["kind"] == "ar" and ar["params"] == AR_WINDOW + 1 and ar["units"] == 0
    assert ar["test"]["rmse"] < 1e-6 and ar["test"]["origins"] > 10
    assert record["models"]["rnn"]["highway"] == 4 and "highway" not in ar


@pytest.mark.slow
@pytest.mark.parametrize("fit", ["lstsq", "refine"])
def test_ar_fit_from_the_library(fit, tmp_path):
    """Both fits of `--ar-fit`: refining by closed-loop training never ends worse on validation
    than the least-squares start it came from (it keeps that start when it is better)."""
    from edge_forecast.train.config import build_config
    from edge_forecast.train.loop import train_run

    config = build_config(models=("ar",), window=8, epochs=2, ar_fit=fit, points=120)
    record = train_run(config, tmp_path / "run", quiet=True)
    history = record["models"]["ar"]["history"]
    assert record["models"]["ar"]["test"]["rmse"] < 1e-6
    if fit == "lstsq":
        assert len(history["loss"]) == 1
    else:
        assert len(history["loss"]) == 2


@pytest.mark.slow
def test_highway_starts_from_the_least_squares_ar():
    """With the recurrent output layer at zero, the highway model's forecast is AR's: in the
    training graph, the exported window clone and the rollout graph (the whole closed loop)."""
    from edge_forecast.export.graphs import build_inference_model, build_rollout_model
    from edge_forecast.forecast import closed_loop_batch
    from edge_forecast.train.keras_env import seed_everything
    from edge_forecast.train.models import build_model, init_linear

    seed_everything(0)
    series = damped_oscillation(tau=3.0, points=150) + 0.05 * np.sin(np.arange(150) * 0.7)
    window, p, units = 10, 5, 6
    ar = fit_ar(series[:100], p)
    windows = np.lib.stride_tricks.sliding_window_view(series, window)[:40]
    for kind in ("rnn", "lstm", "gru"):
        model = build_model(kind, window, units, highway=p)
        init_linear(model, kind, ar)
        got = model.predict(windows[..., None].astype("float32"), verbose=0)[:, -1, 0]
        np.testing.assert_allclose(got, ar.predict(windows), atol=1e-5)
        clone = build_inference_model(model, kind, window, units)
        np.testing.assert_allclose(clone(windows[:1, :, None].astype("float32")).numpy()[0, 0],
                                   ar.predict(windows[:1])[0], atol=1e-5)
        rollout = build_rollout_model(model, kind, window, units, horizon=7)
        loop = rollout(windows[:1, :, None].astype("float32")).numpy()[0]
        np.testing.assert_allclose(loop, closed_loop_batch(ar.predict, windows[:1], 7)[0], atol=1e-4)


@pytest.mark.slow
def test_ar_exports_every_mode_and_runs_without_tensorflow(linear_bundle):
    doc = json.loads((linear_bundle / "bundle.json").read_text())
    ar, rnn = doc["models"]["ar"], doc["models"]["rnn"]
    assert set(ar["variants"]) == {"float32", "float16", "dynamic", "int8", "int16x8", "rollout-float32",
                                   "rollout-int8"}
    assert truth_figure(ar["variants"]["float32"]["errors"], "closed_loop_rmse") < 1e-6
    assert rnn["highway"] == 4 and "rollout-float32" in rnn["variants"]
    code = (
        "import sys, numpy as np\n"
        "from edge_forecast.edge.forecaster import Forecaster\n"
        f"for variant in ('float32', 'int8'):\n"
        f"    f = Forecaster({str(linear_bundle)!r}, model='ar', variant=variant, graph='window')\n"
        "    out = f.forecast(horizon=5)\n"
        "    assert out.shape == (5,) and np.all(np.isfinite(out)), out\n"
        f"r = Forecaster({str(linear_bundle)!r}, model='rnn', variant='int8', graph='rollout').forecast(horizon=8)\n"
        "assert r.shape == (8,)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'))\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    float_loop = doc["models"]["ar"]["variants"]["float32"]["errors"]["closed_loop_rmse_vs_keras"]
    assert float_loop < 1e-6
    done = cli("run", str(linear_bundle), "--model", "ar", "--graph", "step")
    one_line_error(done, "no step graph", "ar")
    # a forecast longer than ar's rollout graph: the hint names only graphs ar has
    too_long = cli("run", str(linear_bundle), "--model", "ar", "--graph", "rollout", "--horizon", "9")
    one_line_error(too_long, "the rollout graph forecasts 8 steps; 9 were asked (use --graph auto or window)")
    done = cli("run", str(linear_bundle), "--model", "ar", "--horizon", "3", "--format", "json")
    assert done.returncode == 0 and json.loads(done.stdout)["horizon"] == 3


@pytest.mark.slow
def test_step_and_stream_graphs_are_refused_in_one_line(linear_run, tmp_path):
    done = cli("export", str(linear_run), "--out", str(tmp_path / "b"), "--graphs", "step")
    one_line_error(done, "--graphs step", "ar has none", "highway")
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(("args", "fragments"), [
    (["--model", "ar", "--highway", "3"], ("--highway adds a linear path to a recurrent model",)),
    (["--model", "lstm", "--highway", "30"], ("--highway must be 0 (none) to the window (20), got 30",)),
    (["--model", "ar", "--stream", "40"], ("ar has none",)),
    (["--model", "lstm", "--highway", "3", "--stream", "40"], ("drop --stream or --highway",)),
    (["--model", "ar", "--ar-fit", "ridge"], ("'ridge' is not one of 'lstsq', 'refine'",)),
    (["--model", "arma"], ("unknown model 'arma'; valid: rnn, lstm, gru, ar, auto",)),
    (["--model", "auto,lstm"], ("'auto' cannot be combined with another model",)),
    (["--model", "auto", "--stream", "40"], ("--model auto compares window-trained candidates",)),
    (["--model", "ar", "--ar-fit", "refine", "--normalize", "origin"],
     ("--normalize origin with ar needs --ar-fit lstsq",)),
    (["--model", "auto", "--normalize", "perstep"],
     ("--normalize perstep is not combined with --highway or --model auto",)),
    (["--model", "lstm", "--ar-fit", "refine"], ("--ar-fit refine applies to --model ar",)),
    # refused before any candidate trains (it used to train ar first and print its lines)
    (["--model", "auto", "--validation-split", "0"], ("--model auto chooses on the validation segment",)),
])
def test_bad_linear_options_are_one_line_and_exit_2(tmp_path, args, fragments):
    one_line_error(cli("train", "--out", str(tmp_path / "run"), *args), *fragments)
    assert not (tmp_path / "run").exists()


def test_config_checks_the_linear_options():
    from edge_forecast.train.config import build_config

    with pytest.raises(UserError, match="ar_fit"):
        build_config(models=("ar",), ar_fit="ridge")
    assert build_config(models=("lstm",), highway=20).highway == 20
    # teacher forcing alone is a valid config: the closed-loop defaults step aside unless given
    forced = build_config(train_horizon=0)
    assert (forced.lr_schedule, forced.select) == ("constant", "last")
    with pytest.raises(UserError, match="need closed-loop training"):
        build_config(train_horizon=0, select="best")


@pytest.mark.slow
def test_auto_picks_by_validation_and_records_every_candidate(auto_twin_runs):
    """`train --model auto` (conftest's `auto_twin_runs`, window 8): every candidate's figures are
    recorded, the run keeps only the chosen model."""
    from edge_forecast.train.auto import choose, score

    out = auto_twin_runs[0]
    record = json.loads((out / "training.json").read_text())
    assert record["config"]["window"] == 8
    auto = record["auto"]
    assert set(auto["candidates"]) == {"ar", "lstm", "lstm+highway4"}
    for figures in auto["candidates"].values():
        assert figures["validation"]["origins"] > 0 and figures["test"]["origins"] > 0
        assert figures["validation"]["mase"] > 0 and figures["test"]["mase"] > 0
    best = choose({n: c["validation"]["mase"] for n, c in auto["candidates"].items()})
    assert auto["chosen"] == best and auto["candidates"]["ar"]["linear"]["lags"] <= 8
    (name, entry), = record["models"].items()
    assert entry["candidate"] == best and score(entry) == auto["candidates"][best]["validation"]["mase"]
    assert sorted(p.name for p in out.glob("*.keras")) == [entry["file"]] and not (out / "candidates").exists()
    assert entry["test"]["mase"] == auto["candidates"][best]["test"]["mase"]


@pytest.mark.slow
def test_least_squares_ar_needs_no_training_horizon_or_budget(tmp_path):
    """24 training values: too few for window 20 + training horizon 10, enough for AR(20) by least
    squares, which takes no gradient steps (it used to be refused, pointing at --train-horizon)."""
    done = cli("train", "--model", "ar", "--points", "30", "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    assert "training budget" not in done.stdout and "ar: 21 parameters" in done.stdout
    refine = cli("train", "--model", "ar", "--ar-fit", "refine", "--points", "30", "--out", str(tmp_path / "r2"))
    assert refine.returncode == 2 and "training horizon 10" in refine.stderr
