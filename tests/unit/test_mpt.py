"""Equivalence tests: sequencer.trie.MerklePatriciaTrie vs py-trie's HexaryTrie."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
import rlp
from eth_hash.auto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trie.hexary import HexaryTrie

from sequencer.trie import EMPTY_ROOT, MerklePatriciaTrie, compute_root

# Deterministic hypothesis runs: fixed seed derivation, no example database,
# no per-example deadline (py-trie is slow on a loaded machine).
DETERMINISTIC = settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# An operation: (key, value, check_root_now).  value == b"" means delete;
# deletes are issued alternately through set(k, b"") and delete(k).
Op = tuple[bytes, bytes, bool]


def _hexary(items: dict[bytes, bytes]) -> HexaryTrie:
    h = HexaryTrie({})
    for k, v in items.items():
        h.set(k, v)
    return h


def _check_against_model(t: MerklePatriciaTrie, model: dict[bytes, bytes], probe: Sequence[bytes]) -> None:
    assert len(t) == len(model)
    # items() walks the node structure, so this checks the trie itself, not
    # only the key/value mirror.
    assert list(t.items()) == sorted(model.items())
    for k in probe:
        assert t.get(k) == model.get(k)
        assert (k in t) == (k in model)
    # History independence: the same contents give the same root however
    # they were reached.
    assert t.root_hash() == compute_root(model.items())


def _run_ops(ops: Sequence[Op]) -> None:
    t = MerklePatriciaTrie()
    h = HexaryTrie({})
    model: dict[bytes, bytes] = {}
    for n, (key, value, check) in enumerate(ops):
        if value:
            t.set(key, value)
            model[key] = value
        else:
            if n % 2:
                t.delete(key)
            else:
                t.set(key, b"")
            model.pop(key, None)
        h.set(key, value)  # HexaryTrie: empty value == delete
        if check:
            # Ask for the root mid-sequence; later updates must only
            # invalidate the dirty paths of this cached state.
            assert t.root_hash() == h.root_hash
            assert t.get(key) == model.get(key)
    assert t.root_hash() == h.root_hash
    assert len(t.root_hash()) == 32
    _check_against_model(t, model, [k for k, _, _ in ops] + [b"", b"\x00", b"\xff" * 3])


# --------------------------------------------------------------------------
# Property tests
# --------------------------------------------------------------------------

# Short keys over a small alphabet collide often and share prefixes (including
# keys that are prefixes of other keys -> branch values, and the empty key).
_short_key = st.one_of(
    st.lists(st.sampled_from([0x00, 0x01, 0x10, 0x11, 0x12, 0xFF]), max_size=5).map(bytes),
    st.binary(max_size=5),
)
_short_value = st.one_of(
    st.binary(min_size=1, max_size=40),
    st.integers(0, 0x7F).map(lambda i: bytes((i,))),  # single bytes encode as themselves
    st.just(b""),  # delete
)


def _sized_lists(elements: st.SearchStrategy[Op], max_size: int) -> st.SearchStrategy[list[Op]]:
    # Hypothesis' own list-size distribution favours very short lists; draw
    # the length uniformly so that long operation sequences are common.
    return st.integers(0, max_size).flatmap(lambda n: st.lists(elements, min_size=n, max_size=n))


_short_ops = _sized_lists(st.tuples(_short_key, _short_value, st.booleans()), 80)


@settings(DETERMINISTIC, max_examples=250)
@given(_short_ops)
def test_short_keys_and_values_match_hexary_trie(ops: list[Op]) -> None:
    _run_ops(ops)


# 32-byte keys (state-shaped): keys share a few common prefixes so that
# extensions and deep branches occur; values are RLP accounts or storage words.
_key32 = st.builds(
    lambda prefix, rest: (prefix + rest)[:32],
    st.sampled_from([b"", b"\xab", b"\xab\xcd", b"\xab\xcd\xe0", b"\x00" * 30]),
    st.binary(min_size=32, max_size=32),
)
_account = st.builds(
    lambda nonce, balance, storage_root, code_hash: rlp.encode([nonce, balance, storage_root, code_hash]),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**128),
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=32, max_size=32),
)
_storage_word = st.integers(1, 2**256 - 1).map(rlp.encode)
_value32 = st.one_of(_account, _storage_word, st.just(b""))


@st.composite
def _ops32(draw: st.DrawFn) -> list[Op]:
    pool = draw(st.lists(_key32, min_size=1, max_size=25, unique=True))
    return draw(_sized_lists(st.tuples(st.sampled_from(pool), _value32, st.booleans()), 80))


@settings(DETERMINISTIC, max_examples=120)
@given(_ops32())
def test_32_byte_keys_and_account_values_match_hexary_trie(ops: list[Op]) -> None:
    _run_ops(ops)


@settings(DETERMINISTIC, max_examples=60)
@given(
    st.dictionaries(_short_key, st.binary(min_size=1, max_size=40), min_size=5, max_size=40),
    st.randoms(use_true_random=False),
)
def test_delete_everything_in_any_order_returns_to_empty(
    items: dict[bytes, bytes], rnd: random.Random
) -> None:
    t = MerklePatriciaTrie()
    for k, v in items.items():
        t.set(k, v)
    assert t.root_hash() == _hexary(items).root_hash
    keys = list(items)
    rnd.shuffle(keys)
    remaining = dict(items)
    for k in keys:
        t.delete(k)
        del remaining[k]
        assert t.root_hash() == compute_root(remaining.items())
    assert t.root_hash() == EMPTY_ROOT
    assert len(t) == 0
    assert list(t.items()) == []


# --------------------------------------------------------------------------
# Fixed vectors
# --------------------------------------------------------------------------


def test_empty_root() -> None:
    expected = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
    assert expected == EMPTY_ROOT
    assert keccak(rlp.encode(b"")) == expected
    assert MerklePatriciaTrie().root_hash() == expected
    assert HexaryTrie({}).root_hash == expected
    assert compute_root([]) == expected
    assert len(MerklePatriciaTrie()) == 0


def test_single_short_key_value_root_is_hashed() -> None:
    # rlp([hex-prefix(leaf, "61"), "b"]) is 4 bytes -- under 32, yet the root
    # is still keccak(rlp(root node)).
    t = MerklePatriciaTrie()
    t.set(b"a", b"b")
    node_rlp = rlp.encode([b"\x20\x61", b"b"])
    assert len(node_rlp) < 32
    assert t.root_hash() == keccak(node_rlp)
    assert t.root_hash() == _hexary({b"a": b"b"}).root_hash


def test_empty_key() -> None:
    t = MerklePatriciaTrie()
    t.set(b"", b"x")
    assert t.root_hash() == keccak(rlp.encode([b"\x20", b"x"]))
    assert t.get(b"") == b"x"
    t.set(b"\x01", b"y")
    assert t.root_hash() == _hexary({b"": b"x", b"\x01": b"y"}).root_hash
    t.delete(b"")
    assert t.root_hash() == _hexary({b"\x01": b"y"}).root_hash


@pytest.mark.parametrize(
    ("items", "root"),
    [
        (
            {b"doe": b"reindeer", b"dog": b"puppy", b"dogglesworth": b"cat"},
            "8aad789dff2f538bca5d8ea56e8abe10f4c7ba3a5dea95fea4cd6e7c3a1168d3",
        ),
        (
            {b"foo": b"bar", b"food": b"bass"},
            "17beaa1648bafa633cda809c90c04af50fc8aed3cb40d16efbddee6fdf63c4c3",
        ),
        (
            {b"be": b"e", b"dog": b"puppy", b"bed": b"d"},
            "3f67c7a47520f79faa29255d2d3c084a7a6df0453116ed7232ff10277a8be68b",
        ),
        (
            {b"test": b"test", b"te": b"testy"},
            "8452568af70d8d140f58d941338542f645fcca50094b20f3c3d8c3df49337928",
        ),
        (
            {b"A": b"a" * 50},
            "d23786fb4a010da3ce639d66d5e904a11dbc02746d1ce25029e53290cabf28ab",
        ),
    ],
)
def test_standard_vectors(items: dict[bytes, bytes], root: str) -> None:
    expected = bytes.fromhex(root)
    assert _hexary(items).root_hash == expected
    for order in (list(items.items()), list(reversed(items.items()))):
        t = MerklePatriciaTrie()
        for k, v in order:
            t.set(k, v)
        assert t.root_hash() == expected
        assert compute_root(order) == expected


def test_ethereum_empty_values_vector() -> None:
    # ethereum/tests TrieTests/trietest.json "emptyValues".
    ops = [
        (b"do", b"verb"),
        (b"ether", b"wookiedoo"),
        (b"horse", b"stallion"),
        (b"shaman", b"horse"),
        (b"doge", b"coin"),
        (b"ether", b""),
        (b"dog", b"puppy"),
        (b"shaman", b""),
    ]
    t = MerklePatriciaTrie()
    h = HexaryTrie({})
    for k, v in ops:
        t.set(k, v)
        h.set(k, v)
        assert t.root_hash() == h.root_hash
    expected = bytes.fromhex("5991bb8c6514148a29db676a14ac506cd2cd5775ace63c30a4fe457715e9ac84")
    assert t.root_hash() == expected


# --------------------------------------------------------------------------
# Structural corner cases of deletion (each compared to py-trie and to a
# freshly built trie of the remaining items)
# --------------------------------------------------------------------------


def _check_delete_sequence(initial: dict[bytes, bytes], deletions: Sequence[bytes]) -> None:
    t = MerklePatriciaTrie()
    h = HexaryTrie({})
    for k, v in initial.items():
        t.set(k, v)
        h.set(k, v)
    assert t.root_hash() == h.root_hash
    remaining = dict(initial)
    for k in deletions:
        t.delete(k)
        h.delete(k)
        del remaining[k]
        assert t.root_hash() == h.root_hash
        assert t.root_hash() == compute_root(remaining.items())
        assert list(t.items()) == sorted(remaining.items())


@pytest.mark.parametrize("value", [b"v", b"long value " * 4], ids=["embedded", "hashed"])
def test_delete_leaf_absorbs_nibble_and_merges_into_extension(value: bytes) -> None:
    # ext(1,2,3) -> branch{4: leaf, 5: leaf}; deleting one leaves the other
    # leaf re-parented (path gains nibble 4) and merged with the extension.
    _check_delete_sequence({b"\x12\x34": value, b"\x12\x35": value}, [b"\x12\x35"])


@pytest.mark.parametrize("value", [b"v", b"long value " * 4], ids=["embedded", "hashed"])
def test_delete_extension_extension_merge(value: bytes) -> None:
    # ext(1) -> branch{1: ext(1,1,1,1) -> branch{0,1}, 2: leaf}; deleting the
    # leaf collapses the branch to ext(1)+ext(1,1,1,1) -> ext(1,1,1,1,1,1).
    initial = {b"\x11\x11\x10": value, b"\x11\x11\x11": value, b"\x12\x00\x00": value}
    _check_delete_sequence(initial, [b"\x12\x00\x00"])


@pytest.mark.parametrize("value", [b"v", b"long value " * 4], ids=["embedded", "hashed"])
def test_delete_branch_child_becomes_extension(value: bytes) -> None:
    # Root branch with children 1 and 2; child 1 is a branch.  Deleting the key
    # under 2 leaves a single branch child, which becomes ext(1) -> branch.
    initial = {b"\x10": value, b"\x11": value, b"\x20": value}
    _check_delete_sequence(initial, [b"\x20"])


@pytest.mark.parametrize("value", [b"v", b"long value " * 4], ids=["embedded", "hashed"])
def test_branch_left_with_only_value_becomes_leaf(value: bytes) -> None:
    # b"\x12" is a prefix of b"\x12\x34": its value lives in a branch.
    _check_delete_sequence({b"\x12": value, b"\x12\x34": value}, [b"\x12\x34"])
    _check_delete_sequence({b"\x12": value, b"\x12\x34": value, b"\x22": value}, [b"\x12\x34", b"\x22"])
    # Removing the branch value instead leaves a single leaf child.
    _check_delete_sequence({b"\x12": value, b"\x12\x34": value, b"\x22": value}, [b"\x12", b"\x22"])


def test_no_op_updates_and_missing_deletes() -> None:
    t = MerklePatriciaTrie()
    t.set(b"key", b"value")
    root = t.root_hash()
    t.set(b"key", b"value")
    t.delete(b"missing")
    t.set(b"other", b"")
    assert t.root_hash() == root
    assert len(t) == 1
    assert t.get(b"missing") is None
    assert t.get(b"ke") is None
    assert t.get(b"keys") is None


def test_root_cache_invalidation_mid_sequence() -> None:
    rnd = random.Random(1234)
    keys = [rnd.randbytes(32) for _ in range(200)]
    t = MerklePatriciaTrie()
    h = HexaryTrie({})
    for i, k in enumerate(keys):
        v = rlp.encode([i, i * 10**18, rnd.randbytes(32), rnd.randbytes(32)])
        t.set(k, v)
        h.set(k, v)
    assert t.root_hash() == h.root_hash
    for _ in range(5):
        for k in rnd.sample(keys, 15):
            v = rlp.encode(rnd.randrange(1, 2**64)) if rnd.random() < 0.8 else b""
            t.set(k, v)
            h.set(k, v)
        assert t.root_hash() == h.root_hash
        assert t.root_hash() == h.root_hash  # cached


# --------------------------------------------------------------------------
# compute_root for transactions/receipts-style tries
# --------------------------------------------------------------------------


def test_compute_root_transaction_style_keys() -> None:
    rnd = random.Random(42)
    items: list[tuple[bytes, bytes]] = []
    h = HexaryTrie({})
    assert compute_root(items) == h.root_hash
    for i in range(301):
        # Mostly tx-sized values, some short enough to be embedded.
        value = rnd.randbytes(rnd.choice([1, 5, 20, 100, 200]))
        key = rlp.encode(i)
        items.append((key, value))
        h.set(key, value)
        assert compute_root(items) == h.root_hash, i
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert compute_root(shuffled) == h.root_hash
