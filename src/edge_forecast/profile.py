"""The seasonal profile outside the graph (numpy only: the device runs it too).

A weekly season at 30 minutes is 336 values, beyond a model's window of 20; the training part's
mean per slot of the season, subtracted before the models and added back to their forecasts,
carries it with a table of `season` floats and the slot of the time, no ring buffer of past
values. Measured against seasonal lags, calendar inputs and seasonal differencing on NAB and ETT
(benchmarks/results/long_season.md, docs/design/0012-long-seasons.md): best on 4 of 7 seasonal series.

The slot comes from the time, not the index (contracts.profile.SLOT_RULE), so gaps, dropped
values and segments (signals.Segments) do not shift the phase, and a device computes it from its
clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_forecast.contracts.profile import ProfileRecord
from edge_forecast.errors import UserError


@dataclass(frozen=True)
class SeasonalProfile:
    """p[k] (float64, (season,), signal units) and the grid a time's slot is read on."""

    values: np.ndarray
    interval_seconds: float
    anchor_seconds: float
    anchor_time: str = ""
    zone: str | None = None
    name: str | None = None

    @property
    def season(self) -> int:
        return int(self.values.size)

    def slots(self, times) -> np.ndarray:
        """int64 slot of each time (seconds, the reader's clock): the nearest grid step mod season."""
        steps = np.floor((np.asarray(times, dtype=np.float64) - self.anchor_seconds) / self.interval_seconds + 0.5)
        return np.mod(steps.astype(np.int64), self.season)

    def at(self, times) -> np.ndarray:
        """p at each time, float64 of the times' shape."""
        return self.values[self.slots(times)]

    def ahead(self, last_time: float, steps: int) -> np.ndarray:
        """p at the `steps` grid steps after `last_time`: what a forecast from there adds back."""
        return self.at(float(last_time) + self.interval_seconds * np.arange(1, steps + 1))

    def label(self) -> str:
        return f"{self.name or 'season'} ({self.season} slots)"

    @classmethod
    def fit(cls, values: np.ndarray, times: np.ndarray, season: int, interval_seconds: float, train_end: int,
            anchor_time: str = "", zone: str | None = None, name: str | None = None) -> SeasonalProfile:
        """The mean of the training part's values (the first `train_end`) per slot of `season`,
        anchored at the first time. NaN values are skipped; a slot with no finite training value
        takes the mean of those that have one (a training part shorter than a season, or with gaps
        on the same slots: the profile then says nothing about that slot, and the model sees y less
        the level). Raises ValueError when the training part has no finite value."""
        values = np.asarray(values, dtype=np.float64)
        times = np.asarray(times, dtype=np.float64)
        if times.shape != values.shape:
            raise ValueError(f"{times.size} times for {values.size} values")
        profile = cls(np.zeros(season), float(interval_seconds), float(times[0]), anchor_time, zone, name)
        train, slot = values[:train_end], profile.slots(times[:train_end])
        ok = np.isfinite(train)
        if not ok.any():
            raise ValueError("the training part has no finite value")
        sums = np.bincount(slot[ok], weights=train[ok], minlength=season)
        counts = np.bincount(slot[ok], minlength=season)
        means = np.full(season, float(np.mean(train[ok])))
        np.divide(sums, counts, out=means, where=counts > 0)
        return cls(means, profile.interval_seconds, profile.anchor_seconds, anchor_time, zone, name)

    def record(self, context_last_seconds: float | None = None) -> ProfileRecord:
        return ProfileRecord(season=self.season, interval_seconds=self.interval_seconds,
                             anchor_seconds=self.anchor_seconds, anchor_time=self.anchor_time,
                             values=[float(v) for v in self.values], zone=self.zone, name=self.name,
                             context_last_seconds=context_last_seconds)

    @classmethod
    def from_record(cls, record: ProfileRecord | dict) -> SeasonalProfile:
        if isinstance(record, dict):
            record = ProfileRecord.from_dict(record, "profile")
        return cls(np.asarray(record.values, dtype=np.float64), record.interval_seconds, record.anchor_seconds,
                   record.anchor_time, record.zone, record.name)


def history_times(profile: SeasonalProfile, size: int, times) -> np.ndarray:
    """The times (seconds) of a history of `size` values: `times` of the same length, or one number,
    the time of the last value (the others a grid step apart). A UserError when none is given: a
    profiled model cannot know the phase without them."""
    if times is None:
        raise UserError(f"this model removes a {profile.label()} seasonal profile and needs the time of the "
                        "history's values (times=, or a time column in the file)")
    stamps = np.asarray(times, dtype=np.float64).reshape(-1)
    if stamps.size == 1 and size != 1:
        stamps = stamps[0] - profile.interval_seconds * np.arange(size - 1, -1, -1)
    if stamps.size != size:
        raise UserError(f"{stamps.size} times for a history of {size} values")
    if not np.isfinite(stamps).all():
        raise UserError("the history's times must be finite numbers of seconds")
    return stamps
