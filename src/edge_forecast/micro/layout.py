"""Which input and output of a graph is which: roles, positions, tensor indices, quantization.

Read from the flatbuffer's tensor names (the converter's `serving_default_<name>:0` inputs and
`...:<k>` outputs in the model's output order), so it needs the unstripped model. TFLM addresses
tensors by position (`interpreter.input(n)`), the other runtimes by tensor index: both are kept,
and stripping the names keeps both (it removes strings, never reorders tensors).
"""

from __future__ import annotations

import numpy as np

from edge_forecast.edge.step import input_role, output_position
from edge_forecast.export.ops import _schema

STATE_ROLES = ("h", "c")


def _type_names() -> dict[int, str]:
    schema = _schema()
    return {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}


def _tensor(subgraph, index: int, position: int, role: str, types: dict[int, str]) -> dict:
    tensor = subgraph.Tensors(index)
    quant = tensor.Quantization()
    scale = float(quant.Scale(0)) if quant is not None and quant.ScaleLength() else 0.0
    zero_point = int(quant.ZeroPoint(0)) if quant is not None and quant.ZeroPointLength() else 0
    return {"role": role, "position": position, "tensor": index, "dtype": types[tensor.Type()],
            "shape": [int(d) for d in tensor.ShapeAsNumpy()], "scale": scale, "zero_point": zero_point}


def io_details(flatbuffer: bytes) -> tuple[list[dict], list[dict]]:
    """The subgraph's inputs and outputs in their order, as the Python interpreters describe them
    (`name`, `index`: tensor index, `shape`, `dtype`, `quantization`: (scale, zero point))."""
    schema = _schema()
    subgraph = schema.Model.GetRootAs(flatbuffer, 0).Subgraphs(0)
    types = _type_names()

    def details(index: int) -> dict:
        t = _tensor(subgraph, index, 0, "", types)
        name = subgraph.Tensors(index).Name()
        return {"name": name.decode() if name else "", "index": index, "shape": np.array(t["shape"], dtype=np.int32),
                "dtype": np.dtype(t["dtype"]).type, "quantization": (t["scale"], t["zero_point"])}

    return ([details(subgraph.Inputs(i)) for i in range(subgraph.InputsLength())],
            [details(subgraph.Outputs(i)) for i in range(subgraph.OutputsLength())])


def graph_layout(flatbuffer: bytes) -> dict:
    """{"inputs": [...], "outputs": [...]}: per tensor its role (x / y, h, c: a state input and the
    next state it becomes), position in the subgraph's list, tensor index, dtype, shape, scale and
    zero point (0.0 / 0 when not quantized)."""
    schema = _schema()
    subgraph = schema.Model.GetRootAs(flatbuffer, 0).Subgraphs(0)
    types = _type_names()
    names_in = [subgraph.Tensors(subgraph.Inputs(i)).Name().decode() for i in range(subgraph.InputsLength())]
    roles_in = [input_role(n) if len(names_in) > 1 else "x" for n in names_in]
    inputs = [_tensor(subgraph, subgraph.Inputs(i), i, role, types) for i, role in enumerate(roles_in)]
    states = [r for r in STATE_ROLES if r in roles_in]
    order = sorted(range(subgraph.OutputsLength()),
                   key=lambda i: output_position(subgraph.Tensors(subgraph.Outputs(i)).Name().decode()))
    roles_out = ["y", *states]
    outputs = [_tensor(subgraph, subgraph.Outputs(i), i, roles_out[k] if k < len(roles_out) else f"out{k}", types)
               for k, i in enumerate(order)]
    return {"inputs": inputs, "outputs": sorted(outputs, key=lambda t: t["position"])}
