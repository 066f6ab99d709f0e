"""The L1 contracts on a real L1 (anvil): SystemConfig and L2OutputOracle behave as OP's do.

Deployed by the same code ``sequencer l1 deploy`` runs. The proposer alone proposes, only for
the next expected L2 block, only non-zero roots, only on the L1 chain it named; outputs read
back by index and by L2 block; the challenger alone deletes, and only inside the challenge
period, which the SystemConfig's owner (and only they) can change.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractLogicError

from sequencer.settlement.contracts import L2_OUTPUT_ORACLE, SYSTEM_CONFIG, abi
from sequencer.settlement.deploy import DeployRequest, deploy
from sequencer.settlement.keys import DEV_KEYS, address_of
from sequencer.settlement.settings import Settlement, inbox_address
from tests.support.anvil import Anvil, start_anvil

DEPLOYER, BATCHER, PROPOSER, CHALLENGER, STRANGER = (Account.from_key(k) for k in DEV_KEYS[:5])
INTERVAL = 5
PERIOD_S = 120


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Anvil]:
    # automine (no --block-time): each transaction gets its own block at once
    node = start_anvil(tmp_path_factory.mktemp("anvil"), block_time=None)
    try:
        yield node
    finally:
        node.stop()


class Deployed:
    def __init__(self, anvil: Anvil, settlement: Settlement) -> None:
        self.w3 = anvil.w3()
        self.anvil = anvil
        self.settlement = settlement
        self.oracle = self.w3.eth.contract(
            address=Web3.to_checksum_address(settlement.contracts.l2_output_oracle), abi=abi(L2_OUTPUT_ORACLE)
        )
        self.config = self.w3.eth.contract(
            address=Web3.to_checksum_address(settlement.contracts.system_config), abi=abi(SYSTEM_CONFIG)
        )

    def send(self, account: Any, call: Any) -> Any:
        tx = call.build_transaction(
            {
                "from": account.address,
                "nonce": self.w3.eth.get_transaction_count(account.address),
                "gas": 500_000,
            }
        )
        signed = account.sign_transaction(tx)
        receipt = self.w3.eth.wait_for_transaction_receipt(
            self.w3.eth.send_raw_transaction(signed.raw_transaction)
        )
        assert receipt["status"] == 1
        return receipt

    def head(self) -> tuple[bytes, int]:
        block = self.w3.eth.get_block("latest")
        return bytes(block["hash"]), int(block["number"])

    def propose(self, root: bytes, l2_block: int, account: Any = PROPOSER) -> Any:
        l1_hash, l1_number = self.head()
        return self.send(account, self.oracle.functions.proposeL2Output(root, l2_block, l1_hash, l1_number))

    def reverts(self, call: Any, account: Any, reason: str) -> None:
        with pytest.raises(ContractLogicError, match=reason):
            call.call({"from": account.address})


@pytest.fixture
def deployed(anvil: Anvil) -> Deployed:
    settlement = deploy(
        DeployRequest(
            l1_rpc=anvil.url,
            deployer_key=DEV_KEYS[0],
            l2_chain_id=1337,
            l2_genesis_hash=b"\x01" * 32,
            l2_genesis_timestamp=1_767_225_600,
            batcher=address_of(DEV_KEYS[1]),
            proposer=address_of(DEV_KEYS[2]),
            challenger=address_of(DEV_KEYS[3]),
            challenge_period_s=PERIOD_S,
            output_interval_blocks=INTERVAL,
            batch_inbox=inbox_address(1337),
        )
    )
    return Deployed(anvil, settlement)


def test_the_system_config_holds_the_roles_and_where_settlement_starts(deployed: Deployed) -> None:
    c = deployed.config.functions
    assert c.batcher().call() == BATCHER.address and c.proposer().call() == PROPOSER.address
    assert c.challenger().call() == CHALLENGER.address and c.owner().call() == DEPLOYER.address
    assert c.challengePeriod().call() == PERIOD_S and c.l2ChainId().call() == 1337
    assert bytes.fromhex(c.batchInbox().call()[2:]) == inbox_address(1337)
    assert c.startBlock().call() == deployed.settlement.l1.start_block
    start = deployed.w3.eth.get_block(deployed.settlement.l1.start_block)
    assert bytes(start["hash"]) == deployed.settlement.l1.start_block_hash
    assert (
        deployed.w3.eth.get_code(Web3.to_checksum_address(inbox_address(1337))) == b""
    )  # an address, not a contract


def test_the_proposer_proposes_the_next_interval_block_and_outputs_read_back(deployed: Deployed) -> None:
    o = deployed.oracle.functions
    assert o.nextBlockNumber().call() == INTERVAL and o.latestBlockNumber().call() == 0
    receipt = deployed.propose(b"\x11" * 32, INTERVAL)
    event = deployed.oracle.events.OutputProposed().process_receipt(receipt)[0]["args"]
    assert (event["outputRoot"], event["l2OutputIndex"], event["l2BlockNumber"]) == (
        b"\x11" * 32,
        0,
        INTERVAL,
    )
    deployed.propose(b"\x22" * 32, 2 * INTERVAL)
    assert o.latestOutputIndex().call() == 1 and o.nextOutputIndex().call() == 2
    assert o.nextBlockNumber().call() == 3 * INTERVAL
    root, proposed_at, l2_block = o.getL2Output(1).call()
    assert (root, l2_block) == (b"\x22" * 32, 2 * INTERVAL) and proposed_at > 0
    assert o.getL2OutputAfter(INTERVAL + 1).call()[0] == b"\x22" * 32  # the output covering block 6
    assert o.getL2OutputIndexAfter(1).call() == 0 and o.getL2OutputIndexAfter(INTERVAL).call() == 0
    deployed.reverts(o.getL2OutputIndexAfter(2 * INTERVAL + 1), STRANGER, "no output at or after")
    deployed.reverts(o.getL2Output(2), STRANGER, "no output at that index")


def test_proposals_that_break_the_rules_revert(deployed: Deployed) -> None:
    o = deployed.oracle.functions
    l1_hash, l1_number = deployed.head()
    deployed.reverts(
        o.proposeL2Output(b"\x11" * 32, INTERVAL, l1_hash, l1_number), STRANGER, "only the proposer"
    )
    deployed.reverts(
        o.proposeL2Output(b"\x11" * 32, INTERVAL + 1, l1_hash, l1_number), PROPOSER, "not the next"
    )
    deployed.reverts(
        o.proposeL2Output(b"\x00" * 32, INTERVAL, l1_hash, l1_number), PROPOSER, "output root is zero"
    )
    deployed.reverts(
        o.proposeL2Output(b"\x11" * 32, INTERVAL, b"\x99" * 32, l1_number), PROPOSER, "L1 block hash"
    )
    deployed.reverts(o.latestOutputIndex(), STRANGER, "no outputs")


def test_the_challenger_deletes_outputs_only_inside_the_challenge_period(deployed: Deployed) -> None:
    o = deployed.oracle.functions
    for i in range(1, 4):
        deployed.propose(bytes([i]) * 32, i * INTERVAL)
    deployed.reverts(o.deleteL2Outputs(1), STRANGER, "only the challenger")
    assert o.isFinalized(0).call() is False
    receipt = deployed.send(CHALLENGER, o.deleteL2Outputs(1))
    event = deployed.oracle.events.OutputsDeleted().process_receipt(receipt)[0]["args"]
    assert (event["prevNextOutputIndex"], event["newNextOutputIndex"]) == (3, 1)
    assert o.nextOutputIndex().call() == 1 and o.nextBlockNumber().call() == 2 * INTERVAL
    deployed.anvil.rpc("evm_increaseTime", [PERIOD_S + 1])
    deployed.anvil.rpc("evm_mine", [])
    assert o.isFinalized(0).call() is True
    deployed.reverts(o.deleteL2Outputs(0), CHALLENGER, "past its challenge period")


def test_only_the_owner_changes_the_settings_and_each_change_is_an_event(deployed: Deployed) -> None:
    c, o = deployed.config.functions, deployed.oracle.functions
    deployed.reverts(c.setBatcher(STRANGER.address), STRANGER, "not the owner")
    receipt = deployed.send(DEPLOYER, c.setBatcher(STRANGER.address))
    update = deployed.config.events.ConfigUpdate().process_receipt(receipt)[0]["args"]
    assert update["updateType"] == 0 and update["data"][-20:] == bytes.fromhex(STRANGER.address[2:])
    assert c.batcher().call() == STRANGER.address
    deployed.send(DEPLOYER, c.setChallengePeriod(7))
    assert o.challengePeriod().call() == 7
    deployed.send(DEPLOYER, c.setProposer(STRANGER.address))
    assert o.proposer().call() == STRANGER.address
    deployed.propose(b"\x33" * 32, INTERVAL, account=STRANGER)
    deployed.reverts(c.setBatcher("0x" + "00" * 20), DEPLOYER, "zero address")
    deployed.send(DEPLOYER, c.transferOwnership(STRANGER.address))
    deployed.reverts(c.setChallenger(STRANGER.address), DEPLOYER, "not the owner")


def test_deploying_writes_a_settlement_that_names_both_contracts(deployed: Deployed, tmp_path: Path) -> None:
    from sequencer.settlement.settings import load_settlement, render_settlement

    path = tmp_path / "l1.toml"
    path.write_text(render_settlement(deployed.settlement))
    again = load_settlement(path)
    assert again == deployed.settlement and again.l1.chain_id == 31337
    assert deployed.oracle.functions.systemConfig().call() == deployed.config.address
    assert deployed.oracle.functions.submissionInterval().call() == INTERVAL
