"""The contracts between stages: the run record and the child-process jobs (contracts/)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from child_crash import crash_env

from edge_forecast.children import read_job, run_job
from edge_forecast.contracts.bundle import GraphKind, QuantMode, VariantId
from edge_forecast.contracts.jobs import (
    ArenaJob,
    BenchJob,
    ConvertJob,
    HorizonPlan,
    MicroCheckJob,
    ProbeJob,
    VerifyItem,
    VerifyJob,
)
from edge_forecast.contracts.run_record import RunRecord
from edge_forecast.contracts.schema import ContractError, with_extras
from edge_forecast.errors import UserError
from edge_forecast.run_record import load_run

# a training.json written by `edge-forecast demo`, every list cut to its first three entries
EXAMPLE = Path(__file__).parents[1] / "data" / "training.json"


def _example() -> dict:
    return json.loads(EXAMPLE.read_text())


def _subset(typed, doc, path=""):
    """Every value the typed record holds is the document's."""
    if isinstance(typed, dict):
        for key, value in typed.items():
            _subset(value, doc[key], f"{path}.{key}")
    else:
        assert typed == doc, path


def test_the_run_record_reads_and_writes_the_training_document():
    doc = _example()
    record = RunRecord.from_dict(doc)
    assert record.window == 20 and record.config.season == 1
    assert list(record.models) == ["rnn", "lstm"]
    rnn = record.models["rnn"]
    assert (rnn.file, rnn.kind, rnn.training, rnn.highway) == ("rnn.keras", "rnn", "window", 0)
    assert rnn.test.horizon == 20 and rnn.test.origin_index == doc["models"]["rnn"]["test"]["origin_index"]
    assert "forecasts" not in rnn.test.scores() and rnn.test.scores()["rmse"] == doc["models"]["rnn"]["test"]["rmse"]
    assert record.baselines["persistence"].test.start == doc["split"]["test_start"]
    assert record.scaler.kind == "standard" and record.signal.file == "signal.npy"
    assert record.signal.for_bundle() == {k: doc["signal"][k] for k in ("source", "column", "points", "fingerprint")}
    assert RunRecord.from_dict(record.to_dict()) == record
    _subset(record.to_dict(), doc)
    with pytest.raises(AttributeError):
        record.config.window = 3  # frozen


@pytest.mark.parametrize(("damage", "message"), [
    (lambda d: d.update(models=["rnn"]), "models must be a non-empty object"),
    (lambda d: d.update(models={}), "models must be a non-empty object"),
    (lambda d: d["models"]["rnn"].pop("units"), "models.rnn.units is missing"),
    (lambda d: d["models"]["rnn"].update(units="40"), "models.rnn.units must be a non-negative integer"),
    (lambda d: d["models"]["lstm"].update(file="../x.keras"), "models.lstm.file must be a file name"),
    (lambda d: d["models"]["rnn"].update(training="Stream"), "models.rnn.training must be one of window, stream"),
    (lambda d: d["models"]["rnn"]["test"].update(rmse="bad"), "models.rnn.test.rmse must be a number"),
    (lambda d: d["config"].update(window=0), "config.window must be a positive integer"),
    (lambda d: d["config"].update(window=True), "config.window must be a positive integer"),
    (lambda d: d["split"].update(train_windows=None), "split.train_windows must be a positive integer"),
    (lambda d: d["split"].update(test_start=5), "split.test_start must be an integer past the first window"),
    (lambda d: d["scaler"].update(kind="log"), "scaler.kind must be one of none, standard, minmax"),
    (lambda d: d["scaler"].update(scale=0), "scaler.scale must be a finite non-zero number"),
    (lambda d: d.pop("signal"), "signal is missing"),
    (lambda d: d["signal"].update(file=3), "signal.file must be a file name"),
])
def test_a_damaged_record_is_one_line_naming_the_field(tmp_path, damage, message):
    doc = _example()
    damage(doc)
    with pytest.raises(ContractError) as found:
        RunRecord.from_dict(doc)
    assert str(found.value) == message
    run = tmp_path / "run"
    run.mkdir()
    (run / "training.json").write_text(json.dumps(doc))
    with pytest.raises(UserError) as refused:
        load_run(run)
    assert str(refused.value) == f"{run / 'training.json'} is damaged: {message}"
    assert len(str(refused.value).splitlines()) == 1


def test_the_record_writes_its_nulls_and_leaves_out_what_older_writers_left_out():
    """training.json says "no column" and "no test segment" as null, and names a highway and a
    signal's timing only when there is one (as train/loop.py always wrote them)."""
    doc = _example()
    doc["signal"]["column"] = None
    doc["models"]["rnn"]["test"] = None
    written = RunRecord.from_dict(doc).to_dict()
    assert written["signal"]["column"] is None and written["models"]["rnn"]["test"] is None
    assert "highway" not in written["models"]["rnn"] and "interval_seconds" not in written["signal"]
    doc["models"]["rnn"]["highway"] = 3
    assert RunRecord.from_dict(doc).to_dict()["models"]["rnn"]["highway"] == 3


def test_people_only_fields_join_the_typed_ones_object_by_object():
    typed = {"models": {"rnn": {"units": 8}}, "format": "f"}
    merged = with_extras(typed, {"models": {"rnn": {"history": [1]}}, "created": "today"})
    assert merged == {"models": {"rnn": {"units": 8, "history": [1]}}, "format": "f", "created": "today"}
    with pytest.raises(ValueError, match="units is written by the contract"):
        with_extras(typed, {"models": {"rnn": {"units": 9}}})


def test_an_unknown_field_is_ignored():
    doc = _example()
    doc["models"]["rnn"]["new_figure"] = 1.0
    doc["something_new"] = {}
    assert RunRecord.from_dict(doc).models["rnn"].units == doc["models"]["rnn"]["units"]


JOBS = [
    ConvertJob(model_path="/r/rnn.keras", kind="rnn", window=20, units=8, out_dir="/w", calibration="/w/c.npy",
               verify_windows="/w/v.npy", eval_windows="/w/e.npy", sequence="/w/s.npy", stream_sequence="/w/ss.npy",
               context_window=[0.5, 1.0], steps=30, rollout_horizon=30, normalization={"rule": "none", "floor": 0.0},
               highway=2, bias_correction=False),
    VerifyJob(work="/w", unit_scale=2.0, items={"rnn/int8": VerifyItem("rnn.int8.tflite", "window", "int8", False)},
              context_window=[1.0]),
    ProbeJob(runtime="litert"),
    ArenaJob(file="/b/rnn.tflite"),
    MicroCheckJob(bundle="/b", stripped={"rnn/int8": "/w/rnn_int8.tflite"}, steps=10, tflm=True),
    BenchJob(bundle="/b", steps=10, repeats=1, latency_steps=200, warmup_steps=5, predict_steps=3,
             horizon=HorizonPlan(horizon=5, origins=[0, 3])),
]


@pytest.mark.parametrize("job", JOBS, ids=lambda job: type(job).__name__)
def test_every_job_travels_as_json_unchanged(job):
    assert type(job).from_json(job.to_json()) == job


def test_a_verify_item_carries_its_variant_parsed_once():
    item = VerifyJob.from_json(JOBS[1].to_json()).items["rnn/int8"]
    assert item.variant == VariantId(GraphKind.WINDOW, QuantMode.INT8) and item.variant.key == "int8"
    assert VerifyItem("a.tflite", "step", "int8", False).variant.key == "step-int8"
    assert json.loads(JOBS[1].to_json())["items"]["rnn/int8"]["graph"] == "window"  # the wire format: the values
    doc = json.loads(JOBS[1].to_json())
    doc["items"]["rnn/int8"]["mode"] = "int4"
    with pytest.raises(ContractError, match=r"^items.rnn/int8.mode must be one of float32, .*int16x8$"):
        VerifyJob.from_dict(doc)


def test_a_bad_job_names_its_field():
    doc = json.loads(JOBS[-1].to_json())
    doc["horizon"]["origins"] = [0, "3"]
    with pytest.raises(ContractError, match=r"^horizon.origins\[1\] must be an integer$"):
        BenchJob.from_dict(doc)
    with pytest.raises(ContractError, match="^units is missing$"):
        ConvertJob.from_dict({k: v for k, v in json.loads(JOBS[0].to_json()).items() if k != "units"})


CHILD = """\
import sys

from edge_forecast.children import emit, read_job
from edge_forecast.contracts.jobs import ProbeJob

job, items = read_job(ProbeJob, sys.argv[1:])
for item in items:
    emit(item, ok=True, runtime=job.runtime)
"""


def _child_env(tmp_path: Path, extra: dict | None = None) -> dict:
    (tmp_path / "fake_child.py").write_text(CHILD)
    paths = [str(tmp_path), os.environ.get("PYTHONPATH", "")]
    if extra:
        paths.insert(0, extra["PYTHONPATH"])
    return {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def test_a_child_reads_the_job_its_parent_wrote(tmp_path):
    found = run_job("fake_child", ProbeJob(runtime="litert"), ["a", "b"], 60, env=_child_env(tmp_path),
                    job_dir=tmp_path)
    assert found == {"a": {"ok": True, "runtime": "litert"}, "b": {"ok": True, "runtime": "litert"}}
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == []  # the job file went with its directory
    job_file = tmp_path / "job.json"
    job_file.write_text(ArenaJob(file="/m.tflite").to_json())
    assert read_job(ArenaJob, [str(job_file), "4096"]) == (ArenaJob(file="/m.tflite"), ["4096"])


def test_a_crash_injected_from_outside_becomes_that_item_s_failure(tmp_path):
    """How the export and bench tests crash a real child: a sitecustomize shim, not a product hook."""
    env = _child_env(tmp_path, crash_env(tmp_path, "fake_child", "b"))
    found = run_job("fake_child", ProbeJob(runtime="litert"), ["a", "b", "c"], 60, env=env)
    assert found["a"]["ok"] and found["c"]["ok"]
    assert found["b"] == {"ok": False, "error": "the child process crashed (SIGSEGV)", "crash": "SIGSEGV"}


def test_the_contracts_need_only_the_standard_library():
    import subprocess

    code = ("import sys, edge_forecast.contracts.run_record, edge_forecast.contracts.jobs; "
            "print(sorted(m for m in ('numpy', 'tensorflow', 'keras') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"

