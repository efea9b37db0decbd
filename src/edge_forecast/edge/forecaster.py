"""Forecaster: the closed-loop forecast and the streaming update, in the user's units."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_forecast.bundle import Bundle, load_bundle
from edge_forecast.edge.artifact import SlidingWindow, WindowModel
from edge_forecast.edge.runtime import Runtime, resolve_runtime
from edge_forecast.errors import UserError

DEFAULT_VARIANT = "float32"


def runnable_variants(bundle: Bundle, model: str, runtime: Runtime) -> list[str]:
    """Variants that the bundle does not mark as failing on `runtime`."""
    return [
        name for name, entry in bundle.model(model)["variants"].items()
        if entry["runtimes"].get(runtime.value, {}).get("ok") is not False
    ]


class Forecaster:
    """Loads one model variant of a bundle and forecasts with one TFLite interpreter.

    Values in and out are in the signal's units; the bundle's scaler and the tensors'
    quantization are applied inside.
    """

    def __init__(self, bundle: str | Path | Bundle, model: str | None = None, variant: str | None = None,
                 runtime: str | Runtime = "auto", threads: int | None = None) -> None:
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        self.model_name = model or self.bundle.models[0]
        self.bundle.model(self.model_name)  # unknown model -> UserError listing the valid ones
        self.variant_name = variant or (DEFAULT_VARIANT if DEFAULT_VARIANT in self.bundle.variants(self.model_name)
                                        else self.bundle.variants(self.model_name)[0])
        entry = self.bundle.variant(self.model_name, self.variant_name)
        if threads is not None and threads < 1:
            raise UserError(f"--threads must be at least 1, got {threads}")
        self.runtime = resolve_runtime(runtime)
        self._refuse_known_failure(entry)
        path = self.bundle.artifact_path(self.model_name, self.variant_name)
        try:
            self._model = WindowModel(path, self.runtime, threads)
        except (ValueError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"runtime {self.runtime.value} cannot load {entry['file']}: {first}") from None
        if self._model.window != self.bundle.window:
            raise UserError(f"{entry['file']} takes a window of {self._model.window}, bundle.json says {self.bundle.window}")
        self.scaler = self.bundle.scaler
        self._state = SlidingWindow(self._model)
        self.invokes = 0
        self.reset()

    def _refuse_known_failure(self, entry: dict) -> None:
        status = entry["runtimes"].get(self.runtime.value)
        if status and status.get("ok") is False:
            others = runnable_variants(self.bundle, self.model_name, self.runtime)
            raise UserError(
                f"runtime {self.runtime.value} cannot run {self.model_name}/{self.variant_name} "
                f"({status.get('error', 'failed at export')}); variants it can run: {', '.join(others) or 'none'}"
            )

    @property
    def window(self) -> int:
        return self.bundle.window

    def _check_history(self, history: np.ndarray) -> np.ndarray:
        history = np.asarray(history, dtype=np.float64).reshape(-1)
        if history.size < self.window:
            raise UserError(f"the history has {history.size} values; the model needs at least {self.window} (its window)")
        if not np.isfinite(history[-self.window:]).all():
            raise UserError("the history has NaN or inf values in its last window")
        return history[-self.window:]

    def reset(self, history: np.ndarray | None = None) -> None:
        """Start again from `history` (its last W values) or from the bundle's seed window."""
        values = self.bundle.seed_window if history is None else self._check_history(history)
        self._state.fill(self.scaler.transform(values))

    def _rollout(self, steps: int) -> np.ndarray:
        out = np.empty(steps, dtype=np.float64)
        state = self._state
        for i in range(steps):
            y = state.predict()
            out[i] = y
            state.push(y)
        self.invokes += steps
        return self.scaler.inverse(out)

    def forecast(self, history: np.ndarray | None = None, steps: int = 1) -> np.ndarray:
        """Closed loop: `steps` values after `history` (default: the bundle's seed window)."""
        if steps < 1:
            raise UserError(f"--steps must be at least 1, got {steps}")
        self.reset(history)
        return self._rollout(steps)

    def update(self, value: float, horizon: int = 1) -> np.ndarray:
        """Take one observation; return the forecast of the next `horizon` values.

        The observation enters the window; the closed loop for the horizon runs on a copy of the
        state, so the stream continues from observations only.
        """
        value = float(value)
        if not np.isfinite(value):
            raise UserError(f"observation {value} is not a finite number")
        self._state.push((value - self.scaler.offset) / self.scaler.scale)
        if horizon == 1:
            self.invokes += 1
            return self.scaler.inverse(np.array([self._state.predict()]))
        saved = self._state.snapshot()
        try:
            return self._rollout(horizon)
        finally:
            self._state.restore(saved)
