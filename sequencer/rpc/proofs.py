"""``eth_getProof`` (EIP-1186): Merkle proofs of an account and its storage slots from the state
trie the node keeps for its newest state (``trie/state.py``).

Proofs are answered for the newest state (``latest``, ``pending``: after the newest mini-block,
against the open block's state root as ``eth_getBlockByNumber("pending")`` reports it) and for
a block whose state is the newest one (the head block, or the open block's number, while the
open block has no mini-block yet). The node keeps past states as history tables, not as tries,
so an older block answers ``-32000`` saying so.
"""

from __future__ import annotations

from typing import Any

from sequencer.errors import BlockNotFound, CallFailed
from sequencer.jsonrpc.dispatch import Handler
from sequencer.jsonrpc.encoding import d, params_list, parse_address, parse_block_ref, parse_slot, q
from sequencer.jsonrpc.errors import InvalidParams
from sequencer.rpc.blocktags import resolve_sealed
from sequencer.rpc.context import RpcContext
from sequencer.state import EMPTY_CODE_HASH

MAX_PROOF_SLOTS = 1024


def proof_methods(ctx: RpcContext) -> dict[str, Handler]:
    """The ``eth_getProof`` handler over ``ctx``."""
    chain = ctx.chain

    def newest(ref: Any) -> bool:
        block = parse_block_ref(ref)
        if block.tag is not None and block.tag != "earliest":
            return True
        quiet = chain.pending_block() is None or not chain.open_minis  # nothing since the head
        if block.number is not None and block.number == chain.head.number + 1:
            return quiet
        sealed = resolve_sealed(chain, block)
        if sealed is None:
            raise BlockNotFound(f"block {block.number if block.hash is None else d(block.hash)} not found")
        return quiet and sealed.number == chain.head.number

    def eth_get_proof(params: list[Any]) -> dict[str, Any]:
        address, keys, block = params_list(params, "eth_getProof", 2, 3)
        addr = parse_address(address)
        if not isinstance(keys, list) or len(keys) > MAX_PROOF_SLOTS:
            raise InvalidParams(f"invalid storage keys: expected an array of at most {MAX_PROOF_SLOTS} slots")
        slots = [parse_slot(k, "storage key") for k in keys]
        trie = ctx.trie
        if trie is None:
            raise CallFailed("eth_getProof is not available on this node")
        if not newest(block if block is not None else "latest"):
            raise CallFailed(
                "eth_getProof: proofs are served for the newest state only (the node keeps past "
                "states as history tables, not tries)"
            )
        account_proof, storage_root, slot_proofs = trie.proof(addr, slots)
        account = chain.world.get_account(addr)
        return {
            "address": d(addr),
            "accountProof": [d(node) for node in account_proof],
            "balance": q(account.balance if account else 0),
            "codeHash": d(account.code_hash if account else EMPTY_CODE_HASH),
            "nonce": q(account.nonce if account else 0),
            "storageHash": d(storage_root),
            "storageProof": [
                {"key": key, "value": q(chain.world.get_storage(addr, slot)), "proof": [d(n) for n in proof]}
                for key, slot, proof in zip(keys, slots, slot_proofs, strict=True)
            ],
        }

    return {"eth_getProof": eth_get_proof}
