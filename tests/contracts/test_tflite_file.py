"""edge_forecast.tflite_file reads a .tflite file as the interpreters see it."""

from __future__ import annotations

import numpy as np

from edge_forecast.bundle import load_bundle
from edge_forecast.edge.runtime import Runtime, make_interpreter
from edge_forecast.tflite_file import io_details, operators_of


def _same(ours: list[dict], theirs: list[dict]) -> None:
    assert [d["index"] for d in ours] == [int(d["index"]) for d in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert a["shape"].tolist() == np.asarray(b["shape"]).tolist()
        assert np.dtype(a["dtype"]) == np.dtype(b["dtype"])
        assert a["quantization"] == (float(b["quantization"][0]), int(b["quantization"][1]))


def test_inputs_outputs_and_operators_of_every_graph_kind(graph_bundle):
    """Window, step, stream and rollout graphs, float and integer: the tensors ai-edge-litert
    reports, in its order; the operators' names, state-inside graphs' several subgraphs."""
    bundle = load_bundle(graph_bundle)
    graphs = set()
    for model in bundle.models:
        for variant, entry in bundle.model(model).variants.items():
            path = bundle.artifact_path(model, variant)
            data = path.read_bytes()
            interp = make_interpreter(Runtime.LITERT, path)
            ins, outs = io_details(data)
            _same(ins, interp.get_input_details())
            _same(outs, interp.get_output_details())
            ops, subgraphs = operators_of(data)
            assert ops and all(not op["name"].startswith("BUILTIN_") for op in ops)
            if entry.get("state_store") is not None:  # the state's load / save signatures are subgraphs
                assert subgraphs > 1 and "CALL_ONCE" in {op["name"] for op in ops}
            else:
                assert subgraphs == 1
            graphs.add(entry.graph.value)
    assert {"window", "step", "stream", "rollout"} <= graphs
