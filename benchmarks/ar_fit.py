"""`--model ar`: least squares only (`--ar-fit lstsq`) vs least squares then closed-loop training
(`--ar-fit refine`), side by side on the series of benchmarks/real_series.py.

Validation MASE (the figure `--select best` and `--model auto` choose by) and test MASE (the
trailing 20%, never seen by either), same split, origins and seed for both.

    nice .venv/bin/python benchmarks/ar_fit.py [--work /tmp/edge-forecast-real]   # after real_series.py wrote its data
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_report  # noqa: E402
from real_series import BUILTIN, SERIES, series_config  # noqa: E402

FITS = ("lstsq", "refine")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/edge-forecast-real"))
    args = parser.parse_args()
    from dataclasses import replace

    from edge_forecast.train.config import ModelKind
    from edge_forecast.train.loop import train_run

    rows = ["| series | lstsq validation | refine validation | lstsq test | refine test | lstsq (s) | refine (s) |",
            "|---|---|---|---|---|---|---|"]
    sums = dict.fromkeys(FITS, 0.0)
    for name in SERIES:
        found = {}
        for fit in FITS:
            config = replace(series_config(name, args.work)[0], models=(ModelKind.AR,), auto=False, ar_fit=fit)
            started = time.perf_counter()
            record = train_run(config, args.work / "ar_fit" / f"{name}-{fit}", force=True, quiet=True,
                               echo=lambda _m: None, warn=lambda _m: None)
            model = record["models"]["ar"]
            found[fit] = (model["validation"]["mase"], model["test"]["mase"], time.perf_counter() - started)
            sums[fit] += model["test"]["mase"]
        rows.append(f"| {name} | {found['lstsq'][0]:.4f} | {found['refine'][0]:.4f} | {found['lstsq'][1]:.4f} | "
                    f"{found['refine'][1]:.4f} | {found['lstsq'][2]:.1f} | {found['refine'][2]:.1f} |")
    body = (__doc__.split("\n\n")[1] + "\n\n" + "\n".join(rows) + "\n\nMean test MASE: "
            + ", ".join(f"{fit} {sums[fit] / len(SERIES):.4f}" for fit in FITS)
            + f" ({len(SERIES)} series; built-in: {', '.join(BUILTIN)}).\n")
    write_report("ar_fit", "--ar-fit: least squares vs least squares then closed-loop training",
                 "nice .venv/bin/python benchmarks/ar_fit.py", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
