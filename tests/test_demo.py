"""`edge-forecast demo`: the whole job end to end (reduced epochs), and its refusal to overwrite."""

from __future__ import annotations

import json

import pytest
from conftest import cli

from edge_forecast.bench.report import MEASURED, validate_report


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    done = cli("demo", "--out", str(out), "--epochs", "2", timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    report_md = out / "report" / "report.md"
    assert f"report: {report_md}" in done.stdout
    for progress in ("[1/3] training", "[2/3] exporting", "[3/3] benchmarking", "summary", "demo finished in"):
        assert progress in done.stdout
    assert (out / "run" / "training.json").is_file() and (out / "bundle" / "bundle.json").is_file()
    doc = json.loads((out / "report" / "report.json").read_text())
    validate_report(doc)
    assert list(doc["models"]) == ["rnn", "lstm"]
    assert doc["bundle"]["path"] == str(out / "bundle")  # the final path, not the staging directory
    assert doc["command"]["reference"] == str(out / "run")
    for model in ("rnn", "lstm"):
        assert doc["models"][model]["keras"]["status"] == MEASURED
        variants = {e["variant"] for e in doc["results"] if e["model"] == model and e["status"] == MEASURED}
        assert variants == {"float32", "float16", "dynamic", "int8", "int16x8"}
    assert report_md.read_text().startswith("# Benchmark report")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".demo")]  # no staging left behind


def test_demo_refuses_an_existing_directory_without_force(tmp_path):
    out = tmp_path / "demo"
    out.mkdir()
    done = cli("demo", "--out", str(out), "--epochs", "1")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "already exists" in lines[0] and "--force" in lines[0]


def test_demo_rejects_bad_epochs(tmp_path):
    done = cli("demo", "--out", str(tmp_path / "demo"), "--epochs", "0")
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "error: Invalid value for '--epochs': 0 is not in the range x>=1. (see edge-forecast demo --help)"]
    assert not (tmp_path / "demo").exists()
