"""NAB's scoring, ported to numpy and the standard library (benchmark code, not product code).

A port of the Numenta Anomaly Benchmark's scorer (github.com/numenta/NAB: nab/sweeper.py, nab/scorer.py,
nab/optimizer.py, nab/runner.py's normalize, nab/labeler.py's windows), written anew without pandas:

- **Probation.** The first min(floor(0.15 n), 750) rows of a file are never scored (sweeper's
  `_getProbationaryLength`: 15% of the file, at most 15% of 5,000 rows).
- **Windows.** `labels/combined_windows.json` gives each file's anomaly windows as (first, last)
  timestamps; a row is inside a window when its timestamp lies between them (both included).
- **Weights (the sigmoid of the relative position).** A detection inside a window of width w whose
  last row is R, at row i, weighs `S(-(R - i + 1) / w) * tpWeight / S(-1)` with
  `S(x) = 2 sigmoid(-5x) - 1` (`S(x) = -1` beyond x = 3): ~1 at the window's start, 0 past its end.
  A detection outside every window weighs `S(|R' - i| / (w' - 1)) * fpWeight`, R' and w' of the last
  window before it, or `-fpWeight` when no window came before.
- **A file's score at a threshold t** (a detection: anomaly score >= t, outside probation): the sum
  of the false detections' weights, plus per window the largest weight of its detections, or
  `-fnWeight` when it has none.
- **Threshold.** A detector's threshold per profile is the one that maximises the sum of the
  file scores over the corpus (optimizer.py: every distinct score is tried, highest first, ties
  keep the highest threshold), or one given (config/thresholds.json).
- **Normalised score.** `100 (S - S_null) / (S_perfect - S_null)`: the null detector detects
  nothing (`S_null = -fnWeight x windows`), the perfect one each window at its start
  (`S_perfect = tpWeight x windows`).

The three application profiles (config/profiles.json) weigh (tp, fp, fn): standard (1, 0.11, 1),
reward_low_FP_rate (1, 0.22, 1), reward_low_FN_rate (1, 0.11, 2); tnWeight is never used.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

PROBATION_PERCENT = 0.15
PROBATION_CAP = PROBATION_PERCENT * 5000  # NAB caps the probation at 750 rows


@dataclass(frozen=True)
class Profile:
    name: str
    tp: float
    fp: float
    fn: float


# config/profiles.json of NAB v1.1 (the values the published final scores use)
PROFILES = (Profile("standard", 1.0, 0.11, 1.0), Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
            Profile("reward_low_FN_rate", 1.0, 0.11, 2.0))


@dataclass(frozen=True)
class Labelled:
    """One data file: its row count, its windows as (first row, last row), 0-based and inclusive."""

    name: str  # relative path, e.g. realKnownCause/nyc_taxi.csv
    rows: int
    windows: tuple[tuple[int, int], ...]

    @property
    def probation(self) -> int:
        return probation_length(self.rows)


@dataclass(frozen=True)
class FileScore:
    name: str
    threshold: float
    score: float
    tp: int  # detections (rows) inside windows
    fp: int  # detections outside windows
    fn: int  # window rows not detected
    tn: int
    windows: int
    windows_found: int
    detections: tuple[int, ...]  # rows (0-based) detected outside probation


@dataclass(frozen=True)
class CorpusScore:
    profile: Profile
    threshold: float
    raw: float  # the sum of the file scores
    null: float
    perfect: float
    files: tuple[FileScore, ...]

    @property
    def normalised(self) -> float:
        return 100 * (self.raw - self.null) / (self.perfect - self.null)


def probation_length(rows: int) -> int:
    return int(min(math.floor(PROBATION_PERCENT * rows), PROBATION_CAP))


def scaled_sigmoid(position: np.ndarray) -> np.ndarray:
    """S(x) = 2 / (1 + exp(5x)) - 1, and -1 for x > 3 (a false detection far past its window)."""
    position = np.asarray(position, dtype=float)
    value = 2.0 / (1.0 + np.exp(5.0 * np.minimum(position, 50.0))) - 1.0
    return np.where(position > 3.0, -1.0, value)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())


def read_times(path: Path) -> list[datetime]:
    with open(path, newline="") as f:
        reader = csv.reader(f)
        head = next(reader)
        at = head.index("timestamp")
        return [parse_time(row[at]) for row in reader if row]


def labelled(name: str, times: Sequence[datetime], limits: Iterable[Sequence[str]]) -> Labelled:
    """The windows' row spans from their timestamps, which must be rows of the file (as NAB checks)."""
    index = {}
    for i, t in enumerate(times):
        index.setdefault(t, i)  # the first row of a timestamp, as list.index
    spans = []
    for first, last in limits:
        a, b = parse_time(first), parse_time(last)
        if a not in index or b not in index:
            raise ValueError(f"{name}: window {first} .. {last} is not on the file's timestamps")
        spans.append((index[a], index[b]))
    return Labelled(name, len(times), tuple(spans))


def load_corpus(nab: Path, names: Iterable[str] | None = None, labels: str = "combined_windows.json"
                ) -> dict[str, Labelled]:
    """Every labelled file of NAB's data/ (or the named ones), with its windows."""
    windows = json.loads((nab / "labels" / labels).read_text())
    chosen = sorted(windows) if names is None else list(names)
    return {name: labelled(name, read_times(nab / "data" / name), windows[name]) for name in chosen}


def sweep_weights(file: Labelled, profile: Profile) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the weight a detection there would have, and the window it falls in (-1: none)."""
    n = file.rows
    rows = np.arange(n)
    weight = np.empty(n)
    window = np.full(n, -1)
    max_tp = float(scaled_sigmoid(np.array(-1.0)))
    previous_end = None
    previous_width = None
    start_outside = 0
    for k, (first, last) in enumerate(file.windows):
        _outside(weight, rows, start_outside, first, previous_end, previous_width, profile)
        width = float(last - first + 1)
        inside = rows[first:last + 1]
        weight[first:last + 1] = scaled_sigmoid(-(last - inside + 1) / width) * profile.tp / max_tp
        window[first:last + 1] = k
        previous_end, previous_width = last, width
        start_outside = last + 1
    _outside(weight, rows, start_outside, n, previous_end, previous_width, profile)
    return weight, window


def _outside(weight: np.ndarray, rows: np.ndarray, start: int, stop: int, previous_end: int | None,
             previous_width: float | None, profile: Profile) -> None:
    if stop <= start:
        return
    if previous_end is None:
        weight[start:stop] = -1.0 * profile.fp
    else:
        weight[start:stop] = scaled_sigmoid(np.abs(previous_end - rows[start:stop]) / (previous_width - 1)) * profile.fp


def score_file(file: Labelled, scores: np.ndarray, profile: Profile, threshold: float) -> FileScore:
    """A file's score when rows with an anomaly score >= threshold are detections."""
    weight, window = sweep_weights(file, profile)
    scorable = np.arange(file.rows) >= file.probation
    detected = scorable & (np.asarray(scores) >= threshold)
    in_window = window >= 0
    # a window with no row outside probation is not scored at all (NAB names such rows 'probationary')
    counted = sorted({int(k) for k in window[scorable & in_window]})
    total = float(weight[detected & ~in_window].sum())
    found = 0
    for k in counted:
        hits = weight[detected & (window == k)]
        total += max(-profile.fn, float(hits.max())) if hits.size else -profile.fn
        found += bool(hits.size)
    tp = int((detected & in_window).sum())
    fp = int((detected & ~in_window).sum())
    fn = int((scorable & in_window & ~detected).sum())
    tn = int((scorable & ~in_window & ~detected).sum())
    return FileScore(file.name, threshold, total, tp, fp, fn, tn, len(counted), found,
                     tuple(int(i) for i in np.flatnonzero(detected)))


def best_threshold(files: Sequence[Labelled], scores: dict[str, np.ndarray], profile: Profile
                   ) -> tuple[float, float]:
    """(threshold, corpus score) maximising the corpus score: optimizer.py's sweep, highest score
    first, every distinct anomaly score a candidate threshold (1.1 first: nothing detected)."""
    values, weights, keys = [], [], []
    parts: dict[tuple[int, int], float] = {}
    for f, file in enumerate(files):
        weight, window = sweep_weights(file, profile)
        keep = np.arange(file.rows) >= file.probation
        values.append(np.asarray(scores[file.name], dtype=float)[keep])
        weights.append(weight[keep])
        keys.append(np.where(window[keep] >= 0, f * 1_000_000 + window[keep], -1))
        for k in set(window[keep].tolist()) - {-1}:
            parts[(f, k)] = -profile.fn
    value = np.concatenate(values)
    weight = np.concatenate(weights)
    key = np.concatenate(keys)
    order = np.argsort(-value, kind="stable")
    best = (1.1, sum(parts.values()))
    false_sum = 0.0
    window_part = {k: -profile.fn for k in set(key.tolist()) - {-1}}
    window_sum = sum(window_part.values())
    current = 1.1
    for i in order.tolist():
        v = value[i]
        if v != current:  # a new, lower threshold: the score of the one before is complete
            total = false_sum + window_sum
            if total > best[1]:
                best = (current, total)
            current = v
        k = int(key[i])
        if k < 0:
            false_sum += weight[i]
        elif weight[i] > window_part[k]:
            window_sum += weight[i] - window_part[k]
            window_part[k] = float(weight[i])
    total = false_sum + window_sum
    if total > best[1]:
        best = (current, total)
    return float(best[0]), float(best[1])


def score_corpus(files: Sequence[Labelled], scores: dict[str, np.ndarray], profile: Profile,
                 threshold: float | None = None) -> CorpusScore:
    """The corpus score at the given threshold, or at the best one (NAB's optimize then score)."""
    if threshold is None:
        threshold, _ = best_threshold(files, scores, profile)
    per_file = tuple(score_file(file, scores[file.name], profile, threshold) for file in files)
    windows = sum(f.windows for f in per_file)
    return CorpusScore(profile, threshold, sum(f.score for f in per_file), -profile.fn * windows,
                       profile.tp * windows, per_file)


def results_path(root: Path, detector: str, name: str) -> Path:
    """results/<detector>/<category>/<detector>_<file>.csv, NAB's results layout."""
    folder, file = name.split("/")
    return root / detector / folder / f"{detector}_{file}"


def read_scores(path: Path) -> np.ndarray:
    with open(path, newline="") as f:
        reader = csv.reader(f)
        head = next(reader)
        at = head.index("anomaly_score")
        return np.array([float(row[at]) for row in reader if row])
