"""The event-loop side of a call worker's pipe reads answers as they arrive.

Specified: :func:`sequencer.rpc.callworkers._take_message` takes whole messages of
``multiprocessing.Connection``'s framing off a buffer (the 4-byte length, and the 8-byte one
after -1 for huge messages), leaves an incomplete one (of any size, split anywhere) for the next
read, and takes several in order; so an answer larger than the socket's buffer (a struct-logger
trace) arrives over many reads instead of killing the worker.
"""

from __future__ import annotations

import pickle
import struct

from sequencer.rpc.callworkers import _take_message


def framed(payload: bytes, huge: bool = False) -> bytes:
    if huge:
        return struct.pack("!i", -1) + struct.pack("!Q", len(payload)) + payload
    return struct.pack("!i", len(payload)) + payload


def test_a_message_split_anywhere_is_taken_only_once_whole() -> None:
    payload = pickle.dumps({"structLogs": ["x" * 100] * 5_000})
    wire = framed(payload)
    for cut in (0, 1, 3, 4, 5, len(wire) // 2, len(wire) - 1):
        buffer = bytearray(wire[:cut])
        assert _take_message(buffer) is None
        assert bytes(buffer) == wire[:cut], "an incomplete message stays in the buffer"
        buffer += wire[cut:]
        assert _take_message(buffer) == payload
        assert buffer == bytearray()


def test_several_messages_come_out_in_order_and_the_8_byte_length_is_read() -> None:
    first, second = pickle.dumps("ready"), b"\x01" * 70_000
    buffer = bytearray(framed(first) + framed(second, huge=True) + framed(b"tail")[:3])
    assert _take_message(buffer) == first
    assert _take_message(buffer) == second
    assert _take_message(buffer) is None and len(buffer) == 3
