"""Which operators export accepts in a .tflite file (read by edge_forecast.tflite_file)."""

from __future__ import annotations

from edge_forecast.tflite_file import state_inside


def float_islands(ops: list[dict]) -> list[str]:
    """Ops that put float32 inside an integer model (a DEQUANTIZE feeds float kernels)."""
    return sorted({op["name"] for op in ops} & {"DEQUANTIZE"})


def branching(ops: list[dict], subgraphs: int) -> bool:
    """Whether a model has control flow: more than one subgraph, except a state-inside graph's
    (resource variables, no IF or WHILE)."""
    return subgraphs != 1 and not (state_inside(ops) and not {op["name"] for op in ops} & {"IF", "WHILE"})


def refused_ops(ops: list[dict]) -> list[str]:
    """Ops a device runtime cannot be trusted with: control flow loops, Flex and custom ops."""
    bad = []
    for op in ops:
        name = op["name"]
        if name == "WHILE" or name.startswith("CUSTOM") or name.startswith("Flex"):
            bad.append(name)
    return bad
