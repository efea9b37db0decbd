"""Integer window graphs are smaller than float32 ones (issue #26; docs/design/0010-integer-window-graph-size.md)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_forecast.tflite_file import io_details


def _bytes(bundle, model: str, mode: str) -> int:
    return json.loads((bundle / "bundle.json").read_text())["models"][model]["variants"][mode]["bytes"]


@pytest.mark.parametrize("mode", ["int8", "int16x8"])
@pytest.mark.parametrize("model", ["rnn", "lstm"])
def test_integer_window_graph_is_smaller_than_float32(tiny_bundle, model, mode) -> None:
    assert _bytes(tiny_bundle, model, mode) < _bytes(tiny_bundle, model, "float32")


# Not yet (docs/design/0010-integer-window-graph-size.md): int8 by 22 %, a per-step int32 bias copy with
# per-channel scales on GRU's recurrent FULLY_CONNECTED; int16x8 by 0.5 % (272 bytes), too close to be strict.
@pytest.mark.parametrize("mode", [
    pytest.param("int8", marks=pytest.mark.xfail(strict=True, reason="per-step recurrent bias copies")),
    pytest.param("int16x8", marks=pytest.mark.xfail(strict=False, reason="activation quantization tables")),
])
def test_gru_integer_window_graph_is_smaller_than_float32(tiny_bundle, mode) -> None:
    assert _bytes(tiny_bundle, "gru", mode) < _bytes(tiny_bundle, "gru", "float32")


@pytest.mark.slow
def test_compact_keeps_outputs_and_io_and_shrinks() -> None:
    """A converted unrolled SimpleRNN, int8: the compacted flatbuffer is smaller and its outputs,
    input / output names, quantization and signature are the converter's, bitwise."""
    import keras
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from edge_forecast.export.compact import compact

    inp = keras.Input(shape=(8, 1), batch_size=1, name="window")
    out = keras.layers.Dense(1)(keras.layers.SimpleRNN(6, unroll=True)(inp))
    model = keras.Model(inp, out)
    rng = np.random.default_rng(0)
    windows = rng.normal(size=(16, 1, 8, 1)).astype(np.float32)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([w] for w in windows)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    blob = converter.convert()
    small = compact(blob)
    assert len(small) < 0.6 * len(blob)

    def run(flatbuffer: bytes):
        interp = Interpreter(model_content=flatbuffer)
        interp.allocate_tensors()
        given, taken = interp.get_input_details()[0], interp.get_output_details()[0]
        outs = []
        for w in rng.integers(-128, 128, size=(16, 1, 8, 1)).astype(np.int8):
            interp.set_tensor(given["index"], w)
            interp.invoke()
            outs.append(interp.get_tensor(taken["index"]).copy())
        return np.array(outs), interp.get_signature_list()

    rng = np.random.default_rng(1)
    before, signatures = run(blob)
    rng = np.random.default_rng(1)
    after, signatures_after = run(small)
    assert np.array_equal(before, after)
    assert signatures == signatures_after
    for b, a in zip(io_details(blob), io_details(small), strict=True):
        assert [(d["name"], d["quantization"], list(d["shape"])) for d in b] == \
               [(d["name"], d["quantization"], list(d["shape"])) for d in a]
