"""The machine and the software versions a report was measured with.

Versions come from the installed distributions' metadata (importlib.metadata): nothing heavy is
imported to learn a version, in particular never TensorFlow.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata

from edge_forecast.edge.runtime import MICRO, Runtime, is_installed, runtime_version
from edge_forecast.version import __version__


def _dist_version(*names: str) -> str | None:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (x86 'model name', ARM 'Model'/'Hardware')."""
    found: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, sep, value = line.partition(":")
                if sep and value.strip():
                    found.setdefault(key.strip().lower(), value.strip())
    except OSError:
        pass
    for key in ("model name", "model", "hardware", "cpu model", "processor"):
        value = found.get(key, "")
        if value and not value.isdigit():
            return value
    return platform.processor() or platform.machine() or "unknown"


def memory_total_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / (1024 * 1024), 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def usable_cores() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def host_info() -> dict:
    runtimes = {}
    for runtime in Runtime:
        runtimes[runtime.value] = runtime_version(runtime) if is_installed(runtime) else None
    runtimes[MICRO] = runtime_version(MICRO)
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "machine": platform.machine(),
        "system": platform.platform(),
        "memory_gib": memory_total_gib(),
        "python": platform.python_version(),
        "edge_forecast": __version__,
        "numpy": _dist_version("numpy"),
        "runtimes": runtimes,
        "tensorflow": _dist_version("tensorflow", "tensorflow-cpu"),
        "keras": _dist_version("keras"),
        "matplotlib": _dist_version("matplotlib"),
        "psutil": _dist_version("psutil"),
    }
