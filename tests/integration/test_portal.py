"""The OptimismPortal on a real L1 (anvil): deposits and withdrawals are OP's, as ``sequencer l1
deploy`` deploys them.

A deposit emits ``TransactionDeposited`` in OP's encoding, which the sequencer's decoder
(:func:`sequencer.bridge.deposits.decode_deposit_log`) reads back field for field; a contract
caller's ``from`` is aliased; ETH sent to the portal is a deposit to the sender; the portal keeps
the ETH. Deposits that would be free or unbounded (too little gas, too much gas, oversized
calldata) and a creation that names a target revert with their custom errors.

A withdrawal (here over a message passer storage built with the project's trie, and output roots
posted on the oracle) is proven against a posted output with its output root's preimage and the
Merkle-Patricia proof of its ``sentMessages`` slot, then finalized once the challenge period has
passed since the proof: its target is called with its value and data, once. A missing output, a
wrong preimage, a withdrawal never sent, a proof of another one, a second proof, an early or a
second finalize each revert with their custom error; a proof against an output the challenger
deleted since cannot be finalized (nor can one against the same output deleted and posted again),
and is redone against the output posted again, with a new challenge period.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from eth_hash.auto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD

from sequencer import fastrlp
from sequencer.bridge.deposits import (
    TRANSACTION_DEPOSITED_TOPIC,
    DepositEvent,
    apply_l1_to_l2_alias,
    decode_deposit_log,
)
from sequencer.bridge.withdrawals import (
    WithdrawalTx,
    hash_output_root_proof,
    sent_message_slot,
    versioned_nonce,
)
from sequencer.cli.bridge_withdrawals import Bridge
from sequencer.settlement.contracts import L2_OUTPUT_ORACLE, OPTIMISM_PORTAL, abi
from sequencer.settlement.deploy import MAX_DEPOSIT_GAS, DeployRequest, deploy
from sequencer.settlement.keys import DEV_KEYS, address_of
from sequencer.settlement.settings import Settlement, inbox_address
from sequencer.trie.mpt import MerklePatriciaTrie
from tests.support.anvil import Anvil, start_anvil
from tests.support.contracts import load_artifact

USER, OTHER = (Account.from_key(k) for k in DEV_KEYS[5:7])
PROPOSER, CHALLENGER = Account.from_key(DEV_KEYS[2]), Account.from_key(DEV_KEYS[3])
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
        assert str(raised.value.data)[:10] == self.custom_error(name)  # the selector (and any arguments)


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


def test_an_l1_blocks_deposits_buy_at_most_the_max_gas_limit_of_l2_gas(l1: L1) -> None:
    w3 = l1.w3
    d = l1.portal.functions.depositTransaction
    nonce = w3.eth.get_transaction_count(USER.address)
    sent = []
    l1.anvil.rpc("evm_setAutomine", [False])
    try:
        for i, gas in enumerate((MAX_DEPOSIT_GAS - 21_000, 21_000, 21_000)):
            params: Any = {
                "from": USER.address,
                "nonce": nonce + i,
                "gas": 200_000,
                "chainId": w3.eth.chain_id,
            }
            tx = d(OTHER.address, 0, gas, False, b"").build_transaction(params)
            sent.append(w3.eth.send_raw_transaction(USER.sign_transaction(tx).raw_transaction))
        l1.anvil.rpc("evm_mine", [])
    finally:
        l1.anvil.rpc("evm_setAutomine", [True])
    receipts = [w3.eth.wait_for_transaction_receipt(h) for h in sent]
    assert len({r["blockNumber"] for r in receipts}) == 1, "all three in one L1 block"
    assert [r["status"] for r in receipts] == [1, 1, 0], "the third would pass the block's L2 gas"
    assert [len(l1.deposits(r)) for r in receipts] == [1, 1, 0]
    with pytest.raises(ContractCustomError) as raised:  # replayed on that block: the reason
        d(OTHER.address, 0, 21_000, False, b"").call(
            {"from": USER.address}, block_identifier=receipts[0]["blockNumber"]
        )
    assert str(raised.value.data)[:10] == l1.custom_error("OutOfResources")
    # the next L1 block buys L2 gas afresh
    later = l1.send(USER, d(OTHER.address, 0, MAX_DEPOSIT_GAS, False, b""), gas=300_000)
    assert len(l1.deposits(later)) == 1


# -- withdrawals -------------------------------------------------------------------------------------
class L2Outputs:
    """A message passer's storage built here (the project's trie), and output roots over it posted
    on the oracle by the proposer, as the sequencer's proposer would."""

    def __init__(self, l1: L1) -> None:
        self.l1 = l1
        self.storage = MerklePatriciaTrie()
        self.oracle = l1.w3.eth.contract(
            address=Web3.to_checksum_address(l1.settlement.contracts.l2_output_oracle),
            abi=abi(L2_OUTPUT_ORACLE),
        )

    def send(self, w: WithdrawalTx) -> None:
        self.storage.set(keccak(sent_message_slot(w.hash).to_bytes(32, "big")), fastrlp.encode(1))

    def post(self) -> tuple[int, tuple[bytes, bytes, bytes, bytes]]:
        """Post an output over the storage as it stands: its index and its output root proof."""
        proof = (
            b"\x00" * 32,
            keccak(b"state" + self.storage.root_hash()),
            self.storage.root_hash(),
            keccak(b"blk"),
        )
        root = hash_output_root_proof(proof[1], proof[2], proof[3])
        o = self.oracle.functions
        head = l1_head(self.l1)
        self.l1.send(PROPOSER, o.proposeL2Output(root, o.nextBlockNumber().call(), head[0], head[1]))
        return o.latestOutputIndex().call(), proof

    def proof(self, w: WithdrawalTx) -> list[bytes]:
        return self.storage.proof(keccak(sent_message_slot(w.hash).to_bytes(32, "big")))


def l1_head(l1: L1) -> tuple[bytes, int]:
    block = l1.w3.eth.get_block("latest")
    return bytes(block["hash"]), int(block["number"])


def test_a_withdrawal_is_proven_then_finalized_once_after_the_challenge_period(l1: L1) -> None:
    l1.send(OTHER, l1.portal.functions.depositTransaction(OTHER.address, 0, 21_000, False, b""), value=ETH)
    outputs = L2Outputs(l1)
    recipient = Web3.to_checksum_address(
        "0x" + "77" * 20
    )  # fixed: the trie, and so each refusal, is the same every run
    w = WithdrawalTx(versioned_nonce(0), b"\x42" * 20, bytes.fromhex(recipient[2:]), ETH // 2, 100_000, b"")
    other = dataclasses.replace(w, nonce=versioned_nonce(1))
    outputs.send(w)
    outputs.send(dataclasses.replace(w, nonce=versioned_nonce(2)))
    index, root_proof = outputs.post()
    p = l1.portal.functions

    l1.reverts_with("NotProven", p.finalizeWithdrawalTransaction(w.as_tuple()), USER)
    l1.reverts_with(
        "OutputNotProposed",
        p.proveWithdrawalTransaction(w.as_tuple(), index + 1, root_proof, outputs.proof(w)),
        USER,
    )
    forged_root = (root_proof[0], keccak(b"another state"), root_proof[2], root_proof[3])
    l1.reverts_with(
        "InvalidOutputRootProof",
        p.proveWithdrawalTransaction(w.as_tuple(), index, forged_root, outputs.proof(w)),
        USER,
    )
    # a withdrawal never sent: its slot is absent from the storage the output commits to
    l1.reverts_with(
        "InvalidWithdrawalProof",
        p.proveWithdrawalTransaction(other.as_tuple(), index, root_proof, outputs.proof(other)),
        USER,
    )
    # a sent withdrawal's proof offered for one that was not: the path of its slot leaves it
    with pytest.raises(ContractCustomError) as wrong:
        p.proveWithdrawalTransaction(other.as_tuple(), index, root_proof, outputs.proof(w)).call()
    refusals = ("BadNodeHash", "ProofTooLong", "InvalidWithdrawalProof")  # where the path leaves it
    assert str(wrong.value.data)[:10] in {l1.custom_error(e) for e in refusals}

    receipt = l1.send(USER, p.proveWithdrawalTransaction(w.as_tuple(), index, root_proof, outputs.proof(w)))
    proven = l1.portal.events.WithdrawalProven().process_receipt(receipt)[0]["args"]
    assert proven["withdrawalHash"] == w.hash and proven["to"] == recipient
    l1.reverts_with(
        "AlreadyProven", p.proveWithdrawalTransaction(w.as_tuple(), index, root_proof, outputs.proof(w)), USER
    )
    ready_at = p.finalizableAt(w.hash).call()
    proven_at = l1.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert ready_at == proven_at + PERIOD_S
    with pytest.raises(ContractCustomError) as early:
        p.finalizeWithdrawalTransaction(w.as_tuple()).call({"from": USER.address})
    assert early.value.data == l1.custom_error("TooEarly") + ready_at.to_bytes(32, "big").hex()

    l1.anvil.rpc("evm_increaseTime", [PERIOD_S])
    l1.anvil.rpc("evm_mine", [])
    portal_before = l1.w3.eth.get_balance(l1.portal.address)
    receipt = l1.send(USER, p.finalizeWithdrawalTransaction(w.as_tuple()))
    finalized = l1.portal.events.WithdrawalFinalized().process_receipt(receipt)[0]["args"]
    assert finalized["withdrawalHash"] == w.hash and finalized["success"] is True
    assert l1.w3.eth.get_balance(recipient) == ETH // 2
    assert l1.w3.eth.get_balance(l1.portal.address) == portal_before - ETH // 2
    assert p.finalizedWithdrawals(w.hash).call() is True
    l1.reverts_with("AlreadyFinalized", p.finalizeWithdrawalTransaction(w.as_tuple()), USER)
    l1.reverts_with(
        "AlreadyFinalized",
        p.proveWithdrawalTransaction(w.as_tuple(), index, root_proof, outputs.proof(w)),
        USER,
    )
    assert l1.w3.eth.get_balance(recipient) == ETH // 2  # paid once


def test_a_withdrawal_calls_its_target_with_its_data_and_the_l2_sender_known(l1: L1) -> None:
    outputs = L2Outputs(l1)
    target = bytes.fromhex(l1.forwarder.address[2:])
    w = WithdrawalTx(versioned_nonce(7), b"\x42" * 20, target, 12345, 200_000, b"\xde\xad\xbe\xef")
    outputs.send(w)
    index, root_proof = outputs.post()
    p = l1.portal.functions
    l1.send(USER, p.proveWithdrawalTransaction(w.as_tuple(), index, root_proof, outputs.proof(w)))
    l1.anvil.rpc("evm_increaseTime", [PERIOD_S])
    l1.anvil.rpc("evm_mine", [])
    receipt = l1.send(USER, p.finalizeWithdrawalTransaction(w.as_tuple()))
    (delivered,) = l1.forwarder.events.Received().process_receipt(receipt, errors=DISCARD)
    assert delivered["args"]["from"] == l1.portal.address
    assert (delivered["args"]["value"], delivered["args"]["data"]) == (12345, b"\xde\xad\xbe\xef")
    assert p.l2Sender().call() == "0x000000000000000000000000000000000000dEaD"  # reset after the call
    l1.reverts_with(
        "BadTarget",
        p.proveWithdrawalTransaction(
            dataclasses.replace(w, target=bytes.fromhex(l1.portal.address[2:])).as_tuple(),
            index,
            root_proof,
            [],
        ),
        USER,
    )


def test_a_proof_against_a_deleted_output_is_refused_at_finalize_and_may_be_redone(l1: L1) -> None:
    outputs = L2Outputs(l1)
    w = WithdrawalTx(versioned_nonce(9), b"\x42" * 20, bytes.fromhex(OTHER.address[2:]), 1, 50_000, b"")
    outputs.send(w)
    index, root_proof = outputs.post()
    p = l1.portal.functions
    l1.send(USER, p.proveWithdrawalTransaction(w.as_tuple(), index, root_proof, outputs.proof(w)))
    l1.send(CHALLENGER, outputs.oracle.functions.deleteL2Outputs(index))
    l1.anvil.rpc("evm_increaseTime", [PERIOD_S])
    l1.anvil.rpc("evm_mine", [])
    l1.reverts_with("OutputRootChanged", p.finalizeWithdrawalTransaction(w.as_tuple()), USER)
    # the same output posted again is another proposal: the old proof does not count for it
    again, again_proof = outputs.post()
    assert (again, again_proof) == (index, root_proof)
    l1.reverts_with("OutputRootChanged", p.finalizeWithdrawalTransaction(w.as_tuple()), USER)
    cli = Bridge("http://127.0.0.1:9", l1.settlement)  # the CLI sees it too (`bridge status`, `bridge prove`)
    root, proven_at, proven_index = p.provenWithdrawals(w.hash).call()
    assert cli.proof_stands(bytes(root), proven_at, proven_index) is False
    l1.send(USER, p.proveWithdrawalTransaction(w.as_tuple(), again, again_proof, outputs.proof(w)))
    root, proven_at, proven_index = p.provenWithdrawals(w.hash).call()
    assert cli.proof_stands(bytes(root), proven_at, proven_index) is True
    l1.reverts_with("TooEarly", p.finalizeWithdrawalTransaction(w.as_tuple()), USER)  # the period restarts
    l1.anvil.rpc("evm_increaseTime", [PERIOD_S])
    l1.anvil.rpc("evm_mine", [])
    l1.send(USER, p.finalizeWithdrawalTransaction(w.as_tuple()))
    assert p.finalizedWithdrawals(w.hash).call() is True
