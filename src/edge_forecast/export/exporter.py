"""`edge-forecast export`: a training run -> a verified, self-describing device bundle."""

from __future__ import annotations

import datetime as dt
import json
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_forecast.bundle import truth_figure, truth_key
from edge_forecast.children import run_job
from edge_forecast.contracts.bundle import (
    ABSENT,
    BUNDLE_FILE,
    BundleDocument,
    Evaluation,
    ForecasterShape,
    GraphKind,
    Intervals,
    ModelEntry,
    RuntimeRecord,
    TensorSpec,
    VariantEntry,
    VariantId,
)
from edge_forecast.contracts.jobs import ConvertJob, IntervalJob, ProbeJob, VerifyItem, VerifyJob
from edge_forecast.contracts.run_record import Backtest, ModelRecord, RunRecord
from edge_forecast.edge.runtime import MICRO, Runtime, available_runtimes, runtime_version
from edge_forecast.edge.step import STATE_KEPT
from edge_forecast.errors import UserError, choice_error, parse_choices
from edge_forecast.evaluation import FLOAT32_EXACT, Plan, plan_origins
from edge_forecast.export.auto import Candidate, check_tolerance, choose, parse_quant
from edge_forecast.export.from_model import SAVED_MODEL, USER_KINDS
from edge_forecast.export.modes import CLOSED_LOOP_RATIO_WARN, QuantMode
from edge_forecast.export.ops import float_islands
from edge_forecast.export.verify import Verification, from_json
from edge_forecast.forecast import rmse
from edge_forecast.fsio import check_output_dir, sha256_file, staged_dir, write_json_atomic
from edge_forecast.intervals import conformal_intervals, min_origins, parse_levels, unavailable
from edge_forecast.intervals import summary as interval_summary
from edge_forecast.normalization import Normalization, OriginMap
from edge_forecast.profile import SeasonalProfile
from edge_forecast.run_record import load_run
from edge_forecast.signals import Scaler, make_windows
from edge_forecast.version import __version__

CONVERT_TIMEOUT_S = 600.0
VERIFY_TIMEOUT_S = 300.0  # one artifact's checks: load, ~300 one-step windows, a 180-step closed loop
PROBE_TIMEOUT_S = 60.0
INTERVAL_TIMEOUT_S = 300.0  # one variant's validation backtest: up to 1,000 origins x (W + H) invokes
MAX_EVAL_STEPS = 1000
GRAPH_MODES = (QuantMode.FLOAT32, QuantMode.INT8)  # the modes step / rollout / stream graphs come in


@dataclass
class ExportResult:
    bundle: Path | None
    artifacts: list[dict] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # "<model> <variant>: ..." (also echoed)


@dataclass
class _Data:
    """Everything derived from the run that conversion and verification need (model units)."""

    record: RunRecord
    series: np.ndarray
    scaler: Scaler
    window: int
    steps: int
    work: Path
    rollout_horizon: int = 0
    step_state: str = "inside"  # where step / stream graphs keep their state (graph_convert.STATE_KEPT)
    bias_correction: bool = True  # full-integer window and rollout graphs: the output's mean error taken out
    start: int = 0  # the first evaluated value (the test segment's start); the context window ends there
    norm: Normalization = field(default_factory=Normalization)
    # each one-step evaluation window's own map (location, scale), (steps, 1) each
    eval_map: tuple[np.ndarray, np.ndarray] | None = None
    quant_auto: float | None = None  # --quant auto's tolerance: keep one mode per model (export/auto.py)
    levels: tuple[float, ...] = ()  # --levels: the intervals' levels (percent); () none
    profiled: Profiled | None = None  # a run with a seasonal profile: `series` is its residual

    @property
    def context_window(self) -> np.ndarray:
        return self.series[self.start - self.window : self.start]

    @property
    def origin(self) -> OriginMap:
        """The context window's map (signal units <-> model input units): every closed loop that
        verification runs starts there."""
        return self.norm.origin(self.scaler, self.context_window)

    @property
    def truth(self) -> np.ndarray:
        return self.series[self.start : self.start + self.steps]

    @property
    def unit_scale(self) -> float:
        """Signal units per model input unit at the seed origin (of several channels: the widest
        channel's, so that an error in model units times it bounds every channel's in its units)."""
        return self.scaler.largest_scale * self.origin.scale

    @property
    def channels(self) -> int:
        """F: the series' channels (points, F), 1 for a 1-D series."""
        return 1 if self.series.ndim == 1 else self.series.shape[1]

    def to_signal(self, loop: np.ndarray) -> np.ndarray:
        """A closed loop in model units, flat as the device's loop runs it (F values per position,
        time-major), in signal units: (steps,), or (steps, F) for several channels."""
        loop = np.asarray(loop, dtype=np.float64)
        return self.origin.inverse(loop if self.channels == 1 else loop.reshape(-1, self.channels))

    @property
    def context_model_units(self) -> list[float]:
        """The context window in model units, flat (time-major): every closed loop's start."""
        return _listed(self.origin.transform(self.context_window).reshape(-1))

    @property
    def segment(self) -> str:
        """What the evaluation truth is: the run's test segment, or in-sample for a run without one."""
        return "test" if self.start == self.record.split.test_start else "in-sample"

    def truth_key(self, figure: str) -> str:
        return truth_key(self.segment, figure)


def export_bundle(run: Path, out: Path, models: str | None = None, quant: str | None = None,
                  calibration_samples: int = 100, force: bool = False, probe_python: tuple[str, ...] = (),
                  echo: Callable[[str], None] = print, graphs: str | None = None,
                  rollout_horizon: int | None = None, step_state: str = "inside",
                  bias_correction: bool = True, tolerance: float | None = None,
                  levels: str | None = None) -> ExportResult:
    """Convert every model x mode of a run, verify each artifact, and write the bundle.

    `graphs` adds step / rollout / stream graphs (float32 and int8 of the chosen modes) to the
    window graphs; `rollout_horizon` is the rollout's H (default: the bundle's evaluation steps);
    `step_state`: "inside" (step / stream graphs keep their state in resource variables) or
    "explicit" (state tensors in and out, as `edge-forecast micro` needs). `bias_correction`:
    full-integer window and rollout graphs are converted again with their output's mean error on
    the calibration windows taken out of the output bias (export/bias_correction.py).
    `quant` "auto": every mode converted and verified, then per model only the smallest mode whose
    closed loop is within `tolerance` (default 1.5) times float32's is kept (a tie in size: the
    earlier in float32, float16, dynamic, int8, int16x8).
    `levels` ("80,95" by default, "none" to skip): every kept variant's prediction intervals at
    those levels, from its own closed loop over the validation origins (intervals.py).
    """
    modes, auto = parse_quant(quant)
    tolerance = check_tolerance(tolerance, auto)
    chosen_levels = parse_levels(levels)
    record = load_run(run)
    options = _Options(models, modes, tolerance, calibration_samples, force, tuple(probe_python), echo, graphs,
                       rollout_horizon, step_state, bias_correction, chosen_levels)
    series = np.load(Path(run) / record.signal.file)
    profiled = Profiled.of_run(record, Path(run), series)
    return _export(record, series if profiled is None else profiled.residual, Path(run), Path(out), (Path(run),),
                   options, profiled)


def export_model(model: Path, out: Path, signal, window: int | None = None, scale: str | None = None,
                 quant: str | None = None, calibration_samples: int = 100, force: bool = False,
                 probe_python: tuple[str, ...] = (), echo: Callable[[str], None] = print, graphs: str | None = None,
                 rollout_horizon: int | None = None, step_state: str = "inside",
                 bias_correction: bool = True, tolerance: float | None = None,
                 levels: str | None = None) -> ExportResult:
    """A user's own Keras model (a .keras or .h5 file) with the series it forecasts (a
    signals.Signal) -> a bundle, as for a trained run (export/from_model.py)."""
    from edge_forecast.export import from_model

    modes, auto = parse_quant(quant)
    options = _Options(None, modes, check_tolerance(tolerance, auto), calibration_samples, force,
                       tuple(probe_python), echo, graphs, rollout_horizon, step_state, bias_correction,
                       parse_levels(levels))
    inputs = (Path(model),) + ((Path(signal.source),) if Path(signal.source).exists() else ())
    _check_options(options)
    check_output_dir(out, force, "bundle", inputs=inputs)
    with from_model.work_dir() as tmp:
        record, series = from_model.prepare(Path(model), signal, window, scale, Path(tmp), echo)
        return _export(record, series, Path(tmp), Path(out), inputs, options)


@dataclass(frozen=True)
class _Options:
    models: str | None
    modes: list[QuantMode]
    tolerance: float | None  # --quant auto's; None: every mode kept
    calibration_samples: int
    force: bool
    probe_python: tuple[str, ...]
    echo: Callable[[str], None]
    graphs: str | None
    rollout_horizon: int | None
    step_state: str
    bias_correction: bool
    levels: tuple[float, ...] = ()


def _check_options(o: _Options) -> None:
    """The options' own errors, before any model is read (a user's model is read in a child that
    takes seconds)."""
    parse_graphs(o.graphs)
    if o.rollout_horizon is not None and o.rollout_horizon < 1:
        raise UserError(f"rollout_horizon must be at least 1, got {o.rollout_horizon}", "rollout_horizon")
    if o.step_state not in STATE_KEPT:
        raise choice_error("step state", o.step_state, STATE_KEPT, "step_state")
    if o.calibration_samples < 1:
        raise UserError(f"calibration_samples must be at least 1, got {o.calibration_samples}",
                        "calibration_samples")
    if Runtime.LITERT not in available_runtimes():
        raise UserError("export verifies artifacts with ai-edge-litert; pip install ai-edge-litert")


@dataclass(frozen=True)
class Profiled:
    """A run whose models learned the residual r = y - p[slot] (train --profile): its graphs forecast r,
    so conversion, verification and the bundle's evaluation work on r (closed-loop RMSEs are the
    same in r and y: the same p is added to forecast and truth); the baselines stay on y."""

    profile: SeasonalProfile
    times: np.ndarray
    observed: np.ndarray  # y, signal units

    @property
    def residual(self) -> np.ndarray:
        return self.observed - self.profile.at(self.times)

    @classmethod
    def of_run(cls, record: RunRecord, run: Path, series: np.ndarray) -> Profiled | None:
        if record.profile is None:
            return None
        times = np.load(run / record.signal.times_file)  # load_run checked it: one finite time per value
        return cls(SeasonalProfile.from_record(record.profile), times, series)

    def document(self, start: int) -> dict:
        """bundle.json's profile: the record, and the time of the context window's last value."""
        return self.profile.record(context_last_seconds=float(self.times[start - 1])).to_dict()


def _export(record: RunRecord, series: np.ndarray, model_dir: Path, out: Path, inputs: tuple[Path, ...],
            o: _Options, profiled: Profiled | None = None) -> ExportResult:
    """The export of `record`'s models (their files in `model_dir`) on `series` (the residual of a
    profiled run: `profiled`)."""
    echo = o.echo
    chosen = _parse_models(o.models, list(record.models))
    modes = o.modes
    extra_graphs = parse_graphs(o.graphs)
    if GraphKind.STREAM not in extra_graphs and any(record.models[m].training == "stream" for m in chosen):
        extra_graphs.append(GraphKind.STREAM)  # a stream-trained model's own forecaster
        echo("adding the stream graph: the run has stream-trained models (train --stream)")
    norm = Normalization.from_dict(record.normalization)
    if norm.per_step and any(g is not GraphKind.WINDOW for g in extra_graphs):
        how = "the default --normalize auto chose perstep" if norm.reason else "train --normalize perstep"
        raise UserError(f"the run renormalizes every step's window ({how}), which only the window graph's loop can "
                        "do; export it with --graphs window, or train with --normalize none (or origin, origin-mean) "
                        "for step, stream and rollout graphs")
    _check_options(o)
    check_output_dir(out, o.force, "bundle", inputs=inputs)
    probe_pythons = [_check_python(p) for p in o.probe_python]

    with tempfile.TemporaryDirectory(prefix="edge-forecast-export-") as tmp:
        data = _prepare(series, record, Path(tmp), o.calibration_samples)
        data.rollout_horizon = o.rollout_horizon or data.steps
        data.step_state = o.step_state
        data.bias_correction = o.bias_correction
        data.quant_auto = o.tolerance
        data.levels = o.levels
        data.profiled = profiled
        variants = _variants(record, chosen, extra_graphs, modes, echo)
        converted = _convert_all(model_dir, data, chosen, echo, variants)
        with staged_dir(out, o.force, "bundle") as stage:
            result = _assemble(data, chosen, converted, stage, probe_pythons, echo, variants)
            if not result.artifacts:
                raise UserError("no artifact converted and verified; nothing was written: "
                                + "; ".join(result.failures))
    result.bundle = Path(out)
    return result


def unsupported_graph(entry: ModelRecord, graph: str) -> str | None:
    """None when a run's model can be exported as `graph`; else the one-line reason it cannot:
    the step and stream graphs carry a recurrent state and nothing else."""
    if graph not in (GraphKind.STEP.value, GraphKind.STREAM.value):
        return None
    if entry.kind == "ar":
        return f"the {graph} graph carries a recurrent state and ar has none (its window and rollout graphs apply)"
    if entry.kind == SAVED_MODEL:  # the reason inspect_child recorded (export/saved_forecaster.py)
        return f"the {graph} graph {entry.forecaster['step_refused']} (its window and rollout graphs apply)"
    if entry.forecaster is not None and "state" not in entry.forecaster:  # inspect_child: export/user_steps.py
        why = entry.forecaster.get("step_refused") or "no recurrent stack was found in it"
        return (f"the {graph} graph steps a stack of recurrent layers with Dense heads: {why} "
                "(its window and rollout graphs apply)")
    if entry.highway:
        return (f"the {graph} graph carries the recurrent state only, not the last {entry.highway} values the "
                "highway reads (its window and rollout graphs apply)")
    return None


def _variants(record: RunRecord, models: list[str], graphs: list[GraphKind], modes: list[QuantMode],
              echo) -> dict[str, list[VariantId]]:
    """Per model, the variants to convert: the window graph in every mode, then the other graphs
    in theirs. A graph that a model cannot have is a line for that model and graph, and the others
    are exported; when no chosen model can have any of the graphs asked beyond the window graph,
    that is a UserError (the export would be the window graph alone, which was not what was asked)."""
    items = {name: [VariantId(GraphKind.WINDOW, m) for m in modes] for name in models}
    refused = {graph: {name: unsupported_graph(record.models[name], graph.value) for name in models}
               for graph in graphs}
    impossible = [g for g, reasons in refused.items() if all(reasons.values())]
    if graphs and len(impossible) == len(graphs):
        graph = impossible[0]
        raise UserError(f"graphs {graph.value}: " + "; ".join(f"{n}: {r}" for n, r in refused[graph].items()),
                        "graphs")
    for graph, reasons in refused.items():
        for name, reason in reasons.items():
            if reason:
                echo(f"{name}: no {graph.value} graph: {reason}")
            else:
                items[name] += [VariantId(graph, m) for m in modes if m in GRAPH_MODES]
    return items


def parse_graphs(text: str | None) -> list[GraphKind]:
    """The graphs beyond the window graph (always exported: it is every other graph's reference)."""
    chosen = parse_choices([text or "window"], GraphKind, "graph", argument="graphs")
    return [g for g in chosen if g is not GraphKind.WINDOW]


def _parse_models(text: str | None, available: list[str]) -> list[str]:
    return parse_choices([text], available, "model", argument="models") if text else available


def _check_python(path: str) -> str:
    try:
        done = subprocess.run([path, "-c", "import edge_forecast"], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"--probe-python {path} cannot be run: {exc}") from None
    if done.returncode != 0:
        raise UserError(f"--probe-python {path} has no edge_forecast installed (pip install edge-forecast there)")
    return path


def _prepare(series: np.ndarray, record: RunRecord, work: Path, calibration_samples: int) -> _Data:
    scaler = Scaler.from_dict(record.scaler.to_dict())
    window = record.window
    scaled = scaler.transform(series)
    norm = Normalization.from_dict(record.normalization)
    x, _ = make_windows(scaled, window)
    n_train = record.split.train_windows
    train_x = x[:n_train]
    pick = np.unique(np.linspace(0, len(train_x) - 1, min(calibration_samples, len(train_x))).round().astype(int))
    calib = train_x[pick]
    if calibration_samples > len(train_x):  # repeat with the windows' order: the range is what counts
        calib = train_x[np.arange(calibration_samples) % len(train_x)]
    verify = x[n_train:] if len(x) > n_train else x[-max(1, len(x) // 10):]
    start = evaluation_start(record, len(series))
    steps = min(len(series) - start, MAX_EVAL_STEPS)
    evaluated, eval_map = _on_own_maps(norm, x[start - window : start - window + steps])
    np.save(work / "calibration.npy", _on_own_maps(norm, calib)[0].astype(np.float32))
    np.save(work / "verify_windows.npy", _on_own_maps(norm, verify)[0].astype(np.float32))
    np.save(work / "eval_windows.npy", evaluated.astype(np.float32))
    # teacher-forced sequences: the training part (state calibration) and what follows (stream check)
    sequence, stream_sequence = scaled[: n_train + window], scaled[: window + steps]
    if norm.active:  # as a device sees them: consecutive windows each on its own map, and one origin's map
        chunks = sequence[: sequence.size // window * window].reshape(-1, window)
        sequence = _on_own_maps(norm, chunks[..., None])[0].reshape(-1)
        loc, scale = norm.stats(stream_sequence[:window])
        stream_sequence = norm.forward(stream_sequence, loc[0], scale[0])
    np.save(work / "sequence.npy", sequence.astype(np.float32))
    np.save(work / "stream_sequence.npy", stream_sequence.astype(np.float32))
    return _Data(record, series, scaler, window, steps, work, start=start, norm=norm, eval_map=eval_map)


def _on_own_maps(norm: Normalization, windows: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Windows (n, W, 1) in model units, each mapped by its own origin's normalization (as the
    device maps a forecast from it), and the maps (location, scale), (n, 1) each. Without a rule
    the windows as they are (n, W, F): a model of several channels has none (from_model's record)."""
    loc, scale = norm.stats(windows[..., 0])
    if not norm.active:
        return windows, (loc, scale)
    return norm.forward(windows[..., 0], loc, scale)[..., None], (loc, scale)


def evaluation_start(record: RunRecord, points: int) -> int:
    """Where the bundle's evaluation starts: the test segment, or (a run without one, such as the
    seed preset) the value after the first window, in-sample."""
    test_start = record.split.test_start
    return test_start if test_start < points else record.window


def _convert_all(run: Path, data: _Data, models: list[str], echo,
                 variants: dict[str, list[VariantId]]) -> dict[str, dict]:
    """Convert the models in parallel children (2 cores); item results per model."""

    def one(name: str) -> dict:
        entry = data.record.models[name]
        job = ConvertJob(
            model_path=str((run / entry.file).resolve()), kind=name, window=data.window,
            training=entry.training, highway=entry.highway, units=entry.units, out_dir=str(data.work),
            keras_model=entry.forecaster is not None, saved_model=entry.kind == SAVED_MODEL,
            calibration=str(data.work / "calibration.npy"),
            verify_windows=str(data.work / "verify_windows.npy"),
            eval_windows=str(data.work / "eval_windows.npy"),
            context_window=data.context_model_units,
            normalization=data.norm.to_dict(),
            # the Keras loops cover the rollout graph's horizon too (it may outrun the test segment)
            steps=max(data.steps, data.rollout_horizon), rollout_horizon=data.rollout_horizon,
            step_state=data.step_state, bias_correction=data.bias_correction,
            sequence=str(data.work / "sequence.npy"), stream_sequence=str(data.work / "stream_sequence.npy"),
        )
        echo(f"converting {name}: {', '.join(v.key for v in variants[name])}")
        return run_job("edge_forecast.export.worker", job, ["reference"] + [v.key for v in variants[name]],
                       CONVERT_TIMEOUT_S, job_dir=data.work)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(models, pool.map(one, models), strict=True))


def _assemble(data: _Data, models: list[str], converted: dict, stage: Path, probe_pythons: list[str], echo,
              chosen: dict[str, list[VariantId]]) -> ExportResult:
    result = ExportResult(bundle=None)
    doc_models: dict[str, ModelEntry] = {}
    truth = data.truth
    every = {v for items in chosen.values() for v in items}
    window = [v for v in chosen[models[0]] if v.graph is GraphKind.WINDOW]  # every model's, in order
    checks = _verify_all(data, models, window + sorted(every - set(window), key=lambda v: v.key), converted, echo)
    for name in models:
        items = converted[name]
        ref_item = items.get("reference", {"ok": False, "error": "not run"})
        if not ref_item.get("ok"):
            result.failures.append(f"{name}: Keras reference failed: {ref_item.get('error')}")
            echo(f"FAILED {name}: Keras reference: {ref_item.get('error')}")
            continue
        refs = np.load(data.work / f"{name}.reference.npz")
        entry = data.record.models[name]
        training = entry.training
        keras_loop = data.to_signal(refs["closed_loop"])
        stream_loop = data.to_signal(refs["stream_closed_loop"])
        variants = {}
        for variant in chosen[name]:
            verify = _verify_one if variant.graph is GraphKind.WINDOW else _verify_graph
            found = verify(name, variant, items.get(variant.key, {}), checks, data, stage, truth, result, echo)
            if found:
                variants[variant.key] = found
        if variants:
            doc_models[name] = ModelEntry(
                kind=entry.kind, units=entry.units, params=entry.params,
                training=training, highway=entry.highway if entry.highway else ABSENT,
                keras={
                    "closed_loop": _listed(keras_loop),
                    data.truth_key("closed_loop_rmse"): _vs_truth(keras_loop, truth),
                    "stream_closed_loop": _listed(stream_loop),
                    data.truth_key("stream_closed_loop_rmse"): _vs_truth(stream_loop, truth),
                    # (steps,), or (steps, F): every channel's next value
                    "one_step": _listed(data.scaler.inverse(data.norm.inverse(
                        refs["eval_windows"], *(m if data.channels > 1 else m[:, 0] for m in data.eval_map)))),
                    "test": _test_metrics(entry.test),
                },
                variants=variants,
                forecaster=(ForecasterShape.from_dict(entry.forecaster, f"models.{name}.forecaster")
                            if entry.forecaster else None),
            )
    _probe_runtimes(stage, data.work, doc_models, probe_pythons, echo)
    if doc_models:  # what the figures of the lines below are: units, reference, data
        # a SavedModel's reference is its serving function (export/saved_forecaster.py)
        saved = all(model.kind == SAVED_MODEL for model in doc_models.values())
        echo(f"max|err| (one step) and closed-loop RMSE: against the {'SavedModel' if saved else 'Keras model'}, "
             "in signal units, over "
             + ("the test segment" if data.segment == "test" else "the series after its first window (in-sample: "
                "the run has no test segment)") + f", {data.steps} steps from its context window")
    for name, model in doc_models.items():
        # --normalize is refused with ar and a highway (their least-squares start), so not suggested
        # there, nor where the run already renormalizes every step (auto's perstep on a drifting signal)
        normalizable = model.kind not in ("ar", *USER_KINDS) and not model.highway and not data.norm.per_step
        warnings = _integer_checks(model.variants, normalizable=normalizable, magnitude=float(np.max(np.abs(truth))))
        if data.quant_auto is not None:
            warnings = _keep_chosen(name, model, chosen[name], checks, data.quant_auto, stage, result, echo, warnings)
        for key, variant in model.variants.items():
            result.artifacts.append({"model": name, "mode": key, **variant.to_dict()})
            echo(_artifact_line(variant, "SavedModel" if model.kind == SAVED_MODEL else "Keras"))
        for line in warnings:
            result.warnings.append(f"{name} {line}")
            echo(f"warning: {name} {line}")
    if doc_models:
        _write_document(data, doc_models, stage)
        if data.levels:  # the device's Forecaster runs each variant from the bundle just written
            _intervals(data, doc_models, stage, echo)
            _write_document(data, doc_models, stage)
    return result


def _write_document(data: _Data, models: dict[str, ModelEntry], stage: Path) -> None:
    doc = _document(data, models).to_dict()
    BundleDocument.from_dict(doc)  # what a device will read, checked as it will be
    write_json_atomic(stage / BUNDLE_FILE, doc)


def validation_plan(record: RunRecord) -> Plan | str:
    """The origins of the run's validation backtest (train/scoring.validation_score's plan: none
    whose window or horizon crosses a gap that split the series), or why there are none."""
    start, stop = record.split.train_points, record.split.test_start
    if stop <= start:
        return "the run has no validation segment (train --validation-split 0)"
    pieces = tuple(tuple(s) for s in record.signal.segments) if record.signal.segments else None
    try:
        return plan_origins(start, stop, record.window, record.config.horizon, record.config.stride, pieces=pieces)
    except ValueError as exc:
        return f"no validation backtest: {exc}"


def _intervals(data: _Data, models: dict[str, ModelEntry], stage: Path, echo) -> None:
    """Every variant's intervals (intervals.py) from its own closed loop over the validation
    origins, run by the device's Forecaster in a child process on the staged bundle."""
    plan = validation_plan(data.record)
    items = [f"{name}/{key}" for name, model in models.items() for key in model.variants]
    if data.channels > 1:  # the interval child's backtest runs a series of one channel
        plan = f"prediction intervals are measured for one channel; this model forecasts {data.channels}"
    if isinstance(plan, str):
        for model in models.values():
            for variant in model.variants.values():
                variant.intervals = unavailable(data.levels, plan)
        echo(f"no prediction intervals: {plan}")
        return
    n = plan.origins.size
    if all(n < min_origins(level) for level in data.levels):  # no level can have an order statistic
        # the record the variants' closed loops would give, without running them: every level's
        # order statistic lies beyond n whatever the errors are
        record = conformal_intervals(np.zeros((n, plan.horizon)), data.levels, plan)
        for model in models.values():
            for variant in model.variants.values():
                variant.intervals = record
        needs = ", ".join(f"{level:g}% needs {min_origins(level)}" for level in data.levels)
        echo(f"no prediction intervals: {n} validation origin{'s' if n != 1 else ''} ({needs}); a longer series "
             "or a larger validation split gives more")
        return
    np.save(data.work / "series.npy", np.asarray(data.series, dtype=np.float64))
    job = IntervalJob(bundle=str(stage), series=str(data.work / "series.npy"), start=plan.start, stop=plan.stop,
                      horizon=plan.horizon, stride=plan.stride, levels=list(data.levels), window=plan.window,
                      pieces=[list(p) for p in plan.pieces] if plan.pieces else None)
    echo(f"prediction intervals: {len(items)} variant{'s' if len(items) != 1 else ''}, each from its own closed "
         f"loop over {n} validation origin{'s' if n != 1 else ''}, {plan.horizon} steps each")
    done = run_job("edge_forecast.export.interval_child", job, items, INTERVAL_TIMEOUT_S, job_dir=data.work)
    for item in items:
        name, key = item.split("/", 1)
        found = done.get(item, {"ok": False, "error": "not run"})
        if found.get("ok"):
            intervals = Intervals.from_dict(found["intervals"], f"{item} intervals")
        else:
            intervals = unavailable(data.levels, f"the variant's closed loop did not run over the validation "
                                                 f"origins: {found.get('error')}", plan)
        models[name].variants[key].intervals = intervals
        echo(f"{name} {key}: {interval_summary(intervals)}")


def _keep_chosen(name: str, model: ModelEntry, tried: list[VariantId], checks: dict[str, Verification],
                 tolerance: float, stage: Path, result: ExportResult, echo, warnings: list[str]) -> list[str]:
    """--quant auto on one model: keep the chosen mode's variants, delete the others' files, record
    why in `quant_auto` and one line; a failed candidate is a reason, not a failure of the export.
    Returns the warnings about the kept variants."""
    failed = {f.split(": ", 1)[0]: f.split(": ", 1)[1] for f in result.failures if f.startswith(f"{name} ")}
    candidates = [
        Candidate(v, bytes=e.bytes, invoke_us=checks[f"{name}/{v.key}"].invoke_us,
                  closed_loop_rmse=truth_figure(e.errors, "closed_loop_rmse"))
        if (e := model.variants.get(v.key)) else Candidate(v, problem=failed.get(f"{name} {v.key}", "not verified"))
        for v in tried]
    choice = choose(candidates, tolerance)
    for key in list(model.variants):
        if key not in choice.kept:
            (stage / model.variants.pop(key).file).unlink()
    if choice.chosen is not None:
        result.failures[:] = [f for f in result.failures if f.split(": ", 1)[0] not in
                              {f"{name} {v.key}" for v in tried}]
    model.quant_auto = choice.to_dict()
    echo(choice.line(name))
    return [w for w in warnings if w.split(":", 1)[0] in choice.kept]


def _verify_all(data: _Data, models: list[str], variants: list[VariantId], converted: dict,
                echo) -> dict[str, Verification]:
    """Every converted artifact loaded, run and compared with Keras in child processes (a runtime
    crash or hang fails that artifact only); MODEL/VARIANT -> its Verification."""
    items: dict[str, VerifyItem] = {}
    for name in models:
        found = converted[name]
        if not found.get("reference", {}).get("ok"):
            continue
        stream_trained = data.record.models[name].training == "stream"
        for variant in variants:
            if found.get(variant.key, {}).get("ok"):
                items[f"{name}/{variant.key}"] = VerifyItem(
                    file=found[variant.key]["file"], graph=variant.graph.value, mode=variant.mode.value,
                    stream_trained=stream_trained)
    if not items:
        return {}
    job = VerifyJob(work=str(data.work), unit_scale=data.unit_scale, items=items,
                    context_window=data.context_model_units,
                    normalization=data.norm.to_dict())
    echo(f"verifying {len(items)} artifacts")
    done = run_job("edge_forecast.export.verify_child", job, list(items), VERIFY_TIMEOUT_S, job_dir=data.work)
    checks = {}
    for item, doc in done.items():
        check = from_json(doc)
        if not check.ok and not check.problems:  # the child crashed or hung on this artifact
            check.problems.append(f"ai-edge-litert cannot run it: {doc.get('error', 'no result')}")
        checks[item] = check
    return checks


def _verify_one(name: str, variant: VariantId, item: dict, checks: dict, data: _Data, stage: Path,
                truth: np.ndarray, result: ExportResult, echo) -> VariantEntry | None:
    """A window graph's entry: its checks and its closed loop against the truth."""
    check = _checked(f"{name} {variant}", item, checks.get(f"{name}/{variant}"), data, stage, result, echo)
    if check is None:
        return None
    loop = data.to_signal(check.closed_loop)
    errors = {**check.errors, data.truth_key("closed_loop_rmse"): _vs_truth(loop, truth)}
    return _variant_record(item, stage, variant, check, errors)


def _verify_graph(name: str, variant: VariantId, found: dict, checks: dict, data: _Data, stage: Path,
                  truth: np.ndarray, result: ExportResult, echo) -> VariantEntry | None:
    """A step, rollout or stream graph's entry: its closed loop against Keras's and the truth."""
    check = _checked(f"{name} {variant}", found, checks.get(f"{name}/{variant}"), data, stage, result, echo)
    if check is None:
        return None
    errors = dict(check.errors)
    loop = data.to_signal(check.closed_loop)
    errors[data.truth_key("closed_loop_rmse")] = _vs_truth(loop, truth)
    # the window graph's one-step fields, so tables that read them keep working
    errors.setdefault("one_step_max_abs", errors["closed_loop_max_abs_vs_keras"])
    return _variant_record(found, stage, variant, check, errors, check.extra)


def _listed(values: np.ndarray) -> list:
    """An array as bundle.json holds it: a list of numbers, or of F numbers per step (several channels)."""
    return np.asarray(values, dtype=np.float64).tolist()


def _vs_truth(loop: np.ndarray, truth: np.ndarray) -> float:
    """Closed-loop RMSE against the evaluation truth over the steps both have (a rollout graph's
    horizon or the Keras reference may be longer than the test segment); of several channels, over
    every channel's values (in each channel's own units)."""
    n = min(len(loop), len(truth))
    return rmse(loop[:n], truth[:n])


def _checked(label: str, found: dict, check: Verification | None, data: _Data, stage: Path, result: ExportResult,
             echo) -> Verification | None:
    """The verification of one converted artifact, copied into the bundle stage when it passes;
    None (and a recorded, echoed failure) when conversion or verification failed."""
    if not found.get("ok"):
        problem = f"conversion failed: {found.get('error', 'not run')}"
    elif check is None:
        problem = "verification failed: not run"
    elif check.ok:
        shutil.copy2(data.work / found["file"], stage / found["file"])
        return check
    else:
        problem = f"verification failed: {'; '.join(check.problems)}"
    msg = f"{label}: {problem}"
    result.failures.append(msg)
    echo("FAILED " + msg)
    return None


def _variant_record(found: dict, stage: Path, variant: VariantId, check: Verification, errors: dict,
                    graph_fields: dict | None = None) -> VariantEntry:
    """The bundle entry of a verified artifact (its runtimes are probed later); `graph_fields`: a
    step, stream or rollout graph's `rows`, `state`, `tensors`, `state_store` or `horizon`."""
    path = stage / found["file"]
    where = f"the {variant} variant"
    return VariantEntry(
        file=found["file"], sha256=sha256_file(path), bytes=path.stat().st_size, id=variant,
        input=TensorSpec.from_dict(check.input, f"{where}.input"),
        output=TensorSpec.from_dict(check.output, f"{where}.output"), ops=check.ops, errors=errors, runtimes={},
        convert_seconds=found.get("seconds"), convert_attempts=found.get("attempts", 1),
        output_bias=found.get("output_bias") or ABSENT, **(graph_fields or {}),
    )


def _integer_checks(variants: dict[str, VariantEntry], normalizable: bool = True, magnitude: float = 0.0) -> list[str]:
    """Record, per integer variant, its closed-loop RMSE against the float32 export of the same
    graph and whether it is integer throughout; return the warnings worth a line.

    `magnitude`: the largest |value| of the evaluation truth (signal units). A float32 export
    whose RMSE is within float32 resolution of it (FLOAT32_EXACT: an `ar` on an exact linear
    recurrence) has no error to be a multiple of: the warning says so instead of a ratio like
    100,000x."""
    warnings = []
    for key, variant in variants.items():
        if not variant.mode.full_integer:
            continue
        float_ops = float_islands(variant.ops)
        variant.full_integer = not float_ops
        if float_ops:
            warnings.append(f"{key}: not integer throughout ({', '.join(float_ops)} inside: part of the graph "
                            "runs in float32); an integer-only accelerator cannot run it as is")
        reference = variants.get(VariantId(variant.graph, QuantMode.FLOAT32).key)
        if reference is None:
            continue
        base = truth_figure(reference.errors, "closed_loop_rmse")
        got = truth_figure(variant.errors, "closed_loop_rmse")
        ratio = got / base if base > 0 else None if got > 0 else 1.0  # None: JSON has no inf
        variant.errors["closed_loop_rmse_ratio_vs_float32"] = ratio
        # the label a user (or `run`) can choose by: does this integer variant hold the closed loop?
        variant.closed_loop_within_bound = ratio is not None and ratio <= CLOSED_LOOP_RATIO_WARN
        if ratio is None or ratio > CLOSED_LOOP_RATIO_WARN:
            if base <= FLOAT32_EXACT * magnitude:
                versus = f", while the float32 export's ({base:.3g}) is exact to float32 rounding (no ratio bounds it)"
            else:
                times = "infinitely many times" if ratio is None else f"{ratio:.1f}x"
                versus = f" is {times} the float32 export's ({base:.3g})"
            warnings.append(f"{key}: closed-loop RMSE vs truth {got:.3g}{versus}; "
                            "the closed loop accumulates its rounding"
                            + (("; try train --normalize perstep, or int16x8" if normalizable else "; try int16x8")
                               + " (docs/guide/export-and-quantization.md: int8 and the closed loop)"
                               if variant.id == VariantId(GraphKind.WINDOW, QuantMode.INT8) else ""))
    return warnings


def _probe_runtimes(stage: Path, work: Path, models: dict[str, ModelEntry], probe_pythons: list[str], echo) -> None:
    """Record, per artifact, runtime and platform, whether it loads and runs (each in a child; a
    --probe-python may be another machine's, e.g. an emulated arm64 one: scripts/arm64.py)."""
    files = [v.file for m in models.values() for v in m.variants.values()]
    if not files:
        return
    host = platform.machine()
    targets: list[tuple[str, str, str]] = [(sys.executable, host, r.value) for r in available_runtimes()]
    if _has_micro():
        targets.append((sys.executable, host, MICRO))
    for python in probe_pythons:
        machine, runtimes = _remote_runtimes(python)
        for runtime in runtimes:
            if (machine, runtime) not in {(m, r) for _, m, r in targets}:
                targets.append((python, machine, runtime))
    found_on: dict[str, dict[str, dict[str, dict]]] = {f: {} for f in files}  # file -> runtime -> machine
    for python, machine, runtime in targets:
        echo(f"checking {len(files)} artifact(s) with {runtime} on {machine}")
        found = run_job("edge_forecast.edge.probe", ProbeJob(runtime=runtime), [str(stage / f) for f in files],
                        PROBE_TIMEOUT_S, python=python, job_dir=work, per_item_crashes=True)
        for path, res in found.items():
            found_on[Path(path).name].setdefault(runtime, {})[machine] = {
                k: v for k, v in res.items() if k in ("ok", "error", "version", "crash")}
    for model in models.values():
        for variant in model.variants.values():
            variant.runtimes = {rt: RuntimeRecord.from_dict(_runtime_record(found_on[variant.file].get(rt, {}), host))
                                for rt in [r.value for r in Runtime] + [MICRO]}


def _runtime_record(platforms: dict[str, dict], host: str) -> dict:
    """bundle.json's record of one runtime: the export host's result on top, every platform below."""
    if host in platforms:
        top = dict(platforms[host])
    elif platforms:
        top = {"ok": None, "error": f"checked on {', '.join(sorted(platforms))} only, not on {host}"}
    else:
        top = {"ok": None, "error": "not installed where the bundle was exported; not checked"}
    return {**top, "platforms": platforms}


def _has_micro() -> bool:
    import importlib.util

    return importlib.util.find_spec("tflite_micro") is not None


def _remote_runtimes(python: str) -> tuple[str, list[str]]:
    """The machine of another Python and the runtimes installed there."""
    code = ("import json, platform, importlib.util as u; "
            "from edge_forecast.edge.runtime import available_runtimes, MICRO;"
            "print(json.dumps([platform.machine(), [r.value for r in available_runtimes()]"
            " + ([MICRO] if u.find_spec('tflite_micro') else [])]))")
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        return "", []
    machine, runtimes = json.loads(done.stdout.strip().splitlines()[-1])
    return machine, runtimes


def _document(data: _Data, models: dict[str, ModelEntry]) -> BundleDocument:
    test = data.segment == "test"
    return BundleDocument(
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        edge_forecast_version=__version__,
        converter={"tensorflow": runtime_version(Runtime.TENSORFLOW), "keras": data.record.versions.get("keras"),
                   "verified_with": {"litert": runtime_version(Runtime.LITERT)}},
        window=data.window,
        scaler=data.scaler.to_dict(),
        normalization=data.norm.to_dict(),
        context_window=_listed(data.context_window),
        **({"channels": data.channels} if data.channels > 1 else {}),
        signal=data.record.signal.for_bundle(),
        evaluation=Evaluation(
            segment=data.segment,
            description=("the test segment (never seen by training or model selection)" if test else
                         "in-sample: the run has no test segment; the series after its first window")
                        + ("; with a profile, context_window, truth and every closed loop are residuals "
                           "r = y - p[slot] (what the graphs forecast; RMSEs are the same in y), baselines' "
                           "closed loops are in y" if data.profiled else "")
                        + "; context_window is the true window before truth[0]; keras.one_step[i] predicts "
                          "truth[i] from the true window before it; origins are the run's backtest origins "
                          "(offsets into truth) that fit in it",
            start=data.start,
            steps=data.steps,
            truth=_listed(data.truth),
            **_backtest_origins(data),
        ),
        models=models,
        baselines=_baselines(data),
        **({"profile": data.profiled.document(data.start)} if data.profiled else {}),
    )


def _backtest_origins(data: _Data) -> dict:
    """The training record's test origins as offsets into the evaluation truth (those whose
    horizon fits in it), so bench's error against horizon uses the same origins."""
    test = next((m.test for m in data.record.models.values() if m.test), None)
    if not test or data.start != test.start:
        return {}
    offsets = [o - data.start for o in test.origin_index if o - data.start + test.horizon <= data.steps]
    return {"horizon": test.horizon, "origins": offsets} if offsets else {}


def _test_metrics(test: Backtest | None) -> dict | None:
    """The run's test backtest scores (without the forecasts), for reports on a device."""
    return test.scores() if test else None


def _baselines(data: _Data) -> dict:
    """The numpy baselines (fitted on the training part) over the evaluation steps from the seed
    window, and the run's test backtest scores, for reports on a device."""
    from edge_forecast.baselines import baseline_forecasters

    # the baselines forecast y (a profiled run's models forecast the residual; their RMSEs are the same in y)
    series = data.series if data.profiled is None else data.profiled.observed
    truth = series[data.start : data.start + data.steps]
    # a series of several channels: each channel's own baselines (they read one series), side by side
    per_channel = series.T if series.ndim == 2 else series[None]
    fitted = [baseline_forecasters(c[: data.record.split.train_points], data.window, data.record.config.season)
              for c in per_channel]
    out = {}
    for name in fitted[0]:
        loop = np.stack([f[name](c[None, data.start - data.window : data.start], data.steps)[0]
                         for f, c in zip(fitted, per_channel, strict=True)], axis=-1)
        loop = loop if series.ndim == 2 else loop[:, 0]
        out[name] = {"closed_loop": _listed(loop),
                     data.truth_key("closed_loop_rmse"): rmse(loop, truth),
                     "test": _test_metrics(baseline.test if (baseline := data.record.baselines.get(name)) else None)}
    return out


def _artifact_line(v: VariantEntry, reference: str = "Keras") -> str:
    host = platform.machine()
    ok = [r for r, s in v.runtimes.items() if s.get("ok")]
    bad = [r if m == host else f"{r} on {m}" for r, s in v.runtimes.items()
           for m, p in s.get("platforms", {}).items() if p.get("ok") is False]
    runtimes = ",".join(ok) + (f" (fails: {','.join(bad)})" if bad else "")
    e = v.errors
    block = f" (all {e['block']} values {e['block_max_abs']:.2g})" if "block_max_abs" in e else ""
    return (f"saved {v.file} ({v.bytes / 1024:.1f} KB)  max|err| {e['one_step_max_abs']:.2g}{block}  "
            f"closed-loop RMSE vs {reference} {e['closed_loop_rmse_vs_keras']:.2g}  runtimes {runtimes}  "
            f"in {v.get('convert_seconds') or 0:.1f} s" + _bias_note(v.get("output_bias")))


def _bias_note(record: dict | None) -> str:
    """The bias correction on an artifact's line: its mean output error before and after, model units."""
    if not record:
        return ""
    if not record["applied"]:
        return (f"  output bias {record['measured']:.2g} "
                "(model units; not corrected: the second conversion was no closer)")
    return f"  output bias {record['measured']:.2g} -> {record['residual']:.1g} (model units)"
