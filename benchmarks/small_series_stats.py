"""The statistical side of benchmarks/small_series.py, run in its own venv (not a product
dependency): `python -m venv .venv-bench && .venv-bench/bin/pip install statsforecast statsmodels`.

    small_series_stats.py data OUT_DIR            the public series shipped in those packages -> OUT_DIR/<name>.npy
    small_series_stats.py heldout OUT_DIR         HELDOUT (pmdarima's datasets: pip install pmdarima) likewise
    small_series_stats.py forecast JOB.json OUT   AutoETS and AutoARIMA, refitted at every origin

A forecast job holds the series file, the season, the horizon and the test origins; at origin t
each model is fitted on series[:t] (everything before the origin, as the rolling-origin
backtest allows) and forecasts `horizon` values. Output: {"AutoETS": [[...], ...], ...} and the
seconds each took.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

# name -> (loader, source note); each a 1-D float series shipped inside a pip package
SOURCES = {
    "sunspots": "statsmodels.datasets.sunspots: yearly sunspot numbers 1700-2008 (SILSO)",
    "nile": "statsmodels.datasets.nile: yearly Nile flow at Aswan 1871-1970",
    "co2": "statsmodels.datasets.co2: Mauna Loa weekly CO2 1958-2001, monthly means (gaps interpolated)",
    "elnino": "statsmodels.datasets.elnino: monthly Nino 1+2 sea-surface temperature 1950-2010",
    "air": "statsforecast.utils.AirPassengers: monthly airline passengers 1949-1960 (Box & Jenkins)",
    "unemployment": "statsmodels.datasets.macrodata: US quarterly unemployment rate 1959-2009",
}


# series the project's choices were never tried on (docs/design/0004-linear-family-and-model-auto.md
# tells why), each shipped inside pmdarima (pmdarima.datasets; R's datasets / fpp's, as its docs say)
HELDOUT = {
    "lynx": "pmdarima.datasets.load_lynx: yearly Canadian lynx trappings 1821-1934",
    "wineind": "pmdarima.datasets.load_wineind: monthly Australian wine sales 1980-1994",
    "woolyrnq": "pmdarima.datasets.load_woolyrnq: quarterly Australian wool production 1965-1994",
    "heartrate": "pmdarima.datasets.load_heartrate: heart rate of a subject, 150 readings at 0.5 s",
    "ausbeer": "pmdarima.datasets.load_ausbeer: quarterly Australian beer production 1956-2008 "
               "(its trailing missing value dropped)",
}


def load(name: str) -> np.ndarray:
    import statsmodels.api as sm

    if name == "sunspots":
        return sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(float)
    if name == "nile":
        return sm.datasets.nile.load_pandas().data["volume"].to_numpy(float)
    if name == "co2":
        weekly = sm.datasets.co2.load_pandas().data["co2"]
        return weekly.resample("MS").mean().interpolate().to_numpy(float)
    if name == "elnino":
        frame = sm.datasets.elnino.load_pandas().data
        return frame.drop(columns="YEAR").to_numpy(float).reshape(-1)
    if name == "air":
        from statsforecast.utils import AirPassengers

        return np.asarray(AirPassengers, dtype=float)
    if name == "unemployment":
        return sm.datasets.macrodata.load_pandas().data["unemp"].to_numpy(float)
    if name in HELDOUT:
        import pmdarima.datasets

        values = np.asarray(getattr(pmdarima.datasets, f"load_{name}")(), dtype=float).reshape(-1)
        return values[: np.flatnonzero(np.isfinite(values))[-1] + 1]  # ausbeer ends with one missing quarter
    raise KeyError(name)


def write_data(out: Path, sources: dict[str, str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in sources:
        values = load(name)
        assert np.all(np.isfinite(values)), name
        np.save(out / f"{name}.npy", values)
    (out / "sources.json").write_text(json.dumps(sources, indent=1))


def forecast(job: dict) -> dict:
    from statsforecast.models import AutoARIMA, AutoETS

    series = np.load(job["series"]).astype(float)
    season, horizon = int(job["season"]), int(job["horizon"])
    out: dict = {}
    for name, make in (("AutoETS", lambda: AutoETS(season_length=season)),
                       ("AutoARIMA", lambda: AutoARIMA(season_length=season))):
        started = time.perf_counter()
        rows = []
        for origin in job["origins"]:
            fitted = make().fit(series[:origin])
            rows.append([float(v) for v in fitted.predict(h=horizon)["mean"]])
        out[name] = rows
        out[f"{name}_seconds"] = time.perf_counter() - started
    return out


def main(argv: list[str]) -> int:
    if argv[0] in ("data", "heldout"):
        write_data(Path(argv[1]), SOURCES if argv[0] == "data" else HELDOUT)
    else:
        Path(argv[2]).write_text(json.dumps(forecast(json.loads(Path(argv[1]).read_text()))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
