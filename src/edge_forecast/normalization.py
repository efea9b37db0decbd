"""Instance normalization outside the graph, per forecast origin (numpy only: runs on a device).

Reversible instance normalization (Kim et al., "Reversible Instance Normalization for Accurate
Time-Series Forecasting against Distribution Shift", ICLR 2022): each forecast origin's window is
mapped by its own location and scale, the model (any kind, any graph, any quantization mode) runs
its whole closed loop in those normalized units, and every forecast value is mapped back. The map
is fixed for the horizon (as in RevIN), so it is one affine map outside the loop: it works
unchanged for the window, step, stream and rollout graphs, whose carried state would not survive a
map that changed at every step. An integer input grid then covers a fixed normalized range
whatever the signal's amplitude or level (issue #15; the rule was chosen by measurement,
benchmarks/results/instance_norm_int8.md).

Rules (per origin window w, in model units, i.e. after the run's global scaler):
- ``none``: location 0, scale 1 (the identity; old bundles);
- ``meanstd``: location mean(w), scale max(std(w), floor);
- ``mean``: location mean(w), scale 1 (the level is removed, the amplitude kept).

Training applies the same functions to its samples (train/rollout.py, train/stream.py), so the
device's arithmetic is training's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edge_forecast.errors import UserError, choice_error
from edge_forecast.signals import Scaler

RULES = ("none", "meanstd", "mean")
DEFAULT_RULE = "none"
# The scale floor as a fraction of the training part's standard deviation (model units): a window
# of a flat stretch of signal keeps a finite map instead of dividing by ~0.
FLOOR_FRACTION = 1e-3


def check_rule(rule: str) -> str:
    """The rule name, lower-cased; a UserError listing the valid rules otherwise."""
    name = str(rule).strip().lower()
    if name not in RULES:
        raise choice_error("--normalize rule", rule, RULES)
    return name


@dataclass(frozen=True)
class Normalization:
    """One rule and its constant; `stats` gives each origin's map, `forward` / `inverse` apply it."""

    rule: str = DEFAULT_RULE
    floor: float = 0.0  # model units; only meanstd reads it

    @classmethod
    def for_training(cls, rule: str, train_scaled: np.ndarray) -> Normalization:
        """The rule with its floor fitted on the training part (model units)."""
        rule = check_rule(rule)
        floor = FLOOR_FRACTION * float(np.std(np.asarray(train_scaled, dtype=np.float64))) if rule == "meanstd" else 0.0
        return cls(rule, floor if floor > 0 else FLOOR_FRACTION)

    @property
    def active(self) -> bool:
        return self.rule != "none"

    def stats(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(location, scale), float64 (B, 1) each, of windows (B, W) or (W,) (then (1, 1))."""
        rows = np.atleast_2d(np.asarray(windows, dtype=np.float64))
        if self.rule == "none":
            return np.zeros((rows.shape[0], 1)), np.ones((rows.shape[0], 1))
        loc = rows.mean(axis=1, keepdims=True)
        if self.rule == "mean":
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
        then this rule's location and scale of it."""
        loc, scale = self.stats(scaler.transform(window))
        return OriginMap(scaler, float(loc[0, 0]), float(scale[0, 0]))

    def wrap(self, forecast: Callable[[np.ndarray, int], np.ndarray]) -> Callable[[np.ndarray, int], np.ndarray]:
        """A forecaster (windows (B, W) or (W,), steps) -> (B, steps) or (steps,), all in model
        units, that runs `forecast` (which works in normalized units) on each origin's map."""
        if not self.active:
            return forecast

        def normalized(windows: np.ndarray, steps: int) -> np.ndarray:
            loc, scale = self.stats(windows)
            out = self.inverse(np.atleast_2d(forecast(self.forward(np.atleast_2d(windows), loc, scale), steps)),
                               loc, scale)
            return out[0] if np.ndim(windows) == 1 else out

        return normalized

    def to_dict(self) -> dict:
        return {"rule": self.rule, "floor": self.floor}

    @classmethod
    def from_dict(cls, data: dict | None) -> Normalization:
        """From a run record or bundle.json; a missing field (older files) is `none`."""
        if not data:
            return cls()
        try:
            rule, floor = check_rule(data["rule"]), float(data.get("floor", 0.0))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise UserError("normalization needs rule (" + "|".join(RULES) + ") and a number floor") from None
        if not (np.isfinite(floor) and floor >= 0) or (rule == "meanstd" and floor <= 0):
            raise UserError(f"normalization floor must be a finite number > 0 for meanstd, got {floor!r}")
        return cls(rule, floor)


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
