"""A fast RLP encoder for plain data: bytes, non-negative ints and (nested) lists/tuples.

pyrlp infers a sedes for every item and validates it on each call, which costs ~4x more than
the encoding itself; the mini-block, receipt and diff encodings are plain data, so they go
through this encoder. The output is byte-for-byte pyrlp's (property-tested against it).
Decoding stays with pyrlp (backed by rusty-rlp when installed).
"""

from __future__ import annotations

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
