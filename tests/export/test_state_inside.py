"""Step and stream graphs whose recurrent state lives in the interpreter (#16): the same forecasts
as the explicit-state graphs, older bundles still run, micro keeps the explicit-state graph."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import cli

from edge_forecast.bundle import BUNDLE_MINOR, load_bundle
from edge_forecast.edge import Forecaster
from edge_forecast.edge.step import StepModel
from edge_forecast.errors import UserError


def test_export_refuses_an_unknown_step_state_in_one_line(tmp_path):
    done = cli("export", str(tmp_path), "--out", str(tmp_path / "b"), "--step-state", "outside")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "inside" in lines[0] and "explicit" in lines[0]


@pytest.mark.slow
def test_state_inside_float32_equals_the_explicit_state_graph(graph_bundle, explicit_bundle):
    inside, explicit = load_bundle(graph_bundle), load_bundle(explicit_bundle)
    assert inside.document.format_minor == BUNDLE_MINOR
    truth = inside.scaler.transform(inside.truth)
    for model in ("lstm", "gru"):
        for graph in ("step", "stream"):
            a = Forecaster(inside, model, f"{graph}-float32", graph=graph)
            b = Forecaster(explicit, model, f"{graph}-float32", graph=graph)
            assert a._stepper.inside and not b._stepper.inside
            assert np.max(np.abs(a.forecast(None, 180) - b.forecast(None, 180))) <= 1e-6
            # teacher-forced over the whole evaluation segment: nothing fed back to hide a difference
            forced = [np.array([m.push(float(v)) for v in truth]) for m in (a._stepper, b._stepper)]
            assert np.max(np.abs(forced[0] - forced[1])) <= 1e-6


@pytest.mark.slow
def test_state_inside_int8_is_integer_throughout_with_its_state_quantized(graph_bundle):
    bundle = load_bundle(graph_bundle)
    for model in ("lstm", "gru"):
        for graph in ("step", "stream"):
            v = bundle.variant(model, f"{graph}-int8").to_dict()
            ops = {op["name"] for op in v["ops"]}
            assert {"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE"} <= ops and "DEQUANTIZE" not in ops
            assert all(s["dtype"] == "int8" for s in v["state"].values())
            assert v["full_integer"] is True


@pytest.mark.slow
def test_an_explicit_state_bundle_without_format_minor_runs_through_the_explicit_path(explicit_bundle, tmp_path):
    copy = tmp_path / "old"
    shutil.copytree(explicit_bundle, copy)
    doc = json.loads((copy / "bundle.json").read_text())
    del doc["format_minor"]  # as bundles before #16's state-inside graphs were written
    for model in doc["models"].values():
        assert all("state_store" not in v for v in model["variants"].values())
    (copy / "bundle.json").write_text(json.dumps(doc))
    old, new = load_bundle(copy), load_bundle(explicit_bundle)
    for graph in ("step", "stream"):
        f = Forecaster(old, "lstm", "int8", graph=graph)
        assert not f._stepper.inside and f._stepper._copies + f._stepper._requantize
        assert np.array_equal(f.forecast(None, 40), Forecaster(new, "lstm", "int8", graph=graph).forecast(None, 40))


@pytest.mark.slow
def test_micro_refuses_state_inside_variants_and_names_the_export_option(graph_bundle):
    pytest.importorskip("tflite_micro")
    from edge_forecast.micro.command import choose_items

    bundle = load_bundle(graph_bundle)
    status = bundle.variant("lstm", "step-int8").runtimes["tflite-micro"]
    assert status.ok is False and "--step-state explicit" in status.error
    assert ("lstm", "step-int8") not in choose_items(bundle, "lstm", None)
    with pytest.raises(UserError, match="--step-state explicit"):
        choose_items(bundle, "lstm", "step-int8")


@pytest.mark.slow
def test_a_snapshot_costs_no_invoke_of_the_step(graph_bundle, invokes):
    """Snapshot and restore run the `step_save` / `step_load` signatures, never the step itself."""
    bundle = load_bundle(graph_bundle)
    f = Forecaster(bundle, "lstm", "stream-float32", graph="stream")
    before = len(invokes)
    f.update(0.1, horizon=5)
    assert len(invokes) - before == 5  # one step for the observation, 4 for the horizon's feedback
    model = StepModel.from_file(graph_bundle / bundle.variant("lstm", "step-int8").file, f.runtime)
    assert model.inside and model.tensors == bundle.variant("lstm", "step-int8").tensors
