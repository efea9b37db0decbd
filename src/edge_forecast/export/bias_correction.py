"""In the conversion child: empirical bias correction of a full-integer graph's output (window
and rollout graphs).

Integer rounding of weights and activations leaves a systematic error in the output, not only
noise, and a closed loop adds that error up at every step it feeds back (the default LSTM's int8
one-step output was off by a mean 0.0004 to 0.0094 model units on the built-in signals:
docs/design/evidence/instance_norm_int8.md, its output bias column). The correction measures the mean of
(quantized output - float output) over the calibration windows and converts again with the output
layer's bias lowered by it, so the integer graph itself carries the fix: no runner, bundle reader
or C code changes.

Source: empirical bias correction, E. Finkelstein, U. Almog and M. Grobman, "Fighting Quantization
Bias With Bias", arXiv:1906.03193 (2019); M. Nagel, M. van Baalen, T. Blankevoort and M. Welling,
"Data-Free Quantization Through Weight Equalization and Bias Correction", ICCV 2019, sec. 4.2.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def output_layer(kind: str) -> str:
    """The graph's output layer, whose bias moves the output (a highway adds its own linear term
    after "dense": shifting "dense" shifts the sum)."""
    return "ar" if kind == "ar" else "dense"


def quantized_outputs(blob: bytes, windows: np.ndarray) -> np.ndarray:
    """The converted graph's first dequantized output (the window graph's only one, the rollout
    graph's first step), float64 (n,), for windows (n, W, 1) float32, each quantized onto the
    input tensor's grid as a device does."""
    from ai_edge_litert.interpreter import Interpreter  # what export verifies with

    from edge_forecast.edge.artifact import TensorQuant  # the device runner's quantizer

    interpreter = Interpreter(model_content=blob)
    interpreter.allocate_tensors()
    given, taken = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    into, out_of = TensorQuant.from_details(given), TensorQuant.from_details(taken)
    out = np.empty(len(windows))
    for i, window in enumerate(windows):
        interpreter.set_tensor(given["index"], into.quantize(window[None]))
        interpreter.invoke()
        out[i] = out_of.dequantize(interpreter.get_tensor(taken["index"])).reshape(-1)[0]
    return out


def corrected(convert: Callable[[], tuple[bytes, int]], clone, layer, windows: np.ndarray
              ) -> tuple[bytes, int, dict]:
    """Convert, measure the first output's mean error against the float `clone` (a window or
    rollout graph: input (1, W, 1)) over `windows` (n, W, 1), convert again with the output
    layer's bias lowered by it (in a rollout graph: every step's); keep the second graph when its
    mean error is smaller in magnitude. Returns (blob, conversions, record): the record's `measured` and
    `residual` are mean errors in model output units, `applied` says which graph was kept.
    `convert()` -> (blob, conversions) converts `clone` as it is at the call; `layer` is its output
    layer (a Dense, or a TimeDistributed one: weights [kernel, bias]) whose bias is shifted."""
    reference = np.asarray(clone.predict(windows, batch_size=1, verbose=0),
                           dtype=np.float64).reshape(len(windows), -1)[:, 0]
    blob, conversions = convert()
    measured = float(np.mean(quantized_outputs(blob, windows) - reference))
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel, bias - np.float32(measured)])
    try:
        shifted, more = convert()
    finally:
        layer.set_weights([kernel, bias])
    residual = float(np.mean(quantized_outputs(shifted, windows) - reference))
    applied = abs(residual) < abs(measured)
    record = {"measured": measured, "residual": residual if applied else measured, "applied": applied,
              "windows": int(len(windows))}
    return (shifted if applied else blob), conversions + more, record
