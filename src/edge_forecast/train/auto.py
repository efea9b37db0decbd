"""`--model auto`: train a small set of candidate configurations, keep the best on validation.

The candidates are configs, not code paths: each is the run's config with a few fields replaced
(model kind, highway order; a later option such as input normalization is one more field), trained
by the same trainer. The choice reads the validation segment's rolling-origin backtest
(evaluation.backtest over [train_end, val_end), never the test segment), so the test figures every
candidate records stay out of sample; it prefers the simplest candidate (`choose`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from edge_forecast.errors import UserError
from edge_forecast.train.config import ModelKind, TrainConfig

# A recurrent candidate replaces the linear one only when its validation score is below this
# fraction of the linear one's. Why a margin: a recurrent candidate's validation score is not out
# of sample as the linear one's is (`--select best` picked its epoch on that same segment, and the
# segment has 1-8 origins on the benchmark's series); in the first real-series run the recurrent
# candidates' test MASE was 1.3-4.8x their validation MASE, ar's 0.6-1.3x
# (benchmarks/results/small_series.md compares the rules, margins 1 to 0.25).
PREFER_LINEAR = 0.5
LINEAR = "ar"
# What auto compares: the figure of the validation backtest that picks the candidate.
CRITERION = (f"validation backtest MASE (MAE when MASE is undefined): {LINEAR} unless a recurrent candidate's is "
             f"below {PREFER_LINEAR}x {LINEAR}'s, then the lowest")
HIGHWAY_MIN = 4


@dataclass(frozen=True)
class Candidate:
    """One configuration auto trains: a name for the record and the config fields it sets."""

    name: str
    changes: dict = field(default_factory=dict)

    def config(self, base: TrainConfig) -> TrainConfig:
        return replace(base, auto=False, **self.changes)


def candidates(config: TrainConfig) -> list[Candidate]:
    """Linear (ar), the recurrent model (lstm, the default kind), and it with a highway of order
    `--highway`, by default the longest season within the window and at least 4 values: on
    Mackey-Glass 500 a highway of 20 (the window) reached validation MASE 1.15, of 4 0.85."""
    recurrent = ModelKind.LSTM
    within = max((s for s in config.season or () if s <= config.window), default=1)
    order = config.highway or min(config.window, max(within, HIGHWAY_MIN))
    return [
        Candidate("ar", {"models": (ModelKind.AR,), "highway": 0}),
        Candidate(recurrent.value, {"models": (recurrent,), "highway": 0}),
        Candidate(f"{recurrent.value}+highway{order}", {"models": (recurrent,), "highway": order}),
    ]


def score(entry: dict) -> float:
    """A trained candidate's figure of merit (CRITERION): lower is better."""
    validation = entry["validation"]
    return validation["mase"] if validation["mase"] is not None else validation["mae"]


def choose(scores: dict[str, float], margin: float = PREFER_LINEAR) -> str:
    """The chosen candidate's name from each candidate's validation score (`score`, lower is better):
    the linear one (LINEAR) unless the best other one scores below `margin` x its score (margin 1:
    the plain lowest score). Without a linear candidate, the lowest."""
    best = min(scores, key=scores.get)
    if LINEAR not in scores or best == LINEAR:
        return best
    return best if scores[best] < margin * scores[LINEAR] else LINEAR


def train_candidates(config: TrainConfig, stage: Path, train: Callable[[ModelKind, TrainConfig, Path], dict],
                     echo: Callable[[str], None]) -> tuple[dict, dict]:
    """Train every candidate with `train(kind, config, directory)` (the trainer's one-model job,
    which returns the model's record entry with its `validation` backtest), keep the best.

    Returns (models, auto): the run's `models` (the chosen one only, its file moved into `stage`)
    and the record's `auto` section: the criterion, the chosen name and every candidate's
    validation and test figures. Raises UserError without a validation segment."""
    found: dict[str, dict] = {}
    for candidate in candidates(config):
        where = stage / "candidates" / candidate.name
        where.mkdir(parents=True)
        cand_config = candidate.config(config)
        echo(f"auto: candidate {candidate.name}")
        entry = train(cand_config.models[0], cand_config, where)
        if entry.get("validation") is None:
            raise UserError("--model auto chooses on the validation segment; set --validation-split above 0")
        found[candidate.name] = {"entry": entry, "dir": where}
    chosen = choose({name: score(c["entry"]) for name, c in found.items()})
    entry = found[chosen]["entry"]
    shutil.move(str(found[chosen]["dir"] / entry["file"]), str(stage / entry["file"]))
    shutil.rmtree(stage / "candidates")  # the run holds the chosen model; the record, every figure
    echo(f"auto: chose {chosen} (validation backtest MASE {_shown(found[chosen]['entry'])}; "
         + ", ".join(f"{n} {_shown(c['entry'])}" for n, c in found.items() if n != chosen) + ")")
    return {entry["kind"]: {**entry, "candidate": chosen}}, {
        "criterion": CRITERION,
        "prefer_linear": PREFER_LINEAR,
        "chosen": chosen,
        "candidates": {name: _figures(c["entry"]) for name, c in found.items()},
    }


def _shown(entry: dict) -> str:
    return f"{score(entry):.4g}"


def _figures(entry: dict) -> dict:
    """A candidate's record: what it is, its training time and both backtests' scores."""
    keep = ("rmse", "mae", "mase", "origins", "horizon")
    test = entry.get("test")
    return {
        "kind": entry["kind"], "highway": entry.get("highway", 0), "params": entry["params"],
        **({"linear": entry["linear"]} if "linear" in entry else {}),
        "train_seconds": entry["train_seconds"],
        "validation": {k: entry["validation"][k] for k in keep},
        "test": {k: test[k] for k in keep} if test else None,
    }
