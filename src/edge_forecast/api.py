"""The desktop Python API: train, export, bench, demo, detect and fleet, as the CLI commands of the same names.

    import edge_forecast as ef
    run = ef.train(out="runs/seed", preset="seed", epochs=50)          # the run directory
    bundle = ef.export(run, out="bundles/seed", quant="float32,int8")  # the bundle directory
    report = ef.bench(bundle, out="reports/seed")                      # the report directory
    ef.Forecaster(bundle, variant="int8").forecast(horizon=20)

Keyword names are the command options' names with underscores (`--batch-size` is `batch_size`;
train's repeatable `--model` is `models`); a list option takes "a,b" or a list or tuple.
Defaults are the CLI's, `quiet=False` included: progress goes to stdout as on the command line,
warnings to stderr as "warning: ..." lines (also when quiet). Bad input is a UserError whose
message begins with the Python argument's name (`quant: unknown quantization mode 'int4'; valid:
...`); the CLI shows its flag instead. A job whose items partly failed (export's artifacts) raises
FailedItems after writing the others; its `path` is the directory written.

This module imports nothing heavy: TensorFlow, Keras and numpy load when a function runs.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from edge_forecast.errors import FailedItems, UserError

# train's options by type, for a clear error from Python (the CLI's click types check the same)
_TRAIN_INTS = ("points", "highway", "window", "units", "epochs", "batch_size", "horizon", "stride",
               "seed", "train_horizon", "stream")
_TRAIN_FLOATS = ("tau", "span", "delay", "signal_noise", "learning_rate", "validation_split",
                 "test_split", "input_noise", "weight_average")
_TRAIN_TEXTS = ("fill", "delimiter", "decimal", "time_format", "agg", "outliers", "ar_fit", "optimizer",
                "scale", "lr_schedule", "select", "normalize", "profile")


def train(
    out: str | Path,
    preset: str | None = None,
    *,
    signal: str | Path | None = None,
    column: str | int | None = None,
    fill: str | None = None,
    delimiter: str | None = None,
    decimal: str | None = None,
    time_column: str | int | None = None,
    time_format: str | None = None,
    resample: str | bool | None = None,
    agg: str | None = None,
    max_gap: str | int | None = None,
    outliers: str | None = None,
    tau: float | None = None,
    points: int | None = None,
    span: float | None = None,
    delay: float | None = None,
    signal_noise: float | None = None,
    models: str | Sequence[str] | None = None,
    highway: int | None = None,
    ar_fit: str | None = None,
    window: int | None = None,
    units: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    optimizer: str | None = None,
    learning_rate: float | None = None,
    validation_split: float | None = None,
    test_split: float | None = None,
    horizon: int | None = None,
    stride: int | None = None,
    season: int | str | Sequence[int] | None = None,
    scale: str | None = None,
    seed: int | None = None,
    train_horizon: int | None = None,
    input_noise: float | None = None,
    weight_average: float | None = None,
    lr_schedule: str | None = None,
    select: str | None = None,
    stream: int | None = None,
    normalize: str | None = None,
    profile: str | None = None,
    force: bool = False,
    quiet: bool = False,
) -> Path:
    """Train forecasters on a signal and save a run directory (`edge-forecast train`); return it.

    None leaves an option to the preset or the default that `edge-forecast train --help` gives;
    `models` takes "rnn,lstm", ["rnn", "lstm"] or "auto"; `season` takes "auto" (found on the
    training part: the default), "none" (or 1), a number of values, "48,336" or [48, 336];
    `resample` "auto", an interval ("30min") or True (auto); `max_gap` a count of values (3) or a
    duration ("2h"); `profile` "auto", "on" or "none" (the training part's mean seasonal profile
    taken out before the models: a timed series with a season only).
    """
    options = dict(locals())
    for name in ("out", "preset", "force", "quiet"):
        options.pop(name)
    _check_types(options, _TRAIN_INTS, _TRAIN_FLOATS, _TRAIN_TEXTS)
    if isinstance(options["resample"], bool):  # the flag of earlier versions: the median interval's grid
        options["resample"] = "auto" if options["resample"] else None
    _text("resample", options["resample"])
    if isinstance(options["max_gap"], numbers.Integral) and not isinstance(options["max_gap"], bool):
        options["max_gap"] = str(int(options["max_gap"]))
    _text("max_gap", options["max_gap"])
    for name in ("column", "time_column"):  # a 0-based index, as the CLI's text would give it
        if isinstance(options[name], int) and not isinstance(options[name], bool):
            options[name] = str(options[name])
    if options["signal"] is not None:
        options["signal"] = str(options["signal"])
    if options["models"] is not None:
        options["models"] = tuple(_names("models", options["models"]))
    from edge_forecast.train.config import build_config

    config = build_config(_text("preset", preset), **options)
    from edge_forecast.train.loop import train_run

    out = _path("out", out)
    record = train_run(config, out, force=force, quiet=quiet, echo=_echo(quiet))
    for warning in record["warnings"]:
        _warn(warning)
    return out


def export(
    source,
    out: str | Path,
    *,
    signal=None,
    column: str | int | Sequence[str | int] | None = None,
    fill: str | None = None,
    time_column: str | int | None = None,
    time_format: str | None = None,
    window: int | None = None,
    scale: str | None = None,
    models: str | Sequence[str] | None = None,
    quant: str | Sequence[str] | None = None,
    calibration_samples: int = 100,
    probe_python: str | Sequence[str] = (),
    graphs: str | Sequence[str] = "window",
    rollout_horizon: int | None = None,
    step_state: str = "inside",
    bias_correction: bool = True,
    tolerance: float | None = None,
    levels: str | Sequence[float] = "80,95",
    force: bool = False,
    quiet: bool = False,
) -> Path:
    """Convert to verified TFLite variants: a bundle (`edge-forecast export`); return the bundle
    directory. `source`: a training run directory, or a user's own Keras model (a .keras or .h5
    file, a SavedModel folder: window and rollout graphs only, or an in-memory keras.Model) with
    the series it forecasts: `signal` (a built-in name, a CSV / .npy path with `column`, or a 1-D
    array), `window` (when the model does not fix it) and
    `scale` (none, standard, minmax, or "OFFSET,SCALE": what the model reads is (x - OFFSET) /
    SCALE). `quant` None: every mode; "auto": every mode converted, then per model the smallest
    within `tolerance` (default 1.5) times float32's closed-loop error kept; `models` None: every
    model of the run. `levels`: the prediction intervals' levels in percent ("80,95", [80, 95]),
    each variant's own from the validation backtest; "none" or [] for none."""
    given = _check_types(locals(), ("calibration_samples", "rollout_horizon", "window"), ("tolerance",),
                         ("step_state", "fill", "time_format", "scale"),
                         required=("calibration_samples", "step_state", "graphs"))
    from edge_forecast.export.exporter import export_bundle, export_model
    from edge_forecast.export.from_model import check_model_file, is_model_path

    echo = _echo(quiet)
    common = dict(quant=_joined("quant", quant), calibration_samples=given["calibration_samples"], force=force,
                  probe_python=tuple(_names("probe_python", probe_python, split=False)), echo=echo,
                  graphs=_joined("graphs", graphs), rollout_horizon=given["rollout_horizon"], step_state=step_state,
                  bias_correction=bias_correction, tolerance=given["tolerance"], levels=_levels(levels))
    if isinstance(column, (list, tuple)):  # several channels: ["a", "b"] or [0, 1], as --column a,b
        column = ",".join(str(c) for c in column)
    reading = {"column": column, "fill": fill, "time_column": time_column, "time_format": time_format}
    in_memory = not isinstance(source, (str, Path))
    if in_memory or is_model_path(_path("source", source)):
        if models is not None:
            raise UserError("models applies to a training run; a model file is one model", "models")
        with _model_file(source) as path:
            check_model_file(path)
            series = _series(signal, reading, path)
            result = export_model(path, _path("out", out), series, window=given["window"], scale=scale, **common)
    else:
        extra = [name for name, value in {"signal": signal, "window": window, "scale": scale, **reading}.items()
                 if value is not None]
        if extra:
            raise UserError(f"{extra[0]} applies to a model file (a .keras or .h5 file, a SavedModel folder), not to "
                            f"the training run {source}, which has its series and window", extra[0])
        result = export_bundle(_path("source", source), _path("out", out), models=_joined("models", models), **common)
    echo(f"bundle saved to {result.bundle} ({len(result.artifacts)} artifacts)")
    _after(result.warnings, result.failures, quiet, "artifact(s)", result.bundle)
    return result.bundle


def _model_file(source):
    """A context with the path of `source` as a model file: the path itself, or an in-memory
    keras.Model saved as NAME.keras in a temporary folder (removed afterwards)."""
    import contextlib

    if isinstance(source, (str, Path)):
        return contextlib.nullcontext(Path(source))
    if not (hasattr(source, "save") and hasattr(source, "layers")):
        raise UserError(f"source must be a run directory, a model file or a keras.Model, got {type(source).__name__}",
                        "source")

    @contextlib.contextmanager
    def saved():
        from edge_forecast.export.from_model import model_name, work_dir

        with work_dir() as tmp:
            path = Path(tmp) / f"{model_name(Path(source.name or 'model'))}.keras"
            source.save(path)
            yield path

    return saved()


def _series(signal, reading: dict, model: Path):
    """The series a model forecasts: an array, a built-in signal's name or a file (signals.Signal)."""
    import numpy as np

    from edge_forecast.signals import Signal

    if signal is None:
        raise UserError(f"signal: the model {model.name} needs the series it forecasts: a file (with column), "
                        "a built-in signal (damped, mackey-glass) or, from Python, an array", "signal")
    if not isinstance(signal, (str, Path)):
        values = np.asarray(signal, dtype=np.float64) if _numeric(signal) else None
        if values is None or values.ndim not in (1, 2):
            raise UserError(f"signal must be a name, a path or an array of numbers (points,) or (points, channels), "
                            f"got {type(signal).__name__}" + ("" if values is None else f" of shape {values.shape}"),
                            "signal")
        given = [k for k, v in reading.items() if v is not None]
        if given:
            raise UserError(f"{given[0]} applies to a signal file, not to an array", given[0])
        if values.ndim == 2 and values.shape[1] == 1:  # one channel, as a column
            values = values[:, 0]
        channels = f" x {values.shape[1]} channels" if values.ndim == 2 else ""
        return Signal(values=values, source=f"array of {len(values)} values{channels} (Python)")
    from edge_forecast.train.config import SignalSpec, check_signal
    from edge_forecast.train.sources import resolve_signal

    texts = {k: (str(v) if v is not None else None) for k, v in reading.items()}
    spec = SignalSpec(name=str(signal), **texts)
    check_signal(spec)
    return resolve_signal(spec)


def _numeric(values) -> bool:
    import numpy as np

    try:
        return np.issubdtype(np.asarray(values).dtype, np.number)
    except (TypeError, ValueError):
        return False


def bench(
    bundle: str | Path,
    out: str | Path,
    *,
    horizon: int | None = None,
    repeats: int = 3,
    runtimes: str | Sequence[str] = "all",
    reference: str | Path | None = None,
    force: bool = False,
    quiet: bool = False,
) -> Path:
    """Benchmark every variant of a bundle on every runtime: report.md, report.json and figures
    (`edge-forecast bench`); return the report directory."""
    given = _check_types(locals(), ("horizon", "repeats"), (), (), required=("repeats", "runtimes"))
    from edge_forecast.bench.runner import bench_bundle

    result = bench_bundle(_path("bundle", bundle), _path("out", out), horizon=given["horizon"],
                          repeats=given["repeats"], runtimes=_joined("runtimes", runtimes),
                          reference=None if reference is None else _path("reference", reference),
                          force=force, echo=_echo(quiet))
    _echo(quiet)(f"report saved to {result.markdown}")
    for warning in result.report.get("warnings", []):
        _warn(warning)
    return result.out


def demo(
    out: str | Path,
    *,
    epochs: int | None = None,
    probe_python: str | Sequence[str] = (),
    force: bool = False,
    quiet: bool = False,
) -> Path:
    """Train, export and bench the built-in signal into OUT/run, OUT/bundle and OUT/report
    (`edge-forecast demo`); return OUT."""
    given = _check_types(locals(), ("epochs",), (), ())
    from edge_forecast.demo import run_demo

    result = run_demo(_path("out", out), epochs=given["epochs"], force=force, quiet=quiet,
                      echo=_echo(quiet),
                      probe_python=tuple(_names("probe_python", probe_python, split=False)))
    return result.out


def detect(
    file: str | Path,
    bundle: str | Path,
    out: str | Path,
    *,
    column: str | int | None = None,
    fill: str | None = None,
    delimiter: str | None = None,
    decimal: str | None = None,
    time_column: str | int | None = None,
    time_format: str | None = None,
    model: str | None = None,
    variant: str | None = None,
    runtime: str = "auto",
    threads: int | None = None,
    graph: str = "auto",
    levels: str | Sequence[float] | None = None,
    threshold: float | None = None,
    aci_rate: float | None = None,
    force: bool = False,
    quiet: bool = False,
):
    """Score every value of a file causally with a bundle's forecaster (`edge-forecast detect`):
    each value against the one-step forecast, adaptive conformal bounds and anomaly score made from
    the values before it alone, as `run --follow --score` would. Writes `out` (CSV) and a PNG beside
    it; prints a summary line; returns the edge_forecast.detect.Detection."""
    given = _check_types(locals(), ("threads",), ("threshold", "aci_rate"),
                         ("fill", "delimiter", "decimal", "time_format", "model", "variant", "runtime", "graph"))
    from edge_forecast.detect import detect_file
    from edge_forecast.edge.anomaly import DEFAULT_RATE, DEFAULT_THRESHOLD, check_rate, check_threshold
    from edge_forecast.tabular import ReadOptions

    threshold = check_threshold(DEFAULT_THRESHOLD if given["threshold"] is None else given["threshold"])
    aci_rate = check_rate(DEFAULT_RATE if given["aci_rate"] is None else given["aci_rate"])
    read = ReadOptions(delimiter=delimiter, decimal=decimal,
                       time_column=None if time_column is None else str(time_column), time_format=time_format)
    found = detect_file(_path("file", file), _path("bundle", bundle), _path("out", out),
                        column=None if column is None else str(column), fill=fill, read=read, model=model,
                        variant=variant, runtime=runtime, threads=given["threads"], graph=graph,
                        levels=None if levels is None else _levels(levels), threshold=threshold,
                        aci_rate=aci_rate, force=force)
    echo = _echo(quiet)
    echo(found.summary())
    echo(f"saved {found.csv}" + (f" and {found.plot}" if found.plot else ""))
    if found.note:
        _warn(found.note)
    return found
def fleet(
    data: str | Path,
    out: str | Path,
    *,
    id_column: str | int | None = None,
    column: str | int | None = None,
    time_column: str | int | None = None,
    time_format: str | None = None,
    delimiter: str | None = None,
    decimal: str | None = None,
    fill: str | None = None,
    resample: bool | None = None,
    models: str | Sequence[str] | None = None,
    window: int | None = None,
    units: int | None = None,
    epochs: int | None = None,
    horizon: int | None = None,
    test_split: float | None = None,
    season: int | str | Sequence[int] | None = None,
    seed: int | None = None,
    quant: str | Sequence[str] = "auto",
    tolerance: float | None = None,
    jobs: int | None = None,
    ray: str | None = None,
    retry_failed: bool = False,
    force: bool = False,
    quiet: bool = False,
) -> Path:
    """One forecaster per sensor (`edge-forecast fleet`): train and export every series of `data`
    (a folder of CSV files, one series each, or one long-format CSV or Parquet file with `id_column`) into
    OUT/bundles/<sensor>, with OUT/manifest.json and a fleet report (fleet.md, fleet.json,
    fleet.png); return OUT. `jobs` worker processes (default: the cores), or Ray: `ray="auto"` (a
    local instance) or a cluster's address. A rerun resumes: sensors finished before are skipped,
    failed ones too unless `retry_failed`. Failed sensors raise FailedItems after the rest was
    written. Train's and export's options of the same names apply to every sensor."""
    given = _check_types(dict(locals()), ("window", "units", "epochs", "horizon", "seed", "jobs"),
                         ("test_split", "tolerance"), ("time_format", "delimiter", "decimal", "fill", "ray"),
                         required=("quant",))
    for name in ("retry_failed", "force", "quiet"):
        if not isinstance(given[name], bool):
            raise UserError(f"{name} must be True or False, got {given[name]!r}", name)
    if resample is not None and not isinstance(resample, bool):
        raise UserError(f"resample must be True, False or None, got {resample!r}", "resample")
    texts = {}
    for name in ("id_column", "column", "time_column"):  # a 0-based index, as the CLI's text would give it
        value = given[name]
        if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int))):
            raise UserError(f"{name} must be a column name or a 0-based index, got {value!r}", name)
        texts[name] = None if value is None else str(value)
    if season is not None and not isinstance(season, str):
        season = ",".join(str(s) for s in ([season] if isinstance(season, numbers.Integral) else season))
    if given["jobs"] is not None and given["jobs"] < 1:
        raise UserError(f"jobs must be at least 1, got {given['jobs']}", "jobs")
    if ray is not None and not ray.strip():
        raise UserError("ray must be 'auto' (a local Ray instance) or a cluster's address (HOST:PORT, ray://HOST:PORT)",
                        "ray")
    from edge_forecast.fleet.engines import default_jobs
    from edge_forecast.fleet.run import Engine, run_fleet
    from edge_forecast.fleet.task import FleetOptions

    options = FleetOptions(
        column=texts["column"], time_column=texts["time_column"], time_format=time_format, delimiter=delimiter,
        decimal=decimal, fill=fill, resample=resample,
        models=_names("models", models) if models else None, window=given["window"], units=given["units"],
        epochs=given["epochs"], horizon=given["horizon"], test_split=given["test_split"], season=season,
        seed=given["seed"], quant=_joined("quant", quant), tolerance=given["tolerance"])
    out = _path("out", out)
    run_fleet(_path("data", data), out, options, Engine(jobs=given["jobs"] or default_jobs(), ray=ray),
              id_column=texts["id_column"], retry_failed=retry_failed, force=force, echo=_echo(quiet),
              progress=(lambda _line: None) if quiet else None)
    return out


def _echo(quiet: bool) -> Callable[[str], None]:
    return (lambda _line: None) if quiet else (lambda line: print(line, flush=True))


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def _after(warnings: list[str], failures: list[str], quiet: bool, what: str, path) -> None:
    """Warnings on stderr when quiet (the progress output has them otherwise; a warning is not
    progress); failures raise FailedItems, after the rest was written."""
    if quiet:
        for warning in warnings:
            _warn(warning)
    if failures:
        raise FailedItems(what, failures, path)


def _path(argument: str, value) -> Path:
    if isinstance(value, (str, Path)) and str(value):
        return Path(value)
    raise UserError(f"{argument} must be a path (str or pathlib.Path), got {value!r}", argument)


def _text(argument: str, value):
    if value is None or isinstance(value, str):
        return value
    raise UserError(f"{argument} must be a string, got {value!r}", argument)


def _names(argument: str, value, split: bool = True) -> list[str]:
    """'a,b', ['a', 'b'] or ('a', 'b') -> ['a', 'b'] (a Path for one Python is a name too)."""
    items = [value] if isinstance(value, (str, Path)) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, (str, Path)) for i in items):
        raise UserError(f"{argument} must be a string or a list of strings, got {value!r}",
                        argument)
    names = [str(i) for i in items]
    if split:
        names = [n for item in names for n in item.split(",")]
    return names


def _levels(value) -> str:
    """'80,95', [80, 95] or (80,) -> '80,95'; [] -> 'none' (intervals.parse_levels reads the text)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                                                for v in value):
        return ",".join(str(int(v)) if float(v).is_integer() else repr(float(v)) for v in value) or "none"
    raise UserError(f"levels must be a string such as '80,95' or a list of numbers, got {value!r}", "levels")


def _joined(argument: str, value) -> str | None:
    return None if value is None else ",".join(_names(argument, value))


def _check_types(values: dict, ints: Sequence[str], floats: Sequence[str], texts: Sequence[str],
                 required: Sequence[str] = ()) -> dict:
    """Whole numbers, finite numbers and strings where the options take them (None: not given,
    except for the `required` ones, which have a default instead); `values` comes back with the
    numbers as int and float (a numpy scalar would not go into a JSON job)."""
    for name in required:
        if values[name] is None:
            raise UserError(f"{name} cannot be None (leave it out for its default)", name)
    for name in ints:  # numbers.Integral: numpy's integers too
        value = values[name]
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise UserError(f"{name} must be a whole number, got {value!r}", name)
        values[name] = int(value)
    for name in floats:
        value = values[name]
        if value is None:
            continue
        number = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise UserError(f"{name} must be a finite number, got {value!r}", name)
        values[name] = float(value)
    for name in texts:
        _text(name, values[name])
    return values

