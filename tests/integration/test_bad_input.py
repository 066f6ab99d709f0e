"""Nothing a client sends crashes the node or stalls blocks: every bad input gets its code.

Each case goes to the real daemon; at the end the node still serves and still seals blocks.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
import rlp
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.daemon import Daemon, write_config
from tests.support.rpc import request

CHAIN_ID = 1337
GWEI = 10**9
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@pytest.fixture(scope="module")
def w3(daemon: Daemon) -> Web3:
    return Web3(Web3.HTTPProvider(daemon.url))


def post(daemon: Daemon, body: bytes | str) -> requests.Response:
    return requests.post(daemon.url, data=body, headers={"Content-Type": "application/json"}, timeout=10)


def call(w3: Web3, method: str, params: list[Any]) -> dict[str, Any]:
    response: dict[str, Any] = request(w3, method, params)
    return response


def signed(acct: LocalAccount, **fields: Any) -> HexStr:
    tx: dict[str, Any] = {
        "chainId": CHAIN_ID,
        "nonce": 0,
        "to": Account.create().address,
        "value": 0,
        "gas": 21_000,
        "maxFeePerGas": 10 * GWEI,
        "maxPriorityFeePerGas": 0,
        "type": 2,
        **fields,
    }
    if "gasPrice" in tx:
        tx.pop("maxFeePerGas")
        tx.pop("maxPriorityFeePerGas")
        tx.pop("type")
    return HexStr("0x" + bytes(acct.sign_transaction(tx).raw_transaction).hex())


def rejection(w3: Web3, raw: str) -> dict[str, Any]:
    response = call(w3, "eth_sendRawTransaction", [raw])
    assert "error" in response, response
    error: dict[str, Any] = response["error"]
    return error


# -- JSON-RPC 2.0 protocol errors ------------------------------------------------------------------
def test_malformed_json_is_a_parse_error(daemon: Daemon) -> None:
    body = post(daemon, b'{"jsonrpc": "2.0", "method": ').json()
    assert body["error"]["code"] == -32700 and body["id"] is None


@pytest.mark.parametrize(
    "payload",
    [
        '{"jsonrpc": "1.0", "id": 1, "method": "eth_chainId"}',
        '{"id": 1, "method": "eth_chainId"}',
        '{"jsonrpc": "2.0", "id": 1, "method": 42}',
        '"just a string"',
        "[]",
    ],
)
def test_invalid_requests(daemon: Daemon, payload: str) -> None:
    assert post(daemon, payload).json()["error"]["code"] == -32600


def test_unknown_method(w3: Web3) -> None:
    error = call(w3, "eth_doesNotExist", [])["error"]
    assert error["code"] == -32601 and "eth_doesNotExist" in error["message"]


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("eth_getBalance", ["0x1234", "latest"]),
        ("eth_getBalance", ["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "1"]),
        ("eth_getBalance", ["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "0x" + "0" * 100 + "1"]),
        ("eth_getBalance", ["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "newest"]),
        ("eth_getBalance", []),
        ("eth_getBlockByNumber", ["latest"]),
        ("eth_getBlockByNumber", ["latest", "yes"]),
        ("eth_getTransactionReceipt", ["0xabc"]),
        ("eth_sendRawTransaction", ["not hex"]),
        ("eth_call", ["not an object", "latest"]),
        ("eth_getLogs", [{"topics": ["0x12"]}]),
        ("eth_getLogs", [{"fromBlock": "0x5", "toBlock": "0x1"}]),
        ("eth_feeHistory", ["0x0", "latest", []]),
        ("eth_chainId", {"named": "params"}),
    ],
)
def test_invalid_params(w3: Web3, method: str, params: Any) -> None:
    assert call(w3, method, params)["error"]["code"] == -32602


def test_leading_zeros_in_quantities_are_accepted_as_anvil_and_hardhat_do(w3: Web3) -> None:
    """ethers' toBeHex(1) is 0x01; the answer is canonical."""
    address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert (
        call(w3, "eth_getBalance", [address, "0x00"])["result"]
        == call(w3, "eth_getBalance", [address, "0x0"])["result"]
    )
    block = call(w3, "eth_getBlockByNumber", ["0x0000", False])["result"]
    assert block["number"] == "0x0"
    logs = call(w3, "eth_getLogs", [{"fromBlock": "0x00", "toBlock": "0x01"}])
    assert "result" in logs


def test_log_block_range_is_capped_by_config(daemon_factory: Any, tmp_path: Any) -> None:
    config = write_config(tmp_path / "chain.toml", max_logs_block_range="3")
    d: Daemon = daemon_factory("--evm-block-ms", "50", config=config)
    w3 = Web3(Web3.HTTPProvider(d.url))
    deadline = time.monotonic() + 10
    while w3.eth.block_number < 5:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert call(w3, "eth_getLogs", [{"fromBlock": "0x1", "toBlock": "0x3"}])["result"] == []
    error = call(w3, "eth_getLogs", [{"fromBlock": "0x1", "toBlock": "0x4"}])["error"]
    assert error["code"] == -32602 and "cap of 3 blocks" in error["message"]


def test_batch_with_mixed_results_keeps_ids_and_order(daemon: Daemon) -> None:
    batch = (
        '[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},'
        '{"jsonrpc":"2.0","id":2,"method":"nope"},'
        '{"jsonrpc":"2.0","id":3,"method":"eth_getBalance","params":["0x12"]},'
        '{"jsonrpc":"2.0","method":"eth_chainId"}]'
    )
    answers = post(daemon, batch).json()
    assert [a["id"] for a in answers] == [1, 2, 3], "the notification gets no answer"
    assert answers[0]["result"] == hex(CHAIN_ID)
    assert answers[1]["error"]["code"] == -32601
    assert answers[2]["error"]["code"] == -32602


def test_batch_length_is_capped(daemon: Daemon) -> None:
    items = [f'{{"jsonrpc":"2.0","id":{i},"method":"eth_chainId"}}' for i in range(1001)]
    batch = "[" + ",".join(items) + "]"
    assert post(daemon, batch).json()["error"]["code"] == -32600


def test_request_body_size_is_capped(daemon: Daemon) -> None:
    huge = (
        '{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0x' + "00" * 3_000_000 + '"]}'
    )
    response = post(daemon, huge)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == -32600


# -- transaction rejections, with geth's messages -----------------------------------------------------
def test_transaction_rejections_use_geths_messages(w3: Web3, dev_accounts: list[LocalAccount]) -> None:
    acct = dev_accounts[1]
    nonce = w3.eth.get_transaction_count(acct.address)
    poor = Account.create()
    cases = {
        "nonce too low": signed(acct, nonce=max(nonce - 1, 0)) if nonce else None,
        "insufficient funds for gas * price + value": signed(poor, nonce=0),
        "intrinsic gas too low": signed(acct, nonce=nonce, gas=20_000),
        "exceeds block gas limit": signed(acct, nonce=nonce, gas=1_000_000_001),
        "invalid chain id": signed(acct, nonce=nonce, chainId=1),
        "max priority fee per gas higher than max fee per gas": signed(
            acct, nonce=nonce, maxFeePerGas=GWEI, maxPriorityFeePerGas=2 * GWEI
        ),
        "transaction underpriced": signed(acct, nonce=nonce, maxFeePerGas=1, maxPriorityFeePerGas=0),
        "oversized data": signed(acct, nonce=nonce, gas=10_000_000, data="0x" + "01" * (129 * 1024)),
    }
    if cases["nonce too low"] is None:  # make the nonce move first
        w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed(acct, nonce=0)), timeout=10)
        cases["nonce too low"] = signed(acct, nonce=0)
    for message, raw in cases.items():
        assert raw is not None
        error = rejection(w3, raw)
        assert error["code"] == -32000, (message, error)
        assert message in error["message"], (message, error)


def test_intrinsic_gas_counts_calldata_and_access_lists(w3: Web3, dev_accounts: list[LocalAccount]) -> None:
    acct = dev_accounts[2]
    nonce = w3.eth.get_transaction_count(acct.address, "pending")
    with_data = signed(acct, nonce=nonce, gas=21_000, data="0x" + "ff" * 10)  # needs 21000 + 160
    assert "intrinsic gas too low" in rejection(w3, with_data)["message"]
    access_list = [{"address": "0x" + "11" * 20, "storageKeys": ["0x" + "00" * 32]}]
    with_list = signed(acct, nonce=nonce, gas=21_000, accessList=access_list)  # needs +2400 +1900
    assert "intrinsic gas too low" in rejection(w3, with_list)["message"]
    ok = signed(acct, nonce=nonce, gas=21_000 + 2400 + 1900, accessList=access_list)
    assert w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(ok), timeout=10)["status"] == 1


def test_high_s_signatures_are_refused(w3: Web3, dev_accounts: list[LocalAccount]) -> None:
    acct = dev_accounts[3]
    raw = bytes.fromhex(signed(acct, nonce=w3.eth.get_transaction_count(acct.address, "pending"))[2:])
    fields = rlp.decode(raw[1:])
    y_parity, r, s = fields[-3], fields[-2], fields[-1]
    flipped_s = SECP256K1_N - int.from_bytes(s, "big")
    fields[-3] = b"" if y_parity else b"\x01"
    fields[-1] = flipped_s.to_bytes(32, "big")
    malleated = "0x" + (raw[:1] + rlp.encode(fields)).hex()
    assert r  # same r, other s: the same signer under EIP-2's rule would be a second hash
    error = rejection(w3, malleated)
    assert error["code"] == -32000 and "EIP-2" in error["message"]


def test_unprotected_transactions_are_refused_by_default(w3: Web3, dev_accounts: list[LocalAccount]) -> None:
    acct = dev_accounts[4]
    tx: dict[str, Any] = {
        "nonce": w3.eth.get_transaction_count(acct.address),
        "to": acct.address,
        "value": 0,
        "gas": 21_000,
        "gasPrice": 10 * GWEI,
    }
    raw = "0x" + bytes(acct.sign_transaction(tx).raw_transaction).hex()
    error = rejection(w3, raw)
    assert error["code"] == -32000 and "replay-protected" in error["message"]


def test_unprotected_transactions_are_accepted_when_configured(daemon_factory: Any, tmp_path: Any) -> None:
    config = write_config(tmp_path / "chain.toml", allow_unprotected_txs="true")
    d: Daemon = daemon_factory(config=config)
    w3 = Web3(Web3.HTTPProvider(d.url))
    acct = Account.from_key(DEV_KEYS[5])
    tx = {"nonce": 0, "to": acct.address, "value": 0, "gas": 21_000, "gasPrice": 10 * GWEI}
    tx_hash = w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction)
    assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)["status"] == 1


@pytest.mark.parametrize(
    "raw", ["0x", "0xdeadbeef", "0x03" + "c0", "0x04c0", "0x" + "c0", "0xf8ff" + "00" * 10]
)
def test_undecodable_transactions(w3: Web3, raw: str) -> None:
    error = rejection(w3, raw)
    assert error["code"] == -32000


def test_the_node_still_serves_and_seals_after_all_of_this(
    w3: Web3, dev_accounts: list[LocalAccount]
) -> None:
    start = w3.eth.block_number
    acct = dev_accounts[6]
    tx_hash = w3.eth.send_raw_transaction(
        signed(acct, nonce=w3.eth.get_transaction_count(acct.address, "pending"))
    )
    assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)["status"] == 1
    deadline = time.monotonic() + 5
    while w3.eth.block_number < start + 2:
        assert time.monotonic() < deadline, "blocks stopped"
        time.sleep(0.05)
