"""Which input and output of a graph is which: roles, positions, tensor indices, quantization.

Roles come from the tensor indices bundle.json records for step and stream graphs (`tensors`:
x, y and per state its input and output index), never from tensor names, so a stripped model
works too. TFLM addresses tensors by position (`interpreter.input(n)`), the other runtimes by
tensor index: both are kept, and stripping the names keeps both (it removes strings, never
reorders tensors).
"""

from __future__ import annotations

from edge_forecast.edge.step import state_order
from edge_forecast.tflite_file import subgraph_io, tensor_info


def _tensor(flatbuffer: bytes, index: int, position: int, role: str) -> dict:
    t = tensor_info(flatbuffer, index)
    return {"role": role, "position": position, "tensor": index, "dtype": t["dtype"],
            "shape": t["shape"], "scale": t["scale"], "zero_point": t["zero_point"]}


def graph_layout(flatbuffer: bytes, tensors: dict | None = None) -> dict:
    """{"inputs": [...], "outputs": [...]}: per tensor its role (x / y, h, c or a stack's h0, c0,
    h1, ...: a state input and the next state it becomes), position in the subgraph's list, tensor
    index, dtype, shape, scale and zero point (0.0 / 0 when not quantized).

    `tensors` is a step / stream variant's record in bundle.json ({"x": i, "y": j, "h": [in, out],
    ...}); without it the graph must have one input (x) and one output (y). ValueError otherwise.
    """
    ins, outs = subgraph_io(flatbuffer)
    if tensors is None:
        if len(ins) != 1 or len(outs) != 1:
            raise ValueError(f"a graph with {len(ins)} inputs and {len(outs)} outputs "
                             "needs its recorded tensor indices")
        tensors = {"x": ins[0], "y": outs[0]}
    states = state_order(tensors)  # h[, c], or a stack's h0, c0, h1, ...
    role_in = {int(tensors["x"]): "x", **{int(tensors[n][0]): n for n in states}}
    role_out = {int(tensors["y"]): "y", **{int(tensors[n][1]): n for n in states}}
    if sorted(role_in) != sorted(ins) or sorted(role_out) != sorted(outs):
        raise ValueError(f"recorded tensor indices {tensors} do not match the graph's inputs {ins} and outputs {outs}")
    return {"inputs": [_tensor(flatbuffer, t, i, role_in[t]) for i, t in enumerate(ins)],
            "outputs": [_tensor(flatbuffer, t, i, role_out[t]) for i, t in enumerate(outs)]}
