"""Where a training series comes from: a built-in signal or a file (numpy only)."""

from __future__ import annotations

from edge_forecast.contracts.run_record import GapRecord, SignalRecord
from edge_forecast.errors import UserError
from edge_forecast.run_record import SIGNAL_NAME
from edge_forecast.signals import Signal, damped_oscillation, load_signal, mackey_glass, signal_timing, zone_name
from edge_forecast.tabular import ReadOptions, format_time
from edge_forecast.train.config import SignalSpec


def resolve_signal(spec: SignalSpec) -> Signal:
    """The series `spec` names: damped, mackey-glass, or a CSV / .npy file (`load_signal`)."""
    if spec.name == "damped":
        points = spec.points or 200
        values = damped_oscillation(spec.tau, points, spec.span)
        return Signal(values=values, source=f"damped(tau={spec.tau:g}, points={points}, span={spec.span:g})")
    if spec.name == "mackey-glass":
        points = spec.points or 600
        values = mackey_glass(points, spec.delay, spec.noise)
        return Signal(values=values,
                      source=f"mackey-glass(delay={spec.delay:g}, points={points}, noise={spec.noise:g})")
    if spec.name in ("-", ""):
        raise UserError("--signal needs a file path or 'damped'")
    read = ReadOptions(delimiter=spec.delimiter, decimal=spec.decimal, time_column=spec.time_column,
                       time_format=spec.time_format, resample=spec.resample, agg=spec.agg)
    return load_signal(spec.name, spec.column, spec.fill, read=read, max_gap=spec.max_gap)


def signal_record(signal: Signal, times_file: str | None = None) -> SignalRecord:
    """The run record's signal: the series saved as SIGNAL_NAME, where it came from, its timing, its
    segments and what the gap rule did; `times_file`: where the run saved the values' times."""
    timing = signal_timing(signal)
    if timing:
        timing.update(first_time=format_time(signal.times[0], signal.tz), zone=zone_name(signal.tz))
    return SignalRecord(file=SIGNAL_NAME, source=signal.source, column=signal.column, points=len(signal.values),
                        fingerprint=signal.fingerprint, **timing,
                        segments=[list(s) for s in signal.segments] if signal.segments else None,
                        gaps=GapRecord(**signal.gaps.to_dict()) if signal.gaps else None, regridded=signal.regridded,
                        times_file=times_file)
