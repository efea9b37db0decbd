"""Quantization modes and their verification limits."""

from __future__ import annotations

from enum import Enum

from edge_forecast.errors import parse_choices


class QuantMode(str, Enum):
    FLOAT32 = "float32"      # no quantization
    FLOAT16 = "float16"      # float16 weights, float compute
    DYNAMIC = "dynamic"      # int8 weights, activations quantized on the fly
    INT8 = "int8"            # full integer, int8 input/output tensors (microcontrollers)
    INT16X8 = "int16x8"      # int16 activations, int8 weights, int16 input/output

    @property
    def full_integer(self) -> bool:
        return self in (QuantMode.INT8, QuantMode.INT16X8)


# Largest one-step and closed-loop |TFLite - Keras| (model units) an artifact may have, or None
# when the error is only recorded: quantized modes are judged by the report, not refused.
MAX_ABS_LIMIT = {QuantMode.FLOAT32: 1e-5, QuantMode.FLOAT16: 1e-3}


def parse_modes(text: str | None) -> list[QuantMode]:
    if not text:
        return list(QuantMode)
    return parse_choices([text], QuantMode, "quantization mode", argument="quant")

# Integer variants whose closed loop drifts further than this from the truth, relative to the
# float32 export of the same graph, get a warning at export (issue goal for int8: 1.5x).
CLOSED_LOOP_RATIO_WARN = 1.5
