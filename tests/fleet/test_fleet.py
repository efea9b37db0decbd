"""`edge-forecast fleet`: one forecaster per sensor, on real NAB excerpts (tests/data/fleet/).

The end-to-end tests train and export for real (`--model ar`: seconds of training, then export's
conversions, ~20-40 s per sensor on this 2-core machine), hence slow; the checks of DATA, the
options and the output directory run before any training and are fast.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, cli

from edge_forecast.errors import UserError
from edge_forecast.fleet.sources import discover, slugs
from edge_forecast.fleet.task import SeriesResult

FLEET_DATA = ROOT / "tests" / "data" / "fleet"
GOOD = ("art_daily_small_noise", "ec2_cpu_utilization_24ae8d")
AR = ("--model", "ar", "--quiet")


def _folder(tmp: Path, names=GOOD, broken: bool = False) -> Path:
    """Real series, plus (broken=True) a file with a word among the numbers and a constant one."""
    folder = tmp / "sensors"
    folder.mkdir()
    for name in names:
        shutil.copy(FLEET_DATA / f"{name}.csv", folder / f"{name}.csv")
    if broken:
        lines = (FLEET_DATA / f"{GOOD[0]}.csv").read_text().splitlines()[:300]
        lines[5] = lines[5].split(",")[0] + ",twelve"
        (folder / "unreadable.csv").write_text("\n".join(lines) + "\n")
        stamps = [line.split(",")[0] for line in lines[1:]]
        (folder / "constant.csv").write_text("timestamp,value\n" + "".join(f"{t},20.5\n" for t in stamps))
    return folder


def _results(out: Path) -> dict[str, SeriesResult]:
    report = json.loads((out / "fleet.json").read_text())
    return {r["id"]: SeriesResult.from_dict(r) for r in report["results"]}


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())["sensors"]


def _differences(a: dict, b: dict) -> dict:
    return {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}


def _long_file(tmp: Path, rows: int = 500) -> Path:
    """Two sensors of real data in one long-format file, ';'-separated, rows interleaved."""
    series = {}
    for sensor, name in (("boiler 1", "machine_temperature_system_failure"), ("aapl", "Twitter_volume_AAPL")):
        with open(FLEET_DATA / f"{name}.csv", newline="") as fh:
            series[sensor] = list(csv.reader(fh))[1:rows + 1]
    path = tmp / "long.csv"
    with open(path, "w", newline="") as fh:
        fh.write("sensor;time;reading\n")
        for i in range(rows):
            for sensor, cells in series.items():
                fh.write(f"{sensor};{cells[i][0]};{cells[i][1]}\n")
    return path


def _parquet_of(csv_path: Path, target: Path, sep: str = ";") -> Path:
    """The same readings as a long-format CSV file, as Parquet: ids as strings, times as naive
    timestamps (seconds), values as float64 (each the double the CSV text reads as)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with open(csv_path, newline="") as fh:
        header, *rows = list(csv.reader(fh, delimiter=sep))
    table = pa.table({header[0]: [r[0] for r in rows],
                      header[1]: pa.array([dt.datetime.fromisoformat(r[1]) for r in rows], pa.timestamp("s")),
                      header[2]: pa.array([float(r[2]) for r in rows], pa.float64())})
    pq.write_table(table, target)
    return target


# --- DATA, options and OUT: checked before any work ------------------------------------------------


def test_a_folder_is_its_csv_files_by_name(tmp_path):
    folder = _folder(tmp_path, broken=True)
    (folder / "notes.txt").write_text("not a series")
    series, _ = discover(folder, tmp_path / "out")
    assert [s.id for s in series] == ["art_daily_small_noise", "constant", "ec2_cpu_utilization_24ae8d", "unreadable"]
    assert all(s.path.parent == folder for s in series)


def test_a_long_file_is_split_per_sensor_without_the_id_column(tmp_path):
    series, long = discover(_long_file(tmp_path, rows=50), tmp_path / "out", id_column="0", column="2",
                            time_column="time")
    assert [s.id for s in series] == ["boiler 1", "aapl"]
    assert series[0].slug.startswith("boiler_1-") and series[1].slug == "aapl"  # a space is no directory name
    assert (long.column, long.time_column) == ("reading", "time")  # indexes of the long file become names
    lines = series[1].path.read_text().splitlines()
    first = next(csv.reader(open(FLEET_DATA / "Twitter_volume_AAPL.csv")))  # noqa: SIM115
    assert lines[0] == "time;reading" and len(lines) == 51 and first == ["timestamp", "value"]
    assert lines[1] == "2015-02-26 21:42:53;104"  # cells as the file has them


def test_a_parquet_file_gives_each_sensor_the_series_its_csv_twin_gives(tmp_path):
    pytest.importorskip("pyarrow")
    from edge_forecast.tabular import ReadOptions, read_column

    text = _long_file(tmp_path, rows=200)
    parquet = _parquet_of(text, tmp_path / "long.parquet")
    from_csv, long_csv = discover(text, tmp_path / "a", id_column="sensor", column="reading")
    from_parquet, long_parquet = discover(parquet, tmp_path / "b", id_column="sensor", column="reading")
    assert [(s.id, s.slug) for s in from_csv] == [(s.id, s.slug) for s in from_parquet]
    assert long_parquet.column == "reading" and long_parquet.time_column == "time"  # the typed timestamp column
    assert from_parquet[1].path.read_text().splitlines()[:2] == ["time,reading", "2015-02-26 21:42:53,104.0"]
    for a, b in zip(from_csv, from_parquet, strict=True):
        x = read_column(a.path, ReadOptions(column=long_csv.column, time_column=long_csv.time_column))
        y = read_column(b.path, ReadOptions(column=long_parquet.column, time_column=long_parquet.time_column))
        assert x.values.tobytes() == y.values.tobytes() and x.times.tobytes() == y.times.tobytes()
        assert (x.label, x.time_label, x.tz, len(x.values)) == (y.label, y.time_label, y.tz, 200)


def test_parquet_timestamps_in_a_time_zone_are_instants_across_daylight_saving(tmp_path):
    """Hourly readings over the night Berlin moves its clocks forward: the wall clock jumps from
    02:00 to 03:00, the instants stay an hour apart. Each stamp is written with its own offset, the
    reader takes them back to UTC: regular, and the same instants the file holds."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from edge_forecast.tabular import ReadOptions, check_times, read_column

    start = dt.datetime(2026, 3, 28, 22, tzinfo=dt.timezone.utc)
    instants = [start + dt.timedelta(hours=i) for i in range(8)]
    for unit, zone in (("ms", "Europe/Berlin"), ("ns", "America/New_York"), ("us", "+05:30"), ("s", "UTC")):
        table = pa.table({"sensor": ["p1"] * 8, "at": pa.array(instants, pa.timestamp(unit, tz=zone)),
                          "kw": pa.array([1.5, 2, 3, 4, 5, 6, 7, 0.1], pa.float32())})
        pq.write_table(table, tmp_path / "zoned.parquet")
        (series,), long = discover(tmp_path / "zoned.parquet", tmp_path / unit, id_column="sensor")
        column = read_column(series.path, ReadOptions(column=long.column, time_column=long.time_column))
        check_times(column, "zoned")  # no irregular interval across the change
        assert list(column.times) == [t.timestamp() for t in instants], zone
        assert column.values[-1] == float(np.float32(0.1))  # float32's exact value, not 0.1
    lines = series.path.read_text().splitlines()
    assert lines[1] == "2026-03-28 22:00:00+00:00,1.5"
    pq.write_table(pa.table({"sensor": ["p1"] * 8, "at": pa.array(instants, pa.timestamp("s", tz="Europe/Berlin")),
                             "kw": range(8)}), tmp_path / "berlin.parquet")
    (series,), _ = discover(tmp_path / "berlin.parquet", tmp_path / "berlin", id_column="sensor")
    assert series.path.read_text().splitlines()[3:6] == [
        "2026-03-29 01:00:00+01:00,2", "2026-03-29 03:00:00+02:00,3", "2026-03-29 04:00:00+02:00,4"]


@pytest.mark.parametrize("columns, args, message", [
    ({"sensor": ["a", "b"], "reading": ["12.5", "13"]}, {"column": "reading"},
     "column: column 'reading' of {path} is string, not numbers; the value column of a Parquet file must be numeric "
     "(integer, float or decimal)"),
    ({"sensor": ["a", "b"], "ok": [True, False]}, {},
     "column: {path} has no numeric value columns; its columns: sensor (string), ok (bool); pass --column"),
    ({"sensor": ["a", "b"], "x": [1.0, 2.0], "y": [3, 4]}, {},
     "column: {path} has several numeric value columns (x, y); its columns: sensor (string), x (double), "
     "y (int64); pass --column"),
    ({"sensor": ["a", None], "x": [1.0, 2.0]}, {}, "data: {path} row 2 has no id in column 'sensor'"),
    ({"sensor": ["a", "b"], "x": [1.0, 2.0]}, {"id_column": "site"},
     "id_column: {path} has no column 'site'; its columns: sensor, x"),
    ({"sensor": ["a", "b"], "x": [1.0, 2.0]}, {"delimiter": ";"},
     "delimiter: {path} is Parquet, whose columns are typed: --delimiter applies to CSV"),
    ({"sensor": ["a", "b"], "t": "ns", "x": [1.0, 2.0]}, {},
     "time_column: row 2 of column 't' of {path} has a fraction of a microsecond (1500 ns); timestamps are read to the "
     "microsecond"),
    ({"sensor": ["a", "b"], "t": "ns", "x": [1.0, 2.0]}, {"time_format": "%Y"},
     "time_format applies to a time column of text; {path}'s 't' is timestamp[ns], read as typed"),
])
def test_parquet_that_cannot_be_read_faithfully_is_one_line(tmp_path, columns, args, message):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    if columns.get("t") == "ns":
        columns = {**columns, "t": pa.array([1000, 1500], pa.timestamp("ns"))}
    path = tmp_path / "long.parquet"
    pq.write_table(pa.table(columns), path)
    with pytest.raises(UserError) as caught:
        discover(path, tmp_path / "out", **{"id_column": "sensor", **args})
    assert str(caught.value) == message.format(path=path)
    assert not (tmp_path / "out").exists()


def test_parquet_without_pyarrow_names_the_install(tmp_path):
    path = tmp_path / "long.parquet"
    path.write_bytes(b"PAR1")
    code = ("import sys; sys.modules['pyarrow'] = None\n"
            "from edge_forecast.fleet.sources import discover\n"
            f"discover({str(path)!r}, {str(tmp_path / 'out')!r}, id_column='sensor')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    last = done.stderr.strip().splitlines()[-1]
    assert last == (f'edge_forecast.errors.UserError: data: {path} is Parquet, which needs pyarrow: '
                    'pip install "edge-forecast[fleet]" (or: pip install "pyarrow>=16,<26")')


def test_ids_that_differ_only_in_case_get_separate_directories():
    names = slugs(["Pump", "pump", "tank"])
    assert names["tank"] == "tank" and names["Pump"].lower() != names["pump"].lower()


@pytest.mark.parametrize("make, args, message", [
    (lambda t: t / "missing", (), "does not exist"),
    (lambda t: _long_file(t, 5), (), "needs --id-column"),
    (lambda t: _long_file(t, 5), ("--id-column", "site"), "has no column 'site'; its columns: sensor, time, reading"),
    (lambda t: (t / "x.parquet").write_bytes(b"PAR1") and t / "x.parquet", ("--id-column", "id"),
     "as Parquet" if importlib.util.find_spec("pyarrow") else "pip install \"edge-forecast[fleet]\""),
    (lambda t: _folder(t), ("--id-column", "id"), "applies to one long-format file"),
    (lambda t: _folder(t), ("--model", "transformer"), "unknown model"),
    (lambda t: _folder(t), ("--quant", "int4"), "--quant"),
])
def test_bad_data_or_options_are_one_line_before_any_work(tmp_path, make, args, message):
    data = make(tmp_path)
    done = cli("fleet", str(data), "--out", str(tmp_path / "out"), *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()  # nothing made


def test_a_ragged_long_file_names_its_line(tmp_path):
    path = _long_file(tmp_path, 5)
    path.write_text(path.read_text() + "aapl;2015-02-27 00:00:00;1;2\n")
    with pytest.raises(UserError, match=r"line 12 has 4 fields, the header 3"):
        discover(path, tmp_path / "out", id_column="sensor")


def test_out_that_is_not_a_fleet_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.tex").write_text("mine")
    done = cli("fleet", str(_folder(tmp_path)), "--out", str(out), *AR)
    assert done.returncode == 2 and "is not a fleet directory" in done.stderr
    assert (out / "thesis.tex").read_text() == "mine"


def test_ray_missing_is_one_line_naming_the_install(tmp_path):
    code = ("import sys; sys.modules['ray'] = None\n"  # an environment without Ray
            "import edge_forecast as ef\n"
            f"ef.fleet({str(_folder(tmp_path))!r}, {str(tmp_path / 'out')!r}, models='ar', ray='auto')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("edge_forecast.errors.UserError: ray: --ray needs Ray")
    assert 'pip install "edge-forecast[fleet]"' in last
    assert not (tmp_path / "out").exists()


# --- end to end: real training, real export ----------------------------------------------------------


@pytest.fixture(scope="module")
def broken_fleet(tmp_path_factory):
    """Two real sensors, an unreadable file and a constant one, through the local pool."""
    tmp = tmp_path_factory.mktemp("fleet")
    folder = _folder(tmp, broken=True)
    out = tmp / "out"
    done = cli("fleet", str(folder), "--out", str(out), "--jobs", "2", *AR, timeout=1800)
    return folder, out, done


@pytest.mark.slow
def test_failed_sensors_have_one_line_and_the_others_bundles(broken_fleet):
    _, out, done = broken_fleet
    assert done.returncode == 1, done.stderr
    assert "2 sensor(s) failed:" in done.stderr
    results = _results(out)
    assert not results["unreadable"].done and "non-numeric value 'twelve' at line 6" in results["unreadable"].reason
    assert not results["constant"].done and "constant (20.5)" in results["constant"].reason
    for name in GOOD:
        r = results[name]
        assert r.done and r.model == "ar" and r.variant in ("float32", "float16", "dynamic", "int8", "int16x8")
        assert (out / r.bundle / r.file).is_file() and (out / r.bundle / "bundle.json").is_file()
        assert r.mase is not None and r.naive in r.baselines and r.step_us > 0 and r.bundle_bytes > r.variant_bytes
    assert set(_manifest(out)) == set(GOOD)  # failures are in the report, not the manifest
    markdown = (out / "fleet.md").read_text()
    assert "## Failed (2)" in markdown and "- `constant`: the signal is constant" in markdown
    assert (out / "fleet.png").stat().st_size > 1000


@pytest.mark.slow
def test_retry_failed_retries_only_the_failures(broken_fleet):
    folder, out, _ = broken_fleet
    before = {p.name: p.stat().st_mtime_ns for p in (out / "results").iterdir()}
    again = cli("fleet", str(folder), "--out", str(out), "--jobs", "2", *AR, timeout=600)
    assert again.returncode == 1  # nothing redone: the failures stay failures without --retry-failed
    assert {p.name: p.stat().st_mtime_ns for p in (out / "results").iterdir()} == before
    shutil.copy(FLEET_DATA / "machine_temperature_system_failure.csv", folder / "unreadable.csv")  # repaired
    retried = cli("fleet", str(folder), "--out", str(out), "--jobs", "2", "--retry-failed", *AR, timeout=1800)
    assert retried.returncode == 1 and "constant" in retried.stderr and "unreadable" not in retried.stderr
    after = {p.name: p.stat().st_mtime_ns for p in (out / "results").iterdir()}
    for name in GOOD:  # finished sensors untouched
        assert after[f"{name}.json"] == before[f"{name}.json"]
    assert after["unreadable.json"] != before["unreadable.json"] and _results(out)["unreadable"].done
    assert set(_manifest(out)) == {*GOOD, "unreadable"}


@pytest.fixture(scope="module")
def long_fleet(tmp_path_factory):
    """Two real sensors from one long-format CSV file, through the local pool."""
    tmp = tmp_path_factory.mktemp("long")
    path = _long_file(tmp)
    out = tmp / "out"
    done = cli("fleet", str(path), "--id-column", "sensor", "--column", "reading", "--out", str(out), "--jobs", "2",
               *AR, timeout=1800)
    return path, out, done


@pytest.mark.slow
def test_a_long_format_file(long_fleet):
    _, out, done = long_fleet
    assert done.returncode == 0, done.stderr
    manifest = _manifest(out)
    assert set(manifest) == {"boiler 1", "aapl"}
    record = json.loads((out / manifest["boiler 1"]["bundle"] / "bundle.json").read_text())
    assert record["signal"]["points"] == 500 and record["signal"]["column"] == "reading"
    assert record["signal"]["interval_seconds"] == 300.0


@pytest.mark.slow
def test_the_same_readings_as_parquet_give_the_same_bundles_and_figure(tmp_path, long_fleet):
    pytest.importorskip("pyarrow")
    path, csv_out, _ = long_fleet
    out = tmp_path / "out"
    done = cli("fleet", str(_parquet_of(path, tmp_path / "long.parquet")), "--id-column", "sensor", "--column",
               "reading", "--out", str(out), "--jobs", "2", *AR, timeout=1800)
    assert done.returncode == 0, done.stderr
    parquet, text = _results(out), _results(csv_out)
    assert set(parquet) == set(text) == {"boiler 1", "aapl"}
    for name in parquet:  # same model, scores, baselines, season, kept variant and .tflite file (sha256)
        a, b = parquet[name].outcome(), text[name].outcome()
        assert a == b, _differences(a, b)
        signals = [json.loads((o / r.bundle / "bundle.json").read_text())["signal"] for o, r in
                   ((out, parquet[name]), (csv_out, text[name]))]
        for record in signals:  # the per-sensor file's path and checksum: of a ','- or ';'-separated copy
            for key in [k for k in record if "path" in k or "sha256" in k or k == "source"]:
                record.pop(key)
        assert signals[0] == signals[1], _differences(*signals)
    assert (out / "fleet.png").read_bytes() == (csv_out / "fleet.png").read_bytes()


@pytest.mark.slow
def test_kill_9_loses_nothing_finished_and_a_rerun_resumes(tmp_path):
    folder = _folder(tmp_path, names=(*GOOD, "Twitter_volume_AAPL"))
    out = tmp_path / "out"
    args = [sys.executable, "-m", "edge_forecast", "fleet", str(folder), "--out", str(out), "--jobs", "1", *AR]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 900
    while not list((out / "results").glob("*.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)  # the command, as a user's kill -9 or a lost SSH session
    proc.wait()
    first = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / "results").glob("*.json")}
    assert len(first) == 1 and len(list((out / "results").glob("*.json"))) == 1
    assert not (out / "manifest.json").exists()
    again = cli("fleet", str(folder), "--out", str(out), "--jobs", "1", *AR[:2], timeout=1800)
    assert again.returncode == 0, again.stderr
    assert "(1 finished before; skipped); 2 to do" in again.stdout
    assert again.stderr.count("] done") == 2  # only the other two ran
    for name, (content, mtime) in first.items():
        path = out / "results" / name
        assert path.read_bytes() == content and path.stat().st_mtime_ns == mtime
    manifest = _manifest(out)
    assert set(manifest) == {*GOOD, "Twitter_volume_AAPL"}
    for entry in manifest.values():
        from edge_forecast.fsio import sha256_file

        assert sha256_file(out / entry["bundle"] / entry["file"]) == entry["sha256"]
    assert not [p for p in out.rglob(".*partial-*")]  # no half-written run or bundle left behind


@pytest.mark.slow
def test_ray_gives_the_pool_s_results(tmp_path, broken_fleet):
    pytest.importorskip("ray")
    _, pool_out, _ = broken_fleet
    out = tmp_path / "ray"
    done = cli("fleet", str(_folder(tmp_path)), "--out", str(out), "--ray", "auto", "--jobs", "2", *AR, timeout=1800)
    assert done.returncode == 0, done.stderr
    ray, pool = _results(out), _results(pool_out)
    for name in GOOD:  # same seeds: same models, same scores, same files (quant auto's tie-break included)
        a, b = ray[name].outcome(), pool[name].outcome()
        assert a == b, _differences(a, b)
    assert "local Ray instance" in json.loads((out / "fleet.json").read_text())["run"]["engine"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head():
    """A real Ray cluster to join: `ray start --head --block` in its own session, with token
    authentication (Ray's default since a token file may exist; here a token of its own, so that
    the test neither needs nor touches ~/.ray/auth_token). Stopped by SIGTERM to that one process,
    which stops what it started; then no process may be left that names its temp dir."""
    pytest.importorskip("ray")
    psutil = pytest.importorskip("psutil")
    temp = Path(tempfile.mkdtemp(prefix="efray", dir="/tmp"))  # Ray's socket paths must stay short
    port = _free_port()
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    log = temp / "head.log"
    command = [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", "--num-cpus", "2",
               "--port", str(port), "--node-ip-address", "127.0.0.1", "--disable-usage-stats",
               "--include-dashboard", "false", "--temp-dir", str(temp)]
    with open(log, "w") as fh:
        head = subprocess.Popen(command, env={**os.environ, **auth}, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while "Ray runtime started" not in log.read_text() and head.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert head.poll() is None and "Ray runtime started" in log.read_text(), log.read_text()[-2000:]
        yield f"127.0.0.1:{port}", auth
    finally:
        head.terminate()
        try:
            head.wait(timeout=90)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        time.sleep(1)
        left = [p for p in psutil.process_iter(["pid", "cmdline"]) if str(temp) in " ".join(p.info["cmdline"] or [])]
        for process in left:
            with contextlib.suppress(psutil.Error):
                process.kill()
        shutil.rmtree(temp, ignore_errors=True)
        assert not left, [" ".join(p.info["cmdline"])[:200] for p in left]


@pytest.mark.slow
def test_ray_cluster_address_gives_the_pool_s_results(tmp_path, broken_fleet, ray_head):
    address, auth = ray_head
    _, pool_out, _ = broken_fleet
    out = tmp_path / "cluster"
    done = cli("fleet", str(_folder(tmp_path)), "--out", str(out), "--ray", address, *AR, env=auth, timeout=1800)
    assert done.returncode == 0, done.stderr
    ray, pool = _results(out), _results(pool_out)
    for name in GOOD:
        a, b = ray[name].outcome(), pool[name].outcome()
        assert a == b, _differences(a, b)
    assert json.loads((out / "fleet.json").read_text())["run"]["engine"] == f"the Ray cluster {address} (2 CPUs)"


@pytest.mark.slow
def test_a_cluster_that_asks_for_a_token_is_one_line_naming_the_setting(tmp_path, ray_head):
    address, _ = ray_head
    out = tmp_path / "out"
    done = cli("fleet", str(_folder(tmp_path)), "--out", str(out), "--ray", address, *AR,
               env={"RAY_AUTH_MODE": "disabled", "RAY_AUTH_TOKEN": ""}, timeout=300)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: --ray: cannot join the Ray cluster at {address}: "), done.stderr
    assert "set RAY_AUTH_MODE=token" in done.stderr and done.stderr.count("\n") == 1  # Ray's retry log kept off
    assert not out.exists()  # joined before anything is written


def test_a_cluster_address_where_nothing_listens_is_one_line_at_once(tmp_path):
    pytest.importorskip("ray")
    address = f"127.0.0.1:{_free_port()}"
    started = time.monotonic()
    done = cli("fleet", str(_folder(tmp_path)), "--out", str(tmp_path / "out"), "--ray", address, *AR, timeout=300)
    assert done.returncode == 2 and time.monotonic() - started < 60  # ray.init alone waits for many minutes
    assert done.stderr == (f"error: --ray: cannot join the Ray cluster at {address}: nothing answers there "
                           "(Connection refused); give the address `ray start --head` printed (HOST:PORT of its GCS, "
                           "ray://HOST:PORT of its client server)\n")
    assert not (tmp_path / "out").exists()


def test_a_long_file_whose_cluster_cannot_be_joined_leaves_no_out(tmp_path):
    """A long-format file is split into OUT's per-sensor copies: the cluster is joined before."""
    pytest.importorskip("ray")
    long = tmp_path / "long.csv"
    long.write_text("id,value\n" + "".join(f"{s},{i % 7}.5\n" for s in ("a", "b") for i in range(200)))
    done = cli("fleet", str(long), "--id-column", "id", "--column", "value", "--out", str(tmp_path / "out"),
               "--ray", f"127.0.0.1:{_free_port()}", *AR, timeout=300)
    assert done.returncode == 2 and "nothing answers there" in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_default_neural_model_on_two_tiny_series(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    for name in GOOD:
        lines = (FLEET_DATA / f"{name}.csv").read_text().splitlines()[:301]
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    done = cli("fleet", str(folder), "--out", str(out), "--epochs", "2", "--jobs", "2", "--quiet", timeout=1800)
    assert done.returncode == 0, done.stderr
    results = _results(out)
    assert {r.model for r in results.values()} == {"lstm"}
    assert set(_manifest(out)) == set(GOOD)


@pytest.mark.slow
def test_a_worker_killed_twice_fails_its_sensor_alone(tmp_path):
    """kill -9 of the pool's worker (as the OOM killer would): the sensor runs again alone, and a
    second death records it as failed; the next sensor, in a fresh worker, is done."""
    psutil = pytest.importorskip("psutil")
    folder = _folder(tmp_path)
    out = tmp_path / "out"
    args = [sys.executable, "-m", "edge_forecast", "fleet", str(folder), "--out", str(out), "--jobs", "1", *AR]
    proc = subprocess.Popen(args, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    killed: list[int] = []
    deadline = time.monotonic() + 600
    while len(killed) < 2 and proc.poll() is None and time.monotonic() < deadline:
        workers = [c for c in psutil.Process(proc.pid).children()
                   if c.pid not in killed and "spawn_main" in " ".join(c.cmdline())]
        for worker in workers:
            time.sleep(3)  # it has taken its sensor (and is loading TensorFlow)
            worker.kill()
            killed.append(worker.pid)
        time.sleep(0.2)
    _, stderr = proc.communicate(timeout=900)
    assert len(killed) == 2 and proc.returncode == 1, stderr
    results = _results(out)
    first, second = GOOD
    assert not results[first].done and "the worker process died 2 times" in results[first].reason
    assert results[second].done and set(_manifest(out)) == {second}


def test_other_settings_are_refused_and_force_starts_again(tmp_path):
    """Only a sensor that fails while reading (no training: seconds), through the real pool."""
    folder = tmp_path / "sensors"
    folder.mkdir()
    lines = (FLEET_DATA / f"{GOOD[0]}.csv").read_text().splitlines()[:100]
    (folder / "constant.csv").write_text("timestamp,value\n" + "".join(f"{x.split(',')[0]},7\n" for x in lines[1:]))
    out = tmp_path / "out"
    first = cli("fleet", str(folder), "--out", str(out), "--jobs", "1", *AR)
    assert first.returncode == 1 and "constant (7)" in first.stderr
    record = (out / "results" / "constant.json").read_bytes()
    other = cli("fleet", str(folder), "--out", str(out), "--window", "10", *AR)
    assert other.returncode == 2 and "made with other settings (window)" in other.stderr
    bad = cli("fleet", str(tmp_path / "missing"), "--out", str(out), "--force", *AR)
    assert bad.returncode == 2 and (out / "results" / "constant.json").read_bytes() == record  # nothing cleared
    again = cli("fleet", str(folder), "--out", str(out), "--window", "10", "--force", "--jobs", "1", *AR)
    assert again.returncode == 1 and "window" in json.loads((out / "fleet-options.json").read_text())["options"]
