"""Seasons found in the training part of a series, not given (numpy and stdlib only).

`find_seasons` tests two kinds of candidate period:
- calendar: the day, the week and the year in values, where the sampling interval divides them
  (86,400 s / interval within 0.1% of a whole number of values);
- the strongest peaks of the sample autocorrelation function (ACF).

Rule (docs/design/0011-season-detection.md has the measurements it was chosen on):
1. Peaks are located on the ACF of the first difference (a random-walk level makes every lag's
   raw ACF near 1 and hides them; Box, Jenkins, Reinsel and Ljung, "Time Series Analysis", 5th
   ed., ch. 9); the ACF_PEAKS strongest local maxima that are not within 2% of a calendar period
   become candidates. Missing values (NaN) are skipped pair by pair.
2. A candidate needs MIN_CYCLES full cycles in the training part: at lag k an ACF estimate from
   n values averages n - k products, and fewer than ~2 repetitions are no evidence of a repeat.
3. Each candidate s is tested on the deviations from a moving mean over s values (the classical
   decomposition's detrending, Hyndman & Athanasopoulos, "Forecasting: Principles and Practice",
   3rd ed., ch. 3.4): that mean holds none of a season of period s, so the season stays whole
   while a trend or a wandering level leaves. (The first difference, tried first, shrinks a smooth
   season by 2 sin(pi / s): a daily sine of amplitude 2 in noise of 1, hourly, had ACF 0.10 there.)
   Kept when the deviations' ACF at s is above the Bartlett bound
   z * sqrt((1 + 2 * sum_{j<s} r_j^2) / n) (the standard error of r_s when the true ACF is 0
   from lag s on: Bartlett 1946; Box et al. ch. 2.1.6) and at least MIN_ACF (with 10,000 values
   an ACF of 0.05 is "significant" and useless to a seasonal naive forecast; on NAB's synthetic
   daily series, whose only season is the day, spurious peaks reached 0.10 on the differenced
   series). z is the two-sided normal quantile at ALPHA for a calendar period (one pre-specified
   test) and at ALPHA / (number of lags scanned) for an ACF peak (Bonferroni: it was picked
   from all of them).
4. Calendar candidates are tested first (known in advance: a weak peak shorter than the day must
   not take its place), then the peaks, each kind from the shortest up. A kept season's mean
   profile (`remove_profile`, estimated on its deviations) is removed before the next candidate
   is tested: a multiple of a kept season (96 after 48, the week after a day with no weekday
   effect) is kept only if it adds a pattern of its own, as the week does on NYC taxi demand.
The kept seasons are listed strongest first (the deviations' ACF at the lag, before any removal);
the first is the primary season (MASE's scale).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np

DAY_SECONDS = 86_400.0
CALENDAR = (("day", DAY_SECONDS), ("week", 7 * DAY_SECONDS), ("year", 365.25 * DAY_SECONDS))
CALENDAR_TOLERANCE = 1e-3   # relative: a period within 0.1% of a whole number of values (a year drifts anyway)
MIN_CYCLES = 3.0            # full cycles of a candidate in the training part
ALPHA = 0.01                # two-sided level of each test (Bonferroni-divided for the ACF scan)
MIN_ACF = 0.2               # practical floor on the tested ACF
MAX_SEASONS = 3
ACF_PEAKS = 5               # the strongest ACF peaks tested besides the calendar
RULE = ("candidates: the calendar periods the interval divides and the 5 strongest peaks of the first "
        "difference's ACF, with >= 3 cycles in the training part; calendar first, then peaks, shortest first; kept "
        "when the ACF at lag s of the deviations from an s-value moving mean is above the Bartlett bound (z at 1% "
        "two-sided, Bonferroni over the scanned lags for peaks) and >= 0.2; each kept season's mean profile is "
        "removed before the next candidate is tested")


@dataclass(frozen=True)
class Candidate:
    """One period tested: where it came from, what the test saw and why it was kept or not.

    `acf`: the ACF at the lag of the training part's deviations from a moving mean over `lag`
    values (None: not computed, too few cycles); `tested`: the same after the seasons kept
    before it were removed (what the test used);
    `bound`: the significance bound it had to exceed."""

    lag: int
    source: str            # day | week | year | acf peak | given
    cycles: float          # full cycles in the training part
    acf: float | None
    tested: float | None
    bound: float | None
    kept: bool
    why: str

    def label(self) -> str:
        return self.source if self.source != "acf peak" else "ACF peak"


@dataclass(frozen=True)
class SeasonReport:
    """The seasons a run uses (strongest first; empty: none) and every candidate with its reason."""

    asked: str                          # auto | none | the given list, e.g. "48,336"
    seasons: tuple[int, ...]
    candidates: tuple[Candidate, ...]
    note: str = ""                      # what was not tested and why (e.g. no timestamps)

    @property
    def primary(self) -> int:
        """The strongest kept season, 1 (persistence) when none."""
        return self.seasons[0] if self.seasons else 1

    def line(self) -> str:
        """One line for the training log: the kept seasons and why, then those not kept."""
        by_lag = {c.lag: c for c in self.candidates if c.kept}
        kept = ", ".join(f"{s} ({_source_and_acf(by_lag.get(s))})" for s in self.seasons) or "none"
        dropped = [c for c in self.candidates if not c.kept]
        text = f"seasons: {kept}"
        if dropped:
            text += "; not kept: " + ", ".join(f"{c.lag} ({c.label()}: {c.why})" for c in dropped)
        if self.note:
            text += f"; {self.note}"
        return text

    def to_dict(self) -> dict:
        return {"asked": self.asked, "seasons": list(self.seasons), "primary": self.primary,
                "rule": RULE if self.asked == "auto" else "given", "note": self.note,
                "candidates": [asdict(c) for c in self.candidates]}


def _source_and_acf(candidate: Candidate | None) -> str:
    if candidate is None:
        return "given"
    acf = f", ACF {candidate.acf:.2f}" if candidate.acf is not None else ""
    return f"{candidate.label()}{acf}"


def acf(values: np.ndarray, max_lag: int) -> np.ndarray:
    return _acf_and_pairs(values, max_lag)[0]


def _acf_and_pairs(values: np.ndarray, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample autocorrelation r_0..r_max_lag, float64 (max_lag + 1,), by FFT, skipping NaN pairs
    (with the number of pairs present at each lag).

    The standard estimator (sums over n, not n - k: Box et al. ch. 2.1.5), with the products of
    each lag averaged over the pairs present and scaled back by (n - k) / n, so missing values
    neither shrink nor inflate it. A constant series has r_0 = 1 and r_k = 0."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    ok = np.isfinite(x)
    n = x.size
    max_lag = int(min(max_lag, n - 1))
    if not ok.any() or max_lag < 0:
        return np.zeros(max(max_lag, 0) + 1), np.zeros(max(max_lag, 0) + 1)
    centred = np.where(ok, x - x[ok].mean(), 0.0)
    size = 1 << int(math.ceil(math.log2(max(2 * n, 2))))
    spectrum = np.fft.rfft(centred, size)
    sums = np.fft.irfft(spectrum * np.conj(spectrum), size)[: max_lag + 1]
    mask = np.fft.rfft(ok.astype(np.float64), size)
    pairs = np.round(np.fft.irfft(mask * np.conj(mask), size)[: max_lag + 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_products = np.where(pairs > 0, sums / np.maximum(pairs, 1), 0.0)
    if mean_products[0] <= 0:
        out = np.zeros(max_lag + 1)
        out[0] = 1.0
        return out, pairs
    lags = np.arange(max_lag + 1)
    return mean_products / mean_products[0] * (n - lags) / n, pairs


def bartlett_se(r: np.ndarray, count: float | np.ndarray) -> np.ndarray:
    """The standard error of r_k under "the true ACF is 0 from lag k on", for k = 0..len(r) - 1:
    sqrt((1 + 2 sum_{j=1}^{k-1} r_j^2) / n) (Bartlett's formula); `count`: n, or per lag the
    values that lag's estimate stands for (fewer where values are missing)."""
    squares = np.concatenate([[0.0, 0.0], np.cumsum(np.asarray(r[1:-1], dtype=np.float64) ** 2)])[: r.size]
    return np.sqrt((1.0 + 2.0 * squares) / np.maximum(count, 1))


def calendar_lags(interval_seconds: float | None) -> list[tuple[str, int]]:
    """(name, lag in values) of the calendar periods the interval divides (CALENDAR_TOLERANCE), at least 2 values."""
    if not interval_seconds or not interval_seconds > 0:
        return []
    found = []
    for name, seconds in CALENDAR:
        lag = seconds / interval_seconds
        if round(lag) >= 2 and abs(lag - round(lag)) <= CALENDAR_TOLERANCE * lag:
            found.append((name, int(round(lag))))
    return found


def _z(tests: int, alpha: float) -> float:
    return NormalDist().inv_cdf(1.0 - alpha / (2.0 * max(tests, 1)))


def remove_profile(x: np.ndarray, lag: int) -> np.ndarray:
    """`x` less its mean at each phase (index mod `lag`, NaN skipped): a kept season taken out
    before the longer candidates are tested. A seasonal difference (1 - B^s) would take it out too,
    but leaves its own ACF of 0.25 at the sums and differences of two kept seasons (its moving
    average terms): on NYC taxi demand, 336 - 48 = 288 then passed as a third season."""
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(x)
    phase = np.arange(x.size) % lag
    sums = np.bincount(phase, weights=np.where(ok, x, 0.0), minlength=lag)
    counts = np.bincount(phase, weights=ok.astype(np.float64), minlength=lag)
    means = np.divide(sums, counts, out=np.zeros(lag), where=counts > 0)
    return x - means[phase]


def find_seasons(train_values: np.ndarray, interval_seconds: float | None = None, *,
                 min_cycles: float = MIN_CYCLES, alpha: float = ALPHA, min_acf: float = MIN_ACF,
                 max_seasons: int = MAX_SEASONS, peaks: int = ACF_PEAKS) -> SeasonReport:
    """The seasons of `train_values` (1-D, the training part only; NaN = missing) by the module's
    rule. `interval_seconds`: the sampling interval, for the calendar candidates (None: a series
    without timestamps, ACF peaks only)."""
    x = np.asarray(train_values, dtype=np.float64).reshape(-1)
    n = int(np.isfinite(x).sum())
    calendar = calendar_lags(interval_seconds)
    note = "" if interval_seconds else "no timestamps: calendar periods not tested"
    if interval_seconds and not calendar:
        note = f"the interval ({interval_seconds:g} s) divides no calendar period"
    diffed = np.diff(x)
    count = int(np.isfinite(diffed).sum())
    max_lag = int(count // min_cycles) if count else 0
    if max_lag < 2:
        cands = [Candidate(lag, name, round(n / lag, 2), None, None, None, False,
                           f"{n / lag:.1f} cycles in the training part (needs {min_cycles:g})")
                 for name, lag in calendar]
        return SeasonReport("auto", (), tuple(cands), note or f"{x.size} values are too few to test for a season")
    r0 = acf(diffed, max_lag)  # where the peaks are; each candidate is then tested on its own deviations

    # candidates: the calendar periods, and the strongest local maxima of the ACF not near one of them
    proposed: dict[int, str] = {lag: name for name, lag in calendar}
    inner = r0[2:max_lag]
    local = np.flatnonzero((inner > r0[1:max_lag - 1]) & (inner >= r0[3:max_lag + 1]) & (inner > 0)) + 2
    for lag in sorted(local, key=lambda k: -r0[k])[: max(peaks, 0)]:
        if not any(abs(int(lag) - c) <= max(1, round(0.02 * c)) for c in proposed):
            proposed[int(lag)] = "acf peak"

    z_calendar, z_scan = _z(1, alpha), _z(max_lag - 1, alpha)
    residual = x
    kept: list[int] = []
    out: list[Candidate] = []
    # calendar periods first (known in advance: a weak ACF peak shorter than the day must not take
    # its place), then the peaks
    for lag in sorted(proposed, key=lambda k: (proposed[k] == "acf peak", k)):
        source, cycles = proposed[lag], n / lag
        if cycles < min_cycles or lag > max_lag:
            out.append(Candidate(lag, source, round(cycles, 2), None, None, None, False,
                                 f"{cycles:.1f} cycles in the training part (needs {min_cycles:g})"))
            continue
        strength = float(seasonal_acf(x, lag)[0][lag])
        if len(kept) >= max_seasons:
            out.append(Candidate(lag, source, round(cycles, 2), strength, None, None, False,
                                 f"{max_seasons} seasons kept already"))
            continue
        after = f" after removing {', '.join(map(str, kept))}" if kept else ""
        r, count = seasonal_acf(residual, lag)
        tested = float(r[lag])
        bound = float((z_calendar if source != "acf peak" else z_scan) * bartlett_se(r, count)[lag])
        if tested > bound and tested >= min_acf:
            kept.append(lag)
            why = f"ACF {tested:.2f}{after} above the bound {bound:.2f}"
            # the season's mean shape, estimated on the deviations so that a trend does not bias it
            d = deviations(residual, lag)
            residual = residual - (d - remove_profile(d, lag))
        elif tested > bound:
            why = f"ACF {tested:.2f}{after} below {min_acf:g}"
        else:
            why = f"ACF {tested:.2f}{after} within the bound {bound:.2f}"
        out.append(Candidate(lag, source, round(cycles, 2), strength, tested, bound, lag in kept, why))
    strengths = {c.lag: c.acf for c in out if c.kept}
    seasons = tuple(sorted(kept, key=lambda k: -strengths[k]))
    return SeasonReport("auto", seasons, tuple(sorted(out, key=lambda c: c.lag)), note)


def deviations(x: np.ndarray, lag: int) -> np.ndarray:
    """`x` less its moving mean over `lag` values around each (NaN skipped; NaN where the window
    is not whole): the classical decomposition's detrending. A mean over one full period holds
    none of a season of that period, so the season stays whole in the deviations while a trend
    or a wandering level leaves (Hyndman & Athanasopoulos, 3rd ed., ch. 3.4)."""
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(x)
    sums = np.concatenate([[0.0], np.cumsum(np.where(ok, x, 0.0))])
    counts = np.concatenate([[0.0], np.cumsum(ok)])
    out = np.full(x.size, np.nan)
    if x.size < lag:
        return out
    window_sum = sums[lag:] - sums[:-lag]
    window_count = counts[lag:] - counts[:-lag]
    mean = np.divide(window_sum, window_count, out=np.full(window_sum.size, np.nan), where=window_count > lag / 2)
    first = lag // 2  # window [t - lag//2, t - lag//2 + lag) around t
    out[first:first + mean.size] = x[first:first + mean.size] - mean
    return out


def seasonal_acf(x: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """The ACF r_0..r_lag of `deviations(x, lag)`, and per lag the count Bartlett's formula takes
    (the pairs present, scaled to a series without gaps). A random walk's deviations around means
    `lag` apart share no increment: its r_lag is near 0, where the raw ACF is near 1."""
    d = deviations(x, lag)
    r, pairs = _acf_and_pairs(d, lag)
    size = d.size
    count = pairs * size / np.maximum(size - np.arange(pairs.size), 1)
    if r.size <= lag:  # too short: nothing to test
        r, count = np.zeros(lag + 1), np.ones(lag + 1)
    return r, count


def given_seasons(seasons: Sequence[int], train_values: np.ndarray) -> SeasonReport:
    """The user's seasons (in the given order: the first is the primary), with each one's ACF for the record."""
    x = np.asarray(train_values, dtype=np.float64).reshape(-1)
    cands = tuple(Candidate(s, "given", round(x.size / s, 2), float(seasonal_acf(x, s)[0][s]) if x.size > 2 * s
                            else None, None, None, True, "given") for s in seasons)
    return SeasonReport(",".join(map(str, seasons)) or "none", tuple(seasons), cands)


def parse_season(value) -> tuple[int, ...] | None:
    """--season's value: None or "auto" -> None (find them); "none", 1, 0-length -> () (no season);
    an int, "48,336" or a sequence of ints -> those seasons (1s dropped, repeats dropped, order kept).
    Raises ValueError with the reason."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return None
        if text in ("none", ""):
            return ()
        parts = [p.strip() for p in text.split(",")]
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            raise ValueError(f"'{value}' is not auto, none or whole numbers of values like 48,336") from None
    elif isinstance(value, bool):
        raise ValueError(f"{value!r} is not auto, none or a whole number of values")
    elif isinstance(value, (int, np.integer)):
        numbers = [int(value)]
    elif isinstance(value, Sequence):
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
            raise ValueError(f"{list(value)!r} is not a list of whole numbers of values")
        numbers = [int(v) for v in value]
    else:
        raise ValueError(f"{value!r} is not auto, none or whole numbers of values")
    bad = [v for v in numbers if v < 1]
    if bad:
        raise ValueError(f"a season is at least 1 value, got {bad[0]}")
    return tuple(dict.fromkeys(v for v in numbers if v > 1))
