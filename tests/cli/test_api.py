"""The Python API (edge_forecast.api): a notebook's train -> export -> bench -> forecast in one
process, its keyword names and defaults against the CLI's options, and its errors naming the
Python argument where the CLI names its flag."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import edge_forecast as ef
from edge_forecast.cli import cli
from edge_forecast.errors import FailedItems, UserError
from edge_forecast.quiet import VERBOSE_ENV

# options that only the command line has: the group's --verbose and deprecated names
CLI_ONLY: set[str] = set()  # options the CLI has and the API does not


def test_import_loads_no_numpy_tensorflow_or_keras():
    code = ("import sys, edge_forecast as ef; ef.train, ef.export, ef.bench, ef.demo; "
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


@pytest.mark.parametrize(("function", "given", "message"), [
    ("train", {"window": 0}, "window must be at least 1, got 0"),
    ("train", {"batch_size": 0}, "batch_size must be at least 1, got 0"),
    ("train", {"models": "lstm,int4"}, "models: unknown model 'int4'; valid: rnn, lstm, gru, ar"),
    ("train", {"models": ["lstm", "auto"]}, "models: 'auto' cannot be combined"),
    ("train", {"window": "20"}, "window must be a whole number, got '20'"),
    ("train", {"learning_rate": float("nan")}, "learning_rate must be a finite number"),
    ("train", {"scale": "log"}, "scale: unknown scaling 'log'; valid: none, standard, minmax"),
    ("bench", {"repeats": 2.5}, "repeats must be a whole number, got 2.5"),
    ("export", {"calibration_samples": None}, "calibration_samples cannot be None"),
    ("export", {"calibration_samples": 1.5}, "calibration_samples must be a whole number"),
])
def test_a_bad_argument_from_python_names_the_argument(tmp_path, function, given, message):
    out = tmp_path / "out"
    with pytest.raises(UserError) as caught:
        getattr(ef, function)(*([out] if function == "train" else [out, out]), **given)
    assert str(caught.value).startswith(message), caught.value
    assert caught.value.argument == next(iter(given))
    assert not out.exists()


def test_numpy_numbers_are_numbers(monkeypatch):
    """A notebook's numpy scalars pass as the int and float the jobs write to JSON."""
    import numpy as np

    from edge_forecast import api

    seen = {}

    class Seen(Exception):
        pass

    def bench_bundle(*_args, **options):  # the arguments are all this test needs
        seen.update(options)
        raise Seen

    monkeypatch.setattr("edge_forecast.bench.runner.bench_bundle", bench_bundle)
    with pytest.raises(Seen):
        api.bench("B", "O", repeats=np.int64(2), horizon=np.int32(5))
    assert (type(seen["repeats"]), type(seen["horizon"])) == (int, int)


def test_a_choice_parsed_by_the_library_names_the_argument():
    from edge_forecast.export.modes import parse_modes

    valid = "float32, float16, dynamic, int8, int16x8"
    message = rf"^quant: unknown quantization mode 'int4'; valid: {valid}$"
    with pytest.raises(UserError, match=message):
        parse_modes("float32,int4")


@pytest.mark.parametrize(("args", "line"), [
    (["--window", "0"], "error: --window must be at least 1, got 0"),
    (["--batch-size", "0"], "error: --batch-size must be at least 1, got 0"),
    (["--model", "ar", "--season", "30"], "error: --season 30 does not fit the window (20)"),
    (["--season", "week"], "error: --season: 'week' is not auto, none or whole numbers of values like 48,336"),
    (["--model", "lstm,int4"], "error: --model: unknown model 'int4'; valid: rnn, lstm, gru, ar"),
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
    run = ef.train(out=tmp_path / "run", preset="seed", epochs=3, models="lstm", quiet=True)
    assert run == tmp_path / "run" and (run / "training.json").is_file()
    bundle = ef.export(run, out=tmp_path / "bundle", quant=["float32", "int8"], quiet=True)
    assert bundle == tmp_path / "bundle"
    variants = json.loads((bundle / "bundle.json").read_text())["models"]["lstm"]["variants"]
    assert set(variants) == {"float32", "int8"}
    report = ef.bench(bundle, out=tmp_path / "report", repeats=1, runtimes="litert", quiet=True)
    assert report == tmp_path / "report" and (report / "report.md").is_file()
    doc = json.loads((report / "report.json").read_text())
    rows = [e for e in doc["results"] if e["model"] == "lstm"]
    assert {e["variant"] for e in rows} == {"float32", "int8"}
    assert {e["runtime"] for e in rows} == {"litert"}
    forecast = ef.Forecaster(bundle, model="lstm", variant="int8").forecast(horizon=20)
    assert forecast.shape == (20,)
    assert capsys.readouterr().out == ""  # quiet=True: no progress


def test_the_commands_call_the_api_with_their_options(tmp_path, monkeypatch):
    from edge_forecast import api

    calls = {}
    monkeypatch.setenv(VERBOSE_ENV, "1")
    monkeypatch.setattr(api, "train", lambda **kw: calls.setdefault("train", kw))
    monkeypatch.setattr(api, "bench", lambda **kw: calls.setdefault("bench", kw))
    runner = CliRunner()
    train = ["train", "--out", "R", "--model", "lstm", "--batch-size", "8", "--quiet"]
    assert runner.invoke(cli, train).exit_code == 0
    assert runner.invoke(cli, ["bench", "B", "--out", "O", "--runtimes", "litert"]).exit_code == 0
    assert calls["train"]["models"] == ("lstm",) and calls["train"]["batch_size"] == 8
    assert calls["train"]["quiet"] is True and calls["train"]["window"] is None
    assert calls["bench"] == {"bundle": Path("B"), "out": Path("O"), "horizon": None,
                              "repeats": 3, "runtimes": "litert", "reference": None,
                              "force": False, "quiet": False}


def test_partly_failed_items_are_listed_with_exit_code_1(monkeypatch):
    from edge_forecast import api

    def export(**_options):
        raise FailedItems("artifact(s)", ["rnn int8: conversion failed: boom"], Path("B"))

    monkeypatch.setenv(VERBOSE_ENV, "1")
    monkeypatch.setattr(api, "export", export)
    result = CliRunner().invoke(cli, ["export", "RUN", "--out", "B"])
    assert result.exit_code == 1
    assert result.output == "1 artifact(s) failed:\n  rnn int8: conversion failed: boom\n"
