"""In-memory Ethereum Merkle-Patricia trie."""

from sequencer.trie.mpt import EMPTY_ROOT, MerklePatriciaTrie, compute_root

__all__ = ["EMPTY_ROOT", "MerklePatriciaTrie", "compute_root"]
