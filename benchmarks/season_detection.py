"""What `train --season auto` finds on NAB series (numpy only, no TensorFlow; seconds).

Each file is read as `train` reads it (`--column value --resample`, missing grid slots left as
NaN: the detector skips them), split as `train` splits it by default (window 20, validation 0.1,
test 0.2) and `seasons.find_seasons` runs on the training part. The table gives the seasons
kept (strongest first) and every candidate's reason; and, per kept season, the MAE of the
seasonal naive forecast over 20 steps from every origin of the test segment (which the detector
never saw) relative to persistence's (below 1: the season helps out of sample).

    NAB_DATA=/work/data/NAB/data nice .venv/bin/python benchmarks/season_detection.py [--set rule|report|all]
        [--compare] [--out benchmarks/results/season_detection.md]

`--set rule`: the series the rule's constants were chosen on; `report`: the others (never
looked at while choosing). NAB: https://github.com/numenta/NAB (data/, CSV with timestamp,value).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from edge_forecast.seasons import MIN_CYCLES, acf, calendar_lags, find_seasons, seasonal_acf  # noqa: E402
from edge_forecast.tabular import ReadOptions, read_column  # noqa: E402
from edge_forecast.train.split import make_split  # noqa: E402

RULE = ("realKnownCause/nyc_taxi.csv", "realKnownCause/ambient_temperature_system_failure.csv",
        "artificialNoAnomaly/art_daily_small_noise.csv", "artificialNoAnomaly/art_noisy.csv",
        "realTweets/Twitter_volume_AAPL.csv", "realTraffic/speed_7578.csv")
REPORT = ("realKnownCause/machine_temperature_system_failure.csv",
          "realKnownCause/cpu_utilization_asg_misconfiguration.csv",
          "realKnownCause/ec2_request_latency_system_failure.csv", "realTraffic/occupancy_6005.csv",
          "realTraffic/TravelTime_387.csv", "realTweets/Twitter_volume_GOOG.csv",
          "artificialWithAnomaly/art_daily_jumpsup.csv", "artificialNoAnomaly/art_daily_perfect_square_wave.csv",
          "realAdExchange/exchange-2_cpc_results.csv", "realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv",
          "realAWSCloudwatch/elb_request_count_8c0756.csv", "realKnownCause/rogue_agent_key_hold.csv")


def read(path: Path) -> tuple[np.ndarray, float | None]:
    """The values on the median interval's grid (NaN where a slot is empty) and the interval."""
    col = read_column(path, ReadOptions(column="value", resample=True))
    return col.values, col.interval


HORIZON = 20


def test_mae(values: np.ndarray, start: int, lag: int) -> float:
    """MAE of the seasonal naive forecast (lag 1: persistence) over HORIZON steps from every origin
    of the test segment [start, end) (gaps skipped): what `train` reports as a baseline."""
    origins = np.arange(start, values.size - HORIZON + 1)
    steps = np.arange(HORIZON)
    forecast = values[origins[:, None] - lag + steps % lag]
    return float(np.nanmean(np.abs(forecast - values[origins[:, None] + steps])))


def row(root: Path, name: str) -> tuple[str, list[str]]:
    values, interval = read(root / name)
    split = make_split(values.size, 20, 0.1, 0.2)
    train = values[: split.train_end]
    start = time.perf_counter()
    report = find_seasons(train, interval)
    seconds = time.perf_counter() - start
    persistence = test_mae(values, split.val_end, 1)
    gains = ", ".join(f"{s}: {test_mae(values, split.val_end, s) / persistence:.2f}" for s in report.seasons) or "-"
    kept = ", ".join(str(s) for s in report.seasons) or "none"
    gaps = int(np.isnan(train).sum())
    head = (f"| {name} | {values.size:,} | {interval:g} s | {split.train_end:,} ({gaps} gaps) | **{kept}** | {gains} | "
            f"{seconds * 1000:.0f} ms |")
    details = [f"- `{name}`: " + report.line()]
    return head, details


def compare(root: Path, names) -> str:
    """The two statistics measured for the test (docs/design/0011): at each calendar lag the ACF of
    the first difference and of the deviations from a moving mean over the lag, and the seasonal
    naive's test-segment MAE relative to persistence's (does the season help out of sample?)."""
    lines = ["| series | lag | ACF of the first difference | ACF of the moving-mean deviations | "
             f"seasonal naive MAE / persistence's (test, horizon {HORIZON}) |", "|---|---:|---:|---:|---:|"]
    for name in names:
        values, interval = read(root / name)
        split = make_split(values.size, 20, 0.1, 0.2)
        train = values[: split.train_end]
        for label, lag in calendar_lags(interval):
            if lag * MIN_CYCLES > train.size:
                continue
            ratio = test_mae(values, split.val_end, lag) / test_mae(values, split.val_end, 1)
            lines.append(f"| {name} | {lag} ({label}) | {acf(np.diff(train), lag)[lag]:.2f} | "
                         f"{seasonal_acf(train, lag)[0][lag]:.2f} | {ratio:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nab", default=os.environ.get("NAB_DATA"), help="NAB's data/ folder (or NAB_DATA)")
    parser.add_argument("--set", choices=("rule", "report", "all"), default="all")
    parser.add_argument("--out", type=Path, help="write the Markdown table here too")
    parser.add_argument("--compare", action="store_true",
                        help="also the two detrendings measured for the test, at the calendar lags")
    args = parser.parse_args()
    if not args.nab:
        parser.error("give --nab PATH or set NAB_DATA to NAB's data/ folder")
    root = Path(args.nab)
    sets = {"rule": RULE, "report": REPORT, "all": RULE + REPORT}[args.set]
    lines = ["| series | values | interval | training part | seasons kept | seasonal naive MAE / persistence's "
             f"(test segment, horizon {HORIZON}) | detector time |", "|---|---:|---:|---:|---|---|---:|"]
    details = []
    for name in sets:
        head, more = row(root, name)
        lines.append(head + (" rule set |" if name in RULE else " report set |"))
        details += more
    lines[0] += " set |"
    lines[1] += "---|"
    text = "\n".join(lines + [""] + details) + "\n"
    if args.compare:
        text += "\n" + compare(root, sets)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
