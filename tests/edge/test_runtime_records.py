"""Per-platform runtime records, crash-isolated probes, broken installs, quiet logs, own peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import ROOT, cli

from edge_forecast.bundle import RuntimeRecord, runtime_status
from edge_forecast.children import run_resilient

CRASHED = {"ok": False, "error": "the child process crashed (SIGSEGV)", "crash": "SIGSEGV"}


def _entry(runtimes: dict) -> SimpleNamespace:
    """What runtime_status reads of a variant entry: its runtime records."""
    return SimpleNamespace(runtimes={name: RuntimeRecord.from_dict(r) for name, r in runtimes.items()})


def test_runtime_status_is_per_machine():
    entry = _entry({"tflite-runtime": {"ok": True, "platforms": {"x86_64": {"ok": True}, "aarch64": CRASHED}}})
    assert runtime_status(entry, "tflite-runtime", "x86_64").to_dict() == {"ok": True}
    assert runtime_status(entry, "tflite-runtime", "aarch64").crash == "SIGSEGV"
    assert runtime_status(entry, "tflite-runtime", "armv7l").ok is None  # not checked there
    assert runtime_status(entry, "litert", "aarch64").ok is None  # no record at all


def test_an_older_bundle_without_platforms_keeps_its_failures_everywhere():
    entry = _entry({"tflite-runtime": {"ok": False, "error": "FULLY_CONNECTED version 12"},
                    "litert": {"ok": True}})
    assert runtime_status(entry, "tflite-runtime", "aarch64").error == "FULLY_CONNECTED version 12"
    # a success on an unnamed export host says nothing about this machine: checked on first use
    assert runtime_status(entry, "litert", "aarch64").ok is None


def test_a_probe_crash_fails_only_that_file_with_its_signal(tmp_path):
    """A runtime probe's first file may be the one that crashes: the others still get checked."""
    script = tmp_path / "child.py"
    script.write_text(
        "import os, signal, sys\n"
        "from edge_forecast.children import emit\n"
        "for item in sys.argv[1:]:\n"
        "    if item == 'crash':\n"
        "        os.kill(os.getpid(), signal.SIGSEGV)\n"
        "    emit(item, ok=True)\n"
    )
    items = ["crash", "a", "b"]
    found = run_resilient(lambda pending: [sys.executable, str(script), *pending], items, timeout=60,
                          per_item_crashes=True)
    assert found["crash"] == CRASHED
    assert found["a"] == {"ok": True} and found["b"] == {"ok": True}
    # without it, an early death is a startup failure: every item fails with it
    found = run_resilient(lambda pending: [sys.executable, str(script), *pending], items, timeout=60)
    assert all(r["crash"] == "SIGSEGV" for r in found.values())


def test_a_child_of_a_large_parent_reports_its_own_peak():
    """ru_maxrss survives fork and exec on Linux: a 400 MiB parent made every child report >= 400 MiB."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the inherited ru_maxrss is a Linux behaviour")
    ballast = bytearray(400 * 1024 * 1024)
    ballast[:: 4096] = b"x" * len(ballast[:: 4096])  # touch every page: resident, not just reserved
    code = "from edge_forecast.bench.memory import peak_rss_mib; print(peak_rss_mib())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    child_peak = float(done.stdout)
    del ballast
    assert 5 < child_peak < 100, child_peak  # a Python with numpy: tens of MiB, not the parent's 400


def _tflite_runtime_package() -> Path | None:
    found = sorted((ROOT / ".venv-tflite").glob("lib/python3*/site-packages/tflite_runtime"))
    return found[0] if found else None


def test_tflite_runtime_on_numpy_2_is_one_line_naming_numpy_below_2(tiny_bundle, tmp_path):
    """The product's own hint used to lead here: pip install tflite-runtime next to numpy 2."""
    import numpy as np

    package = _tflite_runtime_package()
    if package is None or int(np.__version__.split(".")[0]) < 2:
        pytest.skip("needs .venv-tflite (scripts/test.sh makes it) and numpy 2 here")
    site = tmp_path / "site"
    site.mkdir()
    (site / "tflite_runtime").symlink_to(package)  # tflite-runtime installed into a numpy-2 Python
    env = {"PYTHONPATH": str(site) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = cli("run", str(tiny_bundle), "--horizon", "2", "--runtime", "tflite-runtime", env=env)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"numpy {np.__version__} is installed; pip install 'numpy<2'" in done.stderr


@pytest.mark.slow
def test_training_with_quiet_prints_nothing(tmp_path):
    """No oneDNN / absl / NodeDef lines from TensorFlow's C++ on the terminal."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-m", "edge_forecast", "train", "--preset", "seed", "--model", "rnn",
                           "--epochs", "1", "--quiet", "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done.stderr
