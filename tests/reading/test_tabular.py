"""The reader (edge_forecast.tabular) on the file shapes sensor and logger users really have.

Each shape is a small real file written to tmp_path; the expected value is what a careful user
reads in it. The same files go through `run --history` / `--follow` (tests/device/test_real_files.py)
and `train` (tests/reading/test_train_real_files.py).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from file_shapes import SHAPES as RENDERED

from edge_forecast.errors import UserError
from edge_forecast.quality import check_training_data, find_outliers
from edge_forecast.signals import damped_oscillation, load_history, load_signal, mackey_glass
from edge_forecast.tabular import LineReader, ReadOptions, read_column

MINUTE = 60.0
T0 = dt.datetime(2024, 5, 1, 6, 30)


def _stamps(n: int, fmt: str = "%Y-%m-%dT%H:%M:%S", step: float = MINUTE) -> list[str]:
    return [(T0 + dt.timedelta(seconds=step * i)).strftime(fmt) for i in range(n)]


# (id, file bytes, reader options, expected values or an error regex)
SHAPES = [
    ("one-column", b"1.5\n2.5\n3.5\n", {}, [1.5, 2.5, 3.5]),
    ("header", b"temp\n1.5\n-2.5\n+3.5e1\n", {}, [1.5, -2.5, 35.0]),
    ("decimal-comma-crlf", b"Temperatur\r\n20,00\r\n20,39\r\n21,5\r\n17,25\r\n", {}, [20.0, 20.39, 21.5, 17.25]),
    ("semicolon-decimal-comma", b"Wert;Temperatur\n1;20,5\n2;21,25\n", {"column": "Temperatur"}, [20.5, 21.25]),
    ("tab", b"a\tb\n1\t2.5\n2\t3.5\n", {"column": "b"}, [2.5, 3.5]),
    ("whitespace", b"  1   2.5\n  2   3.5\n", {"column": "1"}, [2.5, 3.5]),
    ("pipe", b"t|v\n1|2\n2|3\n", {"column": "v"}, [2.0, 3.0]),
    ("quoted-decimal-comma", b'"v"\n"20,5"\n"21,5"\n', {}, [20.5, 21.5]),
    ("quoted-delimiter-in-text", b'name,value\n"sensor, a",1.5\n"sensor, b",2.5\n', {"column": "value"}, [1.5, 2.5]),
    ("bom-crlf", b"\xef\xbb\xbfv\r\n1\r\n2\r\n", {}, [1.0, 2.0]),
    ("headerless-dates", b"2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n", {}, [1.0, 2.0, 3.0]),
    ("numeric-looking-header", b"10cm,40cm\n1.5,2.5\n1.75,2.75\n", {"column": "40cm"}, [2.5, 2.75]),
    ("thousands-point", b"v\n1,234.5\n2,000.25\n", {}, [1234.5, 2000.25]),
    ("thousands-comma", b"v\n1.234,5\n2.000,25\n", {}, [1234.5, 2000.25]),
    ("ambiguous-thousands", b"v\n1,234\n2,345\n", {}, r"decimal comma or a thousands separator; set --decimal"),
    ("ambiguous-as-comma", b"v\n1,234\n2,345\n", {"decimal": ","}, [1.234, 2.345]),
    ("ambiguous-as-point", b"v\n1,234\n2,345\n", {"decimal": "."}, [1234.0, 2345.0]),
    ("headerless-decimal-comma", b"20,39\n20,00\n", {}, r"set --decimal , \(one column\) or --delimiter ,"),
    ("underscore", b"v\n1\n1_000\n", {}, r"non-numeric value '1_000' at line 3"),
    ("units-in-cell", b"v\n20.5\n20 C\n", {}, r"non-numeric value '20 C' at line 3"),
    ("mixed-marks", b"v\n1.5\n2,5\n", {}, r"mixes decimal marks \('.' at line 2, ',' at line 3\)"),
    ("point-in-comma-file", b"a;b\n1;2,5\n2;2.5\n", {"column": "b", "decimal": ","}, r"'2.5' at line 3"),
    ("beyond-float64", b"v\n1\n1e999\n", {}, r"'1e999' at line 3 .* beyond the float64 range"),
    ("missing-tokens", b"v\n1\nNA\n3\n#N/A\n5\nnull\n7\n-\n9\n\n11\nNaN\n13\ninf\n15\n", {},
     [1, math.nan, 3, math.nan, 5, math.nan, 7, math.nan, 9, math.nan, 11, math.nan, 13, math.nan, 15]),
    ("ragged-wide", b"a,b\n1,2\n3,4,5\n", {"column": "b"}, r"line 3 of .* has 3 field\(s\), the header 2"),
    ("ragged-narrow", b"a;b\n1;2\n3\n", {"column": "b"}, r"line 3 of .* has 1 field\(s\), the header 2"),
    ("hex", b"v\n1\n0x10\n", {}, r"non-numeric value '0x10' at line 3"),
    ("explicit-pipe", b"v|w\n1|2\n3|4\n", {"delimiter": "pipe", "column": "w"}, [2.0, 4.0]),
    ("explicit-semicolon-over-comma", b"a,b;c\n1;2,5\n3;4,5\n", {"delimiter": ";", "column": "c"}, [2.5, 4.5]),
    ("empty", b"\n\n", {}, r"is empty"),
]


@pytest.mark.parametrize("name, data, options, expected", SHAPES, ids=[s[0] for s in SHAPES])
def test_file_shapes(tmp_path, name, data, options, expected):
    path = tmp_path / f"{name}.csv"
    path.write_bytes(data)
    if isinstance(expected, str):
        with pytest.raises(UserError, match=expected):
            read_column(path, ReadOptions(**options))
        return
    got = read_column(path, ReadOptions(**options)).values
    assert np.array_equal(got, np.asarray(expected, dtype=float), equal_nan=True)


@pytest.mark.parametrize("text", ["\n\nv\n\n1\n\n3\n\n", "\n\nt,v\n\n0,1\n\n2,3\n\n"], ids=["one", "two"])
def test_lines_point_at_the_file(tmp_path, text):
    path = tmp_path / "s.csv"
    path.write_text(text)
    col = read_column(path, ReadOptions(column="v"))
    assert col.lines.tolist() == [5, 6, 7] and np.isnan(col.values[1])


TIMED = "time;temp\n" + "".join(f"{s};{20 + i / 2:.1f}\n".replace(".", ",").replace(",", ".", 2)
                                 for i, s in enumerate(_stamps(6, "%d.%m.%Y %H:%M")))


def test_time_column_detected_with_its_interval(tmp_path):
    path = tmp_path / "logger.csv"
    path.write_text(TIMED)
    col = read_column(path)
    assert col.values.tolist() == [20.0, 20.5, 21.0, 21.5, 22.0, 22.5]
    assert col.time_label == "time" and col.interval == MINUTE
    assert col.times[0] == (T0 - dt.datetime(1970, 1, 1)).total_seconds()


def _timed_file(tmp_path, stamps: list[str], values: list[float]) -> str:
    path = tmp_path / "t.csv"
    path.write_text("timestamp,value\n" + "".join(f"{s},{v}\n" for s, v in zip(stamps, values, strict=True)))
    return path


def test_iso_with_zone_keeps_the_zone(tmp_path):
    stamps = [s + "+02:00" for s in _stamps(3)]
    col = read_column(_timed_file(tmp_path, stamps, [1, 2, 3]))
    assert col.interval == MINUTE and col.tz == dt.timezone(dt.timedelta(hours=2))


@pytest.mark.parametrize(
    "order, message, resampled",
    [
        ([0, 2, 1, 3, 4], r"1 row\(s\) earlier than the row before \(line 4\).*--resample", [0, 2, 1, 3, 4]),
        ([0, 1, 1, 2, 3], r"1 duplicated timestamp\(s\) \(line 4\).*--resample", [0, 1.5, 3, 4]),
    ],
    ids=["shuffled", "duplicated"],
)
def test_disordered_time_is_refused_or_resampled(tmp_path, order, message, resampled):
    stamps = _stamps(6)
    path = _timed_file(tmp_path, [stamps[i] for i in order], list(range(len(order))))
    with pytest.raises(UserError, match=message):
        read_column(path)
    col = read_column(path, ReadOptions(resample=True))
    assert np.array_equal(col.values, resampled, equal_nan=True)
    assert np.allclose(np.diff(col.times), MINUTE)


def test_irregular_spacing_is_put_on_the_median_grid_and_said(tmp_path):
    """A logger that skips a reading is not ambiguous (every reading says when it was): without
    --resample its readings go on the median interval's grid, the empty slot a gap, and the
    column says why, naming the first odd interval's line."""
    stamps = _stamps(6)
    path = _timed_file(tmp_path, [stamps[i] for i in (0, 1, 3, 4, 5)], [0, 1, 2, 3, 4])
    col = read_column(path)
    assert np.array_equal(col.values, [0, 1, math.nan, 2, 3, 4], equal_nan=True)
    assert np.allclose(np.diff(col.times), MINUTE)
    assert col.regridded.startswith("irregular sampling: 1 interval(s) differ from the median 60 s")
    assert "(first at line 4: 120 s)" in col.regridded and "1 min grid" in col.regridded
    assert read_column(path, ReadOptions(resample=True)).regridded is None  # asked for: nothing to say
    regular = _timed_file(tmp_path, _stamps(4), [1, 2, 3, 4])
    assert read_column(regular).regridded is None


def test_day_month_order_must_be_said(tmp_path):
    path = _timed_file(tmp_path, ["03/04/2024 10:00", "04/04/2024 10:00"], [1, 2])
    with pytest.raises(UserError, match="day/month and as month/day.*--time-format"):
        read_column(path)
    col = read_column(path, ReadOptions(time_format="%d/%m/%Y %H:%M"))
    assert col.interval == 86400.0
    # a day above 12 decides it
    assert read_column(_timed_file(tmp_path, ["13/04/2024 10:00", "14/04/2024 10:00"], [1, 2])).interval == 86400.0


def test_a_bad_timestamp_names_its_line(tmp_path):
    path = _timed_file(tmp_path, _stamps(2) + ["yesterday"], [1, 2, 3])
    with pytest.raises(UserError, match="time 'yesterday' at line 4"):
        read_column(path)


def test_large_file_reads_exactly(tmp_path):
    values = np.round(np.random.default_rng(0).normal(20, 3, 200_000), 3)
    path = tmp_path / "big.csv"
    path.write_text("temp\n" + "\n".join(f"{v:.3f}" for v in values) + "\n")
    assert np.array_equal(read_column(path).values, values)


def test_history_ignores_gaps_before_the_window(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("v\n1\nNA\n" + "".join(f"{i}\n" for i in range(3, 10)))
    assert load_history(path, window=5).values.tolist() == [3, 4, 5, 6, 7, 8, 9]
    path.write_text("v\n" + "".join(f"{i}\n" for i in range(1, 8)) + "NA\n9\n")
    with pytest.raises(UserError, match=r"last 5 values\) has 1 gap\(s\).*at line 9.*--fill"):
        load_history(path, window=5)
    assert load_history(path, window=5, fill="interpolate").values[-2:].tolist() == [8.0, 9.0]


def test_interpolated_tokens_and_dropped_lines(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(SHAPES[23][1])
    assert load_signal(path, fill="interpolate").values.tolist() == list(range(1, 16))
    dropped = load_signal(path, fill="drop")
    assert dropped.values.tolist() == [1, 3, 5, 7, 9, 11, 13, 15]
    assert dropped.lines.tolist() == [2, 4, 6, 8, 10, 12, 14, 16]


# --- streams -----------------------------------------------------------------------------------


def _stream(lines: list[str], **options) -> tuple[list, list[str]]:
    reader, out, errors = LineReader(ReadOptions(**options)), [], []
    for lineno, line in enumerate(lines, start=1):
        try:
            got = reader.read(line, lineno)
        except UserError as exc:
            errors.append(str(exc))
            continue
        if got is not None:
            out.append(got)
    return out, errors


def test_stream_of_logger_lines():
    lines = [f"{s},{22.9 + i / 10:.1f},55\n" for i, s in enumerate(_stamps(3))]
    got, errors = _stream(lines + [lines[1]], column="1")  # the last line repeats an old reading
    assert [v for v, _ in got] == [22.9, 23.0, 23.1]
    assert errors == [f"line 4: time '{_stamps(2)[1]}' is not after the previous reading's "
                      "(out of order or duplicated)"]
    assert np.diff([t for _, t in got]).tolist() == [MINUTE, MINUTE]
    with pytest.raises(UserError, match="3 columns; choose one with --column"):
        LineReader().read(lines[0], 1)


def test_stream_with_header_and_decimal_comma():
    got, errors = _stream(["Zeit;Temp;Feuchte\n", "01.05.2024 06:30;22,9;55\n", "01.05.2024 06:31;x;55\n",
                           "01.05.2024 06:32;23,1;55\n"], column="Temp")
    assert [v for v, _ in got] == [22.9, 23.1]
    assert errors == ["line 3: 'x' is not a finite number"]


def test_stream_refuses_what_float_would_accept():
    got, errors = _stream(["1\n", "1_000\n", "nan\n", "infinity\n", "1e999\n", "2\n"])
    assert [v for v, _ in got] == [1.0, 2.0] and len(errors) == 4


# --- quality -----------------------------------------------------------------------------------


def test_builtin_signals_have_no_outliers():
    for values in (damped_oscillation(), mackey_glass(), mackey_glass(noise=0.05)):
        assert find_outliers(values).index.size == 0


def _room(n: int = 400) -> np.ndarray:
    t = np.arange(n)
    return np.round(20 + 3 * np.sin(2 * np.pi * t / 96) + np.random.default_rng(1).normal(0, 0.1, n), 2)


def test_one_glitch_is_found_by_its_line_and_repaired_on_request():
    values = _room()
    values[150] = 9999.0
    lines = np.arange(2, 402)
    kept, warnings = check_training_data(values, 300, 20, None, lines)
    assert len(warnings) == 1 and "1 outlier(s)" in warnings[0] and "line 152 (9999)" in warnings[0]
    assert kept[150] == 9999.0
    fixed, _ = check_training_data(values, 300, 20, "interpolate", lines)
    assert fixed[150] == pytest.approx((values[149] + values[151]) / 2)
    clipped, _ = check_training_data(values, 300, 20, "clip", lines)
    assert 17 < clipped[150] < 30
    assert find_outliers(_room()).index.size == 0  # the clean series has none


def test_stuck_sensor_is_near_constant():
    values = np.concatenate([np.full(300, 19.9), _room(100)])
    assert np.std(values[:300]) != 0  # the old guard's blind spot: 7e-15, not 0
    with pytest.raises(UserError, match="constant at 19.9"):
        check_training_data(values, 300, 20, None)


def test_short_training_part_warns():
    _, warnings = check_training_data(_room(60), 50, 20, None)
    assert any("30 windows for window 20" in w for w in warnings)


# --- every shape, through the loader the train path and the API use ----------------------------


@pytest.mark.parametrize("shape", RENDERED, ids=[s.name for s in RENDERED])
def test_every_shape_reads_right(tmp_path, shape):
    values = _room(30)
    path = tmp_path / f"{shape.name}.csv"
    path.write_bytes(shape.text(values).encode())
    got = load_signal(path, fill=shape.fill, read=ReadOptions(**shape.options))
    assert np.allclose(got.values, shape.expected(values), rtol=1e-12, atol=1e-12)
    assert got.interval_seconds == (MINUTE if shape.timed else None)
    # the same text piped on stdin reads the same
    piped = load_signal("stdin", fill=shape.fill, read=ReadOptions(**shape.options), text=shape.text(values))
    assert np.array_equal(piped.values, got.values)


def test_time_column_none_reads_business_days_without_time_checks(tmp_path):
    days = ["2024-05-03", "2024-05-06", "2024-05-07", "2024-05-08", "2024-05-09"]  # Fri, Mon to Thu
    path = _timed_file(tmp_path, days, [1, 2, 3, 4, 5])
    assert np.isnan(read_column(path).values).sum() == 2  # by default the weekend's slots, as gaps
    col = read_column(path, ReadOptions(time_column="none", column="value"))
    assert col.values.tolist() == [1, 2, 3, 4, 5] and col.times is None


def test_an_unasked_grid_says_merged_readings_and_refuses_a_log_written_on_change(tmp_path):
    """Two readings nearest one slot keep their mean, and the note says so; a log written only when
    the value changes (bursts a second apart, an hour between them) would be a grid of mostly empty
    slots: refused, naming --resample INTERVAL, as before."""
    stamps = [f"2024-01-01 00:{m:02d}:{s:02d}" for m, s in [(0, 0), (1, 0), (2, 0), (3, 0), (5, 0), (6, 0), (7, 0),
                                                              (7, 20), (8, 0)]]
    col = read_column(_timed_file(tmp_path, stamps, list(range(9))))
    assert np.array_equal(col.values, [0, 1, 2, 3, math.nan, 4, 5, 6.5, 8], equal_nan=True)
    assert col.regridded.endswith("(1 reading(s) shared a slot with another: their mean kept)")
    bursts = [f"2024-01-01 {h:02d}:00:{s:02d}" for h in range(20) for s in range(10)]
    path = tmp_path / "bursts.csv"
    path.write_text("timestamp,value\n" + "".join(f"{t},{i}\n" for i, t in enumerate(bursts)))
    with pytest.raises(UserError, match=r"median 1 s .* its grid would hold 68,410 slots for 200 readings; "
                                        r"--resample \(an interval such as 30min\)") as err:
        read_column(path)
    assert "\n" not in str(err.value)
