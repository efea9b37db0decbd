"""`edge-forecast detect FILE`: score a whole file causally, as `run --follow --score` would.

The file's first W values start the forecaster; every later value is scored by the one
edge.anomaly.StreamScorer from the values before it alone, in file order. Out: a CSV (time when the
file has one, value, forecast, bounds, score, flag; the first W rows carry their value only) and
a PNG beside it (bands shaded, flagged values marked; skipped with a note where matplotlib is
missing, as on a small device).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_forecast.bundle import load_bundle
from edge_forecast.edge.anomaly import DEFAULT_RATE, DEFAULT_THRESHOLD, Scored, StreamScorer, columns, csv_row
from edge_forecast.edge.cli_run import interval_levels, needs_times
from edge_forecast.edge.forecaster import Forecaster, check_history
from edge_forecast.errors import UserError
from edge_forecast.fsio import write_text_atomic
from edge_forecast.intervals import level_name
from edge_forecast.signals import Signal, load_signal
from edge_forecast.tabular import ReadOptions, format_time


@dataclass(frozen=True)
class Detection:
    """What `detect` wrote and found: `rows` are the scored values (the file's values after the
    first W), `start` the index of the first of them in the file."""

    csv: Path
    plot: Path | None
    note: str | None  # what to tell the user: the file put on a grid, why there is no plot
    levels: tuple[float, ...]
    start: int
    rows: tuple[Scored, ...]
    times: tuple[str, ...] | None  # every value's time, when the file has a time column
    coverage: dict[float, tuple[int, int]]
    threshold: float

    @property
    def scored(self) -> int:
        return sum(row.score is not None for row in self.rows)

    @property
    def flagged(self) -> list[int]:
        """File indices (0-based) of the flagged values."""
        return [self.start + i for i, row in enumerate(self.rows) if row.flag]

    def summary(self) -> str:
        flagged = self.flagged
        stretches = sum(1 for i, at in enumerate(flagged) if i == 0 or at != flagged[i - 1] + 1)
        first = "none flagged" if not flagged else f"first flagged at {self.where(flagged[0])}"
        inside = "; ".join(f"{level_name(level)}% bounds held {inn / n:.1%} of {n}" for level, (inn, n)
                           in self.coverage.items() if n)
        return (f"{self.scored} values scored, {len(flagged)} flagged"
                + (f" in {stretches} stretch{'es' if stretches != 1 else ''}" if flagged else "")
                + f", {first}" + (f"; {inside}" if inside else ""))

    def where(self, index: int) -> str:
        return self.times[index] if self.times is not None else f"value {index + 1}"


def detect_file(path: Path, bundle: Path, out: Path, *, column: str | None = None, fill: str | None = None,
                read: ReadOptions | None = None, model: str | None = None, variant: str | None = None,
                runtime: str = "auto", threads: int | None = None, graph: str = "auto", levels: str | None = None,
                threshold: float = DEFAULT_THRESHOLD, aci_rate: float = DEFAULT_RATE, force: bool = False,
                plot: bool = True) -> Detection:
    read = read or ReadOptions()
    out = Path(out)
    picture = out.with_suffix(".png")
    if out.suffix.lower() == ".png":
        raise UserError(f"out: {out} is the plot's name; give the CSV's (the plot goes beside it as .png)", "out")
    for target in (out, picture):
        if target.is_dir():
            raise UserError(f"out: {target} is a directory", "out")
        if target.exists() and not force:
            raise UserError(f"out: {target} exists (--force replaces it)", "out")
    if not out.parent.is_dir():
        raise UserError(f"out: the folder {out.parent} does not exist", "out")
    chosen = interval_levels(levels)
    loaded = load_bundle(bundle)
    trained = loaded.document.signal.get("column")
    if read.column is None and column is None and isinstance(trained, str) and not trained.isdigit():
        read = dataclasses.replace(read, trained_column=trained)  # the model's column, where a header names it
    signal = load_signal(path, column, fill, read)
    window = loaded.window
    if signal.values.size <= window:
        raise UserError(f"{path} has {signal.values.size} values; the model needs its window ({window}) and at "
                        "least one more to score")
    seconds = signal.times
    if loaded.profile is not None:  # the model reads y less the seasonal profile at each value's time
        if seconds is None:
            raise UserError(needs_times(loaded))
        check_history(loaded, signal.values[:window] - loaded.profile.at(seconds[:window]))
    else:
        check_history(loaded, signal.values[:window])
    forecaster = Forecaster(loaded, model=model, variant=variant, runtime=runtime, threads=threads, graph=graph)
    scorer = StreamScorer(forecaster, chosen, aci_rate, threshold)
    scorer.start(signal.values[:window], None if seconds is None else seconds[:window])
    rows = []
    for i in range(window, signal.values.size):
        rows.append(scorer.observe(float(signal.values[i]), None if seconds is None else float(seconds[i])))
    times = None if seconds is None else tuple(format_time(float(s), signal.tz) for s in seconds)
    found_levels = tuple(level.level for level in scorer.levels)
    write_text_atomic(out, _csv(signal, rows, window, found_levels, times))
    notes = [f"{path}: {signal.regridded}"] if signal.regridded else []  # each row is a slot of that grid
    drawn = None
    if plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            notes.append("plot not drawn: matplotlib is not installed (pip install matplotlib)")
        else:
            drawn = draw(signal, rows, window, found_levels, threshold, picture, str(path))
    return Detection(out, drawn, "; ".join(notes) or None, found_levels, window, tuple(rows), times, scorer.coverage(),
                     threshold)


def _csv(signal: Signal, rows: list[Scored], window: int, levels: tuple[float, ...],
         times: tuple[str, ...] | None) -> str:
    head = [*(["time"] if times is not None else []), *columns(levels)]
    width = len(head) - (1 if times is not None else 0)
    lines = [",".join(head)]
    for i, value in enumerate(signal.values):
        stamp = [times[i]] if times is not None else []
        if i < window:  # the forecaster's start: no forecast was made for these
            lines.append(",".join([*stamp, f"{value:.9g}", *([""] * (width - 2)), "0"]))
        else:
            lines.append(",".join([*stamp, *csv_row(rows[i - window], levels)]))
    return "\n".join(lines) + "\n"


def draw(signal: Signal, rows: list[Scored], window: int, levels: tuple[float, ...], threshold: float,
         picture: Path, title: str) -> Path:
    """Values, forecasts and the bands (one shade per level) above, the score and the threshold
    below; flagged values marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = signal.values.size
    if signal.times is not None:
        import datetime as dt

        # on the file's clock, as the CSV and train's plots (naive stamps are wall-clock read as UTC)
        zone = signal.tz or dt.timezone.utc
        x = np.array([dt.datetime.fromtimestamp(float(s), zone).replace(tzinfo=None) for s in signal.times])
    else:
        x = np.arange(n)
    xs = x[window:]
    forecast = np.array([np.nan if r.forecast is None else r.forecast for r in rows])
    score = np.array([np.nan if r.score is None else r.score for r in rows])
    flagged = np.array([r.flag for r in rows], dtype=bool)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 5.6), sharex=True, height_ratios=(3, 1))
    shades = {}
    for j, level in enumerate(sorted(levels, reverse=True)):
        low = np.array([_bound(r, level, "lower") for r in rows])
        high = np.array([_bound(r, level, "upper") for r in rows])
        shades[level] = top.fill_between(xs, low, high, color="tab:blue", alpha=0.12 + 0.14 * j, linewidth=0,
                                         label=f"{level_name(level)}% bound (ACI)")
    top.plot(x, signal.values, color="black", linewidth=0.8, label="value")
    top.plot(xs, forecast, color="tab:blue", linewidth=0.8, label="forecast (one step)")
    top.scatter(xs[flagged], signal.values[window:][flagged], s=18, color="tab:red", zorder=5,
                label=f"flagged ({int(flagged.sum())})")
    top.set_title(f"{title}: {int(flagged.sum())} of {int(np.isfinite(score).sum())} scored values flagged")
    top.legend(loc="upper left", fontsize=8, ncols=3)
    bottom.plot(xs, score, color="tab:purple", linewidth=0.8, label="score")
    bottom.axhline(threshold, color="tab:red", linestyle="--", linewidth=0.8, label=f"threshold {threshold:g}")
    bottom.set_ylim(-0.02, 1.05)
    bottom.set_ylabel("score")
    bottom.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    partial = picture.with_name(f".{picture.name}.partial")  # a complete PNG or none, as every output
    try:
        fig.savefig(partial, dpi=110, format="png")
        os.replace(partial, picture)
    finally:
        plt.close(fig)
        partial.unlink(missing_ok=True)
    return picture


def _bound(row: Scored, level: float, side: str) -> float:
    for b in row.bounds:
        if b.level == level:
            value = getattr(b, side)
            return np.nan if value is None else value
    return np.nan
