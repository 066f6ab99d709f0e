"""The OptimismPortal on a real L1 (anvil): deposits are OP's, as ``sequencer l1 deploy`` deploys them.

A deposit emits ``TransactionDeposited`` in OP's encoding, which the sequencer's decoder
(:func:`sequencer.bridge.deposits.decode_deposit_log`) reads back field for field; a contract
caller's ``from`` is aliased; ETH sent to the portal is a deposit to the sender; the portal keeps
the ETH. Deposits that would be free or unbounded (too little gas, too much gas, oversized
calldata) and a creation that names a target revert with their custom errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from eth_hash.auto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError

from sequencer.bridge.deposits import (
    TRANSACTION_DEPOSITED_TOPIC,
    DepositEvent,
    apply_l1_to_l2_alias,
    decode_deposit_log,
)
from sequencer.settlement.contracts import OPTIMISM_PORTAL, abi
from sequencer.settlement.deploy import MAX_DEPOSIT_GAS, DeployRequest, deploy
from sequencer.settlement.keys import DEV_KEYS, address_of
from sequencer.settlement.settings import Settlement, inbox_address
from tests.support.anvil import Anvil, start_anvil
from tests.support.contracts import load_artifact

USER, OTHER = (Account.from_key(k) for k in DEV_KEYS[5:7])
ETH = 10**18
PERIOD_S = 30


class L1:
    """The deployed contracts and a way to send to them."""

    def __init__(self, anvil: Anvil, settlement: Settlement) -> None:
        self.anvil = anvil
        self.w3 = anvil.w3()
        self.settlement = settlement
        assert settlement.contracts.portal is not None
        self.portal = self.w3.eth.contract(
            address=Web3.to_checksum_address(settlement.contracts.portal), abi=abi(OPTIMISM_PORTAL)
        )
        forwarder = load_artifact("Forwarder")
        receipt = self.send(
            OTHER, self.w3.eth.contract(abi=forwarder["abi"], bytecode=forwarder["bytecode"]).constructor()
        )
        self.forwarder: Contract = self.w3.eth.contract(
            address=receipt["contractAddress"], abi=forwarder["abi"]
        )

    def send(self, account: Any, call: Any, value: int = 0, gas: int = 3_000_000) -> Any:
        tx = call.build_transaction(
            {
                "from": account.address,
                "nonce": self.w3.eth.get_transaction_count(account.address),
                "gas": gas,
                "value": value,
            }
        )
        signed = account.sign_transaction(tx)
        receipt = self.w3.eth.wait_for_transaction_receipt(
            self.w3.eth.send_raw_transaction(signed.raw_transaction)
        )
        assert receipt["status"] == 1
        return receipt

    def deposits(self, receipt: Any) -> list[DepositEvent]:
        """The receipt's portal logs, decoded by the sequencer's decoder."""
        return [
            decode_deposit_log(
                [bytes(t) for t in log["topics"]],
                bytes(log["data"]),
                l1_block_number=int(log["blockNumber"]),
                l1_block_hash=bytes(log["blockHash"]),
                l1_tx_hash=bytes(log["transactionHash"]),
                log_index=int(log["logIndex"]),
            )
            for log in receipt["logs"]
            if log["address"] == self.portal.address
            and bytes(log["topics"][0]) == TRANSACTION_DEPOSITED_TOPIC
        ]

    def custom_error(self, name: str) -> str:
        signature = next(
            f"{e['name']}({','.join(i['type'] for i in e['inputs'])})"
            for e in self.portal.abi
            if e["type"] == "error" and e["name"] == name
        )
        return "0x" + keccak(signature.encode())[:4].hex()

    def reverts_with(self, name: str, call: Any, account: Any, value: int = 0) -> None:
        with pytest.raises(ContractCustomError) as raised:
            call.call({"from": account.address, "value": value})
        assert raised.value.data == self.custom_error(name)


@pytest.fixture(scope="module")
def l1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[L1]:
    node = start_anvil(tmp_path_factory.mktemp("anvil"), block_time=None)
    try:
        settlement = deploy(
            DeployRequest(
                l1_rpc=node.url,
                deployer_key=DEV_KEYS[0],
                l2_chain_id=1337,
                l2_genesis_hash=b"\x01" * 32,
                l2_genesis_timestamp=1_767_225_600,
                batcher=address_of(DEV_KEYS[1]),
                proposer=address_of(DEV_KEYS[2]),
                challenger=address_of(DEV_KEYS[3]),
                challenge_period_s=PERIOD_S,
                output_interval_blocks=4,
                batch_inbox=inbox_address(1337),
            )
        )
        yield L1(node, settlement)
    finally:
        node.stop()


def test_the_deploy_names_the_portal_and_its_limits(l1: L1) -> None:
    p = l1.portal.functions
    assert p.l2Oracle().call() == Web3.to_checksum_address(l1.settlement.contracts.l2_output_oracle)
    assert p.maxGasLimit().call() == MAX_DEPOSIT_GAS == 20_000_000
    assert p.MAX_CALLDATA_SIZE().call() == 120_000
    assert p.minimumGasLimit(0).call() == 21_000 and p.minimumGasLimit(100).call() == 25_000


def test_a_deposit_emits_the_event_the_sequencer_decodes_field_for_field(l1: L1) -> None:
    before = l1.w3.eth.get_balance(l1.portal.address)
    call = l1.portal.functions.depositTransaction(OTHER.address, ETH // 4, 50_000, False, b"\xca\xfe")
    receipt = l1.send(USER, call, value=ETH)
    (event,) = l1.deposits(receipt)
    assert event.sender == bytes.fromhex(USER.address[2:])  # an EOA is not aliased
    assert event.to == bytes.fromhex(OTHER.address[2:])
    assert (event.mint, event.value, event.gas, event.data) == (ETH, ETH // 4, 50_000, b"\xca\xfe")
    assert event.l1_block_number == receipt["blockNumber"]
    assert event.l1_block_hash == bytes(receipt["blockHash"])
    assert event.l1_tx_hash == bytes(receipt["transactionHash"])
    assert l1.w3.eth.get_balance(l1.portal.address) == before + ETH  # the portal keeps the ETH


def test_a_creation_deposit_has_no_target(l1: L1) -> None:
    init_code = bytes.fromhex("600a600c600039600a6000f3602a60005260206000f3")
    call = l1.portal.functions.depositTransaction("0x" + "00" * 20, 0, 200_000, True, init_code)
    (event,) = l1.deposits(l1.send(USER, call))
    assert event.to is None and event.data == init_code and event.mint == 0


def test_a_contract_callers_deposit_comes_from_its_aliased_address(l1: L1) -> None:
    data = l1.portal.encode_abi("depositTransaction", [OTHER.address, 0, 30_000, False, b""])
    receipt = l1.send(USER, l1.forwarder.functions.forward(l1.portal.address, data), value=ETH // 10)
    (event,) = l1.deposits(receipt)
    forwarder = bytes.fromhex(l1.forwarder.address[2:])
    assert event.sender == apply_l1_to_l2_alias(forwarder) != forwarder
    assert event.mint == ETH // 10


def test_ether_sent_to_the_portal_is_a_deposit_to_the_sender(l1: L1) -> None:
    tx = {
        "from": USER.address,
        "to": l1.portal.address,
        "value": ETH // 2,
        "gas": 200_000,
        "nonce": l1.w3.eth.get_transaction_count(USER.address),
        "chainId": l1.w3.eth.chain_id,
        "gasPrice": l1.w3.eth.gas_price,
    }
    receipt = l1.w3.eth.wait_for_transaction_receipt(
        l1.w3.eth.send_raw_transaction(USER.sign_transaction(tx).raw_transaction)
    )
    (event,) = l1.deposits(receipt)
    user = bytes.fromhex(USER.address[2:])
    assert (event.sender, event.to, event.gas) == (user, user, 100_000)
    assert (event.mint, event.value) == (ETH // 2, ETH // 2)


def test_deposits_that_break_the_rules_revert_with_their_custom_errors(l1: L1) -> None:
    d = l1.portal.functions.depositTransaction
    zero = "0x" + "00" * 20
    l1.reverts_with("SmallGasLimit", d(OTHER.address, 0, 20_999, False, b""), USER)
    l1.reverts_with("SmallGasLimit", d(OTHER.address, 0, 21_000 + 40 * 9, False, b"\x01" * 10), USER)
    l1.reverts_with("LargeGasLimit", d(OTHER.address, 0, MAX_DEPOSIT_GAS + 1, False, b""), USER)
    l1.reverts_with("LargeCalldata", d(OTHER.address, 0, MAX_DEPOSIT_GAS, False, b"\x01" * 120_001), USER)
    l1.reverts_with("BadTarget", d(OTHER.address, 0, 100_000, True, b"\x00"), USER)
    d(zero, 0, 21_000 + 40 * 120_000, False, b"\x01" * 120_000).call({"from": USER.address})  # the limits
