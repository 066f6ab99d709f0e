"""Withdrawals end to end, with anvil as the L1 and a real sequencer settling on it (``--l1``).

Specified (the issue's acceptance): a 0.5 ETH withdrawal is started on L2 with ``sequencer bridge
withdraw``; ``bridge status`` follows it; once the proposer has posted an output covering its
block (whose root carries the message passer's real storage root: the derivation verifier,
rebuilding the chain from L1, finds every output root matching), ``bridge prove`` proves it on the
portal; ``bridge finalize`` before the challenge period has passed is refused ("too early"), after
it pays the L1 recipient exactly 0.5 ETH out of what the portal holds from deposits; a replay is
refused ("already finalized"), and so is a wrong Merkle-Patricia proof. A withdrawal survives a
``kill -9`` of the sequencer right after its receipt: after the restart it is provable and proven.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractCustomError

from sequencer.cli.bridge_withdrawals import Bridge
from sequencer.settlement.contracts import OPTIMISM_PORTAL, abi
from sequencer.settlement.settings import Settlement, load_settlement
from tests.support.accounts import DEV_KEYS
from tests.support.anvil import Anvil, start_anvil
from tests.support.daemon import ROOT, Daemon, start_daemon
from tests.support.settlement import deploy_settlement, reached, start_deriver, wait_until

OUTPUT_INTERVAL = 4
CHALLENGE_PERIOD_S = 12
ETH = 10**18
FUNDER = Account.from_key(DEV_KEYS[5])  # an L1 account that deposits, so the portal holds ETH


@dataclass
class Net:
    anvil: Anvil
    settlement_path: Path
    settlement: Settlement
    data_dir: Path
    daemon: Daemon

    def restart(self) -> None:
        self.daemon = sequencer(self.data_dir, self.settlement_path)

    @property
    def l1(self) -> Web3:
        return self.anvil.w3()

    def portal(self) -> Any:
        assert self.settlement.contracts.portal is not None
        return self.l1.eth.contract(
            address=Web3.to_checksum_address(self.settlement.contracts.portal), abi=abi(OPTIMISM_PORTAL)
        )

    def cli(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "sequencer.cli", "bridge", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (done.returncode == 0) == ok, (done.returncode, done.stdout, done.stderr)
        return done

    def cli_json(self, *args: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.cli(*args, "--json").stdout)
        return data

    def l1_args(self) -> tuple[str, ...]:
        return ("--l1", str(self.settlement_path), "--rpc", self.daemon.url)


def sequencer(data_dir: Path, settlement_path: Path) -> Daemon:
    return start_daemon(
        data_dir, "--l1", str(settlement_path), "--evm-block-ms", "250", "--metrics-port", "0"
    )


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    tmp = tmp_path_factory.mktemp("bridge")
    anvil = start_anvil(tmp, block_time=1, slots_in_an_epoch=2)
    try:
        path = deploy_settlement(
            anvil,
            tmp / "l1.toml",
            "--challenge-period",
            str(CHALLENGE_PERIOD_S),
            output_interval=OUTPUT_INTERVAL,
        )
        data_dir = tmp / "seq"
        network = Net(anvil, path, load_settlement(path), data_dir, sequencer(data_dir, path))
        try:
            yield network
            assert network.daemon.stop() == 0, network.daemon.log()
        finally:
            network.daemon.kill()
    finally:
        anvil.stop()


def test_a_withdrawal_is_proven_against_its_output_and_finalized_after_the_window(
    net: Net, tmp_path: Path
) -> None:
    portal = net.portal()
    fund = portal.functions.depositTransaction(FUNDER.address, 0, 21_000, False, b"").build_transaction(
        {"from": FUNDER.address, "value": 2 * ETH, "nonce": net.l1.eth.get_transaction_count(FUNDER.address)}
    )
    net.l1.eth.wait_for_transaction_receipt(
        net.l1.eth.send_raw_transaction(FUNDER.sign_transaction(fund).raw_transaction)
    )
    recipient = Account.create().address
    net.anvil.rpc("evm_setIntervalMining", [0])  # L1 stands still: no L2 block becomes safe, no output lands
    try:
        started = net.cli_json("withdraw", "--rpc", net.daemon.url, "--amount", "0.5", "--to", recipient)
        tx_hash = started["l2TxHash"]
        assert started["value"] == str(ETH // 2) and started["target"] == recipient
        assert net.cli_json("status", tx_hash, *net.l1_args())["state"] == "initiated"  # not on L1 yet
        early = net.cli("prove", tx_hash, *net.l1_args(), ok=False)
        assert f"no output on L1 covers L2 block {started['l2Block']} yet" in early.stderr
        not_proven = net.cli("finalize", tx_hash, *net.l1_args(), ok=False)
        assert "not proven yet" in not_proven.stderr
    finally:
        net.anvil.rpc("evm_setIntervalMining", [1])

    status = wait_until(
        lambda: (s := net.cli_json("status", tx_hash, *net.l1_args()))["state"] == "provable" and s,
        60,
        "an output covering the withdrawal",
    )
    assert (
        status["outputBlock"] >= started["l2Block"] and status["withdrawalHash"] == started["withdrawalHash"]
    )

    # a wrong Merkle-Patricia proof is refused by the portal
    bridge = Bridge(net.daemon.url, net.settlement)
    found = bridge.find(bytes.fromhex(tx_hash[2:]))
    output = bridge.covering_output(found.l2_block)
    assert output is not None
    w_tuple, index, root_proof, nodes = bridge.prove_arguments(found, output)
    tampered = [*nodes[:-1], nodes[-1][:-1] + bytes([nodes[-1][-1] ^ 1])]
    with pytest.raises(ContractCustomError) as wrong:
        portal.functions.proveWithdrawalTransaction(w_tuple, index, root_proof, tampered).call()
    assert str(wrong.value.data)[:10] == error_selector(portal, "BadNodeHash")

    proven = net.cli_json("prove", tx_hash, *net.l1_args())
    assert proven["state"] == "proven" and proven["l2OutputIndex"] == index
    too_early = net.cli("finalize", tx_hash, *net.l1_args(), ok=False)
    assert "too early: finalizable at" in too_early.stderr
    again = net.cli("prove", tx_hash, *net.l1_args(), ok=False)
    assert "already proven" in again.stderr
    assert net.l1.eth.get_balance(recipient) == 0

    # meanwhile the derivation verifier, from L1 alone, derives the same outputs (message passer
    # storage root included)
    deriver = start_deriver(net.settlement_path, tmp_path / "derive")
    try:
        wait_until(
            lambda: net.l1.eth.get_block("latest")["timestamp"] >= proven["finalizableAt"],
            CHALLENGE_PERIOD_S + 30,
            "the end of the challenge period",
            interval=0.5,
        )
        assert net.cli_json("status", tx_hash, *net.l1_args())["state"] == "finalizable"
        portal_before = net.l1.eth.get_balance(portal.address)
        finalized = net.cli_json("finalize", tx_hash, *net.l1_args())
        assert finalized["success"] is True
        assert net.l1.eth.get_balance(recipient) == ETH // 2
        assert net.l1.eth.get_balance(portal.address) == portal_before - ETH // 2

        replay = net.cli("finalize", tx_hash, *net.l1_args(), ok=False)
        assert "already finalized" in replay.stderr
        assert net.cli_json("status", tx_hash, *net.l1_args())["state"] == "finalized"
        assert net.l1.eth.get_balance(recipient) == ETH // 2  # paid once

        derived = wait_until(lambda: reached(deriver, output.l2_block), 90, "derivation past the output")
        derived = wait_until(
            lambda: (s := deriver.status())["outputsChecked"] > index and s,
            60,
            "the withdrawal's output checked",
        )
        assert derived["verdict"] == "ok" and derived["mismatches"] == []
    finally:
        deriver.stop()


def test_a_withdrawal_survives_kill_9_of_the_sequencer_and_is_proven_after_the_restart(net: Net) -> None:
    recipient = Account.create().address
    started = net.cli_json("withdraw", "--rpc", net.daemon.url, "--amount", "0.25", "--to", recipient)
    net.daemon.proc.send_signal(signal.SIGKILL)  # right after the receipt: before its output, maybe its batch
    net.daemon.proc.wait(10)
    net.daemon.kill()
    net.restart()
    tx_hash = started["l2TxHash"]
    status = wait_until(
        lambda: (s := net.cli_json("status", tx_hash, *net.l1_args()))["state"] == "provable" and s,
        60,
        "an output covering the withdrawal after the restart",
    )
    assert status["withdrawalHash"] == started["withdrawalHash"] and status["l2Block"] == started["l2Block"]
    proven = net.cli_json("prove", tx_hash, *net.l1_args())  # the restarted proposer's root proves it
    assert proven["state"] == "proven"


def error_selector(portal: Any, name: str) -> str:
    from eth_hash.auto import keccak

    (entry,) = [e for e in portal.abi if e["type"] == "error" and e["name"] == name]
    return "0x" + keccak(f"{name}({','.join(i['type'] for i in entry['inputs'])})".encode())[:4].hex()
