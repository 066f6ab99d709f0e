"""``eth_simulateV1`` (execution-apis ``eth/execute.yaml``): its payload parsed, run as a job for
the call workers (deadline, gas cap), its simulated blocks answered as block objects with
``calls``.

The simulation starts from the state the block parameter names (default ``latest``: after the
newest mini-block); its first block is, by default, the block that state's next transaction
meets (the open block, for the newest state), and every later one the block after. What the
execution does is in ``execution/simulate_v1.py``. ``movePrecompileToAddress`` is refused
(``-32602``): py-evm's precompiles cannot be moved here.
"""

from __future__ import annotations

from typing import Any

from sequencer.execution.headers import EMPTY_UNCLE_HASH, POST_MERGE_NONCE
from sequencer.execution.simulate_v1 import SimBlock, SimCall, SimulatedBlock, SimulatePlan
from sequencer.jsonrpc.dispatch import Handler
from sequencer.jsonrpc.encoding import (
    d,
    params_list,
    parse_address,
    parse_block_ref,
    parse_data,
    parse_quantity,
    parse_slot,
    q,
)
from sequencer.jsonrpc.errors import InvalidParams
from sequencer.rpc.blocktags import state_view
from sequencer.rpc.calljobs import SimulateJob
from sequencer.rpc.context import RpcContext
from sequencer.rpc.state import UNSUPPORTED_CALL_FIELDS, parse_access_list, parse_state_override
from sequencer.types import ZERO_HASH

PAYLOAD_KEYS = {"blockStateCalls", "traceTransfers", "validation", "returnFullTransactions"}
BLOCK_KEYS = {"blockOverrides", "stateOverrides", "calls"}
OVERRIDE_KEYS = {
    "number",
    "time",
    "gasLimit",
    "feeRecipient",
    "prevRandao",
    "baseFeePerGas",
    "blobBaseFee",
    "withdrawals",
}
CALL_KEYS = {
    "type",
    "nonce",
    "to",
    "from",
    "gas",
    "value",
    "input",
    "data",
    "gasPrice",
    "maxPriorityFeePerGas",
    "maxFeePerGas",
    "accessList",
    "chainId",
    *UNSUPPORTED_CALL_FIELDS,
}


def _opt_quantity(obj: dict[str, Any], key: str, bits: int = 256) -> int | None:
    return parse_quantity(obj[key], key, bits) if obj.get(key) is not None else None


def parse_sim_call(obj: Any) -> SimCall:
    """One call object of a block state call."""
    if not isinstance(obj, dict):
        raise InvalidParams("invalid call: expected an object")
    unknown = set(obj) - CALL_KEYS
    if unknown:
        raise InvalidParams(f"invalid call: unknown field(s) {', '.join(sorted(unknown))}")
    for key, why in UNSUPPORTED_CALL_FIELDS.items():
        if obj.get(key) is not None:
            raise InvalidParams(f"invalid call: {key}: {why}")
    gas_price = _opt_quantity(obj, "gasPrice")
    max_fee, max_tip = _opt_quantity(obj, "maxFeePerGas"), _opt_quantity(obj, "maxPriorityFeePerGas")
    if gas_price is not None and (max_fee is not None or max_tip is not None):
        raise InvalidParams("invalid call: gasPrice cannot be combined with EIP-1559 fee fields")
    given = {key: parse_data(obj[key], key) for key in ("input", "data") if obj.get(key) is not None}
    if len(set(given.values())) > 1:
        raise InvalidParams('both "data" and "input" are set and not equal')
    return SimCall(
        sender=parse_address(obj["from"], "from") if obj.get("from") is not None else b"\x00" * 20,
        to=parse_address(obj["to"], "to") if obj.get("to") is not None else None,
        gas=_opt_quantity(obj, "gas", 64),
        gas_price=gas_price,
        max_fee=max_fee,
        max_tip=max_tip,
        value=_opt_quantity(obj, "value") or 0,
        data=next(iter(given.values()), b""),
        nonce=_opt_quantity(obj, "nonce", 64),
        access_list=parse_access_list(obj["accessList"]) if obj.get("accessList") is not None else (),
    )


def parse_sim_block(obj: Any) -> SimBlock:
    """One block state call: its overrides and calls."""
    if not isinstance(obj, dict):
        raise InvalidParams("invalid blockStateCalls entry: expected an object")
    unknown = set(obj) - BLOCK_KEYS
    if unknown:
        raise InvalidParams(f"invalid blockStateCalls entry: unknown field(s) {', '.join(sorted(unknown))}")
    calls = obj.get("calls") or []
    if not isinstance(calls, list):
        raise InvalidParams("invalid calls: expected an array")
    state = obj.get("stateOverrides")
    if isinstance(state, dict):
        for address, entry in state.items():
            if isinstance(entry, dict) and entry.get("movePrecompileToAddress") is not None:
                raise InvalidParams(f"stateOverrides.{address}.movePrecompileToAddress is not supported here")
        state = {
            a: {k: v for k, v in e.items() if k != "movePrecompileToAddress"} if isinstance(e, dict) else e
            for a, e in state.items()
        }
    block = obj.get("blockOverrides") or {}
    if not isinstance(block, dict):
        raise InvalidParams("invalid blockOverrides: expected an object")
    unknown = set(block) - OVERRIDE_KEYS
    if unknown:
        raise InvalidParams(f"invalid blockOverrides: unknown field(s) {', '.join(sorted(unknown))}")
    if block.get("withdrawals"):
        raise InvalidParams("invalid blockOverrides: withdrawals are not supported on this chain")
    return SimBlock(
        calls=tuple(parse_sim_call(c) for c in calls),
        overrides=tuple(parse_state_override(state).items()),
        number=_opt_quantity(block, "number", 64),
        time=_opt_quantity(block, "time", 64),
        gas_limit=_opt_quantity(block, "gasLimit", 64),
        coinbase=parse_address(block["feeRecipient"], "feeRecipient")
        if block.get("feeRecipient") is not None
        else None,
        prev_randao=parse_slot(block["prevRandao"], "prevRandao").to_bytes(32, "big")
        if block.get("prevRandao") is not None
        else None,
        base_fee=_opt_quantity(block, "baseFeePerGas"),
    )


def _flag(obj: dict[str, Any], key: str) -> bool:
    value = obj.get(key, False)
    if not isinstance(value, bool):
        raise InvalidParams(f"invalid {key}: expected true or false")
    return value


def format_simulated(block: SimulatedBlock, full: bool, chain_id: int) -> dict[str, Any]:
    """A simulated block as a block object with its ``calls``."""
    env = block.env
    logs_before = 0
    calls = []
    for index, call in enumerate(block.calls):
        out: dict[str, Any] = {
            "status": q(call.status),
            "returnData": d(call.output),
            "gasUsed": q(call.gas_used),
            "logs": [
                {
                    "address": d(log.address),
                    "topics": [d(t) for t in log.topics],
                    "data": d(log.data),
                    "blockNumber": q(env.number),
                    "blockHash": d(block.hash),
                    "blockTimestamp": q(env.timestamp),
                    "transactionHash": d(call.tx_hash),
                    "transactionIndex": q(index),
                    "logIndex": q(logs_before + i),
                    "removed": False,
                }
                for i, log in enumerate(call.logs)
            ],
        }
        logs_before += len(call.logs)
        if call.error is not None:
            code, message = call.error
            out["error"] = {"code": code, "message": message}
            if code == 3:
                out["error"]["data"] = d(call.output)
        calls.append(out)
    transactions: list[Any] = [d(c.tx_hash) for c in block.calls]
    if full:
        transactions = [
            {
                "hash": d(c.tx_hash),
                "from": d(c.sender),
                "blockHash": d(block.hash),
                "blockNumber": q(env.number),
                "transactionIndex": q(i),
                "chainId": q(chain_id),
            }
            for i, c in enumerate(block.calls)
        ]
    return {
        "number": q(env.number),
        "hash": d(block.hash),
        "parentHash": d(env.parent_hash),
        "nonce": d(POST_MERGE_NONCE),
        "sha3Uncles": d(EMPTY_UNCLE_HASH),
        "logsBloom": d(block.logs_bloom),
        "transactionsRoot": d(block.transactions_root),
        "stateRoot": d(ZERO_HASH),
        "receiptsRoot": d(block.receipts_root),
        "miner": d(env.coinbase),
        "difficulty": "0x0",
        "extraData": "0x",
        "size": q(len(block.header_rlp)),
        "gasLimit": q(env.gas_limit),
        "gasUsed": q(block.gas_used),
        "timestamp": q(env.timestamp),
        "mixHash": d(env.prev_randao),
        "baseFeePerGas": q(env.base_fee),
        "withdrawalsRoot": "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421",
        "withdrawals": [],
        "blobGasUsed": "0x0",
        "excessBlobGas": "0x0",
        "parentBeaconBlockRoot": d(ZERO_HASH),
        "transactions": transactions,
        "uncles": [],
        "calls": calls,
    }


def simulate_methods(ctx: RpcContext) -> dict[str, Handler]:
    """The ``eth_simulateV1`` handler over ``ctx``."""
    chain = ctx.chain

    async def eth_simulate_v1(params: list[Any]) -> list[dict[str, Any]]:
        payload, block = params_list(params, "eth_simulateV1", 1, 2)
        if not isinstance(payload, dict) or not isinstance(payload.get("blockStateCalls"), list):
            raise InvalidParams("invalid payload: expected an object with blockStateCalls")
        unknown = set(payload) - PAYLOAD_KEYS
        if unknown:
            raise InvalidParams(f"invalid payload: unknown field(s) {', '.join(sorted(unknown))}")
        blocks = tuple(parse_sim_block(b) for b in payload["blockStateCalls"])
        view = state_view(chain, parse_block_ref(block if block is not None else "latest"))
        parent = chain.get_block(view.env.number - 1)
        head = parent if parent is not None else chain.head
        plan = SimulatePlan(
            blocks=blocks,
            first_env=view.env,
            parent_gas_used=head.gas_used,
            parent_gas_limit=head.gas_limit,
            parent_base_fee=head.base_fee,
            parent_timestamp=head.timestamp,
            chain_id=chain.chain_id,
            prev_hashes=tuple(view.prev_hashes),
            gas_cap=ctx.calls.gas_cap,
            base_fee_floor=chain.config.base_fee_floor,
            validation=_flag(payload, "validation"),
            trace_transfers=_flag(payload, "traceTransfers"),
        )
        results = await ctx.calls.run(SimulateJob(view.seq, plan), lambda _seq: view.state)
        assert isinstance(results, list)
        full = _flag(payload, "returnFullTransactions")
        return [format_simulated(b, full, chain.chain_id) for b in results]

    return {"eth_simulateV1": eth_simulate_v1}
