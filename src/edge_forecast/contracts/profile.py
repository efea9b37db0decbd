"""The seasonal profile as the run record and bundle.json carry it (stdlib only).

A run whose series has timestamps and a season may take the training part's mean seasonal profile
out before the models (edge_forecast.profile): the models learn r = y - p[slot(t)], and every
forecast adds p back at its steps' slots. The device computes the slot from its clock:

    slot(t) = floor((t - anchor_seconds) / interval_seconds + 1/2) mod season

t in seconds since 1970 as the reader records them: UTC for stamps with an offset, wall-clock
(the stamps' digits read as if UTC) for naive stamps (`zone` null). The half rounds to the nearest
grid step, so a clock a little early or late still lands in its slot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge_forecast.contracts.schema import Contract, ContractError, checked, finite

SLOT_RULE = "slot = floor((t - anchor_seconds) / interval_seconds + 1/2) mod season"
PROFILE_CHOICES = ("auto", "on", "none")


@dataclass(frozen=True)
class ProfileRecord(Contract):
    """p[k], k = 0..season-1, signal units (before the run's scaler), and how a time gives its slot."""

    season: int = checked(lambda s: s >= 2, "must be an integer of at least 2")
    interval_seconds: float = checked(lambda s: math.isfinite(s) and s > 0, "must be a positive number of seconds")
    anchor_seconds: float = checked(finite, "must be a finite number of seconds")
    anchor_time: str = checked(bool, "must be an ISO 8601 time")  # the anchor in the file's zone, for people
    values: list[float] = checked(lambda v: all(math.isfinite(x) for x in v), "must hold finite numbers")
    zone: str | None = None  # the stamps' UTC offset ("+01:00"); None: naive wall-clock times
    name: str | None = None  # day, week, year: what the season is on the calendar
    slot_rule: str = SLOT_RULE
    # bundle.json only: the time of the context window's last value (its values are residuals)
    context_last_seconds: float | None = None

    def __post_init__(self) -> None:
        if len(self.values) != self.season:
            raise ContractError("values", f"must hold `season` ({self.season}) numbers")
        if self.context_last_seconds is not None and not math.isfinite(self.context_last_seconds):
            raise ContractError("context_last_seconds", "must be a finite number of seconds")

    def label(self) -> str:
        """'week (336 slots)'."""
        return f"{self.name or 'season'} ({self.season} slots)"


@dataclass(frozen=True)
class ProfileChoice(Contract):
    """Whether the run took a profile out, asked how (`--profile`), and why: the validation
    backtest RMSE of AR(window) fitted with and without it (signal units), where compared."""

    asked: str = checked(lambda a: a in PROFILE_CHOICES, f"must be one of {', '.join(PROFILE_CHOICES)}")
    used: bool = False
    reason: str = ""
    validation_rmse: float | None = None          # AR(window) on the residual, forecasts + p
    validation_rmse_without: float | None = None  # AR(window) on the series
