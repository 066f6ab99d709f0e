"""The batch submission wire format is the OP stack's, byte for byte.

Each encoding is checked against bytes assembled here from the spec's layout (derivation.md,
"Batch Submission Wire Format") with independent tools (pyrlp, zlib), not against the codec's
own encoder; decoding refuses anything the spec calls invalid, naming what is wrong.
"""

from __future__ import annotations

import zlib

import pytest
import rlp
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer.settlement import channels
from sequencer.settlement.channels import (
    Batch,
    Frame,
    WireFormatError,
    batcher_calldata,
    decode_batch,
    decode_calldata,
    decode_channel,
    encode_batch,
    encode_channel,
    encode_frame,
    split_channel,
)

PARENT = bytes(range(32))
EPOCH_HASH = bytes(range(32, 64))
TX_A = bytes.fromhex("02f86b820539808080825208940000000000000000000000000000000000000001018080c0")
TX_B = bytes.fromhex("f86b8085")


def test_a_batch_is_version_zero_then_the_rlp_list_of_its_five_fields() -> None:
    batch = Batch(PARENT, 17, EPOCH_HASH, 1_700_000_000, (TX_A, TX_B))
    expected = b"\x00" + rlp.encode([PARENT, 17, EPOCH_HASH, 1_700_000_000, [TX_A, TX_B]])
    assert encode_batch(batch) == expected
    assert decode_batch(expected) == batch


def test_an_empty_block_is_a_batch_with_an_empty_transaction_list() -> None:
    batch = Batch(PARENT, 0, EPOCH_HASH, 1, ())
    assert encode_batch(batch) == b"\x00" + rlp.encode([PARENT, 0, EPOCH_HASH, 1, []])
    assert decode_batch(encode_batch(batch)).transactions == ()


def test_a_frame_is_id_number_length_data_and_the_last_flag() -> None:
    frame = Frame(bytes.fromhex("000102030405060708090a0b0c0d0e0f"), 1, b"abc", True)
    assert encode_frame(frame).hex() == (
        "000102030405060708090a0b0c0d0e0f"  # channel_id, 16 bytes
        "0001"  # frame_number, uint16 big-endian
        "00000003"  # frame_data_length, uint32 big-endian
        "616263"  # frame_data
        "01"  # is_last
    )
    assert channels.FRAME_OVERHEAD == 23


def test_batcher_calldata_is_the_version_byte_then_frames_and_decodes_to_them() -> None:
    a = Frame(b"\x11" * 16, 0, b"first", False)
    b = Frame(b"\x11" * 16, 1, b"", True)
    calldata = batcher_calldata([a, b])
    assert calldata[0] == 0x00
    assert calldata[1:] == encode_frame(a) + encode_frame(b)
    assert decode_calldata(calldata) == [a, b]


def test_a_channel_is_zlib_of_the_batches_as_rlp_byte_strings() -> None:
    batches = [Batch(PARENT, 5, EPOCH_HASH, 10, (TX_A,)), Batch(PARENT, 6, EPOCH_HASH, 11, ())]
    data = encode_channel(batches)
    assert data[0] & 0x0F == 8  # RFC 1950: deflate
    expected_payload = b"".join(rlp.encode(encode_batch(b)) for b in batches)
    assert zlib.decompress(data) == expected_payload
    assert decode_channel(data) == batches


def test_a_channel_cut_into_frames_reassembles_in_order() -> None:
    data = encode_channel([Batch(PARENT, 1, EPOCH_HASH, 2, (TX_A,) * 50)])
    frames = split_channel(b"\x22" * 16, data, 40)
    assert [f.number for f in frames] == list(range(len(frames)))
    assert [f.is_last for f in frames] == [False] * (len(frames) - 1) + [True]
    assert all(len(f.data) <= 40 for f in frames)
    assert b"".join(f.data for f in frames) == data


@pytest.mark.parametrize(
    ("calldata", "problem"),
    [
        (b"", "empty"),
        (b"\x01" + encode_frame(Frame(b"\x00" * 16, 0, b"x", True)), "unknown derivation version 1"),
        (b"\x00", "no frames"),
        (b"\x00" + encode_frame(Frame(b"\x00" * 16, 0, b"xyz", True))[:-2], "truncated data"),
        (b"\x00" + encode_frame(Frame(b"\x00" * 16, 0, b"x", True))[:-1] + b"\x02", "is_last is 2"),
        (b"\x00" + b"\x00" * 10, "truncated header"),
        (b"\x00" + b"\x00" * 18 + (1_000_001).to_bytes(4, "big") + b"\x00", "over 1000000"),
    ],
)
def test_calldata_that_is_not_a_batcher_transaction_is_refused(calldata: bytes, problem: str) -> None:
    with pytest.raises(WireFormatError, match=problem):
        decode_calldata(calldata)


def test_one_bad_frame_makes_the_whole_transaction_invalid() -> None:
    good = encode_frame(Frame(b"\x00" * 16, 0, b"ok", False))
    with pytest.raises(WireFormatError, match="frame 1"):
        decode_calldata(b"\x00" + good + b"\x01\x02")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty"),
        (b"\x01" + rlp.encode([PARENT, 1, EPOCH_HASH, 1, []]), "unknown version 1"),
        (b"\x00" + rlp.encode([PARENT, 1, EPOCH_HASH, 1]), "5 fields"),
        (b"\x00" + rlp.encode([PARENT[:31], 1, EPOCH_HASH, 1, []]), "parent_hash"),
        (b"\x00" + rlp.encode([PARENT, 1, EPOCH_HASH[:5], 1, []]), "epoch_hash"),
        (b"\x00" + rlp.encode([PARENT, b"\x00\x01", EPOCH_HASH, 1, []]), "epoch_number"),
        (b"\x00" + rlp.encode([PARENT, 1, EPOCH_HASH, 1, [b""]]), "empty transaction"),
        (b"\x00" + rlp.encode([PARENT, 1, EPOCH_HASH, 1, [[b"x"]]]), "list of byte strings"),
        (b"\x00\xff", "not RLP"),
    ],
)
def test_malformed_batches_are_refused(data: bytes, problem: str) -> None:
    with pytest.raises(WireFormatError, match=problem):
        decode_batch(data)


def test_channel_data_that_is_not_a_zlib_stream_of_rlp_strings_is_refused() -> None:
    with pytest.raises(WireFormatError, match="not zlib"):
        decode_channel(b"not zlib at all")
    with pytest.raises(WireFormatError, match="truncated"):
        decode_channel(encode_channel([Batch(PARENT, 1, EPOCH_HASH, 2, (TX_A,))])[:-6])
    with pytest.raises(WireFormatError, match="RLP list"):
        decode_channel(zlib.compress(rlp.encode([b"a list"])))


def test_decompression_stops_at_the_channel_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channels, "MAX_RLP_BYTES_PER_CHANNEL", 1000)
    bomb = zlib.compress(rlp.encode(b"\x00" + b"\x00" * 100_000))
    with pytest.raises(WireFormatError):
        decode_channel(bomb)  # reading stops after 1000 bytes, inside the first batch


batches_strategy = st.lists(
    st.builds(
        Batch,
        st.binary(min_size=32, max_size=32),
        st.integers(0, 2**64 - 1),
        st.binary(min_size=32, max_size=32),
        st.integers(0, 2**64 - 1),
        st.lists(st.binary(min_size=1, max_size=200), max_size=5).map(tuple),
    ),
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(batches_strategy, st.integers(1, 300))
def test_any_batches_survive_channel_frames_and_calldata(batches: list[Batch], frame_size: int) -> None:
    frames = split_channel(b"\x33" * 16, encode_channel(batches), frame_size)
    received = [f for tx in frames for f in decode_calldata(batcher_calldata([tx]))]
    assert decode_channel(b"".join(f.data for f in received)) == batches
