"""Training: the seed preset's models, the run directory, determinism, bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import cli

from edge_forecast.errors import UserError
from edge_forecast.forecast import rmse


@pytest.mark.parametrize("kind, params", [("rnn", 1721), ("lstm", 6761), ("gru", 5201)])
def test_parameter_counts(kind, params):
    from edge_forecast.train.models import build_model

    assert build_model(kind, 20, 40).count_params() == params


@pytest.mark.slow
def test_inference_clone_reproduces_the_trained_model():
    from edge_forecast.export.graphs import build_inference_model
    from edge_forecast.train.keras_env import seed_everything
    from edge_forecast.train.models import build_model

    seed_everything(1)
    for kind in ("rnn", "lstm", "gru"):
        trained = build_model(kind, 8, 6)
        clone = build_inference_model(trained, kind, 8, 6)
        x = np.random.default_rng(0).normal(size=(4, 8, 1)).astype("float32")
        want = trained.predict(x, verbose=0)[:, -1, 0]
        got = np.array([clone(x[i : i + 1]).numpy()[0, 0] for i in range(4)])
        assert np.max(np.abs(want - got)) < 1e-5


def _like(doc, shape):
    """`doc` cut to the keys of `shape`, object by object."""
    if isinstance(shape, dict):
        return {k: _like(doc[k], v) for k, v in shape.items() if k in doc}
    return doc


def test_training_json_round_trips_through_the_run_record(tiny_run):
    """Every field RunRecord types is in the file as the record writes it, and reads back the same."""
    from edge_forecast.contracts.run_record import RunRecord

    doc = json.loads((tiny_run / "training.json").read_text())
    record = RunRecord.from_dict(doc)
    written = record.to_dict()
    assert _like(doc, written) == written
    assert RunRecord.from_dict(written) == record


def test_run_directory_holds_every_artifact(tiny_run):
    from edge_forecast.run_record import load_run

    loaded = load_run(tiny_run)
    assert loaded.window == 20 and list(loaded.models) == ["rnn", "lstm", "gru"]
    record = json.loads((tiny_run / "training.json").read_text())  # the whole document, as written
    assert {p.name for p in tiny_run.iterdir()} >= {
        "training.json", "signal.npy", "rnn.keras", "lstm.keras", "gru.keras", "loss.png", "forecast.png"}
    assert record["config"]["preset"] == "seed" and record["config"]["batch_size"] == 10
    assert record["config"]["optimizer"] == "sgd" and record["config"]["validation_split"] == 0.1
    assert record["split"] == {"points": 200, "windows": 180, "train_windows": 162, "train_points": 182,
                               "validation_start": 182, "test_start": 200}  # the tutorial: no test segment
    assert record["scaler"] == {"kind": "none", "offset": 0.0, "scale": 1.0}
    assert {"tensorflow", "keras", "numpy", "python"} <= set(record["versions"])
    series = np.load(tiny_run / "signal.npy")
    assert record["signal"]["fingerprint"] == __import__("edge_forecast.signals").signals.fingerprint(series)
    for name, params in (("rnn", 1721), ("lstm", 6761), ("gru", 5201)):
        model = record["models"][name]
        assert model["params"] == params
        assert len(model["history"]["loss"]) == 3 and len(model["history"]["val_loss"]) == 3
        assert model["test"] is None
        forecast = np.asarray(model["in_sample_closed_loop"]["forecast"])
        assert forecast.size == 180
        assert model["in_sample_closed_loop"]["rmse"] == pytest.approx(rmse(forecast, series[20:]), rel=1e-12)
    baselines = record["baselines"]
    assert set(baselines) == {"persistence", "drift", "ar20"}
    assert baselines["persistence"]["in_sample_closed_loop"]["forecast"] == [series[19]] * 180
    for entry in baselines.values():
        loop = entry["in_sample_closed_loop"]
        assert loop["rmse"] == pytest.approx(rmse(loop["forecast"], series[20:]), rel=1e-12)
    # the seed signal is an exact linear recurrence: AR fitted on the training part nails it
    assert baselines["ar20"]["in_sample_closed_loop"]["rmse"] < 1e-3


def test_a_run_record_that_names_the_train_horizon_rollout_still_exports(tiny_run, tmp_path):
    """Records written before the rename call config.train_horizon `rollout`."""
    import shutil

    from edge_forecast.run_record import load_run

    copy = tmp_path / "run"
    shutil.copytree(tiny_run, copy)
    doc = json.loads((copy / "training.json").read_text())
    assert doc["config"]["train_horizon"] == 0 and "rollout" not in doc["config"]  # the seed preset: teacher forcing
    doc["config"]["rollout"] = doc["config"].pop("train_horizon")
    (copy / "training.json").write_text(json.dumps(doc))
    assert load_run(copy).config.window == 20
    done = cli("export", str(copy), "--out", str(tmp_path / "bundle"), "--models", "rnn", "--quant", "float32",
               "--quiet")
    assert done.returncode == 0, done.stderr


def test_closed_loop_in_record_is_the_keras_model(tiny_run):
    import keras

    from edge_forecast.forecast import closed_loop
    from edge_forecast.train.models import keras_step_fn

    record = json.loads((tiny_run / "training.json").read_text())
    series = np.load(tiny_run / "signal.npy")
    model = keras.models.load_model(tiny_run / "rnn.keras")
    again = closed_loop(keras_step_fn(model), series[:20], 30)
    assert np.allclose(again, record["models"]["rnn"]["in_sample_closed_loop"]["forecast"][:30], atol=1e-6)


@pytest.mark.slow
def test_training_is_deterministic(tmp_path):
    from edge_forecast.train.config import build_config
    from edge_forecast.train.loop import train_run

    config = build_config(None, models=("rnn",), epochs=2, window=5, units=4, points=60, seed=7)
    a = train_run(config, tmp_path / "a", quiet=True, echo=lambda _: None)
    b = train_run(config, tmp_path / "b", quiet=True, echo=lambda _: None)
    assert a["models"]["rnn"]["history"] == b["models"]["rnn"]["history"]
    assert a["models"]["rnn"]["test"]["forecasts"] == b["models"]["rnn"]["test"]["forecasts"]


@pytest.mark.slow
def test_train_names_the_final_run_directory_and_its_figures(tmp_path):
    """The run is written in a staging sibling (.run.partial-...): the output names the directory
    the user gets (the demo, itself staging, passes its own `label`); and the backtest and the
    in-sample loop are two figures with two names."""
    from edge_forecast.train.config import build_config
    from edge_forecast.train.loop import train_run

    config = build_config(None, models=("rnn",), epochs=1, window=5, units=4, points=80)
    lines: list[str] = []
    train_run(config, tmp_path / "run", echo=lines.append)
    assert lines[-1] == f"run saved to {tmp_path / 'run'}"
    assert not [line for line in lines if ".partial-" in line]
    summary = next(line for line in lines if line.startswith("rnn: "))
    assert "backtest RMSE" in summary and "(test segment, 1 origin, horizon " in summary
    assert "test RMSE" not in summary.replace("backtest", "")
    assert "in-sample closed-loop RMSE" in summary and "steps from the first window)" in summary


@pytest.mark.slow
def test_interrupted_training_leaves_nothing(tmp_path, monkeypatch):
    from edge_forecast.train import loop
    from edge_forecast.train.config import build_config

    def interrupt(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "_plots", interrupt)
    config = build_config(None, models=("rnn",), epochs=1, window=5, units=4, points=40)
    with pytest.raises(KeyboardInterrupt):
        loop.train_run(config, tmp_path / "run", quiet=True, echo=lambda _: None)
    assert list(tmp_path.iterdir()) == []


def test_existing_run_is_kept_without_force(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    done = cli("train", "--epochs", "1", "--out", str(out))
    assert done.returncode == 2 and "already exists; pass --force" in done.stderr
    assert (out / "keep.txt").read_text() == "mine"


def _csv(tmp_path, text):
    path = tmp_path / "s.csv"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--signal", "missing.csv"], "signal file missing.csv does not exist"),
        (["--signal", "{csv2}", "--column", "nope"], "unknown column 'nope'"),
        (["--signal", "{bad}"], "non-numeric value 'oops' at line 3"),
        (["--signal", "{nan}"], "gap(s) (empty, NA, NaN or inf)"),
        (["--signal", "{csv2}", "--column", "v", "--window", "20"], "needs at least 22"),
        (["--signal", "{const}", "--window", "3"], "constant"),
        (["--window", "0"], "--window must be at least 1"),
        (["--model", "transformer"], "unknown model 'transformer'; valid: rnn, lstm, gru"),
        (["--optimizer", "rmsprop"], "'rmsprop' is not one of"),
        (["--signal", "{csv2}", "--column", "v", "--tau", "3"], "only to --signal damped"),
        (["--column", "v"], "--column, --fill, --delimiter"),
        (["--model", " ,"], "no model chosen; valid: rnn, lstm, gru"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, message):
    files = {
        "{csv2}": _csv(tmp_path, "t,v\n0,1\n1,2\n2,3\n"),
        "{bad}": str(tmp_path / "bad.csv"), "{nan}": str(tmp_path / "nan.csv"), "{const}": str(tmp_path / "c.csv"),
    }
    (tmp_path / "bad.csv").write_text("v\n1\noops\n")
    (tmp_path / "nan.csv").write_text("v\n" + "1\n" * 30 + "nan\n")
    (tmp_path / "c.csv").write_text("v\n" + "2\n" * 30)
    args = [files.get(a, a) for a in args]
    done = cli("train", *args, "--epochs", "1", "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_help_for_every_command_imports_no_tensorflow():
    code = (
        "import sys; from click.testing import CliRunner; from edge_forecast.cli import cli\n"
        "assert {'train', 'export', 'run'} <= set(cli.commands)\n"
        "for cmd in [[]] + [[name] for name in cli.commands]:\n"
        "    r = CliRunner().invoke(cli, cmd + ['--help'])\n"
        "    assert r.exit_code == 0 and 'Usage' in r.output, (cmd, r.output)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_config_refuses_unknown_preset():
    from edge_forecast.train.config import build_config

    with pytest.raises(UserError, match="unknown preset"):
        build_config("tutorial")
