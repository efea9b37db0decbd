"""Time from the file, used: --resample INTERVAL / --agg, the gap rule (--max-gap) and segments that
no training window or evaluation origin crosses, and the time-related refusals (one line, a line number).

Real excerpts (tests/data/README.md): NAB's nyc_taxi (30 min, no gaps) and ambient_temperature_system_failure
(hourly, a 2-hour and a 14-hour gap).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edge_forecast.baselines import fit_ar
from edge_forecast.cli import cli
from edge_forecast.errors import UserError
from edge_forecast.evaluation import plan_origins
from edge_forecast.signals import (
    DEFAULT_MAX_GAP,
    Signal,
    describe_gaps,
    drop_short_segments,
    load_signal,
    parse_max_gap,
    starts_within,
)
from edge_forecast.tabular import ReadOptions, aggregate, describe_interval, parse_interval, read_column
from edge_forecast.train.config import build_config
from edge_forecast.train.rollout import ClosedLoopData
from edge_forecast.train.split import make_split
from edge_forecast.train.stream import StreamData

DATA = Path(__file__).parents[1] / "data"
TAXI = DATA / "nab_nyc_taxi_excerpt.csv"
AMBIENT = DATA / "nab_ambient_temperature_excerpt.csv"


def _write(tmp_path, name: str, rows: list[str], header: str = "time,value") -> Path:
    path = tmp_path / name
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


# --- intervals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, seconds", [("15s", 15), ("30min", 1800), ("1h", 3600), ("1d", 86400),
                                           ("1w", 604800), (" 2H ", 7200), ("90sec", 90)])
def test_interval_forms(text, seconds):
    assert parse_interval(text, "--resample") == seconds


@pytest.mark.parametrize("text", ["30 minutes", "0min", "-1h", "1.5h", "30m", "h", "", "1 mo", "auto"])
def test_bad_interval_is_one_line_naming_the_option_and_the_forms(text):
    with pytest.raises(UserError) as err:
        parse_interval(text, "--resample")
    message = str(err.value)
    assert "\n" not in message and message.startswith("--resample") and "15s, 30min, 1h, 1d" in message


def test_auto_only_where_allowed():
    assert parse_interval("auto", "--resample", auto=True) is None
    with pytest.raises(UserError, match="or auto"):
        ReadOptions(resample="30 minutes")


def test_resample_flag_of_earlier_versions_is_auto():
    assert ReadOptions(resample=True).resample == "auto" and ReadOptions(resample=False).resample is None


def test_agg_needs_resample_and_a_known_name():
    with pytest.raises(UserError, match="--agg .*add --resample"):
        ReadOptions(agg="max")
    with pytest.raises(UserError, match="aggregation 'avg'.*mean"):
        ReadOptions(resample="1h", agg="avg")


@pytest.mark.parametrize("seconds, text", [(1800, "30 min"), (3600, "1 h"), (15, "15 s"), (86400, "1 d"),
                                           (5400, "90 min"), (1.5, "1.5 s")])
def test_describe_interval(seconds, text):
    assert describe_interval(seconds) == text


# --- resampling ---------------------------------------------------------------------------------


def test_slots_are_aligned_on_the_clock_not_on_the_first_reading(tmp_path):
    path = _write(tmp_path, "odd.csv", ["2024-05-01 00:10:00,1", "2024-05-01 00:20:00,3", "2024-05-01 00:40:00,10",
                                        "2024-05-01 01:05:00,7"])
    col = read_column(path, ReadOptions(resample="30min"))
    assert col.values.tolist() == [2.0, 10.0, 7.0]  # [00:00, 00:30), [00:30, 01:00), [01:00, 01:30)
    assert col.lines.tolist() == [2, 4, 5]
    assert col.times[0] % 1800 == 0 and col.interval == 1800
    auto = read_column(path, ReadOptions(resample="auto"))  # the median interval's grid from the first reading
    assert auto.times[0] == col.times[0] + 600


def test_slots_follow_the_zone_of_the_stamps(tmp_path):
    """+05:30: hourly slots start at :00 on that clock, which is :30 in UTC."""
    path = _write(tmp_path, "ist.csv", ["2024-05-01T00:10:00+05:30,1", "2024-05-01T00:50:00+05:30,3",
                                        "2024-05-01T01:20:00+05:30,5"])
    signal = load_signal(path, read=ReadOptions(resample="1h"))
    assert signal.values.tolist() == [2.0, 5.0]
    assert signal.times[0] % 3600 == 1800


@pytest.mark.parametrize("agg, expected", [("mean", 3.0), ("last", 3.0), ("first", 1.0), ("max", 5.0), ("min", 1.0),
                                           ("sum", 9.0), ("median", 3.0)])
def test_aggregations_ignore_gaps_and_leave_empty_slots_empty(agg, expected):
    slot = np.array([0, 0, 0, 0, 2])
    values = np.array([1.0, 5.0, np.nan, 3.0, 4.0])
    out = aggregate(slot, values, 3, agg)
    assert out[0] == expected and np.isnan(out[1]) and out[2] == 4.0


def test_nyc_taxi_half_hours_summed_to_hours():
    raw = read_column(TAXI, ReadOptions())
    hourly = read_column(TAXI, ReadOptions(resample="1h", agg="sum"))
    assert raw.values.size == 2400 and hourly.values.size == 1200
    assert np.array_equal(hourly.values, raw.values[0::2] + raw.values[1::2])
    assert np.array_equal(read_column(TAXI, ReadOptions(resample="auto")).values, raw.values)
    peak = read_column(TAXI, ReadOptions(resample="1d", agg="max"))
    assert peak.values.tolist() == [max(raw.values[i : i + 48]) for i in range(0, 2400, 48)]


# --- time refusals: one line, the line number -----------------------------------------------------


def test_offsets_that_change_mid_file_are_read_in_utc(tmp_path):
    """Europe's spring change (2014-03-30): +01:00 then +02:00, one hour apart each: regular."""
    path = _write(tmp_path, "cet.csv", ["2014-03-30T00:00:00+01:00,1", "2014-03-30T01:00:00+01:00,2",
                                        "2014-03-30T03:00:00+02:00,3", "2014-03-30T04:00:00+02:00,4"])
    col = read_column(path)
    assert np.diff(col.times).tolist() == [3600.0] * 3


def test_stamps_with_and_without_an_offset_are_refused_naming_the_line(tmp_path):
    path = _write(tmp_path, "mixed.csv", ["2014-03-30T00:00:00+01:00,1", "2014-03-30T01:00:00+01:00,2",
                                          "2014-03-30T02:00:00,3"])
    with pytest.raises(UserError, match=r"^time '2014-03-30T02:00:00' at line 4 .* has no UTC offset") as err:
        read_column(path)
    assert "\n" not in str(err.value)


def test_naive_dst_repeat_hour_is_a_duplicate_naming_the_line(tmp_path):
    """A naive hourly log through the autumn change (2014-10-26 in Europe): 02:00 comes twice."""
    path = _write(tmp_path, "fall.csv", ["2014-10-26 00:00:00,1", "2014-10-26 01:00:00,2", "2014-10-26 02:00:00,3",
                                         "2014-10-26 02:00:00,4", "2014-10-26 03:00:00,5"])
    with pytest.raises(UserError, match=r"1 duplicated timestamp\(s\) \(line 5\)") as err:
        read_column(path)
    assert "\n" not in str(err.value)


def test_naive_dst_repeat_half_hours_step_back_naming_the_line(tmp_path):
    path = _write(tmp_path, "fall30.csv", ["2014-10-26 02:00:00,1", "2014-10-26 02:30:00,2",
                                           "2014-10-26 02:00:00,3", "2014-10-26 02:30:00,4"])
    with pytest.raises(UserError, match=r"1 row\(s\) earlier than the row before \(line 4\)"):
        read_column(path)


def test_clock_jumping_back_is_refused_naming_the_line(tmp_path):
    path = _write(tmp_path, "reset.csv", ["2024-01-01 10:00:00,1", "2024-01-01 10:01:00,2", "2024-01-01 10:02:00,3",
                                          "2024-01-01 09:58:00,4", "2024-01-01 09:59:00,5"])
    with pytest.raises(UserError, match=r"1 row\(s\) earlier than the row before \(line 5\).*--resample"):
        read_column(path)


# --- the gap rule ---------------------------------------------------------------------------------


def _gappy(tmp_path, missing: set[int], n: int = 30) -> Path:
    rows = [f"2024-01-01T{i // 2:02d}:{30 * (i % 2):02d}:00,{i}" for i in range(n) if i not in missing]
    return _write(tmp_path, "gappy.csv", rows)


def test_short_gaps_filled_long_gaps_split(tmp_path):
    path = _gappy(tmp_path, {3, 10, 11, 12, 20, 21, 22, 23})  # runs of 1, 3 (filled) and 4 (split)
    signal = load_signal(path, read=ReadOptions(resample="30min"))
    assert signal.gaps.max_gap == DEFAULT_MAX_GAP
    assert signal.gaps.filled == (1, 3) and signal.gaps.split == (4,)
    assert signal.values.tolist() == [i for i in range(30) if i not in (20, 21, 22, 23)]  # a line: exact here
    assert signal.segments == ((0, 20), (20, 26))
    assert signal.times.size == 26 and signal.times[20] - signal.times[19] == 5 * 1800
    said = describe_gaps(signal)
    assert said == (f"{path}: 26 values every 30 min; 2 gaps bridged by a straight line (longest 3 values); "
                    "1 gap of 4 values splits the series into 2 segments (gaps over --max-gap 3 split it: no "
                    "training window or forecast crosses a split)")


REGRIDDED = ("irregular sampling: 2 interval(s) differ from the median 3600 s by more than 10% (first at line "
             "101: 10800 s); the readings are put on the 1 h grid, as --resample auto does")


def test_a_real_log_with_gaps_needs_no_flag_about_time():
    """NAB ambient temperature (hourly, a 2-hour and a 14-hour gap) read with no option: on the
    median hour's grid as with --resample, the short gap bridged, the long one splitting it."""
    given = load_signal(AMBIENT, read=ReadOptions(resample="auto"))
    found = load_signal(AMBIENT)
    assert np.array_equal(found.values, given.values) and np.array_equal(found.times, given.times)
    assert found.segments == given.segments == ((0, 245), (245, 298))
    assert found.regridded == REGRIDDED and given.regridded is None
    assert describe_gaps(found).startswith(f"{AMBIENT}: {REGRIDDED}: 298 values every 1 h; 1 gap bridged")
    # bridged by --fill instead of the gap rule: the grid is still said
    assert describe_gaps(load_signal(AMBIENT, fill="interpolate")) == f"{AMBIENT}: {REGRIDDED}"


def test_max_gap_count_duration_and_zero(tmp_path):
    path = _gappy(tmp_path, {3, 10, 11, 12})
    assert load_signal(path, read=ReadOptions(resample="30min"), max_gap="1h").segments == ((0, 10), (10, 27))
    assert load_signal(path, read=ReadOptions(resample="30min"), max_gap="90min").segments is None
    assert load_signal(path, read=ReadOptions(resample="30min"), max_gap=0).gaps.split == (1, 3)


def test_fill_interpolate_still_bridges_every_gap_and_drop_still_joins(tmp_path):
    path = _gappy(tmp_path, {10, 11, 12, 13, 14})
    bridged = load_signal(path, fill="interpolate", read=ReadOptions(resample="30min"))
    assert bridged.segments is None and bridged.gaps is None and bridged.values.tolist() == list(range(30))
    joined = load_signal(path, fill="drop", read=ReadOptions(resample="30min"))
    assert joined.segments is None and joined.values.size == 25
    split = load_signal(path, fill="interpolate", read=ReadOptions(resample="30min"), max_gap=3)
    assert split.segments == ((0, 10), (10, 25))


def test_gaps_without_a_grid_are_refused_naming_max_gap(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("v\n1\n2\nNA\n4\n")
    with pytest.raises(UserError, match=r"at line 4; repair them with --fill interpolate or --fill drop, or --max-gap"):
        load_signal(path)
    assert load_signal(path, max_gap=1).values.tolist() == [1, 2, 3, 4]


def test_gaps_at_the_ends_are_trimmed(tmp_path):
    path = tmp_path / "ends.csv"
    path.write_text("v\nNA\n1\n2\n3\n\n")
    path.write_text("v\nNA\n1\n2\n3\nNA\nNA\n")
    signal = load_signal(path, max_gap=1)
    assert signal.values.tolist() == [1, 2, 3] and signal.gaps.trimmed == 3 and signal.lines.tolist() == [3, 4, 5]


@pytest.mark.parametrize("text, message", [
    ("2 hours", r"--max-gap '2 hours' is neither a count of values \(3\) nor a duration"),
    ("-1", r"neither a count"),
    ("1.5", r"neither a count"),
])
def test_bad_max_gap(text, message):
    with pytest.raises(UserError, match=message):
        parse_max_gap(text, 1800.0, "x.csv")


def test_max_gap_duration_needs_a_time_column(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("v\n1\nNA\n3\n")
    with pytest.raises(UserError, match="--max-gap 2h is a duration, and .* has no time column"):
        load_signal(path, max_gap="2h")


def test_fill_drop_and_max_gap_are_one_choice(tmp_path):
    with pytest.raises(UserError, match="--fill drop .* --max-gap .*choose one"):
        build_config(signal="x.csv", fill="drop", max_gap="3")
    with pytest.raises(UserError, match="--agg"):
        build_config(signal="x.csv", agg="max")
    with pytest.raises(UserError, match="apply only to a signal file"):
        build_config(signal="damped", resample="1h")
    with pytest.raises(UserError, match="--resample '0min' is not an interval"):
        build_config(signal="x.csv", resample="0min")


def test_short_segments_dropped_and_said():
    values = np.arange(30.0)
    signal = Signal(values=values, source="s", segments=((0, 12), (12, 16), (16, 30)))
    kept = drop_short_segments(signal, 10)
    assert kept.values.tolist() == list(range(12)) + list(range(16, 30))
    assert kept.segments == ((0, 12), (12, 26)) and kept.gaps.dropped == (4,)
    assert "1 segment(s) too short for window + horizon dropped (4 values)" in describe_gaps(kept)
    with pytest.raises(UserError, match="every segment .* shorter than window \\+ horizon \\(20 values; the longest"):
        drop_short_segments(signal, 20)


# --- segments reach training and evaluation ------------------------------------------------------------


SEGMENTS = ((0, 40), (40, 47), (47, 100))


def test_starts_within():
    ok = starts_within(SEGMENTS, 100, 10)
    assert ok.size == 91
    assert np.flatnonzero(~ok).tolist() == list(range(31, 40)) + list(range(40, 47))
    assert starts_within(None, 5, 3).tolist() == [True] * 3
    assert starts_within(SEGMENTS, 45, 10).size == 36  # a shorter part of the series


def test_origins_never_cross_a_segment():
    plan = plan_origins(50, 100, 8, 6, pieces=SEGMENTS)
    assert plan.origins.tolist() == list(range(55, 95))
    for origin in plan.origins:
        assert any(a <= origin - 8 and origin + 6 <= b for a, b in SEGMENTS)
    strided = plan_origins(50, 100, 8, 6, stride=1, max_origins=10, pieces=SEGMENTS)
    assert strided.stride == 4 and strided.origins.tolist() == list(range(55, 95, 4))
    assert plan.to_dict() == {"start": 50, "stop": 100, "horizon": 6, "stride": 1, "origins": 40}
    with pytest.raises(ValueError, match="no origin"):
        plan_origins(40, 47, 8, 6, pieces=SEGMENTS)


def test_split_plan_names_the_part_when_gaps_leave_no_origin():
    split = make_split(100, 8, 0.1, 0.2, ((0, 75), (75, 100)))  # test [80, 100): after 75, window 8 + horizon 20
    with pytest.raises(UserError, match="the test part: no origin in \\[80, 100\\) .* lower --horizon"):
        split.plan("test", 20, 1)
    assert split.plan("test", 5, 1).origins.tolist() == list(range(83, 96))


def test_training_samples_stay_inside_segments():
    series = np.arange(100, dtype=np.float64)  # each value its index: a crossing row shows as a jump
    data = ClosedLoopData.from_series(series[:90], 8, 4, SEGMENTS)
    rows = np.concatenate([data.x[..., 0], data.ahead], axis=1)
    assert rows.shape == (len(data.x), 12) and np.all(np.diff(rows, axis=1) == 1)
    assert all(any(a <= r[0] and r[-1] < b for a, b in SEGMENTS) for r in rows)
    assert len(data.x) == (40 - 11) + (90 - 47 - 11)
    stream = StreamData.from_series(series[:90], 8, 16, 4, SEGMENTS)
    assert np.all(np.diff(np.concatenate([stream.seq[..., 0], stream.ahead_s], axis=1), axis=1) == 1)


def test_least_squares_rows_stay_inside_segments():
    """Two pieces of one exact AR(2) recurrence, joined with a jump: the fit inside the pieces is
    exact, the fit across the join is not."""
    t = np.arange(60)
    piece = np.cos(0.3 * t)
    series = np.r_[piece, 3.0 * piece[::-1]]
    across = fit_ar(series, 2, intercept=False)
    inside = fit_ar(series, 2, intercept=False, pieces=((0, 60), (60, 120)))
    assert across.rss > 1e-3 and inside.rss < 1e-20
    assert inside.rows == 2 * (60 - 2)


# --- end to end ------------------------------------------------------------------------------------------


def _inside(origin: int, window: int, horizon: int, segments) -> bool:
    return any(a <= origin - window and origin + horizon <= b for a, b in segments)


@pytest.mark.slow
@pytest.mark.parametrize("season", ["auto", "none"])  # none: no context longer than the window
def test_train_on_a_gappy_real_excerpt_keeps_every_origin_inside_a_segment(tmp_path, season):
    """NAB ambient temperature, hourly: a 2-hour gap bridged, a 14-hour gap splitting the series
    where the test part begins; --resample alone (auto: the median hour), or no flag about time (the
    reader puts the irregular readings on the same grid itself, and says so)."""
    out = tmp_path / "run"
    asked = ["--resample"] if season == "auto" else []
    result = CliRunner().invoke(cli, ["train", "--signal", str(AMBIENT), *asked, "--model", "ar",
                                      "--season", season, "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert ("298 values every 1 h; 1 gap bridged by a straight line (2 values); 1 gap of 14 values splits the "
            "series into 2 segments") in result.stderr
    record = json.loads((out / "training.json").read_text())
    signal = record["signal"]
    assert signal["segments"] == [[0, 245], [245, 298]] and record["split"]["segments"] == signal["segments"]
    assert signal["gaps"] == {"max_gap": 3, "filled": [2], "split": [14], "trimmed": 0, "dropped_segments": []}
    assert signal.get("regridded") == (None if asked else REGRIDDED)
    if not asked:
        assert f"{AMBIENT}: {REGRIDDED}: 298 values every 1 h" in result.stderr
    assert signal["interval_seconds"] == 3600 and signal["first_time"] == "2014-03-14T00:00:00"
    assert signal["last_time"] == "2014-03-26T23:00:00" and "zone" not in signal  # naive stamps
    assert record["config"]["signal"]["resample"] == ("auto" if asked else None)
    window, test_start = record["config"]["window"], record["split"]["test_start"]
    assert test_start < 245 < 298  # the split lies in the test part: its first origins would cross it
    # the longest context any baseline reads: the window, or a found season longer than it (the day, 24)
    context = max((window, *record["seasons"]["seasons"]))
    assert record["seasons"]["seasons"] == ([24] if season == "auto" else [])
    assert ("seasonal_naive24" in record["baselines"]) is (season == "auto")
    backtests = [m["test"] for m in record["models"].values()] + [b["test"] for b in record["baselines"].values()]
    for test in backtests:
        assert test["origin_index"] and all(_inside(o, context, test["horizon"], signal["segments"])
                                            for o in test["origin_index"])
        assert test["origin_index"][0] == 245 + context
    assert record["models"]["ar"]["validation"]["origins"] > 0
    # the saved series is the one the segments index: no value of the 14-hour gap in it
    assert np.load(out / "signal.npy").size == 298


def test_cli_refusals_exit_2_with_one_line(tmp_path):
    runner = CliRunner()
    for args, text in [(["--resample=-1h"], "--resample '-1h' is not an interval"),
                       (["--resample", "-1h"], "--resample '-1h' is not an interval"),
                       (["--resample", "30 minutes"], "--resample '30 minutes' is not an interval"),
                       (["--agg", "max"], "--agg says how readings in one --resample slot combine"),
                       (["--resample", "1h", "--max-gap", "2 hours"], "--max-gap '2 hours' is neither")]:
        result = runner.invoke(cli, ["train", "--signal", str(AMBIENT), *args, "--out", str(tmp_path / "x")])
        assert result.exit_code == 2, result.output
        assert text in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_resample_without_times_is_refused_not_ignored(tmp_path):
    """A grid needs times: a file without a time column and a .npy array are refused by name."""
    (tmp_path / "values.csv").write_text("value\n" + "\n".join(str(i % 7) for i in range(200)) + "\n")
    np.save(tmp_path / "values.npy", np.arange(200.0) % 7)
    runner = CliRunner()
    for name, text in (("values.csv", "has none (its columns: value)"), ("values.npy", "is a .npy array")):
        result = runner.invoke(cli, ["train", "--signal", str(tmp_path / name), "--resample", "1h", "--model", "ar",
                                     "--out", str(tmp_path / "x")])
        assert result.exit_code == 2, result.output
        assert "--resample needs a time column" in result.stderr and text in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "x").exists()


def test_plot_dates_are_on_the_files_clock():
    from edge_forecast.train.plots import _clock

    assert str(_clock(np.array([0.0, 1800.0]), "+01:00")[1]) == "1970-01-01T01:30:00.000"
    assert str(_clock(np.array([3600.0]), "-05:30")[0]) == "1969-12-31T19:30:00.000"
    assert str(_clock(np.array([3600.0]), None)[0]) == "1970-01-01T01:00:00.000"


def test_channels_of_an_irregular_log_name_the_empty_slot(tmp_path):
    """Several channels take their rows as they are: the empty slot the grid made is named by the
    reading before it (it has no line of its own), and --fill interpolate bridges it."""
    path = _write(tmp_path, "two.csv", ["2024-01-01 00:00,1,2", "2024-01-01 01:00,2,3", "2024-01-01 03:00,3,4",
                                        "2024-01-01 04:00,4,5", "2024-01-01 05:00,5,6"], header="time,a,b")
    with pytest.raises(UserError, match=r"column a has 1 gap\(s\) .* at the empty grid slot after line 3; repair"):
        load_signal(path, column="a,b")
    bridged = load_signal(path, column="a,b", fill="interpolate")
    assert bridged.values.tolist() == [[1, 2], [2, 3], [2.5, 3.5], [3, 4], [4, 5], [5, 6]]
