"""The bridge's L2 reads at any sealed block: ``optimism_outputAtBlock`` (op-node's method) and
``bridge_getWithdrawalProof`` (EIP-1186 storage proofs of the message passer).

A withdrawal is proven on L1 against an output root posted for some L2 block, usually older
than the head. ``eth_getProof`` serves the newest state only from the live trie
(``rpc/proofs.py``), so these two answer from the message passer's storage as of the block,
rebuilt from the history tables by a call worker (a :class:`~sequencer.rpc.calljobs.StorageProofJob`,
under the call deadline, off the event loop): its storage root (the output root's
``messagePasserStorageRoot``) and the Merkle-Patricia proof of ``sentMessages[hash]``. The
storage roots of the last few blocks asked for are kept (a prover asks for the same output
block more than once).
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial
from typing import Any

from sequencer.bridge.withdrawals import MESSAGE_PASSER, hash_output_root_proof
from sequencer.errors import BlockNotFound
from sequencer.jsonrpc.dispatch import Handler
from sequencer.jsonrpc.encoding import d, params_list, parse_block_ref, parse_slot, q
from sequencer.jsonrpc.errors import InvalidParams
from sequencer.rpc.blocktags import resolve_sealed
from sequencer.rpc.calljobs import StorageProofJob
from sequencer.rpc.context import RpcContext
from sequencer.storage.history import HistoricalState
from sequencer.types import EvmBlock

MAX_WITHDRAWAL_SLOTS = 64
ROOT_CACHE_BLOCKS = 64


def withdrawal_methods(ctx: RpcContext) -> dict[str, Handler]:
    """``optimism_outputAtBlock`` and ``bridge_getWithdrawalProof`` over ``ctx``."""
    chain = ctx.chain

    def sealed(ref: Any) -> EvmBlock:
        block = parse_block_ref(ref)
        found = resolve_sealed(chain, block)
        if found is None:
            raise BlockNotFound(f"block {block.number if block.hash is None else d(block.hash)} not found")
        return found

    roots: OrderedDict[bytes, bytes] = OrderedDict()  # block hash -> passer storage root

    history = partial(HistoricalState, chain.store)  # the state after a history position

    async def passer_at(block: EvmBlock, slots: tuple[int, ...]) -> dict[str, Any]:
        job = StorageProofJob(block.last_mini_block + 1, MESSAGE_PASSER, slots)
        value = await ctx.calls.run(job, history)
        assert isinstance(value, dict)
        remember(block.hash, value["storageRoot"])
        return value

    def remember(block_hash: bytes, root: bytes) -> None:
        roots[block_hash] = root
        roots.move_to_end(block_hash)
        while len(roots) > ROOT_CACHE_BLOCKS:
            roots.popitem(last=False)

    async def optimism_output_at_block(params: list[Any]) -> dict[str, Any]:
        (ref,) = params_list(params, "optimism_outputAtBlock", 1, 1)
        block = sealed(ref)
        storage_root = roots.get(block.hash)
        if storage_root is None:
            storage_root = (await passer_at(block, ()))["storageRoot"]
        else:
            roots.move_to_end(block.hash)
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

    async def bridge_get_withdrawal_proof(params: list[Any]) -> dict[str, Any]:
        keys, ref = params_list(params, "bridge_getWithdrawalProof", 2, 2)
        if not isinstance(keys, list) or len(keys) > MAX_WITHDRAWAL_SLOTS:
            raise InvalidParams(
                f"invalid storage keys: expected an array of at most {MAX_WITHDRAWAL_SLOTS} slots"
            )
        slots = tuple(parse_slot(k, "storage key") for k in keys)
        block = sealed(ref)
        value = await passer_at(block, slots)
        return {
            "address": d(MESSAGE_PASSER),
            "blockNumber": q(block.number),
            "blockHash": d(block.hash),
            "stateRoot": d(block.state_root),
            "storageHash": d(value["storageRoot"]),
            "storageProof": [
                {"key": key, "value": q(v), "proof": [d(node) for node in proof]}
                for key, v, proof in zip(keys, value["values"], value["slotProofs"], strict=True)
            ],
        }

    return {
        "optimism_outputAtBlock": optimism_output_at_block,
        "bridge_getWithdrawalProof": bridge_get_withdrawal_proof,
    }
