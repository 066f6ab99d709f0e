"""Mempool rules through the real daemon: nonce order, replacement, caps, txpool_* views."""

from __future__ import annotations

import random
from typing import Any

from eth_account import Account
from eth_hash.auto import keccak
from eth_typing import HexStr
from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.daemon import Daemon
from tests.support.rpc import batch, request

CHAIN_ID = 1337
GWEI = 10**9


def raw(key: str, nonce: int, tip: int = 1 * GWEI, max_fee: int = 10 * GWEI, value: int = 1) -> str:
    acct = Account.from_key(key)
    tx = {
        "chainId": CHAIN_ID,
        "nonce": nonce,
        "to": acct.address,
        "value": value,
        "gas": 21_000,
        "maxFeePerGas": max_fee,
        "maxPriorityFeePerGas": tip,
        "type": 2,
    }
    return "0x" + bytes(acct.sign_transaction(tx).raw_transaction).hex()


def tx_hash(raw_hex: str) -> HexStr:
    return HexStr("0x" + keccak(bytes.fromhex(raw_hex[2:])).hex())


def rpc(w3: Web3, method: str, params: list[Any]) -> dict[str, Any]:
    response: dict[str, Any] = request(w3, method, params)
    return response


def test_twenty_transactions_in_random_order_are_included_in_nonce_order(daemon: Daemon) -> None:
    w3 = Web3(Web3.HTTPProvider(daemon.url))
    key = DEV_KEYS[7]
    start = w3.eth.get_transaction_count(Account.from_key(key).address)
    raws = [raw(key, start + i) for i in range(20)]
    order = list(range(20))
    random.Random(7).shuffle(order)
    for i in order:
        assert rpc(w3, "eth_sendRawTransaction", [raws[i]])["result"] == tx_hash(raws[i])
    receipts = [w3.eth.wait_for_transaction_receipt(tx_hash(r), timeout=10, poll_latency=0.005) for r in raws]
    positions = [(r["blockNumber"], r["transactionIndex"]) for r in receipts]
    assert positions == sorted(positions), "included in nonce order"
    assert all(r["status"] == 1 for r in receipts)


def test_fee_bump_replacement_replaces_and_underpriced_is_refused(daemon: Daemon) -> None:
    w3 = Web3(Web3.HTTPProvider(daemon.url))
    key = DEV_KEYS[6]
    sender = Account.from_key(key).address
    nonce = w3.eth.get_transaction_count(sender, "pending")
    # nonce + 1 waits behind a gap, so it can be replaced at leisure
    original = raw(key, nonce + 1, tip=1 * GWEI, max_fee=10 * GWEI)
    assert "result" in rpc(w3, "eth_sendRawTransaction", [original])
    assert rpc(w3, "eth_sendRawTransaction", [original])["result"] == tx_hash(original), "idempotent"
    cheap = raw(key, nonce + 1, tip=GWEI * 105 // 100, max_fee=10 * GWEI * 105 // 100)
    error = rpc(w3, "eth_sendRawTransaction", [cheap])["error"]
    assert error["code"] == -32000 and error["message"] == "replacement transaction underpriced"
    only_tip = raw(key, nonce + 1, tip=2 * GWEI, max_fee=10 * GWEI)
    assert (
        rpc(w3, "eth_sendRawTransaction", [only_tip])["error"]["message"]
        == "replacement transaction underpriced"
    )
    bumped = raw(key, nonce + 1, tip=GWEI * 110 // 100, max_fee=10 * GWEI * 110 // 100, value=2)
    assert rpc(w3, "eth_sendRawTransaction", [bumped])["result"] == tx_hash(bumped)

    content = rpc(w3, "txpool_content", [])["result"]
    assert content["queued"][sender][str(nonce + 1)]["hash"] == tx_hash(bumped)
    status = rpc(w3, "txpool_status", [])["result"]
    assert int(status["queued"], 16) >= 1
    assert w3.eth.get_transaction_count(sender, "pending") == nonce, "the gap is not counted"

    assert "result" in rpc(w3, "eth_sendRawTransaction", [raw(key, nonce)])  # fill the gap
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash(bumped), timeout=10, poll_latency=0.005)
    assert receipt["status"] == 1
    assert rpc(w3, "eth_getTransactionReceipt", [tx_hash(original)])["result"] is None
    assert rpc(w3, "eth_getTransactionByHash", [tx_hash(original)])["result"] is None


def test_a_ready_transaction_is_replaced_in_place(daemon_factory: Any) -> None:
    d: Daemon = daemon_factory("--mini-block-ms", "60000", "--evm-block-ms", "60000")
    w3 = Web3(Web3.HTTPProvider(d.url))
    key = DEV_KEYS[5]
    sender = Account.from_key(key).address
    # the first transaction is sealed at once; the next mini-block is a minute away
    assert rpc(w3, "eth_sendRawTransactionSync", [raw(key, 0)])["result"]["status"] == "0x1"
    first = raw(key, 1)
    other = raw(DEV_KEYS[4], 0)
    for r in (first, other):
        assert "result" in rpc(w3, "eth_sendRawTransaction", [r])
    bumped = raw(key, 1, tip=2 * GWEI, max_fee=20 * GWEI)
    assert rpc(w3, "eth_sendRawTransaction", [bumped])["result"] == tx_hash(bumped)
    pending = rpc(w3, "txpool_content", [])["result"]["pending"]
    assert pending[sender]["1"]["hash"] == tx_hash(bumped)
    assert rpc(w3, "txpool_status", [])["result"] == {"pending": "0x2", "queued": "0x0"}
    assert w3.eth.get_transaction_count(sender, "pending") == 2
    inspect = rpc(w3, "txpool_inspect", [])["result"]
    assert "wei" in inspect["pending"][sender]["1"]


def test_an_account_holds_at_most_500_pooled_transactions(daemon_factory: Any) -> None:
    d: Daemon = daemon_factory("--mini-block-ms", "60000", "--evm-block-ms", "60000")
    w3 = Web3(Web3.HTTPProvider(d.url))
    key = DEV_KEYS[3]
    assert rpc(w3, "eth_sendRawTransactionSync", [raw(key, 0)])["result"]  # the next seal is a minute away
    answers = batch(w3, [("eth_sendRawTransaction", [raw(key, n)]) for n in range(1, 502)])
    accepted = [a for a in answers if "result" in a]
    refused = [a for a in answers if "error" in a]
    assert len(accepted) == 500
    assert len(refused) == 1 and "account limit exceeded" in refused[0]["error"]["message"]
    assert w3.eth.get_transaction_count(Account.from_key(key).address, "pending") == 501
