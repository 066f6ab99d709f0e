"""Settlement when things go wrong, on a real L1 (anvil).

* Fire drills: a batch posted with one transaction removed (``--dev-fault batch-drop-tx``) and a
  wrong output root (``--dev-fault output-root``) are each caught by ``verifier run --derive``,
  whose verdict names the L1 transaction and the L2 block; so is a block the feed shows
  differently from what its batch on L1 derives (``--derive --feed``).
* An L1 that stops answering: the sequencer keeps sealing until the settlement backlog is full,
  then refuses transactions with a clear error, and takes them again once posting catches up.
* A batcher without funds raises an alarm (health red) and recovers once funded.
* An L1 reorg that drops a batch: the batch is posted again, every L2 block is on L1 exactly
  once, and a derivation verifier that had read the dropped batch rolls back and still matches.
* A batch transaction not included in time is re-signed with bumped fees (same nonce, same
  calldata), and its blocks still land on L1 exactly once.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_account import Account
from web3 import Web3

from sequencer.settlement.settings import Settlement, load_settlement
from tests.support.anvil import Anvil, start_anvil
from tests.support.daemon import ROOT, Daemon, start_daemon
from tests.support.rpc import request
from tests.support.settlement import (
    MixedLoad,
    batches_on_l1,
    deploy_settlement,
    reached,
    start_deriver,
    wait_until,
)
from tests.support.verifier import VerifierProc

EXIT_MISMATCH = 3


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Anvil]:
    node = start_anvil(tmp_path_factory.mktemp("anvil"), block_time=1, slots_in_an_epoch=2)
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[Daemon | VerifierProc]]:
    procs: list[Daemon | VerifierProc] = []
    yield procs
    for p in procs:
        if isinstance(p, Daemon):
            try:
                p.stop()  # SIGTERM: a graceful stop (settlement under way or not) exits 0
            finally:
                p.kill()
        else:
            p.stop()


def sequencer(tmp_path: Path, path: Path, started: list[Any], *extra: str) -> Daemon:
    d = start_daemon(
        tmp_path / "seq", "--l1", str(path), "--evm-block-ms", "250", "--metrics-port", "0", *extra
    )
    started.append(d)
    return d


def w3_of(d: Daemon) -> Web3:
    return Web3(Web3.HTTPProvider(d.url, request_kwargs={"timeout": 10}))


def settlement_status(d: Daemon) -> dict[str, Any]:
    status: dict[str, Any] = request(w3_of(d), "sequencer_status", [])["result"]
    return status


def metrics_url(d: Daemon) -> str:
    m = re.search(r"operator endpoints.* metrics=(http://\S+)", d.log())
    assert m, d.log()
    return m.group(1)


def until_verdict(deriver: VerifierProc, data_dir: Path) -> dict[str, Any]:
    """Wait for a derivation verifier to halt on a verdict; the verdict from ``verifier status``."""
    assert deriver.proc.wait(90) == EXIT_MISMATCH, deriver.log()
    assert re.search(r'msg="VERDICT" .*field=', deriver.log()), deriver.log()
    shown = subprocess.run(
        [sys.executable, "-m", "verifier.cli", "status", "--data-dir", str(data_dir), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert shown.returncode == 1, shown.stderr  # a mismatch on record
    info = json.loads(shown.stdout)
    assert info["verdict"] == "mismatch" and len(info["mismatches"]) == 1
    verdict: dict[str, Any] = info["mismatches"][0]
    return verdict


def test_a_batch_with_a_transaction_removed_is_caught_naming_the_l1_tx_and_l2_block(
    anvil: Anvil, tmp_path: Path, started: list[Any]
) -> None:
    path = deploy_settlement(anvil, tmp_path / "l1.toml")
    d = sequencer(tmp_path, path, started, "--dev-fault", "batch-drop-tx@1")
    deriver = start_deriver(path, tmp_path / "derive")  # derives as the batches arrive
    started.append(deriver)
    MixedLoad(w3_of(d)).run(rounds=2)
    drill = re.compile(r"batch-drop-tx: block batched.* l2_block=(\d+)")
    m = wait_until(lambda: drill.search(d.log()), 20, "the drill to fire")
    target = int(m.group(1))
    verdict = until_verdict(deriver, tmp_path / "derive")
    assert verdict["field"] == "batch.parentHash" and verdict["l2_block"] == target + 1
    assert verdict["claimed"] == "0x" + bytes(w3_of(d).eth.get_block(target)["hash"]).hex()
    assert f"block {target} was derived from L1 tx 0x" in verdict["note"]
    tx = anvil.w3().eth.get_transaction(verdict["l1_tx"])
    assert bytes.fromhex(str(tx["to"])[2:]) == load_settlement(path).contracts.batch_inbox
    assert tx["blockNumber"] == verdict["l1_block"]


def test_a_wrong_output_root_is_caught_naming_the_l1_tx_and_l2_block(
    anvil: Anvil, tmp_path: Path, started: list[Any]
) -> None:
    path = deploy_settlement(anvil, tmp_path / "l1.toml", output_interval=4)
    d = sequencer(tmp_path, path, started, "--dev-fault", "output-root@1")
    deriver = start_deriver(path, tmp_path / "derive")
    started.append(deriver)
    MixedLoad(w3_of(d)).run(rounds=1)
    verdict = until_verdict(deriver, tmp_path / "derive")
    assert re.search(r"dev fault output-root: the output gets a wrong root.* l2_block=4\b", d.log())
    assert verdict["field"] == "output.outputRoot" and verdict["l2_block"] == 4
    assert verdict["claimed"] != verdict["derived"]
    tx = anvil.w3().eth.get_transaction(verdict["l1_tx"])
    assert bytes.fromhex(str(tx["to"])[2:]) == load_settlement(path).contracts.l2_output_oracle


def test_unsafe_blocks_the_feed_shows_differently_from_l1_are_caught(
    anvil: Anvil, tmp_path: Path, started: list[Any]
) -> None:
    path = deploy_settlement(anvil, tmp_path / "l1.toml")
    d = sequencer(tmp_path, path, started, "--dev-fault", "state-root@3")  # the feed lies about block 3
    deriver = start_deriver(path, tmp_path / "derive", "--feed", d.feed_url)
    started.append(deriver)
    verdict = until_verdict(deriver, tmp_path / "derive")
    assert verdict["field"] == "unsafe.blockHash" and verdict["l2_block"] == 3
    assert verdict["derived"] == "0x" + bytes(w3_of(d).eth.get_block(3)["hash"]).hex() != verdict["claimed"]
    tx = anvil.w3().eth.get_transaction(verdict["l1_tx"])
    assert bytes.fromhex(str(tx["to"])[2:]) == load_settlement(path).contracts.batch_inbox


def test_an_unreachable_l1_fills_the_backlog_then_transactions_are_refused_until_posting_catches_up(
    anvil: Anvil, tmp_path: Path, started: list[Any]
) -> None:
    path = deploy_settlement(anvil, tmp_path / "l1.toml", batcher={"max_backlog_blocks": 20})
    d = sequencer(tmp_path, path, started)
    w3 = w3_of(d)
    load = MixedLoad(w3)

    def send() -> dict[str, Any]:
        answer = request(w3, "eth_sendRawTransaction", [load.transfer()])
        if "error" in answer:
            load.nonces[load.keys[1]] -= 1  # a refused transaction takes no nonce
        return answer

    wait_until(lambda: settlement_status(d)["settlement"]["safeBlock"] > 0, 30, "settlement under way")
    anvil.pause()
    try:
        before = int(w3.eth.block_number)
        refused = wait_until(
            lambda: (a := send()) and "error" in a and a, 30, "transactions refused", interval=0.3
        )
        assert refused["error"]["code"] == -32000
        assert (
            "not yet on L1" in refused["error"]["message"]
            and "max_backlog_blocks = 20" in refused["error"]["message"]
        )
        assert int(w3.eth.block_number) > before + 6  # the unsafe head went on meanwhile
        assert requests.get(metrics_url(d) + "/health", timeout=5).status_code == 503
        wait_until(
            lambda: settlement_status(d)["settlement"]["l1Reachable"] is False, 15, "the outage noticed"
        )
    finally:
        anvil.resume()
    wait_until(lambda: "result" in send(), 60, "transactions to be accepted again", interval=0.5)
    assert requests.get(metrics_url(d) + "/health", timeout=5).status_code == 200
    assert "L1 reachable again" in d.log() and "accepting transactions again" in d.log()


def test_a_batcher_out_of_funds_raises_the_alarm_and_recovers_when_funded(
    anvil: Anvil, tmp_path: Path, started: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    broke = Account.create()
    path = deploy_settlement(anvil, tmp_path / "l1.toml", "--batcher", broke.address)
    monkeypatch.setenv("SEQUENCER_BATCHER_KEY", "0x" + bytes(broke.key).hex())
    d = sequencer(tmp_path, path, started)
    alarm = wait_until(lambda: settlement_status(d)["settlement"]["batcher"]["alarm"], 20, "the funds alarm")
    assert "fund it" in alarm and broke.address in alarm
    assert requests.get(metrics_url(d) + "/health", timeout=5).status_code == 503
    assert "settlement_batcher_balance_wei 0.0" in requests.get(metrics_url(d) + "/metrics", timeout=5).text
    assert "batcher_key_from=SEQUENCER_BATCHER_KEY" in d.log()
    assert "result" in request(
        w3_of(d), "eth_sendRawTransactionSync", [MixedLoad(w3_of(d)).transfer()]
    )  # sequencing
    anvil.rpc("anvil_setBalance", [broke.address, hex(10**19)])
    wait_until(
        lambda: settlement_status(d)["settlement"]["batcher"]["alarm"] is None, 20, "the alarm to clear"
    )
    wait_until(lambda: settlement_status(d)["settlement"]["safeBlock"] > 0, 30, "batches on L1")
    assert requests.get(metrics_url(d) + "/health", timeout=5).status_code == 200


def test_an_l1_reorg_that_drops_a_batch_gets_it_posted_again_and_derivation_follows(
    anvil: Anvil, tmp_path: Path, started: list[Any]
) -> None:
    path = deploy_settlement(anvil, tmp_path / "l1.toml", batcher={"origin_depth": 4})
    settlement: Settlement = load_settlement(path)
    d = sequencer(tmp_path, path, started)
    w3 = w3_of(d)
    MixedLoad(w3).run(rounds=3)
    wait_until(lambda: settlement_status(d)["settlement"]["safeBlock"] >= 6, 30, "batches on L1")
    deriver = start_deriver(path, tmp_path / "derive")
    started.append(deriver)
    wait_until(lambda: deriver.status()["height"] >= 6, 30, "derivation under way")
    l1 = anvil.w3()
    anvil.rpc("evm_setIntervalMining", [0])  # hold L1 still while the verifier reads to its head
    try:
        head = int(l1.eth.block_number)
        newest = max(p.l1_block for p in batches_on_l1(l1, settlement))
        assert head - newest < 3
        wait_until(lambda: deriver.status()["l1Height"] >= head, 30, "the verifier to read the batch")
        anvil.rpc(
            "anvil_reorg", [head - newest + 1, []]
        )  # the blocks from the newest batch on, replaced empty
    finally:
        anvil.rpc("evm_setIntervalMining", [1])
    wait_until(lambda: "L1 reorg took out batch tx" in d.log(), 30, "the batcher to notice")
    l2_head = int(w3.eth.block_number)
    wait_until(
        lambda: settlement_status(d)["settlement"]["safeBlock"] >= l2_head, 40, "the batch posted again"
    )
    posted = batches_on_l1(l1, settlement)
    parents = [p.batch.parent_hash for p in posted][:l2_head]
    assert parents == [bytes(w3.eth.get_block(n)["hash"]) for n in range(l2_head)]
    assert len({p.batch.parent_hash for p in posted}) == len(posted)
    status = wait_until(lambda: reached(deriver, l2_head), 40, "derivation to follow")
    assert status["verdict"] == "ok"
    assert status["blockHash"] == "0x" + bytes(w3.eth.get_block(status["height"])["hash"]).hex()
    assert "derivation rolls back" in deriver.log()
    assert re.search(
        r"settlement_l1_reorgs_total [1-9]", requests.get(metrics_url(d) + "/metrics", timeout=5).text
    )


def test_a_batch_transaction_not_included_in_time_is_re_signed_with_bumped_fees_and_lands_once(
    anvil: Anvil, tmp_path: Path, started: list[Any]
) -> None:
    path = deploy_settlement(anvil, tmp_path / "l1.toml", batcher={"resubmit_after_s": 1})
    settlement = load_settlement(path)
    batcher = "0x" + settlement.roles.batcher.hex()
    d = sequencer(tmp_path, path, started)
    wait_until(lambda: settlement_status(d)["settlement"]["safeBlock"] > 0, 30, "settlement under way")
    anvil.rpc("evm_setIntervalMining", [0])
    try:
        first = wait_until(
            lambda: anvil.rpc("txpool_content", [])["pending"].get(batcher), 20, "a batch waiting"
        )
        nonce, tx = min(first.items(), key=lambda item: int(item[0]))
        bumped = wait_until(
            lambda: (
                (now := anvil.rpc("txpool_content", [])["pending"].get(batcher, {}).get(nonce))
                and int(now["maxFeePerGas"], 16) > int(tx["maxFeePerGas"], 16)
                and now
            ),
            20,
            "the same nonce re-signed with a higher fee",
        )
        assert bumped["input"] == tx["input"] and int(bumped["maxPriorityFeePerGas"], 16) > int(
            tx["maxPriorityFeePerGas"], 16
        )
    finally:
        anvil.rpc("evm_setIntervalMining", [1])
    metrics = requests.get(metrics_url(d) + "/metrics", timeout=5).text
    assert re.search(r'settlement_batch_resubmissions_total\{reason="fee-bump"\} [1-9]', metrics)
    l2_head = int(w3_of(d).eth.block_number)
    wait_until(lambda: settlement_status(d)["settlement"]["safeBlock"] >= l2_head, 40, "the batches on L1")
    posted = batches_on_l1(anvil.w3(), settlement)
    parents = [p.batch.parent_hash for p in posted]
    assert len(set(parents)) == len(parents)
    assert parents[:l2_head] == [bytes(w3_of(d).eth.get_block(n)["hash"]) for n in range(l2_head)]
