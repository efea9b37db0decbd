"""Online scoring of a stream (numpy + stdlib only): adaptive conformal bounds and anomaly scores.

One `StreamScorer` serves `run --follow --score` and `detect FILE` alike: each arriving value is
compared with the one-step forecast made before it arrived, then enters the forecaster. Memory
and cost per step are constant (bounded windows; a sorted list kept by bisection).

- **Bounds (adaptive conformal inference; Gibbs & Candes 2021, "Adaptive Conformal Inference
  Under Distribution Shift").** Per level L (target miscoverage a = 1 - L/100) the scorer keeps
  a_t and updates a_{t+1} = a_t + rate (a - err_t), err_t = 1 when the value fell outside its
  bound. The half-width is the finite-sample conformal quantile at 1 - a_t of the last
  ERROR_WINDOW absolute one-step errors: rank k = ceil((n + 1)(1 - a_t)) among n. Why the window
  and not the bundle's half-widths scaled: bundle.json records a variant's half-widths at its
  export levels only, not the error distribution, so a level 1 - a_t that moves continuously has
  no width to map to, and scaling one recorded width assumes the error's shape never changes; the
  window follows both the scale and the shape of the errors now, and a_t corrects what remains.
  The bundle's step-1 half-width is used only while the window is too short for the rank (the
  first few values of a stream); k > n with a full window is Gibbs and Candes' infinite interval
  (no finite bound, err_t = 0), k <= 0 their empty one (a bound of width 0).
- **Scores (in the manner of NAB's anomaly likelihood; Ahmad et al. 2017, "Unsupervised real-time
  anomaly detection for streaming data").** The raw score of a value is the rank of its absolute
  error among the recent errors of unflagged values (the share of them below it, 0 to 1), and a
  single value also gets its own tail probability from an exponential tail fitted above the
  errors' REFERENCE quantile (a spike the short mean below would dilute). The mean of the last
  SHORT_WINDOW raw scores is compared with the mean and standard
  deviation of the previous LONG_WINDOW such means (NAB's floors: mean 0.03, variance 0.0003); its
  upper Gaussian tail probability is the error tail. One-sided: a value closer to its forecast
  than usual is no anomaly.
- **A flat line where the series moves.** A stuck sensor repeats one reading; once the window is
  flat a forecaster may well forecast the flat line, and its error says nothing. A run of r
  unchanged values (exactly equal, as a stuck reading is) has probability p0^r if unchanged steps
  come independently at the rate p0 = (z + 1) / (n + 2) of the last LONG_WINDOW steps (z of n
  unchanged): the flat tail. A series that often repeats itself needs a long run.
- **Score and flag.** score = -log10(min(error tail, flat tail)) / 10, capped at 1 (NAB's log
  likelihood, on a scale where 0.5 is a tail probability of 1e-5, NAB's red zone); flag = score
  >= threshold. No score until MIN_ERRORS errors and MIN_HISTORY averaged scores exist.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections import deque
from typing import NamedTuple

import numpy as np

from edge_forecast.bundle import GraphKind, VariantId
from edge_forecast.errors import UserError
from edge_forecast.intervals import DEFAULT_LEVELS, conformal_rank, level_name, tidy

ERROR_WINDOW = 300   # recent absolute one-step errors: the ACI quantiles and the raw score's scale
SHORT_WINDOW = 10    # raw scores averaged (NAB's averaging window)
LONG_WINDOW = 500    # averaged scores (and steps) whose distribution the tail probabilities use
REFERENCE = 0.9      # the single-value tail is fitted above this quantile of the recent errors
MIN_ERRORS = 20      # errors before a raw score
MIN_HISTORY = 30     # averaged scores before a tail probability
ADOPT_AFTER = 100    # flagged values in a row after which their errors count as normal
VARIANCE_FLOOR = 0.0003  # NAB's estimateNormal lower bound
DEFAULT_RATE = 0.005       # gamma of ACI (Gibbs & Candes use 0.005)
DEFAULT_THRESHOLD = 0.5    # score of a tail probability of 1e-5
TAIL_FLOOR = 1e-10         # score 1
SQRT2 = math.sqrt(2)


def check_rate(rate: float, argument: str = "aci_rate") -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < 1:
        raise UserError(f"{argument} must be a number between 0 and 1 (exclusive), got {rate!r}", argument)
    return float(rate)


def check_threshold(threshold: float, argument: str = "threshold") -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise UserError(f"{argument} must be a score in (0, 1] (0.5: tail probability 1e-5), got {threshold!r}",
                        argument)
    return float(threshold)


def score_of(tail: float) -> float:
    """-log10(tail) / 10 in [0, 1]: 0.5 at 1e-5, 1 at 1e-10 or less (and 0 for a tail of 1, not
    -0). Comparisons, not min / max: one call per observation, and the builtins' calls cost more."""
    score = -math.log10(tail if tail > TAIL_FLOOR else TAIL_FLOOR) / 10
    return 1.0 if score > 1.0 else score if score > 0.0 else 0.0


class SortedWindow:
    """The last `size` numbers, also kept sorted (`sorted`, read-only to others): order statistics
    and ranks by bisection."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._ring: deque[float] = deque()
        self.sorted: list[float] = []

    def __len__(self) -> int:
        return len(self.sorted)

    def add(self, value: float) -> None:
        ring, ordered = self._ring, self.sorted
        if len(ring) == self.size:
            del ordered[bisect_left(ordered, ring.popleft())]
        ring.append(value)
        insort(ordered, value)

    def full(self) -> bool:
        return len(self._ring) == self.size

    def order(self, k: int) -> float:
        """The k-th smallest (1-based)."""
        return self.sorted[k - 1]

    def rank(self, value: float) -> float:
        """The share of the window below `value`, ties counted half: uniform on [0, 1] for a value
        exchangeable with the window's."""
        ordered = self.sorted
        below = bisect_left(ordered, value)
        ties = bisect_right(ordered, value) - below
        return (below + 0.5 * ties) / len(ordered)

    def exceedance(self, value: float, level: float) -> float:
        """P(a new number >= `value`) beyond the window's `level` quantile q: the share above q
        times exp(-(value - q) / the mean excess over q), an exponential tail fitted to the
        window's exceedances (peaks over threshold, as SPOT; Siffer et al. 2017), so a value far
        beyond everything seen gets a probability below 1 / n. 1 within q."""
        ordered = self.sorted
        n = len(ordered)
        k = conformal_rank(n, level)
        q = ordered[(k if k < n else n) - 1]
        if value <= q:
            return 1.0
        above = ordered[k:] if k < n else []
        share = (len(above) + 1) / (n + 1)
        excess = math.fsum(above) / len(above) - q if above else 0.0
        if excess <= 0:  # no spread above q at all (errors all equal): anything more is unseen
            return TAIL_FLOOR
        return share * math.exp(-(value - q) / excess)


class RunningStats:
    """Mean and variance of the last `size` numbers, by running sums (recomputed every `size`
    additions, so float rounding cannot accumulate)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._ring: deque[float] = deque()
        self._sum = self._squares = 0.0
        self._until = size  # additions until the sums are recomputed

    def __len__(self) -> int:
        return len(self._ring)

    def add(self, value: float) -> None:
        ring = self._ring
        if len(ring) == self.size:
            old = ring.popleft()
            self._sum -= old
            self._squares -= old * old
        ring.append(value)
        self._sum += value
        self._squares += value * value
        self._until -= 1
        if not self._until:
            self._until = self.size
            self._sum = math.fsum(ring)
            self._squares = math.fsum(v * v for v in ring)

    def moments(self) -> tuple[int, float, float]:
        """(count, mean, variance) in one call (0, 0, 0 when empty): the scorer's per-step path."""
        n = len(self._ring)
        if not n:
            return 0, 0.0, 0.0
        mean = self._sum / n
        variance = self._squares / n - mean ** 2
        return n, mean, variance if variance > 0.0 else 0.0  # rounding can make it a hair below 0


class AciLevel:
    """One level's adaptive conformal state: a_t, and how often values fell inside."""

    def __init__(self, level: float, rate: float, fallback: float | None) -> None:
        self.level = tidy(level)
        self.target = 1 - float(level) / 100
        self.alpha = self.target
        self.rate = rate
        self.fallback = fallback  # the bundle's step-1 half-width (signal units), or None
        self.inside = self.counted = 0

    def _width(self, ordered: list[float], full: bool) -> tuple[float | None, bool]:
        """(half-width or None: no finite bound, whether a_t updates after this value)."""
        n = len(ordered)
        k = conformal_rank(n, 1 - self.alpha)
        if k <= 0:
            return 0.0, True  # Gibbs & Candes' empty set: the point alone
        if k <= n:
            return ordered[k - 1], True
        if full:
            return None, True  # the whole line: err_t = 0 and a_t rises again
        return self.fallback, self.fallback is not None  # too few errors yet: the export's width

    def bound(self, forecast: float, error: float, ordered: list[float], full: bool) -> LevelBound:
        """This value's bound from a_t and the sorted recent errors (`ordered`; `full`: the window
        is), then a_t updated by whether `error` fell inside: the whole per-level step of
        StreamScorer.observe in one call, `_width`'s usual case written out here (the
        scorer's cost per step is issue 28's goal; a Python call costs as much as the arithmetic)."""
        alpha = self.alpha
        n = len(ordered)
        k = conformal_rank(n, 1 - alpha)
        if 0 < k <= n:
            width, counts = ordered[k - 1], True
        else:
            width, counts = self._width(ordered, full)
        if width is None:
            found = LevelBound(self.level, None, None, alpha)
            inside = True
        else:
            found = LevelBound(self.level, forecast - width, forecast + width, alpha)
            inside = error <= width
        if counts:
            self.alpha = alpha + self.rate * (self.target - (0.0 if inside else 1.0))
            self.inside += inside
            self.counted += 1
        return found


class LevelBound(NamedTuple):
    """A level's bound for one value: lower / upper (None: no finite bound) and a_t used. A typed
    named tuple, not a frozen dataclass: one is made per level per observation, and a frozen
    dataclass's __init__ (object.__setattr__ per field) cost more than the rest of a bound."""

    level: float
    lower: float | None
    upper: float | None
    alpha: float


class Scored(NamedTuple):
    """One observation: `forecast` (made before it arrived; None for the first of a stream),
    `bounds` per level, `raw` score, `score` in [0, 1] (None while warming up), `flag`,
    `flat_run` (unchanged values up to this one) and `next` (the forecast of the next value).
    A typed named tuple for the same reason as LevelBound: one per observation."""

    value: float
    seconds: float | None
    forecast: float | None
    bounds: tuple[LevelBound, ...]
    raw: float | None
    score: float | None
    flag: bool
    flat_run: int
    next: float


class StreamScorer:
    """Scores each value a Forecaster receives against the forecast made before it (see the module)."""

    def __init__(self, forecaster, levels: tuple[float, ...] | None = None, rate: float = DEFAULT_RATE,
                 threshold: float = DEFAULT_THRESHOLD) -> None:
        self.forecaster = forecaster
        self.rate = check_rate(rate)
        self.threshold = check_threshold(threshold)
        recorded = self._recorded()
        levels = tuple(levels) if levels is not None else tuple(recorded) or DEFAULT_LEVELS
        self.levels = tuple(AciLevel(level, self.rate, recorded.get(tidy(level))) for level in levels)
        self._errors = SortedWindow(ERROR_WINDOW)  # every error: the bounds must cover what happens
        self._normal = SortedWindow(ERROR_WINDOW)  # errors of unflagged values: what the scores compare with
        self._short: deque[float] = deque(maxlen=SHORT_WINDOW)
        self._averages = RunningStats(LONG_WINDOW)
        # the last LONG_WINDOW steps, True where the value did not change, and how many did: an
        # integer count (the 0 / 1 sum a RunningStats would keep, without its squares)
        self._flat: deque[bool] = deque(maxlen=LONG_WINDOW)
        self._unchanged = 0
        self._run = 0
        self._flag_run = 0
        self._last: float | None = None
        self._pending: float | None = None
        self.scored = self.flagged = 0

    @property
    def variant(self) -> str:
        """The variant `update` runs (whose bundle intervals start the bounds)."""
        f = self.forecaster
        return VariantId(GraphKind(f.stepper_graph or GraphKind.WINDOW.value), f.mode).key

    def _recorded(self) -> dict[float, float]:
        """The update variant's step-1 half-widths by level, from bundle.json (none: empty)."""
        f = self.forecaster
        found = f.bundle.variant(f.model_name, self.variant).intervals
        if found is None or found.origins == 0:
            return {}
        return {lv.level: float(lv.half_width[0]) for lv in found.levels if lv.available}

    def start(self, history: np.ndarray | None = None, times: np.ndarray | None = None) -> int:
        """Start from `history` (default: the bundle's context window): the forecaster starts
        from its first W values and every later value is observed (and scored, silently), so
        the stream's first value is scored by a warmed-up scorer; returns the values observed.
        `times`: the history's times in seconds (one per value), which a bundle with a seasonal
        profile needs."""
        f = self.forecaster
        if history is None:
            f.reset(None)
            rest, rest_times = np.empty(0), None
        else:
            history = np.asarray(history, dtype=np.float64).reshape(-1)
            stamps = None if times is None else np.asarray(times, dtype=np.float64).reshape(-1)
            f.reset(history[: f.window], times=None if stamps is None else stamps[: f.window])
            rest, rest_times = history[f.window:], None if stamps is None else stamps[f.window:]
            self._last = float(history[f.window - 1])
        self._pending = float(f.next_forecast(1)[0])
        for i, value in enumerate(rest):
            self.observe(float(value), None if rest_times is None else float(rest_times[i]))
        return int(rest.size)

    def observe(self, value: float, seconds: float | None = None) -> Scored:
        """Take one observation; its score against the forecast made before it. The forecaster
        takes it first, so a value it refuses (UserError) changes nothing here."""
        following = float(self.forecaster.update(value, 1, time=seconds)[0])
        forecast, self._pending = self._pending, following
        raw = tail = None
        known = forecast is not None and math.isfinite(forecast)
        if known:
            error = abs(value - forecast)
            errors = self._errors
            ordered, full = errors.sorted, len(errors.sorted) == errors.size
            bounds = tuple([level.bound(forecast, error, ordered, full) for level in self.levels])
            errors.add(error)
            normal = self._normal
            if len(normal.sorted) >= MIN_ERRORS:
                raw = normal.rank(error)
                tail = normal.exceedance(error, REFERENCE)  # the single value's own tail
                # the short mean of raw scores against the normal fit of earlier short means: its
                # upper tail, where there are enough of them
                short = self._short
                short.append(raw)
                average = sum(short) / len(short)  # 10 values: summed afresh, as exact as they come
                n, mean, variance = self._averages.moments()
                if n >= MIN_HISTORY:
                    std = math.sqrt(variance if variance > VARIANCE_FLOOR else VARIANCE_FLOOR)
                    averaged = 0.5 * math.erfc((average - mean) / std / SQRT2)
                    tail = averaged if averaged <= tail else tail  # min(averaged, single)
        else:
            bounds = ()
        last, self._last = self._last, value
        if last is not None:  # the flat tail: a run of r unchanged values has probability p0^r
            unchanged = value == last
            self._run = self._run + 1 if unchanged else 0
            flat = self._flat
            n = len(flat)
            if n >= MIN_HISTORY:
                p0 = (self._unchanged / n * n + 1) / (n + 2)  # (z + 1) / (n + 2), as the 0 / 1 mean gave it
                flat_tail = p0 ** self._run
                if tail is not None and flat_tail < tail:
                    tail = flat_tail
            if n == LONG_WINDOW:
                self._unchanged -= flat[0]  # leaves as the new one enters
            flat.append(unchanged)
            self._unchanged += unchanged
        score = None if tail is None else score_of(tail)
        flag = score is not None and score >= self.threshold
        self._flag_run = self._flag_run + 1 if flag else 0
        if known and (not flag or self._flag_run > ADOPT_AFTER):
            # what the scores compare with learns from unflagged values only: an anomaly (a stuck
            # stretch's errors) would otherwise hide the next one for a window's length; a
            # stretch flagged for longer than ADOPT_AFTER values is a new normal (a level shift
            # the forecaster does not follow) and is learned from then on
            self._normal.add(error)
            if raw is not None:
                self._averages.add(average)
        self.scored += score is not None
        self.flagged += flag
        return Scored(value, seconds, forecast, bounds, raw, score, flag, self._run, following)

    def coverage(self) -> dict[float, tuple[int, int]]:
        """Per level: values inside their bound, values with a bound."""
        return {level.level: (level.inside, level.counted) for level in self.levels}


# --- lines ---------------------------------------------------------------------------------------


def columns(levels: tuple[float, ...]) -> list[str]:
    """value, forecast, lower_80, upper_80, ..., score, flag."""
    return ["value", "forecast", *(f"{side}_{level_name(lv)}" for lv in levels for side in ("lower", "upper")),
            "score", "flag"]


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.9g}"


def _by_level(row: Scored, levels: tuple[float, ...]) -> list[tuple[float, float | None, float | None]]:
    """(level, lower, upper) for every level, None where the row has no bound (no forecast yet)."""
    found = {b.level: b for b in row.bounds}
    return [(lv, *((found[lv].lower, found[lv].upper) if lv in found else (None, None))) for lv in levels]


def csv_row(row: Scored, levels: tuple[float, ...]) -> list[str]:
    """The cells under `columns(levels)`: an empty cell where there is no number."""
    bounds = [cell for _, low, high in _by_level(row, levels) for cell in (_cell(low), _cell(high))]
    return [f"{row.value:.9g}", _cell(row.forecast), *bounds, _cell(row.score), "1" if row.flag else "0"]


def json_fields(row: Scored, levels: tuple[float, ...]) -> dict:
    """The same as JSON fields (null where there is no number)."""
    doc: dict = {"value": row.value, "forecast": row.forecast}
    for level, low, high in _by_level(row, levels):
        doc[f"lower_{level_name(level)}"] = low
        doc[f"upper_{level_name(level)}"] = high
    return {**doc, "score": row.score, "flag": row.flag}
