"""Whether a run takes the seasonal profile out before its models (`train --profile`; numpy only).

auto compares the product's own linear model, AR(window) by least squares on the training part,
fitted on the series and on the residual r = y - p[slot], on the same rolling origins of the
validation segment (signal units: the residual's forecasts plus p at their steps); the profile is
kept when it lowers that RMSE. Why AR(window) and not the chosen model: the choice must be made
before the models train on one or the other, and it is cheap (two least-squares fits); on the
long-season measurement (benchmarks/results/long_season.md) the linear proxies ranked the options
as the product's models then did (docs/design/0012-long-seasons.md).
"""

from __future__ import annotations

import numpy as np

from edge_forecast.baselines import fit_ar
from edge_forecast.contracts.profile import ProfileChoice
from edge_forecast.errors import UserError
from edge_forecast.evaluation import backtest
from edge_forecast.forecast import closed_loop_batch
from edge_forecast.profile import SeasonalProfile
from edge_forecast.seasons import calendar_lags
from edge_forecast.signals import Signal, zone_name
from edge_forecast.tabular import format_time
from edge_forecast.train.config import TrainConfig
from edge_forecast.train.split import Split


def season_name(season: int, interval_seconds: float | None) -> str | None:
    """day, week or year when `season` values at the interval are one, else None."""
    return next((name for name, lag in calendar_lags(interval_seconds) if lag == season), None)


def fit_profile(signal: Signal, season: int, train_end: int) -> SeasonalProfile:
    """The training part's mean profile of `season`, anchored at the series' first time."""
    return SeasonalProfile.fit(signal.values, signal.times, season, signal.interval_seconds, train_end,
                               anchor_time=format_time(signal.times[0], signal.tz), zone=zone_name(signal.tz),
                               name=season_name(season, signal.interval_seconds))


def ar_validation_rmse(config: TrainConfig, series: np.ndarray, split: Split, offset: np.ndarray | None) -> float:
    """AR(window) fitted on the training part of `series` less `offset`, its validation backtest RMSE
    against `series` (forecasts plus `offset` at their steps)."""
    inputs = series if offset is None else series - offset
    model = fit_ar(inputs[: split.train_end], config.window, pieces=split.segments)
    plan = split.plan("validation", config.horizon, config.stride)
    found = backtest(lambda w, s: closed_loop_batch(model.predict, w, s), series, plan, config.window, 1.0,
                     offset=offset)
    return float(found["rmse"])


def choose_profile(config: TrainConfig, signal: Signal, split: Split) -> tuple[SeasonalProfile | None, ProfileChoice]:
    """The run's profile (None: none) and the choice's record. --profile on without timestamps or a
    season is a UserError; auto then says why not."""
    asked = config.profile
    if asked == "none":
        return None, ProfileChoice(asked=asked, used=False, reason="--profile none")
    season = config.primary_season
    why_not = ("no timestamps" if signal.times is None or not signal.interval_seconds
               else "no season" if season <= 1 else None)
    if why_not:
        if asked == "on":
            raise UserError(f"--profile on needs a time column and a season above 1; {signal.source} has {why_not} "
                            "(a device learns the phase of a season from its clock: give the file's timestamps)")
        return None, ProfileChoice(asked=asked, used=False, reason=why_not)
    profile = fit_profile(signal, season, split.train_end)
    if not split.has_validation:
        if asked == "on":
            return profile, ProfileChoice(asked=asked, used=True, reason="--profile on (no validation segment)")
        why = f"no validation segment to choose by (--profile on takes {profile.label()} out)"
        return None, ProfileChoice(asked=asked, used=False, reason=why)
    offset = profile.at(signal.times)
    with_it = ar_validation_rmse(config, signal.values, split, offset)
    without = ar_validation_rmse(config, signal.values, split, None)
    figures = f"validation RMSE of AR({config.window}) {with_it:,.4g} vs {without:,.4g} without"
    used = asked == "on" or with_it < without
    reason = (f"{profile.label()} removed before the model: {figures}" if used
              else f"{profile.label()} not removed: {figures}")
    if asked == "on" and not with_it < without:
        reason += " (--profile on)"
    return (profile if used else None), ProfileChoice(asked=asked, used=used, reason=reason,
                                                      validation_rmse=with_it, validation_rmse_without=without)


def profile_line(choice: ProfileChoice) -> str:
    """One line for the training log: 'profile: week (336 slots) removed before the model: ...'."""
    return f"profile: {choice.reason}" if choice.used or choice.validation_rmse is not None else \
        f"profile: none ({choice.reason})"
