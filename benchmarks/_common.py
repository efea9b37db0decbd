"""Shared by the benchmark scripts: host description and a Markdown writer (no TensorFlow)."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions(*dists: str) -> str:
    found = []
    for dist in dists:
        try:
            found.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def host_line() -> str:
    return (f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            + versions("numpy", "ai-edge-litert", "tflite-runtime", "tensorflow-cpu", "tensorflow", "keras"))


def measure_process(cmd: list[str], env: dict | None = None) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit code) of one fresh process."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024.0, proc.returncode


def write_report(name: str, title: str, command: str, body: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.md"
    text = (f"# {title}\n\nRegenerate: `{command}`\n\nHost: {host_line()}\n\n"
            f"Measured: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n{body}\n")
    path.write_text(text)
    print(text)
    return path


def against_flags(args) -> str:
    """The --against / --against-bundle part of a side-by-side benchmark's regenerate command."""
    flags = f" --against {args.against}" if args.against else ""
    return flags + (f" --against-bundle {args.against_bundle}" if args.against_bundle else "")
