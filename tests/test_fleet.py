"""`edge-forecast fleet`: one forecaster per sensor, on real NAB excerpts (tests/data/fleet/).

The end-to-end tests train and export for real (`--model ar`: seconds of training, then export's
conversions, ~20-40 s per sensor on this 2-core machine), hence slow; the checks of DATA, the
options and the output directory run before any training and are fast.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

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


def test_ids_that_differ_only_in_case_get_separate_directories():
    names = slugs(["Pump", "pump", "tank"])
    assert names["tank"] == "tank" and names["Pump"].lower() != names["pump"].lower()


@pytest.mark.parametrize("make, args, message", [
    (lambda t: t / "missing", (), "does not exist"),
    (lambda t: _long_file(t, 5), (), "needs --id-column"),
    (lambda t: _long_file(t, 5), ("--id-column", "site"), "has no column 'site'; its columns: sensor, time, reading"),
    (lambda t: (t / "x.parquet").write_bytes(b"PAR1") and t / "x.parquet", ("--id-column", "id"),
     "pip install pyarrow"),
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


@pytest.mark.slow
def test_a_long_format_file(tmp_path):
    out = tmp_path / "out"
    done = cli("fleet", str(_long_file(tmp_path)), "--id-column", "sensor", "--column", "reading", "--out", str(out),
               "--jobs", "2", *AR, timeout=1800)
    assert done.returncode == 0, done.stderr
    manifest = _manifest(out)
    assert set(manifest) == {"boiler 1", "aapl"}
    record = json.loads((out / manifest["boiler 1"]["bundle"] / "bundle.json").read_text())
    assert record["signal"]["points"] == 500 and record["signal"]["column"] == "reading"
    assert record["signal"]["interval_seconds"] == 300.0


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
