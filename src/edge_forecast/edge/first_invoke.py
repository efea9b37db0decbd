"""The first invoke of a variant nobody checked on this machine runs in a child process first.

An interpreter can crash the process (tflite-runtime 2.14's int8 LSTM kernels segfault at the
first invoke on ARM, not on x86: docs/guide/device-and-raspberry-pi.md), and a crash cannot be caught in the process
it kills. So when bundle.json has no record for this runtime on this machine, the file is loaded
and invoked once in a child (`edge_forecast.edge.probe`, the check export runs), and a crash
becomes a verdict instead of a bare "Segmentation fault". The verdict is cached per file
checksum, runtime version, Python, numpy and machine, so the child runs once per device, not per forecast
(cost measured in benchmarks/results/cold_start.md).
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

from edge_forecast.children import run_job
from edge_forecast.contracts.jobs import ProbeJob
from edge_forecast.edge.runtime import Runtime, runtime_version

CHECK_TIMEOUT_S = 120.0  # an emulated Pi imports the runtime in ~2 s; a hung graph is a verdict too
CACHE_ENV = "EDGE_FORECAST_CACHE"


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "edge-forecast") / "first-invoke"


def first_invoke_verdict(path: Path, sha256: str, runtime: Runtime) -> dict:
    """{"ok": bool, "error": str, "crash": signal name} for one load + invoke of `path` on this
    machine with `runtime`, from the cache or from a child process."""
    machine = platform.machine()
    # everything the verdict depends on: the file, the runtime build, what it links against, the CPU
    python = "py" + "".join(map(str, sys.version_info[:2]))
    key = (f"{sha256[:32]}-{runtime.value}-{runtime_version(runtime) or 'unknown'}-{python}-numpy{_numpy()}"
           f"-{machine}.json")
    cached = _read(cache_dir() / key)
    if cached is not None:
        return cached
    found = run_job("edge_forecast.edge.probe", ProbeJob(runtime=runtime.value), [str(path)], CHECK_TIMEOUT_S,
                    per_item_crashes=True)
    verdict = {k: v for k, v in found[str(path)].items() if k in ("ok", "error", "crash")}
    _write(cache_dir() / key, verdict)
    return verdict


def _numpy() -> str:
    import numpy

    return numpy.__version__


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("ok"), bool) else None


def _write(path: Path, verdict: dict) -> None:
    """Best effort: a read-only home only costs the check again next time."""
    from edge_forecast.fsio import write_json_atomic

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, verdict)
    except OSError:
        pass
