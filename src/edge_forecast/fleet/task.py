"""One sensor's work, the same function under every engine: train, pick the model, export, record.

`run_series(task)` never raises for a sensor's own trouble (a file the reader refuses, a series too
short or constant, a training or conversion crash): it returns a failed `SeriesResult` with one
line. What it finished is on disk before it returns: the run under OUT/runs/<slug>, the bundle
under OUT/bundles/<slug> (both written by train / export through fsio.staged_dir: one rename),
then OUT/results/<slug>.json (fsio.write_json_atomic). A result record is the mark of a finished
series; a rerun skips the sensors that have one (fleet/__init__.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from edge_forecast.contracts.schema import Contract, ContractError
from edge_forecast.errors import FailedItems, UserError
from edge_forecast.fsio import read_json, sha256_file, write_json_atomic

RUNS_DIR, BUNDLES_DIR, RESULTS_DIR, LOCKS_DIR = "runs", "bundles", "results", "locks"
DONE, FAILED = "done", "failed"
# Each worker trains on one core: TensorFlow's thread pools (read when TensorFlow starts, in the
# worker and in export's converter children, which inherit the environment) and OpenMP's. N
# workers then use N cores instead of each spreading over all of them.
ONE_THREAD_ENV = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1",
                  "TF_CPP_MIN_LOG_LEVEL": "2"}
REASON_CHARS = 400
MEASURED = ("seconds", "step_us", "bundle_bytes")


@dataclass(frozen=True)
class FleetOptions(Contract):
    """What every sensor is trained and exported with: train's and export's options of the same
    names (None: their defaults). The reading options apply to each series file."""

    column: str | None = None
    time_column: str | None = None
    time_format: str | None = None
    delimiter: str | None = None
    decimal: str | None = None
    fill: str | None = None
    resample: bool | None = None
    models: list[str] | None = None
    window: int | None = None
    units: int | None = None
    epochs: int | None = None
    horizon: int | None = None
    test_split: float | None = None
    season: str | None = None
    seed: int | None = None
    quant: str = "auto"
    tolerance: float | None = None

    def train_options(self) -> dict:
        names = ("column", "time_column", "time_format", "delimiter", "decimal", "fill", "resample", "models",
                 "window", "units", "epochs", "horizon", "test_split", "season", "seed")
        return {name: getattr(self, name) for name in names}


@dataclass(frozen=True)
class SeriesTask(Contract):
    """One sensor to do: its id, its directory name under OUT and the file its series is in."""

    id: str
    slug: str
    signal: str
    out: str
    options: FleetOptions


@dataclass(frozen=True)
class SeriesResult(Contract):
    """What became of one sensor (OUT/results/<slug>.json; a row of the fleet report).

    `mase`: the chosen model's test MASE; `baselines`: each baseline's test MASE on the same
    origins (seasonal_naiveN for each season found, persistence, drift, ar20); `naive`: the name
    of the one the report compares with (the primary season's seasonal naive, persistence where
    no season was found: seasonal naive with a season of one value)."""

    id: str
    slug: str
    status: str
    seconds: float
    reason: str | None = None
    model: str | None = None
    variant: str | None = None  # the quantization mode kept (export --quant auto)
    file: str | None = None  # the variant's .tflite file in the bundle
    sha256: str | None = None  # of that file
    bundle: str | None = None  # the bundle directory, relative to OUT
    bundle_bytes: int | None = None  # every file of the bundle directory
    variant_bytes: int | None = None
    step_us: float | None = None  # one invoke (one step) of the variant: export's median on ai-edge-litert
    mase: float | None = None
    baselines: dict[str, float | None] = field(default_factory=dict)
    naive: str | None = None
    season: int | None = None
    points: int | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.status == DONE

    @property
    def naive_mase(self) -> float | None:
        return self.baselines.get(self.naive) if self.naive else None

    def outcome(self) -> dict:
        """The result without what is measured on the run (wall time, export's invoke time, and the
        bundle's size: bundle.json records dates and conversion times): what an engine must not change."""
        return {k: v for k, v in self.to_dict().items() if k not in MEASURED}


def result_path(out: Path, slug: str) -> Path:
    return Path(out) / RESULTS_DIR / f"{slug}.json"


def read_result(out: Path, slug: str) -> SeriesResult | None:
    """The sensor's recorded result, or None (no record, or one that cannot be read: redo it)."""
    path = result_path(out, slug)
    if not path.is_file():
        return None
    try:
        return SeriesResult.from_dict(read_json(path))
    except (UserError, ContractError):
        return None


def finished(out: Path, result: SeriesResult | None) -> bool:
    """A done result whose variant file is still there with its recorded checksum."""
    if result is None or not result.done or not result.bundle or not result.file:
        return False
    path = Path(out) / result.bundle / result.file
    return path.is_file() and sha256_file(path) == result.sha256


def run_series(task: SeriesTask) -> SeriesResult:
    """Train, export and record one sensor (a worker's entry: the pool's and Ray's). A sensor
    another process is already on (a worker left running by a killed fleet) is waited for, then
    its result taken when it finished."""
    out = Path(task.out)
    with _locked(out / LOCKS_DIR / f"{task.slug}.lock"):
        before = read_result(out, task.slug)
        if finished(out, before):
            return before
        _remove_leftovers(out, task.slug)
        start = time.perf_counter()
        try:
            result = _train_and_export(task, start)
        except (UserError, FailedItems) as exc:
            result = _failed(task, start, str(exc))
        except Exception as exc:  # a crash inside train or export: the sensor fails, the fleet goes on
            result = _failed(task, start, f"{type(exc).__name__}: {exc}")
        path = result_path(out, task.slug)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, result.to_dict())
        return result


def failed_result(task: SeriesTask, reason: str, seconds: float = 0.0) -> SeriesResult:
    """A failure the engine saw (a worker that died) rather than the task."""
    return SeriesResult(id=task.id, slug=task.slug, status=FAILED, seconds=round(seconds, 3), reason=one_line(reason))


def one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= REASON_CHARS else line[:REASON_CHARS - 3] + "..."


def _failed(task: SeriesTask, start: float, reason: str) -> SeriesResult:
    return failed_result(task, reason, time.perf_counter() - start)


def _train_and_export(task: SeriesTask, start: float) -> SeriesResult:
    """What edge_forecast.api.train and .export do (the same library calls, with their defaults),
    called directly: fleet sits below the Python API in the import layers (tests/repo/test_imports.py),
    and the warnings are kept in the result rather than printed by every worker."""
    from edge_forecast.export.exporter import export_bundle
    from edge_forecast.train.config import build_config
    from edge_forecast.train.loop import train_run

    out, options = Path(task.out), task.options
    run_dir, bundle_dir = out / RUNS_DIR / task.slug, out / BUNDLES_DIR / task.slug
    warnings: list[str] = []
    train = options.train_options()
    if train["models"] is not None:
        train["models"] = tuple(train["models"])
    config = build_config(None, signal=task.signal, **train)
    # the reader's notes stay off the workers' stderr; a log put on a grid unasked is kept as a warning
    record = train_run(config, run_dir, force=True, quiet=True, echo=_silent, warn=warnings.append, note=_silent)
    warnings += record["warnings"]
    if record["signal"].get("regridded"):
        warnings.append(record["signal"]["regridded"])
    model = _pick_model(record)
    exported = export_bundle(run_dir, bundle_dir, models=model, quant=options.quant, tolerance=options.tolerance,
                             force=True, echo=_silent)
    warnings += exported.warnings
    if exported.failures:  # some variants failed; the bundle holds the others, when any verified
        if exported.bundle is None or not (bundle_dir / "bundle.json").is_file():
            raise UserError(f"export failed: {'; '.join(exported.failures)}")
        warnings.append(f"{len(exported.failures)} variant(s) failed: {'; '.join(exported.failures)}")
    bundle = read_json(bundle_dir / "bundle.json")
    entry = bundle["models"][model]
    variant = _chosen_variant(entry)
    if variant is None:
        raise UserError(f"export kept no window variant of {model}")
    file = entry["variants"][variant]["file"]
    test = record["models"][model].get("test") or {}
    mase_scale = record.get("mase_scale") or {}
    season = mase_scale.get("season")
    baselines = {name: (b.get("test") or {}).get("mase") for name, b in (record.get("baselines") or {}).items()}
    naive = f"seasonal_naive{season}" if f"seasonal_naive{season}" in baselines else "persistence"
    candidates = (entry.get("quant_auto") or {}).get("candidates") or {}
    return SeriesResult(
        id=task.id, slug=task.slug, status=DONE, seconds=round(time.perf_counter() - start, 3), model=model,
        variant=entry["variants"][variant].get("mode", variant), file=file,
        sha256=sha256_file(bundle_dir / file), bundle=f"{BUNDLES_DIR}/{task.slug}",
        bundle_bytes=sum(p.stat().st_size for p in bundle_dir.rglob("*") if p.is_file()),
        variant_bytes=(bundle_dir / file).stat().st_size, step_us=(candidates.get(variant) or {}).get("invoke_us"),
        mase=test.get("mase"), baselines=baselines, naive=naive if naive in baselines else None, season=season,
        points=(record.get("signal") or {}).get("points"),
        warnings=[one_line(w) for w in warnings])


def _silent(_line: str) -> None:
    pass


def _pick_model(record: dict) -> str:
    """The model with the lowest validation backtest RMSE (the test segment stays unseen by the
    choice, as train's own selection leaves it); the first one without a validation score."""
    models = record["models"]

    def score(name: str) -> float:
        value = (models[name].get("validation") or {}).get("rmse")
        return float("inf") if value is None else value

    return min(models, key=score)


def _chosen_variant(entry: dict) -> str | None:
    """The window variant export kept: quant auto's choice, else the first window variant."""
    variants = entry.get("variants") or {}
    chosen = (entry.get("quant_auto") or {}).get("chosen")
    if chosen in variants:
        return chosen
    window = [key for key, v in variants.items() if v.get("graph", "window") == "window"]
    return window[0] if window else None


def _remove_leftovers(out: Path, slug: str) -> None:
    """Staging directories of train and export (fsio.staged_dir: .NAME.partial-*, .NAME.old-*) that a
    worker killed mid-write left behind; under the sensor's lock no one else is writing them."""
    for folder in (out / RUNS_DIR, out / BUNDLES_DIR):
        for pattern in (f".{slug}.partial-*", f".{slug}.old-*"):
            for path in folder.glob(pattern):
                shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on the sensor while this process works on it; the kernel drops it when
    the process dies, so a killed worker leaves no stale lock (no lock where fcntl is missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
