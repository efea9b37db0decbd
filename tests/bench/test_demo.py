"""`edge-forecast demo`: the whole job end to end (reduced epochs), and its refusal to overwrite."""

from __future__ import annotations

import json
import re

import pytest
from conftest import cli

from edge_forecast.bench.report import MEASURED, NOT_MEASURED, validate_report


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    done = cli("demo", "--out", str(out), "--epochs", "2", timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    report_md = out / "report" / "report.md"
    assert f"report: {report_md}" in done.stdout
    for progress in ("[1/3] training", "[2/3] exporting", "[3/3] benchmarking", "summary", "demo finished in"):
        assert progress in done.stdout
    assert f"run saved to {out / 'run'} when the demo finishes" in done.stdout
    assert ".partial-" not in done.stdout + done.stderr  # the staging directory is never named
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


def _report(segment: str = "test") -> dict:
    """The parts of a report that the demo's summary reads: one measured variant, and a runtime
    that is not installed (a row per variant in report.json)."""
    missing = "runtime tflite-runtime is not installed; pip install tflite-runtime"
    measured = {"model": "rnn", "variant": "float32", "runtime": "litert", "status": MEASURED, "reason": None,
                "size_kib": 22.8, "latency_us": {"p50": 51.8, "p99": 121.6},
                "accuracy": {f"{segment.replace('-', '_')}_closed_loop_rmse": 0.1047},
                "speedup": {"vs_keras_predict": 2662}}
    return {"bundle": {"evaluation_segment": segment}, "method": {"accuracy_steps": 40}, "models": {"rnn": {}},
            "results": [measured] + [{"model": "rnn", "variant": v, "runtime": "tflite-runtime", "status": NOT_MEASURED,
                                      "reason": missing} for v in ("float32", "int8")]}


def test_demo_prints_the_final_paths_and_a_missing_runtime_once(tmp_path, monkeypatch):
    """The demo works in a staging directory (OUT's sibling .OUT.partial-...) that the user never
    sees: what it prints names OUT; a runtime that is not installed is one line, not one per variant."""
    from types import SimpleNamespace

    from edge_forecast import demo
    from edge_forecast.bench import runner
    from edge_forecast.export import exporter
    from edge_forecast.train import loop

    out, labels = tmp_path / "demo", []

    def train_run(config, where, quiet, echo, label):
        labels.append(label)
        where.mkdir()
        echo(f"run saved to {label}")

    monkeypatch.setattr(loop, "train_run", train_run)
    monkeypatch.setattr(exporter, "export_bundle", lambda *a, **k: SimpleNamespace(failures=[]))
    monkeypatch.setattr(runner, "bench_bundle", lambda *a, **k: SimpleNamespace(report=_report()))
    lines: list[str] = []
    demo.run_demo(out, epochs=1, echo=lines.append)
    assert labels == [f"{out / 'run'} when the demo finishes"]
    assert not [line for line in lines if ".partial-" in line], lines
    # the seconds are the machine's (a loaded one takes more than 0 s even for this stubbed demo)
    assert re.fullmatch(rf"demo finished in \d+ s: run {re.escape(str(out / 'run'))}, bundle "
                        rf"{re.escape(str(out / 'bundle'))}", lines[-1]), lines[-1]
    summary = lines[lines.index(next(line for line in lines if line.startswith("summary"))):-1]
    assert summary[0] == ("summary (closed-loop RMSE (test segment, 40 steps from the context window); "
                          "speed-up of the p50 step over Keras model.predict):")
    assert len(summary) == 3 and "litert" in summary[1] and "2662x" in summary[1]
    assert summary[2] == ("not measured: every variant on tflite-runtime (runtime tflite-runtime is not installed; "
                          "pip install tflite-runtime)")


def test_summary_names_the_in_sample_loop_as_train_does():
    """Without a test segment the context window is the series' first window: the figure is the
    one train calls 'in-sample closed-loop RMSE (N steps from the first window)'."""
    from edge_forecast.demo import summary_lines

    assert summary_lines(_report("in-sample"))[0].startswith(
        "summary (in-sample closed-loop RMSE (40 steps from the first window); ")
