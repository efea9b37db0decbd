"""Quantization modes: the converter's settings per mode and the verification limits."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from edge_forecast.contracts.bundle import QuantMode
from edge_forecast.errors import parse_choices

__all__ = ["QuantMode", "CONVERTER_SETTINGS", "ConverterSettings", "configure_converter", "parse_modes",
           "MAX_ABS_LIMIT", "CLOSED_LOOP_RATIO_WARN"]


@dataclass(frozen=True)
class ConverterSettings:
    """What a mode sets on a tf.lite.TFLiteConverter (names of TensorFlow attributes, resolved in
    the conversion child, so this table costs no TensorFlow import)."""

    optimize: bool = False              # tf.lite.Optimize.DEFAULT
    supported_types: tuple[str, ...] = ()  # tf dtypes of target_spec.supported_types
    ops_set: str | None = None          # the one tf.lite.OpsSet of target_spec.supported_ops
    io_type: str | None = None          # inference input and output tf dtype
    calibrated: bool = False            # needs a representative dataset


# One table for every graph: the window graph's conversion (worker.py) and the step / rollout /
# stream graphs' (graph_convert.py) read their mode's settings here.
CONVERTER_SETTINGS = {
    QuantMode.FLOAT32: ConverterSettings(),
    QuantMode.FLOAT16: ConverterSettings(optimize=True, supported_types=("float16",)),
    QuantMode.DYNAMIC: ConverterSettings(optimize=True),
    QuantMode.INT8: ConverterSettings(optimize=True, ops_set="TFLITE_BUILTINS_INT8", io_type="int8",
                                      calibrated=True),
    QuantMode.INT16X8: ConverterSettings(optimize=True, io_type="int16", calibrated=True,
                                         ops_set="EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8"),
}


def configure_converter(converter, mode: QuantMode, samples: Callable[[], Iterable] | None = None) -> None:
    """Set `mode`'s settings on `converter`; `samples` yields the representative dataset of a
    calibrated (full-integer) mode."""
    import tensorflow as tf

    settings = CONVERTER_SETTINGS[mode]
    if settings.optimize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if settings.supported_types:
        converter.target_spec.supported_types = [getattr(tf, t) for t in settings.supported_types]
    if settings.calibrated:
        if samples is None:
            raise ValueError(f"{mode.value} needs calibration samples")
        converter.representative_dataset = samples
    if settings.ops_set:
        converter.target_spec.supported_ops = [getattr(tf.lite.OpsSet, settings.ops_set)]
    if settings.io_type:
        converter.inference_input_type = getattr(tf, settings.io_type)
        converter.inference_output_type = getattr(tf, settings.io_type)


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
