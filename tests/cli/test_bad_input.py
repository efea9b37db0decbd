"""Bad input as users give it (numbers that are not finite, damaged runs and bundles, spreadsheet
encodings, outputs that cannot be created): each is refused with one line and exit 2, or read as
the file says, through the command line's entry point."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import cli, one_line_error

from edge_forecast.quality import check_training_data


@pytest.mark.parametrize("args", [
    ["train", "--learning-rate", "nan"],          # trained, then a traceback writing training.json
    ["train", "--learning-rate", "1e400"],        # float("1e400") is inf
    ["train", "--tau", "inf"],
    ["train", "--input-noise", "nan"],
    ["train", "--signal", "mackey-glass", "--delay", "inf"],   # OverflowError
    ["train", "--validation-split", "-inf"],
    ["micro", "B", "--arena-margin", "nan"],
])
def test_options_that_are_not_finite_numbers_are_refused(tmp_path, args):
    out = ["--out", str(tmp_path / "OUT")] if args[0] == "train" else []
    args = [str(tmp_path / a) if a == "B" else a for a in args]
    one_line_error(cli(*args, *out, "--epochs", "1", "--quiet") if args[0] == "train" else cli(*args),
                    "is not a finite number", "--help")
    assert not (tmp_path / "OUT").exists()


@pytest.mark.parametrize("option", ["learning_rate", "tau", "input_noise", "weight_average", "validation_split"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_the_python_api_refuses_numbers_that_are_not_finite(option, value):
    """build_config (the Python API) refuses what the CLI's FiniteFloat refuses; nan passed every
    range check below it."""
    from edge_forecast.errors import UserError
    from edge_forecast.train.config import build_config

    with pytest.raises(UserError, match=f"^{option} must be a finite number"):
        build_config(None, **{option: value})


@pytest.mark.parametrize("text", ["inf", "nan", "-inf", "1e999"])
def test_test_split_that_is_not_a_number_is_refused(tmp_path, text):
    """`--test-split inf` ended in an OverflowError (int(inf))."""
    one_line_error(cli("train", "--test-split", text, "--out", str(tmp_path / "OUT")),
                    "'--test-split'", "neither a fraction in [0, 1) nor a whole count")
    assert not (tmp_path / "OUT").exists()


def test_a_value_beyond_float32_is_refused_before_training_and_an_existing_run_is_kept(tmp_path):
    """1e300 at line 52 became inf in the float32 windows and the scaler's variance; the run
    trained, then died writing training.json with a traceback (and --force had already staged)."""
    t = np.arange(120)
    values = [f"{20 + 3 * np.sin(v / 5):.3f}" for v in t]
    values[50] = "1e300"
    path = tmp_path / "huge.csv"
    path.write_text("temp\n" + "\n".join(values) + "\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / "training.json").write_text("{}")  # stands for an existing good run: never replaced by a failure
    done = cli("train", "--signal", str(path), "--epochs", "1", "--quiet", "--force", "--out", str(run))
    one_line_error(done, "beyond the float32 range", "line 52 (1e+300)", "--outliers clip")
    assert [p.name for p in run.iterdir()] == ["training.json"] and (run / "training.json").read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staged leftovers


def test_outlier_repair_brings_a_huge_value_back_into_float32():
    values = 20 + 3 * np.sin(np.arange(120) / 5)
    values[50] = 1e300
    repaired, warnings = check_training_data(values.copy(), 96, 5, "interpolate")
    assert repaired[50] == pytest.approx((values[49] + values[51]) / 2) and "at value 51 (1e+300)" in warnings[0]
    with pytest.raises(Exception, match=r"beyond the float32 range .* first at value 51 \(1e\+300\)"):
        check_training_data(values.copy(), 96, 5, "warn")


def test_a_float32_limit_value_is_still_accepted():
    values = np.linspace(-1, 1, 120) * 3.4e38  # within float32: the model can hold it
    repaired, _ = check_training_data(values, 96, 5, "warn")
    assert np.array_equal(repaired, values)


def test_bench_refuses_a_truncated_bundle_before_writing(tiny_bundle, tmp_path):
    """bench exited 0 with "failed" rows for a truncated artifact (run refuses it on load)."""
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    victim = sorted(bundle.glob("*.int8.tflite"))[0]
    victim.write_bytes(victim.read_bytes()[:5000])
    done = cli("bench", str(bundle), "--out", str(tmp_path / "report"), "--repeats", "1", "--runtimes", "litert")
    one_line_error(done, victim.name, "is 5000 bytes", "truncated or corrupt")
    assert not (tmp_path / "report").exists()


def test_export_refuses_a_damaged_run(tiny_run, tmp_path):
    """A truncated .keras ended in Keras' "File not found" for a file that exists; an edited
    signal.npy exported a bundle whose evaluation was not the run's."""
    truncated = tmp_path / "truncated"
    shutil.copytree(tiny_run, truncated)
    model = truncated / "lstm.keras"
    model.write_bytes(model.read_bytes()[:3000])
    one_line_error(cli("export", str(truncated), "--out", str(tmp_path / "b1"), "--quant", "float32"),
                    "lstm.keras for lstm is not a Keras archive")
    edited = tmp_path / "edited"
    shutil.copytree(tiny_run, edited)
    series = np.load(edited / "signal.npy")
    series[5] += 1.0
    np.save(edited / "signal.npy", series)
    one_line_error(cli("export", str(edited), "--out", str(tmp_path / "b2"), "--quant", "float32"),
                    "signal.npy is not the series the run trained on")
    assert not (tmp_path / "b1").exists() and not (tmp_path / "b2").exists()


def test_a_table_with_several_columns_gives_the_trained_one():
    """run --history on the logger file the model was trained on asked for --column again, though
    the bundle names the column; a header without that name still asks."""
    from edge_forecast.tabular import ReadOptions, read_column

    text = "time_s,temp,hum\n" + "".join(f"{i},{20 + i / 10:.1f},55\n" for i in range(30))
    col = read_column("logger.csv", ReadOptions(trained_column="temp"), text=text)
    assert col.label == "temp" and col.values[3] == pytest.approx(20.3)
    with pytest.raises(Exception, match="choose one with --column: time_s, temp, hum"):
        read_column("logger.csv", ReadOptions(trained_column="Temperatur"), text=text)
    assert read_column("logger.csv", ReadOptions(column="hum", trained_column="temp"), text=text).label == "hum"


def test_run_history_reads_the_column_the_model_was_trained_on(tiny_bundle, tmp_path):
    import json

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    doc = json.loads((bundle / "bundle.json").read_text())
    doc["signal"]["column"] = "temp"  # as for a model trained with --column temp
    (bundle / "bundle.json").write_text(json.dumps(doc))
    values = np.sin(np.arange(40) / 4)
    history = tmp_path / "logger.csv"
    history.write_text("n,temp,hum\n" + "".join(f"{i},{v:.4f},55\n" for i, v in enumerate(values)))
    named = cli("run", str(bundle), "--model", "rnn", "--history", str(history), "--column", "temp", "--horizon", "3")
    taken = cli("run", str(bundle), "--model", "rnn", "--history", str(history), "--horizon", "3")
    assert named.returncode == 0 and taken.returncode == 0, taken.stderr
    assert taken.stdout == named.stdout and len(taken.stdout.splitlines()) == 4


@pytest.mark.parametrize("where", ["file", "proc"])
@pytest.mark.parametrize("command", [["train", "--epochs", "1", "--quiet"], ["demo", "--epochs", "1", "--quiet"]])
def test_an_output_that_cannot_be_created_is_refused_before_any_work(tmp_path, where, command):
    """--out under a file, or in /proc, ended in an OSError traceback (bench and export: after all
    their work); the nearest existing parent is probed first and nothing is left there."""
    (tmp_path / "data.csv").write_text("v\n1\n")
    out = tmp_path / "data.csv" / "sub" / "out" if where == "file" else Path("/proc/edge-forecast-out")
    one_line_error(cli(*command, "--out", str(out)), f"cannot create {'run' if command[0] == 'train' else 'demo'} "
                    f"directory {out}", "choose another --out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


def test_a_windows_spreadsheet_export_in_cp1252_is_read(tmp_path):
    """Excel's "CSV" on Windows writes cp1252: `Temp [°C]` with the byte 0xB0 was refused as not UTF-8."""
    from edge_forecast.signals import load_signal

    path = tmp_path / "export.csv"
    path.write_bytes("Zeit;Temp [°C]\r\n0;20,5\r\n1;-21,25\r\n2;22,0\r\n".encode("cp1252"))
    signal = load_signal(path, column="Temp [°C]")
    assert signal.column == "Temp [°C]" and signal.values.tolist() == [20.5, -21.25, 22.0]


def test_excel_unicode_text_in_utf16_is_read(tmp_path):
    """Excel's "Unicode Text" export: UTF-16 with a byte-order mark, tab-separated."""
    from edge_forecast.signals import load_signal

    path = tmp_path / "export.txt"
    path.write_text("Zeit\tTemp [°C]\r\n" + "".join(f"{i}\t{20 + i / 10:.1f}\r\n".replace(".", ",") for i in range(30)),
                    encoding="utf-16")
    signal = load_signal(path, column="Temp [°C]")
    assert signal.values[:3].tolist() == [20.0, 20.1, 20.2] and signal.values.size == 30


@pytest.mark.parametrize("kind", ["npy", "gzip"])
def test_a_binary_file_is_not_read_as_text(tmp_path, kind):
    """cp1252 decodes any bytes: a .npy renamed .csv read as 5 text columns, a .csv.gz as garbage."""
    import gzip

    path = tmp_path / "data.csv"
    if kind == "npy":
        np.save(tmp_path / "a.npy", np.arange(50.0))
        path.write_bytes((tmp_path / "a.npy").read_bytes())
    else:
        path.write_bytes(gzip.compress(b"v\n1.5\n2.5\n"))
    one_line_error(cli("train", "--signal", str(path), "--out", str(tmp_path / "run")),
                    "data.csv is a binary file, not text", "unpack a compressed file first")


def test_a_file_in_neither_encoding_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"v\n1.5\n\x81\n")  # 0x81: no character in UTF-8 or cp1252
    one_line_error(cli("train", "--signal", str(path), "--out", str(tmp_path / "run")),
                    "cannot read", "as UTF-8 (or Windows cp1252) text", "save it as UTF-8")
    assert not (tmp_path / "run").exists()


def test_a_column_of_a_1d_npy_is_refused_not_ignored(tmp_path):
    """`--column 3` with a 1-D .npy was ignored: the model trained on the whole array."""
    from edge_forecast.signals import load_signal

    path = tmp_path / "series.npy"
    np.save(path, np.arange(100) % 7)  # int64, read as float64
    one_line_error(cli("train", "--signal", str(path), "--column", "3", "--out", str(tmp_path / "run")),
                    "series.npy is a 1-D array (one column); --column 3 names no column of it")
    assert not (tmp_path / "run").exists()
    assert load_signal(path, column="0").values[:8].tolist() == [0, 1, 2, 3, 4, 5, 6, 0]


@pytest.mark.slow
def test_a_diverging_training_is_refused_with_the_cause(tmp_path):
    """--scale none on values of 1e30: the loss became NaN and the run died writing training.json
    (a traceback after all the training); an existing run stays as it was."""
    path = tmp_path / "big.csv"
    path.write_text("v\n" + "".join(f"{1e30 * np.sin(i / 5):.6e}\n" for i in range(120)))
    run = tmp_path / "run"
    run.mkdir()
    (run / "training.json").write_text("{}")
    done = cli("train", "--signal", str(path), "--scale", "none", "--model", "rnn", "--units", "4", "--epochs", "1",
               "--window", "5", "--train-horizon", "2", "--quiet", "--force", "--out", str(run))
    one_line_error(done, "rnn: training diverged (loss nan at epoch 1)", "up to |x| = 1e+30", "use --scale standard")
    assert [p.name for p in run.iterdir()] == ["training.json"]


def test_the_first_non_finite_field_of_a_record_is_named():
    """train names the field (and what to do) instead of dying in json.dumps(allow_nan=False)."""
    from edge_forecast.fsio import non_finite_field

    record = {"models": {"lstm": {"test": {"rmse": 0.5, "rmse_by_horizon": [0.1, float("inf")]}}}, "n": 3}
    assert non_finite_field(record) == "models.lstm.test.rmse_by_horizon.1"
    assert non_finite_field({"a": [np.float64("nan")]}) == "a.0"
    assert non_finite_field({"a": [1.0, None, "x", 2]}) is None


def test_every_option_says_what_it_does():
    """--optimizer, --learning-rate, --scale, --lr-schedule and run --format said only their default."""
    import click

    from edge_forecast.cli import cli as group

    bare = []
    for name, command in group.commands.items():
        assert command.short_help and len(command.short_help) <= 60, name  # `edge-forecast --help` shows it whole
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                text = (param.help or "").strip()
                if not text or text.startswith("[default"):
                    bare.append(f"{name} {param.opts[0]}")
    assert bare == []


def test_a_streamed_header_with_a_space_is_one_column():
    """`temp °C` over `20.5` on `run --follow`: the header and the first line tied, and whitespace
    won the delimiter (stdin has 2 columns; choose one with --column)."""
    from edge_forecast.tabular import LineReader

    reader = LineReader()
    assert reader.read("temp °C", 1) is None  # the header, skipped
    assert reader.read("20.5", 2) == (20.5, None) and reader.read("\u22121.25", 3) == (-1.25, None)
    assert reader.layout.names == ["temp °C"]


@pytest.mark.slow
@pytest.mark.parametrize("extra, legend", [
    ([], "rnn: loss = training MSE in scaled units; validation backtest RMSE in signal units"),
    (["--train-horizon", "0"], "rnn: loss, val = training and validation MSE in scaled units (teacher forcing)"),
])
def test_epoch_lines_say_what_their_figures_are(tmp_path, extra, legend):
    """The epoch lines printed 'loss 2.07' with no unit: a legend precedes them, once."""
    done = cli("train", "--model", "rnn", "--units", "4", "--epochs", "2", *extra, "--out", str(tmp_path / "r"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(legend) == 1
    assert done.stdout.index(legend) < done.stdout.index("rnn epoch 1/2")
