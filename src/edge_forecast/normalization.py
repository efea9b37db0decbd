"""Instance normalization outside the graph (numpy only: runs on a device).

Reversible instance normalization (Kim et al., "Reversible Instance Normalization for Accurate
Time-Series Forecasting against Distribution Shift", ICLR 2022): a window is mapped by its own
location and scale before the model sees it, and the model's output is mapped back, so an integer
input grid covers a fixed normalized range whatever the signal's amplitude or level (issue #15;
the rules were compared by measurement, docs/design/evidence/instance_norm_int8_rules.md).

Rules (window w in model units, i.e. after the run's global scaler; floor > 0 keeps a flat
stretch finite):
- ``none``: location 0, scale 1 (the identity; old bundles and runs);
- ``perstep``: at every step of the closed loop, the current sliding window (true values and fed
  back predictions) is mapped by its own mean and max(std, floor) and the prediction mapped back.
  A window-graph forecaster only: a step / stream graph carries state across steps, which a map
  that changes every step would invalidate, and the rollout graph's loop is inside the graph;
- ``origin``: RevIN's map, mean and max(std, floor) of the forecast origin's window, fixed for
  the whole horizon: one affine map outside the loop, so it applies to every graph kind;
- ``origin-mean``: the origin window's mean only (the amplitude kept, the level removed);
- ``auto`` (the default of ``train``): a rule on the training part only, no extra training
  (`choose_rule`): ``perstep`` where the signal's scale drifts (the standard deviations of the
  training part's thirds differ by DRIFT_LIMIT x or more: an integer grid fitted on the whole
  range is coarse where the amplitude is small), ``none`` where it does not (Mackey-Glass: its
  dynamics act on the absolute level, which a normalized window hides). The run records the rule
  chosen, never ``auto``.

Training uses these same functions (train/rollout.py, train/stream.py, train/fit.py), so the
device's arithmetic is training's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edge_forecast.errors import UserError, choice_error
from edge_forecast.signals import Scaler

RULES = ("none", "perstep", "origin", "origin-mean")
AUTO = "auto"
CHOICES = (AUTO, *RULES)  # what --normalize accepts; runs and bundles record one of RULES
DEFAULT_RULE = AUTO
# auto's rule (measured in docs/design/evidence/instance_norm_int8.md): the training part cut into
# DRIFT_BLOCKS consecutive parts; their largest standard deviation over their smallest is the scale
# drift (seed signal 8.50, Mackey-Glass 1.10). Thirds, not windows: a window's own spread varies
# along any oscillation, the thirds' spread only when the scale drifts.
DRIFT_BLOCKS = 3
DRIFT_LIMIT = 2.0
# The scale floor as a fraction of the training part's standard deviation (model units): a window
# of a flat stretch of signal keeps a finite map instead of dividing by ~0.
FLOOR_FRACTION = 1e-3


def check_rule(rule: str, choices: tuple[str, ...] = RULES) -> str:
    """The rule name, lower-cased; a UserError listing the valid `choices` otherwise (CHOICES for
    an option, which may say auto; RULES for a recorded rule)."""
    name = str(rule).strip().lower()
    if name not in choices:
        raise choice_error("--normalize rule", rule, choices)
    return name


def scale_drift(train_scaled: np.ndarray, window: int) -> float | None:
    """How far the signal's scale drifts over the training part: the training part (model units,
    (n,)) cut into DRIFT_BLOCKS consecutive parts, the largest part's standard deviation over the
    smallest's (>= 1). None when a part is shorter than two windows (too short to tell)."""
    values = np.asarray(train_scaled, dtype=np.float64).reshape(-1)
    if values.size < DRIFT_BLOCKS * 2 * window:
        return None
    spreads = np.array([part.std() for part in np.array_split(values, DRIFT_BLOCKS)])
    return float(spreads.max() / spreads.min()) if spreads.min() > 0 else float("inf")


def choose_rule(train_scaled: np.ndarray, window: int, per_step: bool = True) -> tuple[str, str]:
    """auto's rule and the reason, one line: ``perstep`` where the training part's scale drifts
    DRIFT_LIMIT x or more (`scale_drift`) and the model can be trained with it (`per_step`: a
    window-trained recurrent model; ar, a highway, --model auto and --stream take ``none``),
    ``none`` otherwise."""
    drift = scale_drift(train_scaled, window)
    if drift is None:
        return "none", (f"the training part is shorter than {DRIFT_BLOCKS * 2} windows: "
                        "too short to measure its scale drift")
    measured = f"the training part's scale drifts {drift:.2f}x across its thirds (perstep from {DRIFT_LIMIT:g}x)"
    if drift < DRIFT_LIMIT:
        return "none", measured
    if not per_step:
        return "none", measured + ", but this model is not trained with perstep"
    return "perstep", measured


@dataclass(frozen=True)
class Normalization:
    """One rule and its constant; `stats` gives each origin's map, `forward` / `inverse` apply it."""

    rule: str = "none"
    floor: float = 0.0  # model units; the lower bound of the scale, read only by rules that scale (perstep, origin)
    reason: str = field(default="", compare=False)  # auto's decision (run record only)

    @classmethod
    def for_training(cls, rule: str, train_scaled: np.ndarray, window: int | None = None,
                     per_step: bool = True) -> Normalization:
        """The rule with its floor fitted on the training part (model units, (n,)); ``auto``
        resolved by `choose_rule` (needs `window`; `per_step`: whether the model can be trained
        with ``perstep``)."""
        rule, reason = check_rule(rule, CHOICES), ""
        if rule == AUTO:
            if window is None:
                raise ValueError("--normalize auto needs the window to measure the scale drift")
            rule, reason = choose_rule(train_scaled, window, per_step)
        if not cls(rule).scales:
            return cls(rule, reason=reason)
        floor = FLOOR_FRACTION * float(np.std(np.asarray(train_scaled, dtype=np.float64)))
        return cls(rule, floor if floor > 0 else FLOOR_FRACTION, reason)

    @property
    def active(self) -> bool:
        return self.rule != "none"

    @property
    def scales(self) -> bool:
        """Whether the rule divides by the window's standard deviation (and reads the floor)."""
        return self.rule in ("perstep", "origin")

    @property
    def per_origin(self) -> bool:
        """One map per forecast origin, fixed over the horizon (any graph kind)."""
        return self.rule in ("origin", "origin-mean")

    @property
    def per_step(self) -> bool:
        """A new map at every closed-loop step (window-graph forecasters only)."""
        return self.rule == "perstep"

    def stats(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(location, scale), float64 (B, 1) each, of windows (B, W) or (W,) (then (1, 1))."""
        rows = np.atleast_2d(np.asarray(windows, dtype=np.float64))
        if self.rule == "none":
            return np.zeros((rows.shape[0], 1)), np.ones((rows.shape[0], 1))
        loc = rows.mean(axis=1, keepdims=True)
        if not self.scales:
            return loc, np.ones_like(loc)
        return loc, np.maximum(rows.std(axis=1, keepdims=True), self.floor)

    @staticmethod
    def forward(values: np.ndarray, loc: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """Model units -> normalized units; `values` (B, n) with loc / scale (B, 1) (or broadcastable)."""
        return (np.asarray(values, dtype=np.float64) - loc) / scale

    @staticmethod
    def inverse(values: np.ndarray, loc: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """Normalized units -> model units (forward's inverse, to float64 rounding)."""
        return np.asarray(values, dtype=np.float64) * scale + loc

    def origin(self, scaler: Scaler, window: np.ndarray) -> OriginMap:
        """The map of one forecast origin: `window` (signal units, (W,)) through the run's scaler,
        then, for a per-origin rule, this rule's location and scale of it (otherwise the scaler
        alone: a per-step rule maps inside the loop, `step_predictor` / `PerStepWindow`)."""
        if not self.per_origin:
            return OriginMap(scaler)
        loc, scale = self.stats(scaler.transform(window))
        return OriginMap(scaler, float(loc[0, 0]), float(scale[0, 0]))

    def step_predictor(self, predict: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
        """For a per-step rule: windows (B, W) -> next values (B,), model units, by `predict` on
        each window mapped by its own statistics (`predict`: normalized (B, W) -> (B,)). Other
        rules: `predict` itself."""
        if not self.per_step:
            return predict

        def step(rows: np.ndarray) -> np.ndarray:
            loc, scale = self.stats(rows)
            out = np.asarray(predict(self.forward(rows, loc, scale)), dtype=np.float64).reshape(-1, 1)
            return self.inverse(out, loc, scale)[:, 0]

        return step

    def step_fn(self, step: Callable[[np.ndarray], float]) -> Callable[[np.ndarray], float]:
        """`step_predictor` for a one-window step function (W,) -> float."""
        if not self.per_step:
            return step
        batch = self.step_predictor(lambda rows: np.array([float(step(rows[0]))]))
        return lambda window: float(batch(np.asarray(window, dtype=np.float64)[None])[0])

    def window_forecaster(self, predict: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray, int], np.ndarray]:
        """The closed-loop forecaster (windows (B, W) or (W,), steps) -> (B, steps) or (steps,),
        model units, of a window predictor in normalized units (normalized (B, W) -> (B,)) under
        this rule: `closed_loop_batch` with each step's or each origin's map."""
        from edge_forecast.forecast import closed_loop_batch

        step = self.step_predictor(predict)
        return self.wrap(lambda windows, steps: closed_loop_batch(step, windows, steps))

    def loop_state(self, state, window: int):
        """A closed-loop state (fill / predict / push, snapshot / restore) over a window-graph
        state that renormalizes at every step for a per-step rule; `state` itself otherwise."""
        return PerStepWindow(state, self, window) if self.per_step else state

    def wrap(self, forecast: Callable[[np.ndarray, int], np.ndarray]) -> Callable[[np.ndarray, int], np.ndarray]:
        """A forecaster (windows (B, W) or (W,), steps) -> (B, steps) or (steps,), all in model
        units, that runs `forecast` (which works in normalized units) on each origin's map; for
        rules that are not per-origin, `forecast` itself."""
        if not self.per_origin:
            return forecast

        def normalized(windows: np.ndarray, steps: int) -> np.ndarray:
            loc, scale = self.stats(windows)
            out = self.inverse(np.atleast_2d(forecast(self.forward(np.atleast_2d(windows), loc, scale), steps)),
                               loc, scale)
            return out[0] if np.ndim(windows) == 1 else out

        return normalized

    def to_dict(self) -> dict:
        return {"rule": self.rule, "floor": self.floor, **({"auto": self.reason} if self.reason else {})}

    @classmethod
    def from_dict(cls, data: dict | None) -> Normalization:
        """From a run record or bundle.json; a missing field (older files) is `none`."""
        if not data:
            return cls()
        try:
            rule, floor, reason = check_rule(data["rule"]), float(data.get("floor", 0.0)), str(data.get("auto", ""))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise UserError("normalization needs rule (" + "|".join(RULES) + ") and a number floor") from None
        if not (np.isfinite(floor) and floor >= 0) or (cls(rule).scales and floor <= 0):
            raise UserError(f"normalization floor must be a finite number, > 0 for {rule}, got {floor!r}")
        return cls(rule, floor, reason)


NONE = Normalization()  # the identity: runs and bundles without instance normalization


@dataclass(frozen=True)
class OriginMap:
    """Signal units <-> the model's input units for one forecast origin: the run's global scaler,
    then the origin's location and scale (the same two steps, in the same order, as training's)."""

    scaler: Scaler
    loc: float = 0.0
    scale: float = 1.0

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Signal units -> model input units, float64, the shape of `values`."""
        return Normalization.forward(self.scaler.transform(values), self.loc, self.scale)

    def inverse(self, values: np.ndarray) -> np.ndarray:
        """Model output units -> signal units, float64, the shape of `values`."""
        return self.scaler.inverse(Normalization.inverse(values, self.loc, self.scale))


class PerStepWindow:
    """The closed-loop state of a per-step rule over a window-graph state (edge.artifact.
    SlidingWindow): it keeps the last W values in model units; `predict` maps the current window
    by its own statistics, fills the graph's input with it (W quantizations) and maps the
    prediction back; `push` appends a model-unit value. The runner's arithmetic of
    `Normalization.step_predictor`."""

    def __init__(self, state, norm: Normalization, window: int) -> None:
        if getattr(state, "block", 1) > 1:  # a map per step: the loop would need one per block value
            raise ValueError("a per-step normalization runs one-value window graphs, not a direct multi-step one")
        self.state, self.norm = state, norm
        self.values = np.zeros(window, dtype=np.float64)

    def fill(self, values: np.ndarray) -> None:
        self.values[:] = np.asarray(values, dtype=np.float64)[-self.values.size :]

    def predict(self) -> float:
        loc, scale = self.norm.stats(self.values)
        self.state.fill(self.norm.forward(self.values[None], loc, scale)[0])
        return float(self.norm.inverse(self.state.predict(), loc[0, 0], scale[0, 0]))

    def push(self, value: float) -> None:
        self.values[:-1] = self.values[1:]
        self.values[-1] = value

    def snapshot(self) -> np.ndarray:
        return self.values.copy()

    def restore(self, saved: np.ndarray) -> None:
        self.values[:] = saved
