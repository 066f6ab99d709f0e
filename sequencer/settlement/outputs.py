"""Output roots: what the proposer commits to on L1 and the verifier recomputes.

Version 0, as in the OP stack: ``keccak256(version(32 zero bytes) ++ state_root ++
message_passer_storage_root ++ block_hash)``, the message passer being the bridge's
L2ToL1MessagePasser predeploy (:mod:`sequencer.bridge.withdrawals`): its storage root commits to
every withdrawal sent up to that block, which the portal checks withdrawal proofs against.
"""

from __future__ import annotations

from sequencer.bridge.withdrawals import hash_output_root_proof

OUTPUT_VERSION_0 = b"\x00" * 32
EMPTY_TRIE_ROOT = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
"""keccak256(rlp(b"")): the storage root of an account with no storage (the message passer's
until the first withdrawal)."""


def output_root_v0(state_root: bytes, block_hash: bytes, message_passer_storage_root: bytes) -> bytes:
    """The version-0 output root of an L2 block."""
    return hash_output_root_proof(state_root, message_passer_storage_root, block_hash)
