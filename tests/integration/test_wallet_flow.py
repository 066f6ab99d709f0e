"""A wallet's view of the node: web3.py and eth-account against the real daemon over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.middleware import SignAndSendRawMiddlewareBuilder
from web3.types import Wei

from tests.support.contracts import load_artifact
from tests.support.daemon import Daemon
from tests.support.rpc import request

CHAIN_ID = 1337
GWEI = 10**9


@pytest.fixture(scope="module")
def w3(daemon: Daemon) -> Web3:
    return Web3(Web3.HTTPProvider(daemon.url, request_kwargs={"timeout": 10}))


def send_signed(w3: Web3, account: LocalAccount, tx: dict[str, Any]) -> Any:
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10, poll_latency=0.005)


def test_node_identifies_its_chain(w3: Web3) -> None:
    assert w3.eth.chain_id == CHAIN_ID
    assert w3.net.version == str(CHAIN_ID)
    assert w3.client_version.startswith("anvil-compatible/megapy/v")  # a devnet: hardhat's helpers need it
    number = w3.eth.block_number
    block = w3.eth.get_block(number)  # the number names a block the node serves
    assert block["number"] == number and len(block["hash"]) == 32


def test_dev_accounts_are_prefunded(w3: Web3, dev_accounts: list[LocalAccount]) -> None:
    for acct in dev_accounts:
        assert w3.eth.get_balance(acct.address) > 0
    assert dev_accounts[0].address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


@pytest.mark.parametrize(
    "kind",
    ["eip1559", "eip2930", "legacy"],
)
def test_transfer_changes_balances_by_exactly_value_plus_fee(
    w3: Web3, dev_accounts: list[LocalAccount], kind: str
) -> None:
    sender = dev_accounts[{"eip1559": 1, "eip2930": 2, "legacy": 3}[kind]]
    recipient = Account.create().address
    value = 123_456_789
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    tx: dict[str, Any] = {
        "chainId": CHAIN_ID,
        "nonce": w3.eth.get_transaction_count(sender.address, "pending"),
        "to": recipient,
        "value": value,
        "gas": 21_000,
    }
    if kind == "eip1559":
        tx.update(type=2, maxFeePerGas=2 * base_fee + GWEI, maxPriorityFeePerGas=GWEI // 10)
    elif kind == "eip2930":
        tx.update(type=1, gasPrice=2 * base_fee, accessList=[], gas=21_000)
    else:
        tx.update(gasPrice=2 * base_fee)
    before = w3.eth.get_balance(sender.address)

    receipt = send_signed(w3, sender, tx)

    assert receipt["status"] == 1
    assert receipt["gasUsed"] == 21_000
    assert receipt["type"] == {"eip1559": 2, "eip2930": 1, "legacy": 0}[kind]
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert w3.eth.get_balance(sender.address) == before - value - fee
    assert w3.eth.get_balance(recipient) == value
    tx_view = w3.eth.get_transaction(receipt["transactionHash"])
    assert tx_view["from"] == sender.address
    assert tx_view["value"] == value
    assert tx_view["blockNumber"] == receipt["blockNumber"]


def test_web3_fills_nonce_gas_and_fees_itself(w3: Web3, dev_accounts: list[LocalAccount]) -> None:
    sender = dev_accounts[4]
    local = Web3(w3.provider)
    local.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(sender), layer=0)
    recipient = Account.create().address

    tx_hash = local.eth.send_transaction({"from": sender.address, "to": recipient, "value": Wei(7)})
    receipt = local.eth.wait_for_transaction_receipt(tx_hash, timeout=10, poll_latency=0.005)

    assert receipt["status"] == 1
    assert local.eth.get_balance(recipient) == 7


def test_deploy_call_and_events(w3: Web3, dev_accounts: list[LocalAccount]) -> None:
    deployer = dev_accounts[5]
    local = Web3(w3.provider)
    local.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(deployer), layer=0)
    local.eth.default_account = deployer.address
    art = load_artifact("SimpleStorage")
    factory = local.eth.contract(abi=art["abi"], bytecode=art["bytecode"])

    deploy_receipt = local.eth.wait_for_transaction_receipt(
        factory.constructor().transact(), timeout=10, poll_latency=0.005
    )
    address = deploy_receipt["contractAddress"]
    assert address is not None and deploy_receipt["status"] == 1
    assert local.eth.get_code(address) == bytes.fromhex(art["deployedBytecode"][2:])

    contract = local.eth.contract(address=address, abi=art["abi"])
    set_receipt = local.eth.wait_for_transaction_receipt(
        contract.functions.set(42).transact(), timeout=10, poll_latency=0.005
    )
    assert contract.functions.value().call() == 42
    assert local.eth.get_storage_at(address, 0) == (42).to_bytes(32, "big")

    (event,) = contract.events.ValueChanged().process_receipt(set_receipt)
    assert event["args"]["oldValue"] == 0 and event["args"]["newValue"] == 42

    # the same log through eth_getLogs, once its EVM block is sealed
    block_number = set_receipt["blockNumber"]
    _wait_for_block(local, block_number)
    logs = local.eth.get_logs({"fromBlock": block_number, "toBlock": block_number, "address": address})
    assert len(logs) == 1
    assert logs[0]["transactionHash"] == set_receipt["transactionHash"]
    assert logs[0]["blockHash"] == local.eth.get_block(block_number)["hash"]
    decoded = contract.events.ValueChanged().process_log(logs[0])
    assert decoded["args"]["newValue"] == 42


def test_reverted_transaction_is_included_with_status_zero(
    w3: Web3, dev_accounts: list[LocalAccount]
) -> None:
    sender = dev_accounts[6]
    art = load_artifact("Reverter")
    deploy = send_signed(
        w3,
        sender,
        {
            "chainId": CHAIN_ID,
            "nonce": w3.eth.get_transaction_count(sender.address, "pending"),
            "data": art["bytecode"],
            "gas": 1_000_000,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": 0,
            "type": 2,
        },
    )
    contract = w3.eth.contract(address=deploy["contractAddress"], abi=art["abi"])
    data = contract.encode_abi("failRequire", [])
    before = w3.eth.get_balance(sender.address)

    receipt = send_signed(
        w3,
        sender,
        {
            "chainId": CHAIN_ID,
            "nonce": w3.eth.get_transaction_count(sender.address, "pending"),
            "to": contract.address,
            "data": data,
            "gas": 100_000,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": 0,
            "type": 2,
        },
    )

    assert receipt["status"] == 0
    assert 21_000 < receipt["gasUsed"] < 100_000
    assert w3.eth.get_balance(sender.address) == before - receipt["gasUsed"] * receipt["effectiveGasPrice"]


def test_estimate_gas_and_call(w3: Web3, dev_accounts: list[LocalAccount]) -> None:
    sender = dev_accounts[7]
    assert (
        w3.eth.estimate_gas({"from": sender.address, "to": Account.create().address, "value": Wei(1)})
        == 21_000
    )
    art = load_artifact("TestToken")
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    data = factory.constructor(10**24).data_in_transaction
    estimate = w3.eth.estimate_gas({"from": sender.address, "data": data})
    receipt = send_signed(
        w3,
        sender,
        {
            "chainId": CHAIN_ID,
            "nonce": w3.eth.get_transaction_count(sender.address, "pending"),
            "data": data,
            "gas": estimate,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": 0,
            "type": 2,
        },
    )
    assert receipt["status"] == 1, "the estimate must be enough gas"
    token = w3.eth.contract(address=receipt["contractAddress"], abi=art["abi"])
    assert token.functions.balanceOf(sender.address).call() == 10**24
    assert token.functions.symbol().call() == "TST"


def test_fee_methods(w3: Web3) -> None:
    _wait_for_block(w3, 4)
    newest = w3.eth.block_number
    history = w3.eth.fee_history(4, newest, [10, 90])
    blocks = [w3.eth.get_block(n) for n in range(newest - 3, newest + 1)]

    assert history["oldestBlock"] == newest - 3
    assert history["baseFeePerGas"][:-1] == [b["baseFeePerGas"] for b in blocks]
    assert history["gasUsedRatio"] == [b["gasUsed"] / b["gasLimit"] for b in blocks]
    assert len(history["reward"]) == 4 and all(len(r) == 2 for r in history["reward"])
    # the extra entry is the next block's base fee; eth_gasPrice suggests at least that much
    assert w3.eth.gas_price >= history["baseFeePerGas"][-1] or w3.eth.block_number > newest
    assert w3.eth.max_priority_fee == 0, "first-come-first-served: a tip buys no priority"


def test_receipt_fields_match_the_sealed_block(w3: Web3, dev_accounts: list[LocalAccount]) -> None:
    sender = dev_accounts[8]
    receipt = send_signed(
        w3,
        sender,
        {
            "chainId": CHAIN_ID,
            "nonce": w3.eth.get_transaction_count(sender.address, "pending"),
            "to": Account.create().address,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": 0,
            "type": 2,
        },
    )
    _wait_for_block(w3, receipt["blockNumber"])
    block = w3.eth.get_block(receipt["blockNumber"], full_transactions=True)
    later = w3.eth.get_transaction_receipt(receipt["transactionHash"])

    for key in (
        "blockNumber",
        "transactionIndex",
        "cumulativeGasUsed",
        "gasUsed",
        "status",
        "effectiveGasPrice",
        "logs",
        "from",
        "to",
        "contractAddress",
        "logsBloom",
        "type",
    ):
        assert later[key] == receipt[key], key
    assert later["blockHash"] == block["hash"]
    tx_in_block = block["transactions"][receipt["transactionIndex"]]
    assert tx_in_block["hash"] == receipt["transactionHash"]
    assert tx_in_block["blockHash"] == block["hash"]


def test_unknown_things_are_null(w3: Web3) -> None:
    unknown = "0x" + "ab" * 32
    assert request(w3, "eth_getTransactionReceipt", [unknown])["result"] is None
    assert request(w3, "eth_getTransactionByHash", [unknown])["result"] is None
    assert request(w3, "eth_getBlockByHash", [unknown, False])["result"] is None
    assert request(w3, "eth_getBlockByNumber", ["0xffffff", False])["result"] is None


def _wait_for_block(w3: Web3, number: int, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while w3.eth.block_number < number:
        assert time.monotonic() < deadline, f"block {number} not sealed in {timeout}s"
        time.sleep(0.02)
