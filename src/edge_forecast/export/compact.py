"""Compact a converted .tflite flatbuffer without changing what it computes (desktop: TensorFlow's schema).

An unrolled recurrent graph repeats its cell W times, and the converter writes every repetition's
bookkeeping out in full (docs/design/0010-integer-window-graph-size.md). In a full-integer model
that bookkeeping outweighs the weights it quantized: per time step a copy of the recurrent
layer's int32 bias (its scale is the step's input scale times the weights'), each with its own
per-channel scales and int64 zero points; a fused name per tensor listing every op it came from
(the UNPACK of a 20-step window names each of its 20 outputs with all 20 source names); and an
empty buffer entry per tensor. What is written here instead, in every mode:

- identical constant tensors (type, shape, bytes, quantization) become one tensor;
- equal quantization tables, and equal scale / zero-point vectors, are written once and shared
  (a flatbuffer may point to one object from many places);
- tensors that are not a subgraph's inputs or outputs lose their names (signature defs and the
  input / output names stay, so runners and signature lookups see the same model);
- every tensor without data points to the one empty buffer; unused buffers go;
- constant data stays 16-byte aligned, as the converter writes it (microcontrollers load int32
  biases in place).

Operators, their order, options and the constants' bytes are unchanged: outputs are bitwise
identical (the exporter's verification runs on the compacted file).
"""

from __future__ import annotations

import struct

BUFFER_ALIGNMENT = 16


def _schema():
    from tensorflow.lite.python import schema_py_generated

    return schema_py_generated


def compact(flatbuffer: bytes) -> bytes:
    """The model in `flatbuffer`, smaller and computing the same (see the module docstring)."""
    schema = _schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(bytearray(flatbuffer), 0))
    if any(b.offset for b in model.buffers or []):  # > 2 GB layout: buffers outside the flatbuffer
        return flatbuffer
    for index, subgraph in enumerate(model.subgraphs or []):
        kept = _merge_constants(model, subgraph)
        _renumber(model, index, subgraph, kept)
        _drop_names(model, index, subgraph)
    _drop_empty_buffers(model)
    return _pack(schema, model)


def _data(model, tensor) -> bytes:
    buffer = model.buffers[tensor.buffer]
    return bytes(buffer.data) if buffer.data is not None else b""


def _quant_key(q) -> tuple | None:
    if q is None:
        return None
    return (_vec(q.min), _vec(q.max), _vec(q.scale), _vec(q.zeroPoint), q.quantizedDimension, q.detailsType,
            id(q.details) if q.details is not None else None)


def _vec(values) -> tuple | None:
    """A numpy array or list as a hashable tuple of Python numbers."""
    if values is None:
        return None
    return tuple(values.tolist() if hasattr(values, "tolist") else values)


def _ints(values) -> list[int]:
    """An index vector (a numpy array once read, a list once remapped, or None) as Python ints."""
    return [] if values is None else [int(i) for i in values]


def _merge_constants(model, subgraph) -> list[int]:
    """Point every use of a constant tensor to the first identical one; the tensors still used."""
    first: dict[tuple, int] = {}
    alias: dict[int, int] = {}
    for i, t in enumerate(subgraph.tensors):
        data = _data(model, t)
        if not data or t.isVariable or t.sparsity is not None:
            continue
        key = (t.type, tuple(t.shape) if t.shape is not None else None, data, _quant_key(t.quantization),
               tuple(t.shapeSignature) if t.shapeSignature is not None else None)
        alias[i] = first.setdefault(key, i)
    for op in subgraph.operators or []:
        if op.inputs is not None:
            op.inputs = [alias.get(int(i), int(i)) if i >= 0 else int(i) for i in op.inputs]
    used = set(_ints(subgraph.inputs)) | set(_ints(subgraph.outputs))
    for op in subgraph.operators or []:
        for field in (op.inputs, op.outputs, op.intermediates):
            used.update(int(i) for i in (field if field is not None else []) if i >= 0)
    for sig in model.signatureDefs or []:
        for tmap in (sig.inputs or []) + (sig.outputs or []):
            used.add(int(tmap.tensorIndex))
    return sorted(used)


def _renumber(model, index: int, subgraph, kept: list[int]) -> None:
    """Keep only the tensors in `kept`, in their order, and renumber every reference."""
    new = {old: n for n, old in enumerate(kept)}

    def remap(values):
        return None if values is None else [new[int(i)] if i >= 0 else int(i) for i in values]

    subgraph.tensors = [subgraph.tensors[i] for i in kept]
    subgraph.inputs, subgraph.outputs = remap(subgraph.inputs), remap(subgraph.outputs)
    for op in subgraph.operators or []:
        op.inputs, op.outputs, op.intermediates = remap(op.inputs), remap(op.outputs), remap(op.intermediates)
    for sig in model.signatureDefs or []:
        if sig.subgraphIndex == index:
            for tmap in (sig.inputs or []) + (sig.outputs or []):
                tmap.tensorIndex = new[int(tmap.tensorIndex)]


def _drop_names(model, index: int, subgraph) -> None:
    named = set(_ints(subgraph.inputs)) | set(_ints(subgraph.outputs))
    for sig in model.signatureDefs or []:
        if sig.subgraphIndex == index:
            named.update(int(m.tensorIndex) for m in (sig.inputs or []) + (sig.outputs or []))
    for i, t in enumerate(subgraph.tensors):
        if i not in named:
            t.name = None


def _drop_empty_buffers(model) -> None:
    """Tensors without data share buffer 0 (the schema's empty sentinel); unused buffers go."""
    def empty(b) -> bool:
        return b.data is None or len(b.data) == 0

    if not model.buffers or not empty(model.buffers[0]):
        return
    for subgraph in model.subgraphs or []:
        for t in subgraph.tensors:
            if empty(model.buffers[t.buffer]):
                t.buffer = 0
    used = {0} | {t.buffer for s in model.subgraphs or [] for t in s.tensors}
    used |= {m.buffer for m in model.metadata or []}
    kept = sorted(used)
    new = {old: n for n, old in enumerate(kept)}
    model.buffers = [model.buffers[i] for i in kept]
    for subgraph in model.subgraphs or []:
        for t in subgraph.tensors:
            t.buffer = new[t.buffer]
    for m in model.metadata or []:
        m.buffer = new[m.buffer]


class _Shared:
    """Packs like the object it wraps, once per builder and content: later packs return the first
    offset, so equal tables and vectors are stored once."""

    def __init__(self, pack, cache: dict, key) -> None:
        self._pack, self._cache, self._key = pack, cache, key

    def Pack(self, builder):  # noqa: N802 (the schema's object API name)
        if self._key not in self._cache:
            self._cache[self._key] = self._pack(builder)
        return self._cache[self._key]


def _pack(schema, model) -> bytes:
    import flatbuffers

    tables: dict = {}
    vectors: dict = {}
    for subgraph in model.subgraphs or []:
        for t in subgraph.tensors:
            q = t.quantization
            if q is not None and q.details is None:
                t.quantization = _Shared(lambda b, q=q: _pack_quant(schema, b, q, vectors), tables, _quant_key(q))
    model.buffers = [_Shared(lambda b, buf=buf: _pack_buffer(schema, b, buf), {}, None) for buf in model.buffers]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _vector(builder, vectors: dict, fmt: str, values) -> int | None:
    """The offset of a vector of `values` (struct format `fmt`: f float32, q int64), written once per content."""
    from flatbuffers import number_types

    values = _vec(values)
    if values is None:
        return None
    key = (fmt, values)
    if key not in vectors:
        size = struct.calcsize(fmt)
        flags = {"f": number_types.Float32Flags, "q": number_types.Int64Flags}[fmt]
        builder.StartVector(size, len(values), size)
        for v in reversed(values):
            builder.Prepend(flags, v)
        vectors[key] = builder.EndVector()
    return vectors[key]


def _pack_quant(schema, builder, q, vectors: dict) -> int:
    """QuantizationParametersT.Pack with its vectors shared (no details: the caller checks)."""
    fields = [(schema.QuantizationParametersAddMin, _vector(builder, vectors, "f", q.min)),
              (schema.QuantizationParametersAddMax, _vector(builder, vectors, "f", q.max)),
              (schema.QuantizationParametersAddScale, _vector(builder, vectors, "f", q.scale)),
              (schema.QuantizationParametersAddZeroPoint, _vector(builder, vectors, "q", q.zeroPoint))]
    schema.QuantizationParametersStart(builder)
    for add, offset in fields:
        if offset is not None:
            add(builder, offset)
    schema.QuantizationParametersAddDetailsType(builder, q.detailsType)
    schema.QuantizationParametersAddQuantizedDimension(builder, q.quantizedDimension)
    return schema.QuantizationParametersEnd(builder)


def _pack_buffer(schema, builder, buf) -> int:
    """BufferT.Pack with the data aligned to BUFFER_ALIGNMENT bytes."""
    data = None
    if buf.data is not None:
        raw = bytes(buf.data)
        builder.StartVector(1, len(raw), BUFFER_ALIGNMENT)
        builder.head -= len(raw)
        builder.Bytes[builder.head : builder.head + len(raw)] = raw
        data = builder.EndVector()
    schema.BufferStart(builder)
    if data is not None:
        schema.BufferAddData(builder, data)
    schema.BufferAddOffset(builder, buf.offset)
    schema.BufferAddSize(builder, buf.size)
    return schema.BufferEnd(builder)
