"""Step, rollout and stream graphs: exactness, int8 bounds, bundle records, O(1) --follow."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from conftest import GRAPH_STEPS, cli

from edge_forecast.bundle import load_bundle
from edge_forecast.contracts.bundle import VariantId
from edge_forecast.edge import Forecaster
from edge_forecast.edge.step import StepModel

ROLLOUT_STEPS = GRAPH_STEPS
GRAPH_VARIANTS = [f"{g}-{m}" for g in ("step", "rollout", "stream") for m in ("float32", "int8")]


@pytest.mark.slow
def test_graph_variants_and_state_records(graph_bundle):
    bundle = load_bundle(graph_bundle)
    bundle.verify_all()
    for model, units in (("lstm", 40), ("gru", 40)):
        assert bundle.variants(model) == ["float32", "int8", *GRAPH_VARIANTS]
        states = ["h", "c"] if model == "lstm" else ["h"]
        for name in GRAPH_VARIANTS:
            v = bundle.variant(model, name).to_dict()
            variant = VariantId.parse(name)
            graph, mode = variant.graph.value, variant.mode.value
            assert (v["graph"], v["mode"]) == (graph, mode) and graph != "window"
            assert "WHILE" not in {op["name"] for op in v["ops"]}
            assert v["runtimes"]["litert"]["ok"] is True
            if graph == "rollout":
                assert v["horizon"] == ROLLOUT_STEPS and v["input"]["shape"] == [1, 20, 1]
                continue
            rows = 20 if graph == "step" else 1
            assert list(v["state"]) == states
            for s in v["state"].values():
                assert s["shape"] == [rows, units] and s["dtype"] == ("int8" if mode == "int8" else "float32")
                if mode == "int8":
                    assert s["scale"] > 0 and s["output"]["scale"] > 0
            assert v["state_store"] == "variables"  # the state is inside: micro does not take it
            assert v["runtimes"]["tflite-micro"]["ok"] in (False, None)
            assert v["tensors"] == StepModel.from_file(graph_bundle / v["file"], Forecaster(bundle).runtime).tensors


@pytest.mark.slow
def test_exact_step_equals_window_model_over_a_long_closed_loop(graph_bundle):
    bundle = load_bundle(graph_bundle)
    steps = 180
    for model in ("lstm", "gru"):
        window = Forecaster(bundle, model=model, graph="window").forecast(horizon=steps)
        step = Forecaster(bundle, model=model, graph="step").forecast(horizon=steps)
        keras = np.asarray(bundle.model(model).keras["closed_loop"])[:steps]
        assert np.max(np.abs(step - window)) <= 1e-5
        assert np.max(np.abs(step - keras)) <= 1e-5
        rollout = Forecaster(bundle, model=model, graph="rollout").forecast(horizon=ROLLOUT_STEPS)
        assert np.max(np.abs(rollout - window[:ROLLOUT_STEPS])) <= 1e-5


@pytest.mark.slow
def test_int8_graphs_stay_within_the_bound_recorded_at_export(graph_bundle):
    bundle = load_bundle(graph_bundle)
    for model in ("lstm", "gru"):
        keras = np.asarray(bundle.model(model).keras["closed_loop"])
        for graph, steps in (("step", keras.size), ("rollout", ROLLOUT_STEPS)):
            recorded = bundle.variant(model, f"{graph}-int8").errors["closed_loop_max_abs_vs_keras"]
            got = Forecaster(bundle, model=model, variant="int8", graph=graph).forecast(horizon=steps)
            assert np.isfinite(recorded)
            assert np.max(np.abs(got - keras[:steps])) <= recorded + 1e-6


@pytest.mark.slow
def test_follow_costs_one_invoke_per_line_on_the_step_graph(graph_bundle, invokes):
    from edge_forecast.edge.cli_run import follow_stream

    bundle = load_bundle(graph_bundle)
    values = bundle.truth[:60]
    for graph, horizon in (("auto", 1), ("auto", 4), ("stream", 1)):
        f = Forecaster(bundle, model="lstm", graph=graph)
        assert f._stepper is not None
        before = len(invokes)  # loading primed the step graph on the context window (W invokes)
        lines = io.StringIO("".join(f"{v}\n" for v in values))
        out = io.StringIO()
        assert follow_stream(f, horizon, "csv", lines, out, io.StringIO()) == values.size
        # O(1) per observation, independent of the window
        assert len(invokes) - before == values.size * horizon
    # the step graph's follow forecasts equal the window graph's
    a, b = Forecaster(bundle, model="lstm", graph="step"), Forecaster(bundle, model="lstm", graph="window")
    for v in values[:25]:
        assert np.allclose(a.update(v, 3), b.update(v, 3), atol=1e-5)


@pytest.mark.parametrize("variant", ["step-int8", "step-float32"])
def test_step_state_handover_allocates_nothing_per_step(graph_bundle, variant):
    import tracemalloc

    bundle = load_bundle(graph_bundle)
    entry = bundle.variant("lstm", variant)
    model = StepModel.from_file(graph_bundle / entry.file, Forecaster(bundle).runtime, tensors=entry.tensors)
    state_bytes = sum(int(np.prod(s["shape"])) * np.dtype(s["dtype"]).itemsize for s in entry.state.values())
    y = model.prime(np.zeros(20))
    tracemalloc.start()
    for _ in range(200):
        y = model.push(y)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert current < 4096  # nothing kept per step
    # nor made within a step: a state-sized array (state_bytes) per step would show in the peak;
    # measured 256 bytes (array headers, scalars). The interpreter's get_tensor copies are not
    # in Python's traced heap, so this bounds what the Python side allocates per step.
    assert peak < min(4096, state_bytes), (peak, state_bytes)


def test_recorded_tensor_indices_are_the_signatures_and_checked(graph_bundle, explicit_bundle):
    for root in (graph_bundle, explicit_bundle):
        bundle = load_bundle(root)
        entry = bundle.variant("lstm", "step-float32").to_dict()
        path, runtime = root / entry["file"], Forecaster(bundle).runtime
        assert StepModel.from_file(path, runtime).tensors == entry["tensors"]
        swapped = {**entry["tensors"], "x": entry["tensors"]["y"], "y": entry["tensors"]["x"]}
        bad = [swapped, {"x": 0}]
        if "c" in entry["tensors"]:  # explicit state: the state pairs are checked too
            bad.append({**entry["tensors"], "h": entry["tensors"]["c"][::-1]})
        for tensors in bad:
            with pytest.raises(ValueError, match="not a step graph"):
                StepModel.from_file(path, runtime, tensors=tensors)


@pytest.mark.slow
def test_run_graph_option_and_errors(graph_bundle, tiny_bundle):
    done = cli("run", str(graph_bundle), "--model", "gru", "--graph", "rollout", "--horizon", "10", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["graph"] == "rollout"
    # auto: the rollout graph where it reaches, the step graph beyond it; the JSON says which ran
    beyond = cli("run", str(graph_bundle), "--model", "gru", "--horizon", str(ROLLOUT_STEPS + 1), "--format", "json")
    assert beyond.returncode == 0, beyond.stderr
    assert json.loads(beyond.stdout)["graph"] == "step"
    assert len(json.loads(beyond.stdout)["forecast"]) == ROLLOUT_STEPS + 1
    too_long = cli("run", str(graph_bundle), "--model", "gru", "--graph", "rollout",
                   "--horizon", str(ROLLOUT_STEPS + 1))
    assert too_long.returncode == 2 and "rollout graph forecasts" in too_long.stderr
    assert "(use --graph auto, step, stream or window)" in too_long.stderr
    missing = cli("run", str(tiny_bundle), "--graph", "step", "--horizon", "3")
    assert missing.returncode == 2 and "no step graph" in missing.stderr and "Traceback" not in missing.stderr


@pytest.mark.slow
def test_forecast_leaves_the_state_at_the_history_on_every_graph(graph_bundle):
    """A later update appends its observation after the history, whichever graph forecast."""
    bundle = load_bundle(graph_bundle)
    truth = bundle.truth
    history, steps = truth[40:60], 10
    forecasters = [Forecaster(bundle, model="lstm", graph=g) for g in ("auto", "step", "window")]
    assert forecasters[0]._state is None  # the window graph is not loaded when nothing runs on it
    forecasts = [f.forecast(history, horizon=steps) for f in forecasters]
    assert all(np.allclose(f, forecasts[2], atol=1e-5) for f in forecasts)
    after = [f.update(truth[60], horizon=3) for f in forecasters]
    reference = Forecaster(bundle, model="lstm", graph="window")
    reference.reset(history)
    expected = reference.update(truth[60], horizon=3)
    assert all(np.allclose(a, expected, atol=1e-5) for a in after)
