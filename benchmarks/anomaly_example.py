"""The data of docs/guide/anomalies.md: a seasonal wave to train on and the same wave with a spike,
a stuck stretch and a level shift (the faults tests/edge/test_anomaly.py makes), as CSV files.

    python benchmarks/anomaly_example.py OUT_DIR    # writes OUT_DIR/wave.csv and OUT_DIR/faults.csv
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np


def wave(points: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(points)
    return 10 + 2 * np.sin(2 * np.pi * t / 40) + 0.8 * np.sin(2 * np.pi * t / 9 + 0.5) + rng.normal(0, 0.1, points)


def write(path: Path, values: np.ndarray, start: dt.datetime) -> None:
    with path.open("w") as fh:
        fh.write("time,temperature\n")
        for i, v in enumerate(values):
            fh.write(f"{(start + dt.timedelta(minutes=5 * i)).isoformat()},{v:.4f}\n")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write(out / "wave.csv", wave(1500, seed=1), dt.datetime(2023, 12, 1))
    faults = wave(1600, seed=7)
    faults[700] += 4.0              # a spike
    faults[1000:1050] = faults[1000]  # a stuck sensor
    faults[1300:] += 3.0            # a level shift
    write(out / "faults.csv", faults, dt.datetime(2024, 1, 1))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "anomaly-example"))
