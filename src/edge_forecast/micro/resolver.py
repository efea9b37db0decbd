"""The `MicroMutableOpResolver<N>` registration lines for a model's operators (stdlib only).

The table is TFLM's own: every `Add<Op>()` method of `tensorflow/lite/micro/micro_mutable_op_resolver.h`
and the BuiltinOperator it registers (tflite-micro commit 90b983c2b3f1480642e040bbd2ddb37b998f3424,
August 2026). Most method names are the CamelCase of the operator name; the others are listed.
"""

from __future__ import annotations

from edge_forecast.errors import UserError

# Builtin operators whose method is "Add" + CamelCase(name), e.g. FULLY_CONNECTED -> AddFullyConnected.
_REGULAR_NAMES = """
ABS ADD ADD_N ARG_MAX ARG_MIN ASSIGN_VARIABLE BATCH_TO_SPACE_ND BROADCAST_ARGS BROADCAST_TO CALL_ONCE
CAST CEIL CONCATENATION COS DEPTH_TO_SPACE DEQUANTIZE DIV DYNAMIC_UPDATE_SLICE EMBEDDING_LOOKUP ELU
EQUAL EXP EXPAND_DIMS FILL FLOOR FLOOR_DIV FLOOR_MOD FULLY_CONNECTED GATHER GATHER_ND GREATER
GREATER_EQUAL HARD_SWISH IF L2_NORMALIZATION LEAKY_RELU LESS LESS_EQUAL LOG LOGICAL_AND LOGICAL_NOT
LOGICAL_OR LOGISTIC LOG_SOFTMAX MAXIMUM MIRROR_PAD MEAN MINIMUM MUL NEG NOT_EQUAL PACK PAD PRELU
QUANTIZE READ_VARIABLE REDUCE_ALL REDUCE_MAX REDUCE_MIN RELU RELU6 RESHAPE RESIZE_BILINEAR
RESIZE_NEAREST_NEIGHBOR REVERSE_V2 ROUND RSQRT SELECT_V2 SHAPE SIN SLICE SOFTMAX SPACE_TO_BATCH_ND
SPACE_TO_DEPTH SPLIT SPLIT_V SQUEEZE SQRT SQUARE SQUARED_DIFFERENCE STRIDED_SLICE SUB SUM SVDF TANH
TRANSPOSE_CONV TRANSPOSE UNPACK VAR_HANDLE WHILE ZEROS_LIKE
"""
_REGULAR = frozenset(_REGULAR_NAMES.split())
_IRREGULAR = {
    "AVERAGE_POOL_2D": "AddAveragePool2D", "BATCH_MATMUL": "AddBatchMatMul", "CONV_2D": "AddConv2D",
    "CUMSUM": "AddCumSum", "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "L2_POOL_2D": "AddL2Pool2D",
    "MAX_POOL_2D": "AddMaxPool2D", "PADV2": "AddPadV2",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
}


def resolver_method(op: str) -> str:
    """'FULLY_CONNECTED' -> 'AddFullyConnected'; UserError for an operator TFLM has no kernel for."""
    if op in _IRREGULAR:
        return _IRREGULAR[op]
    if op in _REGULAR:
        return "Add" + "".join(part.capitalize() for part in op.split("_"))
    raise UserError(f"operator {op} has no TFLM kernel (MicroMutableOpResolver has no method for it); "
                    "this variant cannot run on a microcontroller")


def resolver_lines(ops: list[dict]) -> list[str]:
    """One `resolver.Add<Op>()` call per distinct operator of the model, in the model's order.

    `ops` is the bundle's op list ([{name, version}], one entry per operator code)."""
    names = list(dict.fromkeys(op["name"] for op in ops))
    return [f"{resolver_method(name)}()" for name in names]
