"""Every JSON-RPC method answers the same over HTTP and over WebSocket (one port for both)."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest
from eth_account import Account
from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.daemon import Daemon
from tests.support.openrpc import load_spec
from tests.support.rpc import request

CHAIN_ID = 1337
GWEI = 10**9


@pytest.fixture(scope="module")
def chain_facts(daemon: Daemon) -> dict[str, Any]:
    """A sealed block with one transfer in it, for the block/transaction queries."""
    w3 = Web3(Web3.HTTPProvider(daemon.url))
    acct = Account.from_key(DEV_KEYS[8])
    raw = acct.sign_transaction(
        {
            "chainId": CHAIN_ID,
            "nonce": w3.eth.get_transaction_count(acct.address, "pending"),
            "to": acct.address,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": 0,
            "type": 2,
        }
    ).raw_transaction
    receipt = request(w3, "eth_sendRawTransactionSync", ["0x" + bytes(raw).hex()])["result"]
    number = int(receipt["blockNumber"], 16)
    deadline = time.monotonic() + 10
    while w3.eth.block_number < number:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    block = request(w3, "eth_getBlockByNumber", [receipt["blockNumber"], False])["result"]
    return {
        "address": acct.address,
        "tx": receipt["transactionHash"],
        "number": receipt["blockNumber"],
        "hash": block["hash"],
        "index": receipt["transactionIndex"],
    }


def calls(f: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    addr, number, block_hash, tx = f["address"], f["number"], f["hash"], f["tx"]
    return [
        ("web3_clientVersion", []),
        ("web3_sha3", ["0x68656c6c6f"]),
        ("net_version", []),
        ("net_listening", []),
        ("net_peerCount", []),
        ("eth_chainId", []),
        ("eth_syncing", []),
        ("eth_accounts", []),
        ("eth_getBalance", [addr, number]),
        ("eth_getTransactionCount", [addr, number]),
        ("eth_getCode", [addr, number]),
        ("eth_getStorageAt", [addr, "0x0", number]),
        ("eth_call", [{"to": addr, "data": "0x"}, number]),
        ("eth_estimateGas", [{"from": addr, "to": addr, "value": "0x1"}, number]),
        ("eth_getBlockByNumber", [number, True]),
        ("eth_getBlockByHash", [block_hash, False]),
        ("eth_getBlockTransactionCountByHash", [block_hash]),
        ("eth_getBlockTransactionCountByNumber", [number]),
        ("eth_getTransactionByHash", [tx]),
        ("eth_getRawTransactionByHash", [tx]),
        ("eth_getTransactionByBlockHashAndIndex", [block_hash, f["index"]]),
        ("eth_getTransactionByBlockNumberAndIndex", [number, f["index"]]),
        ("eth_getTransactionReceipt", [tx]),
        ("eth_getBlockReceipts", [number]),
        ("eth_getLogs", [{"fromBlock": number, "toBlock": number}]),
        ("eth_feeHistory", ["0x2", number, [50]]),
    ]


async def ws_answers(url: str, requests: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    out = []
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        for i, (method, params) in enumerate(requests):
            await ws.send_json({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
            out.append(await ws.receive_json(timeout=10))
    return out


@pytest.mark.asyncio
async def test_http_and_websocket_answer_every_method_alike(
    daemon: Daemon, chain_facts: dict[str, Any]
) -> None:
    requests = calls(chain_facts)
    w3 = Web3(Web3.HTTPProvider(daemon.url))
    over_http = [w3.provider.make_request(method, params) for method, params in requests]  # type: ignore[arg-type]
    over_ws = await ws_answers(daemon.url.replace("http://", "ws://"), requests)
    for (method, _), http, ws in zip(requests, over_http, over_ws, strict=True):
        assert "error" not in http, (method, http)
        assert http["result"] == ws["result"], method
    results = {method: r["result"] for (method, _), r in zip(requests, over_http, strict=True)}
    assert results["web3_sha3"] == "0x1c8aff950685c2ed4bc3174f3472287b56d9517b9c948127319a09a7a36deac8"
    assert (
        results["eth_syncing"] is False
        and len(results["eth_accounts"]) == 10
        and results["net_listening"] is True
    )  # a devnet lists its ten dev accounts (a production chain: none; tests/integration/test_dev_chain.py)
    assert results["eth_getBlockTransactionCountByHash"] == results["eth_getBlockTransactionCountByNumber"]
    assert results["eth_getTransactionByBlockHashAndIndex"]["hash"] == chain_facts["tx"]
    assert (
        results["eth_getTransactionByBlockNumberAndIndex"] == results["eth_getTransactionByBlockHashAndIndex"]
    )
    assert results["eth_getTransactionByHash"] == results["eth_getTransactionByBlockHashAndIndex"]
    block_receipts = results["eth_getBlockReceipts"]
    assert results["eth_getTransactionReceipt"] in block_receipts
    assert results["eth_estimateGas"] == hex(21_000)


def test_every_answer_matches_the_execution_apis_spec(daemon: Daemon, chain_facts: dict[str, Any]) -> None:
    """Results validated against ethereum/execution-apis (tests/fixtures/execution-apis)."""
    w3 = Web3(Web3.HTTPProvider(daemon.url))
    requests = [
        *calls(chain_facts),
        ("eth_blockNumber", []),
        ("eth_gasPrice", []),
        ("eth_maxPriorityFeePerGas", []),
        ("eth_getBlockByNumber", ["latest", False]),
        ("eth_getBlockByNumber", ["0xffffff", False]),
        ("eth_getTransactionReceipt", ["0x" + "ab" * 32]),
        ("eth_newBlockFilter", []),
        ("eth_newPendingTransactionFilter", []),
        ("eth_newFilter", [{"fromBlock": "latest"}]),
    ]
    checked = set()
    for method, params in requests:
        if method not in load_spec().methods():
            continue
        response = request(w3, method, params)
        assert "result" in response, (method, response)
        load_spec().validate_result(method, response["result"])
        checked.add(method)
    assert len(checked) >= 25, sorted(checked)
    # a freshly sealed mini-block's receipt and transaction (zero blockHash) conform too
    acct = Account.from_key(DEV_KEYS[9])
    raw = acct.sign_transaction(
        {
            "chainId": CHAIN_ID,
            "nonce": w3.eth.get_transaction_count(acct.address, "pending"),
            "to": acct.address,
            "value": 0,
            "gas": 21_000,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": 0,
            "type": 2,
        }
    ).raw_transaction
    sent = request(w3, "eth_sendRawTransaction", ["0x" + bytes(raw).hex()])["result"]
    load_spec().validate_result("eth_sendRawTransaction", sent)
    receipt = w3.eth.wait_for_transaction_receipt(sent, timeout=10, poll_latency=0.005)
    del receipt
    load_spec().validate_result(
        "eth_getTransactionReceipt",
        request(w3, "eth_getTransactionReceipt", [sent])["result"],
    )
    load_spec().validate_result(
        "eth_getTransactionByHash",
        request(w3, "eth_getTransactionByHash", [sent])["result"],
    )
