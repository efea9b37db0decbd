"""Signals: loading, validation, scaling and windowing (numpy only)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_forecast.errors import UserError
from edge_forecast.signals import (
    Scaler,
    damped_oscillation,
    load_signal,
    mackey_glass,
    make_windows,
    train_split,
    validate_series,
)


def test_damped_signal_is_the_tutorials():
    x = np.linspace(0, 5 * math.pi, 200)
    assert np.array_equal(damped_oscillation(), np.exp(-x / 5) * np.cos(x))


def test_windows_equal_the_tutorial_loops():
    y = damped_oscillation()
    xs, ys = [], []
    for i in range(len(y) - 20):  # the tutorial's loop
        xs.append(y[i : i + 20])
        ys.append(y[i + 1 : i + 21])
    x, t = make_windows(y, 20)
    assert x.shape == (180, 20, 1) and t.shape == (180, 20, 1)
    assert np.array_equal(x[..., 0], np.array(xs)) and np.array_equal(t[..., 0], np.array(ys))


@given(st.lists(st.floats(-1e6, 1e6), min_size=3, max_size=60), st.integers(1, 40))
@settings(max_examples=80, deadline=None)
def test_windowing_properties(values, window):
    y = np.asarray(values)
    if y.size < window + 2:
        with pytest.raises(UserError):
            validate_series(y, window)
        return
    x, t = make_windows(y, window)
    assert len(x) == y.size - window
    # every target is the input shifted by one step, and the last target is the next value
    assert np.array_equal(x[:, 1:, 0], t[:, :-1, 0])
    assert np.array_equal(t[:, -1, 0], y[window:])


@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=50), st.sampled_from(["none", "standard", "minmax"]))
@settings(max_examples=80, deadline=None)
def test_scaler_round_trips(values, kind):
    y = np.asarray(values)
    if kind != "none" and np.ptp(y) < 1e-6:
        return
    scaler = Scaler.fit(kind, y)
    assert np.allclose(scaler.inverse(scaler.transform(y)), y, rtol=1e-9, atol=1e-9)
    assert Scaler.from_dict(scaler.to_dict()) == scaler


def test_train_split_follows_keras_rule():
    assert train_split(180, 0.1) == 162
    assert train_split(10, 0.0) == 10


def test_csv_by_name_and_index_with_and_without_header(tmp_path):
    with_header = tmp_path / "a.csv"
    with_header.write_text("time,temp\n0,1.5\n1,2.5\n2,3.5\n")
    assert load_signal(with_header, "temp").values.tolist() == [1.5, 2.5, 3.5]
    assert load_signal(with_header, "1").values.tolist() == [1.5, 2.5, 3.5]
    bare = tmp_path / "b.csv"
    bare.write_text("1\n2\n3\n")
    assert load_signal(bare).values.tolist() == [1.0, 2.0, 3.0]


@given(st.lists(st.floats(-1e9, 1e9, allow_nan=False), min_size=1, max_size=40))
@settings(max_examples=50, deadline=None)
def test_csv_round_trip(tmp_path_factory, values):
    path = tmp_path_factory.mktemp("csv") / "s.csv"
    path.write_text("value\n" + "\n".join(repr(v) for v in values) + "\n")
    assert load_signal(path, "value").values.tolist() == values


def test_npy_loading(tmp_path):
    path = tmp_path / "s.npy"
    np.save(path, np.arange(5.0))
    assert load_signal(path).values.tolist() == [0, 1, 2, 3, 4]
    np.save(path, np.zeros((3, 3)))
    with pytest.raises(UserError, match="1-D"):
        load_signal(path)


@pytest.mark.parametrize(
    "text, column, fill, message",
    [
        ("time,temp\n0,1\n", "pressure", None, "unknown column 'pressure'.*available: time, temp"),
        ("time,temp\n0,1\n", None, None, "choose one with --column: time, temp"),
        ("v\n1\nabc\n3\n", None, None, "non-numeric value 'abc' at line 3"),
        ("v\n1\nnan\n3\n", None, None, r"1 gap\(s\).*at line 3; repair them with --fill"),
        ("t,v\n0,1\n1,\n2,3\n3,inf\n", "v", None, r"2 gap\(s\) \(empty, NA, NaN or inf\) at line 3, 5"),
    ],
)
def test_bad_csv_is_a_user_error(tmp_path, text, column, fill, message):
    path = tmp_path / "s.csv"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        load_signal(path, column, fill)


def test_gaps_repaired_only_on_request(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("v\n1\nnan\n3\n")
    assert load_signal(path, fill="interpolate").values.tolist() == [1, 2, 3]
    assert load_signal(path, fill="drop").values.tolist() == [1, 3]


def test_validation_errors():
    with pytest.raises(UserError, match="needs at least 22"):
        validate_series(np.arange(21.0), 20)
    with pytest.raises(UserError, match="constant"):
        validate_series(np.ones(50), 5, "standard")
    validate_series(np.ones(50), 5, "none")
    with pytest.raises(UserError, match="at least 1"):
        validate_series(np.arange(50.0), 0)


def test_value_lines():
    assert load_signal("stdin", text="1\n\n 2.5 \n", fill="interpolate").values.tolist() == [1.0, 1.75, 2.5]
    with pytest.raises(UserError, match="line 2"):
        load_signal("stdin", text="1\nx\n")


def test_ar_recovers_the_damped_sinusoid_recurrence():
    from edge_forecast.baselines import fit_ar

    r, w = math.exp(-0.1 / 5), 0.1
    y = damped_oscillation(points=200, span=0.1 * 199)
    model = fit_ar(y, 2, intercept=False)
    assert np.allclose(model.coef, [-r * r, 2 * r * math.cos(w)], atol=1e-9)
    # with the window as order (rank deficient) the closed loop is still near exact
    from edge_forecast.forecast import closed_loop

    ar20 = fit_ar(y[:150], 20)
    assert np.max(np.abs(closed_loop(ar20.step, y[:20], 180) - y[20:])) < 1e-6


def test_csv_edge_cases_from_real_exports(tmp_path):
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfv\n1\n2\n")  # Excel's byte-order mark
    assert load_signal(bom, "v").values.tolist() == [1.0, 2.0]
    dates = tmp_path / "dates.csv"
    dates.write_text("2024-01-01,1\n2024-01-02,2\n")  # no header, a text column on every row
    assert load_signal(dates, "1").values.tolist() == [1.0, 2.0]
    gap = tmp_path / "gap.csv"
    gap.write_text("v\n1\n\n3\n\n")  # an empty line inside the data is a gap; trailing ones are not
    with pytest.raises(UserError, match=r"1 gap\(s\).*at line 3"):
        load_signal(gap)
    assert load_signal(gap, fill="interpolate").values.tolist() == [1.0, 2.0, 3.0]
    lines = tmp_path / "lines.csv"
    lines.write_text("v\n\n1\nx\n")
    with pytest.raises(UserError, match="'x' at line 4"):
        load_signal(lines)


def test_mackey_glass_refuses_a_delay_below_one_step():
    with pytest.raises(UserError, match="--delay must be at least 0.1"):
        mackey_glass(600, 0.04)
