"""The seasonal profile outside the graph (train --profile): slots from the clock, the fit (NaN,
gaps, segments), the choice, the run record, the bundle, the device Forecaster and run's CLI.

Real excerpts (tests/data/README.md): NAB's nyc_taxi (30 min; on its first 2,400 rows the day (48)
is the strongest season) and ambient_temperature_system_failure (hourly, a 2-hour and a 14-hour gap).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edge_forecast.cli import cli
from edge_forecast.contracts.profile import ProfileChoice, ProfileRecord
from edge_forecast.contracts.schema import ContractError
from edge_forecast.errors import UserError
from edge_forecast.evaluation import backtest, plan_origins
from edge_forecast.micro.carray import c_header
from edge_forecast.profile import SeasonalProfile, history_times
from edge_forecast.run_record import load_run
from edge_forecast.signals import Signal, load_signal
from edge_forecast.tabular import ReadOptions
from edge_forecast.train.config import build_config
from edge_forecast.train.season_profile import choose_profile, fit_profile, profile_line
from edge_forecast.train.split import make_split

DATA = Path(__file__).parents[1] / "data"
TAXI = DATA / "nab_nyc_taxi_excerpt.csv"
AMBIENT = DATA / "nab_ambient_temperature_excerpt.csv"
T0 = 1_404_172_800.0  # 2014-07-01T00:00:00, naive wall-clock read as UTC (as the reader records it)
HALF_HOUR = 1800.0


def test_slots_of_a_naive_series_follow_the_clock():
    profile = SeasonalProfile(np.arange(48.0), HALF_HOUR, T0)
    k = np.arange(-100, 5000)
    times = T0 + HALF_HOUR * k
    assert np.array_equal(profile.slots(times), np.mod(k, 48))  # before the anchor too: never negative
    # a clock a few minutes early or late lands in its slot (the nearest grid step)
    assert np.array_equal(profile.slots(times + 299.0), np.mod(k, 48))
    assert np.array_equal(profile.slots(times - 299.0), np.mod(k, 48))
    assert np.array_equal(profile.at(times), np.mod(k, 48).astype(float))
    assert np.array_equal(profile.ahead(T0 + 47 * HALF_HOUR, 3), [0.0, 1.0, 2.0])  # wraps at the season


def test_fit_is_the_training_part_mean_per_slot_skipping_nan():
    season, points = 4, 40
    k = np.arange(points)
    values = 10.0 * (k % season) + np.where(k < 20, 0.0, 1000.0)  # the part after training must not count
    values[[1, 5]] = np.nan
    profile = SeasonalProfile.fit(values, T0 + HALF_HOUR * k, season, HALF_HOUR, train_end=20)
    assert np.allclose(profile.values, [0.0, 10.0, 20.0, 30.0])
    assert profile.anchor_seconds == T0
    # a slot with no finite training value takes the training part's mean
    values[k % season == 3] = np.nan
    hole = SeasonalProfile.fit(values, T0 + HALF_HOUR * k, season, HALF_HOUR, train_end=20)
    assert hole.values[3] == pytest.approx(np.nanmean(values[:20]))


def test_a_gap_does_not_shift_the_phase():
    """Values missing from the middle (dropped rows, a split at a long gap): the slot comes from
    the time, so the values after the gap keep their slot, where an index would shift by the gap."""
    k = np.r_[np.arange(0, 30), np.arange(37, 80)]  # 7 steps missing
    values = 5.0 * (k % 6)
    profile = SeasonalProfile.fit(values, T0 + HALF_HOUR * k, 6, HALF_HOUR, train_end=k.size)
    assert np.allclose(profile.values, 5.0 * np.arange(6))
    assert np.allclose(values - profile.at(T0 + HALF_HOUR * k), 0.0)


def test_segments_of_a_real_log_keep_the_hour_of_day():
    """ambient_temperature (hourly, from midnight) split at its 14-hour gap: the slot of every value,
    in both segments, is its hour of the day."""
    signal = load_signal(AMBIENT, "value", read=ReadOptions(resample="auto"), max_gap=3)
    assert signal.segments is not None and len(signal.segments) == 2
    profile = fit_profile(signal, 24, signal.values.size)
    hours = ((signal.times % 86400) // 3600).astype(int)
    assert np.array_equal(profile.slots(signal.times), hours)
    assert profile.name == "day" and profile.anchor_time == "2014-03-14T00:00:00"
    for h in (0, 13):
        assert profile.values[h] == pytest.approx(signal.values[hours == h].mean())


def test_backtest_with_an_offset_scores_forecasts_plus_the_offset():
    rng = np.random.default_rng(0)
    series = rng.normal(size=60)
    offset = rng.normal(size=60)
    plan = plan_origins(30, 60, 5, 4)
    found = backtest(lambda w, s: np.repeat(w[:, -1:], s, axis=1), series, plan, 5, 1.0, offset=offset)
    o = plan.origins[3]
    expected = (series - offset)[o - 1] + offset[o : o + 4]
    assert np.allclose(found["forecasts"][3], expected)
    err = np.array(found["forecasts"]) - np.stack([series[t : t + 4] for t in plan.origins])
    assert found["rmse"] == pytest.approx(np.sqrt(np.mean(err**2)))


def _taxi(points: int | None = None) -> Signal:
    signal = load_signal(TAXI, "value")
    return signal if points is None else Signal(signal.values[:points], signal.source, times=signal.times[:points],
                                                 interval_seconds=signal.interval_seconds)


def test_auto_keeps_the_profile_where_it_lowers_the_validation_rmse():
    signal = _taxi()
    config = build_config(signal=str(TAXI), column="value", season="48,336")
    split = make_split(signal.values.size, config.window, config.validation_split, config.test_split)
    profile, choice = choose_profile(config, signal, split)
    assert choice.used and profile is not None and profile.season == 48
    assert choice.validation_rmse < choice.validation_rmse_without
    assert profile_line(choice).startswith("profile: day (48 slots) removed before the model: validation RMSE of "
                                           "AR(20)")
    none, off = choose_profile(build_config(signal=str(TAXI), profile="none", season="48"), signal, split)
    assert none is None and not off.used


def test_no_timestamps_no_profile_and_on_refuses():
    signal = Signal(_taxi().values, "taxi.npy")  # the same values without their times
    config = build_config(signal=str(TAXI), season="48")
    split = make_split(signal.values.size, 20, 0.1, 0.2)
    profile, choice = choose_profile(config, signal, split)
    assert profile is None and choice.reason == "no timestamps"
    assert profile_line(choice) == "profile: none (no timestamps)"
    with pytest.raises(UserError, match="--profile on needs a time column"):
        choose_profile(build_config(signal=str(TAXI), season="48", profile="on"), signal, split)


def test_bad_profile_option_is_one_line_exit_2(tmp_path):
    done = CliRunner().invoke(cli, ["train", "--signal", str(TAXI), "--profile", "weekly",
                                    "--out", str(tmp_path / "r")])
    assert done.exit_code == 2 and "weekly" in done.output


def test_contract_checks_the_values():
    record = SeasonalProfile(np.arange(4.0), HALF_HOUR, T0, "2014-07-01T00:00:00", name=None).record(T0 + 60)
    assert ProfileRecord.from_dict(record.to_dict()) == record
    with pytest.raises(ContractError, match="values must hold `season`"):
        ProfileRecord.from_dict({**record.to_dict(), "values": [1.0, 2.0]})
    with pytest.raises(ContractError, match="interval_seconds"):
        ProfileRecord.from_dict({**record.to_dict(), "interval_seconds": 0})
    assert ProfileChoice.from_dict({"asked": "auto", "used": False, "reason": "no season"}).reason == "no season"


def test_history_times_from_one_time_or_one_per_value():
    profile = SeasonalProfile(np.zeros(48), HALF_HOUR, T0)
    assert np.array_equal(history_times(profile, 3, T0), T0 - HALF_HOUR * np.array([2, 1, 0]))
    assert np.array_equal(history_times(profile, 2, [T0, T0 + 5]), [T0, T0 + 5])
    with pytest.raises(UserError, match="seasonal profile and needs the time"):
        history_times(profile, 3, None)
    with pytest.raises(UserError, match="2 times for a history of 3"):
        history_times(profile, 3, [T0, T0])


def test_micro_header_carries_the_profile_and_how_to_compute_the_slot():
    profile = SeasonalProfile(np.arange(7.0), HALF_HOUR, T0, "2014-07-01T00:00:00", name=None).record(T0)
    info = {"note": "n", "window": 20, "scaler": {"offset": 0.0, "scale": 1.0}, "graph": "window",
            "layout": {"inputs": [], "outputs": []}, "arena_bytes": 16, "arena_reserve_bytes": 32,
            "arena_margin": 0.25, "resolver": [], "profile": profile.to_dict()}
    text = c_header("ar_float32", info)
    assert "constexpr int kProfileSeason = 7;" in text
    assert "constexpr double kProfileAnchorSeconds = 1404172800.0;  // 2014-07-01T00:00:00" in text
    assert "constexpr double kProfileIntervalSeconds = 1800.0;" in text
    assert "constexpr float kProfile[kProfileSeason] = {" in text and "6.0f," in text
    assert "floor((t - kProfileAnchorSeconds) / kProfileIntervalSeconds + 0.5)" in text
    assert "kProfile" not in c_header("ar_float32", {**info, "profile": None})


@pytest.fixture(scope="module")
def taxi_ar_runs(tmp_path_factory) -> tuple[Path, Path]:
    """`train --model ar` (least squares, no gradient steps: seconds) on the nyc_taxi excerpt with the
    default --profile auto and with --profile none, in-process."""
    root = tmp_path_factory.mktemp("profile")
    runs = []
    for name, extra in (("auto", []), ("none", ["--profile", "none"])):
        out = root / name
        done = CliRunner().invoke(cli, ["train", "--signal", str(TAXI), "--column", "value", "--model", "ar",
                                        "--out", str(out), *extra])
        assert done.exit_code == 0, done.output
        runs.append(out)
    return runs[0], runs[1]


def test_train_ar_on_taxi_removes_the_day_and_beats_itself_without(taxi_ar_runs):
    auto, none = taxi_ar_runs
    record = json.loads((auto / "training.json").read_text())
    choice, profile = record["profile_choice"], record["profile"]
    assert choice["asked"] == "auto" and choice["used"]
    assert choice["validation_rmse"] < choice["validation_rmse_without"]
    assert profile["season"] == 48 and profile["name"] == "day" and len(profile["values"]) == 48
    assert profile["anchor_time"] == "2014-07-01T00:00:00" and profile["anchor_seconds"] == T0
    assert profile["interval_seconds"] == HALF_HOUR
    typed = load_run(auto)
    assert typed.profile.season == 48 and typed.signal.times_file == "signal_times.npy"
    # the profile is the training part's mean per half hour of the day, in signal units
    y = np.load(auto / "signal.npy")
    train = y[: typed.split.train_points]
    assert profile["values"][0] == pytest.approx(train[0::48].mean())
    without = json.loads((none / "training.json").read_text())
    assert "profile" not in without and without["profile_choice"]["reason"] == "--profile none"
    ours, theirs = record["models"]["ar"]["test"], without["models"]["ar"]["test"]
    assert ours["origin_index"] == theirs["origin_index"]
    assert ours["rmse"] < 0.8 * theirs["rmse"]
    # the baselines read y, unchanged by the profile
    assert record["baselines"]["ar20"]["test"]["rmse"] == without["baselines"]["ar20"]["test"]["rmse"]
    # the in-sample loop and the test forecasts are in signal units: the day's shape is in them
    assert abs(np.mean(ours["forecasts"]) - np.mean(y[typed.split.test_start:])) < 0.2 * np.std(y)


@pytest.mark.slow
def test_device_forecaster_of_the_bundle_equals_the_training_backtest(taxi_ar_runs, tmp_path):
    from edge_forecast.edge.forecaster import Forecaster

    run = taxi_ar_runs[0]
    out = tmp_path / "bundle"
    done = CliRunner().invoke(cli, ["export", str(run), "--out", str(out), "--quant", "float32", "--quiet"])
    assert done.exit_code == 0, done.output
    doc = json.loads((out / "bundle.json").read_text())
    record = json.loads((run / "training.json").read_text())
    assert {k: v for k, v in doc["profile"].items() if k != "context_last_seconds"} == record["profile"] | {
        "slot_rule": doc["profile"]["slot_rule"]}
    y, times = np.load(run / "signal.npy"), np.load(run / "signal_times.npy")
    assert doc["profile"]["context_last_seconds"] == times[record["split"]["test_start"] - 1]
    test = record["models"]["ar"]["test"]
    forecaster = Forecaster(out, variant="float32")
    for i in (0, len(test["origin_index"]) // 2, len(test["origin_index"]) - 1):
        o = test["origin_index"][i]
        got = forecaster.forecast(y[o - 20 : o], test["horizon"], times=times[o - 20 : o])
        want = np.asarray(test["forecasts"][i])
        assert np.max(np.abs(got - want)) <= 1e-5 * np.max(np.abs(want))
        # the time of the last value alone gives the same
        assert np.allclose(forecaster.forecast(y[o - 20 : o], 3, times=times[o - 1]), got[:3])
    with pytest.raises(UserError, match="day \\(48 slots\\) seasonal profile"):
        forecaster.forecast(y[:20], 3)
    # streaming: update(value, time=) continues from observations, the profile added back at each step
    o = test["origin_index"][0]
    forecaster.reset(y[o - 20 : o], times=times[o - 20 : o])
    step = forecaster.update(y[o], 2, time=times[o])
    assert np.allclose(step, forecaster.forecast(y[o - 19 : o + 1], 2, times=times[o - 19 : o + 1]))
    with pytest.raises(UserError, match="needs its time"):
        forecaster.update(y[o], 2)
    # a forecast leaves the state at its history, dated by it: the next one-step forecast too
    at = forecaster.forecast(y[o - 20 : o], 1, times=times[o - 20 : o])
    assert np.allclose(forecaster.next_forecast(1), at)
    # the anomaly scorer (detect, run --follow --score) on it: each value is compared with the
    # one-step forecast from the values before it, the profile added back at that value's time
    from edge_forecast.edge.anomaly import StreamScorer

    scorer = StreamScorer(Forecaster(out, variant="float32"), None, 0.005, 0.5)
    scorer.start(y[o - 20 : o], times[o - 20 : o])
    scored = [scorer.observe(float(y[t]), float(times[t])) for t in range(o, o + 5)]
    for k, row in enumerate(scored):
        want = forecaster.forecast(y[o + k - 20 : o + k], 1, times=times[o + k - 20 : o + k])[0]
        assert row.forecast == pytest.approx(want, rel=1e-6)
    with pytest.raises(UserError, match="needs its time"):
        scorer.observe(float(y[o + 5]))
    (tmp_path / "no_times.csv").write_text("value\n" + "\n".join(f"{v:g}" for v in y[:100]) + "\n")
    refused = CliRunner().invoke(cli, ["detect", str(tmp_path / "no_times.csv"), "--bundle", str(out), "--out",
                                       str(tmp_path / "s.csv")])
    assert refused.exit_code == 2 and "needs the time of each value" in refused.output
    # run --follow stops at the first delimited line without a time, scored or not: one error, not
    # a warning per line
    stream = "value\n" + "\n".join(f"{v:g}" for v in y[o : o + 5]) + "\n"
    for extra in ([], ["--score"]):
        done = CliRunner().invoke(cli, ["run", str(out), "--follow", "--column", "value", *extra], input=stream)
        assert done.exit_code == 2 and "needs the time of each value" in done.output, done.output
        assert "skipped" not in done.output and len(done.output.strip().splitlines()) == 1


@pytest.mark.slow
def test_tiny_neural_model_with_a_profile_runs_from_a_timed_history(tmp_path):
    """rnn (4 units, 2 epochs) on the excerpt: exported float32 + int8 with the step graph, run with
    `run --history` (a file with timestamps), `run --follow` (timed lines), and refused in one
    line without times."""
    run, out = tmp_path / "run", tmp_path / "bundle"
    done = CliRunner().invoke(cli, ["train", "--signal", str(TAXI), "--column", "value", "--model", "rnn",
                                    "--units", "4", "--epochs", "2", "--profile", "on", "--quiet", "--out", str(run)])
    assert done.exit_code == 0, done.output
    record = json.loads((run / "training.json").read_text())
    assert record["profile_choice"]["used"] and record["models"]["rnn"]["test"]["rmse"] > 0
    done = CliRunner().invoke(cli, ["export", str(run), "--out", str(out), "--quant", "float32,int8",
                                    "--graphs", "window,step", "--quiet"])
    assert done.exit_code == 0, done.output
    lines = TAXI.read_text().splitlines()
    history = tmp_path / "history.csv"
    history.write_text("\n".join([lines[0], *lines[2001:2031]]) + "\n")
    for variant in ("float32", "int8"):
        done = CliRunner().invoke(cli, ["run", str(out), "--history", str(history), "--variant", variant,
                                        "--horizon", "4"])
        assert done.exit_code == 0, done.output
        rows = done.output.strip().splitlines()
        assert rows[0] == "step,time,value" and rows[1].startswith("1,2014-08-12T07:00:00,")
        values = np.array([float(r.split(",")[2]) for r in rows[1:]])
        assert np.isfinite(values).all() and 1000 < values.mean() < 40000  # taxi counts, not residuals
    bare = tmp_path / "values.csv"
    bare.write_text("\n".join(line.split(",")[1] for line in [lines[0], *lines[2001:2031]]) + "\n")
    done = CliRunner().invoke(cli, ["run", str(out), "--history", str(bare)])
    assert done.exit_code == 2 and "removes a day (48 slots) seasonal profile" in done.output
    assert len(done.output.strip().splitlines()) == 1
    stream = "\n".join(lines[2031:2035]) + "\n"
    done = CliRunner().invoke(cli, ["run", str(out), "--history", str(history), "--follow", "--horizon", "2"],
                              input=stream)
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[0] == "observation,time,t+1,t+2"
    done = CliRunner().invoke(cli, ["run", str(out), "--follow"],
                              input="\n".join(line.split(",")[1] for line in lines[2031:2035]) + "\n")
    assert done.exit_code == 2 and "needs the time of each value" in done.output
