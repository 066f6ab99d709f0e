"""The fast RLP encoder produces exactly pyrlp's bytes for plain data."""

from __future__ import annotations

import pytest
import rlp
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer import fastrlp

leaves = st.one_of(st.binary(max_size=80), st.integers(min_value=0, max_value=2**300))
items = st.recursive(leaves, lambda children: st.lists(children, max_size=8), max_leaves=60)


@settings(max_examples=400, deadline=None)
@given(items)
def test_encoding_equals_pyrlp(item: object) -> None:
    assert fastrlp.encode(item) == rlp.encode(item)


@pytest.mark.parametrize(
    "item",
    [
        0,
        1,
        0x7F,
        0x80,
        0xFF,
        0x100,
        2**64,
        b"",
        b"\x00",
        b"\x7f",
        b"\x80",
        b"x" * 55,
        b"x" * 56,
        b"x" * 300,
        b"x" * 70_000,
        [],
        [[]],
        [b"x" * 60] * 3,
        (1, b"a", [2, [3]]),
        True,
        False,
        bytearray(b"abc"),
    ],
)
def test_length_boundaries_and_types(item: object) -> None:
    assert fastrlp.encode(item) == rlp.encode(item)


def test_tuples_and_views_encode_like_lists_and_bytes() -> None:
    assert fastrlp.encode((1, (b"a",))) == fastrlp.encode([1, [b"a"]])
    assert fastrlp.encode(memoryview(b"abc")) == fastrlp.encode(b"abc")


@pytest.mark.parametrize("item", [-1, "text", 1.5, None, {1: 2}])
def test_rejects_what_rlp_cannot_encode(item: object) -> None:
    with pytest.raises(TypeError):
        fastrlp.encode(item)


# -- decoding ----------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(items)
def test_decoding_inverts_encoding_like_pyrlp(item: object) -> None:
    encoded = fastrlp.encode(item)
    assert fastrlp.decode(encoded) == rlp.decode(encoded)


def _pyrlp(data: bytes) -> object:
    try:
        return rlp.decode(data)
    except rlp.DecodingError:
        return "rejected"


def _fast(data: bytes) -> object:
    try:
        return fastrlp.decode(data)
    except fastrlp.DecodingError:
        return "rejected"


@settings(max_examples=600, deadline=None)
@given(st.one_of(st.binary(min_size=1, max_size=40), items.map(fastrlp.encode)), st.data())
def test_any_input_is_accepted_or_rejected_exactly_like_pyrlp(data: bytes, draw: st.DataObject) -> None:
    """Random bytes and damaged encodings (a byte changed, cut short, extended): the same items,
    or rejected, as pyrlp's strict decoder."""
    variants = [data, data[:-1], data + b"\x00"]
    i = draw.draw(st.integers(0, len(data) - 1))
    variants.append(data[:i] + bytes([draw.draw(st.integers(0, 255))]) + data[i + 1 :])
    for variant in variants:
        if variant:
            assert _fast(variant) == _pyrlp(variant), variant.hex()


@pytest.mark.parametrize(
    ("data", "valid"),
    [
        ("81", False),  # truncated
        ("8100", False),  # one byte below 0x80 encoded as a string
        ("b800", False),  # long form for a short string
        ("b838" + "00" * 56, True),
        ("b90038" + "00" * 56, False),  # length with a leading zero
        ("f800", False),
        ("c2", False),
        ("c180", True),
        ("c3c2c0", False),  # an item overruns its list
        ("8000", False),  # trailing bytes
    ],
)
def test_edge_encodings_are_judged_like_pyrlp(data: str, valid: bool) -> None:
    raw = bytes.fromhex(data)
    assert _fast(raw) == _pyrlp(raw)
    assert (_fast(raw) != "rejected") is valid
