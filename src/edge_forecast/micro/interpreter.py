"""TFLM's Python interpreter behind the interface the device classes use (verification only).

`WindowModel`, `SlidingWindow`, `StepModel` and `StepWindow` drive ai-edge-litert, tflite-runtime
and tensorflow.lite through the public `get_input_details`, `set_tensor` / `get_tensor` and
`invoke`. tflite-micro addresses inputs and outputs by position, so this adapter keeps one numpy
buffer per input and output tensor (by tensor index) and copies them in and out around each
invoke: the project's own closed loop and streaming code then run unchanged on the
microcontroller interpreter (host reference kernels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_forecast.edge.runtime import MICRO, Runtime, make_interpreter
from edge_forecast.tflite_file import io_details

VERIFY_ARENA_BYTES = 4 * 1024 * 1024  # generous: verification is not where the arena is measured


class MicroInterpreter:
    """A tflite-micro interpreter over one .tflite file, with tensors allocated."""

    def __init__(self, model_path: str | Path, arena_size: int = VERIFY_ARENA_BYTES) -> None:
        from tflite_micro.python.tflite_micro import runtime

        data = Path(model_path).read_bytes()
        self._tflm = runtime.Interpreter.from_bytes(data, arena_size=arena_size)
        self._inputs, self._outputs = io_details(data)
        self._buffers = {int(d["index"]): np.zeros(d["shape"], dtype=d["dtype"]) for d in self._inputs + self._outputs}

    def allocate_tensors(self) -> None:
        """Allocated at construction (TFLM allocates the whole arena plan once)."""

    def get_input_details(self) -> list[dict]:
        return [dict(d) for d in self._inputs]

    def get_output_details(self) -> list[dict]:
        return [dict(d) for d in self._outputs]

    def set_tensor(self, index: int, value: np.ndarray) -> None:
        np.copyto(self._buffers[int(index)], np.asarray(value).reshape(self._buffers[int(index)].shape))

    def get_tensor(self, index: int) -> np.ndarray:
        return self._buffers[int(index)].copy()

    def invoke(self) -> None:
        for position, detail in enumerate(self._inputs):
            self._tflm.set_input(self._buffers[int(detail["index"])], position)
        self._tflm.invoke()
        for position, detail in enumerate(self._outputs):
            np.copyto(self._buffers[int(detail["index"])], self._tflm.get_output(position))


def interpreter_for(runtime: Runtime | str, model_path: str | Path):
    """A ready interpreter for one .tflite file on `runtime`: TFLM's (this adapter) for `MICRO`,
    else the device runtime's (edge.runtime.make_interpreter)."""
    if runtime == MICRO:
        return MicroInterpreter(model_path)
    return make_interpreter(runtime, Path(model_path))
