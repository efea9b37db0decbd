"""Shared fixtures: one tiny trained run and one exported bundle per test session.

Top-level imports stay TensorFlow-free: tests/device also runs in a venv without TensorFlow.
"""

from __future__ import annotations

import fcntl
import functools
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DEVICE_BUNDLE_ENV = "EDGE_FORECAST_DEVICE_BUNDLE"


def cli(*args: str, input: str | None = None, env: dict | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real command line in a fresh process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "edge_forecast", *args], input=input, capture_output=True, text=True,
        timeout=timeout, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
    )


def one_line_error(done, *fragments: str) -> str:
    """A refusal as a user sees it: exit code 2, one line on stderr starting "error: ", no
    traceback, each fragment in the line. Returns the line."""
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in done.stderr, done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# The slow marker's rule: a test is slow when it uses (directly or through another fixture) a
# fixture made with `trains`, unless every such fixture is one the device suite hands a ready bundle
# (`trains(device_bundle=True)`, EDGE_FORECAST_DEVICE_BUNDLE). A test that trains by itself says
# `@pytest.mark.slow`. The sets below are filled by the decorator, never by hand.
TRAINED_FIXTURES: set[str] = set()
BUNDLE_FIXTURES: set[str] = set()
GRAPH_STEPS = 30  # the graph bundle's rollout horizon (short: conversion stays quick)


def trains(func=None, *, device_bundle: bool = False, scope: str = "session"):
    """@pytest.fixture for a fixture that trains or converts models (it makes its users slow)."""
    def register(f):
        TRAINED_FIXTURES.add(f.__name__)
        if device_bundle:
            BUNDLE_FIXTURES.add(f.__name__)
        if scope == "session" and f.__module__ == __name__:
            f = _once_for_all_workers(f)
        return pytest.fixture(scope=scope)(f)
    return register(func) if func is not None else register


def _once_for_all_workers(f):
    """Under pytest-xdist (scripts/test.sh runs the main suite on every core) a session fixture of
    this file, which many test files use, is built by the first worker that needs it and read by
    the others: building it once per worker would spend the cores the workers were meant to save.
    Test modules' own fixtures need no such lock: `--dist loadfile` keeps a module on one worker.
    The value (paths under the session's temporary root, shared by the workers) is pickled."""
    @functools.wraps(f)
    def once(*args, **kwargs):
        if not os.environ.get("PYTEST_XDIST_WORKER"):
            return f(*args, **kwargs)
        root = kwargs["tmp_path_factory"].getbasetemp().parent
        value_file = root / f"{f.__name__}.pickle"
        with open(root / f"{f.__name__}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            if value_file.exists():
                return pickle.loads(value_file.read_bytes())
            value = f(*args, **kwargs)
            value_file.write_bytes(pickle.dumps(value))
            return value
    return once


def pytest_collection_modifyitems(config, items) -> None:
    given = bool(os.environ.get(DEVICE_BUNDLE_ENV))
    for item in items:
        needs = TRAINED_FIXTURES.intersection(item.fixturenames)
        if needs and not (given and needs <= BUNDLE_FIXTURES):
            item.add_marker(pytest.mark.slow)
    # Files with slow tests first (each file kept whole, in its order): pytest-xdist's `--dist
    # loadfile` hands files out in this order, so the long ones start early and do not leave one
    # worker alone at the end.
    has_slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in has_slow)


@trains
def tiny_run(tmp_path_factory) -> Path:
    """The seed experiment's data and models (rnn, lstm, gru), trained for 3 epochs."""
    out = tmp_path_factory.mktemp("run") / "seed"
    done = cli("train", "--preset", "seed", "--model", "rnn,lstm,gru", "--epochs", "3", "--quiet", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


@trains(device_bundle=True)
def tiny_bundle(request, tmp_path_factory) -> Path:
    """Every model x every mode of `tiny_run`, exported and verified (or the bundle named by
    EDGE_FORECAST_DEVICE_BUNDLE, for the device suite in an environment without TensorFlow)."""
    if os.environ.get(DEVICE_BUNDLE_ENV):
        return Path(os.environ[DEVICE_BUNDLE_ENV])
    tiny_run = request.getfixturevalue("tiny_run")
    out = tmp_path_factory.mktemp("bundle") / "seed"
    done = cli("export", str(tiny_run), "--out", str(out), "--quiet", timeout=1800)  # a shared machine is slow
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@trains(device_bundle=True)
def graph_bundle(request, tmp_path_factory) -> Path:
    """LSTM and GRU of `tiny_run`, float32 and int8, with every graph kind (rollout of GRAPH_STEPS),
    or the device suite's bundle (scripts/test.sh exports it with every graph)."""
    if os.environ.get(DEVICE_BUNDLE_ENV):
        return Path(os.environ[DEVICE_BUNDLE_ENV])
    tiny_run = request.getfixturevalue("tiny_run")
    out = tmp_path_factory.mktemp("graphs") / "bundle"
    done = cli("export", str(tiny_run), "--out", str(out), "--models", "lstm,gru", "--quant", "float32,int8",
               "--graphs", "window,step,rollout,stream", "--rollout-horizon", str(GRAPH_STEPS), "--quiet",
               timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@trains
def explicit_bundle(tiny_run, tmp_path_factory) -> Path:
    """`graph_bundle`'s step and stream graphs (no rollout) with explicit state tensors
    (`--step-state explicit`, as bundles before format minor 1 and `micro` have them; test_micro
    runs `micro` on a copy)."""
    out = tmp_path_factory.mktemp("explicit") / "bundle"
    done = cli("export", str(tiny_run), "--out", str(out), "--models", "lstm,gru", "--quant", "float32,int8",
               "--graphs", "window,step,stream", "--step-state", "explicit", "--quiet", timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


WALK_SEASON = 4


def seasonal_walk(points: int = 160, seed: int = 0) -> np.ndarray:
    """A level that wanders (integrated noise), a trend and a season of 4: non-stationary in both ways."""
    rng = np.random.default_rng(seed)
    t = np.arange(points)
    return 50 + 0.2 * t + np.cumsum(rng.normal(0, 0.5, points)) + 3 * np.sin(2 * np.pi * t / WALK_SEASON + 0.3)


@trains
def auto_twin_runs(tmp_path_factory) -> tuple[Path, Path]:
    """`train --model auto` (window 8, season 4, horizon 6, 4 units, 1 epoch) on `seasonal_walk(160)`
    and on a twin that differs only in the test segment (--test-split 0.2: the last 32 values,
    reversed and scaled 1.5x). Each auto run trains three candidates: one pair serves every test
    that needs an auto run."""
    root = tmp_path_factory.mktemp("auto")
    series = seasonal_walk(160)
    other = series.copy()
    other[-32:] = other[-32:][::-1] * 1.5
    runs = []
    for name, values in (("a", series), ("b", other)):
        np.save(root / f"{name}.npy", values)
        done = cli("train", "--signal", str(root / f"{name}.npy"), "--model", "auto", "--window", "8",
                   "--season", str(WALK_SEASON), "--horizon", "6", "--units", "4", "--epochs", "1", "--quiet",
                   "--out", str(root / name), timeout=1800)
        assert done.returncode == 0, done.stderr
        runs.append(root / name)
    return runs[0], runs[1]


@pytest.fixture
def invokes(monkeypatch) -> list:
    """A spy on the real interpreter: every `invoke()` of the runtime `auto` picks appends to the
    returned list (the class is patched, so it must be in place before a Forecaster loads)."""
    from edge_forecast.edge.runtime import interpreter_class, resolve_runtime

    cls = interpreter_class(resolve_runtime("auto"))
    real = cls.invoke
    calls: list = []

    def counted(self, *args, **kwargs):
        calls.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(cls, "invoke", counted)
    return calls
