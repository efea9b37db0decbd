"""Real-world file shapes as renderers: values in, the bytes a spreadsheet or logger writes out.

Shared by the reader tests, `run --history` / `--follow` (tests/device) and the train path, so
every shape passes through every way values enter the product. Each shape gives the file bytes,
the reading options a user would pass, and the values a careful user expects (the rendered
numbers, 4 decimals; gaps repaired by the options given).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

T0 = dt.datetime(2024, 5, 1, 6, 30)


def fmt(v: float) -> str:
    return f"{v:.4f}"


def comma(v: float) -> str:
    return fmt(v).replace(".", ",")


def grouped(v: float) -> str:
    return f"{v:,.4f}"  # 1,234.5000


def stamp(i: int, pattern: str = "%Y-%m-%dT%H:%M:%S", minutes: int = 1) -> str:
    return (T0 + dt.timedelta(minutes=minutes * i)).strftime(pattern)


@dataclass(frozen=True)
class Shape:
    name: str
    render: Callable[[np.ndarray], str]
    options: dict = field(default_factory=dict)   # ReadOptions fields (column, decimal, time_format, resample)
    fill: str | None = None
    stream: bool = True                           # meaningful as --follow lines too
    timed: bool = False                           # has a time column (1-minute readings)
    expect: Callable[[np.ndarray], np.ndarray] | None = None  # default: the values, 4 decimals

    def expected(self, values: np.ndarray) -> np.ndarray:
        rounded = np.round(values, 4)
        return rounded if self.expect is None else self.expect(rounded)

    def text(self, values: np.ndarray) -> str:
        return self.render(np.round(np.asarray(values, dtype=float), 4))


def _lines(values, cell=fmt, sep="\n"):
    return sep.join(cell(v) for v in values) + sep


def _gaps_interpolated(v: np.ndarray) -> np.ndarray:
    out = v.copy()
    for i in (2, 5):
        out[i] = (v[i - 1] + v[i + 1]) / 2
    return out


def _with_gaps(values, token_a="NA", token_b="#N/A"):
    cells = [fmt(v) for v in values]
    cells[2], cells[5] = token_a, token_b
    return "v\n" + "\n".join(cells) + "\n"


def _shuffled(values):
    order = list(range(len(values)))
    order[1], order[2] = order[2], order[1]
    return "time,v\n" + "".join(f"{stamp(i)},{fmt(values[i])}\n" for i in order)


def _duplicated(values):
    rows = [f"{stamp(i)},{fmt(v)}\n" for i, v in enumerate(values)]
    rows.insert(4, rows[3])  # the logger wrote one reading twice
    return "time,v\n" + "".join(rows)


SHAPES = [
    Shape("one-column", lambda v: _lines(v)),
    Shape("header", lambda v: "temp\n" + _lines(v)),
    Shape("decimal-comma-crlf", lambda v: "Temperatur\r\n" + _lines(v, comma, "\r\n")),
    Shape("semicolon-decimal-comma", lambda v: "n;Temperatur\n" + "".join(f"{i};{comma(x)}\n" for i, x in enumerate(v)),
          {"column": "Temperatur"}),
    Shape("tab", lambda v: "n\tvalue\n" + "".join(f"{i}\t{fmt(x)}\n" for i, x in enumerate(v)), {"column": "value"}),
    Shape("whitespace-aligned", lambda v: "".join(f"{i:6d}   {fmt(x):>10}\n" for i, x in enumerate(v)),
          {"column": "1"}),
    Shape("pipe", lambda v: "t|v\n" + "".join(f"{i}|{fmt(x)}\n" for i, x in enumerate(v)), {"column": "v"}),
    Shape("quoted-decimal-comma", lambda v: '"v"\n' + "".join(f'"{comma(x)}"\n' for x in v)),
    Shape("quoted-text-with-delimiter", lambda v: 'name,value\n' + "".join(f'"sensor, {i}",{fmt(x)}\n'
                                                                          for i, x in enumerate(v)),
          {"column": "value"}),
    Shape("bom-crlf", lambda v: "\ufeffv\r\n" + _lines(v, sep="\r\n")),
    Shape("cr-only", lambda v: "v\r" + _lines(v, sep="\r")),
    Shape("padded-cells", lambda v: "v\n" + "".join(f"  {fmt(x)}  \n" for x in v)),
    Shape("exponent", lambda v: "v\n" + "".join(f"{x:.7e}\n" for x in v)),
    Shape("numeric-looking-header", lambda v: "10cm,40cm\n" + "".join(f"0,{fmt(x)}\n" for x in v), {"column": "40cm"}),
    Shape("thousands-point", lambda v: "v\n" + "".join(f'"{grouped(x * 1000)}"\n' for x in v),
          expect=lambda v: np.round(v * 1000, 4)),
    Shape("thousands-comma",
          lambda v: "v\n" + "".join(f"{grouped(x * 1000).replace(',', '_').replace('.', ',').replace('_', '.')}\n"
                                    for x in v),
          expect=lambda v: np.round(v * 1000, 4)),
    Shape("unicode-minus", lambda v: "v\n" + "".join(f"{fmt(x - 20)}\n".replace("-", "\u2212") for x in v),
          expect=lambda v: np.round(v - 20, 4)),  # U+2212, as typeset reports and some locales write it
    Shape("missing-tokens-filled", _with_gaps, fill="interpolate", stream=False, expect=_gaps_interpolated),
    Shape("null-and-dash-filled", lambda v: _with_gaps(v, "null", "-"), fill="interpolate", stream=False,
          expect=_gaps_interpolated),
    Shape("empty-cells-filled", lambda v: "t,v\n" + "".join(f"{i},{'' if i in (2, 5) else fmt(x)}\n"
                                                            for i, x in enumerate(v)),
          {"column": "v"}, fill="interpolate", stream=False, expect=_gaps_interpolated),
    Shape("headerless-iso-dates", lambda v: "".join(f"{stamp(i)},{fmt(x)}\n" for i, x in enumerate(v)), timed=True),
    Shape("iso-utc", lambda v: "timestamp,value\n" + "".join(f"{stamp(i)}Z,{fmt(x)}\n" for i, x in enumerate(v)),
          timed=True),
    Shape("iso-offset",
          lambda v: "timestamp,value\n" + "".join(f"{stamp(i)}+02:00,{fmt(x)}\n" for i, x in enumerate(v)),
          timed=True),
    Shape("logger-dotted-dates", lambda v: "Zeit;Temp;Feuchte\n" + "".join(
        f"{stamp(i, '%d.%m.%Y %H:%M')};{comma(x)};55\n" for i, x in enumerate(v)), {"column": "Temp"}, timed=True),
    Shape("day-first-slashes", lambda v: "time,v\n" + "".join(f"{stamp(i, '%d/%m/%Y %H:%M')},{fmt(x)}\n"
                                                              for i, x in enumerate(v)),
          {"time_format": "%d/%m/%Y %H:%M"}, timed=True),
    Shape("us-12-hour", lambda v: "time,v\n" + "".join(f"{stamp(i, '%m/%d/%Y %I:%M %p')},{fmt(x)}\n"
                                                       for i, x in enumerate(v)), timed=True),
    Shape("shuffled-resampled", _shuffled, {"resample": True}, stream=False, timed=True),
    Shape("duplicated-resampled", _duplicated, {"resample": True}, stream=False, timed=True),
]
