"""`train --signal` on real sensor files: trained on the numbers the file says, or refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import cli
from file_shapes import SHAPES

from edge_forecast.quality import check_training_data
from edge_forecast.signals import signal_timing, validate_series
from edge_forecast.train.config import build_config
from edge_forecast.train.loop import resolve_signal

QUICK = ["--model", "rnn", "--units", "4", "--epochs", "1", "--window", "5", "--train-horizon", "2", "--quiet"]


def _room(n: int) -> np.ndarray:
    t = np.arange(n)
    return np.round(20 + 3 * np.sin(2 * np.pi * t / 48), 2)


@pytest.mark.slow
def test_spreadsheet_export_with_decimal_commas_and_gaps(tmp_path):
    """Faults 1 and 2: `20,39` is 20.39 (not 20 and a dropped 39); NA / #N/A / empty are gaps."""
    values = _room(120)
    cells = [f"{v:.2f}".replace(".", ",") for v in values]
    cells[10], cells[40], cells[70] = "NA", "#N/A", ""
    path = tmp_path / "export.csv"
    path.write_bytes(("Temperatur\r\n" + "\r\n".join(cells) + "\r\n").encode())
    refused = cli("train", "--signal", str(path), *QUICK, "--out", str(tmp_path / "no"))
    assert refused.returncode == 2 and "3 gap(s)" in refused.stderr and "line 12, 42, 72" in refused.stderr
    assert not (tmp_path / "no").exists()
    done = cli("train", "--signal", str(path), "--fill", "interpolate", *QUICK, "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    trained = np.load(tmp_path / "run" / "signal.npy")
    expected = values.copy()
    for i in (10, 40, 70):
        expected[i] = (values[i - 1] + values[i + 1]) / 2
    assert np.allclose(trained, expected, atol=1e-12)
    # no data-quality warning (a 3-epoch model may still lose to the baselines: that one is expected)
    assert [line for line in done.stderr.splitlines()
            if line.startswith("warning:") and "does not beat the best baseline" not in line] == []


@pytest.mark.slow
def test_logger_file_with_a_glitch(tmp_path):
    """Fault 4: the 9999 glitch is reported by line before training; --outliers interpolate
    removes it. The sampling interval goes into the record."""
    values = _room(200)
    values[90] = 9999.0
    path = tmp_path / "logger.csv"
    stamps = [f"2024-05-01T{6 + i // 60:02d}:{i % 60:02d}:00" for i in range(values.size)]
    path.write_text("timestamp,temp,hum\n" + "".join(f"{s},{v:.2f},55\n" for s, v in zip(stamps, values, strict=True)))
    done = cli("train", "--signal", str(path), "--column", "temp", "--outliers", "interpolate", *QUICK,
               "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    assert "warning: 1 outlier(s) by the median/MAD rule at line 92 (9999)" in done.stderr
    trained = np.load(tmp_path / "run" / "signal.npy")
    assert trained[90] == pytest.approx((values[89] + values[91]) / 2)
    record = json.loads((tmp_path / "run" / "training.json").read_text())
    assert record["signal"]["interval_seconds"] == 60.0
    assert record["signal"]["last_time"] == stamps[-1]
    assert record["config"]["signal"]["outliers"] == "interpolate"


def test_stuck_sensor_is_refused_before_training(tmp_path):
    """Fault 3: stuck at 19.9 for the training part (std 7e-15, not 0), moving afterwards."""
    path = tmp_path / "stuck.csv"
    path.write_text("v\n" + "19.9\n" * 380 + "".join(f"{v}\n" for v in _room(20)))
    done = cli("train", "--signal", str(path), *QUICK, "--out", str(tmp_path / "run"))
    assert done.returncode == 2 and "constant at 19.9" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--delimiter", ";"], "apply only to a signal file"),
        (["--signal", "{f}", "--decimal", "x"], "'x' is not one of"),
        (["--signal", "{f}", "--outliers", "drop"], "'drop' is not one of"),
        (["--signal", "{f}", "--time-column", "when"], "unknown time column 'when'"),
    ],
)
def test_reading_options_are_checked(tmp_path, args, message):
    path = tmp_path / "f.csv"
    path.write_text("v\n" + "".join(f"{v}\n" for v in _room(60)))
    done = cli("train", *[a.replace("{f}", str(path)) for a in args], *QUICK, "--out", str(tmp_path / "run"))
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
def test_every_shape_through_the_train_path(tmp_path, shape):
    """What `train` does before its first epoch, for every file shape: the signal it would train on."""
    values = _room(120)
    path = tmp_path / f"{shape.name}.csv"
    path.write_bytes(shape.text(values).encode())
    config = build_config(None, signal=str(path), fill=shape.fill, window=5, **shape.options)
    signal = resolve_signal(config.signal)
    validate_series(signal.values, config.window, config.scale.value)
    checked, warnings = check_training_data(signal.values, 100, config.window, None, signal.lines)
    assert np.allclose(checked, shape.expected(values), rtol=1e-12, atol=1e-12) and warnings == []
    assert signal_timing(signal).get("interval_seconds") == (60.0 if shape.timed else None)
