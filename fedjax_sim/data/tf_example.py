"""Decoding of serialized `tf.train.Example` protos without TensorFlow.

TFF's SQLite files store one `tf.train.Example` per row. Its wire format is
small enough to read directly: `Example{features: Features = 1}`,
`Features{feature: map<string, Feature> = 1}` and `Feature` is one of
`bytes_list = 1`, `float_list = 2`, `int64_list = 3`, each a list in field 1
(numbers packed or not).
"""

from __future__ import annotations

import struct
from typing import Iterator

import numpy as np

_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
  result, shift = 0, 0
  while True:
    if pos >= len(buf):
      raise ValueError('truncated varint')
    byte = buf[pos]
    result |= (byte & 0x7F) << shift
    pos += 1
    if byte < 0x80:
      return result, pos
    shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
  """Yields `(field number, wire type, value)`; LEN values as bytes."""
  pos = 0
  while pos < len(buf):
    tag, pos = _varint(buf, pos)
    field, wire = tag >> 3, tag & 7
    if wire == _VARINT:
      value, pos = _varint(buf, pos)
    elif wire == _LEN:
      size, pos = _varint(buf, pos)
      if pos + size > len(buf):
        raise ValueError('truncated length-delimited field')
      value, pos = buf[pos:pos + size], pos + size
    elif wire == _FIXED32:
      value, pos = buf[pos:pos + 4], pos + 4
    elif wire == _FIXED64:
      value, pos = buf[pos:pos + 8], pos + 8
    else:
      raise ValueError(f'unsupported wire type {wire}')
    yield field, wire, value


def _signed64(value: int) -> int:
  return value - (1 << 64) if value >= 1 << 63 else value


def _values(kind: int, payload: bytes) -> list | np.ndarray:
  """The values of a BytesList (1), FloatList (2) or Int64List (3)."""
  if kind == 1:
    return [bytes(v) for _, _, v in _fields(payload)]
  numbers: list = []
  for _, wire, value in _fields(payload):
    if kind == 2 and wire == _LEN:
      numbers.extend(struct.unpack(f'<{len(value) // 4}f', value))
    elif kind == 2:
      numbers.append(struct.unpack('<f', value)[0])
    elif wire == _LEN:
      pos = 0
      while pos < len(value):
        number, pos = _varint(value, pos)
        numbers.append(_signed64(number))
    else:
      numbers.append(_signed64(value))
  return np.asarray(numbers, np.float32 if kind == 2 else np.int64)


def parse_example(blob: bytes) -> dict[str, list | np.ndarray]:
  """Feature name -> values: a list of bytes, or a float32 / int64 array.

  Raises:
    ValueError: `blob` is not a well-formed `tf.train.Example`.
  """
  features: dict[str, list | np.ndarray] = {}
  for field, wire, feats in _fields(blob):
    if field != 1 or wire != _LEN:
      continue
    for entry_field, _, entry in _fields(feats):
      if entry_field != 1:
        continue
      name, value = None, b''
      for f, _, v in _fields(entry):
        if f == 1:
          name = bytes(v).decode('utf-8')
        elif f == 2:
          value = v
      if name is None:
        raise ValueError('feature map entry without a name')
      kind_payload = [(f, v) for f, w, v in _fields(value) if w == _LEN]
      kind, payload = kind_payload[-1] if kind_payload else (1, b'')
      features[name] = _values(kind, payload)
  return features
