"""Seasons found on the training part (edge_forecast.seasons) and what a run does with them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edge_forecast.baselines import baselines
from edge_forecast.cli import cli
from edge_forecast.evaluation import backtest, origin_windows, plan_origins
from edge_forecast.quiet import VERBOSE_ENV
from edge_forecast.seasons import acf, calendar_lags, find_seasons, parse_season
from edge_forecast.tabular import ReadOptions, read_column
from edge_forecast.train.split import make_split

DATA = Path(__file__).parents[1] / "data"
HOUR = 3600.0


def _hourly(days: int, daily: float, weekly: float, noise: float, trend: float = 0.0, seed: int = 0) -> np.ndarray:
    """A day (24) of amplitude `daily`, a weekend dip of `weekly` (a week of 168 that is not a day's
    multiple in shape), Gaussian noise and a linear trend per value."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * 24)
    weekend = ((t // 24) % 7 >= 5).astype(float)
    return (10 + daily * np.sin(2 * np.pi * t / 24) - weekly * weekend + trend * t
            + rng.normal(0, noise, t.size))


def test_a_daily_season_under_noise_and_a_trend_is_found_alone():
    report = find_seasons(_hourly(60, daily=2.0, weekly=0.0, noise=1.0, trend=0.05), HOUR)
    assert report.seasons == (24,) and report.primary == 24
    week = next(c for c in report.candidates if c.lag == 168)
    # the week is a multiple of the day: tested after the day is removed, and it adds nothing
    assert not week.kept and "after removing 24" in week.why
    assert report.line().startswith("seasons: 24 (day, ACF ")


def test_a_day_and_a_week_are_both_found_and_say_where_they_came_from():
    report = find_seasons(_hourly(70, daily=3.0, weekly=4.0, noise=1.0), HOUR)
    assert set(report.seasons) == {24, 168}
    sources = {c.lag: c.source for c in report.candidates if c.kept}
    assert sources == {24: "day", 168: "week"}
    year = next(c for c in report.candidates if c.source == "year")
    assert not year.kept and "cycles in the training part" in year.why
    record = report.to_dict()
    assert record["asked"] == "auto" and record["primary"] == report.seasons[0]
    assert json.loads(json.dumps(record)) == record  # plain JSON for training.json


@pytest.mark.parametrize("series", [
    np.random.default_rng(1).normal(0, 1, 3000),                    # white noise
    np.cumsum(np.random.default_rng(2).normal(0, 1, 3000)),         # a random walk: every lag's raw ACF near 1
    50 + 0.3 * np.arange(3000) + np.random.default_rng(3).normal(0, 1, 3000),  # a trend
])
def test_no_season_is_kept_where_there_is_none(series):
    assert find_seasons(series, 300.0).seasons == ()
    assert find_seasons(series, None).seasons == ()


def test_without_timestamps_an_acf_peak_is_found_and_says_so():
    t = np.arange(1200)
    series = 0.02 * t + np.sin(2 * np.pi * t / 12) + np.random.default_rng(4).normal(0, 0.3, t.size)
    report = find_seasons(series, None)
    assert report.seasons == (12,)
    assert [c.source for c in report.candidates if c.kept] == ["acf peak"]
    assert "no timestamps" in report.line()


def test_missing_values_are_skipped_not_read_as_numbers():
    series = _hourly(60, daily=2.0, weekly=0.0, noise=1.0)
    gappy = series.copy()
    gappy[np.random.default_rng(5).random(series.size) < 0.1] = np.nan
    assert find_seasons(gappy, HOUR).seasons == (24,)
    # the ACF of a series with gaps estimates the same thing as without them
    full, holes = acf(np.diff(series), 30), acf(np.diff(gappy), 30)
    assert abs(full[24] - holes[24]) < 0.1


def test_a_season_needs_three_cycles_in_the_training_part():
    series = _hourly(2, daily=3.0, weekly=0.0, noise=0.1)  # two days
    report = find_seasons(series, HOUR)
    assert report.seasons == ()
    day = next(c for c in report.candidates if c.source == "day")
    assert "2.0 cycles in the training part (needs 3)" in day.why


def test_calendar_candidates_only_where_the_interval_divides_them():
    assert calendar_lags(1800) == [("day", 48), ("week", 336), ("year", 17532)]
    assert calendar_lags(420) == [("week", 1440), ("year", 75137)]  # 7 min: 205.7 a day, 1440 a week
    assert calendar_lags(86400) == [("week", 7), ("year", 365)]   # daily values: the day is 1 value, no season
    assert calendar_lags(2 * 86400) == []  # 3.5 values a week, 182.6 a year
    assert calendar_lags(None) == [] and calendar_lags(0) == []


@pytest.mark.parametrize("value, parsed", [
    (None, None), ("auto", None), (" AUTO ", None), ("none", ()), (1, ()), ("1", ()), (48, (48,)),
    ("48,336", (48, 336)), ([48, 336, 48], (48, 336)), ((24, 1), (24,)), (np.int64(12), (12,)),
])
def test_season_values(value, parsed):
    assert parse_season(value) == parsed


@pytest.mark.parametrize("value, message", [
    ("0", "at least 1 value"), ("-3", "at least 1 value"), ("day", "not auto, none"), ("48;336", "not auto, none"),
    (2.5, "not auto, none"), (True, "not auto, none"), (["48"], "not a list of whole numbers"),
])
def test_bad_season_values_say_why(value, message):
    with pytest.raises(ValueError, match=message):
        parse_season(value)


def _nab(name: str):
    return read_column(DATA / name, ReadOptions(column="value"))


def test_nyc_taxi_excerpt_has_the_day_and_the_week():
    """NAB realKnownCause/nyc_taxi.csv, its first 2,400 half hours (tests/data/README.md)."""
    col = _nab("nab_nyc_taxi_excerpt.csv")
    split = make_split(col.values.size, 20, 0.1, 0.2)
    report = find_seasons(col.values[: split.train_end], col.interval)
    assert col.interval == 1800 and set(report.seasons) == {48, 336}
    assert {c.lag: c.source for c in report.candidates if c.kept} == {48: "day", 336: "week"}


def test_nab_noise_excerpt_has_none():
    """NAB artificialNoAnomaly/art_noisy.csv, its first 1,440 five-minute values."""
    col = _nab("nab_art_noisy_excerpt.csv")
    split = make_split(col.values.size, 20, 0.1, 0.2)
    assert find_seasons(col.values[: split.train_end], col.interval).seasons == ()


def test_a_seasonal_naive_longer_than_the_window_reads_its_season_on_the_models_origins():
    t = np.arange(400)
    series = np.sin(2 * np.pi * t / 30) + 0.5 * np.sin(2 * np.pi * t / 10)  # period 30, exactly
    window = 8
    found = baselines(series[:300], window, (30,))
    assert found["seasonal_naive30"].context == 30 and found["persistence"].context == window
    plan = plan_origins(320, 400, window, 12)
    naive = found["seasonal_naive30"]
    result = backtest(naive.forecast, series, plan, naive.context, scale=1.0)
    assert result["rmse"] < 1e-12 and result["origin_index"][0] == 320
    with pytest.raises(ValueError, match="fewer than the 30 past values"):
        origin_windows(series, plan_origins(20, 60, window, 12), 30)


def _train(tmp_path, monkeypatch, *args: str) -> tuple[dict, str]:
    monkeypatch.setenv(VERBOSE_ENV, "1")
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "--signal", str(DATA / "nab_nyc_taxi_excerpt.csv"), "--column",
                                      "value", "--model", "ar", "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return json.loads((out / "training.json").read_text()), result.output


def test_train_finds_the_seasons_and_records_why(tmp_path, monkeypatch):
    record, output = _train(tmp_path, monkeypatch)
    seasons = record["seasons"]
    assert seasons["asked"] == "auto" and set(seasons["seasons"]) == {48, 336}
    assert record["config"]["season"] == seasons["primary"] == seasons["seasons"][0]
    assert record["mase_scale"]["season"] == seasons["primary"]
    assert {"seasonal_naive48", "seasonal_naive336"} <= set(record["baselines"])
    # the week's naive reads 336 values, longer than the window of 20, on the models' origins
    assert record["baselines"]["seasonal_naive336"]["test"]["origin_index"] == record["models"]["ar"]["test"][
        "origin_index"]
    assert record["baselines"]["seasonal_naive336"]["in_sample_closed_loop"]["start"] == 336
    line = next(x for x in output.splitlines() if x.startswith("seasons: "))
    assert "(day, ACF" in line and "(week, ACF" in line and "not kept: " in line
    # ar's seasonal difference: only seasons shorter than the window (none here)
    assert record["models"]["ar"]["linear"]["D"] == 0


def test_train_with_given_and_no_seasons(tmp_path, monkeypatch):
    record, output = _train(tmp_path, monkeypatch, "--season", "48,12", "--window", "60", "--test-split", "0.1")
    assert record["seasons"]["asked"] == "48,12" and record["seasons"]["seasons"] == [48, 12]
    assert record["config"]["season"] == 48 and "seasons: 48 (given" in output
    assert {"seasonal_naive48", "seasonal_naive12"} <= set(record["baselines"])
    assert "d=0,D=1,s=48" in str(record["models"]["ar"]["linear"]["backtest"]["mae"])
    record, _ = _train(tmp_path, monkeypatch, "--season", "none", "--force")
    assert record["seasons"]["seasons"] == [] and record["config"]["season"] == 1
    assert not any(name.startswith("seasonal_naive") for name in record["baselines"])
