"""Settlement on a real L1 (anvil), end to end.

A sequencer started with ``--l1`` under a mixed load (transfers, ERC-20 calls) posts every EVM
block's transactions to the batch inbox in OP's format and an output root every few blocks;
``safe`` and ``finalized`` advance on its RPC and never pass ``latest``. Killed with SIGKILL
while its batch transactions sit unmined in the L1 pool and started again, it posts every L2
block exactly once, in order. A fresh ``verifier run --derive`` with only the settlement file
and the chain config rebuilds the same chain from L1 (identical block hashes and state root,
every output root matching) and resumes where it stopped; given the sequencer's feed as well,
it finds each unsafe block the feed announced to be the block L1 later carries.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_hash.auto import keccak
from web3 import Web3

from sequencer.settlement.contracts import L2_OUTPUT_ORACLE, abi
from sequencer.settlement.outputs import EMPTY_TRIE_ROOT, output_root_v0
from sequencer.settlement.settings import Settlement, load_settlement
from tests.support.anvil import Anvil, start_anvil
from tests.support.daemon import ROOT, Daemon, start_daemon
from tests.support.settlement import (
    MixedLoad,
    batches_on_l1,
    deploy_settlement,
    reached,
    start_deriver,
    wait_until,
)

OUTPUT_INTERVAL = 4


@dataclass
class Network:
    anvil: Anvil
    settlement_path: Path
    settlement: Settlement
    data_dir: Path
    daemon: Daemon
    load: MixedLoad | None = None
    samples: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def w3(self) -> Web3:
        return Web3(Web3.HTTPProvider(self.daemon.url, request_kwargs={"timeout": 10}))

    def start(self) -> None:
        self.daemon = start_daemon(
            self.data_dir, "--l1", str(self.settlement_path), "--evm-block-ms", "250", "--metrics-port", "0"
        )

    def tags(self) -> tuple[int, int, int]:
        """(finalized, safe, latest) block numbers on the sequencer's RPC, sampled together."""
        w3 = self.w3
        finalized = int(w3.eth.get_block("finalized")["number"])
        safe = int(w3.eth.get_block("safe")["number"])
        latest = int(w3.eth.get_block("latest")["number"])
        self.samples.append((finalized, safe, latest))
        return finalized, safe, latest

    def oracle(self) -> Any:
        return self.anvil.w3().eth.contract(
            address=Web3.to_checksum_address(self.settlement.contracts.l2_output_oracle),
            abi=abi(L2_OUTPUT_ORACLE),
        )


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    tmp = tmp_path_factory.mktemp("settlement")
    anvil = start_anvil(tmp, block_time=1, slots_in_an_epoch=2)
    try:
        path = deploy_settlement(anvil, tmp / "l1.toml", output_interval=OUTPUT_INTERVAL)
        data_dir = tmp / "seq"
        daemon = start_daemon(data_dir, "--l1", str(path), "--evm-block-ms", "250", "--metrics-port", "0")
        network = Network(anvil, path, load_settlement(path), data_dir, daemon)
        try:
            yield network
            assert network.daemon.stop() == 0, network.daemon.log()  # graceful: SIGTERM
        finally:
            network.daemon.kill()
    finally:
        anvil.stop()


def test_batches_and_output_roots_are_posted_under_mixed_load(net: Network) -> None:
    net.load = MixedLoad(net.w3)
    net.load.run(rounds=12)
    last_tx = net.w3.eth.get_transaction_receipt(net.load.sent[-1])  # type: ignore[arg-type]
    loaded_block = int(last_tx["blockNumber"])
    wait_until(lambda: net.tags()[1] >= loaded_block, 30, "the loaded blocks to become safe")
    oracle = net.oracle()
    wait_until(
        lambda: oracle.functions.latestBlockNumber().call() >= loaded_block, 30, "an output past the load"
    )
    index = oracle.functions.getL2OutputIndexAfter(loaded_block).call()
    root, _, l2_block = oracle.functions.getL2Output(index).call()
    block = net.w3.eth.get_block(l2_block)
    output = net.w3.provider.make_request("optimism_outputAtBlock", [hex(l2_block)])["result"]  # type: ignore[arg-type]
    passer_root = bytes.fromhex(output["withdrawalStorageRoot"][2:])
    assert passer_root == EMPTY_TRIE_ROOT  # no withdrawal in this load: the message passer's storage is empty
    assert root == output_root_v0(bytes(block["stateRoot"]), bytes(block["hash"]), passer_root)
    assert output["outputRoot"] == "0x" + root.hex()
    posted = batches_on_l1(net.anvil.w3(), net.settlement)
    carried = {keccak(raw) for p in posted for raw in p.batch.transactions}
    assert {bytes.fromhex(h[2:]) for h in net.load.sent} <= carried
    status = net.w3.provider.make_request("sequencer_status", [])["result"]  # type: ignore[arg-type]
    assert status["healthy"] and status["settlement"]["l1Reachable"] is True
    assert (
        status["settlement"]["batcher"]["alarm"] is None
        and int(status["settlement"]["batcher"]["balanceWei"]) > 0
    )


def test_safe_and_finalized_advance_and_never_pass_latest(net: Network) -> None:
    first = net.tags()
    wait_until(lambda: net.tags()[0] > first[1], 30, "finalized to pass the earlier safe head")
    for finalized, safe, latest in net.samples:
        assert finalized <= safe <= latest
    assert net.samples[-1][0] > 0
    # state queries read the state after the block the tag names
    account = Web3.to_checksum_address("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
    safe_block = net.w3.eth.get_block("safe")
    assert net.w3.eth.get_balance(account, safe_block["number"]) == net.w3.eth.get_balance(account, "safe")
    metrics = requests.get(_metrics_url(net.daemon), timeout=5).text
    assert "settlement_safe_block" in metrics and "settlement_batcher_balance_wei" in metrics


def _metrics_url(d: Daemon) -> str:
    m = re.search(r"operator endpoints.* metrics=(http://\S+)", d.log())
    assert m, "no metrics endpoint in the log"
    return m.group(1) + "/metrics"


def test_a_sequencer_killed_with_batches_in_flight_posts_every_block_once_in_order(net: Network) -> None:
    assert net.load is not None
    l1 = net.anvil
    l1.rpc("evm_setIntervalMining", [0])  # batch transactions now wait in the L1 pool
    try:
        net.load.run(rounds=4)
        batcher = "0x" + net.settlement.roles.batcher.hex()
        wait_until(
            lambda: len(l1.rpc("txpool_content", [])["pending"].get(batcher, {})) >= 2,
            20,
            "batches in flight",
        )
        net.daemon.proc.send_signal(signal.SIGKILL)
        net.daemon.proc.wait(10)
        net.daemon.kill()
    finally:
        l1.rpc("evm_setIntervalMining", [1])
    net.start()
    MixedLoad(net.w3).run(rounds=3)
    head = int(net.w3.eth.block_number)
    wait_until(lambda: net.tags()[1] >= head, 40, "the restarted sequencer's blocks to become safe")
    posted = batches_on_l1(l1.w3(), net.settlement)
    by_parent = [p.batch.parent_hash for p in posted]
    hashes = {
        int(net.w3.eth.get_block(n)["number"]): bytes(net.w3.eth.get_block(n)["hash"])
        for n in range(0, head + 1)
    }
    expected_parents = [hashes[n] for n in range(0, head)]
    assert by_parent[:head] == expected_parents, "every L2 block from 1 on, once each, in order"
    assert len(set(by_parent)) == len(by_parent), "no L2 block posted twice"
    for n, p in enumerate(posted[:head], start=1):
        block = net.w3.eth.get_block(n)
        assert [keccak(t) for t in p.batch.transactions] == [bytes(h) for h in block["transactions"]]  # type: ignore[arg-type]
        assert p.batch.timestamp == block["timestamp"]
    log = net.daemon.log()
    assert "resuming: " in log and "batch transactions to send again" in log


def test_a_fresh_verifier_derives_the_same_chain_from_l1_alone(net: Network, tmp_path: Path) -> None:
    safe = net.tags()[1]
    deriver = start_deriver(net.settlement_path, tmp_path / "derive", "--feed", net.daemon.feed_url)
    try:
        status = wait_until(
            lambda: reached(deriver, safe),
            60,
            "derivation to reach the safe head",
        )
        block = net.w3.eth.get_block(status["height"])
        assert status["blockHash"] == "0x" + bytes(block["hash"]).hex()
        assert status["stateRoot"] == "0x" + bytes(block["stateRoot"]).hex()
        assert status["verdict"] == "ok" and status["mismatches"] == []
        assert status["outputsChecked"] >= safe // OUTPUT_INTERVAL - 1 and status["derivedTxs"] >= 60
        assert status["finalizedHeight"] <= status["safeHeight"] == status["height"]
        # with the feed as well, the sequencer's unsafe blocks were each checked against L1's
        wait_until(lambda: deriver.status()["unsafeChecked"] >= safe, 30, "the feed's blocks compared")
        first_height = status["height"]
        assert deriver.stop() == 0, deriver.log()
        # resumes where it stopped: nothing derived twice
        again = start_deriver(net.settlement_path, tmp_path / "derive")
        try:
            later = wait_until(
                lambda: reached(again, first_height + 1),
                30,
                "derivation to go on",
            )
            assert later["derivedBlocks"] == later["height"] and later["verdict"] == "ok"
        finally:
            assert again.stop() == 0, again.log()
    finally:
        deriver.stop()
    shown = subprocess.run(
        [sys.executable, "-m", "verifier.cli", "status", "--data-dir", str(tmp_path / "derive"), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert shown.returncode == 0, shown.stderr
    info = json.loads(shown.stdout)
    assert {"height", "blockHash", "safeHeight", "verdict"} <= set(info) and info["verdict"] == "ok"
    assert info["blockHash"] == "0x" + bytes(net.w3.eth.get_block(info["height"])["hash"]).hex()
