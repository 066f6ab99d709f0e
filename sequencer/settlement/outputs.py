"""Output roots: what the proposer commits to on L1 and the verifier recomputes.

Version 0, as in the OP stack: ``keccak256(version(32 zero bytes) ++ state_root ++
message_passer_storage_root ++ block_hash)``. The L2-to-L1 message passer arrives with the
bridge; until then its storage root is the empty trie's root.
"""

from __future__ import annotations

from eth_hash.auto import keccak

OUTPUT_VERSION_0 = b"\x00" * 32
EMPTY_TRIE_ROOT = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
"""keccak256(rlp(b"")): the storage root of an account with no storage (the message passer's, for now)."""


def output_root_v0(
    state_root: bytes, block_hash: bytes, message_passer_storage_root: bytes = EMPTY_TRIE_ROOT
) -> bytes:
    """The version-0 output root of an L2 block."""
    for name, value in (("state_root", state_root), ("block_hash", block_hash)):
        if len(value) != 32:
            raise ValueError(f"{name} must be 32 bytes")
    return bytes(keccak(OUTPUT_VERSION_0 + state_root + message_passer_storage_root + block_hash))
