"""web3.py against the real daemon, with its defaults, as a Python dApp or script uses it.

Specified: a transaction with web3's default fee strategy (EIP-1559: priority fee from
``eth_maxPriorityFeePerGas`` plus twice the latest base fee) and one priced by the RPC gas-price
strategy (legacy) are included; a fresh receipt's ``get_block(receipt.blockNumber)`` is that
block, listing the transaction; ``get_block("pending")`` is the open block (no hash); a
contract's events are found up to ``"pending"`` at once and up to ``"latest"`` once sealed;
``estimate_gas`` counts an access list, and the transaction sent with exactly that estimate
succeeds; ``create_access_list`` names the slot a call touches; ``eth_call`` honours a state
override (storage, code, balance); a custom error arrives as ``ContractCustomError`` with its data.
"""

from __future__ import annotations

import time
from typing import Any, cast

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError
from web3.gas_strategies.rpc import rpc_gas_price_strategy
from web3.middleware import SignAndSendRawMiddlewareBuilder
from web3.types import AccessList, TxData, TxParams, TxReceipt, Wei

from tests.support.accounts import DEV_KEYS
from tests.support.contracts import load_artifact
from tests.support.daemon import Daemon

SEAL_TIMEOUT_S = 10.0
ZERO_SLOT = "0x" + "00" * 32
OWNER = Account.from_key(DEV_KEYS[0]).address


def signing_w3(url: str, account: LocalAccount) -> Web3:
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 10}))
    w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(account), layer=0)
    w3.eth.default_account = account.address
    return w3


@pytest.fixture(scope="module")
def w3(daemon_1s: Daemon) -> Web3:
    return signing_w3(daemon_1s.url, Account.from_key(DEV_KEYS[0]))  # OWNER


def wait(w3: Web3, tx_hash: HexBytes) -> TxReceipt:
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10, poll_latency=0.01)


def until_sealed(w3: Web3, number: int) -> None:
    deadline = time.monotonic() + SEAL_TIMEOUT_S
    while w3.eth.block_number < number:
        assert time.monotonic() < deadline, f"block {number} not sealed within {SEAL_TIMEOUT_S}s"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def storage(w3: Web3) -> Contract:
    artifact = load_artifact("SimpleStorage")
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = wait(w3, factory.constructor().transact())
    assert receipt["status"] == 1 and receipt["contractAddress"] is not None
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


def test_default_fee_strategy_transaction_is_included(daemon_1s: Daemon) -> None:
    w3 = signing_w3(daemon_1s.url, Account.from_key(DEV_KEYS[1]))
    recipient = Account.create().address
    tx_hash = w3.eth.send_transaction({"to": recipient, "value": Wei(1234)})  # web3 fills the rest
    receipt = wait(w3, tx_hash)
    tx = w3.eth.get_transaction(tx_hash)
    assert receipt["status"] == 1 and tx["type"] == 2
    assert tx["maxFeePerGas"] >= w3.eth.get_block(receipt["blockNumber"])["baseFeePerGas"]
    assert w3.eth.get_balance(recipient) == 1234


def test_rpc_gas_price_strategy_legacy_transaction_is_included(daemon_1s: Daemon) -> None:
    w3 = signing_w3(daemon_1s.url, Account.from_key(DEV_KEYS[2]))
    w3.eth.set_gas_price_strategy(rpc_gas_price_strategy)
    recipient = Account.create().address
    tx_hash = w3.eth.send_transaction({"to": recipient, "value": Wei(5)})
    receipt = wait(w3, tx_hash)
    tx = w3.eth.get_transaction(tx_hash)
    assert receipt["status"] == 1 and tx["type"] == 0
    assert tx["gasPrice"] >= w3.eth.get_block("pending")["baseFeePerGas"]


def test_a_fresh_receipts_block_number_names_a_block(w3: Web3) -> None:
    tx_hash = w3.eth.send_transaction({"to": Account.create().address, "value": Wei(1)})
    receipt = wait(w3, tx_hash)
    block = w3.eth.get_block(receipt["blockNumber"])
    assert block is not None and block["number"] == receipt["blockNumber"]
    assert tx_hash in block["transactions"]
    full = w3.eth.get_block(receipt["blockNumber"], full_transactions=True)
    hashes = [cast(TxData, t)["hash"] for t in full["transactions"]]
    assert hashes.count(tx_hash) == 1


def test_get_block_pending_is_the_open_block(w3: Web3) -> None:
    tx_hash = w3.eth.send_transaction({"to": Account.create().address, "value": Wei(1)})
    receipt = wait(w3, tx_hash)
    before = w3.eth.block_number
    pending = w3.eth.get_block("pending")
    after = w3.eth.block_number
    assert before + 1 <= pending["number"] <= after + 1
    assert pending["hash"] is None
    if pending["number"] == receipt["blockNumber"]:  # not sealed in between
        assert tx_hash in pending["transactions"]
    latest = w3.eth.get_block("latest")
    assert latest["hash"] is not None and latest["number"] >= pending["number"] - 1


def test_events_up_to_pending_at_once_and_up_to_latest_once_sealed(w3: Web3, storage: Contract) -> None:
    receipt = wait(w3, storage.functions.set(7).transact())
    number = receipt["blockNumber"]
    events = storage.events.ValueChanged.get_logs(from_block=number, to_block="pending")
    mine = [e for e in events if e["transactionHash"] == receipt["transactionHash"]]
    assert [e["args"]["newValue"] for e in mine] == [7] and events[-1] == mine[0]  # the newest event
    assert storage.functions.value().call() == 7
    until_sealed(w3, number)
    logs = w3.eth.get_logs({"fromBlock": number, "toBlock": "latest", "address": storage.address})
    logs = [log for log in logs if log["transactionHash"] == receipt["transactionHash"]]
    assert len(logs) == 1
    assert logs[0]["blockHash"] == w3.eth.get_block(number)["hash"]


def test_estimate_counts_the_access_list_and_the_estimate_is_enough(w3: Web3) -> None:
    recipient = Account.create().address
    access_list = [{"address": Account.create().address, "storageKeys": [ZERO_SLOT]}]
    tx: TxParams = {
        "from": OWNER,
        "to": recipient,
        "value": Wei(1),
        "accessList": cast(AccessList, access_list),
    }
    estimate = w3.eth.estimate_gas(tx)
    assert estimate == 21_000 + 2_400 + 1_900
    receipt = wait(w3, w3.eth.send_transaction({**tx, "gas": estimate}))
    assert receipt["status"] == 1 and receipt["gasUsed"] == estimate


def test_create_access_list_names_the_slot_a_call_writes(w3: Web3, storage: Contract) -> None:
    tx = storage.functions.set(8).build_transaction({"from": OWNER})
    created = w3.eth.create_access_list({"from": tx["from"], "to": tx["to"], "data": tx["data"]})
    assert [(e["address"], [HexBytes(k) for k in e["storageKeys"]]) for e in created["accessList"]] == [
        (storage.address, [HexBytes(ZERO_SLOT)])
    ]
    receipt = wait(w3, storage.functions.set(8).transact({"accessList": created["accessList"]}))
    assert receipt["status"] == 1 and receipt["gasUsed"] <= created["gasUsed"]


def test_call_honours_a_state_override(w3: Web3, storage: Contract) -> None:
    stored = storage.functions.value().call()
    overridden = storage.functions.value().call(
        state_override={storage.address: {"stateDiff": {HexStr(ZERO_SLOT): HexStr("0x" + "00" * 31 + "63")}}}
    )
    assert overridden == 99 and storage.functions.value().call() == stored  # nothing changed for real
    reverter = load_artifact("Reverter")
    nowhere = Account.create().address
    code: dict[str, Any] = {nowhere: {"code": reverter["deployedBytecode"]}}
    ok = w3.eth.contract(address=nowhere, abi=reverter["abi"]).functions.ok().call(state_override=code)
    assert ok == 42
    poor = Account.create().address
    balance = w3.eth.call(
        {"from": poor, "to": Account.create().address, "value": Wei(10**18)},
        "latest",
        {poor: {"balance": Wei(2 * 10**18)}},
    )
    assert balance == b""  # a transfer the override funds: no "insufficient funds"


def test_a_custom_error_is_a_contract_custom_error_with_its_data(w3: Web3) -> None:
    artifact = load_artifact("Reverter")
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    address = wait(w3, factory.constructor().transact())["contractAddress"]
    assert address is not None
    reverter = w3.eth.contract(address=address, abi=artifact["abi"])
    with pytest.raises(ContractCustomError) as raised:
        reverter.functions.failCustom(7).call()
    data = raised.value.data
    assert isinstance(data, str) and data.startswith("0xda472023") and data.endswith("07")
