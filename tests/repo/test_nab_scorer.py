"""benchmarks/nab_scorer.py, the port of NAB's scorer, against the scores NAB's own code published.

tests/data/nab_scores/ holds two NAB files' timestamps with the anomaly scores of two published
detectors (numenta, windowedGaussian), their windows, and the per-file rows NAB's runner wrote
for them (results/<detector>/<detector>_<profile>_scores.csv: threshold, score, TP, TN, FP, FN).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import nab_scorer as ns  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data" / "nab_scores"
RECORD = json.loads((DATA / "nab_expected.json").read_text())
PROFILES = {p.name: p for p in ns.PROFILES}


def excerpt(name: str) -> tuple[ns.Labelled, dict[str, np.ndarray]]:
    with open(DATA / name.split("/")[1], newline="") as f:
        rows = list(csv.DictReader(f))
    file = ns.labelled(name, [ns.parse_time(r["timestamp"]) for r in rows], RECORD["windows"][name])
    return file, {d: np.array([float(r[d]) for r in rows]) for d in ("numenta", "windowedGaussian")}


CASES = [(name, detector, profile) for name, by in RECORD["expected"].items() for detector, per in by.items()
         for profile in per]


@pytest.mark.parametrize(("name", "detector", "profile"), CASES)
def test_file_score_is_nabs(name, detector, profile):
    expected = RECORD["expected"][name][detector][profile]
    file, scores = excerpt(name)
    got = ns.score_file(file, scores[detector], PROFILES[profile], float(expected["threshold"]))
    assert got.score == pytest.approx(float(expected["score"]), abs=1e-9)
    assert (got.tp, got.tn, got.fp, got.fn) == (expected["tp"], expected["tn"], expected["fp"], expected["fn"])


def test_cases_cover_scores_with_hits_and_false_alarms():
    # the excerpts were chosen so that the weights of both kinds of detection are exercised
    found = [RECORD["expected"][n][d][p] for n, d, p in CASES]
    assert len(found) == 12
    assert any(e["tp"] > 0 and float(e["score"]) > 0 for e in found)
    assert any(e["fp"] > 0 and e["tp"] == 0 for e in found)


def test_probation_and_sigmoid():
    assert ns.probation_length(1643) == 246 and ns.probation_length(22695) == 750
    assert float(ns.scaled_sigmoid(np.array(-1.0))) == pytest.approx(0.98661, abs=1e-5)
    assert float(ns.scaled_sigmoid(np.array(0.0))) == 0.0
    assert float(ns.scaled_sigmoid(np.array(3.5))) == -1.0


def test_optimised_threshold_is_the_best_single_threshold():
    # the sweep over sorted scores must agree with scoring every candidate threshold one by one
    files, scores = [], {}
    for name in RECORD["windows"]:
        file, by = excerpt(name)
        files.append(file)
        scores[name] = by["numenta"]
    profile = PROFILES["standard"]
    threshold, total = ns.best_threshold(files, scores, profile)
    candidates = np.unique(np.concatenate([s[f.probation:] for f, s in zip(files, scores.values(), strict=True)]))
    brute = max(sum(ns.score_file(f, scores[f.name], profile, t).score for f in files) for t in candidates)
    assert total == pytest.approx(brute, abs=1e-9)
    assert ns.score_corpus(files, scores, profile, threshold).raw == pytest.approx(total, abs=1e-9)


def test_normalisation_null_and_perfect():
    file, _ = excerpt("realKnownCause/rogue_agent_key_hold.csv")
    nothing = ns.score_corpus([file], {file.name: np.zeros(file.rows)}, PROFILES["standard"], 0.5)
    assert nothing.normalised == 0.0
    perfect = np.zeros(file.rows)
    for first, _ in file.windows:
        perfect[first] = 1.0
    best = ns.score_corpus([file], {file.name: perfect}, PROFILES["reward_low_FN_rate"], 0.5)
    assert best.normalised == pytest.approx(100.0)
