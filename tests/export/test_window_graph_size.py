"""Integer window graphs are smaller than float32 ones (issue #26; docs/design/0010-integer-window-graph-size.md)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_forecast.tflite_file import io_details


def _bytes(bundle, model: str, mode: str) -> int:
    return json.loads((bundle / "bundle.json").read_text())["models"][model]["variants"][mode]["bytes"]


@pytest.mark.parametrize("mode", ["int8", "int16x8"])
@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_integer_window_graph_is_smaller_than_float32(tiny_bundle, model, mode) -> None:
    assert _bytes(tiny_bundle, model, mode) < _bytes(tiny_bundle, model, "float32")


GRU_CONFIGS = [{}, {"reset_after": False}, {"go_backwards": True, "return_sequences": True}, {"return_state": True},
               {"use_bias": False}, {"activation": "relu", "recurrent_activation": "hard_sigmoid"},
               {"dropout": 0.1, "recurrent_dropout": 0.2}]


@pytest.mark.parametrize("config", GRU_CONFIGS, ids=lambda c: ",".join(c) or "default")
def test_shared_bias_gru_equals_keras_gru(config) -> None:
    """export/gru.py's GRU (the window graphs' GRU) gives Keras' GRU's outputs and states from the
    same weights, to float32 rounding, in every variant of the equations and the loop; a masked input too."""
    import keras

    from edge_forecast.export.gru import SharedBiasGRUCell, shared_bias_gru

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 12, 2)).astype(np.float32)
    x[:, 9:] = 0.0  # the masked steps of the Masking model
    for masked in (False, True):
        layer = keras.layers.GRU(7, **config)
        inputs = keras.Input((12, 2))
        front = (lambda t: keras.layers.Masking(0.0)(t)) if masked else (lambda t: t)
        model = keras.Model(inputs, layer(front(inputs)))
        model.set_weights([rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in model.get_weights()])
        shared = shared_bias_gru(layer, unroll=True)
        assert isinstance(shared.cell, SharedBiasGRUCell)
        again = keras.Input((12, 2))
        rebuilt = keras.Model(again, shared(front(again)))
        rebuilt.set_weights(model.get_weights())
        for want, got in zip(keras.tree.flatten(model(x)), keras.tree.flatten(rebuilt(x)), strict=True):
            want, got = np.asarray(want), np.asarray(got)
            assert np.max(np.abs(want - got)) <= 1e-6 * max(1.0, np.max(np.abs(want)))


@pytest.mark.slow
def test_gru_int8_window_graph_stores_its_recurrent_bias_once() -> None:
    """A user's GRU(8) -> Dense(1), window 8, rebuilt as the window graph (SharedBiasGRU) and
    converted to int8: one int32 bias of 3 x units for every step (Keras' own GRU layer: one per
    recurrent step, each with its own scales), and the float32 clone equals the user's model."""
    import keras
    import tensorflow as tf

    from edge_forecast.export import user_model
    from edge_forecast.export.compact import compact

    window, units = 8, 8
    model = keras.Sequential([keras.Input((window, 1)), keras.layers.GRU(units), keras.layers.Dense(1)])
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in model.get_weights()])
    clone = user_model.window_graph(model, user_model.describe(model, "gru"), window)
    windows = rng.normal(size=(32, 1, window, 1)).astype(np.float32)
    want = np.asarray(model(windows[:, 0])).reshape(-1)
    got = np.concatenate([np.asarray(clone(w)).reshape(-1) for w in windows])
    assert np.max(np.abs(want - got)) <= 1e-5

    def int32_biases(keras_model) -> int:
        converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([w] for w in windows)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        blob = compact(converter.convert())
        from ai_edge_litert.interpreter import Interpreter

        details = Interpreter(model_content=blob).get_tensor_details()
        return sum(d["dtype"] == np.int32 and list(d["shape"]) == [3 * units] for d in details)

    assert int32_biases(clone) == 1
    inputs = keras.Input(batch_shape=(1, window, 1))
    plain = keras.Model(inputs, model.layers[1](keras.layers.GRU(units, unroll=True)(inputs)))
    plain.layers[1].set_weights(model.layers[0].get_weights())
    # Keras' GRU: the input side's (its copies equal, merged) and one per recurrent step (the first step's h is 0)
    assert int32_biases(plain) == 1 + (window - 1)


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
