"""WebSocket JSON-RPC with web3.py's AsyncWeb3 + WebSocketProvider: requests and subscriptions."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import pytest
from eth_account import Account
from web3 import AsyncWeb3, Web3
from web3.providers.persistent import WebSocketProvider

from tests.support.accounts import DEV_KEYS
from tests.support.contracts import load_artifact
from tests.support.daemon import Daemon
from tests.support.rpc import request

CHAIN_ID = 1337
GWEI = 10**9
PLACEHOLDER_HASH = "0x" + "ff" * 32  # MegaETH's block hash for what is not sealed yet


def ws_url(daemon: Daemon) -> str:
    return daemon.url.replace("http://", "ws://")


def sign(key: str, nonce: int, **fields: Any) -> bytes:
    tx = {
        "chainId": CHAIN_ID,
        "nonce": nonce,
        "gas": 21_000,
        "maxFeePerGas": 10 * GWEI,
        "maxPriorityFeePerGas": 0,
        "type": 2,
        "value": 0,
        **fields,
    }
    return bytes(Account.from_key(key).sign_transaction(tx).raw_transaction)


async def collect(w3: AsyncWeb3[Any], wanted: dict[str, int], timeout: float = 10.0) -> dict[str, list[Any]]:
    """Read subscription messages until each subscription id has ``wanted[id]`` results."""
    got: dict[str, list[Any]] = {sid: [] for sid in wanted}

    async def run() -> None:
        async for message in w3.socket.process_subscriptions():
            sid = message["subscription"]
            if sid in got:
                got[sid].append(message["result"])
            if all(len(got[s]) >= n for s, n in wanted.items()):
                return

    await asyncio.wait_for(run(), timeout)
    return got


@pytest.mark.asyncio
async def test_requests_work_over_websocket(daemon: Daemon) -> None:
    async with AsyncWeb3(WebSocketProvider(ws_url(daemon))) as w3:
        assert await w3.eth.chain_id == CHAIN_ID
        assert await w3.eth.get_balance(Account.from_key(DEV_KEYS[9]).address) > 0
        answers = await w3.provider.make_batch_request([("eth_chainId", []), ("eth_blockNumber", [])])
        assert answers[0]["result"] == hex(CHAIN_ID)
        number = answers[1]["result"]
        assert re.fullmatch(r"0x(0|[1-9a-f][0-9a-f]*)", number), number  # a canonical QUANTITY
        block = await w3.eth.get_block(int(number, 16))
        assert block["number"] == int(number, 16)


def deploy_reverter(daemon: Daemon) -> tuple[Any, str, int]:
    http = Web3(Web3.HTTPProvider(daemon.url))
    key = DEV_KEYS[9]
    sender = Account.from_key(key).address
    art = load_artifact("Reverter")
    nonce = http.eth.get_transaction_count(sender, "pending")
    deploy = http.eth.wait_for_transaction_receipt(
        http.eth.send_raw_transaction(sign(key, nonce, data=art["bytecode"], gas=1_000_000)),
        timeout=10,
        poll_latency=0.005,
    )
    contract = http.eth.contract(address=deploy["contractAddress"], abi=art["abi"])
    return contract, key, nonce + 1


@pytest.mark.asyncio
async def test_web3_subscriptions_deliver_heads_logs_and_pending_transactions(daemon: Daemon) -> None:
    contract, key, nonce = deploy_reverter(daemon)
    async with AsyncWeb3(WebSocketProvider(ws_url(daemon))) as w3:
        heads = await w3.eth.subscribe("newHeads")
        logs = await w3.eth.subscribe("logs", {"address": contract.address})
        pending = await w3.eth.subscribe("newPendingTransactions")
        raw = sign(key, nonce, to=contract.address, data=contract.encode_abi("increment", []), gas=100_000)
        tx_hash = await w3.eth.send_raw_transaction(raw)

        got = await collect(w3, {heads: 1, logs: 1, pending: 1})

    assert got[pending][0] in (tx_hash, tx_hash.to_0x_hex())
    (log,) = got[logs]
    assert log["address"] == contract.address
    assert log["transactionHash"] == tx_hash
    assert contract.events.Incremented().process_log(log)["args"]["newValue"] >= 1
    head = got[heads][0]
    assert head["number"] >= 1 and len(head["hash"]) == 32
    assert int(head["miniBlockCount"], 16) >= 0, "MegaETH's newHeads field"


@pytest.mark.asyncio
async def test_realtime_streams_deliver_mini_blocks_and_state_changes(daemon: Daemon) -> None:
    """MegaETH's miniBlocks and stateChanges streams, read with a plain WebSocket client."""
    contract, key, nonce = deploy_reverter(daemon)
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url(daemon)) as ws:
        await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["miniBlocks"]})
        mini_id = (await ws.receive_json(timeout=5))["result"]
        await ws.send_json(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "eth_subscribe",
                "params": ["stateChanges", [contract.address]],
            }
        )
        changes_id = (await ws.receive_json(timeout=5))["result"]
        raw = sign(key, nonce, to=contract.address, data=contract.encode_abi("increment", []), gas=100_000)
        await ws.send_json(
            {"jsonrpc": "2.0", "id": 3, "method": "eth_sendRawTransaction", "params": ["0x" + raw.hex()]}
        )
        got: dict[str, list[Any]] = {mini_id: [], changes_id: []}
        tx_hash = None
        while not (got[mini_id] and got[changes_id] and tx_hash):
            msg = await ws.receive_json(timeout=5)
            if msg.get("id") == 3:
                tx_hash = msg["result"]
            elif msg.get("method") == "eth_subscription":
                got[msg["params"]["subscription"]].append(msg["params"]["result"])

    mini = next(m for m in got[mini_id] if any(t["hash"] == tx_hash for t in m["transactions"]))
    documented = {
        "block_number",
        "block_timestamp",
        "index",
        "mini_block_number",
        "mini_block_timestamp",
        "gas_used",
        "transactions",
        "receipts",
        "transaction_root",
        "receipt_root",
    }
    assert documented <= set(mini)
    assert int(mini["mini_block_timestamp"], 16) > 1_600_000_000 * 10**6, "a microsecond timestamp"
    assert len(mini["transaction_root"]) == len(mini["receipt_root"]) == 66
    (receipt,) = [r for r in mini["receipts"] if r["transactionHash"] == tx_hash]
    assert receipt["status"] == "0x1" and int(mini["gas_used"], 16) >= int(receipt["gasUsed"], 16)
    assert receipt["blockNumber"] == mini["block_number"]
    # the same objects eth_getTransactionByHash / eth_getTransactionReceipt answer (the block hash
    # is the placeholder until the EVM block is sealed, the real one after)
    http = Web3(Web3.HTTPProvider(daemon.url))
    (tx,) = [t for t in mini["transactions"] if t["hash"] == tx_hash]
    by_hash = request(http, "eth_getTransactionByHash", [tx_hash])["result"]
    by_receipt = request(http, "eth_getTransactionReceipt", [tx_hash])["result"]
    assert {k: v for k, v in tx.items() if k != "blockHash"} == {
        k: v for k, v in by_hash.items() if k != "blockHash"
    }
    assert {k: v for k, v in receipt.items() if k not in ("blockHash", "logs")} == {
        k: v for k, v in by_receipt.items() if k not in ("blockHash", "logs")
    }
    assert tx["blockHash"] == PLACEHOLDER_HASH
    change = got[changes_id][0]
    assert set(change) == {"address", "nonce", "balance", "storage"}
    assert change["address"].lower() == contract.address.lower()
    assert isinstance(change["nonce"], int)
    (value,) = change["storage"].values()
    assert int(value, 16) == contract.functions.counter().call(), "the counter's slot holds the count"


@pytest.mark.asyncio
async def test_pending_logs_subscription_delivers_with_the_mini_block(daemon: Daemon) -> None:
    """MegaETH: ``fromBlock``/``toBlock`` ``"pending"`` deliver each log as its mini-block is
    sealed, with the placeholder block hash (a log of a sealed block carries the real one)."""
    contract, key, nonce = deploy_reverter(daemon)
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url(daemon)) as ws:
        criteria = {"address": contract.address, "fromBlock": "pending", "toBlock": "pending"}
        sid = (await ws_call(ws, "eth_subscribe", ["logs", criteria]))["result"]
        raw = sign(key, nonce, to=contract.address, data=contract.encode_abi("increment", []), gas=100_000)
        tx_hash = (await ws_call(ws, "eth_sendRawTransaction", ["0x" + raw.hex()]))["result"]
        while True:
            msg = await ws.receive_json(timeout=5)
            if msg.get("method") == "eth_subscription" and msg["params"]["subscription"] == sid:
                log = msg["params"]["result"]
                break
    assert log["transactionHash"] == tx_hash
    assert log["blockHash"] == PLACEHOLDER_HASH, "delivered before its EVM block was sealed"
    receipt = Web3(Web3.HTTPProvider(daemon.url)).eth.wait_for_transaction_receipt(tx_hash, timeout=10)
    assert int(log["blockNumber"], 16) == receipt["blockNumber"]


async def ws_call(ws: aiohttp.ClientWebSocketResponse, method: str, params: list[Any]) -> dict[str, Any]:
    await ws.send_json({"jsonrpc": "2.0", "id": 7, "method": method, "params": params})
    while True:
        msg: dict[str, Any] = await ws.receive_json(timeout=5)
        if msg.get("id") == 7:
            return msg


@pytest.mark.asyncio
async def test_unsubscribe_and_subscription_errors(daemon: Daemon) -> None:
    async with AsyncWeb3(WebSocketProvider(ws_url(daemon))) as w3:
        sid = await w3.eth.subscribe("newHeads")
        assert await w3.eth.unsubscribe(sid) is True
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url(daemon)) as ws:
        sid = (await ws_call(ws, "eth_subscribe", ["newHeads"]))["result"]
        assert (await ws_call(ws, "eth_unsubscribe", [sid]))["result"] is True
        assert (await ws_call(ws, "eth_unsubscribe", [sid]))["result"] is False
        assert (await ws_call(ws, "eth_subscribe", ["nonsense"]))["error"]["code"] == -32602
        assert (await ws_call(ws, "eth_subscribe", ["logs", {"address": "0x12"}]))["error"]["code"] == -32602
        assert (await ws_call(ws, "eth_subscribe", []))["error"]["code"] == -32602
    # over HTTP, subscriptions do not exist
    plain = request(Web3(Web3.HTTPProvider(daemon.url)), "eth_subscribe", ["newHeads"])
    assert plain["error"]["code"] == -32601


@pytest.mark.asyncio
async def test_subscriptions_per_connection_are_capped(daemon: Daemon) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url(daemon)) as ws:
        for _ in range(100):
            assert "result" in await ws_call(ws, "eth_subscribe", ["miniBlocks"])
        over = await ws_call(ws, "eth_subscribe", ["miniBlocks"])
        assert over["error"]["code"] == -32005
        assert (await ws_call(ws, "eth_chainId", []))["result"] == hex(CHAIN_ID), (
            "the connection still serves"
        )


@pytest.mark.asyncio
async def test_bad_input_over_websocket_gets_the_same_codes_and_the_connection_survives(
    daemon: Daemon,
) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url(daemon)) as ws:
        await ws.send_str('{"jsonrpc": "2.0", "method": ')
        assert (await ws.receive_json(timeout=5))["error"]["code"] == -32700
        await ws.send_str('{"jsonrpc": "1.0", "id": 1, "method": "eth_chainId"}')
        assert (await ws.receive_json(timeout=5))["error"]["code"] == -32600
        assert (await ws_call(ws, "eth_nope", []))["error"]["code"] == -32601
        assert (await ws_call(ws, "eth_getBalance", ["0x12", "latest"]))["error"]["code"] == -32602
        rejected = await ws_call(ws, "eth_sendRawTransaction", ["0x" + sign(DEV_KEYS[9], 0, chainId=1).hex()])
        assert rejected["error"]["code"] == -32000 and "chain id" in rejected["error"]["message"]
        async with AsyncWeb3(WebSocketProvider(ws_url(daemon))) as w3:
            before = await w3.eth.block_number
        assert (await ws_call(ws, "eth_chainId", []))["result"] == hex(CHAIN_ID)
    await asyncio.sleep(0.6)
    async with AsyncWeb3(WebSocketProvider(ws_url(daemon))) as w3:
        assert await w3.eth.block_number > before, "blocks are still sealed"
