"""In the conversion child: a Keras graph written out as a SavedModel once per weight state, and
converted from there in every mode.

`tf.lite.TFLiteConverter.from_keras_model` on a Keras 3 model first writes the model out as a
SavedModel (keras.export.ExportArchive: trace, then save) and converts that; for an unrolled
window graph the writing is about half of a conversion's time, and one export converts the same
graph up to eight times (five modes; a full-integer mode twice for bias correction, and again while
a float island remains). Written once per weight state (bias correction shifts a bias, which makes
another state) and converted with `from_saved_model`, the result is the same graph: the same ops,
tensors, quantization and outputs; the one byte that differs is the conversion metadata's record
of the original model's format (a SavedModel, not a Keras model).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

# (id and name of the Keras model, its weights' digest) -> its SavedModel folder
_written: dict[tuple[int, str, str], Path] = {}


def converter_for(model, work: Path):
    """A `tf.lite.TFLiteConverter` for `model` as its weights are now, from a SavedModel under
    `work` (written on the first call for this weight state). A model that is neither Sequential
    nor functional goes through `from_keras_model`, as before."""
    import keras
    import tensorflow as tf

    if not isinstance(model, (keras.Sequential, keras.src.models.Functional)):
        return tf.lite.TFLiteConverter.from_keras_model(model)
    key = (id(model), model.name, _digest(model))
    folder = _written.get(key)
    if folder is None or not folder.exists():
        folder = Path(work) / f"{model.name}.savedmodel-{len(_written)}"
        _write(model, folder)
        _written[key] = folder
    return tf.lite.TFLiteConverter.from_saved_model(str(folder))


def _digest(model) -> str:
    """What tells one weight state of `model` from another: every weight's bytes."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(weight.numpy().tobytes())
    return digest.hexdigest()


def _write(model, folder: Path) -> None:
    """The SavedModel `from_keras_model` writes for a functional or Sequential Keras 3 model
    (tensorflow/lite/python/lite.py, TFLiteKerasModelConverterV2._convert_keras_to_saved_model):
    one "serve" endpoint, the model called with training=False on its inputs' specs."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    signature = [tf.TensorSpec(x.shape, dtype=x.dtype, name=x.name) for x in model.inputs]
    if len(signature) > 1:
        signature = [signature]
    archive.add_endpoint("serve", functools.partial(model.__call__, training=False), signature)
    archive.write_out(str(folder), verbose=False)
