"""Loading a 1,000,000-row CSV: edge_forecast.tabular against numpy.loadtxt and the csv module.

Each reader runs in a fresh child process that times its own load (perf_counter around the call)
and reports its own peak memory, VmHWM from /proc/self/status (ru_maxrss would include the
parent's: it survives fork and exec). "python + numpy only" is the floor every
child starts from. Median of --repeats runs.

    python benchmarks/reader.py [--rows 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_report  # noqa: E402

CHILD = r"""
import json, sys, time
import numpy as np
kind, path = sys.argv[1], sys.argv[2]
started = time.perf_counter()
if kind == "tabular":
    from edge_forecast.tabular import read_column
    values = read_column(path).values
elif kind == "tabular-timed":
    from edge_forecast.tabular import ReadOptions, read_column
    col = read_column(path, ReadOptions(column="temp"))
    values = col.values
elif kind == "loadtxt":
    values = np.loadtxt(path, skiprows=1, dtype=np.float64)
elif kind == "csv":
    import csv
    with open(path, newline="") as fh:
        rows = csv.reader(fh)
        next(rows)
        values = np.array([float(r[0]) for r in rows])
else:
    values = np.zeros(1)
seconds = time.perf_counter() - started
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"seconds": seconds, "peak_mib": hwm / 1024, "n": int(values.size), "sum": float(np.nansum(values))}))
"""

ROWS = [
    ("python + numpy only (the floor)", "floor", "one"),
    ("edge_forecast.tabular.read_column", "tabular", "one"),
    ("numpy.loadtxt (baseline)", "loadtxt", "one"),
    ("csv module + float() (baseline)", "csv", "one"),
    ("edge_forecast.tabular, `;` + ISO time + decimal comma", "tabular-timed", "timed"),
]


def write_files(folder: Path, rows: int) -> dict[str, Path]:
    values = [f"{20 + (i % 1000) / 100:.2f}" for i in range(rows)]
    one = folder / "one.csv"
    one.write_text("temp\n" + "\n".join(values) + "\n")
    t0 = dt.datetime(2024, 1, 1)
    timed = folder / "timed.csv"
    with open(timed, "w") as fh:
        fh.write("time;temp\n")
        for i, v in enumerate(values):
            fh.write(f"{(t0 + dt.timedelta(seconds=10 * i)).isoformat()};{v.replace('.', ',')}\n")
    return {"one": one, "timed": timed}


def run_child(kind: str, path: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, kind, str(path)], capture_output=True, text=True,
                          timeout=600, check=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = write_files(Path(tmp), args.rows)
        sizes = {k: p.stat().st_size / 2**20 for k, p in files.items()}
        results = []
        for label, kind, file in ROWS:
            runs = [run_child(kind, files[file]) for _ in range(args.repeats)]
            if kind != "floor":
                assert all(r["n"] == args.rows for r in runs), runs
            results.append((label, file, statistics.median(r["seconds"] for r in runs),
                            statistics.median(r["peak_mib"] for r in runs), runs[0]["sum"]))
    base = next(r for r in results if r[0].startswith("numpy.loadtxt"))
    lines = ["| reader | file | load (s) | peak VmHWM (MiB) | time vs loadtxt |", "|---|---|---:|---:|---:|"]
    for label, file, seconds, peak, _ in results:
        ratio = f"{seconds / base[2]:.2f}x" if not label.startswith("python") else ""
        shown = f"{seconds:.3f}" if not label.startswith("python") else "-"
        lines.append(f"| {label} | {file} | {shown} | {peak:.1f} | {ratio} |")
    sums = {r[4] for r in results if r[1] == "one" and not r[0].startswith("python")}
    body = (f"{args.rows:,} rows; `one`: a header and one column (`{sizes['one']:.1f} MiB`), `timed`: ISO 8601 "
            f"time and a decimal-comma value separated by `;` (`{sizes['timed']:.1f} MiB`). Median of "
            f"{args.repeats} fresh processes each; load time measured inside the child around the call; peak "
            "memory is the child's own VmHWM (whole process, interpreter and numpy included).\n\n"
            + "\n".join(lines)
            + f"\n\nThe three readers of `one` agree on the values (sum equal: {len(sums) == 1}). "
            "The target of issue #11: under 5 s and under 200 MiB for the one-column file.")
    write_report("reader", "Reading a 1,000,000-row CSV", "python benchmarks/reader.py", body)


if __name__ == "__main__":
    main()
