"""Shared fixtures: one tiny trained run and one exported bundle per test session.

Top-level imports stay TensorFlow-free: tests/device also runs in a venv without TensorFlow.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEVICE_BUNDLE_ENV = "EDGE_FORECAST_DEVICE_BUNDLE"


def cli(*args: str, input: str | None = None, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real command line in a fresh process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "edge_forecast", *args], input=input, capture_output=True, text=True,
        timeout=timeout, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
    )


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The seed experiment's data and models (rnn, lstm, gru), trained for 3 epochs."""
    out = tmp_path_factory.mktemp("run") / "seed"
    done = cli("train", "--preset", "seed", "--model", "rnn,lstm,gru", "--epochs", "3", "--quiet", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="session")
def tiny_bundle(request, tmp_path_factory) -> Path:
    """Every model x every mode of `tiny_run`, exported and verified (or the bundle named by
    EDGE_FORECAST_DEVICE_BUNDLE, for the device suite in an environment without TensorFlow)."""
    if os.environ.get(DEVICE_BUNDLE_ENV):
        return Path(os.environ[DEVICE_BUNDLE_ENV])
    tiny_run = request.getfixturevalue("tiny_run")
    out = tmp_path_factory.mktemp("bundle") / "seed"
    done = cli("export", str(tiny_run), "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    return out
