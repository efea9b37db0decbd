"""`edge-forecast fleet` scaling: real sensor series through the local pool (1 and 2 workers) and a
local Ray instance (2 CPUs), as a user runs the command (a fresh process per configuration).

The series: NAB's CSV files (`data/<group>/<file>.csv`, timestamp,value) and the seven channels of
ETDataset's ETTh1 and ETTh2 (hourly, `date` then one column per channel), each cut into
consecutive pieces of `--length` rows (the cells copied as they are), taken in turns (first piece
of every source, then the second, ...; NAB and ETT interleaved) until `--series` are chosen.

Per configuration: wall time of the command, series per minute, its time to the first line (the
engine's start: workers spawned, or Ray started), the peak memory of each worker (its RSS with its
children's: export's converter processes), sampled with psutil every 0.5 s. Then the speed-up
from 1 to 2 workers, Ray's overhead against the pool at 2, and a projection for 10,000 sensors on
N nodes from the measured cost per series (labelled a projection: it assumes each node runs as
this machine did and that the shared file system keeps up).

    NAB_ROOT=/work/data/NAB ETT_ROOT=/work/data/ETT nice -n 19 .venv/bin/python benchmarks/fleet_scaling.py \\
        [--series 200] [--length 1000] [--fleet-args "--model ar"] [--configs pool1,pool2,ray2] [--name fleet_scaling]

Writes benchmarks/results/<name>.md and <name>.json (the command and the date in both).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, host_line  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ETT_FILES = ("ETTh1.csv", "ETTh2.csv")
CONFIGS = {"pool1": (1, False), "pool2": (2, False), "ray2": (2, True)}
# read every series the same way: NAB files have a few missing or shifted readings, which the
# reader refuses without a grid (the benchmark measures throughput, not the refusals)
READING = ("--resample", "--fill", "interpolate")
PROJECTED_SENSORS = 10_000
PROJECTED_NODES = (1, 4, 16, 64)


@dataclass
class Source:
    name: str  # e.g. nab-realTweets-Twitter_volume_AAPL, etth1-OT
    header: list[str]
    rows: list[list[str]]  # time, value cells as the file has them


@dataclass
class Measured:
    config: str
    workers: int
    engine: str
    exit_code: int
    wall_seconds: float
    first_line_seconds: float | None
    done: int
    failed: int
    series_per_minute: float
    worker_peak_mib: list[float] = field(default_factory=list)
    tree_peak_mib: float = 0.0
    failures: list[str] = field(default_factory=list)


def nab_sources(root: Path) -> list[Source]:
    out = []
    for path in sorted((root / "data").glob("*/*.csv")):
        with open(path, newline="") as fh:
            header, *rows = list(csv.reader(fh))
        out.append(Source(f"nab-{path.parent.name}-{path.stem}", header[:2], [r[:2] for r in rows if r]))
    return out


def ett_sources(root: Path) -> list[Source]:
    out = []
    for name in ETT_FILES:
        path = root / name
        if not path.is_file():
            continue
        with open(path, newline="") as fh:
            header, *rows = list(csv.reader(fh))
        for i, channel in enumerate(header[1:], start=1):
            cells = [[r[0], r[i]] for r in rows if r]
            out.append(Source(f"{path.stem.lower()}-{channel}", [header[0], channel], cells))
    return out


def interleave(a: list, b: list) -> list:
    """a0, b0, a1, b1, ... (then the rest of the longer), so that a few series hold both kinds."""
    out = []
    for i in range(max(len(a), len(b))):
        out += [x[i] for x in (a, b) if i < len(x)]
    return out


def write_series(sources: list[Source], count: int, length: int, folder: Path) -> list[str]:
    """Piece k of every source in turn, until `count`; each piece `length` rows, as its own CSV file."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    names: list[str] = []
    piece = 0
    while len(names) < count:
        took = False
        for source in sources:
            rows = source.rows[piece * length:(piece + 1) * length]
            if len(rows) < length:
                continue
            took = True
            name = f"{source.name}-p{piece}"
            with open(folder / f"{name}.csv", "w", newline="") as fh:
                writer = csv.writer(fh, lineterminator="\n")
                writer.writerow(source.header)
                writer.writerows(rows)
            names.append(name)
            if len(names) == count:
                break
        if not took:
            raise SystemExit(f"only {len(names)} pieces of {length} rows in the sources; lower --series or --length")
        piece += 1
    return names


def _tree(pid: int):
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _rss(process) -> int:
    import psutil

    try:
        return process.memory_info().rss
    except psutil.Error:
        return 0


def _is_worker(process) -> bool:
    """A pool worker (python -c "...spawn_main(...)") or a Ray worker (its title ray::IDLE,
    ray::run_series; before it is set, python .../default_worker.py). By the process's own program
    and script, not anywhere in its command line: the raylet's names default_worker.py too."""
    import psutil

    try:
        args = process.cmdline()
    except psutil.Error:
        return False
    if not args:
        return False
    if args[0].startswith("ray::"):
        return True
    code = args[args.index("-c") + 1] if "-c" in args[:-1] else ""  # python -B -c "from ... spawn_main(...)"
    script = next((a for a in args[1:] if not a.startswith("-")), "")
    return "spawn_main(" in code or script.endswith("default_worker.py")


class Sampler:
    """Every `every` s: each worker's RSS with its descendants' (by worker pid), and the tree's total."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        self.pid, self.every = pid, every
        self.workers: dict[int, int] = {}
        self.tree = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            tree = _tree(self.pid)
            self.tree = max(self.tree, sum(_rss(p) for p in tree))
            for process in tree:
                if _is_worker(process):
                    try:
                        own = [process, *process.children(recursive=True)]
                    except psutil.Error:
                        continue
                    total = sum(_rss(p) for p in own)
                    self.workers[process.pid] = max(self.workers.get(process.pid, 0), total)
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_config(config: str, folder: Path, out: Path, fleet_args: list[str]) -> Measured:
    workers, ray = CONFIGS[config]
    if out.exists():
        shutil.rmtree(out)
    command = [sys.executable, "-m", "edge_forecast", "fleet", str(folder), "--out", str(out), "--jobs",
               str(workers), *(["--ray", "auto"] if ray else []), *READING, *fleet_args]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    print(f"{config}: {' '.join(command)}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = Sampler(proc.pid)
    first: list[float] = []

    def watch() -> None:  # the command's first line comes once the engine is up (Ray: started)
        for _line in proc.stdout:
            if not first:
                first.append(time.perf_counter() - started)

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    stderr = proc.stderr.read()
    proc.wait()
    wall = time.perf_counter() - started
    sampler.stop()
    reader.join(timeout=5)
    for line in stderr.splitlines():
        if line.startswith("["):
            print(f"  {line}", file=sys.stderr, flush=True)
    report = json.loads((out / "fleet.json").read_text()) if (out / "fleet.json").is_file() else {}
    results = report.get("results", [])
    done = sum(r["status"] == "done" for r in results)
    failed = [f"{r['id']}: {r['reason']}" for r in results if r["status"] != "done"]
    if not results:
        failed = [stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {proc.returncode}"]
    # the largest per worker (Ray also keeps idle workers of a few dozen MiB)
    peaks = sorted((round(v / 2**20) for v in sampler.workers.values()), reverse=True)
    return Measured(config=config, workers=workers, engine=(report.get("run") or {}).get("engine", "?"),
                    exit_code=proc.returncode, wall_seconds=round(wall, 1),
                    first_line_seconds=round(first[0], 1) if first else None, done=done, failed=len(failed),
                    series_per_minute=round((done + len(failed)) / wall * 60, 3),
                    worker_peak_mib=peaks[:workers],
                    tree_peak_mib=round(sampler.tree / 2**20), failures=failed)


def summarize(measured: dict[str, Measured], count: int, cores: int) -> dict:
    out: dict = {}
    if "pool1" in measured and "pool2" in measured:
        speedup = measured["pool2"].series_per_minute / measured["pool1"].series_per_minute
        out["speedup_pool_2_vs_1"] = round(speedup, 2)
        out["speedup_per_worker"] = round(speedup / 2, 2)
    if "pool2" in measured and "ray2" in measured:
        pool, ray = measured["pool2"], measured["ray2"]
        out["ray_overhead_wall_fraction"] = round(ray.wall_seconds / pool.wall_seconds - 1, 3)
        if ray.first_line_seconds is not None and pool.first_line_seconds is not None:
            out["ray_start_extra_seconds"] = round(ray.first_line_seconds - pool.first_line_seconds, 1)
    # cost per series in worker-seconds (wall x workers / series), from the 2-worker runs: what a
    # node of this machine's kind sustains; a cluster runs Ray, so Ray's run is the basis when measured
    basis = next((measured[c] for c in ("ray2", "pool2", "pool1") if c in measured), None)
    if basis is not None:
        cost = basis.wall_seconds * basis.workers / count
        out["projection"] = {
            "basis": basis.config, "worker_seconds_per_series": round(cost, 2), "cores_per_node": cores,
            "sensors": PROJECTED_SENSORS,
            "hours_by_nodes": {n: round(PROJECTED_SENSORS * cost / (n * cores) / 3600, 2) for n in PROJECTED_NODES}}
    return out


def markdown(doc: dict) -> str:
    m = doc["measured"]
    lines = [
        f"{doc['label']}", "",
        f"{doc['series']} series of {doc['length']} rows ({doc['sources']}); every configuration ran "
        f"`edge-forecast fleet` with `{' '.join(READING + tuple(doc['fleet_args']))}` (the fleet's defaults "
        "otherwise); load average before and after: "
        f"{doc['load_before']} / {doc['load_after']} (the machine is shared: other jobs ran).", "",
        "| configuration | engine | wall (s) | to first line (s) | done | failed | series/min | "
        "peak per worker (MiB, with its children) | peak of the whole tree (MiB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in m.values():
        peaks = ", ".join(map(str, r["worker_peak_mib"])) or "-"
        lines.append(f"| {r['config']} | {r['engine']} | {r['wall_seconds']} | {r['first_line_seconds']} | "
                     f"{r['done']} | {r['failed']} | {r['series_per_minute']} | {peaks} | {r['tree_peak_mib']} |")
    s = doc["summary"]
    lines.append("")
    if "speedup_pool_2_vs_1" in s:
        lines.append(f"- Speed-up, pool 2 workers over 1: {s['speedup_pool_2_vs_1']}x "
                     f"({s['speedup_per_worker']} per worker).")
    if "ray_overhead_wall_fraction" in s:
        lines.append("- Ray (local instance, 2 CPUs) against the pool of 2: wall time "
                     f"{s['ray_overhead_wall_fraction']:+.1%}"
                     + (f"; its start takes {s['ray_start_extra_seconds']:+} s more to the first line"
                        if "ray_start_extra_seconds" in s else "") + ".")
    if "projection" in s:
        p = s["projection"]
        nodes = ", ".join(f"{n} node(s): {h} h" for n, h in p["hours_by_nodes"].items())
        lines.append(f"- **Projection, not a measurement**: {p['sensors']:,} sensors at the measured "
                     f"{p['worker_seconds_per_series']} worker-seconds per series ({p['basis']} run, this "
                     f"configuration), nodes of {p['cores_per_node']} cores each as busy as this one: {nodes}. "
                     "It assumes the cost per series stays as measured (series of the same length and training "
                     "options) and that the shared file system and Ray's scheduler keep up.")
    for r in m.values():
        if r["failures"]:
            lines.append(f"- {r['config']} failures: " + "; ".join(r["failures"][:5]))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nab", type=Path, default=Path(os.environ.get("NAB_ROOT", "/work/data/NAB")),
                        help="NAB's root (data/<group>/<file>.csv) [env NAB_ROOT]")
    parser.add_argument("--ett", type=Path, default=Path(os.environ.get("ETT_ROOT", "/work/data/ETT")),
                        help="the folder of ETTh1.csv and ETTh2.csv [env ETT_ROOT]")
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--length", type=int, default=1000, help="rows per series")
    parser.add_argument("--fleet-args", default="", help='train / export options passed to fleet, e.g. "--model ar"')
    parser.add_argument("--configs", default="pool1,pool2,ray2", help=f"of {', '.join(CONFIGS)}")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "edge-forecast-fleet-scaling",
                        help="where the series and the fleets are written (replaced on each run)")
    parser.add_argument("--name", default="fleet_scaling", help="report name under benchmarks/results/")
    parser.add_argument("--label", default="", help="a line saying what kind of run this is (e.g. a small validation)")
    args = parser.parse_args()
    configs = [c for c in args.configs.split(",") if c]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration(s) {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
    nab, ett = nab_sources(args.nab), ett_sources(args.ett)
    if not nab and not ett:
        parser.error(f"no series: neither {args.nab}/data/<group>/*.csv nor {args.ett}/ETTh1.csv were found")
    folder = args.work / "series"
    names = write_series(interleave(nab, ett), args.series, args.length, folder)
    fleet_args = shlex.split(args.fleet_args)
    command = ("nice -n 19 .venv/bin/python benchmarks/fleet_scaling.py "
               + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    load_before = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    measured = {c: run_config(c, folder, args.work / f"out-{c}", fleet_args) for c in configs}
    cores = os.cpu_count() or 1
    kinds = f"{sum(n.startswith('nab-') for n in names)} NAB pieces, {sum(not n.startswith('nab-') for n in names)} " \
            f"ETT channel pieces"
    doc = {"label": args.label or f"{args.series} series, {', '.join(configs)}.", "command": command, "date": date,
           "host": host_line(), "series": len(names), "length": args.length, "sources": kinds, "names": names,
           "fleet_args": fleet_args, "reading_args": list(READING), "load_before": load_before,
           "load_after": ", ".join(f"{x:.1f}" for x in os.getloadavg()),
           "measured": {c: asdict(r) for c, r in measured.items()},
           "summary": summarize(measured, len(names), cores)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    body = markdown(doc)
    text = (f"# Fleet scaling\n\nRegenerate: `{command}`\n\nHost: {doc['host']}\n\nMeasured: {date}\n\n{body}\n")
    (RESULTS / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
