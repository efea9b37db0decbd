"""Long seasons on a small device: which input carries a season longer than the window?

Issue 27 asks to measure the ways a window-20 forecaster can use a weekly cycle of 336 values
(30 minutes) before building one: seasonal lag inputs, calendar inputs, seasonal differencing,
a seasonal profile taken out by the normalization. This compares them with linear models
(least squares), which are fast enough to run on many series and isolate the input design from
the recurrent training: if an input does not help a linear AR(20), it is unlikely to be the
device's way to a season.

Per series: `edge-forecast train --model ar` (the product's reader, split and `--season auto`;
the run record gives the split, the seasons found and MASE's scale), then on the run's test
segment, same origins and horizon as the run's backtest (closed loop, every forecast fed back):

- ar20: AR(20) on the series (the product's `ar` baseline);
- sdiff: AR(20) on the series seasonally differenced by the primary season s
  (z[t] = y[t] - y[t-s]; the forecast is integrated back outside the model);
- lags: AR(20) plus the values one season ago (y[t+1-s], y[t+2-s], y[t-s]) for every season found;
- calendar: AR(20) plus sine/cosine of the time of day and the day of week (3 harmonics each);
- profile: AR(20) on the series minus the training part's mean seasonal profile (per slot of s);
- snaive: the seasonal naive forecast with the primary season (the run's own baseline).

    nice .venv/bin/python benchmarks/experiments/long_season.py --nab /path/to/NAB/data \
        [--ett /path/to/ETDataset/ETT-small] [--out benchmarks/results/long_season.md]

NAB: github.com/numenta/NAB (data/); ETDataset: github.com/zhouhaoyi/ETDataset (ETT-small/).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "src"))
from _common import write_report  # noqa: E402

from edge_forecast.evaluation import origin_truth, plan_origins, score  # noqa: E402

WINDOW = 20
HORIZON = 20
HARMONICS = 3
# NAB's logs have late, missing and doubled readings: on the median grid, short holes interpolated
GRID = ("--resample", "--fill", "interpolate")
# (name, path under its root, column, extra train flags): the options were written looking at
# nyc_taxi only; the other series are reported, not tuned on
SERIES = (
    ("nyc_taxi", "nab", "realKnownCause/nyc_taxi.csv", "value", *GRID),
    ("machine_temperature", "nab", "realKnownCause/machine_temperature_system_failure.csv", "value", *GRID),
    ("ambient_temperature", "nab", "realKnownCause/ambient_temperature_system_failure.csv", "value", *GRID),
    ("cpu_asg", "nab", "realKnownCause/cpu_utilization_asg_misconfiguration.csv", "value", *GRID),
    ("speed_6005", "nab", "realTraffic/speed_6005.csv", "value", *GRID),
    ("occupancy_t4013", "nab", "realTraffic/occupancy_t4013.csv", "value", *GRID),
    ("TravelTime_387", "nab", "realTraffic/TravelTime_387.csv", "value", *GRID),
    ("art_daily_small_noise", "nab", "artificialNoAnomaly/art_daily_small_noise.csv", "value", *GRID),
    ("ETTh2_OT", "ett", "ETTh2.csv", "OT"),
    ("ETTh1_OT", "ett", "ETTh1.csv", "OT"),
)


def run_record(path: Path, column: str, work: Path, extra: tuple[str, ...]) -> tuple[dict, np.ndarray]:
    out = work / path.stem
    done = subprocess.run([sys.executable, "-m", "edge_forecast", "train", "--signal", str(path), "--column", column,
                           "--model", "ar", "--quiet", "--out", str(out), *extra], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1])
    return json.loads((out / "training.json").read_text()), np.load(out / "signal.npy")


def fit(features: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least squares with an intercept (the last coefficient)."""
    design = np.column_stack([features, np.ones(len(features))])
    return np.linalg.lstsq(design, target, rcond=None)[0]


class Linear:
    """y[t+1] = f(the last WINDOW values of u, extra regressors at t+1); u = transform of y."""

    def __init__(self, lags: tuple[int, ...] = (), calendar=None) -> None:
        self.lags, self.calendar = lags, calendar  # lags: seasonal offsets s (y[t+1-s] etc.)

    def rows(self, u: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Features for predicting u[t+1] from u[..t]: u (T,) with t (N,), or u (N, T) one row per t."""
        pick = (lambda idx: u[idx]) if u.ndim == 1 else (lambda idx: u[np.arange(len(t))[:, None], idx])
        cols = [pick(t[:, None] - WINDOW + 1 + np.arange(WINDOW))]
        for s in self.lags:
            cols.append(pick(t[:, None] + 1 - s + np.array([-1, 0, 1])))
        if self.calendar is not None:
            cols.append(self.calendar[t + 1])
        return np.column_stack(cols)

    def context(self) -> int:
        return max([WINDOW, *[s + 1 for s in self.lags]])

    def train(self, u: np.ndarray, stop: int) -> None:
        t = np.arange(self.context() - 1, stop - 1)
        self.coef = fit(self.rows(u, t), u[t + 1])

    def closed_loop(self, u: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        """Forecast u[o .. o+h-1] from every origin o, feeding forecasts back (history copied per origin)."""
        first = max(0, int(origins.min()) - self.context() - 1)  # only the history the features read
        ext = np.tile(u[first : int(origins.max()) + horizon], (len(origins), 1))
        local = origins - first
        out = np.empty((len(origins), horizon))
        for h in range(horizon):
            t = local + h - 1
            rows = self.rows(ext, t) if self.calendar is None else self._rows_at(ext, t, first)
            out[:, h] = rows @ self.coef[:-1] + self.coef[-1]
            ext[np.arange(len(origins)), local + h] = out[:, h]  # a forecast replaces the truth
        return out

    def _rows_at(self, ext: np.ndarray, t: np.ndarray, first: int) -> np.ndarray:
        calendar, self.calendar = self.calendar, self.calendar[first:]
        try:
            return self.rows(ext, t)
        finally:
            self.calendar = calendar


def calendar_features(times: np.ndarray) -> np.ndarray:
    day = (times % 86400) / 86400
    week = ((times // 86400 + 3) % 7 + day) / 7  # 1970-01-01 was a Thursday: Monday = 0
    cols = []
    for phase in (day, week):
        for k in range(1, HARMONICS + 1):
            cols += [np.sin(2 * np.pi * k * phase), np.cos(2 * np.pi * k * phase)]
    return np.column_stack(cols)


def evaluate(rec: dict, y: np.ndarray) -> dict:
    split = rec["split"]
    train_end, test_start = split["train_points"], split["test_start"]
    seasons = [int(s) for s in rec["seasons"]["seasons"]]
    s = seasons[0] if seasons else 1
    interval = rec["signal"].get("interval_seconds")
    last = rec["signal"].get("last_time")
    plan = plan_origins(test_start, len(y), WINDOW, HORIZON, 1)
    origins = plan.origins
    truth = origin_truth(y, plan)
    scale = rec["mase_scale"]["in_sample_naive_mae"]
    out = {"seasons": seasons, "origins": int(origins.size)}

    def put(name, forecasts):
        out[name] = score(forecasts, truth, scale)["rmse"]

    model = Linear()
    model.train(y, train_end)
    put("ar20", model.closed_loop(y, origins, HORIZON))
    if s > 1:
        z = np.full_like(y, np.nan)
        z[s:] = y[s:] - y[:-s]
        model = Linear()
        model.train(np.nan_to_num(z), train_end)
        zt = model.closed_loop(np.nan_to_num(z), origins, HORIZON)
        fc = np.empty_like(zt)
        for h in range(HORIZON):  # integrate: y[o+h] = z[o+h] + y[o+h-s] (forecast where h >= s)
            back = origins + h - s
            base = np.where(h - s >= 0, fc[:, max(h - s, 0)], y[np.maximum(back, 0)])
            fc[:, h] = zt[:, h] + base
        put("sdiff", fc)
        model = Linear(lags=tuple(seasons))
        model.train(y, train_end)
        put("lags", model.closed_loop(y, origins, HORIZON))
        slot = np.arange(len(y)) % s
        profile = np.array([y[:train_end][slot[:train_end] == k].mean() for k in range(s)])
        r = y - profile[slot]
        model = Linear()
        model.train(r, train_end)
        put("profile", model.closed_loop(r, origins, HORIZON) + profile[slot[origins[:, None] + np.arange(HORIZON)]])
        snaive = y[origins[:, None] + np.arange(HORIZON) - s]
        put("snaive", snaive)
    if interval and last:
        end = dt.datetime.fromisoformat(last).replace(tzinfo=None)
        stop = (end - dt.datetime(1970, 1, 1)).total_seconds()
        times = stop - interval * (len(y) - 1 - np.arange(len(y)))
        model = Linear(calendar=calendar_features(times))
        model.train(y, train_end)
        put("calendar", model.closed_loop(y, origins, HORIZON))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nab", type=Path, default=os.environ.get("NAB_DATA"))
    parser.add_argument("--ett", type=Path, default=os.environ.get("ETT_DATA"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    roots = {"nab": args.nab, "ett": args.ett}
    names = ("ar20", "sdiff", "lags", "calendar", "profile", "snaive")
    lines = ["| series | seasons found | origins | " + " | ".join(names) + " |",
             "|---|---|---|" + "---|" * len(names)]
    with tempfile.TemporaryDirectory() as work:
        for name, root, rel, column, *extra in SERIES:
            if roots[root] is None or not (roots[root] / rel).exists():
                print(f"{name}: skipped ({root} data not given)", file=sys.stderr)
                continue
            try:
                rec, y = run_record(roots[root] / rel, column, Path(work), tuple(extra))
            except RuntimeError as err:
                lines.append(f"| {name} | not read: {err} |")
                print(lines[-1], file=sys.stderr)
                continue
            found = evaluate(rec, y)
            best = min(v for k, v in found.items() if k in names)
            cells = [(f"**{found[k]:.4g}**" if found[k] == best else f"{found[k]:.4g}") if k in found else "-"
                     for k in names]
            lines.append(f"| {name} | {', '.join(map(str, found['seasons'])) or 'none'} | {found['origins']} | "
                         + " | ".join(cells) + " |")
            print(lines[-1], file=sys.stderr)
    body = ("Test-segment RMSE (closed loop, horizon 20, every origin of the run's test segment; lowest in bold), "
            "linear models by least squares on the training part, device window 20.\n\n" + "\n".join(lines))
    if args.out:
        write_report(args.out.stem, "Long seasons with a window of 20: which input carries them",
                     "nice .venv/bin/python benchmarks/experiments/long_season.py --nab NAB/data --ett ETT-small "
                     f"--out {args.out}", body)
    else:
        print(body)


if __name__ == "__main__":
    main()
