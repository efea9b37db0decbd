"""Forecaster: the closed-loop forecast and the streaming update, in the user's units."""

from __future__ import annotations

import platform
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_forecast.bundle import Bundle, GraphKind, VariantEntry, VariantId, load_bundle, runtime_status
from edge_forecast.edge.artifact import SlidingWindow, WindowModel
from edge_forecast.edge.first_invoke import first_invoke_verdict
from edge_forecast.edge.runtime import Runtime, resolve_runtime
from edge_forecast.edge.step import RolloutModel, StepModel, StepWindow
from edge_forecast.errors import UserError
from edge_forecast.forecast import run_closed_loop
from edge_forecast.intervals import level_name, tidy
from edge_forecast.normalization import OriginMap
from edge_forecast.profile import history_times

DEFAULT_VARIANT = "float32"
MAX_THREADS = 256
MAX_STEPS = 10_000_000  # 80 MB of float64 output: beyond that a forecast is a mistake, not a request
FLOAT32_MAX = float(np.finfo(np.float32).max)
_INT_LIMITS = {"int8": (-128, 127), "int16": (-32768, 32767)}


def input_range(bundle: Bundle, entry: VariantEntry, origin: OriginMap | None = None) -> tuple[float, float] | None:
    """The signal values an integer input tensor represents: (q - zero_point) x scale for q over
    the dtype's integers, widened by half a step (a value there rounds to the end level, as any
    value rounds), through the bundle's scaler, or through `origin` (the scaler and the forecast
    origin's normalization: with instance normalization the range moves with the origin). None
    for a float input."""
    tensor = entry.input
    if tensor.dtype not in _INT_LIMITS:
        return None
    origin = origin or OriginMap(bundle.scaler)
    low, high = _INT_LIMITS[tensor.dtype]
    # of several channels: one range per channel (each its own scaler), arrays (F,)
    ends = [origin.inverse((q - tensor.zero_point) * tensor.scale) for q in (low - 0.5, high + 0.5)]
    found = np.minimum(*ends), np.maximum(*ends)
    return tuple(float(e) for e in found) if np.ndim(found[0]) == 0 else found


def check_history(bundle: Bundle, history: np.ndarray) -> np.ndarray:
    """The last `window` values of a history, refused if short, not finite or beyond float32; of a
    bundle of F channels, the last `window` rows of a history (points, F)."""
    window, channels = bundle.window, bundle.document.channel_count
    history = np.asarray(history, dtype=np.float64)
    if channels > 1 and (history.ndim != 2 or history.shape[1] != channels):
        raise UserError(f"the history has shape {history.shape}; the model reads {channels} channels: give "
                        f"(points, {channels}), in the bundle's order ({bundle.document.signal.get('column')})")
    history = history.reshape(-1) if channels == 1 else history
    if len(history) < window:
        raise UserError(f"the history has {len(history)} values; the model needs at least {window} (its window)")
    last = history[-window:]
    if not np.isfinite(last).all():
        raise UserError("the history has NaN or inf values in its last window")
    with np.errstate(over="ignore"):
        scaled = bundle.scaler.transform(last).astype(np.float32)
    if not np.isfinite(scaled).all():
        bad = last[~np.isfinite(scaled)][0]
        raise UserError(f"history value {bad:g} is out of range for the model's float32 input")
    return last


def check_steps(steps: int, what: str = "steps") -> None:
    """A forecast length (`what` names it in the error) in 1..MAX_STEPS, else a UserError."""
    if not 1 <= steps <= MAX_STEPS:
        raise UserError(f"{what} must be between 1 and {MAX_STEPS:,}, got {steps}")
GRAPH_CHOICES = ("auto", *(g.value for g in GraphKind))


@dataclass(frozen=True)
class IntervalForecast:
    """A forecast with its prediction intervals, signal units, float64 (horizon,) each: `point`,
    and per level (percent) `lower` = point - half-width and `upper` = point + half-width, the
    half-widths of `variant` (the variant that made the forecast) for steps 1..horizon."""

    point: np.ndarray
    levels: tuple[float, ...]
    lower: dict[float, np.ndarray]
    upper: dict[float, np.ndarray]
    half_width: dict[float, np.ndarray]
    variant: str
    origins: int  # the validation origins the half-widths come from

    def bounds(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        return self.lower[tidy(level)], self.upper[tidy(level)]


def runnable_variants(bundle: Bundle, model: str, runtime: Runtime) -> list[str]:
    """Variants that the bundle does not mark as failing on `runtime` on this machine."""
    return [
        name for name, entry in bundle.model(model).variants.items()
        if runtime_status(entry, runtime.value).ok is not False
    ]


class Forecaster:
    """Loads one model variant of a bundle and forecasts with one TFLite interpreter.

    Values in and out are in the signal's units; the bundle's scaler, its instance normalization
    (normalization.py: each forecast origin's window gives the map for its whole horizon) and the
    tensors' quantization are applied inside. With a per-origin normalization, `update` moves the
    origin, so it re-primes the state from the last W values under the new map (W invokes on a step
    or stream graph instead of one). A per-step normalization (`perstep`) runs on the window graph
    only: every step maps the current window (edge_forecast.normalization.PerStepWindow).

    `graph` picks the graph: `auto` uses the rollout graph for a forecast that fits its horizon,
    the exact step graph for `update` (and longer forecasts), or the stream graph for a
    stream-trained model (`train --stream`), and the window graph otherwise;
    `window`, `step`, `stream` or `rollout` force one (an error if the bundle lacks it).
    `variant` is a mode (float32, int8, ...) or a full variant name such as `step-int8`.

    A variant bundle.json records as failing with this runtime on this machine is refused (a
    UserError naming the variants that work); one not checked on this machine is first invoked
    in a child process (edge.first_invoke), so an interpreter crash becomes a UserError too.
    Thread-safe: `forecast`, `update` and `reset` hold one lock, since an interpreter and the
    window state are not safe to share; threads that need parallel forecasts each make their own
    Forecaster.
    """

    def __init__(self, bundle: str | Path | Bundle, model: str | None = None, variant: str | None = None,
                 runtime: str | Runtime = "auto", threads: int | None = None, graph: str = "auto") -> None:
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        self.model_name = model or self.bundle.models[0]
        self.bundle.model(self.model_name)  # unknown model -> UserError listing the valid ones
        variant, graph = _split_variant(variant, graph)
        if self.bundle.normalization.per_step:  # a map per step: the window graph's loop only
            if graph not in ("auto", GraphKind.WINDOW.value):
                raise UserError(f"this bundle's models renormalize every step's window (perstep), which only the "
                                f"window graph can do; --graph {graph} is not available (use window or auto)")
            graph = GraphKind.WINDOW.value
        self.variant_name = variant or (DEFAULT_VARIANT if DEFAULT_VARIANT in self.bundle.variants(self.model_name)
                                        else self.bundle.variants(self.model_name)[0])
        # unknown variant -> UserError; and a damaged file of this variant is an error now, even
        # if a step or rollout graph will do the work (a bundle copied badly should not run)
        self._window_path = self.bundle.artifact_path(self.model_name, self.variant_name)
        self.mode = self.bundle.variant_id(self.model_name, self.variant_name).mode  # every graph's
        if threads is not None and not 1 <= threads <= MAX_THREADS:
            raise UserError(f"threads must be between 1 and {MAX_THREADS}, got {threads}")
        self.runtime = resolve_runtime(runtime)
        self.scaler = self.bundle.scaler
        self.normalization = self.bundle.normalization
        # a seasonal profile taken out before the model (edge_forecast.profile): the graphs forecast
        # r = y - p[slot(t)]; forecast / update take the values' times and add p back at the steps
        self.profile = self.bundle.profile
        self._last_time: float | None = None  # a profiled bundle: the time of the state's last value
        self._origin = OriginMap(self.scaler)  # the current forecast origin's map (signal <-> model)
        self._recent: np.ndarray | None = None  # the last W observations, when the origin moves with them
        self.graph = graph
        # F: a model of several channels forecasts (horizon, F); its loop runs F values per position
        self.channels = self.bundle.document.channel_count
        # values per window-graph invoke: H for a direct multi-step model (its closed loop and each
        # update's forecast advance a block of H at a time: forecast.run_block_loop), else 1
        self.block = self.bundle.block(self.model_name)
        self._threads = threads
        self._loaded: dict[str, StepModel | RolloutModel] = {}
        self.stepper_graph: str | None = None  # the graph `update` runs on (step or stream), if any
        self._stepper = self._step_graph()  # None: updates run on the window graph
        # the window graph only when something runs on it: with a step / stream graph it never does
        self._state = None if self._stepper is not None else self.normalization.loop_state(
            SlidingWindow(self._window_model()), self.bundle.window)
        # the closed loop's state: predict / push on the step graph, else on the window graph
        self._loop = StepWindow(self._stepper) if self._stepper is not None else self._state
        self._pending: np.ndarray | None = None  # a history the stepper has not read yet
        self.out_of_range = 0  # user values outside what the integer input represents (it saturates)
        # one interpreter and one state: concurrent invokes crashed or mixed forecasts (issue 13)
        self._lock = threading.RLock()
        self.reset()

    def _window_model(self) -> WindowModel:
        entry = self.bundle.variant(self.model_name, self.variant_name)
        self._refuse_known_failure(self.variant_name, entry, self._window_path)
        try:  # the path was checksum-verified at start
            model = WindowModel.from_file(self._window_path, self.runtime, self._threads)
        except (ValueError, RuntimeError, TypeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"runtime {self.runtime.value} cannot load {entry.file}: {first}") from None
        if model.window != self.bundle.window:
            raise UserError(f"{entry.file} takes a window of {model.window}, bundle.json says {self.bundle.window}")
        if model.block != self.block:
            raise UserError(f"{entry.file} gives {model.block} values per invoke, bundle.json says {self.block}")
        return model

    def _variant(self, graph: str) -> VariantId:
        """This forecaster's mode in `graph` (a GraphKind value)."""
        return VariantId(GraphKind(graph), self.mode)

    def has_graph(self, graph: str) -> bool:
        return self._variant(graph) in self.bundle.variant_ids(self.model_name)

    def _graph_model(self, graph: str) -> StepModel | RolloutModel:
        """Load (once) the step / stream / rollout variant of this mode, or a one-line error."""
        if graph in self._loaded:
            return self._loaded[graph]
        key = self._variant(graph)
        if not self.has_graph(graph):
            have = sorted({v.graph.value for v in self.bundle.variant_ids(self.model_name) if v.mode is self.mode})
            model = self.bundle.model(self.model_name)
            stateless = graph in (GraphKind.STEP.value, GraphKind.STREAM.value) and (
                model.kind == "ar" or model.get("highway"))  # the linear path carries no recurrent state
            hint = ("a linear model or highway has no recurrent state to step" if stateless
                    else f"export with --graphs {graph}")
            raise UserError(f"bundle has no {graph} graph for {self.model_name}/{self.variant_name}; graphs it has: "
                            f"{', '.join(have)} ({hint})")
        entry = self.bundle.variant(self.model_name, key)
        path = self.bundle.artifact_path(self.model_name, key)
        self._refuse_known_failure(key.key, entry, path)
        try:
            if graph == GraphKind.ROLLOUT.value:
                self._loaded[graph] = RolloutModel.from_file(path, self.runtime, self._threads)
            else:  # the tensor indices recorded at export (older bundles: the model's signature)
                self._loaded[graph] = StepModel.from_file(path, self.runtime, self._threads,
                                                          entry.get("tensors"))
        except (ValueError, RuntimeError, TypeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"runtime {self.runtime.value} cannot load {entry.file}: {first}") from None
        return self._loaded[graph]

    def _step_graph(self) -> StepModel | None:
        """The graph `update` runs on: forced step / stream, or auto's choice when present: the
        stream graph for a stream-trained model, the exact step graph for the others."""
        if self.graph in (GraphKind.STEP.value, GraphKind.STREAM.value):
            self.stepper_graph = self.graph
        elif self.graph == "auto":  # the graph of the forecaster the model was trained to be
            choice = GraphKind.STREAM if self.bundle.stream_trained(self.model_name) else GraphKind.STEP
            self.stepper_graph = choice.value if self.has_graph(choice.value) else None
        return self._graph_model(self.stepper_graph) if self.stepper_graph else None

    def forecast_graph(self, horizon: int) -> str:
        """The graph kind ("window", "step", "stream" or "rollout") a forecast of `horizon` values
        runs on (with graph "auto": the rollout graph when it reaches that far, else the step or
        stream graph, else the window graph). Raises UserError where the chosen graph cannot."""
        return self._forecast_graph(horizon)

    def _forecast_graph(self, steps: int) -> str:
        if self.graph == GraphKind.ROLLOUT.value:
            horizon = self._graph_model(self.graph).horizon
            if steps > horizon:
                others = [g for g in (GraphKind.STEP.value, GraphKind.STREAM.value) if self.has_graph(g)]
                raise UserError(f"the rollout graph forecasts {horizon} steps; {steps} were asked "
                                f"(use --graph {', '.join(['auto', *others])} or window)")
            return self.graph
        if self.graph == "auto":
            if self.has_graph(GraphKind.ROLLOUT.value) and steps <= self._graph_model(GraphKind.ROLLOUT.value).horizon:
                return GraphKind.ROLLOUT.value
            return self.stepper_graph or GraphKind.WINDOW.value
        return self.graph

    def _refuse_known_failure(self, key: str, entry: VariantEntry, path: Path) -> None:
        """Refuse what bundle.json records as failing here; check in a child what it does not know."""
        status = runtime_status(entry, self.runtime.value)
        where = "recorded at export"
        if status.get("ok") is None:  # absent in the record: not checked either
            status = first_invoke_verdict(path, entry.sha256, self.runtime)
            where = "its first invoke, checked in a child process"
        if status.get("ok") is False:
            others = [v for v in runnable_variants(self.bundle, self.model_name, self.runtime) if v != key]
            raise UserError(
                f"runtime {self.runtime.value} cannot run {self.model_name}/{key} on "
                f"{platform.machine()} ({status.get('error', 'failed at export')}; {where}); "
                f"variants it can run: {', '.join(others) or 'none'}"
            )

    @property
    def window(self) -> int:
        return self.bundle.window

    def _check_history(self, history: np.ndarray, graph: str | None = None) -> np.ndarray:
        last = check_history(self.bundle, history)
        self._set_origin(last)
        self._count_out_of_range(last, graph or self.stepper_graph or GraphKind.WINDOW.value)
        return last

    def _set_origin(self, last: np.ndarray) -> None:
        """The map of the forecast origin after `last` (the last W values, signal units)."""
        self._origin = self.normalization.origin(self.scaler, last)
        if self.normalization.per_origin:
            self._recent = np.array(last, dtype=np.float64)

    def input_range(self, graph: str | None = None) -> tuple[float, float] | None:
        """Signal values the input tensor of `graph` (default: the one updates run on) represents."""
        if self.normalization.per_step:  # the input sees each window on its own map: no fixed signal range
            return None
        key = self._variant(graph or self.stepper_graph or GraphKind.WINDOW.value)
        return input_range(self.bundle, self.bundle.variant(self.model_name, key), self._origin)

    def _count_out_of_range(self, values: np.ndarray, graph: str) -> None:
        """Saturation is not an error (the model still answers) but must never be silent: count it."""
        limits = self.input_range(graph)
        if limits is not None:
            self.out_of_range += int(np.count_nonzero((values < limits[0]) | (values > limits[1])))

    def _residual(self, history, times) -> tuple[np.ndarray, np.ndarray | None]:
        """A profiled bundle's history less p at its times, and the times; others' as given, None."""
        if self.profile is None:
            return history, None
        history = np.asarray(history, dtype=np.float64).reshape(-1)
        stamps = history_times(self.profile, history.size, times)
        return history - self.profile.at(stamps), stamps

    def _context_last_time(self) -> float:
        """A profiled bundle's context window: the time of its last value (bundle.json profile)."""
        last = self.bundle.document.profile.get("context_last_seconds")
        if last is None:
            raise UserError("this bundle's profile does not date its context window; give a history with its times")
        return float(last)

    def reset(self, history: np.ndarray | None = None, times=None) -> None:
        """Start again from `history` (its last W values) or from the bundle's context window.
        `times`: the history's times (seconds; one per value, or the last value's), which a
        bundle with a seasonal profile needs."""
        if history is not None:
            history, stamps = self._residual(history, times)
            self._last_time = None if stamps is None else float(stamps[-1])
        else:
            self._last_time = self._context_last_time() if self.profile is not None else None
        self._reset(history)

    def _reset(self, history: np.ndarray | None) -> None:
        """`reset` on the values the model reads (a profiled bundle's residuals)."""
        with self._lock:  # the out-of-range count too: one Forecaster may serve several threads
            if history is None:
                values = self.bundle.context_window
                self._set_origin(values)
            else:
                values = self._check_history(history)
            self._restart(self._origin.transform(values))
            self._sync()

    def _restart(self, scaled: np.ndarray) -> None:
        """The window graph takes the values now; the stepper reads them when next used."""
        if self._state is not None:
            self._state.fill(scaled)
        self._pending = scaled if self._stepper is not None else None

    def _sync(self) -> None:
        """W invokes once: every staggered row (or the stream state) restarts within the window."""
        if self._pending is not None:
            self._stepper.prime(self._pending)
            self._pending = None

    def _closed_loop(self, steps: int) -> np.ndarray:
        """The closed loop from the current state (one invoke per value), in signal units."""
        return self._origin.inverse(self._positions(run_closed_loop(self._loop, steps * self.channels)))

    def _positions(self, values: np.ndarray) -> np.ndarray:
        """A loop's model-unit values, flat and time-major, per position: (steps, F) of several
        channels (their scaler applies per channel), as they are of one."""
        return values if self.channels == 1 else values.reshape(-1, self.channels)

    def forecast(self, history: np.ndarray | None = None, horizon: int | None = None, times=None) -> np.ndarray:
        """Closed loop: the `horizon` values after `history` (signal units, any length >= the window;
        default: the bundle's context window), float64 (horizon,) in signal units; of a bundle of F
        channels (bundle.json `channels`), a history (points, F) and a forecast (horizon, F), the
        channels in the order the model reads them. `horizon` defaults to 1. `times`: the history's
        times in seconds since 1970 as the reader records them (UTC, or naive wall-clock read as
        UTC), one per value or the last value's alone; a bundle
        with a seasonal profile needs them (its model forecasts y - p[slot]; the forecast steps are
        the profile's interval apart), others ignore them.

        The state is left at `history`: a later `update` appends its observation after it (the
        forecast's own predictions never enter the stream), whichever graph ran the forecast.
        Raises UserError for `horizon` outside 1..MAX_STEPS (or beyond a forced rollout graph's
        horizon) and for a history that is short, not finite or beyond float32."""
        horizon = 1 if horizon is None else horizon
        check_steps(horizon, "horizon")
        if self.profile is None:
            with self._lock:
                return self._forecast(history, horizon)
        if history is None:  # the bundle's context window: residuals already, dated by the bundle
            last = self._context_last_time()
        else:
            history, stamps = self._residual(history, times)
            last = float(stamps[-1])
        with self._lock:
            found = self._forecast(history, horizon)
            self._last_time = last  # the state is left at `history`: next_forecast / update date from it
        return found + self.profile.ahead(last, horizon)

    def _forecast(self, history: np.ndarray | None, steps: int) -> np.ndarray:
        graph = self._forecast_graph(steps)
        if graph == GraphKind.ROLLOUT.value:
            if history is None:
                values = self.bundle.context_window
                self._set_origin(values)
            else:
                values = self._check_history(history, graph)
            self._restart(self._origin.transform(values))  # a later update continues from this history
            found = self._graph_model(graph).forecast(self._origin.transform(values))
            return self._origin.inverse(self._positions(found[: steps * self.channels]))
        self._reset(history)
        return self._on_copy(steps)

    def _on_copy(self, steps: int) -> np.ndarray:
        """Run the closed loop and put the state back: the stream continues from observations only."""
        saved = self._loop.snapshot()
        try:
            return self._closed_loop(steps)
        finally:
            self._loop.restore(saved)

    def forecast_interval(self, history: np.ndarray | None = None, horizon: int | None = None,
                          levels: tuple[float, ...] | list[float] | None = None, times=None) -> IntervalForecast:
        """`forecast(history, horizon)` with its prediction intervals at `levels` (percent; default:
        every level the variant has): the half-widths bundle.json records for the variant that runs
        this forecast (`forecast_graph(horizon)` in this mode), split-conformal quantiles of its
        own closed-loop error per step over the validation origins (edge_forecast.intervals).

        Raises UserError when that variant has no intervals (a bundle exported before them or with
        --levels none), when a level is not recorded or had too few origins, and when `horizon` is
        beyond the intervals' horizon: past the validation backtest's horizon nothing measured the
        error, so no bound is given (bundle.json `beyond_horizon`: refused)."""
        horizon = 1 if horizon is None else horizon
        check_steps(horizon, "horizon")
        with self._lock:
            key = self._variant(self._forecast_graph(horizon)).key
            widths = self.half_widths(key, horizon, levels)
        point = self.forecast(history, horizon, times)  # `times`: as forecast's (a seasonal profile)
        return IntervalForecast(point, tuple(widths), {lv: point - w for lv, w in widths.items()},
                                {lv: point + w for lv, w in widths.items()}, widths, key,
                                self.bundle.variant(self.model_name, key).intervals.origins)

    def half_widths(self, variant: str, horizon: int, levels=None) -> dict[float, np.ndarray]:
        """Per level, `variant`'s half-widths for steps 1..horizon (signal units), or a UserError
        saying why there are none."""
        where = f"{self.model_name}/{variant}"
        found = self.bundle.variant(self.model_name, variant).intervals
        if found is None:
            raise UserError(f"{where} has no prediction intervals (bundle.json: no intervals; export it again with "
                            "this edge-forecast, without --levels none)")
        if found.origins == 0:
            raise UserError(f"{where} has no prediction intervals: {found.reason}")
        if horizon > found.horizon:
            raise UserError(f"the prediction intervals of {where} cover {found.horizon} steps (the validation "
                            f"backtest's horizon); {horizon} were asked, and beyond them nothing measured the error "
                            f"(forecast without intervals, or ask a horizon up to {found.horizon})")
        chosen = found.available if levels is None else [tidy(lv) for lv in levels]
        if not chosen:
            reasons = "; ".join(f"{level_name(lv.level)}%: {lv.reason}" for lv in found.levels)
            raise UserError(f"{where} has no prediction interval at any level ({reasons})")
        out = {}
        for value in chosen:
            level = found.level(value)
            if level is None:
                raise UserError(f"{where} has no {level_name(value)}% interval; its levels: "
                                f"{', '.join(level_name(lv.level) for lv in found.levels)}")
            if not level.available:
                raise UserError(f"{where} has no {level_name(value)}% interval: {level.reason}")
            out[level.level] = np.asarray(level.half_width[:horizon], dtype=np.float64)
        return out

    def update(self, value: float, horizon: int = 1, time: float | None = None) -> np.ndarray:
        """Take one observation (signal units); return the forecast of the next `horizon` values,
        float64 (horizon,) in signal units. One invoke per forecast value on the step / stream
        graph and the window graph alike; a direct multi-step model's window graph makes a new
        block from the newest window, one invoke per `block` values. `time`: the observation's
        time (seconds, as `forecast`'s times), which a bundle with a seasonal profile needs.

        The observation enters the window; the closed loop for the horizon runs on a copy of the
        state, so the stream continues from observations only. Raises UserError for a value that
        is not finite or a horizon outside 1..MAX_STEPS.
        """
        if self.channels > 1:
            raise UserError(f"update takes one value per observation; this model reads {self.channels} channels per "
                            "position (streaming updates of several channels are not built yet; forecast from a "
                            "history instead)")
        value = float(value)
        if not np.isfinite(value):
            raise UserError(f"observation {value} is not a finite number")
        check_steps(horizon, "horizon")
        if self.profile is not None:
            if time is None or not np.isfinite(float(time)):
                raise UserError(f"this model removes a {self.profile.label()} seasonal profile: each observation "
                                "needs its time (update(value, time=seconds); run --follow: a time column)")
            value -= float(self.profile.at(float(time)))
            self._last_time = float(time)
        scaled = float(self._origin.transform(value))
        if not abs(scaled) <= FLOAT32_MAX:  # would become inf in the float32 input, with a numpy warning
            raise UserError(f"observation {value:g} is out of range for the model's float32 input")
        with self._lock:
            found = self._update(value, scaled, horizon)
        return found if self.profile is None else found + self.profile.ahead(float(time), horizon)

    def _update(self, value: float, scaled: float, horizon: int) -> np.ndarray:
        self._count_out_of_range(np.array([value]), self.stepper_graph or GraphKind.WINDOW.value)
        if self._recent is not None:  # the origin moves: the new last W values give the new map
            self._recent[:-1] = self._recent[1:]
            self._recent[-1] = value
            self._set_origin(self._recent)
            self._restart(self._origin.transform(self._recent))
            self._sync()
        else:
            self._sync()
            self._loop.push(scaled)
        if horizon == 1:  # nothing to put back: the one prediction does not change the state
            return self._origin.inverse(np.array([self._loop.predict()]))
        return self._on_copy(horizon)

    def next_forecast(self, horizon: int = 1) -> np.ndarray:
        """The forecast of the next `horizon` values from the current state (after the last
        `reset` or `update`), on the graph `update` runs on, without an observation: what the
        last `update` returned, and the one a stream's first value is compared with
        (edge.anomaly). float64 (horizon,) in signal units; the state is left as it was."""
        check_steps(horizon, "horizon")
        with self._lock:
            self._sync()
            found = (self._origin.inverse(np.array([self._loop.predict()])) if horizon == 1
                     else self._on_copy(horizon))
        if self.profile is None:
            return found
        if self._last_time is None:  # a state started without times: nothing dates the next step
            raise UserError(f"this model removes a {self.profile.label()} seasonal profile: start it from a history "
                            "with its times (reset(history, times=...)) or from the bundle's context window")
        return found + self.profile.ahead(self._last_time, horizon)


def _split_variant(variant: str | None, graph: str) -> tuple[str | None, str]:
    """'step-int8' -> ('int8', 'step'); the graph in the name must agree with `graph`. A name
    that is no variant is left to the bundle's list of variants to refuse."""
    if graph not in GRAPH_CHOICES:
        raise UserError(f"unknown graph {graph!r}; valid: {', '.join(GRAPH_CHOICES)}")
    try:
        named = VariantId.parse(variant) if variant else None
    except ValueError:
        return variant, graph
    if named is None or named.key == variant and named.graph is GraphKind.WINDOW:  # a mode alone
        return variant, graph
    if graph not in ("auto", named.graph.value):
        raise UserError(f"--variant {variant} is a {named.graph.value} graph but --graph is {graph}")
    return named.mode.value, named.graph.value
