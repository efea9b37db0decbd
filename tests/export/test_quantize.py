"""The one quantizer (edge.quantize) against the interpreter's own QUANTIZE op, on the values
where rounding rules differ: exact halves, their float32 neighbours, zero, and the clamps."""

from __future__ import annotations

import numpy as np
import pytest

from edge_forecast.edge.quantize import ScalarQuantizer, quantize

SCALE = 0.125  # a power of two: x * (1 / scale) is exact, so k + 0.5 is a true tie
WIDTH = 4096  # values per invoke of the test model


def edge_values(scale: float, zero_point: int, dtype) -> np.ndarray:
    """Halves (k + 0.5 - zero_point) * scale over the whole range and beyond, each with its three
    float32 neighbours on both sides, plus zero, tiny and huge values, as float32."""
    info = np.iinfo(dtype)
    k = np.arange(info.min - 3, info.max + 3, dtype=np.float64) + 0.5 - zero_point
    ties = (k * scale).astype(np.float32)
    near = [ties]
    for direction in (np.inf, -np.inf):
        step = ties
        for _ in range(3):
            step = np.nextafter(step, np.float32(direction))
            near.append(step)
    extra = np.array([0.0, -0.0, 1e-30, -1e-30, 1e6, -1e6, 0.35, -0.35], dtype=np.float32)
    return np.concatenate([*near, extra]).astype(np.float32)


def test_halves_round_to_even_and_values_clamp():
    got = quantize(np.array([0.3125, -0.3125, 0.1875, -0.1875, 100.0, -100.0]), SCALE, 0, np.int8)
    assert got.tolist() == [2, -2, 2, -2, 127, -128]  # 2.5 -> 2, 1.5 -> 2, clamps
    # the example: float32 0.35 * (1 / 0.1) is 3.5 -> 4; the old np.round(0.35 / 0.1) gave 3
    assert quantize(np.array([0.35]), 0.1, 0, np.int8).tolist() == [4]


def test_the_scalar_path_is_the_same_rule():
    rng = np.random.default_rng(0)
    for scale, zp, dtype in ((SCALE, 0, np.int8), (0.0117647061, -18, np.int8), (3.1e-5, 0, np.int16)):
        info = np.iinfo(dtype)
        spread = rng.uniform(info.min - zp - 8, info.max - zp + 8, 20000) * scale  # float64, as predictions are
        x = np.concatenate([edge_values(scale, zp, dtype), spread])
        one = ScalarQuantizer(scale, zp, dtype)
        assert [one(float(v)) for v in x] == quantize(x, scale, zp, dtype).tolist()
    assert ScalarQuantizer(SCALE, 0, np.int8)(float("inf")) == 127
    assert ScalarQuantizer(SCALE, 0, np.int8)(-1e300) == -128


def _quantize_model(low: float, high: float) -> bytes:
    """A converted model that is a QUANTIZE op (and a reshape: an identity alone is folded away):
    float32 (1, WIDTH) in, int8 out, calibrated on [low, high]."""
    from edge_forecast.train.keras_env import quiet_tensorflow

    quiet_tensorflow()
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, WIDTH], tf.float32)])
    def reshape(x):
        return tf.reshape(x, [2, WIDTH // 2])

    def calibration():
        yield [np.linspace(low, high, WIDTH, dtype=np.float32)[None, :]]

    converter = tf.lite.TFLiteConverter.from_concrete_functions([reshape.get_concrete_function()], reshape)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = calibration
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.float32
    converter.inference_output_type = tf.int8
    return converter.convert()


@pytest.mark.slow
@pytest.mark.parametrize("low, high", [(-16.0, 15.875), (-1.3, 1.7)])  # scale 0.125 (ties exact); 3/255
def test_quantize_equals_the_interpreters_quantize_op(tmp_path, low, high):
    from edge_forecast.edge.runtime import available_runtimes, make_interpreter
    from edge_forecast.tflite_file import operator_list

    path = tmp_path / "quantize.tflite"
    path.write_bytes(_quantize_model(low, high))
    assert sorted(op["name"] for op in operator_list(path)[0]) == ["QUANTIZE", "RESHAPE"]
    for runtime in available_runtimes():
        interp = make_interpreter(runtime, path)
        inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
        scale, zp = out["quantization"]
        x = edge_values(scale, zp, np.int8)
        rows = np.concatenate([x, np.zeros((-x.size) % WIDTH, dtype=np.float32)]).reshape(-1, 1, WIDTH)
        kernel = []
        for row in rows:
            interp.set_tensor(inp["index"], row)
            interp.invoke()
            kernel.append(interp.get_tensor(out["index"]).reshape(-1))
        kernel = np.concatenate(kernel)[: x.size]
        ours = quantize(x, scale, zp, np.int8)
        bad = np.flatnonzero(ours != kernel)[:5]
        assert not bad.size, (runtime.value, scale, zp, x[bad].tolist(), ours[bad].tolist(), kernel[bad].tolist())
        one = ScalarQuantizer(scale, zp, np.int8)
        assert [one(float(v)) for v in x] == kernel.tolist()
        # the values discriminate: the reference kernel's halves-away rule, or the old float64
        # division, disagrees with the interpreter on some of them
        t = (x * (np.float32(1.0) / np.float32(scale))).astype(np.float64)
        away = np.clip(np.trunc(t + np.copysign(0.5, t)) + zp, -128, 127)
        old = np.clip(np.round(x.astype(np.float64) / scale) + zp, -128, 127)
        assert np.count_nonzero(away != kernel) > 0 and (scale == SCALE or np.count_nonzero(old != kernel) > 0)
