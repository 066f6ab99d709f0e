"""State queries and simulated calls: balance, nonce, code, storage, ``eth_call``,
``eth_estimateGas``, ``eth_createAccessList``, and MegaETH's ``eth_callMany`` and ``eth_callAfter``.

Block parameters as ``rpc/blocktags.py`` defines them; calls run in the environment the next
transaction meets (the one the producer uses: ``sequencer/rules.py``). geth's ``stateOverride``
and ``blockOverrides`` objects are honoured. ``eth_estimateGas`` with a newest-state tag
estimates in the open block's environment *and* the next block's, and answers the larger: a
transaction sent now may land in either (a contract reading ``block.timestamp`` can take another
path in the next block).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from sequencer.errors import CallFailed
from sequencer.execution.simulation import CallRequest, CallResult
from sequencer.jsonrpc.dispatch import Handler
from sequencer.jsonrpc.encoding import (
    BlockRef,
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
from sequencer.rpc.blocktags import StateView, state_view
from sequencer.rpc.calljobs import Bundle, CallJob, JobKind
from sequencer.rpc.context import RpcContext
from sequencer.state import AccountOverride
from sequencer.types import AccessList, BlockEnv

ZERO_ADDRESS = b"\x00" * 20
UNSUPPORTED_CALL_FIELDS = {
    "blobVersionedHashes": "blob transactions (EIP-4844) are not supported",
    "maxFeePerBlobGas": "blob transactions (EIP-4844) are not supported",
    "blobs": "blob transactions (EIP-4844) are not supported",
    "authorizationList": "set-code transactions (EIP-7702) are not supported",
}
MAX_CALL_MANY_BUNDLES = 100
MAX_CALL_MANY_CALLS = 100
CALL_AFTER_DEFAULT_MS = 3_000
CALL_AFTER_MAX_MS = 60_000


def parse_access_list(value: Any) -> AccessList:
    """An EIP-2930 access list: ``[{address, storageKeys: [slot...]}]``."""
    if not isinstance(value, list):
        raise InvalidParams("invalid accessList: expected an array of {address, storageKeys}")
    out = []
    for entry in value:
        if not isinstance(entry, dict) or "address" not in entry:
            raise InvalidParams("invalid accessList: expected an array of {address, storageKeys}")
        keys = entry.get("storageKeys") or []
        if not isinstance(keys, list):
            raise InvalidParams("invalid accessList: storageKeys must be an array")
        out.append(
            (parse_address(entry["address"], "accessList.address"), tuple(parse_slot(k) for k in keys))
        )
    return tuple(out)


def parse_call_request(obj: Any) -> CallRequest:
    """A call object (``from``, ``to``, ``gas``, ``gasPrice`` or ``maxFeePerGas`` and
    ``maxPriorityFeePerGas``, ``value``, ``input``/``data``, ``accessList``) as a
    :class:`CallRequest`; ``gas`` 0 means "up to the block's limit"."""
    if not isinstance(obj, dict):
        raise InvalidParams("invalid call object: expected an object")
    for key, why in UNSUPPORTED_CALL_FIELDS.items():
        if obj.get(key) is not None:
            raise InvalidParams(f"invalid call object: {key}: {why}")
    sender = parse_address(obj["from"], "from") if obj.get("from") is not None else ZERO_ADDRESS
    to = parse_address(obj["to"], "to") if obj.get("to") is not None else None
    gas = parse_quantity(obj["gas"], "gas", 64) if obj.get("gas") is not None else 0
    if obj.get("gasPrice") is not None and (
        obj.get("maxFeePerGas") is not None or obj.get("maxPriorityFeePerGas") is not None
    ):
        raise InvalidParams("invalid call object: gasPrice cannot be combined with EIP-1559 fee fields")
    gas_price, tip = 0, None
    if obj.get("gasPrice") is not None:
        gas_price = parse_quantity(obj["gasPrice"], "gasPrice")
    if obj.get("maxFeePerGas") is not None:
        gas_price = parse_quantity(obj["maxFeePerGas"], "maxFeePerGas")
    if obj.get("maxPriorityFeePerGas") is not None:
        tip = parse_quantity(obj["maxPriorityFeePerGas"], "maxPriorityFeePerGas")
        if gas_price and tip > gas_price:
            raise InvalidParams("max priority fee per gas higher than max fee per gas")
        gas_price = gas_price or tip
    value = parse_quantity(obj["value"], "value") if obj.get("value") is not None else 0
    given = {key: parse_data(obj[key], key) for key in ("input", "data") if obj.get(key) is not None}
    if len(set(given.values())) > 1:
        raise InvalidParams(
            'both "data" and "input" are set and not equal. Please use "input" to pass transaction call data'
        )
    data = next(iter(given.values()), b"")
    access_list = parse_access_list(obj["accessList"]) if obj.get("accessList") is not None else ()
    return CallRequest(sender, to, gas, gas_price, value, data, tip, access_list)


def parse_state_override(value: Any) -> dict[bytes, AccountOverride]:
    """geth's ``stateOverride``: ``{address: {balance?, nonce?, code?, state? | stateDiff?}}``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParams("invalid stateOverride: expected an object keyed by address")
    out: dict[bytes, AccountOverride] = {}
    for key, entry in value.items():
        address = parse_address(key, "stateOverride address")
        if not isinstance(entry, dict):
            raise InvalidParams(f"invalid stateOverride.{key}: expected an object")
        unknown = set(entry) - {"balance", "nonce", "code", "state", "stateDiff"}
        if unknown:
            raise InvalidParams(f"invalid stateOverride.{key}: unknown field(s) {', '.join(sorted(unknown))}")
        if entry.get("state") is not None and entry.get("stateDiff") is not None:
            raise InvalidParams(f"invalid stateOverride.{key}: state and stateDiff cannot both be set")
        out[address] = AccountOverride(
            balance=parse_quantity(entry["balance"], "balance") if entry.get("balance") is not None else None,
            nonce=parse_quantity(entry["nonce"], "nonce", 64) if entry.get("nonce") is not None else None,
            code=parse_data(entry["code"], "code") if entry.get("code") is not None else None,
            storage=_slots(entry["state"], key) if entry.get("state") is not None else None,
            storage_diff=_slots(entry["stateDiff"], key) if entry.get("stateDiff") is not None else (),
        )
    return out


def _slots(value: Any, where: str) -> tuple[tuple[int, int], ...]:
    if not isinstance(value, dict):
        raise InvalidParams(f"invalid stateOverride.{where}: storage must be an object of slot: value")
    return tuple((parse_slot(k), parse_slot(v, "storage value")) for k, v in value.items())


def apply_block_overrides(view: StateView, value: Any) -> StateView:
    """geth's ``blockOverrides``: number, time, gasLimit, feeRecipient (coinbase), prevRandao,
    baseFeePerGas."""
    if value is None:
        return view
    if not isinstance(value, dict):
        raise InvalidParams("invalid blockOverrides: expected an object")
    unknown = set(value) - {"number", "time", "gasLimit", "feeRecipient", "coinbase", "prevRandao", "random"}
    unknown -= {"baseFeePerGas", "blobBaseFee"}
    if unknown:
        raise InvalidParams(f"invalid blockOverrides: unknown field(s) {', '.join(sorted(unknown))}")
    env = view.env
    changes: dict[str, Any] = {}
    if value.get("number") is not None:
        changes["number"] = parse_quantity(value["number"], "blockOverrides.number", 64)
    if value.get("time") is not None:
        changes["timestamp"] = parse_quantity(value["time"], "blockOverrides.time", 64)
    if value.get("gasLimit") is not None:
        changes["gas_limit"] = parse_quantity(value["gasLimit"], "blockOverrides.gasLimit", 64)
    for key in ("feeRecipient", "coinbase"):
        if value.get(key) is not None:
            changes["coinbase"] = parse_address(value[key], f"blockOverrides.{key}")
    for key in ("prevRandao", "random"):
        if value.get(key) is not None:
            changes["prev_randao"] = parse_slot(value[key], f"blockOverrides.{key}").to_bytes(32, "big")
    if value.get("baseFeePerGas") is not None:
        changes["base_fee"] = parse_quantity(value["baseFeePerGas"], "blockOverrides.baseFeePerGas")
    return replace(view, env=replace(env, **changes))


def _call_gas(request: CallRequest, env: BlockEnv, gas_cap: int) -> int:
    """The gas a call may use: what it asks for (or the block's limit), at most ``rpc.gas_cap``."""
    return min(request.gas or env.gas_limit, gas_cap)


def make_job(
    kind: JobKind,
    views: list[StateView],
    bundles: list[tuple[list[CallRequest], Any]],
    state_override: Any,
    block_override: Any,
    chain_id: int,
    gas_cap: int,
) -> tuple[CallJob, StateView]:
    """A job over ``views`` (one, or two environments for an estimate) with the overrides
    applied, gas capped; and the view whose state an inline run reads."""
    overrides = tuple(parse_state_override(state_override).items())
    views = [apply_block_overrides(view, block_override) for view in views]
    base = views[0]
    cap = min(base.env.gas_limit, gas_cap)
    made = []
    for requests, bundle_override in bundles:
        env = apply_block_overrides(base, bundle_override).env if bundle_override is not None else None
        limit_env = env or base.env
        made.append(Bundle(tuple(r.with_gas(_call_gas(r, limit_env, gas_cap)) for r in requests), env))
    job = CallJob(
        kind=kind,
        seq=base.seq,
        envs=tuple(v.env for v in views),
        prev_hashes=tuple(base.prev_hashes),
        chain_id=chain_id,
        bundles=tuple(made),
        overrides=overrides,
        cap=cap,
    )
    return job, base


def _call_many_result(result: CallResult) -> dict[str, Any]:
    if result.success:
        return {"value": d(result.output)}
    return {"error": result.error or "execution failed", "value": d(result.output)}


def state_methods(ctx: RpcContext) -> dict[str, Handler]:
    """The state and call handlers over ``ctx``."""
    chain = ctx.chain

    def views_for_estimate(ref: BlockRef) -> list[StateView]:
        view = state_view(chain, ref)
        if ref.tag is None or ref.tag == "earliest":
            return [view]
        # the newest state: the transaction may land in the open block or in the next one
        return [view, replace(view, env=chain.following_env())]

    def eth_get_balance(params: list[Any]) -> str:
        address, block = params_list(params, "eth_getBalance", 1, 2)
        addr = parse_address(address)
        account = state_view(chain, parse_block_ref(block)).state.get_account(addr)
        return q(account.balance if account else 0)

    def eth_get_transaction_count(params: list[Any]) -> str:
        address, block = params_list(params, "eth_getTransactionCount", 1, 2)
        addr = parse_address(address)
        ref = parse_block_ref(block)
        if ref.tag == "pending":
            return q(ctx.pool.next_nonce(addr))
        account = state_view(chain, ref).state.get_account(addr)
        return q(account.nonce if account else 0)

    def eth_get_code(params: list[Any]) -> str:
        address, block = params_list(params, "eth_getCode", 1, 2)
        addr = parse_address(address)
        return d(state_view(chain, parse_block_ref(block)).state.get_code(addr))

    def eth_get_storage_at(params: list[Any]) -> str:
        address, slot, block = params_list(params, "eth_getStorageAt", 2, 3)
        addr = parse_address(address)
        value = state_view(chain, parse_block_ref(block)).state.get_storage(addr, parse_slot(slot))
        return d(value.to_bytes(32, "big"))

    async def run(
        kind: JobKind,
        views: list[StateView],
        bundles: list[tuple[list[CallRequest], Any]],
        state_override: Any = None,
        block_override: Any = None,
    ) -> Any:
        job, base = make_job(
            kind, views, bundles, state_override, block_override, chain.chain_id, ctx.calls.gas_cap
        )
        return await ctx.calls.run(job, lambda _seq: base.state)

    async def run_eth_call(obj: Any, block: Any, state_override: Any, block_override: Any) -> str:
        request = parse_call_request(obj)
        view = state_view(chain, parse_block_ref(block))
        output = await run("call", [view], [([request], None)], state_override, block_override)
        return d(output)

    async def eth_call(params: list[Any]) -> str:
        obj, block, state_override, block_override = params_list(params, "eth_call", 1, 4)
        return await run_eth_call(obj, block, state_override, block_override)

    async def eth_estimate_gas(params: list[Any]) -> str:
        obj, block, state_override, block_override = params_list(params, "eth_estimateGas", 1, 4)
        request = parse_call_request(obj)
        views = views_for_estimate(parse_block_ref(block))
        return q(await run("estimate", views, [([request], None)], state_override, block_override))

    async def eth_create_access_list(params: list[Any]) -> dict[str, Any]:
        obj, block, state_override = params_list(params, "eth_createAccessList", 1, 3)
        request = parse_call_request(obj)
        view = state_view(chain, parse_block_ref(block))
        result: CallResult = await run("access_list", [view], [([request], None)], state_override)
        out: dict[str, Any] = {
            "accessList": [
                {"address": d(address), "storageKeys": [d(slot.to_bytes(32, "big")) for slot in slots]}
                for address, slots in result.accessed
            ],
            "gasUsed": q(result.gas_used),
        }
        if not result.success:
            out["error"] = result.error or "execution failed"
        return out

    async def eth_call_many(params: list[Any]) -> list[list[dict[str, Any]]]:
        bundles, context, state_override, _timeout = params_list(params, "eth_callMany", 2, 4)
        if not isinstance(bundles, list) or not 1 <= len(bundles) <= MAX_CALL_MANY_BUNDLES:
            raise InvalidParams(f"eth_callMany: expected 1 to {MAX_CALL_MANY_BUNDLES} bundles")
        if not isinstance(context, dict) or "blockNumber" not in context:
            raise InvalidParams("eth_callMany: stateContext.blockNumber is required")
        if context.get("transactionIndex") not in (None, -1, "-1", "0x-1"):
            raise InvalidParams("eth_callMany: only stateContext.transactionIndex -1 (the end of the block)")
        parsed: list[tuple[list[CallRequest], Any]] = []
        total = 0
        for bundle in bundles:
            if not isinstance(bundle, dict) or not isinstance(bundle.get("transactions"), list):
                raise InvalidParams("eth_callMany: each bundle needs a transactions array")
            calls = [parse_call_request(tx) for tx in bundle["transactions"]]
            if not calls:
                raise InvalidParams("eth_callMany: a bundle's transactions must not be empty")
            total += len(calls)
            parsed.append((calls, bundle.get("blockOverride")))
        if total > MAX_CALL_MANY_CALLS:
            raise InvalidParams(f"eth_callMany: at most {MAX_CALL_MANY_CALLS} transactions in all")
        view = state_view(chain, parse_block_ref(context["blockNumber"]))
        results: tuple[tuple[CallResult, ...], ...] = await run("call_many", [view], parsed, state_override)
        return [[_call_many_result(r) for r in bundle_results] for bundle_results in results]

    async def eth_call_after(params: list[Any]) -> str:
        obj, condition, state_override, block_override = params_list(params, "eth_callAfter", 2, 4)
        if not isinstance(condition, dict) or "account" not in condition or "nonce" not in condition:
            raise InvalidParams("eth_callAfter: condition needs account and nonce")
        account = parse_address(condition["account"], "condition.account")
        target = parse_quantity(condition["nonce"], "condition.nonce", 64)
        timeout = condition.get("timeout", CALL_AFTER_DEFAULT_MS)
        if not isinstance(timeout, int) or isinstance(timeout, bool) or not 0 < timeout <= CALL_AFTER_MAX_MS:
            raise InvalidParams(f"eth_callAfter: condition.timeout must be 1 to {CALL_AFTER_MAX_MS} ms")
        parse_call_request(obj)  # bad input is refused before waiting
        parse_state_override(state_override)
        deadline = time.monotonic() + timeout / 1000
        while chain.world.nonce_of(account) < target:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CallFailed("Timeout: timeout waiting for nonce condition")
            await ctx.waiters.next_mini_block(left)
        return await run_eth_call(obj, "latest", state_override, block_override)

    return {
        "eth_getBalance": eth_get_balance,
        "eth_getTransactionCount": eth_get_transaction_count,
        "eth_getCode": eth_get_code,
        "eth_getStorageAt": eth_get_storage_at,
        "eth_call": eth_call,
        "eth_estimateGas": eth_estimate_gas,
        "eth_createAccessList": eth_create_access_list,
        "eth_callMany": eth_call_many,
        "eth_callAfter": eth_call_after,
    }
