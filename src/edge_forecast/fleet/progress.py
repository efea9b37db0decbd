"""Progress of a fleet on stderr: one line per finished sensor (a log, not a redrawn bar: it reads
the same in a terminal, a CI log and a file)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from edge_forecast.fleet.task import SeriesResult


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """Counts this run's sensors as they finish; `update` writes
    `[12/200] done 11, failed 1, left 188; 4.2 series/min, ETA 44m45s; sensor_7: lstm int8, MASE 0.81`."""

    def __init__(self, total: int, write: Callable[[str], None] | None = None) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.start = time.perf_counter()
        self.write = write or (lambda line: print(line, file=sys.stderr, flush=True))

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def rate(self) -> float:
        """Sensors per minute so far."""
        return (self.done + self.failed) / self.elapsed * 60 if self.elapsed > 0 else 0.0

    def update(self, result: SeriesResult) -> None:
        if result.done:
            self.done += 1
            what = f"{result.model} {result.variant}" + ("" if result.mase is None else f", MASE {result.mase:.3g}")
        else:
            self.failed += 1
            what = f"failed: {result.reason}"
        finished = self.done + self.failed
        left = self.total - finished
        rate = self.rate()
        eta = f", ETA {duration(left / rate * 60)}" if left and rate > 0 else ""
        self.write(f"[{finished}/{self.total}] done {self.done}, failed {self.failed}, left {left}; "
                   f"{rate:.3g} series/min{eta}; {result.id}: {what}")
