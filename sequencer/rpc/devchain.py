"""Dev-chain control methods (devnet only), anvil's names with hardhat's aliases: ``evm_mine``,
``anvil_mine``/``hardhat_mine``, ``evm_increaseTime``, ``evm_setNextBlockTimestamp``,
``evm_snapshot``/``evm_revert``, ``anvil_setBalance``/``setCode``/``setNonce``/``setStorageAt``,
``anvil_impersonateAccount``/``anvil_stopImpersonatingAccount`` (``hardhat_*`` the same).

What each does to the chain is in ``builder/devchain.py``. On a chain that is not a devnet
every one of them answers ``-32601`` naming ``chain.devnet``.
"""

from __future__ import annotations

from typing import Any

from sequencer.builder.devchain import DevChain
from sequencer.errors import DevChainUnavailable
from sequencer.jsonrpc.dispatch import Handler
from sequencer.jsonrpc.encoding import params_list, parse_address, parse_data, parse_quantity, parse_slot, q
from sequencer.jsonrpc.errors import InvalidParams
from sequencer.rpc.context import RpcContext
from sequencer.types import DevEdit


def parse_number(value: Any, name: str, bits: int = 64) -> int:
    """A JSON number, a decimal string or a hex quantity (anvil and hardhat take all three)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < 2**bits:
            raise InvalidParams(f"invalid {name}: must be 0 to 2**{bits}-1")
        return value
    if isinstance(value, str) and value.isdigit():
        return parse_number(int(value), name, bits)
    return parse_quantity(value, name, bits)


def dev_chain_methods(ctx: RpcContext) -> dict[str, Handler]:
    """The dev-chain handlers over ``ctx`` (refusing on a non-devnet chain)."""

    def need(method: str) -> DevChain:
        if ctx.dev is None:
            raise DevChainUnavailable(method)
        return ctx.dev

    async def evm_mine(params: list[Any]) -> str:
        (options,) = params_list(params, "evm_mine", 0, 1)
        dev = need("evm_mine")
        count, timestamp = 1, None
        if isinstance(options, dict):
            if options.get("blocks") is not None:
                count = parse_number(options["blocks"], "blocks")
            if options.get("timestamp") is not None:
                timestamp = parse_number(options["timestamp"], "timestamp")
        elif options is not None:
            timestamp = parse_number(options, "timestamp")
        await dev.mine(count, timestamp=timestamp)
        return "0x0"

    def mine(method: str) -> Handler:
        async def handler(params: list[Any]) -> None:
            count, interval = params_list(params, method, 0, 2)
            dev = need(method)
            blocks = parse_number(count, "blocks") if count is not None else 1
            seconds = parse_number(interval, "interval") if interval is not None else None
            await dev.mine(blocks, interval=seconds)

        return handler

    async def evm_increase_time(params: list[Any]) -> int:
        (seconds,) = params_list(params, "evm_increaseTime", 1, 1)
        return await need("evm_increaseTime").increase_time(parse_number(seconds, "seconds"))

    async def evm_set_next_block_timestamp(params: list[Any]) -> None:
        (timestamp,) = params_list(params, "evm_setNextBlockTimestamp", 1, 1)
        await need("evm_setNextBlockTimestamp").set_next_timestamp(parse_number(timestamp, "timestamp"))

    async def evm_snapshot(params: list[Any]) -> str:
        params_list(params, "evm_snapshot", 0, 0)
        return q(await need("evm_snapshot").snapshot())

    async def evm_revert(params: list[Any]) -> bool:
        (snapshot_id,) = params_list(params, "evm_revert", 1, 1)
        dev = need("evm_revert")
        return await dev.revert(parse_number(snapshot_id, "snapshot id"))

    def edit(method: str, kind: str, answer: Any) -> Handler:
        async def handler(params: list[Any]) -> Any:
            if kind == "storage":
                address, slot, value = params_list(params, method, 3, 3)
                dev = need(method)
                edit = DevEdit(
                    "storage",
                    parse_address(address),
                    parse_slot(value, "value"),
                    parse_slot(slot, "slot"),
                )
            else:
                address, value = params_list(params, method, 2, 2)
                dev = need(method)
                typed: int | bytes
                if kind == "code":
                    typed = parse_data(value, "code")
                elif kind == "nonce":
                    typed = parse_number(value, "nonce")
                else:
                    typed = parse_number(value, "balance", 256)
                edit = DevEdit(kind, parse_address(address), typed)
            await dev.edit(edit)
            return answer

        return handler

    def impersonate(method: str, start: bool, answer: Any) -> Handler:
        def handler(params: list[Any]) -> Any:
            (address,) = params_list(params, method, 1, 1)
            dev = need(method)
            account = parse_address(address)
            if start:
                dev.impersonated.add(account)
            else:
                dev.impersonated.discard(account)
            return answer

        return handler

    methods: dict[str, Handler] = {
        "evm_mine": evm_mine,
        "anvil_mine": mine("anvil_mine"),
        "hardhat_mine": mine("hardhat_mine"),
        "evm_increaseTime": evm_increase_time,
        "evm_setNextBlockTimestamp": evm_set_next_block_timestamp,
        "evm_snapshot": evm_snapshot,
        "evm_revert": evm_revert,
    }
    for prefix, answer in (("anvil", None), ("hardhat", True)):
        for name, kind in (("setBalance", "balance"), ("setCode", "code"), ("setNonce", "nonce")):
            methods[f"{prefix}_{name}"] = edit(f"{prefix}_{name}", kind, answer)
        methods[f"{prefix}_setStorageAt"] = edit(f"{prefix}_setStorageAt", "storage", True)
        methods[f"{prefix}_impersonateAccount"] = impersonate(f"{prefix}_impersonateAccount", True, answer)
        methods[f"{prefix}_stopImpersonatingAccount"] = impersonate(
            f"{prefix}_stopImpersonatingAccount", False, answer
        )
    return methods
