"""Online scoring (issue 28): adaptive conformal bounds and anomaly scores in `run --follow --score`
and `detect FILE`, one StreamScorer for both, on a real bundle and data made for each fault."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import cli, trains

from edge_forecast.cli import cli as cli_group
from edge_forecast.edge.anomaly import DEFAULT_THRESHOLD, SortedWindow, StreamScorer, score_of
from edge_forecast.edge.forecaster import Forecaster

WINDOW = 24
START = 400  # values a scorer warms up on before the faults' part of a test series


def wave(points: int = 1600, seed: int = 7) -> np.ndarray:
    """A seasonal wave (periods 40 and 9) with noise 0.1: what the fixture's model learned."""
    rng = np.random.default_rng(seed)
    t = np.arange(points)
    return 10 + 2 * np.sin(2 * np.pi * t / 40) + 0.8 * np.sin(2 * np.pi * t / 9 + 0.5) + rng.normal(0, 0.1, points)


@trains
def wave_bundle(tmp_path_factory) -> Path:
    """`train --model ar` (least squares, no epochs) on `wave(1500, seed=1)`, exported in float32
    with its intervals (98 validation origins). A model that forecasts the wave is needed: the
    session's LSTMs train 3 epochs and forecast a near-constant, against which a flat line is
    no surprise and a wave's own turns are."""
    root = tmp_path_factory.mktemp("wave")
    np.save(root / "wave.npy", wave(1500, seed=1))
    done = cli("train", "--signal", str(root / "wave.npy"), "--model", "ar", "--window", str(WINDOW), "--quiet",
               "--out", str(root / "run"), timeout=1800)
    assert done.returncode == 0, done.stderr
    done = cli("export", str(root / "run"), "--quant", "float32", "--quiet", "--out", str(root / "bundle"),
               timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr
    return root / "bundle"


def _score(bundle: Path, series: np.ndarray, **options):
    scorer = StreamScorer(Forecaster(bundle), **options)
    scorer.start(series[:START])
    return scorer, [scorer.observe(float(v)) for v in series[START:]]


def _flagged(rows) -> list[int]:
    return [START + i for i, row in enumerate(rows) if row.flag]


# --- the parts, on numbers with known answers -----------------------------------------------------


def test_the_sorted_window_keeps_the_last_values_ranks_and_tail():
    window = SortedWindow(4)
    for value in (5.0, 1.0, 3.0, 2.0, 4.0):  # 5 leaves
        window.add(value)
    assert [window.order(k) for k in range(1, 5)] == [1.0, 2.0, 3.0, 4.0] and window.full()
    assert window.rank(2.5) == 0.5 and window.rank(3.0) == 0.625  # ties count half
    assert window.exceedance(3.0, 0.5) == 1.0  # within the quantile: no tail
    # above q = the 3rd smallest (ceil(5 x 0.5)): one exceedance (4, excess 1), share (1 + 1) / 5
    assert math.isclose(window.exceedance(6.0, 0.5), 0.4 * math.exp(-3.0))


def test_the_score_is_the_log_tail_probability():
    assert score_of(1e-5) == pytest.approx(0.5) and score_of(1.0) == 0.0 and score_of(0.0) == 1.0
    assert DEFAULT_THRESHOLD == 0.5


# --- faults made for each check, on a real bundle ------------------------------------------------


def test_the_clean_wave_is_not_flagged(wave_bundle):
    """False-positive bound: 1,200 clean values scored, none flagged (max score well below)."""
    _, rows = _score(wave_bundle, wave())
    assert sum(row.score is not None for row in rows) == 1200
    assert _flagged(rows) == []
    assert max(row.score for row in rows) < 0.45


def test_a_spike_is_flagged_where_it_is(wave_bundle):
    series = wave()
    series[1000] += 4.0  # 40 noise sigmas, 1.3 x the wave's swing
    _, rows = _score(wave_bundle, series)
    flagged = _flagged(rows)
    assert flagged[0] == 1000
    # the model's window holds the spike for 24 values: a few echoes at most
    assert all(1000 <= at < 1000 + WINDOW for at in flagged) and len(flagged) <= 5


def test_a_level_shift_is_flagged_at_once(wave_bundle):
    series = wave()
    series[1000:] += 3.0
    _, rows = _score(wave_bundle, series)
    flagged = _flagged(rows)
    assert flagged[0] == 1000 and not [at for at in flagged if at < 1000]


def test_a_stuck_sensor_is_flagged_while_it_is_stuck(wave_bundle):
    """A flat line where the wave moves: flagged within 3 repeats, and for all of the stretch after
    (the forecaster soon forecasts the flat line it is fed: the run of repeats says it)."""
    series = wave()
    series[1000:1060] = series[1000]
    _, rows = _score(wave_bundle, series)
    flagged = set(_flagged(rows))
    assert min(flagged) <= 1003 and not [at for at in flagged if at < 1000]
    assert set(range(1003, 1060)) <= flagged
    assert rows[1059 - START].flat_run == 59


# --- adaptive conformal inference ----------------------------------------------------------------


def test_aci_keeps_coverage_after_the_noise_doubles(wave_bundle):
    """Noise 0.1 -> 0.3 at value 900: the bundle's fixed step-1 widths lose their coverage, the
    adaptive bounds keep theirs, and Gibbs and Candes' bound on the long-run miss rate holds
    exactly: |misses / T - a| <= (max(a_1, 1 - a_1) + rate) / (rate T)."""
    series = wave(2600)
    rng = np.random.default_rng(3)
    series[900:] += rng.normal(0, 0.28, series.size - 900)
    rate = 0.02
    scorer, rows = _score(wave_bundle, series, rate=rate)
    forecaster = scorer.forecaster
    fixed = forecaster.half_widths("float32", 1)
    late = rows[1500 - START:]  # 600 values after the drift: the windows have turned over
    for level in (80, 95):
        # no finite bound: Gibbs and Candes' whole line (a_t fell below 1 / (n + 1) for a while)
        inside = [b.lower is None or b.lower <= r.value <= b.upper for r in late for b in r.bounds
                  if b.level == level]
        assert abs(np.mean(inside) - level / 100) < 0.04, (level, np.mean(inside))
        static = [abs(r.value - r.forecast) <= fixed[level][0] for r in late]
        assert np.mean(static) < level / 100 - 0.15  # what the export's width alone would give
        inn, counted = scorer.coverage()[level]
        a = 1 - level / 100
        assert abs((counted - inn) / counted - a) <= (max(a, 1 - a) + rate) / (rate * counted)


def test_the_first_bounds_are_the_bundles_until_the_window_has_the_rank(wave_bundle):
    series = wave()
    scorer = StreamScorer(Forecaster(wave_bundle))
    scorer.start(series[:WINDOW])
    first = scorer.observe(float(series[WINDOW]))
    widths = scorer.forecaster.half_widths("float32", 1)
    assert [b.level for b in first.bounds] == [80, 95]
    for b in first.bounds:
        assert b.upper - first.forecast == pytest.approx(widths[b.level][0]) and b.alpha == 1 - b.level / 100
    assert first.score is None and not first.flag


# --- the command line ------------------------------------------------------------------------------


def _faulty_file(path: Path) -> np.ndarray:
    series = wave()
    series[700] += 4.0
    series[1000:1050] = series[1000]
    series[1300:] += 3.0
    with path.open("w") as fh:
        fh.write("time,temperature\n")
        for i, v in enumerate(series):
            fh.write(f"2024-01-{1 + i // 288:02d}T{i % 288 // 12:02d}:{i % 12 * 5:02d}:00,{v:.4f}\n")
    return np.array([float(f"{v:.4f}") for v in series])


def test_detect_writes_the_csv_and_the_plot_and_says_what_it_found(wave_bundle, tmp_path):
    values = _faulty_file(tmp_path / "faults.csv")
    out = tmp_path / "scores.csv"
    done = CliRunner().invoke(cli_group, ["detect", str(tmp_path / "faults.csv"), "--bundle", str(wave_bundle),
                                          "--out", str(out)])
    assert done.exit_code == 0, done.output
    summary = done.output.splitlines()[0]
    assert summary.startswith("1556 values scored, ") and "first flagged at 2024-01-03T10:20:00" in summary
    lines = out.read_text().splitlines()
    assert lines[0] == "time,value,forecast,lower_80,upper_80,lower_95,upper_95,score,flag"
    assert len(lines) == 1 + values.size and lines[1] == f"2024-01-01T00:00:00,{values[0]:.9g},,,,,,,0"
    rows = [line.split(",") for line in lines[1:]]
    flagged = [i for i, row in enumerate(rows) if row[-1] == "1"]
    assert 700 in flagged and 1001 <= min(i for i in flagged if i > 700 + WINDOW) <= 1003  # spike, stuck
    assert [i for i in flagged if 1300 <= i <= 1302]
    assert (tmp_path / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = CliRunner().invoke(cli_group, ["detect", str(tmp_path / "faults.csv"), "--bundle", str(wave_bundle),
                                           "--out", str(out)])
    assert again.exit_code == 2 and "exists (--force replaces it)" in again.output


def test_follow_with_a_history_prints_what_detect_wrote(wave_bundle, tmp_path):
    """One scorer: `run --follow --score --history` (the file's first 500 values) on the rest
    prints detect's rows for them, and --format json one object per observation."""
    values = _faulty_file(tmp_path / "faults.csv")
    lines = (tmp_path / "faults.csv").read_text().splitlines()
    (tmp_path / "history.csv").write_text("\n".join(lines[:501]) + "\n")
    out = tmp_path / "scores.csv"
    assert CliRunner().invoke(cli_group, ["detect", str(tmp_path / "faults.csv"), "--bundle", str(wave_bundle),
                                          "--out", str(out), "--quiet"]).exit_code == 0
    expected = out.read_text().splitlines()[501:]
    stream = "\n".join(lines[501:]) + "\n"
    done = CliRunner().invoke(cli_group, ["run", str(wave_bundle), "--follow", "--score", "--history",
                                          str(tmp_path / "history.csv")], input=stream)
    assert done.exit_code == 0, done.output
    printed = done.stdout.splitlines()
    assert printed[0] == "observation,time,value,forecast,lower_80,upper_80,lower_95,upper_95,score,flag"
    assert [line.split(",", 1)[1] for line in printed[1:]] == expected
    docs = CliRunner().invoke(cli_group, ["run", str(wave_bundle), "--follow", "--levels", "95", "--format", "json",
                                          "--history", str(tmp_path / "history.csv")], input=stream)
    objects = [json.loads(line) for line in docs.stdout.splitlines()]
    assert len(objects) == values.size - 500
    first = objects[0]
    assert set(first) >= {"observation", "time", "value", "forecast", "lower_95", "upper_95", "score", "flag",
                          "model", "variant", "runtime", "graph"} and "lower_80" not in first
    assert [o["flag"] for o in objects] == [line.split(",")[-1] == "1" for line in expected]


@pytest.mark.parametrize("args, fragment", [
    (["run", "B", "--score"], "--score, --threshold and --aci-rate apply to --follow"),
    (["run", "B", "--follow", "--score", "--horizon", "3"], "--horizon sets the forecast ahead of plain"),
    (["run", "B", "--follow", "--threshold", "0"], "0<x<=1"),
    (["run", "B", "--follow", "--aci-rate", "1"], "0<x<1"),
    (["detect", "F", "--bundle", "B", "--out", "x.png"], "is the plot's name"),
    (["detect", "missing.csv", "--bundle", "B", "--out", "o.csv"], "does not exist"),
    (["detect", "short.csv", "--bundle", "B", "--out", "o.csv"], "the model needs its window (24)"),
    (["detect", "F", "--bundle", "B", "--out", "o.csv", "--levels", "90,abc"], "is not a percentage"),
])
def test_bad_input_is_one_line_and_exit_2(wave_bundle, tmp_path, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    _faulty_file(tmp_path / "F")
    (tmp_path / "short.csv").write_text("\n".join(str(v) for v in range(24)) + "\n")
    args = [str(wave_bundle) if a == "B" else a for a in args]
    done = CliRunner().invoke(cli_group, args, input="")
    assert done.exit_code == 2 and fragment in done.output, done.output
    assert len(done.output.strip().splitlines()) == 1


def test_the_python_api_detects_as_the_command(wave_bundle, tmp_path):
    import edge_forecast as ef

    _faulty_file(tmp_path / "faults.csv")
    found = ef.detect(tmp_path / "faults.csv", wave_bundle, tmp_path / "api.csv", levels=[80], quiet=True)
    assert found.levels == (80,) and found.flagged[0] == 700 and found.plot == tmp_path / "api.png"
    assert (tmp_path / "api.csv").read_text().splitlines()[0] == "time,value,forecast,lower_80,upper_80,score,flag"
    with pytest.raises(ef.UserError, match="threshold must be a score"):
        ef.detect(tmp_path / "faults.csv", wave_bundle, tmp_path / "b.csv", threshold=2.0)
