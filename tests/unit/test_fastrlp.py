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
