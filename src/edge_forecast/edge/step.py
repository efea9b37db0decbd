"""Explicit-state graphs on the device: the exact step / stream graph and the one-invoke rollout.

A step graph has inputs x (1, 1) and state tensors, outputs y (1, 1) and the next states. Its
tensors are found by name (the bundle records them): the converter names inputs
`serving_default_<name>:0` and outputs `...:<k>` in the model's output order (y, then the states).
The state lives in the interpreter's input tensors: after an invoke the next-state outputs are
copied into them through numpy views of the tensor buffers (no array allocated per step; an int8
graph whose input and output state scales differ is requantized through preallocated buffers).

The views are made once and held. The Python interpreters refuse `invoke()` while a view is alive
(their guard against buffers moving under a view), and buffers move only on allocate_tensors or a
resize, which this class never calls after construction. So it calls the native Invoke directly;
making fresh views for every step cost more than the invoke itself (measured in
benchmarks/graphs.py). A runtime without that native handle falls back to set_tensor/get_tensor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_forecast.edge.artifact import TensorQuant
from edge_forecast.edge.runtime import Runtime, make_interpreter


def input_role(name: str) -> str:
    """'serving_default_h:0' -> 'h'."""
    base = name.split(":")[0]
    return base[len("serving_default_"):] if base.startswith("serving_default_") else base


def output_position(name: str) -> int:
    """'StatefulPartitionedCall_1:2' -> 2 (the model's output order)."""
    tail = name.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class _Handover:
    """Copies one next-state output into its state input, requantizing if the scales differ."""

    def __init__(self, src_view: np.ndarray, dst_view: np.ndarray, src: dict, dst: dict) -> None:
        self._src, self._dst = src_view, dst_view
        sq, dq = TensorQuant.from_details(src), TensorQuant.from_details(dst)
        # scales that differ in the last float bit (the converter's rounding) count as equal: a
        # plain copy is then exact to within one quantization step of 1e-7 relative error
        self._same = not (sq.quantized or dq.quantized) or (
            sq.dtype == dq.dtype and sq.zero_point == dq.zero_point and abs(sq.scale / dq.scale - 1.0) < 1e-6)
        if not self._same:
            shape = tuple(int(d) for d in dst["shape"])
            self._tmp = np.empty(shape, dtype=np.float32)
            self._a = np.float32(sq.scale / dq.scale)
            self._b = np.float32(dq.zero_point - sq.zero_point * sq.scale / dq.scale)
            info = np.iinfo(dq.dtype)
            self._lo, self._hi = info.min, info.max

    def __call__(self) -> None:
        if self._same:
            np.copyto(self._dst, self._src)
            return
        tmp = self._tmp
        np.multiply(self._src, self._a, out=tmp)
        tmp += self._b
        np.rint(tmp, out=tmp)
        np.clip(tmp, self._lo, self._hi, out=tmp)
        np.copyto(self._dst, tmp, casting="unsafe")


class StepModel:
    """A step (exact, staggered W rows) or stream (one row) graph: push a value, get the next."""

    def __init__(self, path: Path, runtime: Runtime, threads: int | None = None) -> None:
        self.path = Path(path)
        self.runtime = runtime
        self.interpreter = interp = make_interpreter(runtime, self.path, threads)
        inputs = {input_role(d["name"]): d for d in interp.get_input_details()}
        outputs = sorted(interp.get_output_details(), key=lambda d: output_position(d["name"]))
        if "x" not in inputs or len(outputs) != len(inputs):
            raise ValueError(f"{self.path.name}: not a step graph (inputs {sorted(inputs)})")
        self.state_names = [n for n in ("h", "c") if n in inputs]
        self.states = {n: inputs[n] for n in self.state_names}
        self.rows = int(inputs["h"]["shape"][0])
        self.input_quant = TensorQuant.from_details(inputs["x"])
        self.output_quant = TensorQuant.from_details(outputs[0])
        self.x_index = int(inputs["x"]["index"])
        self.y_index = int(outputs[0]["index"])
        native = getattr(interp, "_interpreter", None)
        self._invoke = getattr(native, "Invoke", None)
        if self._invoke is None:  # pragma: no cover - every supported runtime has the native handle
            raise ValueError(f"{self.path.name}: this runtime's interpreter exposes no native Invoke")

        def view(detail: dict) -> np.ndarray:
            return interp.tensor(int(detail["index"]))()

        self._xv, self._yv = view(inputs["x"]), view(outputs[0])
        self._views = {n: view(d) for n, d in self.states.items()}
        self._handover = [_Handover(view(outputs[1 + i]), self._views[n], outputs[1 + i], inputs[n])
                          for i, n in enumerate(self.state_names)]
        self._zero_state = {n: TensorQuant.from_details(d).quantize(np.zeros(d["shape"])) for n, d in self.states.items()}
        iq, oq = self.input_quant, self.output_quant
        self._in = (1.0 / iq.scale, iq.zero_point, *_limits(iq)) if iq.quantized else None
        self._out = (oq.scale, oq.zero_point) if oq.quantized else (1.0, 0)
        self.last = 0.0
        self.reset()

    def reset(self) -> None:
        """Zero state: every row starts an empty window."""
        for name, view in self._views.items():
            view[...] = self._zero_state[name]

    def invoke(self) -> None:
        """The bare invoke (the public one refuses while this class holds its views)."""
        self._invoke()

    def push(self, value: float) -> float:
        """Feed one model-unit value; return the graph's prediction of the next (one invoke)."""
        if self._in is not None:
            inv, zp, lo, hi = self._in
            q = round(value * inv) + zp
            value = lo if q < lo else hi if q > hi else q
        self._xv[0, 0] = value
        self._invoke()
        for hand in self._handover:
            hand()
        self.last = (float(self._yv[0, 0]) - self._out[1]) * self._out[0]
        return self.last

    def prime(self, values: np.ndarray) -> float:
        """Reset and feed `values` (model units); the result is the forecast after them. For the
        exact step graph W values make every row exact: each row restarted from zero within them."""
        self.reset()
        for v in np.asarray(values, dtype=np.float64).reshape(-1):
            self.push(float(v))
        return self.last

    def snapshot(self) -> tuple[dict[str, np.ndarray], float]:
        return {n: v.copy() for n, v in self._views.items()}, self.last

    def restore(self, saved: tuple[dict[str, np.ndarray], float]) -> None:
        for name, view in self._views.items():
            view[...] = saved[0][name]
        self.last = saved[1]

    def state_details(self) -> dict:
        """bundle.json's record of the state tensors (shape, dtype, quantization, names)."""
        interp = self.interpreter
        outputs = sorted(interp.get_output_details(), key=lambda d: output_position(d["name"]))
        out = {}
        for i, name in enumerate(self.state_names):
            d = self.states[name]
            out[name] = {**TensorQuant.from_details(d).to_dict(), "shape": [int(s) for s in d["shape"]],
                         "input_name": d["name"], "output_name": outputs[1 + i]["name"],
                         "output": TensorQuant.from_details(outputs[1 + i]).to_dict()}
        return out


def _limits(q: TensorQuant) -> tuple[int, int]:
    info = np.iinfo(q.dtype)
    return int(info.min), int(info.max)


class RolloutModel:
    """Window (1, W, 1) in, the H-step closed-loop forecast (1, H) out, in one invoke."""

    def __init__(self, path: Path, runtime: Runtime, threads: int | None = None) -> None:
        self.path = Path(path)
        self.interpreter = make_interpreter(runtime, self.path, threads)
        inp, out = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inp) != 1 or len(out) != 1:
            raise ValueError(f"{self.path.name}: expected one input and one output tensor")
        self.input_index, self.output_index = int(inp[0]["index"]), int(out[0]["index"])
        self.input_shape = tuple(int(d) for d in inp[0]["shape"])
        self.window = self.input_shape[1]
        self.horizon = int(out[0]["shape"][-1])
        self.input_quant = TensorQuant.from_details(inp[0])
        self.output_quant = TensorQuant.from_details(out[0])

    def forecast(self, window_values: np.ndarray) -> np.ndarray:
        """The H closed-loop values after `window_values` (model units)."""
        self.interpreter.set_tensor(self.input_index, self.input_quant.quantize(window_values).reshape(self.input_shape))
        self.interpreter.invoke()
        return self.output_quant.dequantize(self.interpreter.get_tensor(self.output_index)).reshape(-1)


class StepWindow:
    """The SlidingWindow interface (fill / predict / push) over a step or stream graph, so the
    closed loops and benchmarks written for the window graph run unchanged: predict is free (the
    last invoke already produced the value), push is the one invoke per step."""

    def __init__(self, model: StepModel) -> None:
        self.model = model

    def fill(self, values: np.ndarray) -> None:
        self.model.prime(values)

    def predict(self) -> float:
        return self.model.last

    def push(self, value: float) -> None:
        self.model.push(value)

    def snapshot(self):
        return self.model.snapshot()

    def restore(self, saved) -> None:
        self.model.restore(saved)


class RolloutWindow:
    """The SlidingWindow interface over a rollout graph: the first predict after fill is the one
    invoke that computes all H values; predict / push then walk through them."""

    def __init__(self, model: RolloutModel) -> None:
        self.model = model
        self._values = np.zeros(model.window)
        self._forecast: np.ndarray | None = None
        self._pos = 0

    def fill(self, values: np.ndarray) -> None:
        self._values = np.asarray(values, dtype=np.float64)[-self.model.window:]
        self._forecast, self._pos = None, 0

    def predict(self) -> float:
        if self._forecast is None:
            self._forecast = self.model.forecast(self._values)
        if self._pos >= self._forecast.size:
            raise ValueError(f"the rollout graph forecasts {self._forecast.size} steps; more were asked")
        return float(self._forecast[self._pos])

    def push(self, value: float) -> None:
        self._pos += 1
