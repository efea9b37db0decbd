"""The smallest tensor arena with which TFLM allocates and runs a model, found by bisection.

TFLM reports its arena use only through `print_allocations()` (to the C-level stderr, no return
value), and an arena that is too small can make its Python interpreter crash rather than raise.
So every probe (allocate with `arena_size=N`, then one invoke) runs in its own child process
with a timeout (children.run_resilient); a crash, a hang or an error all count as "does not fit".
The host build is 64-bit with reference kernels: a target's pointer-sized records are smaller,
but optimized kernels (CMSIS-NN) ask for other scratch buffers, hence the stated margin.

Child usage: python -m edge_forecast.micro.arena JOB.json SIZE [SIZE ...]  (the job names the file)
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from edge_forecast.children import emit, read_job, run_job
from edge_forecast.contracts.jobs import ArenaJob

GRANULARITY = 16           # TFLM aligns arena allocations to 16 bytes: finer steps mean nothing
START_BYTES = 4096
MAX_BYTES = 64 * 1024 * 1024
PROBE_TIMEOUT_S = 60.0
DEFAULT_MARGIN = 0.25


def fits(path: Path, size: int, python: str = sys.executable) -> tuple[bool, str | None]:
    """Does TFLM allocate and invoke `path` with an arena of `size` bytes? (ok, error text)"""
    found = run_job("edge_forecast.micro.arena", ArenaJob(file=str(path)), [str(size)], PROBE_TIMEOUT_S,
                    python=python)[str(size)]
    return bool(found.get("ok")), found.get("error")


def minimal_arena(path: Path) -> dict:
    """{"arena_bytes": the smallest fitting size (a multiple of GRANULARITY), "probes": n,
    "granularity": GRANULARITY}. One granularity step less does not fit (tested unless it is 0).
    Raises ValueError when even MAX_BYTES does not fit."""
    probes = 0
    hi = START_BYTES
    while True:
        probes += 1
        ok, error = fits(path, hi)
        if ok:
            break
        if hi >= MAX_BYTES:
            raise ValueError(f"{Path(path).name} does not run in TFLM even with a {MAX_BYTES} byte arena: {error}")
        hi *= 2
    lo_units, hi_units = (hi // 2) // GRANULARITY if probes > 1 else 0, hi // GRANULARITY
    while hi_units - lo_units > 1:
        mid = (lo_units + hi_units) // 2
        probes += 1
        if fits(path, mid * GRANULARITY)[0]:
            hi_units = mid
        else:
            lo_units = mid
    return {"arena_bytes": hi_units * GRANULARITY, "granularity": GRANULARITY, "probes": probes}


def with_margin(arena_bytes: int, margin: float) -> int:
    """The arena to reserve on a target: measured x (1 + margin), rounded up to GRANULARITY."""
    return int(math.ceil(arena_bytes * (1.0 + margin) / GRANULARITY)) * GRANULARITY


def _probe(path: Path, size: int) -> None:
    from tflite_micro.python.tflite_micro import runtime

    from edge_forecast.tflite_file import io_details

    data = path.read_bytes()
    interp = runtime.Interpreter.from_bytes(data, arena_size=size)
    for position, detail in enumerate(io_details(data)[0]):
        interp.set_input(np.zeros(detail["shape"], dtype=detail["dtype"]), position)
    interp.invoke()
    interp.get_output(0)


def main(argv: list[str]) -> int:
    job, sizes = read_job(ArenaJob, argv)
    path = Path(job.file)
    for size in sizes:
        try:
            _probe(path, int(size))
            emit(size, ok=True)
        except Exception as exc:  # too small: the interpreter says so (or crashes: the parent sees that)
            text = str(exc).strip().splitlines()
            emit(size, ok=False, error=(text[0] if text else type(exc).__name__)[:300])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
