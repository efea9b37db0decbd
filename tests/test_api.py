"""The Python API (edge_forecast.api): a notebook's train -> export -> bench -> forecast in one
process, its keyword names and defaults against the CLI's options, and its errors naming the
Python argument where the CLI names its flag."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

import edge_forecast as ef
from edge_forecast.cli import cli
from edge_forecast.errors import UserError
from edge_forecast.quiet import VERBOSE_ENV

# options that only the command line has: the group's --verbose and deprecated names
CLI_ONLY = {"rollout", "rollout_steps", "steps"}


def test_import_loads_no_numpy_tensorflow_or_keras():
    code = ("import sys, edge_forecast as ef; ef.train, ef.export, ef.bench, ef.demo, ef.UserError; "
            "print(sorted(m for m in ('numpy', 'tensorflow', 'keras') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


@pytest.mark.parametrize("name", ["train", "export", "bench", "demo"])
def test_keywords_and_defaults_are_the_commands_options(name):
    command = cli.commands[name]
    ctx = click.Context(command)
    options = {p.name: p for p in command.params if not getattr(p, "hidden", False)}
    signature = inspect.signature(getattr(ef, name)).parameters
    assert set(signature) == set(options) - CLI_ONLY
    for key, parameter in signature.items():
        if parameter.default is inspect.Parameter.empty:
            assert options[key].required, key
            continue
        assert _given(parameter.default) == _given(options[key].get_default(ctx)), key


def _given(default):
    """None for "not given": None, a repeatable option's (), click 8.3's UNSET sentinel."""
    return None if default in (None, ()) or getattr(default, "name", None) == "UNSET" else default


def test_the_package_names_are_the_stages_packages_and_the_api():
    """edge_forecast.train is the training package and the API's train at once."""
    import edge_forecast.train.config as config

    assert ef.train.config is config and callable(ef.train)
    assert inspect.signature(ef.export) == inspect.signature(ef.api.export)


@pytest.mark.parametrize(("call", "message"), [
    (lambda out: ef.train(out, window=0), "window must be at least 1, got 0"),
    (lambda out: ef.train(out, batch_size=0), "batch_size must be at least 1, got 0"),
    (lambda out: ef.train(out, models="lstm,int4"), "models: unknown model 'int4'; valid: rnn, lstm, gru, ar"),
    (lambda out: ef.train(out, models=["lstm", "auto"]), "models: 'auto' cannot be combined"),
    (lambda out: ef.train(out, window="20"), "window must be a whole number, got '20'"),
    (lambda out: ef.train(out, learning_rate=float("nan")), "learning_rate must be a finite number"),
    (lambda out: ef.train(out, scale="log"), "scale: unknown scaling 'log'; valid: none, standard, minmax"),
    (lambda out: ef.bench(out, out, repeats=2.5), "repeats must be a whole number, got 2.5"),
    (lambda out: ef.export(out, out, calibration_samples=None), "calibration_samples cannot be None"),
    (lambda out: ef.export(out, out, calibration_samples=1.5), "calibration_samples must be a whole number"),
])
def test_a_bad_argument_from_python_names_the_argument(tmp_path, call, message):
    with pytest.raises(UserError) as caught:
        call(tmp_path / "out")
    assert str(caught.value).startswith(message), caught.value
    assert caught.value.argument == message.split(" ")[0].rstrip(":")
    assert not (tmp_path / "out").exists()


def test_a_choice_parsed_by_the_library_names_the_argument():
    from edge_forecast.export.modes import parse_modes

    with pytest.raises(UserError, match=r"^quant: unknown quantization mode 'int4'; valid: float32, float16, "
                                        r"dynamic, int8, int16x8$"):
        parse_modes("float32,int4")


@pytest.mark.parametrize(("args", "line"), [
    (["--window", "0"], "error: --window must be at least 1, got 0"),
    (["--batch-size", "0"], "error: --batch-size must be at least 1, got 0"),
    (["--model", "lstm", "--season", "30"], "error: --season 30 is longer than the window (20)"),
    (["--model", "lstm,int4"], "error: --model: unknown model 'int4'; valid: rnn, lstm, gru, ar, auto"),
])
def test_the_cli_names_its_flag(tmp_path, monkeypatch, args, line):
    monkeypatch.setenv(VERBOSE_ENV, "1")  # in process: leave pytest's stderr alone
    result = CliRunner().invoke(cli, ["train", "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 2, result.output
    assert result.output.strip().startswith(line), result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_notebook_trains_exports_benches_and_forecasts(tmp_path, capsys):
    """The tour from Python, in this process: the seed preset (3 epochs, lstm), float32 + int8,
    one latency repeat on ai-edge-litert, and a forecast with the int8 variant."""
    run = ef.train(out=tmp_path / "runs" / "seed", preset="seed", epochs=3, models="lstm", quiet=True)
    assert run == tmp_path / "runs" / "seed" and (run / "training.json").is_file()
    bundle = ef.export(run, out=tmp_path / "bundles" / "seed", quant=["float32", "int8"], quiet=True)
    assert bundle == tmp_path / "bundles" / "seed"
    variants = json.loads((bundle / "bundle.json").read_text())["models"]["lstm"]["variants"]
    assert set(variants) == {"float32", "int8"}
    report = ef.bench(bundle, out=tmp_path / "reports" / "seed", repeats=1, runtimes="litert", quiet=True)
    assert report == tmp_path / "reports" / "seed" and (report / "report.md").is_file()
    doc = json.loads((report / "report.json").read_text())
    rows = [e for e in doc["results"] if e["model"] == "lstm"]
    assert {e["variant"] for e in rows} == {"float32", "int8"}
    assert {e["runtime"] for e in rows} == {"litert"}
    forecast = ef.Forecaster(bundle, model="lstm", variant="int8").forecast(horizon=20)
    assert forecast.shape == (20,)
    assert capsys.readouterr().out == ""  # quiet=True: no progress
