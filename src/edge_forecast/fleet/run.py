"""The fleet command: read DATA, skip what an earlier run finished, run the rest on an engine,
then write the manifest and the report from every sensor's result record.

OUT holds: fleet-options.json (DATA and the options: a rerun with other options is refused, since
its bundles would not match the finished ones), series/ (a long-format file split per sensor),
runs/<slug>/ (training runs), bundles/<slug>/, results/<slug>.json (one per finished sensor),
locks/, manifest.json, and the report: fleet.md, fleet.json, fleet.png.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from edge_forecast.errors import FailedItems, UserError
from edge_forecast.fleet import engines
from edge_forecast.fleet.manifest import MANIFEST_NAME, write_manifest
from edge_forecast.fleet.progress import Progress, duration
from edge_forecast.fleet.report import FIGURE_NAME, JSON_NAME, MARKDOWN_NAME, RunSummary, write_report
from edge_forecast.fleet.sources import SERIES_DIR, Series, discover
from edge_forecast.fleet.task import (
    BUNDLES_DIR,
    LOCKS_DIR,
    RESULTS_DIR,
    RUNS_DIR,
    FleetOptions,
    SeriesResult,
    SeriesTask,
    finished,
    read_result,
)
from edge_forecast.fsio import read_json, write_json_atomic

STATE_NAME = "fleet-options.json"
STATE_FORMAT = "edge-forecast-fleet"
OUTPUTS = (SERIES_DIR, RUNS_DIR, BUNDLES_DIR, RESULTS_DIR, LOCKS_DIR, MANIFEST_NAME, JSON_NAME, MARKDOWN_NAME,
           FIGURE_NAME, STATE_NAME)


@dataclass(frozen=True)
class Engine:
    """`ray` None: the local pool of `jobs` workers; "auto": a local Ray instance of `jobs` CPUs;
    else the address of a Ray cluster."""

    jobs: int
    ray: str | None = None


def run_fleet(data: Path, out: Path, options: FleetOptions, engine: Engine, *, id_column: str | None = None,
              retry_failed: bool = False, force: bool = False, echo: Callable[[str], None] = print,
              progress: Callable[[str], None] | None = None) -> list[SeriesResult]:
    """Every sensor of DATA trained, exported and recorded under OUT (skipping those finished
    before; with `retry_failed`, also trying again those that failed); the manifest and report
    written; the results returned, sorted by id. Failed sensors raise FailedItems at the end."""
    data, out = Path(data), Path(out)
    if engine.ray is not None:
        engines.import_ray()  # before any work: a missing Ray is a one-line error, not 1,000 failures
    _check_out(data, out)
    state = {"format": STATE_FORMAT, "data": str(data.resolve()), "id_column": id_column,
             "options": options.to_dict()}
    _check_state(out, state, force)
    # DATA and the options are checked before OUT is made or --force clears it: an error leaves
    # nothing behind (a long file's per-sensor copies are written only once all of it was read)
    _check_options(options, data)
    # Ray started or joined before OUT is touched: a cluster that cannot be reached (or refuses the
    # token) is one line with nothing written. A long file's per-sensor copies go to OUT as it is
    # split, so with one the cluster is joined first; a folder is joined only when work remains.
    where = engines.connect_ray(engine.ray, engine.jobs) if engine.ray is not None and data.is_file() else None
    try:
        series, long = discover(data, out, id_column=id_column, column=options.column,
                                time_column=options.time_column, delimiter=options.delimiter,
                                decimal=options.decimal, time_format=options.time_format)
        options = replace(options, column=long.column, time_column=long.time_column)
        if where is None and engine.ray is not None and (
                force or any(_earlier(out, s, retry_failed) is None for s in series)):
            where = engines.connect_ray(engine.ray, engine.jobs)
        return _run(data, out, series, options, state, engine, where, retry_failed, force, echo, progress)
    finally:
        if where is not None:
            engines.disconnect_ray()


def _run(data: Path, out: Path, series: list[Series], options: FleetOptions, state: dict, engine: Engine,
         ray: str | None, retry_failed: bool, force: bool, echo: Callable[[str], None],
         progress: Callable[[str], None] | None) -> list[SeriesResult]:
    """run_fleet's work once DATA is read and the engine is up (`ray`: the line naming Ray's)."""
    if force:
        _clear(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / STATE_NAME, state)
    results: dict[str, SeriesResult] = {}
    todo: list[SeriesTask] = []
    for s in series:
        before = _earlier(out, s, retry_failed)
        if before is not None:
            results[s.id] = before
        else:
            todo.append(SeriesTask(id=s.id, slug=s.slug, signal=str(s.path.resolve()), out=str(out.resolve()),
                                   options=options))
    skipped = len(results)
    where = ray or (f"Ray ({engine.ray}; not started: nothing to do)" if engine.ray
                    else f"a local pool of {engine.jobs} worker{'s' if engine.jobs > 1 else ''}")
    failed_before = sum(not r.done for r in results.values())
    before = f"{skipped - failed_before} finished before" + (
        f", {failed_before} failed before (--retry-failed tries them again)" if failed_before else "")
    echo(f"fleet: {len(series)} sensors" + (f" ({before}; skipped)" if skipped else "")
         + (f"; {len(todo)} to do on {where}" if todo else "; nothing to do"))
    tracker = Progress(len(todo), progress)

    def on_result(result: SeriesResult) -> None:
        results[result.id] = result
        tracker.update(result)

    start = time.perf_counter()
    try:
        if todo and ray is not None:
            engines.run_ray(todo, on_result)
        elif todo:
            engines.run_pool(todo, engine.jobs, on_result)
    finally:  # also after Ctrl-C: what finished is in the manifest and the report
        done = [results[s.id] for s in series if s.id in results]
        write_manifest(out, done)
        summary = RunSummary(data=str(data), engine=where, ran=len(todo), skipped=skipped,
                             seconds=time.perf_counter() - start)
        report = write_report(out, done, summary)
    failures = [r for r in done if not r.done]
    echo(f"fleet report saved to {report}: {len(done) - len(failures)} bundles, {len(failures)} failed, "
         f"{len(series) - len(done)} not run; {len(todo)} sensors in {duration(summary.seconds)}")
    if failures:
        raise FailedItems("sensor(s)", [f"{r.id}: {r.reason}" for r in failures], out)
    return sorted(done, key=lambda r: r.id)


def _earlier(out: Path, series: Series, retry_failed: bool) -> SeriesResult | None:
    """The sensor's result from an earlier run when it stands (finished, or failed without
    --retry-failed); None: the sensor is to do."""
    before = read_result(out, series.slug)
    if before is not None and before.id == series.id and (finished(out, before)
                                                          or not (before.done or retry_failed)):
        return before
    return None


def _check_out(data: Path, out: Path) -> None:
    """OUT inside a DATA folder is fine (only the folder's own *.csv files are series); OUT that
    is DATA or holds it is not (--force would delete it)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"out: {out} is a file, not a directory", "out")
    target, source = out.resolve(), data.resolve()
    if target == source or target in source.parents:
        raise UserError(f"out: {out} holds the data {data}; choose another directory", "out")


def _check_state(out: Path, state: dict, force: bool) -> None:
    """A rerun must be the same fleet (same DATA, same options): its finished sensors are kept."""
    path = out / STATE_NAME
    if not out.exists() or not any(out.iterdir()):
        return
    if not path.is_file():
        raise UserError(f"out: {out} exists and is not a fleet directory (no {STATE_NAME}); choose another --out",
                        "out")
    if force:
        return
    before = read_json(path)
    if before != state:
        changed = [k for k in ("data", "id_column") if before.get(k) != state[k]]
        old, new = before.get("options") or {}, state["options"]
        changed += [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        raise UserError(f"out: {out} holds a fleet made with other settings ({', '.join(changed) or 'format'}); "
                        "run with the same ones to resume, or pass --force to start again", "out")


def _clear(out: Path) -> None:
    """--force: remove what a fleet writes (nothing else in OUT), but for the per-sensor copies of
    a long file just written (series/)."""
    for name in (n for n in OUTPUTS if n != SERIES_DIR):
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _check_options(options: FleetOptions, data: Path) -> None:
    """Train's and export's options checked once, before any work (else every sensor fails alike)."""
    from edge_forecast.errors import parse_choices
    from edge_forecast.export.auto import AUTO, check_tolerance
    from edge_forecast.export.modes import QuantMode
    from edge_forecast.train.config import build_config

    build_config(None, signal=str(data), **options.train_options())  # the file is read later, per sensor
    modes = parse_choices([options.quant], [*(m.value for m in QuantMode), AUTO], "quantization mode", (AUTO,),
                          "quant")
    check_tolerance(options.tolerance, AUTO in modes)
