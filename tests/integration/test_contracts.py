"""An ERC-20 and a contract with custom errors, compiled with solc (tests/fixtures/contracts,
sources in contracts/src): deploy, transfer, events, revert data decoded by web3.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3, Web3
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError
from web3.middleware import SignAndSendRawMiddlewareBuilder
from web3.providers.persistent import WebSocketProvider

from tests.support.contracts import load_artifact
from tests.support.daemon import Daemon
from tests.support.rpc import request

SUPPLY = 10**24


def wallet(daemon: Daemon, acct: LocalAccount) -> Web3:
    w3 = Web3(Web3.HTTPProvider(daemon.url))
    w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(acct), layer=0)
    w3.eth.default_account = acct.address
    return w3


def deploy(w3: Web3, name: str, *args: Any) -> Any:
    art = load_artifact(name)
    tx_hash = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"]).constructor(*args).transact()
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10, poll_latency=0.005)
    assert receipt["status"] == 1
    return w3.eth.contract(address=receipt["contractAddress"], abi=art["abi"])


def wait_sealed(w3: Web3, number: int) -> None:
    import time

    deadline = time.monotonic() + 10
    while w3.eth.block_number < number:
        assert time.monotonic() < deadline
        time.sleep(0.02)


@pytest.fixture(scope="module")
def token(daemon: Daemon, dev_accounts: list[LocalAccount]) -> Any:
    return deploy(wallet(daemon, dev_accounts[0]), "TestToken", SUPPLY)


def test_erc20_transfer_moves_balances_and_emits_transfer(
    daemon: Daemon, dev_accounts: list[LocalAccount], token: Any
) -> None:
    w3 = wallet(daemon, dev_accounts[0])
    alice, bob = dev_accounts[0].address, dev_accounts[1].address
    token = w3.eth.contract(address=token.address, abi=token.abi)
    assert token.functions.totalSupply().call() == SUPPLY
    wait_sealed(w3, w3.eth.block_number + 1)  # the deployment is in a sealed block before the transfer's
    before = token.functions.balanceOf(bob).call()

    receipt = w3.eth.wait_for_transaction_receipt(
        token.functions.transfer(bob, 1234).transact(), timeout=10, poll_latency=0.005
    )

    assert token.functions.balanceOf(bob).call() == before + 1234
    (event,) = token.events.Transfer().process_receipt(receipt)
    assert (event["args"]["from"], event["args"]["to"], event["args"]["value"]) == (alice, bob, 1234)
    # the same event through eth_getLogs with a topic filter on the indexed recipient
    wait_sealed(w3, receipt["blockNumber"])
    logs = token.events.Transfer().get_logs(
        from_block=receipt["blockNumber"], to_block=receipt["blockNumber"], argument_filters={"to": bob}
    )
    assert [log["transactionHash"] for log in logs] == [receipt["transactionHash"]]
    # state at the block before the transfer is still readable (eth_call at a block number)
    assert token.functions.balanceOf(bob).call(block_identifier=receipt["blockNumber"] - 1) == before


def test_custom_errors_are_returned_as_revert_data_web3_decodes(
    daemon: Daemon, dev_accounts: list[LocalAccount], token: Any
) -> None:
    w3 = wallet(daemon, dev_accounts[2])
    reverter = deploy(w3, "Reverter")
    caller = dev_accounts[2].address

    with pytest.raises(ContractCustomError) as custom:
        reverter.functions.failCustom(7).call({"from": caller})
    selector = Web3.keccak(text="Unauthorized(address,uint256)")[:4]
    data = bytes.fromhex(str(custom.value.data)[2:])
    assert data[:4] == selector
    assert w3.codec.decode(["address", "uint256"], data[4:]) == (caller.lower(), 7)

    with pytest.raises(ContractLogicError, match="nope"):
        reverter.functions.failRequire().call()
    with pytest.raises(ContractPanicError):
        reverter.functions.failPanic().call()
    # estimateGas reverts the same way, with the data
    with pytest.raises(ContractCustomError):
        reverter.functions.failCustom(7).estimate_gas({"from": caller})

    # an ERC-20 transfer beyond the balance reverts with InsufficientBalance(account, balance, needed)
    poor = w3.eth.contract(address=token.address, abi=token.abi)
    with pytest.raises(ContractCustomError) as insufficient:
        poor.functions.transfer(dev_accounts[3].address, 1).call({"from": caller})
    payload = bytes.fromhex(str(insufficient.value.data)[2:])
    assert payload[:4] == Web3.keccak(text="InsufficientBalance(address,uint256,uint256)")[:4]
    assert w3.codec.decode(["address", "uint256", "uint256"], payload[4:]) == (caller.lower(), 0, 1)


def test_raw_revert_error_shape_is_code_3_with_data(daemon: Daemon, dev_accounts: list[LocalAccount]) -> None:
    w3 = wallet(daemon, dev_accounts[4])
    reverter = deploy(w3, "Reverter")
    data = reverter.encode_abi("failCustom", [9])
    response = request(w3, "eth_call", [{"to": reverter.address, "data": data}, "latest"])
    error = response["error"]
    assert error["code"] == 3
    assert error["message"] == "execution reverted"
    assert error["data"].startswith("0x" + Web3.keccak(text="Unauthorized(address,uint256)")[:4].hex())
    response = request(
        w3, "eth_call", [{"to": reverter.address, "data": reverter.encode_abi("failRequire", [])}]
    )
    assert response["error"]["message"] == "execution reverted: nope"


@pytest.mark.asyncio
async def test_transfer_events_arrive_on_a_logs_subscription(
    daemon: Daemon, dev_accounts: list[LocalAccount], token: Any
) -> None:
    w3 = wallet(daemon, dev_accounts[0])
    contract = w3.eth.contract(address=token.address, abi=token.abi)
    bob = dev_accounts[5].address
    transfer_topic = Web3.keccak(text="Transfer(address,address,uint256)")
    async with AsyncWeb3(WebSocketProvider(daemon.url.replace("http://", "ws://"))) as aw3:
        sub = await aw3.eth.subscribe("logs", {"address": token.address, "topics": [transfer_topic]})
        tx_hash = contract.functions.transfer(bob, 55).transact()

        async def first() -> Any:
            async for message in aw3.socket.process_subscriptions():
                if message["subscription"] == sub:
                    return message["result"]
            return None

        log = await asyncio.wait_for(first(), 10)
    assert log["transactionHash"] == tx_hash
    decoded = contract.events.Transfer().process_log(log)
    assert decoded["args"]["to"] == bob and decoded["args"]["value"] == 55


def test_transfer_events_through_polling_filters(
    daemon: Daemon, dev_accounts: list[LocalAccount], token: Any
) -> None:
    w3 = wallet(daemon, dev_accounts[0])
    contract = w3.eth.contract(address=token.address, abi=token.abi)
    carol = dev_accounts[6].address
    event_filter = contract.events.Transfer().create_filter(
        from_block="latest", argument_filters={"to": carol}
    )
    block_filter = w3.eth.filter("latest")
    pending_filter = w3.eth.filter("pending")
    assert block_filter.filter_id is not None and pending_filter.filter_id is not None

    tx_hash = contract.functions.transfer(carol, 77).transact()
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10, poll_latency=0.005)
    assert tx_hash in w3.eth.get_filter_changes(pending_filter.filter_id)
    wait_sealed(w3, receipt["blockNumber"])

    entries = event_filter.get_new_entries()
    assert [(e["args"]["to"], e["args"]["value"]) for e in entries] == [(carol, 77)]
    assert entries[0]["blockHash"] == w3.eth.get_block(receipt["blockNumber"])["hash"]
    assert event_filter.get_new_entries() == [], "each log is delivered once"
    assert [e["transactionHash"] for e in event_filter.get_all_entries()] == [tx_hash]
    new_blocks: list[Any] = list(w3.eth.get_filter_changes(block_filter.filter_id))
    assert w3.eth.get_block(receipt["blockNumber"])["hash"] in new_blocks

    assert w3.eth.uninstall_filter(block_filter.filter_id) is True
    assert w3.eth.uninstall_filter(block_filter.filter_id) is False
    gone = request(w3, "eth_getFilterChanges", [block_filter.filter_id])
    assert gone["error"] == {"code": -32000, "message": "filter not found"}
