"""Real sensor files through `run --history` and `run --follow` on the device (no TensorFlow).

The expected forecast is the one from the numbers the file says, given to the Forecaster directly.
"""

from __future__ import annotations

import datetime as dt
import io
import json

import numpy as np
import pytest
from conftest import cli
from file_shapes import SHAPES

from edge_forecast.bundle import load_bundle, runtime_status
from edge_forecast.edge import Forecaster
from edge_forecast.edge.cli_run import run_command
from edge_forecast.edge.runtime import resolve_runtime
from edge_forecast.tabular import ReadOptions

T0 = dt.datetime(2024, 5, 1, 6, 30)


@pytest.fixture(scope="module")
def seed(tiny_bundle):
    """The bundle's window (20) of true values, rounded as a logger writes them."""
    return np.round(load_bundle(tiny_bundle).context_window, 4)


def _expected(tiny_bundle, values, steps=3, variant="float32"):
    return Forecaster(tiny_bundle, "rnn", variant).forecast(np.asarray(values, dtype=float), steps)


def _run_json(tiny_bundle, *args, input=None, variant="float32"):
    done = cli("run", str(tiny_bundle), "--model", "rnn", "--variant", variant, "--horizon", "3", "--format", "json",
               *args, input=input)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


@pytest.mark.parametrize(
    "name, render",
    [
        ("decimal-comma-crlf", lambda v: "Temperatur\r\n" + "".join(f"{x:.4f}\r\n".replace(".", ",") for x in v)),
        ("semicolon-decimal-comma", lambda v: "n;Temperatur\n" + "".join(
            f"{i};{x:.4f}\n".replace(".", ",") for i, x in enumerate(v))),
        ("tab-bom", lambda v: "\ufeffn\tvalue\n" + "".join(f"{i}\t{x:.4f}\n" for i, x in enumerate(v))),
        ("gap-tokens-before-window", lambda v: "v\nNA\n#N/A\nnull\n-\n\n" + "".join(f"{x:.4f}\n" for x in v)),
        ("quoted", lambda v: '"time","v"\n' + "".join(
            f'"{(T0 + dt.timedelta(minutes=i)).isoformat()}","{x:.4f}"\n' for i, x in enumerate(v))),
    ],
)
def test_history_files_forecast_from_the_numbers_they_say(tiny_bundle, seed, tmp_path, name, render):
    path = tmp_path / f"{name}.csv"
    path.write_text(render(seed), newline="")
    extra = ["--column", "Temperatur"] if name.startswith("semicolon") else []
    extra += ["--column", "value"] if name == "tab-bom" else []
    doc, _ = _run_json(tiny_bundle, "--history", str(path), *extra)
    assert np.allclose(doc["forecast"], _expected(tiny_bundle, seed), atol=1e-7)


def test_history_with_times_prints_the_forecast_times(tiny_bundle, seed, tmp_path):
    path = tmp_path / "logger.csv"
    stamps = [(T0 + dt.timedelta(minutes=i)).strftime("%d.%m.%Y %H:%M") for i in range(seed.size)]
    path.write_text("Zeit;Temp\n" + "".join(f"{s};{x:.4f}\n".replace(".", ",").replace(",", ".", 2)
                                            for s, x in zip(stamps, seed, strict=True)))
    done = cli("run", str(tiny_bundle), "--model", "rnn", "--horizon", "2", "--history", str(path))
    assert done.returncode == 0, done.stderr
    rows = done.stdout.strip().splitlines()
    assert rows[0] == "step,time,value"
    assert [r.split(",")[1] for r in rows[1:]] == ["2024-05-01T06:50:00", "2024-05-01T06:51:00"]
    assert np.allclose([float(r.split(",")[2]) for r in rows[1:]], _expected(tiny_bundle, seed, 2), atol=1e-7)


def test_a_gap_in_the_window_is_refused_or_filled(tiny_bundle, seed, tmp_path):
    path = tmp_path / "gap.csv"
    lines = [f"{x:.4f}" for x in seed]
    lines[15] = "NA"
    path.write_text("v\n" + "\n".join(lines) + "\n")
    done = cli("run", str(tiny_bundle), "--history", str(path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "1 gap(s)" in done.stderr and "at line 17" in done.stderr and "--fill interpolate" in done.stderr
    doc, _ = _run_json(tiny_bundle, "--history", str(path), "--fill", "interpolate")
    filled = seed.copy()
    filled[15] = (seed[14] + seed[16]) / 2
    assert np.allclose(doc["forecast"], _expected(tiny_bundle, filled), atol=1e-7)


def test_history_on_stdin_with_gaps_before_the_window(tiny_bundle, seed):
    text = "NA\n1e5\n\n" + "".join(f"{x:.4f}\n" for x in seed)
    doc, _ = _run_json(tiny_bundle, "--history", "-", input=text)
    assert np.allclose(doc["forecast"], _expected(tiny_bundle, seed), atol=1e-7)


def test_a_200k_row_history(tiny_bundle, tmp_path):
    values = np.round(np.cos(np.arange(200_000) / 7.0) * 0.5, 5)
    path = tmp_path / "big.csv"
    path.write_text("value\n" + "".join(f"{v:.5f}\n" for v in values))
    doc, _ = _run_json(tiny_bundle, "--history", str(path))
    assert np.allclose(doc["forecast"], _expected(tiny_bundle, values[-20:]), atol=1e-7)


def test_int8_input_saturation_is_reported_once(tiny_bundle, seed):
    # the window graph: step-int8 may be refused where it crashes (tflite-runtime on ARM)
    entry = load_bundle(tiny_bundle).variant("rnn", "int8")
    if runtime_status(entry, resolve_runtime().value).get("ok") is False:
        pytest.skip("rnn/int8 is recorded as failing with this runtime on this machine")
    hot = "".join("5.0\n" for _ in seed)  # training saw -1..1: the int8 input saturates
    doc, stderr = _run_json(tiny_bundle, "--history", "-", "--graph", "window", input=hot, variant="int8")
    assert doc["out_of_range"] == 20
    assert stderr.count("warning:") == 1 and "20 input value(s) outside" in stderr and "rnn/int8" in stderr
    doc, stderr = _run_json(tiny_bundle, "--history", "-", input=hot)  # float32 represents them
    assert doc["out_of_range"] == 0 and "warning" not in stderr
    inside = "".join(f"{x}\n" for x in seed)
    doc, stderr = _run_json(tiny_bundle, "--history", "-", "--graph", "window", input=inside, variant="int8")
    assert doc["out_of_range"] == 0 and "warning" not in stderr


def test_follow_logger_lines_by_column(tiny_bundle, seed):
    stamps = [(T0 + dt.timedelta(minutes=i)).isoformat() for i in range(4)]
    feed = "".join(f"{s},{x:.4f},55\n" for s, x in zip(stamps, seed[:4], strict=True))
    feed += f"{(T0 + dt.timedelta(minutes=4)).isoformat()},-1e39,55\n"
    done = cli("run", str(tiny_bundle), "--model", "rnn", "--follow", "--column", "1", "--format", "json", input=feed)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(r) for r in done.stdout.strip().splitlines()]
    assert [r["time"] for r in rows] == stamps
    # each line says what produced it (the step graph where the bundle has one, else the window graph)
    assert len({(r["model"], r["variant"], r["graph"], r["runtime"]) for r in rows}) == 1
    assert rows[0]["model"] == "rnn" and rows[0]["variant"] == "float32"
    assert rows[0]["graph"] in ("window", "step") and rows[0]["runtime"] in ("litert", "tflite-runtime", "tensorflow")
    f = Forecaster(tiny_bundle, "rnn", "float32")
    assert np.allclose([r["forecast"][0] for r in rows], [f.update(x)[0] for x in seed[:4]], atol=1e-7)
    assert "line 5" in done.stderr and "out of range for the model's float32 input; skipped" in done.stderr
    assert "RuntimeWarning" not in done.stderr and "overflow" not in done.stderr


def test_follow_with_a_header_names_the_column(tiny_bundle, seed):
    feed = "time;temp;hum\n" + "".join(f"01.05.2024 06:{30 + i};{x:.4f};55\n".replace(".", ",").replace(",", ".", 2)
                                       for i, x in enumerate(seed[:3]))
    done = cli("run", str(tiny_bundle), "--model", "rnn", "--follow", "--column", "temp", input=feed)
    assert done.returncode == 0, done.stderr
    rows = done.stdout.strip().splitlines()
    assert rows[0] == "observation,time,t+1" and len(rows) == 4 and rows[1].split(",")[1] == "2024-05-01T06:30:00"


def test_follow_needs_a_column_for_wide_lines(tiny_bundle):
    done = cli("run", str(tiny_bundle), "--follow", input="2024-05-01T06:30:00,22.9,55\n")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "3 columns; choose one with --column: 1, 2" in done.stderr


# --- every file shape (tests/file_shapes.py) through run --history and run --follow -------------


@pytest.fixture(scope="module")
def forty(tiny_bundle):
    """40 true values: the context window and what follows it."""
    bundle = load_bundle(tiny_bundle)
    return np.concatenate([bundle.context_window, bundle.truth[:20]])


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
def test_every_shape_as_history(tiny_bundle, forty, tmp_path, shape):
    path = tmp_path / f"{shape.name}.csv"
    path.write_bytes(shape.text(forty).encode())
    out, err = io.StringIO(), io.StringIO()
    run_command(tiny_bundle, model="rnn", variant="float32", horizon=3, history=str(path),
                read=ReadOptions(**shape.options), fill=shape.fill, fmt="json", stdout=out, stderr=err)
    doc = json.loads(out.getvalue())
    assert np.allclose(doc["forecast"], _expected(tiny_bundle, shape.expected(forty)[-20:]), atol=1e-6)
    assert ("times" in doc) == shape.timed and err.getvalue() == ""


STREAMED = [s for s in SHAPES if s.stream]


@pytest.mark.parametrize("shape", STREAMED, ids=[s.name for s in STREAMED])
def test_every_shape_as_follow(tiny_bundle, forty, shape):
    options = {k: v for k, v in shape.options.items() if k != "resample"}
    out, err = io.StringIO(), io.StringIO()
    stdin = io.StringIO(shape.text(forty[:8]), newline=None)  # as sys.stdin: universal newlines
    run_command(tiny_bundle, model="rnn", variant="float32", follow=True, read=ReadOptions(**options),
                fmt="json", stdin=stdin, stdout=out, stderr=err)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    f = Forecaster(tiny_bundle, "rnn", "float32")
    expected = [f.update(v)[0] for v in shape.expected(forty[:8])]
    assert np.allclose([r["forecast"][0] for r in rows], expected, atol=1e-6), err.getvalue()
    assert all(("time" in r) == shape.timed for r in rows) and err.getvalue() == ""


def test_forecast_times_follow_the_history_and_warn_on_another_interval(tiny_bundle, tmp_path):
    from edge_forecast.edge.cli_run import forecast_times
    from edge_forecast.signals import load_signal

    path = tmp_path / "t.csv"
    path.write_text("time,v\n" + "".join(f"2024-05-01T06:{i * 5:02d}:00+02:00,{i}\n" for i in range(6)))
    history = load_signal(path)
    bundle = load_bundle(tiny_bundle)
    err = io.StringIO()
    assert forecast_times(history, bundle, 2, err) == ["2024-05-01T06:30:00+02:00", "2024-05-01T06:35:00+02:00"]
    assert err.getvalue() == ""  # the seed bundle has no interval
    bundle.document.signal["interval_seconds"] = 60.0
    forecast_times(history, bundle, 2, err)
    assert err.getvalue() == ("warning: the history is sampled every 300 s, the model was trained on 60 s; "
                              "its forecast steps are 60 s apart in what it learned (give it a history sampled "
                              "every 60 s, or train on data at 300 s)\n")


def test_an_irregular_history_is_put_on_its_grid_and_said(tiny_bundle, seed, tmp_path):
    """A logger that missed one reading early in the file: the history goes on the minute grid, the
    missing slot before the model's window does not matter, and stderr says what was done."""
    path = tmp_path / "gappy.csv"
    stamps = [(T0 + dt.timedelta(minutes=i)).isoformat() for i in range(seed.size + 2) if i != 1]
    values = [0.5, *seed]
    path.write_text("time,value\n" + "".join(f"{s},{x:.6f}\n" for s, x in zip(stamps, values, strict=True)))
    done = cli("run", str(tiny_bundle), "--model", "rnn", "--horizon", "2", "--history", str(path))
    assert done.returncode == 0, done.stderr
    assert f"note: {path}: irregular sampling: 1 interval(s) differ from the median 60 s" in done.stderr
    assert "the readings are put on the 1 min grid" in done.stderr
    rows = done.stdout.strip().splitlines()
    assert np.allclose([float(r.split(",")[2]) for r in rows[1:]], _expected(tiny_bundle, seed, 2), atol=1e-5)
