"""Which input and output of a graph is which: roles, positions, tensor indices, quantization.

Roles come from the tensor indices bundle.json records for step and stream graphs (`tensors`:
x, y and per state its input and output index), never from tensor names, so a stripped model
works too. TFLM addresses tensors by position (`interpreter.input(n)`), the other runtimes by
tensor index: both are kept, and stripping the names keeps both (it removes strings, never
reorders tensors).
"""

from __future__ import annotations

import numpy as np

from edge_forecast.edge.step import STATE_NAMES
from edge_forecast.export.ops import tflite_schema


def _type_names() -> dict[int, str]:
    schema = tflite_schema()
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
    schema = tflite_schema()
    subgraph = schema.Model.GetRootAs(flatbuffer, 0).Subgraphs(0)
    types = _type_names()

    def details(index: int) -> dict:
        t = _tensor(subgraph, index, 0, "", types)
        name = subgraph.Tensors(index).Name()
        return {"name": name.decode() if name else "", "index": index, "shape": np.array(t["shape"], dtype=np.int32),
                "dtype": np.dtype(t["dtype"]).type, "quantization": (t["scale"], t["zero_point"])}

    return ([details(subgraph.Inputs(i)) for i in range(subgraph.InputsLength())],
            [details(subgraph.Outputs(i)) for i in range(subgraph.OutputsLength())])


def graph_layout(flatbuffer: bytes, tensors: dict | None = None) -> dict:
    """{"inputs": [...], "outputs": [...]}: per tensor its role (x / y, h, c: a state input and the
    next state it becomes), position in the subgraph's list, tensor index, dtype, shape, scale and
    zero point (0.0 / 0 when not quantized).

    `tensors` is a step / stream variant's record in bundle.json ({"x": i, "y": j, "h": [in, out],
    ...}); without it the graph must have one input (x) and one output (y). ValueError otherwise.
    """
    schema = tflite_schema()
    subgraph = schema.Model.GetRootAs(flatbuffer, 0).Subgraphs(0)
    types = _type_names()
    ins = [subgraph.Inputs(i) for i in range(subgraph.InputsLength())]
    outs = [subgraph.Outputs(i) for i in range(subgraph.OutputsLength())]
    if tensors is None:
        if len(ins) != 1 or len(outs) != 1:
            raise ValueError(f"a graph with {len(ins)} inputs and {len(outs)} outputs needs its recorded tensor indices")
        tensors = {"x": ins[0], "y": outs[0]}
    role_in = {int(tensors["x"]): "x", **{int(tensors[n][0]): n for n in STATE_NAMES if n in tensors}}
    role_out = {int(tensors["y"]): "y", **{int(tensors[n][1]): n for n in STATE_NAMES if n in tensors}}
    if sorted(role_in) != sorted(ins) or sorted(role_out) != sorted(outs):
        raise ValueError(f"recorded tensor indices {tensors} do not match the graph's inputs {ins} and outputs {outs}")
    return {"inputs": [_tensor(subgraph, t, i, role_in[t], types) for i, t in enumerate(ins)],
            "outputs": [_tensor(subgraph, t, i, role_out[t], types) for i, t in enumerate(outs)]}
