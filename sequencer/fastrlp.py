"""A fast RLP encoder for plain data: bytes, non-negative ints and (nested) lists/tuples.

pyrlp infers a sedes for every item and validates it on each call, which costs ~4x more than
the encoding itself; the mini-block, receipt and diff encodings are plain data, so they go
through this encoder. The output is byte-for-byte pyrlp's (property-tested against it).
:func:`decode` is the matching strict decoder for the node's own records.
"""

from __future__ import annotations

from typing import Any

import rlp

_SINGLE = [bytes((i,)) for i in range(256)]


def _length_prefix(length: int, offset: int) -> bytes:
    if length < 56:
        return _SINGLE[offset + length]
    encoded_length = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return _SINGLE[offset + 55 + len(encoded_length)] + encoded_length


def list_prefix(payload_length: int) -> bytes:
    """The RLP prefix of a list whose items' encodings total ``payload_length`` bytes."""
    return _length_prefix(payload_length, 0xC0)


def encode(item: object) -> bytes:
    """RLP-encode ``item`` (bytes, int >= 0, or a list/tuple of those, nested)."""
    kind = type(item)
    if kind is bytes:
        data: bytes = item  # type: ignore[assignment]
        if len(data) == 1 and data[0] < 0x80:
            return data
        return _length_prefix(len(data), 0x80) + data
    if kind is int:
        value: int = item  # type: ignore[assignment]
        if value < 0x80:
            if value < 0:
                raise TypeError("RLP cannot encode a negative integer")
            return b"\x80" if value == 0 else _SINGLE[value]
        data = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return _length_prefix(len(data), 0x80) + data
    if kind is list or kind is tuple:
        body = b"".join([encode(x) for x in item])  # type: ignore[attr-defined]
        return _length_prefix(len(body), 0xC0) + body
    if isinstance(item, bool):
        return encode(int(item))
    if isinstance(item, (bytes, bytearray, memoryview)):
        return encode(bytes(item))
    if isinstance(item, int):
        return encode(int(item))
    raise TypeError(f"RLP cannot encode {kind.__name__}")


class DecodingError(rlp.DecodingError):  # type: ignore[misc]
    """Malformed or non-canonical RLP (a pyrlp ``DecodingError``, for callers that catch it)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, b"")


def decode(data: bytes) -> Any:
    """Decode RLP into bytes and (nested) lists, strictly (canonical encodings only), like
    ``rlp.decode`` without a sedes. Used for the node's own records (mini-blocks, blocks,
    the genesis, account records), where pyrlp's decoder dominated reads and start-up."""
    item, end = _decode_at(data, 0)
    if end != len(data):
        raise DecodingError(f"RLP: {len(data) - end} trailing bytes")
    return item


def _long_length(data: bytes, pos: int, size: int) -> int:
    encoded = data[pos : pos + size]
    if len(encoded) != size or encoded[0] == 0:
        raise DecodingError("RLP: bad long length")
    length = int.from_bytes(encoded, "big")
    if length < 56:
        raise DecodingError("RLP: long form used for a short item")
    return length


def _decode_at(data: bytes, pos: int) -> tuple[Any, int]:
    try:
        b0 = data[pos]
    except IndexError:
        raise DecodingError("RLP: truncated input") from None
    if b0 < 0x80:
        return data[pos : pos + 1], pos + 1
    if b0 < 0xB8:
        start = pos + 1
        end = start + b0 - 0x80
        if end > len(data):
            raise DecodingError("RLP: truncated string")
        if b0 == 0x81 and data[start] < 0x80:
            raise DecodingError("RLP: single byte encoded as a string")
        return data[start:end], end
    if b0 < 0xC0:
        size = b0 - 0xB7
        start = pos + 1 + size
        end = start + _long_length(data, pos + 1, size)
        if end > len(data):
            raise DecodingError("RLP: truncated string")
        return data[start:end], end
    if b0 < 0xF8:
        start = pos + 1
        end = start + b0 - 0xC0
    else:
        size = b0 - 0xF7
        start = pos + 1 + size
        end = start + _long_length(data, pos + 1, size)
    if end > len(data):
        raise DecodingError("RLP: truncated list")
    items = []
    while start < end:
        item, start = _decode_at(data, start)
        items.append(item)
    if start != end:
        raise DecodingError("RLP: list items overrun the list")
    return items, end
