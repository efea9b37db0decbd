"""`edge-forecast run`: the forecast as CSV or JSON, or a live stream with --follow."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import TextIO

import numpy as np

from edge_forecast.bundle import Bundle, GraphKind, VariantId, load_bundle
from edge_forecast.edge import anomaly
from edge_forecast.edge.forecaster import Forecaster, IntervalForecast, check_history, check_steps
from edge_forecast.errors import UserError
from edge_forecast.intervals import ALL_LEVELS, level_name, parse_levels
from edge_forecast.signals import Signal, load_history, load_signal
from edge_forecast.tabular import IRREGULAR, LineReader, ReadOptions, format_time


def read_history(history: str, window: int, stdin: TextIO, read: ReadOptions | None = None,
                 fill: str | None = None, channels: str | None = None) -> Signal:
    """The --history file (or stdin for -) by the same reader as training's signal files;
    `channels`: a bundle of several channels' columns ("a,b,c": --column, or the bundle's own)."""
    if channels is not None:  # several columns: the signal reader's, with its rule for gaps
        return load_signal(history if history != "-" else "stdin", channels, fill, read,
                           text=stdin.read() if history == "-" else None)
    if history == "-":
        return load_history("stdin", window, fill, read, text=stdin.read())
    return load_history(history, window, fill, read)


def run_command(bundle: Path, model: str | None = None, variant: str | None = None, horizon: int | None = None,
                history: str | None = None, read: ReadOptions | None = None, fill: str | None = None,
                follow: bool = False, fmt: str = "csv", runtime: str = "auto", threads: int | None = None,
                graph: str = "auto", stdin: TextIO | None = None, stdout: TextIO | None = None,
                stderr: TextIO | None = None, levels: str | None = None, score: bool = False,
                threshold: float | None = None, aci_rate: float | None = None) -> None:
    """`horizon`: values per forecast; default the bundle's evaluation length, with `follow` the
    values of one invoke (1, or H for a direct multi-step model). `levels`: "all" or comma-separated
    levels of the variant's prediction intervals, printed as lower_L / upper_L beside the forecast;
    the default horizon then stops where the intervals do. With `follow`, `score` (implied by
    `levels`, `threshold` or `aci_rate`) prints one line per observation instead: its forecast,
    adaptive conformal bounds, anomaly score and flag (edge.anomaly)."""
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    read = read or ReadOptions()
    chosen = interval_levels(levels)
    scored = follow and (score or levels is not None or threshold is not None or aci_rate is not None)
    if not follow and (score or threshold is not None or aci_rate is not None):
        raise UserError("--score, --threshold and --aci-rate apply to --follow (a whole file: edge-forecast detect)")
    if scored and horizon is not None:
        raise UserError("--horizon sets the forecast ahead of plain --follow; with --score (or --levels, "
                        "--threshold, --aci-rate) each line is about the observation that arrived")
    if scored:  # bad values fail before anything loads
        anomaly.check_rate(anomaly.DEFAULT_RATE if aci_rate is None else aci_rate)
        anomaly.check_threshold(anomaly.DEFAULT_THRESHOLD if threshold is None else threshold)
    if follow and history == "-":
        raise UserError("--follow reads observations from stdin, so --history cannot be - as well")
    if horizon is not None:
        check_steps(horizon, "--horizon")
    if history is None and not follow and read != ReadOptions():
        raise UserError("--column, --delimiter, --decimal, --time-column, --time-format, --resample and --agg "
                        "apply to --history or --follow")
    if (fill is not None or read.resample) and history is None:
        raise UserError("--fill and --resample (and --agg) apply to --history")
    loaded = load_bundle(bundle)
    trained = loaded.document.signal.get("column")
    channels = None
    if loaded.document.channel_count > 1:  # the history's columns: --column a,b,c or the bundle's own
        if follow:
            raise UserError(f"--follow streams one value per line; this model reads {loaded.document.channel_count} "
                            "channels per position (streaming several channels is not built yet; use --history)")
        channels, read = read.column or trained, dataclasses.replace(read, column=None)
    if read.column is None and isinstance(trained, str) and not trained.isdigit():
        read = dataclasses.replace(read, trained_column=trained)  # the model's column, where a header names it
    from_npy = history is not None and Path(history).suffix.lower() == ".npy"
    # with --follow, --column names the streamed lines' column: a 1-D .npy history has none
    start = (read_history(history, loaded.window, stdin, dataclasses.replace(read, column=None)
                          if follow and from_npy else read, fill, channels) if history else None)
    if start is not None:  # bad input fails before an interpreter is loaded (and logs)
        check_history(loaded, _model_values(loaded, start))
        if start.regridded:
            stderr.write(f"note: {history}: {start.regridded}\n")
    forecaster = Forecaster(loaded, model=model, variant=variant, runtime=runtime, threads=threads, graph=graph)
    if follow:
        scorer = None
        if scored:
            scorer = anomaly.StreamScorer(forecaster, chosen, anomaly.DEFAULT_RATE if aci_rate is None else aci_rate,
                                          anomaly.DEFAULT_THRESHOLD if threshold is None else threshold)
            scorer.start(None if start is None else start.values,  # a history warms the scorer up
                         None if start is None else start.times)
        else:
            forecaster.reset(None if start is None else start.values, times=None if start is None else start.times)
        reader = LineReader(dataclasses.replace(read, resample=None, agg=None))  # a stream is never resampled
        # default: one invoke's values (a direct multi-step model's block, else the next value)
        follow_stream(forecaster, horizon or forecaster.block, fmt, stdin, stdout, stderr, reader, scorer)
        return
    if levels is not None and horizon is None:
        horizon = interval_horizon(forecaster, forecaster.bundle.evaluation.steps)
    horizon = horizon if horizon is not None else forecaster.bundle.evaluation.steps
    history_values = None if start is None else start.values
    history_times = None if start is None else start.times
    bounds = (forecaster.forecast_interval(history_values, horizon, chosen, times=history_times)
              if levels is not None else None)
    values = bounds.point if bounds is not None else forecaster.forecast(history_values, horizon, times=history_times)
    warn_out_of_range(forecaster, stderr)
    times = forecast_times(start, loaded, horizon, stderr) if start is not None else None
    write_forecast(forecaster, values, fmt, stdout, times, bounds)


def interval_levels(text: str | None) -> tuple[float, ...] | None:
    """run's and detect's --levels: None (not asked, or "all": every level the variant has) or the
    levels asked (intervals.parse_levels, the one reader and message of every levels option)."""
    return None if text is None else parse_levels(text, "--levels", ALL_LEVELS)


def interval_horizon(forecaster: Forecaster, steps: int) -> int:
    """The default horizon with --levels: `steps`, shortened to the intervals' horizon of the
    variant that would run it (past it no bound was measured)."""
    rollout = forecaster.graph == GraphKind.ROLLOUT.value  # forced: its own H bounds the forecast anyway
    key = VariantId(GraphKind(forecaster.graph if rollout else forecaster.forecast_graph(steps)), forecaster.mode)
    found = forecaster.bundle.variant(forecaster.model_name, key).intervals
    return min(steps, found.horizon) if found is not None and found.horizon > 0 else steps


class _NoTimes(UserError):
    """Streamed lines without a time for a profiled bundle: the stream stops (not a line skipped)."""


def needs_times(bundle: Bundle) -> str:
    """The one line for a profiled bundle given values without times."""
    return (f"this model removes a {bundle.profile.label()} seasonal profile (train --profile) and needs the time "
            "of each value: give the history or the streamed lines a time column (--time-column)")


def _model_values(bundle: Bundle, history: Signal) -> np.ndarray:
    """The history as the model reads it: less the profile at its times (refused without times)."""
    profile = bundle.profile
    if profile is None:
        return history.values
    if history.times is None:
        raise UserError(needs_times(bundle))
    return history.values - profile.at(history.times)


def warn_out_of_range(forecaster: Forecaster, stderr: TextIO) -> None:
    """One warning per run when user values fell outside the integer input's range."""
    if forecaster.out_of_range:
        low, high = forecaster.input_range()  # of several channels: one range per channel
        span = " / ".join(f"{lo:.6g} to {hi:.6g}" for lo, hi in zip(np.atleast_1d(low), np.atleast_1d(high),
                                                                    strict=True))
        stderr.write(f"warning: {forecaster.out_of_range} input value(s) outside {span}, the range "
                     f"the integer input of {forecaster.model_name}/{forecaster.variant_name} represents: it "
                     "saturates there, so the forecast ignores how far out they are (use a float variant)\n")
        stderr.flush()


def forecast_times(history: Signal, bundle: Bundle, steps: int, stderr: TextIO) -> list[str] | None:
    """Timestamps of the forecast: the history's last time plus its median interval per step."""
    if history.times is None or history.interval_seconds is None:
        return None
    interval = history.interval_seconds
    trained = bundle.document.signal.get("interval_seconds")
    if trained and abs(interval - trained) > IRREGULAR * trained:
        stderr.write(f"warning: the history is sampled every {interval:g} s, the model was trained on "
                     f"{trained:g} s; its forecast steps are {trained:g} s apart in what it learned (give it a "
                     f"history sampled every {trained:g} s, or train on data at {interval:g} s)\n")
    last = float(history.times[-1])
    return [format_time(last + interval * k, history.tz) for k in range(1, steps + 1)]


def _meta(forecaster: Forecaster) -> dict:
    return {"model": forecaster.model_name, "variant": forecaster.variant_name, "runtime": forecaster.runtime.value,
            "out_of_range": forecaster.out_of_range}


def _bound_columns(bounds: IntervalForecast | None) -> dict[str, np.ndarray]:
    """lower_80, upper_80, lower_95, ...: the bounds by their column (and JSON field) names."""
    if bounds is None:
        return {}
    return {f"{side}_{level_name(level)}": getattr(bounds, side)[level] for level in bounds.levels
            for side in ("lower", "upper")}


def write_forecast(forecaster: Forecaster, values: np.ndarray, fmt: str, out: TextIO,
                   times: list[str] | None = None, bounds: IntervalForecast | None = None) -> None:
    columns = _bound_columns(bounds)
    names = channel_columns(forecaster)
    if fmt == "json":
        doc = {**_meta(forecaster), "graph": forecaster.forecast_graph(len(values)),
               "horizon": len(values), **({"channels": names} if names else {}),
               "forecast": np.asarray(values, dtype=np.float64).tolist()}  # of several channels: F per step
        if times is not None:
            doc["times"] = times
        if bounds is not None:  # which variant's intervals, from how many origins, then the bounds
            doc["intervals"] = {"variant": bounds.variant, "origins": bounds.origins,
                                "levels": list(bounds.levels)}
            doc.update({name: [float(v) for v in col] for name, col in columns.items()})
        out.write(json.dumps(doc) + "\n")
        return
    head = ["step", *(["time"] if times is not None else []), *(names or ["value"]), *columns]
    rows = [[str(i), *([times[i - 1]] if times is not None else []), *(f"{x:.9g}" for x in np.atleast_1d(v)),
             *(f"{col[i - 1]:.9g}" for col in columns.values())] for i, v in enumerate(values, start=1)]
    out.write(",".join(head) + "\n")
    out.writelines(",".join(row) + "\n" for row in rows)


def channel_columns(forecaster: Forecaster) -> list[str] | None:
    """The CSV columns of a forecast of several channels: the bundle's column names (channel_0, ...
    where the series had none); None for one channel (the column is `value`)."""
    if forecaster.channels == 1:
        return None
    names = str(forecaster.bundle.document.signal.get("column") or "").split(",")
    return names if len(names) == forecaster.channels else [f"channel_{c}" for c in range(forecaster.channels)]


def follow_stream(forecaster: Forecaster, horizon: int, fmt: str, stdin: TextIO, stdout: TextIO,
                  stderr: TextIO, reader: LineReader | None = None, scorer: anomaly.StreamScorer | None = None) -> int:
    """One line per observation until stdin closes; a bad line is reported on stderr and skipped.

    Without `scorer`: the forecast of the next `horizon` values after each observation. With
    `scorer` (`run --follow --score`; it runs `forecaster`, started by the caller): the line is
    about the observation that arrived: its value, the forecast made before it, the adaptive
    conformal bounds, the anomaly score and the flag (edge.anomaly). Lines are read by `reader`
    (the file reader's rules, one line at a time): a value column of delimited lines, and its time
    when the lines have one. A profiled bundle given a line without a time stops the stream with
    one error (every line would fail the same way), both ways."""
    reader = reader or LineReader()
    lines = _ScoredLines(scorer) if scorer is not None else _ForecastLines(horizon)
    header_written = False
    count = 0
    warned = forecaster.out_of_range > 0
    if warned:
        warn_out_of_range(forecaster, stderr)
    for lineno, line in enumerate(stdin, start=1):
        try:
            parsed = reader.read(line, lineno)
            if parsed is None:
                continue
            value, seconds = parsed
            if seconds is None and forecaster.profile is not None:
                raise _NoTimes(needs_times(forecaster.bundle))  # every line would fail: not one warning each
            found = (scorer.observe(value, seconds) if scorer is not None
                     else forecaster.update(value, horizon, time=seconds))
        except UserError as exc:
            if reader.layout is None or isinstance(exc, _NoTimes):  # no layout (or no times), no stream
                raise
            text = str(exc) if str(exc).startswith("line ") else f"line {lineno}: {exc}"
            stderr.write(f"warning: {text}; skipped\n")
            stderr.flush()
            continue
        if not warned and forecaster.out_of_range:
            warn_out_of_range(forecaster, stderr)
            warned = True
        stamp = None if seconds is None else format_time(seconds, reader.tz)
        count += 1
        if fmt == "json":
            # which model, variant, runtime and graph produced it, as a one-shot `run --format json` says
            meta = {**_meta(forecaster), "graph": forecaster.stepper_graph or GraphKind.WINDOW.value}
            stdout.write(json.dumps(lines.json(count, stamp, value, found, meta)) + "\n")
        else:
            if not header_written:
                stdout.write(",".join(["observation", *(["time"] if stamp is not None else []), *lines.columns])
                             + "\n")
                header_written = True
            stdout.write(",".join([str(count), *([stamp] if stamp is not None else []), *lines.cells(value, found)])
                         + "\n")
        stdout.flush()
    return count


class _ForecastLines:
    """Plain --follow: t+1..t+H, the forecast after the observation."""

    def __init__(self, horizon: int) -> None:
        self.columns = [f"t+{h}" for h in range(1, horizon + 1)]

    def cells(self, value: float, forecast: np.ndarray) -> list[str]:
        return [f"{v:.9g}" for v in forecast]

    def json(self, count: int, stamp: str | None, value: float, forecast: np.ndarray, meta: dict) -> dict:
        return {"observation": count, "value": value, "forecast": [float(v) for v in forecast], **meta,
                **({"time": stamp} if stamp is not None else {})}


class _ScoredLines:
    """--follow --score: the observation's value, its forecast, bounds, score and flag."""

    def __init__(self, scorer: anomaly.StreamScorer) -> None:
        self.levels = tuple(level.level for level in scorer.levels)
        self.columns = anomaly.columns(self.levels)

    def cells(self, value: float, row: anomaly.Scored) -> list[str]:
        return anomaly.csv_row(row, self.levels)

    def json(self, count: int, stamp: str | None, value: float, row: anomaly.Scored, meta: dict) -> dict:
        return {"observation": count, **({"time": stamp} if stamp is not None else {}),
                **anomaly.json_fields(row, self.levels), **meta}
