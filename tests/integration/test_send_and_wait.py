"""Send-and-wait: eth_sendRawTransactionSync (EIP-7966) and realtime_sendRawTransaction."""

from __future__ import annotations

import time
from typing import Any

from eth_account import Account
from eth_hash.auto import keccak
from eth_typing import HexStr
from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.daemon import Daemon
from tests.support.rpc import request

CHAIN_ID = 1337
GWEI = 10**9


def raw_transfer(key: str, nonce: int, to: str, value: int = 1, **extra: Any) -> str:
    tx = {
        "chainId": CHAIN_ID,
        "nonce": nonce,
        "to": to,
        "value": value,
        "gas": 21_000,
        "maxFeePerGas": 10 * GWEI,
        "maxPriorityFeePerGas": 0,
        "type": 2,
        **extra,
    }
    return "0x" + bytes(Account.from_key(key).sign_transaction(tx).raw_transaction).hex()


def rpc(w3: Web3, method: str, params: list[Any]) -> dict[str, Any]:
    response: dict[str, Any] = request(w3, method, params)
    return response


def test_sync_send_returns_the_full_receipt(daemon: Daemon) -> None:
    w3 = Web3(Web3.HTTPProvider(daemon.url))
    key = DEV_KEYS[0]
    sender = Account.from_key(key).address
    nonce = w3.eth.get_transaction_count(sender, "pending")
    for i, (method, timeout) in enumerate(
        [
            ("eth_sendRawTransactionSync", None),
            ("eth_sendRawTransactionSync", 5000),
            ("eth_sendRawTransactionSync", "0x1388"),
            ("realtime_sendRawTransaction", None),
        ]
    ):
        raw = raw_transfer(key, nonce + i, Account.create().address)
        params: list[Any] = [raw] if timeout is None else [raw, timeout]
        started = time.perf_counter()
        receipt = rpc(w3, method, params)["result"]
        elapsed_ms = (time.perf_counter() - started) * 1000
        assert receipt["transactionHash"] == "0x" + keccak(bytes.fromhex(raw[2:])).hex()
        assert receipt["status"] == "0x1" and receipt["gasUsed"] == hex(21_000)
        assert elapsed_ms < 1000, "answered at mini-block speed, not EVM-block speed"
        # identical to what eth_getTransactionReceipt serves
        assert rpc(w3, "eth_getTransactionReceipt", [receipt["transactionHash"]])["result"] == receipt


def test_a_transaction_waiting_for_a_missing_nonce_answers_code_5(daemon: Daemon) -> None:
    w3 = Web3(Web3.HTTPProvider(daemon.url))
    key = DEV_KEYS[1]
    nonce = w3.eth.get_transaction_count(Account.from_key(key).address, "pending")
    raw = raw_transfer(key, nonce + 3, Account.create().address)
    error = rpc(w3, "eth_sendRawTransactionSync", [raw])["error"]
    assert error["code"] == 5
    assert error["data"] == "0x" + keccak(bytes.fromhex(raw[2:])).hex()
    assert "missing nonce" in error["message"]


def test_an_overdraft_of_pooled_transactions_fails_at_once(daemon_factory: Any) -> None:
    # slow mini-blocks, so the first transaction is still pooled when the second arrives
    d: Daemon = daemon_factory("--mini-block-ms", "400")
    w3 = Web3(Web3.HTTPProvider(d.url))
    poor = Account.create()
    funder = DEV_KEYS[2]
    fee = 21_000 * 10 * GWEI
    fund = raw_transfer(funder, 0, poor.address, value=2 * fee + 10)
    assert rpc(w3, "eth_sendRawTransactionSync", [fund])["result"]["status"] == "0x1"
    # each is affordable alone; together they cost more than the balance (geth's overdraft rule).
    # A transaction dropped at execution answers code 5: tests/adversarial/test_execution_budget.py
    first = raw_transfer(poor.key.hex(), 0, Account.create().address, value=fee)
    second = raw_transfer(poor.key.hex(), 1, Account.create().address, value=fee)
    assert "result" in rpc(w3, "eth_sendRawTransaction", [first])
    error = rpc(w3, "eth_sendRawTransactionSync", [second])["error"]
    assert error["code"] == -32000
    assert error["message"].startswith("transaction would cause overdraft")


def test_an_invalid_transaction_fails_at_once_with_the_standard_error(daemon: Daemon) -> None:
    w3 = Web3(Web3.HTTPProvider(daemon.url))
    key = DEV_KEYS[3]
    nonce = w3.eth.get_transaction_count(Account.from_key(key).address)
    raw = raw_transfer(key, nonce, Account.create().address, chainId=1)
    error = rpc(w3, "eth_sendRawTransactionSync", [raw])["error"]
    assert error["code"] == -32000 and "chain id" in error["message"]
    assert rpc(w3, "eth_sendRawTransactionSync", ["0xzz"])["error"]["code"] == -32602


def test_timeout_answers_code_4_and_the_transaction_still_lands(daemon_factory: Any) -> None:
    d: Daemon = daemon_factory("--mini-block-ms", "1000", "--evm-block-ms", "2000")
    w3 = Web3(Web3.HTTPProvider(d.url))
    key = DEV_KEYS[4]
    sender = Account.from_key(key).address
    nonce = w3.eth.get_transaction_count(sender)
    # the first transaction is sealed at once; the next mini-block is due a second later
    assert rpc(w3, "eth_sendRawTransactionSync", [raw_transfer(key, nonce, sender)])["result"]
    raw = raw_transfer(key, nonce + 1, sender)
    error = rpc(w3, "eth_sendRawTransactionSync", [raw, 50])["error"]
    tx_hash = HexStr("0x" + keccak(bytes.fromhex(raw[2:])).hex())
    assert error["code"] == 4 and error["data"] == tx_hash
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=5, poll_latency=0.01)
    assert receipt["status"] == 1
