"""The statistical side of benchmarks/real_series.py, run in the benchmark-only venv (statsforecast
is a reference, never a product dependency):

    python3.11 -m venv .venv-bench && .venv-bench/bin/pip install 'statsforecast>=2,<3' 'numpy>=1.26,<3' 'pandas>=2,<3'
    .venv-bench/bin/python benchmarks/real_series_stats.py JOB.json OUT.json

JOB.json: {"series": "<values>.npy", "seasons": [48, 336] (MSTL's), "ets_season": 24, "arima_season": 48,
"horizon": 20, "origins": [...], "levels": [80, 95], "history": {"AutoETS": N, ...}, "time_limit": seconds}.
At each origin t every model is fitted again on the values before t (at most `history[model]` of them, the most recent)
and forecasts `horizon` values, with conformal intervals (statsforecast's ConformalIntervals,
n_windows=2, the model refitted on two earlier windows) at `levels`. A model whose origins so far
took more than `time_limit` seconds in all is stopped and reported as such ("did not finish").

OUT.json: per model {"forecasts": [[...]] or null, "lower"/"upper": {level: [[...]]}, "seconds",
"spec" (how it was set up), "error" (one line or null)}.
"""

from __future__ import annotations

import json
import signal
import sys
import time
import warnings

import numpy as np


class OutOfTime(Exception):
    pass


def _out_of_time(_signum, _frame):
    raise OutOfTime


def models(job: dict, horizon: int) -> dict:
    """name -> (factory of a fresh model, one-line spec, with conformal intervals)."""
    from statsforecast.models import MSTL, AutoARIMA, AutoETS
    from statsforecast.utils import ConformalIntervals

    conformal = ConformalIntervals(h=horizon, n_windows=2)
    # statsforecast's ETS, like R's ets, has no seasonal state beyond 24, and a seasonal ARIMA with
    # a week of half-hours (336) does not finish: the caller gives the shortest found season that
    # fits (1: none), and the spec says which
    ets_season, arima_season = int(job["ets_season"]), int(job["arima_season"])
    mstl_seasons = sorted(int(s) for s in job["seasons"]) or [1]
    return {
        "AutoETS": (lambda: AutoETS(season_length=ets_season, prediction_intervals=conformal),
                    f"AutoETS(season_length={ets_season})", True),
        "MSTL": (lambda: MSTL(season_length=mstl_seasons, trend_forecaster=AutoETS(model="ZZN"),
                              prediction_intervals=conformal),
                 f"MSTL(season_length={mstl_seasons}, trend AutoETS ZZN)", True),
        "AutoARIMA": (lambda: AutoARIMA(season_length=arima_season), f"AutoARIMA(season_length={arima_season})",
                      False),
    }


def run(job: dict) -> dict:
    series = np.load(job["series"]).astype(np.float64)
    horizon, origins, levels = int(job["horizon"]), [int(o) for o in job["origins"]], list(job["levels"])
    limit = float(job["time_limit"])
    signal.signal(signal.SIGALRM, _out_of_time)
    out = {}
    for name, (make, spec, intervals) in models(job, horizon).items():
        if name not in job.get("models", (name,)):
            continue
        history = int(job["history"].get(name, series.size))
        rows, lower, upper = [], {lv: [] for lv in levels}, {lv: [] for lv in levels}
        started, error = time.perf_counter(), None
        for done, origin in enumerate(origins):
            y = series[max(0, origin - history) : origin]
            # a hard limit: one seasonal AutoARIMA fit alone can outlast it on a long season
            signal.setitimer(signal.ITIMER_REAL, max(1.0, limit - (time.perf_counter() - started)))
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    found = make().forecast(y=y, h=horizon, level=levels if intervals else None)
            except OutOfTime:
                error = f"did not finish: {done} of {len(origins)} origins in the limit of {limit:.0f} s"
                break
            except Exception as exc:  # one line in the report; the other models go on
                error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:200]
                break
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            rows.append([float(v) for v in found["mean"]])
            for lv in levels if intervals else ():
                lower[lv].append([float(v) for v in found[f"lo-{lv}"]])
                upper[lv].append([float(v) for v in found[f"hi-{lv}"]])
            elapsed = time.perf_counter() - started
            if elapsed > limit and done + 1 < len(origins):
                error = f"did not finish: {done + 1} of {len(origins)} origins in {elapsed:.0f} s (limit {limit:.0f} s)"
                break
        complete = error is None
        out[name] = {"spec": spec + (f", last {history} values" if history < series.size else ""),
                     "forecasts": rows if complete else None,
                     "lower": {str(lv): v for lv, v in lower.items()} if complete and intervals else None,
                     "upper": {str(lv): v for lv, v in upper.items()} if complete and intervals else None,
                     "seconds": round(time.perf_counter() - started, 2), "error": error}
        print(f"  {name}: {out[name]['seconds']:.1f} s" + (f" ({error})" if error else ""), file=sys.stderr)
    return out


def main(argv: list[str]) -> int:
    job_path, out_path = argv
    with open(job_path) as f:
        job = json.load(f)
    result = run(job)
    with open(out_path, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
