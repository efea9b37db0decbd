"""`edge-forecast run`: the forecast as CSV or JSON, or a live stream with --follow."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

import numpy as np

from edge_forecast.bundle import load_bundle
from edge_forecast.edge.forecaster import Forecaster, check_history, check_steps
from edge_forecast.errors import UserError
from edge_forecast.signals import load_signal, parse_value_lines


def read_history(history: str, column: str | None, stdin: TextIO) -> np.ndarray:
    if history == "-":
        return parse_value_lines(stdin.read().splitlines(), "stdin")
    return load_signal(history, column).values


def run_command(bundle: Path, model: str | None = None, variant: str | None = None, horizon: int | None = None,
                history: str | None = None, column: str | None = None, follow: bool = False,
                fmt: str = "csv", runtime: str = "auto", threads: int | None = None, graph: str = "auto",
                stdin: TextIO | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
    """`horizon`: values per forecast; default the bundle's evaluation length, 1 with `follow`."""
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    if follow and history == "-":
        raise UserError("--follow reads observations from stdin, so --history cannot be - as well")
    if horizon is not None:
        check_steps(horizon, "--horizon")
    if column is not None and history is None:
        raise UserError("--column applies to --history")
    loaded = load_bundle(bundle)
    start = read_history(history, column, stdin) if history else None
    if start is not None:  # bad input fails before an interpreter is loaded (and logs)
        check_history(loaded, start)
    forecaster = Forecaster(loaded, model=model, variant=variant, runtime=runtime, threads=threads, graph=graph)
    if follow:
        forecaster.reset(start)
        follow_stream(forecaster, horizon or 1, fmt, stdin, stdout, stderr)
        return
    horizon = horizon if horizon is not None else int(forecaster.bundle.data["evaluation"]["steps"])
    values = forecaster.forecast(start, horizon)
    write_forecast(forecaster, values, fmt, stdout)


def _meta(forecaster: Forecaster) -> dict:
    return {"model": forecaster.model_name, "variant": forecaster.variant_name, "runtime": forecaster.runtime.value}


def write_forecast(forecaster: Forecaster, values: np.ndarray, fmt: str, out: TextIO) -> None:
    if fmt == "json":
        out.write(json.dumps({**_meta(forecaster), "steps": int(values.size),
                              "forecast": [float(v) for v in values]}) + "\n")
        return
    out.write("step,value\n")
    out.writelines(f"{i},{v:.9g}\n" for i, v in enumerate(values, start=1))


def follow_stream(forecaster: Forecaster, horizon: int, fmt: str, stdin: TextIO, stdout: TextIO,
                  stderr: TextIO) -> int:
    """One forecast line per observation until stdin closes; a bad line is reported and skipped."""
    if fmt == "csv":
        stdout.write("observation," + ",".join(f"t+{h}" for h in range(1, horizon + 1)) + "\n")
        stdout.flush()
    count = 0
    for lineno, line in enumerate(stdin, start=1):
        text = line.strip()
        if not text:
            continue
        try:
            value = float(text)
            forecast = forecaster.update(value, horizon)
        except (ValueError, UserError):
            stderr.write(f"warning: line {lineno}: {text[:40]!r} is not a finite number; skipped\n")
            stderr.flush()
            continue
        count += 1
        if fmt == "json":
            stdout.write(json.dumps({"observation": count, "value": value, "forecast": [float(v) for v in forecast]}) + "\n")
        else:
            stdout.write(f"{count}," + ",".join(f"{v:.9g}" for v in forecast) + "\n")
        stdout.flush()
    return count
