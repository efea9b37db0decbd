"""Read a .tflite flatbuffer's operators (name, version) without running it."""

from __future__ import annotations

from pathlib import Path


def tflite_schema():
    """The generated flatbuffer schema module of .tflite files (ai-edge-litert's, or TensorFlow's)."""
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:  # pragma: no cover - TensorFlow ships the same generated module
        from tensorflow.lite.python import schema_py_generated as schema
    return schema


def operator_list(path: Path) -> tuple[list[dict], int]:
    """[{name, version}] of every operator code used, and the number of subgraphs."""
    return operators_of(Path(path).read_bytes())


def float_islands(ops: list[dict]) -> list[str]:
    """Ops that put float32 inside an integer model (a DEQUANTIZE feeds float kernels)."""
    return sorted({op["name"] for op in ops} & {"DEQUANTIZE"})


def operators_of(flatbuffer: bytes) -> tuple[list[dict], int]:
    """operator_list of a model held in memory."""
    schema = tflite_schema()
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAs(flatbuffer, 0)
    ops = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = names.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            custom = code.CustomCode()
            name = "CUSTOM:" + (custom.decode() if custom else "?")
        ops.append({"name": name, "version": int(code.Version())})
    return ops, int(model.SubgraphsLength())


# A step / stream graph that keeps its state inside (export.graphs.build_state_inside): CALL_ONCE
# runs the subgraph that creates the variables, and its load / save signatures are subgraphs too
RESOURCE_VARIABLE_OPS = frozenset({"CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE"})


def state_inside(ops: list[dict]) -> bool:
    """Whether a model keeps state in resource variables."""
    return any(op["name"] in RESOURCE_VARIABLE_OPS for op in ops)


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
