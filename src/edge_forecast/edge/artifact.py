"""One loaded .tflite window model: quantization constants and the no-allocation hot loop."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_forecast.edge.quantize import ScalarQuantizer, quantize
from edge_forecast.edge.runtime import Runtime, make_interpreter


@dataclass(frozen=True)
class TensorQuant:
    """How model-unit floats map to a tensor's stored values: q = round(x / scale) + zero_point,
    computed as the interpreter's QUANTIZE kernel does (edge.quantize)."""

    dtype: np.dtype
    scale: float
    zero_point: int

    @property
    def quantized(self) -> bool:
        return np.issubdtype(self.dtype, np.integer) and self.scale != 0.0

    @classmethod
    def from_details(cls, details: dict) -> TensorQuant:
        scale, zero_point = details.get("quantization", (0.0, 0))
        return cls(np.dtype(details["dtype"]), float(scale), int(zero_point))

    def quantize(self, x: np.ndarray) -> np.ndarray:
        if not self.quantized:
            return np.asarray(x, dtype=self.dtype)
        return quantize(x, self.scale, self.zero_point, self.dtype)

    def scalar_quantizer(self) -> ScalarQuantizer | None:
        """The same rule for one float at a time (the hot loop); None for a float tensor."""
        return ScalarQuantizer(self.scale, self.zero_point, self.dtype) if self.quantized else None

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        if not self.quantized:
            return np.asarray(q, dtype=np.float64)
        return (np.asarray(q, dtype=np.float64) - self.zero_point) * self.scale

    def to_dict(self) -> dict:
        return {"dtype": self.dtype.name, "scale": self.scale, "zero_point": self.zero_point}


class WindowModel:
    """A window graph: input (1, W, 1) in model units, output the next value (1, 1), or for a
    direct multi-step model the next H values (1, H): `block` = H, the first is the next value.
    A model of F channels: input (1, W, F), output F values per position (1, F) or (1, H x F),
    time-major; its values are W x F flat (`values`), and `block` counts values, not positions.

    `interpreter`: any with tensors allocated and the TFLite Python interface (ai-edge-litert,
    tflite-runtime, tensorflow.lite, or micro's adapter); `name` labels its errors."""

    def __init__(self, interpreter, name: str = "model") -> None:
        self.name = name
        self.interpreter = interpreter
        inp = self.interpreter.get_input_details()
        out = self.interpreter.get_output_details()
        if len(inp) != 1 or len(out) != 1:
            raise ValueError(f"{name}: expected one input and one output tensor")
        self.input_index = int(inp[0]["index"])
        self.output_index = int(out[0]["index"])
        self.input_shape = tuple(int(d) for d in inp[0]["shape"])
        self.window = int(self.input_shape[1])
        self.channels = int(self.input_shape[2]) if len(self.input_shape) > 2 else 1
        self.values = self.window * self.channels  # a window flat, time-major
        self.block = int(np.prod(out[0]["shape"]))  # values per invoke
        self.input_quant = TensorQuant.from_details(inp[0])
        self.output_quant = TensorQuant.from_details(out[0])

    @classmethod
    def from_file(cls, path: Path, runtime: Runtime, threads: int | None = None) -> WindowModel:
        return cls(make_interpreter(runtime, path, threads), Path(path).name)

    def predict(self, window_values: np.ndarray) -> float:
        """One invoke on a window in model units (convenient, allocates: not the hot loop); the
        next value (a direct model's first)."""
        return float(self.predict_block(window_values)[0])

    def predict_block(self, window_values: np.ndarray) -> np.ndarray:
        """One invoke: every output value, float64 (block,), model units."""
        self.interpreter.set_tensor(self.input_index,
                                    self.input_quant.quantize(window_values).reshape(self.input_shape))
        self.interpreter.invoke()
        return self.output_quant.dequantize(self.interpreter.get_tensor(self.output_index)).reshape(-1)

    def predict_many(self, windows: np.ndarray) -> np.ndarray:
        """The next value (the first of each invoke's) for windows (n, W[, F])."""
        return np.array([self.predict(w) for w in np.asarray(windows).reshape(len(windows), -1)])

    def predict_blocks(self, windows: np.ndarray) -> np.ndarray:
        """(n, block) outputs for windows (n, W)."""
        return np.array([self.predict_block(w) for w in np.asarray(windows).reshape(len(windows), -1)])


class SlidingWindow:
    """The closed-loop state: the last W inputs, already in the input tensor's dtype (of F
    channels: the last W x F values, time-major; blocks of F values keep it aligned to positions).

    A doubled ring buffer (each value written at p and p+W) makes the current window a
    contiguous slice; one precomputed view per ring position means a step allocates no array.
    A direct multi-step model (`block` = H > 1) also predicts and feeds back H values at a time
    (`predict_block` / `push_block`: forecast.run_block_loop).
    """

    def __init__(self, model: WindowModel) -> None:
        self.model = model
        self._w = w = model.values
        q = model.input_quant
        # the per-step calls, bound once (the hot loop is a few microseconds per step)
        interp = model.interpreter
        self._set, self._invoke, self._get = interp.set_tensor, interp.invoke, interp.get_tensor
        self._in, self._out = model.input_index, model.output_index
        self._buf = np.zeros(2 * w, dtype=q.dtype)
        self._views = [self._buf[p + 1 : p + 1 + w].reshape(model.input_shape) for p in range(w)]
        self._pos = w - 1
        self._quantize = q.scalar_quantizer()
        oq = model.output_quant
        self._out_scale, self._out_zp = (oq.scale, oq.zero_point) if oq.quantized else (1.0, 0)
        self.block = model.block
        self._block = np.empty(model.block, dtype=np.float64)

    def fill(self, values: np.ndarray) -> None:
        """Load the last W model-unit values (oldest first; W x F flat, time-major, of F channels)."""
        w = self._w
        q = self.model.input_quant.quantize(np.asarray(values, dtype=np.float64).reshape(-1)[-w:])
        self._buf[:w] = q
        self._buf[w:] = q
        self._pos = w - 1

    def push(self, value: float) -> None:
        if self._quantize is not None:
            value = self._quantize(value)
        w, buf = self._w, self._buf
        self._pos = pos = (self._pos + 1) % w
        buf[pos] = value
        buf[pos + w] = value

    def predict(self) -> float:
        """Invoke on the current window; the next value in model units (a direct model's first)."""
        self._set(self._in, self._views[self._pos])
        self._invoke()
        return (self._get(self._out).item(0) - self._out_zp) * self._out_scale

    def predict_block(self) -> np.ndarray:
        """Invoke on the current window; its `block` values in model units, in a buffer that the
        next call overwrites."""
        self._set(self._in, self._views[self._pos])
        self._invoke()
        out = self._block
        np.subtract(self._get(self._out).reshape(-1), self._out_zp, out=out, dtype=np.float64)
        out *= self._out_scale
        return out

    def push_block(self, values: np.ndarray) -> None:
        for value in values:
            self.push(float(value))

    def snapshot(self) -> tuple[np.ndarray, int]:
        return self._buf.copy(), self._pos

    def restore(self, saved: tuple[np.ndarray, int]) -> None:
        self._buf[:] = saved[0]
        self._pos = saved[1]
