"""``eth_getProof`` (EIP-1186): Merkle proofs of an account and its storage slots from the state
trie the node keeps for its newest state (``trie/state.py``).

The newest state (``latest``, ``pending``: after the newest mini-block, against the open
block's state root as ``eth_getBlockByNumber("pending")`` reports it; a block whose state is the
newest one) is answered from the live trie. Any other sealed block (``earliest``, ``safe``,
``finalized``, a number or a hash) is answered by a call worker that rebuilds the state trie of
that block from the history tables (the node keeps past states as history, not as tries) and
checks it against the block's state root: bounded by the call deadline (``rpc.call_timeout_ms``),
so on a chain with a very large state such a request times out with the calls' error.
"""

from __future__ import annotations

from typing import Any

from sequencer.errors import BlockNotFound, CallFailed
from sequencer.jsonrpc.dispatch import Handler
from sequencer.jsonrpc.encoding import d, params_list, parse_address, parse_block_ref, parse_slot, q
from sequencer.jsonrpc.errors import InvalidParams
from sequencer.rpc.blocktags import resolve_sealed
from sequencer.rpc.calljobs import ProofJob
from sequencer.rpc.context import RpcContext
from sequencer.state import EMPTY_CODE_HASH
from sequencer.storage.history import HistoricalState
from sequencer.types import EvmBlock

MAX_PROOF_SLOTS = 1024


def proof_methods(ctx: RpcContext) -> dict[str, Handler]:
    """The ``eth_getProof`` handler over ``ctx``."""
    chain = ctx.chain

    def past_block(ref: Any) -> EvmBlock | None:
        """The sealed block to prove against from history, or ``None`` for the newest state."""
        block = parse_block_ref(ref)
        if block.tag in ("latest", "pending"):
            return None
        quiet = chain.pending_block() is None or not chain.open_minis  # nothing since the head
        if block.number is not None and block.number == chain.head.number + 1 and quiet:
            return None
        sealed = resolve_sealed(chain, block)
        if sealed is None:
            raise BlockNotFound(f"block {block.number if block.hash is None else d(block.hash)} not found")
        return None if quiet and sealed.number == chain.head.number else sealed

    def history(seq: int) -> HistoricalState:
        return HistoricalState(chain.store, seq)

    async def eth_get_proof(params: list[Any]) -> dict[str, Any]:
        address, keys, block = params_list(params, "eth_getProof", 2, 3)
        addr = parse_address(address)
        if not isinstance(keys, list) or len(keys) > MAX_PROOF_SLOTS:
            raise InvalidParams(f"invalid storage keys: expected an array of at most {MAX_PROOF_SLOTS} slots")
        slots = [parse_slot(k, "storage key") for k in keys]
        trie = ctx.trie
        if trie is None:
            raise CallFailed("eth_getProof is not available on this node")
        past = past_block(block if block is not None else "latest")
        if past is not None:
            job = ProofJob(past.last_mini_block + 1, past.state_root, addr, tuple(slots))
            value = await ctx.calls.run(job, history)
            assert isinstance(value, dict)
            return {
                "address": d(addr),
                "accountProof": [d(node) for node in value["accountProof"]],
                "balance": q(value["balance"]),
                "codeHash": d(value["codeHash"] or EMPTY_CODE_HASH),
                "nonce": q(value["nonce"]),
                "storageHash": d(value["storageRoot"]),
                "storageProof": [
                    {"key": key, "value": q(v), "proof": [d(n) for n in proof]}
                    for key, v, proof in zip(keys, value["values"], value["slotProofs"], strict=True)
                ],
            }
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
