"""Child process: each variant's own closed loop over the validation origins -> its intervals.

Usage: python -m edge_forecast.export.interval_child JOB.json MODEL/VARIANT [...]

The variant runs through the device's Forecaster (edge/forecaster.py) on the staged bundle, with
ai-edge-litert and the variant's own graph forced, so the errors are the ones a device gets:
quantization, normalization, the graph's loop and all. Run through children.run_job like the
verification: an interpreter that crashes or hangs fails that variant's intervals only.
numpy + ai-edge-litert only.
"""

from __future__ import annotations

import sys

import numpy as np

from edge_forecast.children import emit, read_job
from edge_forecast.contracts.bundle import GraphKind, Intervals, VariantId
from edge_forecast.contracts.jobs import IntervalJob
from edge_forecast.edge.forecaster import Forecaster
from edge_forecast.edge.runtime import Runtime
from edge_forecast.errors import UserError
from edge_forecast.evaluation import Plan
from edge_forecast.intervals import backtest_errors, conformal_intervals


def variant_intervals(job: IntervalJob, item: str, series: np.ndarray) -> Intervals:
    model, key = item.split("/", 1)
    graph = VariantId.parse(key).graph
    forecaster = Forecaster(job.bundle, model=model, variant=key, runtime=Runtime.LITERT, graph=graph.value)
    # A run with a seasonal profile exports its residual r = y - p (the job's series): the graphs'
    # closed loop on r, as the Forecaster runs it without the profile, has the errors it has on y
    # (the same p is added to forecast and truth).
    forecaster.profile = None
    pieces = tuple(tuple(p) for p in job.pieces) if job.pieces else None
    plan = Plan(job.start, job.stop, job.horizon, job.stride, job.window, pieces)
    # a rollout graph forecasts its own H values and no more: its intervals stop there
    reach = forecaster.bundle.variant(model, key).get("horizon") if graph is GraphKind.ROLLOUT else None
    errors = backtest_errors(forecaster.forecast, series, plan, forecaster.window, reach)
    return conformal_intervals(errors, tuple(job.levels), plan)


def main(argv: list[str]) -> int:
    job, items = read_job(IntervalJob, argv)
    series = np.load(job.series)
    for item in items:
        try:
            found = variant_intervals(job, item, series)
        except (UserError, ValueError, RuntimeError) as exc:  # the runtime refused it: that is the finding
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            emit(item, ok=False, error=first)
        else:
            emit(item, ok=True, intervals=found.to_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
