"""The bridge's L2 reads at any sealed block: ``optimism_outputAtBlock`` (op-node's method) and
``bridge_getWithdrawalProof`` (EIP-1186 storage proofs of the message passer).

A withdrawal is proven on L1 against an output root posted for some L2 block, usually older
than the head. ``eth_getProof`` serves the newest state only (``rpc/proofs.py``), so these two
answer from the message passer's storage as of the block, rebuilt from the history tables
(:func:`~sequencer.storage.history.storage_trie_at`): its storage root (the output root's
``messagePasserStorageRoot``) and the Merkle-Patricia proof of ``sentMessages[hash]``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from eth_hash.auto import keccak

from sequencer import fastrlp
from sequencer.bridge.withdrawals import MESSAGE_PASSER, hash_output_root_proof
from sequencer.errors import BlockNotFound
from sequencer.jsonrpc.dispatch import Handler
from sequencer.jsonrpc.encoding import d, params_list, parse_block_ref, parse_slot, q
from sequencer.jsonrpc.errors import InvalidParams
from sequencer.rpc.blocktags import resolve_sealed
from sequencer.rpc.context import RpcContext
from sequencer.storage.history import storage_trie_at
from sequencer.trie.mpt import MerklePatriciaTrie
from sequencer.types import EvmBlock

MAX_WITHDRAWAL_SLOTS = 64
TRIE_CACHE_BLOCKS = 8


def withdrawal_methods(ctx: RpcContext) -> dict[str, Handler]:
    """``optimism_outputAtBlock`` and ``bridge_getWithdrawalProof`` over ``ctx``."""
    chain = ctx.chain

    def sealed(ref: Any) -> EvmBlock:
        block = parse_block_ref(ref)
        found = resolve_sealed(chain, block)
        if found is None:
            raise BlockNotFound(f"block {block.number if block.hash is None else d(block.hash)} not found")
        return found

    cache: OrderedDict[bytes, MerklePatriciaTrie] = OrderedDict()

    def passer_at(block: EvmBlock) -> MerklePatriciaTrie:
        # a prover asks twice for the same (output) block: keep the last few tries, by block hash
        trie = cache.get(block.hash)
        if trie is None:
            trie = storage_trie_at(chain.store, MESSAGE_PASSER, block.last_mini_block + 1)
            trie.root_hash()
            cache[block.hash] = trie
            while len(cache) > TRIE_CACHE_BLOCKS:
                cache.popitem(last=False)
        cache.move_to_end(block.hash)
        return trie

    def optimism_output_at_block(params: list[Any]) -> dict[str, Any]:
        (ref,) = params_list(params, "optimism_outputAtBlock", 1, 1)
        block = sealed(ref)
        storage_root = passer_at(block).root_hash()
        return {
            "version": d(b"\x00" * 32),
            "outputRoot": d(hash_output_root_proof(block.state_root, storage_root, block.hash)),
            "blockRef": {
                "hash": d(block.hash),
                "number": q(block.number),
                "parentHash": d(block.parent_hash),
                "timestamp": q(block.timestamp),
            },
            "withdrawalStorageRoot": d(storage_root),
            "stateRoot": d(block.state_root),
        }

    def bridge_get_withdrawal_proof(params: list[Any]) -> dict[str, Any]:
        keys, ref = params_list(params, "bridge_getWithdrawalProof", 2, 2)
        if not isinstance(keys, list) or len(keys) > MAX_WITHDRAWAL_SLOTS:
            raise InvalidParams(
                f"invalid storage keys: expected an array of at most {MAX_WITHDRAWAL_SLOTS} slots"
            )
        slots = [parse_slot(k, "storage key") for k in keys]
        block = sealed(ref)
        trie = passer_at(block)
        return {
            "address": d(MESSAGE_PASSER),
            "blockNumber": q(block.number),
            "blockHash": d(block.hash),
            "stateRoot": d(block.state_root),
            "storageHash": d(trie.root_hash()),
            "storageProof": [_slot_proof(trie, key, slot) for key, slot in zip(keys, slots, strict=True)],
        }

    return {
        "optimism_outputAtBlock": optimism_output_at_block,
        "bridge_getWithdrawalProof": bridge_get_withdrawal_proof,
    }


def _slot_proof(trie: MerklePatriciaTrie, key: Any, slot: int) -> dict[str, Any]:
    path = keccak(slot.to_bytes(32, "big"))
    leaf = trie.get(path)
    value = int.from_bytes(fastrlp.decode(leaf), "big") if leaf is not None else 0
    return {"key": key, "value": q(value), "proof": [d(node) for node in trie.proof(path)]}
