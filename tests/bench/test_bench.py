"""`edge-forecast bench`: the report's schema, Markdown that matches its JSON, rows that say why.

The module exports the LSTM of the session's `tiny_run` (the seed preset, 3 epochs) to its own
bundle (float32/float16/int8) and benches it once with --reference; the other tests read that
report or bench a doctored copy of the bundle.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest
from child_crash import crash_env
from conftest import cli, trains

from edge_forecast.bench.report import (
    MEASURED,
    NOT_MEASURED,
    SCHEMA_VERSION,
    render_markdown,
    unavailable_runtimes,
    validate_report,
)
from edge_forecast.bench.stats import fmt, horizon_plan, sig
from edge_forecast.edge.runtime import Runtime, is_installed
from edge_forecast.fsio import sha256_file

STEPS = 40
RUNTIMES = "litert,tflite-runtime"


@trains(scope="module")
def run_and_bundle(tiny_run, tmp_path_factory):
    """The shared `tiny_run` (read, never written: bench reads it as --reference) and a bundle of
    its LSTM alone, in three modes (a smaller report than `tiny_bundle`'s 15 variants)."""
    run, bundle = tiny_run, tmp_path_factory.mktemp("bench") / "bundle"
    done = cli("export", str(run), "--out", str(bundle), "--models", "lstm", "--quant", "float32,float16,int8",
               "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    return run, bundle


@pytest.fixture(scope="module")
def report(run_and_bundle, tmp_path_factory):
    run, bundle = run_and_bundle
    out = tmp_path_factory.mktemp("report") / "r"
    done = cli("bench", str(bundle), "--out", str(out), "--horizon", str(STEPS), "--repeats", "2",
               "--runtimes", RUNTIMES, "--reference", str(run))
    assert done.returncode == 0, done.stdout + done.stderr
    return out, json.loads((out / "report.json").read_text()), (out / "report.md").read_text(), done.stdout


def _tables(markdown: str) -> list[list[list[str]]]:
    """Markdown tables as lists of rows of cells (header included, separator row dropped)."""
    tables, current = [], []
    for line in markdown.splitlines():
        if line.startswith("|"):
            if set(line.strip()) <= set("|-:"):
                continue  # the separator row
            current.append([c.strip().replace("\\|", "|") for c in line.strip()[2:-2].split(" | ")])
        elif current:
            tables.append(current)
            current = []
    return tables + ([current] if current else [])


def _json_numbers(value, into: set) -> set:
    if isinstance(value, bool):
        return into
    if isinstance(value, (int, float)):
        into.add(float(value))
    elif isinstance(value, dict):
        for v in value.values():
            _json_numbers(v, into)
    elif isinstance(value, list):
        for v in value:
            _json_numbers(v, into)
    return into


def _number(cell: str) -> float | None:
    try:
        return float(cell[:-1] if cell.endswith("x") else cell)
    except ValueError:
        return None


@pytest.mark.slow
def test_report_json_validates(report):
    out, doc, _, _ = report
    validate_report(doc)
    assert doc["schema_version"] == SCHEMA_VERSION and doc["format"] == "edge-forecast-report"
    assert {"command", "host", "bundle", "method", "series", "models", "results", "figures"} <= set(doc)
    assert doc["command"]["steps"] == STEPS and doc["command"]["repeats"] == 2
    assert doc["host"]["cpu"] and doc["host"]["python"] and doc["host"]["numpy"]
    assert doc["host"]["runtimes"]["litert"]
    keys = {(e["model"], e["variant"], e["runtime"]) for e in doc["results"]}
    assert keys == {("lstm", v, r) for v in ("float32", "float16", "int8") for r in RUNTIMES.split(",")}
    measured = [e for e in doc["results"] if e["status"] == MEASURED]
    assert {e["variant"] for e in measured if e["runtime"] == "litert"} == {"float32", "float16", "int8"}
    for e in measured:
        lat = e["latency_us"]
        assert lat["repeats"] == 2 and len(lat["per_repeat"]) == 2
        assert all(r["samples"] >= 1000 for r in lat["per_repeat"])
        assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        assert e["timing"]["load_allocate_ms"] > 0 and e["timing"]["first_invoke_ms"] > 0
        assert e["timing"]["forecast_ms"] > 0 and e["memory"]["peak_rss_mib"] > 10
        assert len(e["forecast"]) == STEPS and all(math.isfinite(v) for v in e["forecast"])
        assert e["accuracy"]["steps"] == STEPS
        # the tiny run is the seed preset: no test segment, so the figures against the truth say in-sample
        assert doc["bundle"]["evaluation_segment"] == "in-sample"
        assert {"in_sample_closed_loop_rmse", "in_sample_one_step_rmse"} <= set(e["accuracy"])
        assert len(e["horizon"]["in_sample_rmse"]) == e["horizon"]["horizon"] == doc["method"]["horizon"]["horizon"]
    f32 = next(e for e in measured if e["variant"] == "float32" and e["runtime"] == "litert")
    assert f32["accuracy"]["closed_loop_rmse_vs_keras"] < 1e-4
    assert f32["accuracy"]["one_step_max_abs_vs_keras"] < 1e-4
    for name in ("forecast", "latency", "horizon", "size_error"):
        png = out / doc["figures"][name]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


@pytest.mark.slow
def test_every_markdown_number_is_a_json_number(report):
    _, doc, markdown, _ = report
    numbers = _json_numbers(doc, set())
    checked = 0
    for table in _tables(markdown):
        for row in table[1:]:
            for cell in row:
                value = _number(cell)
                if value is not None:
                    assert value in numbers, f"{cell!r} in row {row} is not in report.json"
                    checked += 1
    assert checked > 50


@pytest.mark.slow
def test_latency_table_matches_the_json(report):
    _, doc, markdown, _ = report
    table = next(t for t in _tables(markdown) if "load + allocate (ms)" in t[0])
    header = table[0]
    by_key = {(e["model"], e["variant"], e["runtime"]): e for e in doc["results"]}
    rows = table[1:]
    # a runtime that measured nothing (not installed) is one line above the tables, not a row per variant
    assert len(rows) == len([e for e in doc["results"] if e["runtime"] not in unavailable_runtimes(doc)])
    for row in rows:
        cell = dict(zip(header, row, strict=True))
        entry = by_key[(cell["model"], cell["variant"], cell["runtime"].split(" ")[0])]
        assert float(cell["size (KiB)"]) == entry["size_kib"]
        if entry["status"] == MEASURED:
            for column, key in (("mean (µs)", "mean"), ("p50 (µs)", "p50"), ("p90 (µs)", "p90"), ("p99 (µs)", "p99")):
                assert float(cell[column]) == entry["latency_us"][key]
            assert float(cell["load + allocate (ms)"]) == entry["timing"]["load_allocate_ms"]
            assert float(cell["peak RSS (MiB)"]) == entry["memory"]["peak_rss_mib"]
            assert float(cell[f"forecast {STEPS} steps (ms)"]) == entry["timing"]["forecast_ms"]
            assert cell["status"] == "ok"
        else:
            assert cell["status"] == f"{entry['status']}: {entry['reason']}"


@pytest.mark.slow
@pytest.mark.skipif(is_installed(Runtime.TFLITE_RUNTIME), reason="tflite-runtime is installed here")
def test_a_missing_runtime_is_said_once(report):
    _, doc, markdown, stdout = report
    rows = [e for e in doc["results"] if e["runtime"] == "tflite-runtime"]
    assert rows and all(e["status"] == NOT_MEASURED and "not installed" in e["reason"] for e in rows)
    assert "pip install tflite-runtime" in rows[0]["reason"]  # report.json keeps a row per variant ...
    said = f"every variant on tflite-runtime ({rows[0]['reason']})"
    assert markdown.count(f"Not measured: {said}.") == 1 and stdout.count(f"not measured: {said}") == 1  # ... once
    assert "on tflite-runtime:" not in stdout  # no progress line per variant


@pytest.mark.slow
def test_reference_measures_the_keras_baseline_and_speedups(report):
    _, doc, markdown, _ = report
    keras = doc["models"]["lstm"]["keras"]
    assert keras["status"] == MEASURED
    m = keras["measured"]
    assert m["predict"]["steps_measured"] == 30 and m["predict"]["latency_us"]["samples"] == 30
    assert m["direct"]["latency_us"]["samples"] >= 2000
    assert m["accuracy"]["closed_loop_rmse_vs_bundle"] < 1e-4  # the same float model as at export
    assert m["predict"]["latency_us"]["p50"] > m["direct"]["latency_us"]["p50"]
    for e in doc["results"]:
        if e["status"] == MEASURED:
            want = sig(m["predict"]["latency_us"]["p50"] / e["latency_us"]["p50"])
            assert e["speedup"]["vs_keras_predict"] == want
    assert "Keras float, model.predict" in markdown and "(baseline)" in markdown


@pytest.mark.slow
def test_bench_forecast_is_the_forecasters(report, run_and_bundle):
    from edge_forecast.edge.forecaster import Forecaster

    _, doc, _, _ = report
    for e in doc["results"]:
        if e["status"] == MEASURED and e["runtime"] == "litert":
            expected = Forecaster(run_and_bundle[1], e["model"], e["variant"], "litert").forecast(horizon=STEPS)
            np.testing.assert_allclose(e["forecast"], expected, rtol=1e-6, atol=1e-9)


@pytest.mark.slow
def test_unloadable_and_known_failing_variants_are_rows_and_nothing_imports_tensorflow(run_and_bundle, tmp_path):
    """A bundle that says litert fails on int8, and a float16 file litert cannot load: both rows say
    why, float32 is measured, the report is written; the bench process never imports TensorFlow."""
    bundle = tmp_path / "bundle"
    shutil.copytree(run_and_bundle[1], bundle)
    doc = json.loads((bundle / "bundle.json").read_text())
    variants = doc["models"]["lstm"]["variants"]
    variants["int8"]["runtimes"]["litert"] = {"ok": False, "version": "2.3.0", "error": "boom at export"}
    broken = bundle / variants["float16"]["file"]
    broken.write_bytes(b"this is not a flatbuffer" * 100)
    variants["float16"].update(bytes=broken.stat().st_size, sha256=sha256_file(broken))
    (bundle / "bundle.json").write_text(json.dumps(doc))
    out = tmp_path / "report"
    code = (
        "import json, sys\n"
        "from edge_forecast.cli import cli\n"
        f"cli.main([\"bench\", {str(bundle)!r}, \"--out\", {str(out)!r}, \"--horizon\", \"10\", \"--repeats\", \"1\","
        " \"--runtimes\", \"litert\"], standalone_mode=False)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'))\n"
        "print('HEAVY', json.dumps(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "HEAVY []" in done.stdout, done.stdout
    report = json.loads((out / "report.json").read_text())
    validate_report(report)
    rows = {e["variant"]: e for e in report["results"]}
    assert rows["float32"]["status"] == MEASURED
    assert rows["int8"]["status"] == NOT_MEASURED and "boom at export" in rows["int8"]["reason"]
    assert rows["float16"]["status"] == "failed" and "litert could not run it" in rows["float16"]["reason"]
    keras = report["models"]["lstm"]["keras"]
    assert keras["status"] == NOT_MEASURED and "--reference" in keras["reason"]
    markdown = (out / "report.md").read_text()
    assert "boom at export" in markdown and "failed: litert could not run it" in markdown
    assert "Keras float baseline: not measured" in markdown


@pytest.mark.slow
def test_a_crashing_measurement_is_a_row(run_and_bundle, tmp_path):
    out = tmp_path / "report"
    done = cli("bench", str(run_and_bundle[1]), "--out", str(out), "--horizon", "5", "--repeats", "1",
               "--runtimes", "litert", env=crash_env(tmp_path, "edge_forecast.bench.measure", "lstm/int8/litert"))
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {e["variant"]: e for e in json.loads((out / "report.json").read_text())["results"]}
    assert rows["int8"]["status"] == "failed" and "SIGSEGV" in rows["int8"]["reason"]
    assert rows["float32"]["status"] == rows["float16"]["status"] == MEASURED
    assert "lstm int8 on litert: FAILED" in done.stdout


def test_bench_and_demo_help():
    for command in ("bench", "demo"):
        done = cli(command, "--help")
        assert done.returncode == 0, done.stderr
        assert "--out" in done.stdout and "--force" in done.stdout
    done = cli("bench", "--help")
    for option in ("--horizon", "--repeats", "--runtimes", "--reference"):
        assert option in done.stdout
    assert "--epochs" in cli("demo", "--help").stdout


def _assert_user_error(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_bench_missing_bundle_is_a_user_error(tmp_path):
    _assert_user_error(cli("bench", str(tmp_path / "nope"), "--out", str(tmp_path / "r")), "does not exist")


@pytest.mark.slow
@pytest.mark.parametrize(("args", "fragments"), [
    (["--runtimes", "coral"], ("unknown runtime 'coral'", "litert")),
    (["--runtimes", "all,litert"], ("'all' cannot be combined with another runtime",)),
    (["--horizon", "0"], ("'--horizon': 0 is not in the range 1<=x<=10000000",)),
    (["--repeats", "0"], ("'--repeats': 0 is not in the range x>=1",)),
    (["--reference", "/nonexistent/run"], ("does not exist",)),
])
def test_bench_bad_options_are_user_errors(run_and_bundle, tmp_path, args, fragments):
    out = tmp_path / "r"
    _assert_user_error(cli("bench", str(run_and_bundle[1]), "--out", str(out), *args), *fragments)
    assert not out.exists()


@pytest.mark.slow
def test_bench_refuses_an_existing_report_without_force(run_and_bundle, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    _assert_user_error(cli("bench", str(run_and_bundle[1]), "--out", str(out)), "already exists", "--force")
    assert (out / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("value", [0.0, 1.0, 2.5, 48123.7, 119100.0, 5.806, 0.0001156, 1.022e-07, 3.3e12, -0.2505,
                                   12345678.9, 1e-3, 999.95])
def test_report_numbers_round_trip_through_markdown(value):
    stored = sig(value)
    assert float(fmt(stored)) == stored
    assert sig(float("nan")) is None and fmt(None) == "n/a"


def test_horizon_plan_shares_every_horizon_between_origins():
    plan = horizon_plan(180, 180)
    assert plan["horizon"] == 90 and plan["origins"][0] == 0 and plan["origins"][-1] == 90
    assert len(plan["origins"]) <= 100
    assert horizon_plan(180, 10)["horizon"] == 10 and horizon_plan(1, 5) == {"horizon": 1, "origins": [0]}


@pytest.mark.slow
def test_model_heading_names_units_or_a_linear_model(report):
    _, doc, markdown, _ = report
    assert "### lstm: " in markdown and " units, " in markdown.split("### lstm: ")[1].splitlines()[0]
    linear = json.loads(json.dumps(doc))
    linear["models"]["lstm"]["units"] = 0  # how an `ar` model's record reads: no recurrent units
    heading = render_markdown(linear).split("### lstm: ")[1].splitlines()[0]
    assert heading.startswith("linear, ") and "0 units" not in heading


def test_latency_axis_ends_at_the_slowest_p99():
    """The axis used to run to 100x the slowest p99 (1e7 µs when Keras' model.predict took 0.3 s),
    room for the text labels, which now sit in a column right of the axis; ticks say µs or ms."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edge_forecast.bench.figures import _latency

    def lat(p50, p99):
        return {"latency_us": {"p50": p50, "p99": p99}}

    keras = {"predict": lat(137_900, 310_300), "direct": lat(1305, 5615)}
    doc = {"models": {"rnn": {"keras": {"status": MEASURED, "measured": keras}}},
           "results": [{"model": "rnn", "variant": v, "runtime": "litert", "status": MEASURED, **lat(p50, p99)}
                       for v, p50, p99 in (("float32", 51.8, 121.6), ("int8", 69.3, 159.3))]
           + [{"model": "rnn", "variant": "int8", "runtime": "tflite-runtime", "status": NOT_MEASURED}]}
    fig = _latency(plt, doc)
    ax = fig.axes[0]
    fig.canvas.draw()
    low, high = ax.get_xlim()
    assert 310_300 < high <= 2 * 310_300 and low < 51.8
    assert [t.get_text() for t in ax.get_xticklabels() if low <= t.get_position()[0] <= high] == [
        "100 µs", "1 ms", "10 ms", "100 ms"]
    assert len(ax.get_yticklabels()) == 4  # Keras' two calls and the two measured variants
    plt.close(fig)


def test_forecast_figure_draws_the_prediction_intervals_of_one_variant():
    """The bands are report.json's half-widths around that variant's forecast, for the steps the
    intervals cover and no further, in the whole forecast and in a panel of those steps; a variant
    without intervals gets none, and a report without any keeps the two-panel figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    from edge_forecast.bench.figures import _forecast

    w, steps, horizon = 5, 12, 4
    forecast = [float(v) for v in np.linspace(1.0, 2.1, steps)]
    rows = [{"level": 80, "half_width": [0.1, 0.2, 0.3, 0.4]}, {"level": 95, "half_width": [0.2, 0.4, 0.6, 0.8]}]
    entry = {"model": "m", "variant": "float32", "runtime": "litert", "status": MEASURED, "forecast": forecast,
             "intervals": rows}
    other = {**entry, "variant": "int8", "intervals": []}
    doc = {"models": {"m": {"keras": {"closed_loop": forecast}}}, "command": {"steps": steps},
           "series": {"context_window": [0.0] * w, "truth": forecast}, "results": [other, entry]}
    fig = _forecast(plt, doc)
    top, _, zoom = fig.axes  # the difference panel is made second
    for ax in (top, zoom):
        bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
        assert sorted(c.get_label() for c in bands) == ["float32 80% interval (steps 1-4)",
                                                        "float32 95% interval (steps 1-4)"]
        for band in bands:
            half = rows[0 if "80%" in band.get_label() else 1]["half_width"]
            xy = band.get_paths()[0].vertices
            assert xy[:, 0].min() == w and xy[:, 0].max() == w + horizon - 1  # no band past the intervals
            for h in range(horizon):
                at = xy[xy[:, 0] == w + h, 1]
                assert np.allclose([at.min(), at.max()], [forecast[h] - half[h], forecast[h] + half[h]])
    assert "over the 4 steps they cover (80%: 4 of 4" in zoom.get_title()
    plt.close(fig)
    doc["results"] = [other]
    fig = _forecast(plt, doc)
    assert len(fig.axes) == 2 and not any(isinstance(c, PolyCollection) for c in fig.axes[0].collections)
    plt.close(fig)
