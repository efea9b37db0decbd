"""contracts.bundle: the variant id and the bundle document's one check and one writer (no files)."""

from __future__ import annotations

import copy
import re
import subprocess
import sys

import pytest

from edge_forecast.contracts.bundle import (
    BundleDocument,
    GraphKind,
    QuantMode,
    VariantEntry,
    VariantId,
)
from edge_forecast.errors import UserError


@pytest.mark.parametrize(("text", "graph", "mode", "key"), [
    ("int8", GraphKind.WINDOW, QuantMode.INT8, "int8"),
    ("float32", GraphKind.WINDOW, QuantMode.FLOAT32, "float32"),
    ("int16x8", GraphKind.WINDOW, QuantMode.INT16X8, "int16x8"),
    ("step-int8", GraphKind.STEP, QuantMode.INT8, "step-int8"),
    ("rollout-float32", GraphKind.ROLLOUT, QuantMode.FLOAT32, "rollout-float32"),
    ("stream-int8", GraphKind.STREAM, QuantMode.INT8, "stream-int8"),
    ("window-int8", GraphKind.WINDOW, QuantMode.INT8, "int8"),  # the window graph's name is its mode
])
def test_a_variant_is_parsed_once_into_graph_and_mode(text, graph, mode, key):
    variant = VariantId.parse(text)
    assert (variant.graph, variant.mode) == (graph, mode)
    assert variant.key == str(variant) == key
    assert VariantId.parse(variant.key) == variant  # the key reads back as the same id
    assert {variant: 1}[VariantId(graph, mode)] == 1  # hashable: a dict key, a set member


@pytest.mark.parametrize("text", ["int4", "step-", "-int8", "step-int4", "steps-int8", "step-int8-x", ""])
def test_an_unknown_variant_is_a_value_error_naming_the_choices(text):
    with pytest.raises(ValueError, match="is not a variant: a mode .*int16x8.* graph of window, step, rollout"):
        VariantId.parse(text)


def test_the_types_import_without_numpy():
    """The device reads variants too: the module that owns them needs the standard library only."""
    code = "import sys; import edge_forecast.contracts.bundle; print('numpy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def _tensor(dtype: str, shape: list) -> dict:
    return {"dtype": dtype, "scale": 0.01 if dtype != "float32" else 0.0, "zero_point": -3 if dtype != "float32" else 0,
            "shape": shape}


def _runtimes() -> dict:
    return {"litert": {"ok": True, "version": "2.3.0", "platforms": {"x86_64": {"ok": True, "version": "2.3.0"}}},
            "tflite-runtime": {"ok": None, "error": "not installed where the bundle was exported; not checked",
                               "platforms": {}},
            "tflite-micro": {"ok": False, "version": None, "error": "x", "crash": "SIGSEGV",
                             "platforms": {"x86_64": {"ok": False, "version": None, "error": "x", "crash": "SIGSEGV"}}}}


@pytest.fixture
def document() -> dict:
    """A bundle.json with every kind of record the exporter and `micro` write (no files)."""
    window = {"file": "lstm.int8.tflite", "sha256": "a" * 64, "bytes": 10, "mode": "int8", "graph": "window",
              "input": _tensor("int8", [1, 4, 1]), "output": _tensor("int8", [1, 1]),
              "ops": [{"name": "FULLY_CONNECTED", "version": 1}], "errors": {"test_closed_loop_rmse": 0.5},
              "convert_seconds": 1.5, "convert_attempts": 1, "runtimes": _runtimes(),
              "output_bias": {"applied": True, "measured": 0.1, "residual": 0.01},
              "full_integer": True, "closed_loop_within_bound": False}
    step = {**window, "file": "lstm.step.int8.tflite", "graph": "step", "output_bias": None,
            "state": {"h": {"dtype": "int8", "scale": 0.1, "zero_point": 2, "shape": [4, 3],
                            "output": {"dtype": "int8", "scale": 0.1, "zero_point": 2}}},
            "rows": 4, "tensors": {"x": 0, "y": 9}, "state_store": "variables", "a_later_field": [1, 2],
            "micro": {"file": "micro/lstm_step_int8.tflite", "source": "micro/lstm_step_int8.cc",
                      "header": "micro/lstm_step_int8.h", "sha256": "b" * 64, "flash_bytes": 9, "arena_bytes": 100,
                      "arena_margin": 0.25, "arena_reserve_bytes": 125, "ops": [], "resolver": [],
                      "tensors": {}, "verified": {"ok": True}}}
    rollout = {**window, "file": "lstm.rollout.float32.tflite", "graph": "rollout", "mode": "float32",
               "input": _tensor("float32", [1, 4, 1]), "output": _tensor("float32", [1, 3]), "horizon": 3}
    del rollout["full_integer"], rollout["closed_loop_within_bound"], rollout["output_bias"]
    return {
        "format": "edge-forecast-bundle", "format_version": 2, "format_minor": 1,
        "created": "2026-01-01T00:00:00+00:00",
        "edge_forecast_version": "0.1.0", "converter": {"tensorflow": "2.21.0", "keras": "3", "verified_with": {}},
        "window": 4, "scaler": {"kind": "standard", "offset": 1.0, "scale": 2.0},
        "normalization": {"rule": "none", "floor": 0.0}, "context_window": [1.0, 2.0, 3.0, 4.0],
        "signal": {"source": "x.csv", "column": None, "points": 40, "interval_seconds": 60.0},
        "evaluation": {"segment": "test", "description": "the test segment", "start": 30, "steps": 3,
                       "truth": [5.0, 6.0, 7.0], "horizon": 2, "origins": [0, 1]},
        "models": {"lstm": {"kind": "lstm", "units": 3, "params": 80, "training": "window",
                            "keras": {"closed_loop": [5.0, 6.0, 7.0], "test_closed_loop_rmse": 0.1, "test": None},
                            "variants": {"int8": window, "step-int8": step, "rollout-float32": rollout}},
                   "ar": {"kind": "ar", "units": 0, "params": 5, "highway": 2, "keras": {},
                          "variants": {"int8": copy.deepcopy(window)}}},
        "baselines": {"naive": {"closed_loop": [4.0, 4.0, 4.0], "test": None}},
    }


def test_a_document_round_trips_unchanged(document):
    doc = BundleDocument.from_dict(copy.deepcopy(document))
    assert doc.to_dict() == document
    step = doc.models["lstm"].variants["step-int8"]
    assert step.id == VariantId(GraphKind.STEP, QuantMode.INT8) and step.rows == 4 and step.micro is not None
    assert step.get("a_later_field") == [1, 2] and step.get("horizon") is None  # absent: not written
    assert doc.models["lstm"].variants["int8"].runtimes["litert"].platforms["x86_64"].ok is True
    assert doc.models["ar"].highway == 2 and doc.models["lstm"].get("highway") is None
    assert doc.evaluation.origins == [0, 1]


def test_older_documents_keep_their_names(document):
    """Bundles written before `format_minor`, `normalization`, `training` and the context
    window's rename read, and write back as they were."""
    for key in ("format_minor", "normalization", "baselines"):
        del document[key]
    document["seed_window"] = document.pop("context_window")
    del document["models"]["lstm"]["training"]
    doc = BundleDocument.from_dict(copy.deepcopy(document))
    assert doc.context_window == [1.0, 2.0, 3.0, 4.0] and not doc.models["lstm"].stream_trained
    assert doc.to_dict() == document


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["models"]["lstm"]["variants"]["int8"].update(mode="int4"),
     "models.lstm.variants.int8.mode must be one of float32, float16, dynamic, int8, int16x8"),
    (lambda d: d["models"]["lstm"]["variants"]["int8"].update(graph="tree"),
     "models.lstm.variants.int8.graph must be one of window, step, rollout, stream"),
    (lambda d: d["models"]["lstm"]["variants"]["int8"].update(graph="step"),
     "models.lstm.variants.int8 is a step graph in int8, named step-int8"),
    (lambda d: d["models"]["lstm"]["variants"]["step-int8"].pop("sha256"),
     "models.lstm.variants.step-int8 is missing 'sha256'"),
    (lambda d: d["models"]["lstm"]["variants"]["int8"]["input"].update(dtype="int4"),
     "models.lstm.variants.int8.input.dtype must be one of float32, int8, int16"),
    (lambda d: d["models"]["lstm"]["variants"]["step-int8"]["micro"].update(file="../x.tflite"),
     "models.lstm.variants.step-int8.micro.file must be a file name inside micro/"),
    (lambda d: d["evaluation"].update(segment="train"), "evaluation.segment must be one of test, in-sample"),
    (lambda d: d["models"]["lstm"].update(training="batch"), "models.lstm.training must be one of window, stream"),
    (lambda d: d.update(format_version=1), "format version 1 is not supported"),
    (lambda d: d["scaler"].update(scale=0.0), "scaler offset and scale must be finite and the scale non-zero"),
])
def test_one_check_names_the_first_field_that_does_not_fit(document, change, message):
    change(document)
    with pytest.raises(UserError) as caught:
        BundleDocument.from_dict(document)
    assert str(caught.value).startswith("bundle.json: " + message)
    assert "\n" not in str(caught.value)


def test_the_exporter_builds_entries_that_write_the_same_fields(document):
    """A VariantEntry made in code (as the exporter makes them) writes what from_dict reads."""
    read = BundleDocument.from_dict(copy.deepcopy(document)).models["lstm"].variants["rollout-float32"]
    made = VariantEntry(file=read.file, sha256=read.sha256, bytes=read.bytes, id=VariantId.parse("rollout-float32"),
                        input=read.input, output=read.output, ops=read.ops, errors=read.errors, runtimes=read.runtimes,
                        convert_seconds=1.5, convert_attempts=1, horizon=3)
    assert made.to_dict() == document["models"]["lstm"]["variants"]["rollout-float32"]


def test_a_variant_named_by_the_user_is_parsed_once_by_the_forecaster():
    from edge_forecast.edge.forecaster import _split_variant

    assert _split_variant("step-int8", "auto") == ("int8", "step")
    assert _split_variant("window-int8", "auto") == ("int8", "window")
    assert _split_variant("int8", "rollout") == ("int8", "rollout")
    assert _split_variant(None, "auto") == (None, "auto")
    assert _split_variant("int4", "auto") == ("int4", "auto")  # not a variant: the bundle's list refuses it
    with pytest.raises(UserError, match="^--variant step-int8 is a step graph but --graph is rollout$"):
        _split_variant("step-int8", "rollout")


def _direct(document: dict, **shape) -> dict:
    """`document` with a user's direct multi-step model (models.<name>.forecaster) in place of lstm."""
    entry = document["models"]["lstm"]
    entry.update(kind="keras", units=0, forecaster={"window": 4, "channels": 1, "output": "direct", "horizon": 3,
                                                    "layers": ["LSTM", "Dense"], **shape})
    entry["variants"]["int8"]["output"]["shape"] = [1, 3]
    return document


def test_a_direct_models_shape_is_typed_and_round_trips(document):
    doc = BundleDocument.from_dict(copy.deepcopy(_direct(document)))
    assert doc.models["lstm"].forecaster.output == "direct" and doc.models["lstm"].block == 3
    assert doc.models["lstm"].forecaster.get("layers") == ["LSTM", "Dense"]  # the rest kept as written
    assert doc.models["ar"].forecaster is None and doc.models["ar"].block == 1  # trained here: one value per invoke
    assert doc.to_dict() == document


@pytest.mark.parametrize(("shape", "message"), [
    ({"output": "blocks"}, "models.lstm.forecaster.output must be one of sequence, next, direct"),
    ({"horizon": 1}, "models.lstm.forecaster.horizon must be more than 1 for a direct output and 1 otherwise"),
    ({"output": "next"}, "models.lstm.forecaster.horizon must be more than 1 for a direct output and 1 otherwise"),
    ({"horizon": "3"}, "models.lstm.forecaster.horizon has the wrong type"),
])
def test_a_bad_forecaster_shape_is_one_line(document, shape, message):
    with pytest.raises(UserError) as caught:
        BundleDocument.from_dict(_direct(document, **shape))
    assert str(caught.value) == "bundle.json: " + message


def test_a_seasonal_profile_is_checked_and_round_trips(document):
    """bundle.json's optional `profile` (train --profile; contracts.profile.ProfileRecord)."""
    profile = {"season": 3, "interval_seconds": 1800.0, "anchor_seconds": 1404172800.0,
               "anchor_time": "2014-07-01T00:00:00", "values": [1.0, 2.0, 3.0], "name": None,
               "context_last_seconds": 1404176400.0}
    document["profile"] = profile
    assert BundleDocument.from_dict(document).to_dict()["profile"] == profile
    for change, message in (({"values": [1.0]}, "profile.values must hold `season` (3) numbers"),
                            ({"interval_seconds": -1}, "profile.interval_seconds must be a positive number"),
                            ({"season": 1}, "profile.season must be an integer of at least 2")):
        document["profile"] = {**profile, **change}
        with pytest.raises(UserError, match=re.escape(f"bundle.json: {message}")):
            BundleDocument.from_dict(document)
