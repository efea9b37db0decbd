"""The chronological three-way split: training / validation / test (numpy only).

Values [0, train_end) train (targets included); [train_end, val_end) validate (early stopping and
`--select best`); [val_end, points) are the test segment, which neither training nor selection
reads. The true window before a segment may overlap the previous segment: a forecast from the
first test origin starts from the last W validation values, as it would in deployment.

A series split at long gaps (signals.Segments) keeps these index bounds; what it changes is which
windows train and which origins are scored: only those inside one segment (`starts`, `plan`). A
segment may straddle a bound: its windows then train or validate by where they end, as without gaps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge_forecast.contracts.run_record import SplitRecord
from edge_forecast.errors import UserError
from edge_forecast.evaluation import MAX_TEST_ORIGINS, Plan, plan_origins
from edge_forecast.signals import Segments, starts_within, train_split


@dataclass(frozen=True)
class Split:
    points: int
    window: int
    train_end: int
    val_end: int
    segments: Segments | None = None  # None: the series is one segment

    def starts(self, points: int, span: int) -> np.ndarray:
        """bool per start i of a span of `span` values in the first `points`: inside one segment."""
        return starts_within(self.segments, points, span)

    def plan(self, part: str, horizon: int, stride: int, max_origins: int = MAX_TEST_ORIGINS,
             context: int | None = None) -> Plan:
        """The backtest origins of the "validation" or "test" part, none whose `context` values
        before it (the window when None) or horizon cross a segment's end. Raises UserError when a
        split series leaves the part no origin."""
        start, stop = (self.train_end, self.val_end) if part == "validation" else (self.val_end, self.points)
        try:
            return plan_origins(start, stop, context or self.window, horizon, stride, max_origins, self.segments)
        except ValueError as err:
            if self.segments is None:
                raise
            raise UserError(f"the {part} part: {err} (long gaps split it); lower --horizon or --window, raise "
                            f"--max-gap, or give the {part} part more values") from None

    @property
    def train_windows(self) -> int:
        return self.train_end - self.window

    @property
    def has_validation(self) -> bool:
        return self.val_end > self.train_end

    @property
    def has_test(self) -> bool:
        return self.points > self.val_end

    def record(self) -> SplitRecord:
        """The run record's split (what export and bench read): training windows, where training
        ends, where the test segment starts."""
        return SplitRecord(train_windows=self.train_windows, train_points=self.train_end, test_start=self.val_end)

    def to_dict(self) -> dict:
        return {"points": self.points, "windows": self.points - self.window, "train_windows": self.train_windows,
                "train_points": self.train_end, "validation_start": self.train_end, "test_start": self.val_end,
                **({"segments": [list(s) for s in self.segments]} if self.segments else {})}


def count_test_values(points: int, test_split: float) -> int:
    """How many trailing values `--test-split` holds out: a fraction in [0, 1) of the series, or a
    whole count of values (>= 1)."""
    if test_split < 0:
        raise UserError(f"--test-split must be a fraction in [0, 1) or a count of values, got {test_split:g}")
    if test_split < 1:
        return int(math.floor(points * test_split))
    if test_split != int(test_split):
        raise UserError(f"--test-split {test_split:g} is neither a fraction below 1 nor a whole count of values")
    return int(test_split)


def make_split(points: int, window: int, validation_split: float, test_split: float,
               segments: Segments | None = None) -> Split:
    """Test segment first (the trailing values), then Keras' validation rule on the windows before it."""
    n_test = count_test_values(points, test_split)
    val_end = points - n_test
    if val_end < window + 2:
        raise UserError(f"--test-split leaves {val_end} values before the test segment; window {window} "
                        f"needs at least {window + 2} (lower --test-split or --window)")
    train_end = train_split(val_end - window, validation_split) + window
    return Split(points, window, train_end, val_end, segments)
