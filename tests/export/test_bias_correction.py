"""The exporter's output bias correction (export/bias_correction.py) on a real int8 conversion."""

from __future__ import annotations

import numpy as np
import pytest

from edge_forecast.export.bias_correction import corrected, quantized_outputs

WINDOW = 8
OFFSET = 0.05  # a bias the conversion below adds on purpose: what the correction must take out


def _model():
    import keras

    keras.utils.set_random_seed(0)
    x = keras.Input((WINDOW, 1), batch_size=1)
    h = keras.layers.LSTM(4, unroll=True, name="lstm")(x)
    return keras.Model(x, keras.layers.Dense(1, name="dense")(h))


def _int8(model, windows: np.ndarray, offset: float) -> tuple[bytes, int]:
    """Full-integer int8 of `model` as it is now, with `offset` added to its output bias in the
    converted copy only (a quantization bias of known size)."""
    import keras
    import tensorflow as tf

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    kernel, bias = copy.get_layer("dense").get_weights()
    copy.get_layer("dense").set_weights([kernel, bias + np.float32(offset)])
    converter = tf.lite.TFLiteConverter.from_keras_model(copy)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([w[None]] for w in windows)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    return converter.convert(), 1


@pytest.fixture(scope="module")
def windows() -> np.ndarray:
    t = np.arange(200 + WINDOW)
    series = np.sin(0.3 * t) * np.exp(-t / 150)
    return np.lib.stride_tricks.sliding_window_view(series, WINDOW)[:200, :, None].astype(np.float32)


def test_the_correction_takes_a_known_output_bias_out(windows):
    model = _model()
    before = [w.copy() for w in model.get_weights()]
    blob, conversions, record = corrected(lambda: _int8(model, windows, OFFSET), model, model.get_layer("dense"),
                                          windows)
    assert record["applied"] and conversions == 2 and record["windows"] == len(windows)
    assert record["measured"] == pytest.approx(OFFSET, abs=0.01)
    assert abs(record["residual"]) < 0.01
    reference = model.predict(windows, batch_size=1, verbose=0).reshape(-1)
    assert np.mean(quantized_outputs(blob, windows) - reference) == pytest.approx(record["residual"], abs=1e-9)
    for was, now in zip(before, model.get_weights(), strict=True):  # the float model is left as it was
        np.testing.assert_array_equal(was, now)


def test_a_correction_that_does_not_help_is_not_applied(windows):
    model = _model()
    calls = []

    def convert() -> tuple[bytes, int]:  # the second conversion adds 8x the bias: worse, so not kept
        calls.append(1)
        return _int8(model, windows, OFFSET * len(calls) ** 3)

    blob, _, record = corrected(convert, model, model.get_layer("dense"), windows)
    assert not record["applied"] and record["residual"] == record["measured"]
    reference = model.predict(windows, batch_size=1, verbose=0).reshape(-1)
    assert np.mean(quantized_outputs(blob, windows) - reference) == pytest.approx(record["measured"], abs=1e-9)
