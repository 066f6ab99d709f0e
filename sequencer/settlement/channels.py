"""The OP stack's batch submission wire format: batches, channels, frames, batcher transactions.

Pure functions over bytes (docs/settlement.md; the OP derivation spec's "Batch Submission Wire
Format"):

* a **batch** (version 0) is ``0x00 ++ rlp([parent_hash, epoch_number, epoch_hash, timestamp,
  transaction_list])``, the transaction list holding the EIP-2718 encodings of one L2 block's
  transactions, in order;
* a **channel** is ``zlib(rlp_string(batch_0) ++ rlp_string(batch_1) ++ ...)`` (RFC 1950, no
  dictionary; each batch as an RLP byte string), at most :data:`MAX_RLP_BYTES_PER_CHANNEL`
  decompressed bytes;
* a **frame** carries a piece of a channel: ``channel_id(16) ++ frame_number(u16) ++
  frame_data_length(u32) ++ frame_data ++ is_last(1)``, big-endian, data at most
  :data:`MAX_FRAME_DATA` bytes;
* a **batcher transaction**'s calldata is ``0x00 ++ frame ++ frame ...`` (derivation version 0).

Decoding is strict: anything that does not parse raises :class:`WireFormatError` naming what.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import rlp
from rlp.codec import consume_item

from sequencer import fastrlp

DERIVATION_VERSION_0 = 0x00
BATCH_VERSION_0 = 0x00
CHANNEL_ID_LENGTH = 16
FRAME_OVERHEAD = CHANNEL_ID_LENGTH + 2 + 4 + 1
"""Bytes a frame adds to its data: channel id, frame number, data length, is_last."""
MAX_FRAME_DATA = 1_000_000
"""The most data one frame may carry (the OP spec's cap)."""
MAX_RLP_BYTES_PER_CHANNEL = 100_000_000
"""The most decompressed bytes a channel is read for (the OP spec's Fjord value: no zip bombs)."""
ZLIB_LEVEL = 9


class WireFormatError(ValueError):
    """Bytes that are not a well-formed batcher transaction, frame, channel or batch."""


@dataclass(frozen=True, slots=True)
class Batch:
    """One L2 block as a batch: its parent, its L1 origin (epoch), its timestamp, its transactions."""

    parent_hash: bytes
    epoch_number: int
    epoch_hash: bytes
    timestamp: int
    transactions: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Frame:
    """A piece of a channel."""

    channel_id: bytes
    number: int
    data: bytes
    is_last: bool


# -- batches ---------------------------------------------------------------------------------------
def encode_batch(batch: Batch) -> bytes:
    """``0x00 ++ rlp([parent_hash, epoch_number, epoch_hash, timestamp, transaction_list])``."""
    content = [
        batch.parent_hash,
        batch.epoch_number,
        batch.epoch_hash,
        batch.timestamp,
        list(batch.transactions),
    ]
    return bytes([BATCH_VERSION_0]) + fastrlp.encode(content)


def decode_batch(data: bytes) -> Batch:
    """The batch ``data`` encodes (version 0 only)."""
    if not data:
        raise WireFormatError("batch: empty")
    if data[0] != BATCH_VERSION_0:
        raise WireFormatError(f"batch: unknown version {data[0]}")
    try:
        fields = rlp.decode(data[1:], strict=True)
    except rlp.DecodingError as exc:
        raise WireFormatError(f"batch: not RLP: {exc}") from None
    if not isinstance(fields, list) or len(fields) != 5:
        raise WireFormatError("batch: expected a list of 5 fields")
    parent_hash, epoch_number, epoch_hash, timestamp, txs = fields
    if not isinstance(parent_hash, bytes) or len(parent_hash) != 32:
        raise WireFormatError("batch: parent_hash is not 32 bytes")
    if not isinstance(epoch_hash, bytes) or len(epoch_hash) != 32:
        raise WireFormatError("batch: epoch_hash is not 32 bytes")
    if not isinstance(txs, list) or not all(isinstance(t, bytes) for t in txs):
        raise WireFormatError("batch: transaction_list is not a list of byte strings")
    if any(not t for t in txs):
        raise WireFormatError("batch: an empty transaction")
    return Batch(
        parent_hash,
        _uint(epoch_number, "epoch_number"),
        epoch_hash,
        _uint(timestamp, "timestamp"),
        tuple(txs),
    )


def _uint(value: object, name: str) -> int:
    if not isinstance(value, bytes) or (value and value[0] == 0) or len(value) > 8:
        raise WireFormatError(f"batch: {name} is not a canonical uint64")
    return int.from_bytes(value, "big")


# -- channels --------------------------------------------------------------------------------------
def channel_payload(batches: Iterable[Batch]) -> bytes:
    """The uncompressed channel: each encoded batch as an RLP byte string, concatenated."""
    return b"".join(fastrlp.encode(encode_batch(b)) for b in batches)


def compress_channel(payload: bytes) -> bytes:
    """zlib (RFC 1950) of an uncompressed channel."""
    return zlib.compress(payload, ZLIB_LEVEL)


def encode_channel(batches: Iterable[Batch]) -> bytes:
    """The compressed channel holding ``batches``, in order."""
    return compress_channel(channel_payload(batches))


def decode_channel(data: bytes) -> list[Batch]:
    """The batches of a compressed channel, in order.

    Reads at most :data:`MAX_RLP_BYTES_PER_CHANNEL` decompressed bytes; a stream that ends
    inside a batch, or a batch that does not decode, raises :class:`WireFormatError`.
    """
    inflater = zlib.decompressobj()
    try:
        payload = inflater.decompress(data, MAX_RLP_BYTES_PER_CHANNEL)
    except zlib.error as exc:
        raise WireFormatError(f"channel: not zlib data: {exc}") from None
    if not inflater.eof and not inflater.unconsumed_tail:
        raise WireFormatError("channel: the zlib stream is truncated")
    batches: list[Batch] = []
    position = 0
    while position < len(payload):
        try:
            item, _, end = consume_item(payload, position)
        except (rlp.DecodingError, IndexError) as exc:
            raise WireFormatError(f"channel: batch {len(batches)} is not an RLP string: {exc}") from None
        if not isinstance(item, bytes):
            raise WireFormatError(f"channel: batch {len(batches)} is an RLP list, not a byte string")
        batches.append(decode_batch(item))
        position = end
    return batches


# -- frames ----------------------------------------------------------------------------------------
def encode_frame(frame: Frame) -> bytes:
    """``channel_id ++ frame_number ++ frame_data_length ++ frame_data ++ is_last``."""
    if len(frame.channel_id) != CHANNEL_ID_LENGTH:
        raise ValueError("a channel id is 16 bytes")
    if len(frame.data) > MAX_FRAME_DATA:
        raise ValueError(f"frame data over {MAX_FRAME_DATA} bytes")
    return b"".join(
        (
            frame.channel_id,
            frame.number.to_bytes(2, "big"),
            len(frame.data).to_bytes(4, "big"),
            frame.data,
            b"\x01" if frame.is_last else b"\x00",
        )
    )


def split_channel(channel_id: bytes, data: bytes, max_frame_data: int) -> list[Frame]:
    """``data`` (a compressed channel) cut into frames of at most ``max_frame_data`` bytes."""
    if not 1 <= max_frame_data <= MAX_FRAME_DATA:
        raise ValueError(f"max_frame_data must be between 1 and {MAX_FRAME_DATA}")
    pieces = [data[i : i + max_frame_data] for i in range(0, len(data), max_frame_data)] or [b""]
    if len(pieces) > 0xFFFF:
        raise ValueError("a channel has at most 65535 frames")
    return [Frame(channel_id, i, piece, i == len(pieces) - 1) for i, piece in enumerate(pieces)]


def batcher_calldata(frames: Sequence[Frame]) -> bytes:
    """A batcher transaction's calldata: the version byte, then the frames."""
    return bytes([DERIVATION_VERSION_0]) + b"".join(encode_frame(f) for f in frames)


def decode_calldata(calldata: bytes) -> list[Frame]:
    """The frames of a batcher transaction (all of them parse, or the transaction is invalid)."""
    if not calldata:
        raise WireFormatError("calldata: empty")
    if calldata[0] != DERIVATION_VERSION_0:
        raise WireFormatError(f"calldata: unknown derivation version {calldata[0]}")
    frames: list[Frame] = []
    position = 1
    while position < len(calldata):
        if len(calldata) - position < FRAME_OVERHEAD:
            raise WireFormatError(f"frame {len(frames)}: truncated header")
        channel_id = calldata[position : position + CHANNEL_ID_LENGTH]
        number = int.from_bytes(calldata[position + 16 : position + 18], "big")
        length = int.from_bytes(calldata[position + 18 : position + 22], "big")
        if length > MAX_FRAME_DATA:
            raise WireFormatError(f"frame {len(frames)}: data length {length} over {MAX_FRAME_DATA}")
        start = position + 22
        end = start + length
        if end + 1 > len(calldata):
            raise WireFormatError(f"frame {len(frames)}: truncated data")
        flag = calldata[end]
        if flag not in (0, 1):
            raise WireFormatError(f"frame {len(frames)}: is_last is {flag}, not 0 or 1")
        frames.append(Frame(bytes(channel_id), number, bytes(calldata[start:end]), flag == 1))
        position = end + 1
    if not frames:
        raise WireFormatError("calldata: no frames")
    return frames
