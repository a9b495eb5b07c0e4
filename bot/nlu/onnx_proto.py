"""Just enough of the ONNX protobuf format to write a model, with no ``onnx`` package.

Why: onnxruntime runs a serialised ``ModelProto`` given as bytes; the ``onnx`` package
that usually writes one adds 67 MB (mostly its test data). The wire format needed
here is small: varints, length-delimited fields and the field numbers of onnx.proto3
(ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto).
Checked while writing it: ``onnx.checker.check_model`` accepts the encoder's graph;
tests/unit/test_encoder_onnx.py checks that onnxruntime runs it to the NumPy vectors.
"""

from __future__ import annotations

import struct
from typing import Iterable, List, Optional, Sequence, Union

import numpy as np

FLOAT, INT8, INT32, INT64 = 1, 3, 6, 7  # TensorProto.DataType
_NP_TYPES = {np.dtype(np.float32): FLOAT, np.dtype(np.int8): INT8, np.dtype(np.int32): INT32,
             np.dtype(np.int64): INT64}
Dim = Union[int, str]


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64 values are written as 10-byte two's complement
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def f_int(field: int, value: int) -> bytes:
    """A varint field (int32, int64, enum)."""
    return _key(field, 0) + _varint(value)


def f_bytes(field: int, value: Union[bytes, str]) -> bytes:
    """A length-delimited field (string, bytes, embedded message)."""
    raw = value.encode() if isinstance(value, str) else value
    return _key(field, 2) + _varint(len(raw)) + raw


def f_float(field: int, value: float) -> bytes:
    """A 32-bit float field."""
    return _key(field, 5) + struct.pack("<f", value)


def tensor(name: str, array: np.ndarray) -> bytes:
    """TensorProto: dims=1, data_type=2, name=8, raw_data=9 (little-endian)."""
    array = np.ascontiguousarray(array)
    out = b"".join(f_int(1, d) for d in array.shape)
    out += f_int(2, _NP_TYPES[array.dtype]) + f_bytes(8, name)
    return out + f_bytes(9, array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())


def attr(name: str, value: Union[int, float, str, Sequence[int]]) -> bytes:
    """AttributeProto: name=1, f=2, i=3, s=4, ints=8, type=20."""
    out = f_bytes(1, name)
    if isinstance(value, bool) or isinstance(value, int):
        return out + f_int(3, int(value)) + f_int(20, 2)
    if isinstance(value, float):
        return out + f_float(2, value) + f_int(20, 1)
    if isinstance(value, str):
        return out + f_bytes(4, value) + f_int(20, 3)
    return out + b"".join(f_int(8, v) for v in value) + f_int(20, 7)


def node(op: str, inputs: Iterable[str], outputs: Iterable[str], name: str,
         domain: str = "", **attrs: Union[int, float, str, Sequence[int]]) -> bytes:
    """NodeProto: input=1, output=2, name=3, op_type=4, attribute=5, domain=7."""
    out = b"".join(f_bytes(1, i) for i in inputs) + b"".join(f_bytes(2, o) for o in outputs)
    out += f_bytes(3, name) + f_bytes(4, op)
    out += b"".join(f_bytes(5, attr(k, v)) for k, v in sorted(attrs.items()))
    return out + (f_bytes(7, domain) if domain else b"")


def value_info(name: str, elem_type: int, shape: Sequence[Dim]) -> bytes:
    """ValueInfoProto(name=1, type=2: TypeProto.tensor_type=1: elem_type=1, shape=2)."""
    dims = b"".join(f_bytes(1, f_int(1, d) if isinstance(d, int) else f_bytes(2, d)) for d in shape)
    return f_bytes(1, name) + f_bytes(2, f_bytes(1, f_int(1, elem_type) + f_bytes(2, dims)))


def model(nodes: List[bytes], name: str, inputs: List[bytes], outputs: List[bytes],
          initializers: List[bytes], opsets: Sequence[tuple], ir_version: int = 8,
          producer: Optional[str] = None) -> bytes:
    """ModelProto(ir_version=1, producer_name=2, graph=7, opset_import=8) around a GraphProto
    (node=1, name=2, initializer=5, input=11, output=12)."""
    graph = b"".join(f_bytes(1, n) for n in nodes) + f_bytes(2, name)
    graph += b"".join(f_bytes(5, t) for t in initializers)
    graph += b"".join(f_bytes(11, i) for i in inputs) + b"".join(f_bytes(12, o) for o in outputs)
    out = f_int(1, ir_version) + (f_bytes(2, producer) if producer else b"") + f_bytes(7, graph)
    return out + b"".join(f_bytes(8, (f_bytes(1, d) if d else b"") + f_int(2, v)) for d, v in opsets)
