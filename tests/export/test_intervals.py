"""Prediction intervals (issue 28, first part): each variant's split-conformal half-widths from its
own closed loop over the validation origins, in bundle.json, the Forecaster and `run --levels`."""

from __future__ import annotations

import json
import math
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import cli, trains

from edge_forecast.bundle import load_bundle
from edge_forecast.contracts.bundle import INTERVAL_METHOD, Intervals
from edge_forecast.edge.forecaster import Forecaster
from edge_forecast.errors import UserError
from edge_forecast.evaluation import plan_origins
from edge_forecast.intervals import conformal_rank, half_widths, min_origins, parse_levels
from edge_forecast.train.split import make_split

# --- the conformal quantile, on numbers with known answers (no model) -----------------------------


def test_the_rank_is_the_finite_sample_order_statistic_in_exact_arithmetic():
    # ceil((n + 1) L / 100): 0.95 x 20 is 19 exactly, not 19.000000000000004 (which would ceil to 20)
    assert conformal_rank(19, 0.95) == 19 and conformal_rank(18, 0.95) == 19
    assert conformal_rank(4, 0.8) == 4 and conformal_rank(3, 0.8) == 4 and conformal_rank(9, 0.8) == 8
    assert conformal_rank(99, 0.995) == 100 and conformal_rank(199, 0.995) == 199
    assert (min_origins(80), min_origins(95), min_origins(50), min_origins(99.5)) == (4, 19, 1, 199)
    # the float formula agrees with exact arithmetic on the decimal level for every n a backtest or
    # a scorer's window has, at levels with up to 4 decimals
    for level in (50, 80, 90, 95, 99, 99.5, 12.5, 33.3, 66.67, 97.5, 99.9, 99.99, 0.01, 87.6543):
        exact = Fraction(str(level)) / 100
        assert all(conformal_rank(n, level / 100) == math.ceil((n + 1) * exact) for n in range(0, 5001)), level


def test_one_rank_formula_serves_intervals_and_the_scorer():
    """intervals.half_widths, the scorer's ACI bound (AciLevel) and its tail's reference quantile
    (SortedWindow.exceedance) all rank by intervals.conformal_rank: on a window of 19 errors 1..19,
    a_t = 0.05 gives rank 19 (not 20: the window has a bound), the 95% split-conformal rank of 19
    origins is 19, and the 0.9 quantile of the window is its 18th value."""
    from edge_forecast.edge.anomaly import AciLevel, SortedWindow

    window = SortedWindow(300)
    for value in range(1, 20):
        window.add(float(value))
    level = AciLevel(95, 0.005, fallback=None)  # a_t = 1 - 95 / 100, as the scorer starts
    assert level.bound(0.0, 0.0, window.sorted, window.full()).upper == 19.0
    widths, k = half_widths(np.arange(1.0, 20.0).reshape(19, 1), 95)
    assert k == 19 and widths.tolist() == [19.0]
    assert window.exceedance(18.0, 0.9) == 1.0 and window.exceedance(18.5, 0.9) < 1.0  # q = 18, ceil(20 x 0.9)
    # a_t after one miss at 80%, rate 0.05: 0.2 + 0.05 (0.2 - 1) = 0.16, 0.15999999999999995 in floats; on
    # 299 errors the rank is ceil(300 x 0.84) = 252 (the scorer's own float ceil made it 253)
    for value in range(20, 300):
        window.add(float(value))
    level = AciLevel(80, 0.05, fallback=None)
    level.bound(0.0, 1e9, window.sorted, window.full())  # a miss: a_t updated
    assert level.alpha != 0.16 and math.isclose(level.alpha, 0.16)
    assert level.bound(0.0, 0.0, window.sorted, window.full()).upper == 252.0
def test_half_widths_are_each_steps_own_order_statistic_or_none():
    # 9 origins x 2 steps: step 1's errors 1..9, step 2's 10..90 in another order
    errors = np.array([[9, 10], [1, 90], [5, 20], [3, 80], [7, 30], [2, 70], [8, 40], [4, 60], [6, 50]], float)
    widths, k = half_widths(errors, 80)  # k = ceil(10 x 0.8) = 8
    assert k == 8 and widths.tolist() == [8.0, 80.0]
    widths, k = half_widths(errors, 95)  # k = ceil(9.5) = 10 > 9 origins: no such order statistic
    assert widths is None and k == 10


@pytest.mark.parametrize("text, expected", [(None, (80, 95)), ("80,95", (80, 95)), ("none", ()), ("NONE", ()),
                                            ("90", (90,)), ("99.5, 80,80", (99.5, 80))])
def test_levels_parse(text, expected):
    assert parse_levels(text) == expected


@pytest.mark.parametrize("text", ["0", "100", "120", "-5", "nan", "eighty", "80,,95", ""])
def test_bad_levels_are_one_line_user_errors(text):
    with pytest.raises(UserError, match="is not a percentage between 0 and 100"):
        parse_levels(text)


def test_every_levels_option_reads_and_refuses_alike():
    """export takes none, run and detect take all: one reader (parse_levels), one message naming the word."""
    from edge_forecast.edge.cli_run import interval_levels

    assert interval_levels("all") is None and interval_levels(None) is None and interval_levels("95,80") == (95, 80)
    assert parse_levels("none") == ()
    with pytest.raises(UserError, match=r"^--levels: level 'none' is not a percentage between 0 and 100 \(e\.g\. "
                                        r"80,95; or all\)$"):
        interval_levels("none")
    with pytest.raises(UserError, match=r"^levels: level 'all' is not a percentage between 0 and 100 \(e\.g\. "
                                        r"80,95; or none\)$"):
        parse_levels("all")


def _intervals(**change) -> dict:
    doc = {"method": INTERVAL_METHOD, "origins": 9, "horizon": 2,
           "levels": [{"level": 80, "half_width": [8.0, 80.0], "rank": 8},
                      {"level": 95, "half_width": None, "rank": 10, "reason": "9 validation origins; ..."}]}
    return {**doc, **change}


@pytest.mark.parametrize("change, fragment", [
    ({"levels": [{"level": 80, "half_width": [1.0]}]}, "half_width must be null or 2 finite numbers"),
    ({"levels": [{"level": 80, "half_width": [1.0, -1.0]}]}, "half_width must be null or 2 finite numbers"),
    ({"levels": [{"level": 100, "half_width": [1.0, 2.0]}]}, "level must be a percentage"),
    ({"levels": [{"level": 80, "half_width": None}]}, "no half_width and no reason"),
    ({"levels": [{"level": 80, "half_width": [1, 2]}, {"level": 80.0, "half_width": [1, 2]}]}, "a level twice"),
    ({"origins": 0}, "origins and horizon both 0 or both positive"),
    ({"horizon": "2"}, "horizon has the wrong type"),
])
def test_a_damaged_intervals_record_is_a_one_line_error(change, fragment):
    assert Intervals.from_dict(_intervals(), "x").to_dict()["levels"][0]["half_width"] == [8.0, 80.0]
    with pytest.raises(UserError, match=fragment):
        Intervals.from_dict(_intervals(**change), "models.m.variants.int8.intervals")


# --- real exports --------------------------------------------------------------------------------


def test_the_seed_run_has_one_validation_origin_and_says_so(tiny_bundle):
    """The seed preset validates on its last 18 values: one origin of 18 steps, too few for any
    level; every variant records that instead of a width, and the Forecaster refuses with the reason."""
    bundle = load_bundle(tiny_bundle)
    for model in bundle.models:
        for key in bundle.variants(model):
            found = bundle.variant(model, key).intervals
            assert found is not None and found.method == INTERVAL_METHOD
            assert (found.start, found.stop, found.origins, found.horizon) == (182, 200, 1, 18)
            assert [lv.level for lv in found.levels] == [80, 95] and found.available == []
            assert all("1 validation origin;" in lv.reason for lv in found.levels)
    with pytest.raises(UserError, match="no prediction interval at any level .*80%: 1 validation origin; a 80% "
                                        "split-conformal quantile needs at least 4"):
        Forecaster(bundle, variant="int8").forecast_interval(horizon=5)


LONG = 700  # the validation segment of a user's model on LONG values: 10% of the first 80%


def _long_series() -> np.ndarray:
    """The seed's damped oscillation restarted every 200 values (what tiny_run's models learned, and more)."""
    x = np.linspace(0, 5 * np.pi, 200)
    return np.tile(np.exp(-x / 5) * np.cos(x), 4)[:LONG]


@trains
def user_bundle(tiny_run, tmp_path_factory) -> tuple[Path, np.ndarray]:
    """tiny_run's LSTM as a user's own model (`export lstm.keras --signal long.npy`), float32 and
    int8, window and rollout graphs, on a series long enough for 35 validation origins."""
    where = tmp_path_factory.mktemp("user_intervals")
    series = _long_series()
    np.save(where / "long.npy", series)
    out = where / "bundle"
    done = cli("export", str(tiny_run / "lstm.keras"), "--signal", str(where / "long.npy"), "--quant", "float32,int8",
               "--graphs", "window,rollout", "--rollout-horizon", "12", "--out", str(out), timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "prediction intervals: 4 variants, each from its own closed loop over 35 validation origins" in done.stdout
    return out, series


def _own_errors(bundle: Path, key: str, series: np.ndarray, start: int, stop: int, horizon: int) -> np.ndarray:
    """The variant's absolute closed-loop errors over `horizon` steps from every validation origin
    (the origins of a 20-step backtest, whatever `horizon`), recomputed here with the device
    Forecaster on the variant's own graph."""
    graph = key.split("-")[0] if "-" in key else "window"
    forecaster = Forecaster(bundle, variant=key, graph=graph, runtime="litert")
    window = forecaster.window
    rows = [np.abs(forecaster.forecast(series[t - window : t], horizon) - series[t : t + horizon])
            for t in range(start, stop - 20 + 1)]
    return np.array(rows)


def test_each_variants_half_widths_are_its_own_backtests_order_statistics(user_bundle):
    out, series = user_bundle
    bundle = load_bundle(out)
    split = make_split(LONG, 20, 0.1, 0.2)  # from_model's split: 80% before the test segment, 10% of it validates
    plan = plan_origins(split.train_end, split.val_end, 20, 20)
    assert (split.train_end, split.val_end, plan.horizon, plan.origins.size) == (506, 560, 20, 35)
    recorded = {}
    for key in bundle.variants("lstm"):
        found = bundle.variant("lstm", key).intervals
        horizon = 12 if key.startswith("rollout") else 20  # a rollout graph's intervals stop at its H
        assert (found.start, found.stop, found.stride, found.origins, found.horizon) == (506, 560, 1, 35, horizon)
        errors = _own_errors(out, key, series, 506, 560, horizon)
        assert errors.shape == (35, horizon)
        for level, k in ((80, 29), (95, 35)):  # ceil(36 x 0.8) = 29, ceil(36 x 0.95) = 35
            entry = found.level(level)
            assert entry.rank == k
            assert entry.half_width == np.sort(errors, axis=0)[k - 1].tolist()
            # by construction at least `level` % of the validation origins lie within, at every step
            assert ((errors <= np.array(entry.half_width)).mean(axis=0) >= level / 100).all()
        recorded[key] = np.array(found.level(80).half_width)
    # an int8 variant has its own error, so its own widths
    assert not np.array_equal(recorded["int8"], recorded["float32"])
    assert not np.array_equal(recorded["rollout-int8"], recorded["rollout-float32"])
    # the rollout graph's loop is the window graph's: the same widths to float32 rounding over its 12 steps
    assert np.allclose(recorded["rollout-float32"], recorded["float32"][:12], rtol=0, atol=1e-5)


def test_the_forecasters_bounds_are_the_point_minus_and_plus_the_half_width(user_bundle):
    out, series = user_bundle
    history = series[300:400]
    for variant, graph, horizon, key in (("int8", "window", 20, "int8"), ("float32", "auto", 12, "rollout-float32"),
                                         ("float32", "auto", 15, "float32")):
        forecaster = Forecaster(out, variant=variant, graph=graph)
        found = forecaster.forecast_interval(history, horizon)
        assert found.variant == key and found.levels == (80, 95) and found.origins == 35
        assert np.array_equal(found.point, forecaster.forecast(history, horizon))
        for level in (80, 95):
            width = np.array(forecaster.bundle.variant("lstm", key).intervals.level(level).half_width[:horizon])
            lower, upper = found.bounds(level)
            assert np.array_equal(lower, found.point - width) and np.array_equal(upper, found.point + width)
    only = Forecaster(out, variant="int8").forecast_interval(history, 3, levels=[95.0])
    assert only.levels == (95,) and list(only.lower) == [95]
    with pytest.raises(UserError, match=r"cover 20 steps .*21 were asked"):
        Forecaster(out, variant="int8", graph="window").forecast_interval(history, 21)
    with pytest.raises(UserError, match="has no 90% interval; its levels: 80, 95"):
        Forecaster(out).forecast_interval(history, 3, levels=[90])


def test_run_prints_the_bounds_as_columns_and_fields_only_when_asked(user_bundle, tmp_path):
    out, series = user_bundle
    np.save(tmp_path / "h.npy", series[300:400])
    plain = cli("run", str(out), "--history", str(tmp_path / "h.npy"), "--horizon", "3")
    assert plain.returncode == 0 and plain.stdout.splitlines()[0] == "step,value", plain.stderr
    done = cli("run", str(out), "--history", str(tmp_path / "h.npy"), "--variant", "int8", "--graph", "window",
               "--levels", "all")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "step,value,lower_80,upper_80,lower_95,upper_95"
    assert len(lines) == 21  # the default horizon stops where the intervals do (20 steps, not the test's 140)
    found = Forecaster(out, variant="int8", graph="window").forecast_interval(series[300:400], 20)
    rows = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    assert np.allclose(rows[:, 1:], np.column_stack([found.point, found.lower[80], found.upper[80], found.lower[95],
                                                     found.upper[95]]), rtol=1e-8, atol=0)
    doc = json.loads(cli("run", str(out), "--history", str(tmp_path / "h.npy"), "--variant", "int8", "--graph",
                         "window", "--horizon", "4", "--levels", "95", "--format", "json").stdout)
    assert doc["intervals"] == {"variant": "int8", "origins": 35, "levels": [95]}
    assert np.allclose(doc["upper_95"], found.upper[95][:4], rtol=1e-12, atol=0) and "lower_80" not in doc
    for args, fragment in ((["--levels", "all", "--horizon", "21", "--graph", "window"], "cover 20 steps"),
                           (["--levels", "90"], "no 90% interval"),
                           (["--levels", "none"], "level 'none' is not a percentage"),
                           (["--levels", "all", "--follow", "--horizon", "3"], "--horizon sets the forecast ahead")):
        bad = cli("run", str(out), *args, input="")
        assert bad.returncode == 2 and fragment in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def test_a_bundle_without_intervals_runs_as_before_and_says_why_it_has_no_bounds(user_bundle, tmp_path):
    out, _ = user_bundle
    old = tmp_path / "old"
    shutil.copytree(out, old)
    doc = json.loads((old / "bundle.json").read_text())
    for variant in doc["models"]["lstm"]["variants"].values():
        del variant["intervals"]  # as bundles before format minor 2, or export --levels none
    doc["format_minor"] = 1
    (old / "bundle.json").write_text(json.dumps(doc))
    assert cli("run", str(old), "--horizon", "2").returncode == 0
    bad = cli("run", str(old), "--horizon", "2", "--levels", "all")
    assert bad.returncode == 2 and "has no prediction intervals" in bad.stderr


def test_export_levels_are_checked_before_any_work(tmp_path):
    import edge_forecast as ef

    done = cli("export", str(tmp_path / "no-run"), "--out", str(tmp_path / "b"), "--levels", "80,101")
    assert done.returncode == 2 and "level '101' is not a percentage" in done.stderr
    with pytest.raises(UserError, match="level '100' is not a percentage"):
        ef.export(tmp_path / "no-run", tmp_path / "b", levels=[80, 100.0])
    with pytest.raises(UserError, match="levels must be a string"):
        ef.export(tmp_path / "no-run", tmp_path / "b", levels=[True])


def test_bench_reports_each_variants_coverage_width_and_interval_score(user_bundle, tmp_path):
    """bench's interval rows (bench/stats.interval_coverage, on the horizon table's closed loops)
    equal a recomputation with the device Forecaster's own bounds from the same origins."""
    import edge_forecast as ef

    out, _ = user_bundle
    report = ef.bench(out, tmp_path / "report", runtimes="litert", repeats=1, quiet=True)
    doc = json.loads((Path(report) / "report.json").read_text())
    bundle = load_bundle(out)
    series = np.concatenate([bundle.context_window, bundle.truth])
    from edge_forecast.bench.stats import horizon_plan

    origins = horizon_plan(len(bundle.truth), doc["command"]["steps"], bundle.evaluation)["origins"]
    checked = 0
    for entry in doc["results"]:
        if entry["status"] != "measured" or entry["variant"].startswith("rollout"):
            continue
        intervals = bundle.variant(entry["model"], entry["variant"]).intervals
        rows = {row["level"]: row for row in entry["intervals"]}
        assert sorted(rows) == sorted(intervals.available) == [80, 95]
        forecaster = Forecaster(bundle, variant=entry["variant"], graph="window", runtime="litert")
        for level, row in rows.items():
            steps = row["steps"]
            inside, scores = [], []
            for o in origins:
                got = forecaster.forecast_interval(series[o : o + bundle.window], steps)
                lower, upper = got.bounds(level)
                truth = bundle.truth[o : o + steps]
                inside.append((truth >= lower) & (truth <= upper))
                miss = np.maximum(lower - truth, 0) + np.maximum(truth - upper, 0)
                scores.append(upper - lower + 2 / (1 - level / 100) * miss)
            assert row["origins"] == len(origins)
            assert steps == min(intervals.horizon, doc["method"]["horizon"]["horizon"])
            assert row["coverage"] == pytest.approx(np.mean(inside), abs=1e-4)
            assert row["mean_width"] == pytest.approx(2 * np.mean(intervals.level(level).half_width[:steps]), rel=1e-3)
            assert row["interval_score"] == pytest.approx(np.mean(scores), rel=1e-3)
            assert row["interval_score"] >= row["mean_width"]
            checked += 1
    assert checked == 4  # float32 and int8 window variants, two levels each
    assert "## Prediction intervals" in (Path(report) / "report.md").read_text()
