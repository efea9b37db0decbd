"""Read a .tflite file without running it: operators, subgraphs, tensors (stdlib + numpy only).

The one reader of the flatbuffer for export (the operator check), micro (tensor layout, C
arrays) and the device (what to probe), so a device with only tflite-runtime, or only the
microcontroller interpreter, reads a model as the desktop does. It reads the few tables of
tensorflow/lite/schema/schema.fbs it needs, with field numbers from that schema; the name tables
below are that schema's enums in order (tests compare them with ai-edge-litert's generated schema).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

# enum BuiltinOperator, in value order (0 = ADD)
BUILTIN_OPERATORS = (
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE",
    "DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED", "HASHTABLE_LOOKUP",
    "L2_NORMALIZATION", "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION", "LOGISTIC", "LSH_PROJECTION",
    "LSTM", "MAX_POOL_2D", "MUL", "RELU", "RELU_N1_TO_1", "RELU6", "RESHAPE", "RESIZE_BILINEAR",
    "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF", "TANH", "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL",
    "CUSTOM", "EMBEDDING_LOOKUP_SPARSE", "PAD", "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER",
    "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND", "TRANSPOSE", "MEAN", "SUB", "DIV", "SQUEEZE",
    "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP",
    "TOPK_V2", "SPLIT", "LOG_SOFTMAX", "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU",
    "MAXIMUM", "ARG_MAX", "MINIMUM", "LESS", "NEG", "PADV2", "GREATER", "GREATER_EQUAL",
    "LESS_EQUAL", "SELECT", "SLICE", "SIN", "TRANSPOSE_CONV", "SPARSE_TO_DENSE", "TILE",
    "EXPAND_DIMS", "EQUAL", "NOT_EQUAL", "LOG", "SUM", "SQRT", "RSQRT", "SHAPE", "POW", "ARG_MIN",
    "FAKE_QUANT", "REDUCE_PROD", "REDUCE_MAX", "PACK", "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND",
    "LOGICAL_NOT", "UNPACK", "REDUCE_MIN", "FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE",
    "FILL", "FLOOR_MOD", "RANGE", "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE",
    "MIRROR_PAD", "ABS", "SPLIT_V", "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND", "COS",
    "WHERE", "RANK", "ELU", "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG",
    "ROUND", "HARD_SWISH", "IF", "WHILE", "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5",
    "SCATTER_ND", "SELECT_V2", "DENSIFY", "SEGMENT_SUM", "BATCH_MATMUL",
    "PLACEHOLDER_FOR_GREATER_OP_CODES", "CUMSUM", "CALL_ONCE", "BROADCAST_TO", "RFFT2D", "CONV_3D",
    "IMAG", "REAL", "COMPLEX_ABS", "HASHTABLE", "HASHTABLE_FIND", "HASHTABLE_IMPORT",
    "HASHTABLE_SIZE", "REDUCE_ALL", "CONV_3D_TRANSPOSE", "VAR_HANDLE", "READ_VARIABLE",
    "ASSIGN_VARIABLE", "BROADCAST_ARGS", "RANDOM_STANDARD_NORMAL", "BUCKETIZE", "RANDOM_UNIFORM",
    "MULTINOMIAL", "GELU", "DYNAMIC_UPDATE_SLICE", "RELU_0_TO_1", "UNSORTED_SEGMENT_PROD",
    "UNSORTED_SEGMENT_MAX", "UNSORTED_SEGMENT_SUM", "ATAN2", "UNSORTED_SEGMENT_MIN", "SIGN",
    "BITCAST", "BITWISE_XOR", "RIGHT_SHIFT", "STABLEHLO_LOGISTIC", "STABLEHLO_ADD",
    "STABLEHLO_DIVIDE", "STABLEHLO_MULTIPLY", "STABLEHLO_MAXIMUM", "STABLEHLO_RESHAPE",
    "STABLEHLO_CLAMP", "STABLEHLO_CONCATENATE", "STABLEHLO_BROADCAST_IN_DIM",
    "STABLEHLO_CONVOLUTION", "STABLEHLO_SLICE", "STABLEHLO_CUSTOM_CALL", "STABLEHLO_REDUCE",
    "STABLEHLO_ABS", "STABLEHLO_AND", "STABLEHLO_COSINE", "STABLEHLO_EXPONENTIAL",
    "STABLEHLO_FLOOR", "STABLEHLO_LOG", "STABLEHLO_MINIMUM", "STABLEHLO_NEGATE", "STABLEHLO_OR",
    "STABLEHLO_POWER", "STABLEHLO_REMAINDER", "STABLEHLO_RSQRT", "STABLEHLO_SELECT",
    "STABLEHLO_SUBTRACT", "STABLEHLO_TANH", "STABLEHLO_SCATTER", "STABLEHLO_COMPARE",
    "STABLEHLO_CONVERT", "STABLEHLO_DYNAMIC_SLICE", "STABLEHLO_DYNAMIC_UPDATE_SLICE",
    "STABLEHLO_PAD", "STABLEHLO_IOTA", "STABLEHLO_DOT_GENERAL", "STABLEHLO_REDUCE_WINDOW",
    "STABLEHLO_SORT", "STABLEHLO_WHILE", "STABLEHLO_GATHER", "STABLEHLO_TRANSPOSE", "DILATE",
    "STABLEHLO_RNG_BIT_GENERATOR", "REDUCE_WINDOW", "STABLEHLO_COMPOSITE", "STABLEHLO_SHIFT_LEFT",
    "STABLEHLO_CBRT", "STABLEHLO_CASE",
)
# enum TensorType, in value order, lower case as numpy names them (0 = float32)
TENSOR_TYPES = (
    "float32", "float16", "int32", "uint8", "int64", "string", "bool", "int16", "complex64",
    "int8", "float64", "complex128", "uint64", "resource", "variant", "uint32", "uint16", "int4",
    "bfloat16", "int2", "uint4", "float8_e4m3fn", "float8_e5m2",
)

# A step / stream graph that keeps its state inside (export.graphs.build_state_inside): CALL_ONCE
# runs the subgraph that creates the variables, and its load / save signatures are subgraphs too
RESOURCE_VARIABLE_OPS = frozenset({"CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE"})


class _Table:
    """One flatbuffer table: a position and its vtable (field n's offset at vtable + 4 + 2n)."""

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf, self.pos = buf, pos
        self._vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self._vtable_len = struct.unpack_from("<H", buf, self._vtable)[0]

    def _field(self, n: int) -> int:
        """The field's position, 0 when absent (the schema default applies)."""
        slot = 4 + 2 * n
        if slot >= self._vtable_len:
            return 0
        offset = struct.unpack_from("<H", self.buf, self._vtable + slot)[0]
        return self.pos + offset if offset else 0

    def _deref(self, at: int) -> int:
        return at + struct.unpack_from("<I", self.buf, at)[0]

    def scalar(self, n: int, fmt: str, default):
        at = self._field(n)
        return struct.unpack_from("<" + fmt, self.buf, at)[0] if at else default

    def table(self, n: int) -> _Table | None:
        at = self._field(n)
        return _Table(self.buf, self._deref(at)) if at else None

    def _vector(self, n: int) -> tuple[int, int]:
        at = self._field(n)
        if not at:
            return 0, 0
        start = self._deref(at)
        return start + 4, struct.unpack_from("<I", self.buf, start)[0]

    def tables(self, n: int) -> list[_Table]:
        start, length = self._vector(n)
        return [_Table(self.buf, self._deref(start + 4 * i)) for i in range(length)]

    def scalars(self, n: int, fmt: str) -> tuple:
        start, length = self._vector(n)
        return struct.unpack_from(f"<{length}{fmt}", self.buf, start) if length else ()

    def string(self, n: int) -> bytes | None:
        start, length = self._vector(n)
        return bytes(self.buf[start : start + length]) if start else None


def _model(flatbuffer: bytes) -> _Table:
    return _Table(flatbuffer, struct.unpack_from("<I", flatbuffer, 0)[0])


# field numbers of schema.fbs: Model, OperatorCode, SubGraph, Tensor, QuantizationParameters
_MODEL_OPERATOR_CODES, _MODEL_SUBGRAPHS = 1, 2
_CODE_DEPRECATED_BUILTIN, _CODE_CUSTOM, _CODE_VERSION, _CODE_BUILTIN = 0, 1, 2, 3
_SUBGRAPH_TENSORS, _SUBGRAPH_INPUTS, _SUBGRAPH_OUTPUTS = 0, 1, 2
_TENSOR_SHAPE, _TENSOR_TYPE, _TENSOR_NAME, _TENSOR_QUANTIZATION = 0, 1, 3, 4
_QUANT_SCALE, _QUANT_ZERO_POINT = 2, 3


def operators_of(flatbuffer: bytes) -> tuple[list[dict], int]:
    """[{name, version}] of every operator code a model in memory uses; its number of subgraphs."""
    model = _model(flatbuffer)
    ops = []
    for code in model.tables(_MODEL_OPERATOR_CODES):
        # small builtins are in both fields; those past 127 in builtin_code only
        builtin = max(code.scalar(_CODE_BUILTIN, "i", 0),
                      code.scalar(_CODE_DEPRECATED_BUILTIN, "b", 0))
        known = builtin < len(BUILTIN_OPERATORS)
        name = BUILTIN_OPERATORS[builtin] if known else f"BUILTIN_{builtin}"
        if name == "CUSTOM":
            custom = code.string(_CODE_CUSTOM)
            name = "CUSTOM:" + (custom.decode() if custom else "?")
        ops.append({"name": name, "version": int(code.scalar(_CODE_VERSION, "i", 1))})
    return ops, len(model.tables(_MODEL_SUBGRAPHS))


def operator_list(path: Path) -> tuple[list[dict], int]:
    """operators_of a .tflite file."""
    return operators_of(Path(path).read_bytes())


def state_inside(ops: list[dict]) -> bool:
    """Whether a model keeps state in resource variables."""
    return any(op["name"] in RESOURCE_VARIABLE_OPS for op in ops)


def subgraph_io(flatbuffer: bytes) -> tuple[list[int], list[int]]:
    """The tensor indices of subgraph 0's inputs and outputs, in their order."""
    subgraph = _model(flatbuffer).tables(_MODEL_SUBGRAPHS)[0]
    return (list(subgraph.scalars(_SUBGRAPH_INPUTS, "i")),
            list(subgraph.scalars(_SUBGRAPH_OUTPUTS, "i")))


def tensor_info(flatbuffer: bytes, index: int) -> dict:
    """Subgraph 0's tensor `index`: name (str, "" when stripped), dtype (numpy's name), shape,
    scale and zero point (the first channel's; 0.0 / 0 when not quantized)."""
    subgraph = _model(flatbuffer).tables(_MODEL_SUBGRAPHS)[0]
    tensor = subgraph.tables(_SUBGRAPH_TENSORS)[index]
    quant = tensor.table(_TENSOR_QUANTIZATION)
    scales = quant.scalars(_QUANT_SCALE, "f") if quant is not None else ()
    zero_points = quant.scalars(_QUANT_ZERO_POINT, "q") if quant is not None else ()
    name = tensor.string(_TENSOR_NAME)
    return {"name": name.decode() if name else "",
            "dtype": TENSOR_TYPES[tensor.scalar(_TENSOR_TYPE, "b", 0)],
            "shape": [int(d) for d in tensor.scalars(_TENSOR_SHAPE, "i")],
            "scale": float(scales[0]) if scales else 0.0,
            "zero_point": int(zero_points[0]) if zero_points else 0}


def io_details(flatbuffer: bytes) -> tuple[list[dict], list[dict]]:
    """The subgraph's inputs and outputs in their order, as the Python interpreters describe them
    (`name`, `index`: tensor index, `shape`, `dtype`, `quantization`: (scale, zero point))."""

    def details(index: int) -> dict:
        t = tensor_info(flatbuffer, index)
        return {"name": t["name"], "index": index,
                "shape": np.array(t["shape"], dtype=np.int32), "dtype": np.dtype(t["dtype"]).type,
                "quantization": (t["scale"], t["zero_point"])}

    ins, outs = subgraph_io(flatbuffer)
    return [details(i) for i in ins], [details(i) for i in outs]
