"""Smaller flatbuffers for flash: drop the strings no runtime needs (desktop: TensorFlow).

The converter leaves the model description, subgraph name, every tensor name and the signature
defs in the file; an unrolled step graph carries kilobytes of them. TensorFlow's
`flatbuffer_utils.strip_strings` removes exactly those and keeps operator codes, buffers and the
tensor order, so tensor indices and input / output positions stay valid. The runners that find
tensors by name need the unstripped file: the bundle's .tflite files stay as exported and only
the microcontroller copies are stripped.
"""

from __future__ import annotations


def strip_model(flatbuffer: bytes) -> bytes:
    """The model with its nonessential strings removed (re-serialized by TensorFlow), then
    compacted again: re-serializing gives every tensor its own copy of the quantization tables
    that export's compaction had shared (a compacted LSTM window graph grew 2%, not shrank)."""
    from tensorflow.lite.tools import flatbuffer_utils

    from edge_forecast.export.compact import compact

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    flatbuffer_utils.strip_strings(model)
    return compact(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))
