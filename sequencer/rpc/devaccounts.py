"""Dev accounts (devnet only): the ten standard development accounts of the mnemonic
``test test test test test test test test test test test junk`` (derivation path
``m/44'/60'/0'/0/i``, the accounts anvil and hardhat prefund), held by the node so that hardhat's
default signers and ``cast send --unlocked`` work.

``eth_accounts`` lists them; ``eth_sendTransaction`` fills what the request leaves out as geth
does (the chain id, the sender's next nonce counting the pool, an EIP-1559 fee cap of twice the
base fee plus the tip, ``eth_estimateGas``'s gas), signs and submits like
``eth_sendRawTransaction``; for an impersonated account (``anvil_impersonateAccount``) it
executes at once instead, unsigned. ``eth_sign``, ``personal_sign`` (EIP-191) and
``eth_signTypedData_v4`` (EIP-712) sign with their keys. On a chain that is not a devnet
``eth_accounts`` is empty and the others answer ``-32601`` naming ``chain.devnet``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_utils.address import to_checksum_address

from sequencer.errors import DevChainRefused, DevChainUnavailable
from sequencer.jsonrpc.dispatch import Handler
from sequencer.jsonrpc.encoding import (
    d,
    params_list,
    parse_address,
    parse_block_ref,
    parse_data,
    parse_quantity,
)
from sequencer.jsonrpc.errors import InvalidParams
from sequencer.rpc.blocktags import state_view
from sequencer.rpc.context import RpcContext
from sequencer.rpc.fees import suggested_gas_price
from sequencer.rpc.state import make_job, parse_access_list, parse_call_request
from sequencer.types import UnsignedTx

DEV_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)
"""The keys of ``m/44'/60'/0'/0/0`` to ``/9`` of the standard test mnemonic."""
DEV_ACCOUNTS: dict[bytes, str] = {bytes.fromhex(Account.from_key(k).address[2:]): k for k in DEV_KEYS}
TX_FIELDS = {
    "from",
    "to",
    "gas",
    "gasPrice",
    "maxFeePerGas",
    "maxPriorityFeePerGas",
    "value",
    "data",
    "input",
    "nonce",
    "accessList",
    "type",
    "chainId",
}


def dev_account_methods(ctx: RpcContext) -> dict[str, Handler]:
    """The dev-account handlers over ``ctx``."""
    chain = ctx.chain
    devnet = chain.config.devnet

    def need(method: str) -> None:
        if not devnet:
            raise DevChainUnavailable(method)

    def key_of(address: bytes) -> str:
        key = DEV_ACCOUNTS.get(address)
        if key is None:
            raise DevChainRefused(
                f"unknown account 0x{address.hex()}: the node holds the ten dev accounts' keys"
            )
        return key

    def eth_accounts(params: list[Any]) -> list[str]:
        params_list(params, "eth_accounts", 0, 0)
        return [d(a) for a in DEV_ACCOUNTS] if devnet else []

    async def fill(obj: Any) -> tuple[UnsignedTx, bytes]:
        if not isinstance(obj, dict) or obj.get("from") is None:
            raise InvalidParams("invalid transaction: expected an object with from")
        unknown = set(obj) - TX_FIELDS
        if unknown:
            raise InvalidParams(f"invalid transaction: unknown field(s) {', '.join(sorted(unknown))}")
        sender = parse_address(obj["from"], "from")
        if obj.get("chainId") is not None and parse_quantity(obj["chainId"], "chainId", 64) != chain.chain_id:
            raise InvalidParams(f"invalid chainId: this chain is {chain.chain_id}")
        request = parse_call_request(obj)
        nonce = (
            parse_quantity(obj["nonce"], "nonce", 64)
            if obj.get("nonce") is not None
            else ctx.pool.next_nonce(sender)
        )
        access = parse_access_list(obj["accessList"]) if obj.get("accessList") is not None else ()
        if obj.get("gasPrice") is not None:
            tx_type, fee_cap, tip = (1 if access else 0), request.gas_price, request.gas_price
        else:
            tip = request.max_priority_fee if request.max_priority_fee is not None else 0
            fee_cap = (
                parse_quantity(obj["maxFeePerGas"], "maxFeePerGas")
                if obj.get("maxFeePerGas") is not None
                else max(suggested_gas_price(chain), 2 * chain.pending_base_fee()) + tip
            )
            tx_type = 2
        gas = request.gas
        if not gas:
            priced = replace(request, gas_price=fee_cap, max_priority_fee=tip if tx_type == 2 else None)
            view = state_view(chain, parse_block_ref("latest"))
            views = [view, replace(view, env=chain.following_env())]
            job, base = make_job(
                "estimate", views, [([priced], None)], None, None, chain.chain_id, ctx.calls.gas_cap
            )
            estimate = await ctx.calls.run(job, lambda _seq: base.state)
            assert isinstance(estimate, int)
            gas = estimate
        tx = UnsignedTx(
            tx_type, chain.chain_id, nonce, gas, request.to, request.value, request.data, fee_cap, tip, access
        )
        return tx, sender

    async def eth_send_transaction(params: list[Any]) -> str:
        (obj,) = params_list(params, "eth_sendTransaction", 1, 1)
        need("eth_sendTransaction")
        tx, sender = await fill(obj)
        dev = ctx.dev
        if sender not in DEV_ACCOUNTS and dev is not None and sender in dev.impersonated:
            return d(await dev.send_impersonated(tx, sender))
        raw = sign_transaction(tx, key_of(sender))
        return d((await ctx.submitter.submit(raw)).hash)

    def eth_sign(params: list[Any]) -> str:
        address, data = params_list(params, "eth_sign", 2, 2)
        need("eth_sign")
        key = key_of(parse_address(address))
        return d(Account.sign_message(encode_defunct(primitive=parse_data(data, "data")), key).signature)

    def personal_sign(params: list[Any]) -> str:
        data, address, _password = params_list(params, "personal_sign", 2, 3)
        need("personal_sign")
        key = key_of(parse_address(address))
        return d(Account.sign_message(encode_defunct(primitive=parse_data(data, "data")), key).signature)

    def sign_typed_data(params: list[Any]) -> str:
        address, typed = params_list(params, "eth_signTypedData_v4", 2, 2)
        need("eth_signTypedData_v4")
        key = key_of(parse_address(address))
        if isinstance(typed, str):
            try:
                typed = orjson.loads(typed)
            except orjson.JSONDecodeError:
                raise InvalidParams("invalid typed data: not JSON") from None
        if not isinstance(typed, dict):
            raise InvalidParams("invalid typed data: expected an EIP-712 object")
        try:
            message = encode_typed_data(full_message=typed)
        except Exception as exc:
            raise InvalidParams(f"invalid typed data: {exc}") from None
        return d(Account.sign_message(message, key).signature)

    return {
        "eth_accounts": eth_accounts,
        "eth_sendTransaction": eth_send_transaction,
        "eth_sign": eth_sign,
        "personal_sign": personal_sign,
        "eth_signTypedData_v4": sign_typed_data,
    }


def sign_transaction(tx: UnsignedTx, key: str) -> bytes:
    """The raw signed transaction (eth-account)."""
    fields: dict[str, Any] = {
        "chainId": tx.chain_id,
        "nonce": tx.nonce,
        "gas": tx.gas,
        "value": tx.value,
        "data": tx.data,
    }
    if tx.to is not None:
        fields["to"] = to_checksum_address(tx.to)  # eth-account refuses a lower-case hex address
    if tx.type == 2:
        fields.update(
            type=2, maxFeePerGas=tx.max_fee_per_gas, maxPriorityFeePerGas=tx.max_priority_fee_per_gas
        )
    else:
        fields["gasPrice"] = tx.max_fee_per_gas
    if tx.access_list or tx.type == 1:
        fields["accessList"] = [
            {
                "address": to_checksum_address(a),
                "storageKeys": ["0x" + s.to_bytes(32, "big").hex() for s in slots],
            }
            for a, slots in tx.access_list
        ]
        if tx.type != 2:
            fields["type"] = 1
    return bytes(Account.sign_transaction(fields, key).raw_transaction)
