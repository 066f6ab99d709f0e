"""State queries and simulated calls: balance, nonce, code, storage, ``eth_call``, ``eth_estimateGas``.

Block parameters as ``rpc/blocktags.py`` defines them; calls run in the environment the next
transaction meets (the one the producer uses: ``sequencer/rules.py``).
"""

from __future__ import annotations

from typing import Any

from sequencer.execution.engine import CallRequest, call, estimate_gas
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
from sequencer.rpc.context import RpcContext

ZERO_ADDRESS = b"\x00" * 20


def parse_call_request(obj: Any) -> CallRequest:
    """A call object (``from``, ``to``, ``gas``, ``gasPrice``/``maxFeePerGas``, ``value``,
    ``input``/``data``) as a :class:`CallRequest`; ``gas`` 0 means "up to the block's limit"."""
    if not isinstance(obj, dict):
        raise InvalidParams("invalid call object: expected an object")
    sender = parse_address(obj["from"], "from") if obj.get("from") is not None else ZERO_ADDRESS
    to = parse_address(obj["to"], "to") if obj.get("to") is not None else None
    gas = parse_quantity(obj["gas"], "gas", 64) if obj.get("gas") is not None else 0
    gas_price = 0
    for key in ("gasPrice", "maxFeePerGas"):
        if obj.get(key) is not None:
            gas_price = parse_quantity(obj[key], key)
    value = parse_quantity(obj["value"], "value") if obj.get("value") is not None else 0
    data = b""
    for key in ("input", "data"):
        if obj.get(key) is not None:
            data = parse_data(obj[key], key)
            break
    return CallRequest(sender, to, gas, gas_price, value, data)


def state_methods(ctx: RpcContext) -> dict[str, Handler]:
    """The state and call handlers over ``ctx``."""
    chain = ctx.chain

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
        key = parse_slot(slot)
        value = state_view(chain, parse_block_ref(block)).state.get_storage(addr, key)
        return d(value.to_bytes(32, "big"))

    def eth_call(params: list[Any]) -> str:
        obj, block, _overrides = params_list(params, "eth_call", 1, 3)
        request = parse_call_request(obj)
        view = state_view(chain, parse_block_ref(block))
        if request.gas == 0:
            request = CallRequest(
                request.sender, request.to, view.env.gas_limit, request.gas_price, request.value, request.data
            )
        return d(call(view.state, view.env, chain.chain_id, view.prev_hashes, request))

    def eth_estimate_gas(params: list[Any]) -> str:
        obj, block, _overrides = params_list(params, "eth_estimateGas", 1, 3)
        request = parse_call_request(obj)
        view = state_view(chain, parse_block_ref(block))
        gas = estimate_gas(
            view.state, view.env, chain.chain_id, view.prev_hashes, request, view.env.gas_limit
        )
        return q(gas)

    return {
        "eth_getBalance": eth_get_balance,
        "eth_getTransactionCount": eth_get_transaction_count,
        "eth_getCode": eth_get_code,
        "eth_getStorageAt": eth_get_storage_at,
        "eth_call": eth_call,
        "eth_estimateGas": eth_estimate_gas,
    }
