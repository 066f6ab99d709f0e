"""Fast in-memory Ethereum Merkle-Patricia trie.

The trie keeps *decoded* nodes in memory (leaf / extension / branch objects)
and caches, on every node, its encoded "reference form": the bytes that the
node contributes to its parent's RLP payload.  That is either ``0xa0 ||
keccak(rlp(node))`` (the RLP encoding of a 32-byte hash) when the node's RLP
is 32 bytes or longer, or the node's raw RLP itself when it is shorter (an
embedded node).  Mutations clear the cache only on the nodes along the path
they touch, so :meth:`MerklePatriciaTrie.root_hash` re-encodes and re-hashes
only dirty nodes.

The resulting roots are byte-identical to py-trie's ``HexaryTrie`` (and
therefore to the Ethereum yellow-paper trie), including the corner cases:

* the root is always hashed, even when its RLP is shorter than 32 bytes
  (the empty trie's root is ``keccak(rlp(b""))``);
* non-root nodes whose RLP is shorter than 32 bytes are embedded in their
  parent rather than referenced by hash;
* keys may be prefixes of other keys (their values live in branch nodes).

Node paths are stored as ``bytes`` holding one nibble (0..15) per byte.
A plain ``dict`` mirror of the key/value pairs makes :meth:`get`, ``len()``
and "is this a no-op?" checks O(1); the nodes hold the same value objects,
so the mirror costs one dict entry plus the key object per item.
"""

from __future__ import annotations

from binascii import hexlify, unhexlify
from collections.abc import Callable, Iterable, Iterator
from typing import Final, TypeAlias, final

__all__ = ["EMPTY_ROOT", "MerklePatriciaTrie", "compute_root"]


def _load_keccak() -> Callable[[bytes], bytes]:
    # eth_hash.auto prefers pycryptodome (~4.5 us per small hash); the pysha3
    # backend of eth_hash is ~6x faster, so use it directly when installed.
    # Both produce identical digests.
    try:
        from eth_hash.backends.pysha3 import keccak256

        if keccak256(b"") == _KECCAK_EMPTY:
            return keccak256
    except ImportError:  # pragma: no cover - depends on installed extras
        pass
    from eth_hash.auto import keccak  # pragma: no cover

    return keccak  # pragma: no cover


_KECCAK_EMPTY: Final = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
_keccak: Final = _load_keccak()

#: Root hash of the empty trie: keccak(rlp(b"")) == keccak(b"\x80").
EMPTY_ROOT: Final[bytes] = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")

# --------------------------------------------------------------------------
# Nibble / hex-prefix / RLP helpers
# --------------------------------------------------------------------------

_HEX_TO_NIBBLE: Final = bytes.maketrans(b"0123456789abcdef", bytes(range(16)))
_NIBBLE_TO_HEX: Final = bytes.maketrans(bytes(range(16)), b"0123456789abcdef")
_ONE_NIBBLE: Final = tuple(bytes((i,)) for i in range(16))
_STR_PREFIX: Final = tuple(bytes((0x80 + i,)) for i in range(56))
_LIST_PREFIX: Final = tuple(bytes((0xC0 + i,)) for i in range(56))
_RLP_EMPTY: Final = b"\x80"
_HASH_REF_PREFIX: Final = b"\xa0"  # RLP string prefix of a 32-byte hash


def _key_to_nibbles(key: bytes) -> bytes:
    return hexlify(key).translate(_HEX_TO_NIBBLE)


def _nibbles_to_key(nibbles: bytes) -> bytes:
    return unhexlify(nibbles.translate(_NIBBLE_TO_HEX))


def _hex_prefix(path: bytes, leaf: bool) -> bytes:
    """Compact (hex-prefix) encoding of a nibble path, already RLP-encoded."""
    if len(path) & 1:
        packed = unhexlify(((b"\x03" if leaf else b"\x01") + path).translate(_NIBBLE_TO_HEX))
    else:
        packed = unhexlify(((b"\x02\x00" if leaf else b"\x00\x00") + path).translate(_NIBBLE_TO_HEX))
    return _rlp_str(packed)


def _rlp_str(data: bytes) -> bytes:
    n = len(data)
    if n < 56:
        if n == 1 and data[0] < 0x80:
            return data
        return _STR_PREFIX[n] + data
    length = n.to_bytes((n.bit_length() + 7) >> 3, "big")
    return bytes((0xB7 + len(length),)) + length + data


def _rlp_list(payload: bytes) -> bytes:
    n = len(payload)
    if n < 56:
        return _LIST_PREFIX[n] + payload
    length = n.to_bytes((n.bit_length() + 7) >> 3, "big")
    return bytes((0xF7 + len(length),)) + length + payload


def _common_prefix_length(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


# --------------------------------------------------------------------------
# Nodes
# --------------------------------------------------------------------------


@final
class _Leaf:
    __slots__ = ("path", "ref", "value")

    def __init__(self, path: bytes, value: bytes) -> None:
        self.path = path
        self.value = value
        self.ref: bytes | None = None


@final
class _Extension:
    __slots__ = ("child", "path", "ref")

    def __init__(self, path: bytes, child: _Branch) -> None:
        self.path = path
        self.child: _Node = child
        self.ref: bytes | None = None


@final
class _Branch:
    __slots__ = ("children", "ref", "value")

    def __init__(self) -> None:
        self.children: list[_Node | None] = [None] * 16
        self.value = b""
        self.ref: bytes | None = None


_Node: TypeAlias = _Leaf | _Extension | _Branch


def _reference(node: _Node) -> bytes:
    """Compute (and cache on ``node``) the node's reference form.

    Assumes ``node.ref`` is stale; children with a cached ref are reused.
    """
    if type(node) is _Branch:
        parts = [_RLP_EMPTY if child is None else (child.ref or _reference(child)) for child in node.children]
        parts.append(_rlp_str(node.value))
        rlp = _rlp_list(b"".join(parts))
    elif type(node) is _Leaf:
        rlp = _rlp_list(_hex_prefix(node.path, True) + _rlp_str(node.value))
    else:
        child = node.child
        rlp = _rlp_list(_hex_prefix(node.path, False) + (child.ref or _reference(child)))
    ref = rlp if len(rlp) < 32 else _HASH_REF_PREFIX + _keccak(rlp)
    node.ref = ref
    return ref


def _lookup(node: _Node | None, key: bytes) -> bytes | None:
    """The value stored under ``key`` (nibbles) below ``node``, or ``None``."""
    pos = 0
    while node is not None:
        if type(node) is _Branch:
            if pos == len(key):
                return node.value or None
            node = node.children[key[pos]]
            pos += 1
        elif type(node) is _Leaf:
            return node.value if node.path == key[pos:] else None
        else:
            end = pos + len(node.path)
            if key[pos:end] != node.path:
                return None
            node = node.child
            pos = end
    return None


def _insert(node: _Node | None, key: bytes, pos: int, value: bytes) -> _Node:
    """Insert/overwrite ``key`` (nibbles) below ``node`` at depth ``pos``."""
    if node is None:
        return _Leaf(key[pos:], value)
    if type(node) is _Branch:
        if pos == len(key):
            node.value = value
        else:
            i = key[pos]
            children = node.children
            children[i] = _insert(children[i], key, pos + 1, value)
        node.ref = None
        return node
    if type(node) is _Leaf:
        path = node.path
        rest = key[pos:]
        if path == rest:
            node.value = value
            node.ref = None
            return node
        cp = _common_prefix_length(path, rest)
        branch = _Branch()
        if cp == len(path):
            branch.value = node.value
        else:
            node.path = path[cp + 1 :]
            node.ref = None
            branch.children[path[cp]] = node
        return _split_below(branch, rest, cp, value)
    # Extension.
    path = node.path
    if key.startswith(path, pos):
        node.child = _insert(node.child, key, pos + len(path), value)
        node.ref = None
        return node
    rest = key[pos:]
    cp = _common_prefix_length(path, rest)  # < len(path)
    branch = _Branch()
    if cp + 1 == len(path):
        branch.children[path[cp]] = node.child
    else:
        node.path = path[cp + 1 :]
        node.ref = None
        branch.children[path[cp]] = node
    return _split_below(branch, rest, cp, value)


def _split_below(branch: _Branch, rest: bytes, cp: int, value: bytes) -> _Node:
    """Finish splitting a leaf or an extension at ``cp`` nibbles into ``rest`` (the new key's
    remaining path): ``branch`` holds the old node; the new value joins it, under a shared
    extension when ``cp > 0``."""
    if cp == len(rest):
        branch.value = value
    else:
        branch.children[rest[cp]] = _Leaf(rest[cp + 1 :], value)
    return _Extension(rest[:cp], branch) if cp else branch


def _delete(node: _Node, key: bytes, pos: int) -> _Node | None:
    """Delete ``key`` (nibbles), which must be present below ``node``."""
    if type(node) is _Leaf:
        return None
    if type(node) is _Extension:
        child = _delete(node.child, key, pos + len(node.path))
        if type(child) is _Branch:
            node.child = child
            node.ref = None
            return node
        # The branch below collapsed into a leaf or an extension: merge paths.
        assert child is not None
        child.path = node.path + child.path
        child.ref = None
        return child
    # Branch.
    children = node.children
    if pos == len(key):
        node.value = b""
    else:
        i = key[pos]
        children[i] = _delete(children[i], key, pos + 1)  # type: ignore[arg-type]
    node.ref = None
    remaining = 16 - children.count(None)
    if remaining >= 2 or (remaining == 1 and node.value):
        return node
    if remaining == 0:
        # Only the value is left: the branch becomes a leaf with empty path.
        return _Leaf(b"", node.value)
    # Exactly one child and no value: re-parent the child one nibble up.
    for i in range(16):
        only = children[i]
        if only is not None:
            break
    assert only is not None
    if type(only) is _Branch:
        return _Extension(_ONE_NIBBLE[i], only)
    only.path = _ONE_NIBBLE[i] + only.path
    only.ref = None
    return only


def _node_rlp(node: _Node) -> bytes:
    """A node's full RLP (its children by reference form)."""
    if type(node) is _Branch:
        parts = [_RLP_EMPTY if child is None else (child.ref or _reference(child)) for child in node.children]
        parts.append(_rlp_str(node.value))
        return _rlp_list(b"".join(parts))
    if type(node) is _Leaf:
        return _rlp_list(_hex_prefix(node.path, True) + _rlp_str(node.value))
    child = node.child
    return _rlp_list(_hex_prefix(node.path, False) + (child.ref or _reference(child)))


def _iter_items(node: _Node | None, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
    if node is None:
        return
    if type(node) is _Leaf:
        yield prefix + node.path, node.value
    elif type(node) is _Extension:
        yield from _iter_items(node.child, prefix + node.path)
    else:
        if node.value:
            yield prefix, node.value
        for i, child in enumerate(node.children):
            if child is not None:
                yield from _iter_items(child, prefix + _ONE_NIBBLE[i])


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


class MerklePatriciaTrie:
    """In-memory hexary Merkle-Patricia trie with incremental root hashing.

    Setting a key to ``b""`` deletes it (as in Ethereum / py-trie).
    """

    __slots__ = ("_root", "_root_hash", "_size")

    def __init__(self) -> None:
        self._root: _Node | None = None
        self._size = 0
        self._root_hash: bytes | None = EMPTY_ROOT

    def set(self, key: bytes, value: bytes) -> None:
        """Insert or overwrite ``key`` (a no-op when the value is unchanged)."""
        if not value:
            self.delete(key)
            return
        nibbles = _key_to_nibbles(key)
        old = _lookup(self._root, nibbles)
        if old == value:
            return
        if old is None:
            self._size += 1
        self._root = _insert(self._root, nibbles, 0, value)
        self._root_hash = None

    def delete(self, key: bytes) -> None:
        """Remove ``key`` if present."""
        nibbles = _key_to_nibbles(key)
        if _lookup(self._root, nibbles) is None:
            return
        assert self._root is not None
        self._size -= 1
        self._root = _delete(self._root, nibbles, 0)
        self._root_hash = None

    def get(self, key: bytes) -> bytes | None:
        """The value at ``key``, or ``None``."""
        return _lookup(self._root, _key_to_nibbles(key))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, bytes) and self.get(key) is not None

    def __len__(self) -> int:
        return self._size

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Iterate ``(key, value)`` pairs in key order, walking the trie nodes."""
        for path, value in _iter_items(self._root, b""):
            yield _nibbles_to_key(path), value

    def proof(self, key: bytes) -> list[bytes]:
        """The Merkle proof of ``key`` (present or absent): the RLP of every node on its path
        that is referenced by hash, root first (EIP-1186's ``accountProof``/``proof``)."""
        self.root_hash()
        out: list[bytes] = []
        node = self._root
        nibbles = _key_to_nibbles(key)
        pos = 0
        while node is not None:
            rlp = _node_rlp(node)
            if not out or len(rlp) >= 32:  # embedded nodes are inside their parent's RLP
                out.append(rlp)
            if type(node) is _Branch:
                if pos == len(nibbles):
                    break
                node = node.children[nibbles[pos]]
                pos += 1
            elif type(node) is _Leaf:
                break
            else:
                end = pos + len(node.path)
                if nibbles[pos:end] != node.path:
                    break
                node = node.child
                pos = end
        return out

    def root_hash(self) -> bytes:
        """32-byte root hash; only nodes changed since the last call are re-hashed."""
        root_hash = self._root_hash
        if root_hash is not None:
            return root_hash
        root = self._root
        if root is None:
            root_hash = EMPTY_ROOT
        else:
            ref = root.ref or _reference(root)
            # The root is always hashed, even when its RLP is < 32 bytes
            # (in which case its cached reference form is the raw RLP).
            root_hash = ref[1:] if len(ref) == 33 else _keccak(ref)
        self._root_hash = root_hash
        return root_hash


def compute_root(items: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Root of a trie built from ``items`` (later duplicates win, ``b""`` deletes).

    Typical use: transactions/receipts tries, with ``key = rlp.encode(index)``.
    """
    trie = MerklePatriciaTrie()
    for key, value in items:
        trie.set(key, value)
    return trie.root_hash()
