"""Verifier processes following a real sequencer's feed: they follow a loaded sequencer with
zero mismatches, resume after restarts, catch every fire-drill fault naming block, transaction and
field, split the work in shards, and serve reads as replicas."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_account import Account
from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.contracts import load_artifact
from tests.support.daemon import DEVNET, ROOT, Daemon, start_daemon
from tests.support.rpc import batch, request
from tests.support.verifier import start_verifier

CHAIN_ID = 1337
GWEI = 10**9


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def send_load(w3: Web3, rounds: int = 5) -> None:
    """Transfers from several senders and ERC-20 transfers, as send-and-wait batches."""
    token_art = load_artifact("TestToken")
    deployer = Account.from_key(DEV_KEYS[0])
    nonces: dict[str, int] = {
        k: w3.eth.get_transaction_count(Account.from_key(k).address) for k in DEV_KEYS[:4]
    }

    def raw(key: str, **fields: Any) -> str:
        acct = Account.from_key(key)
        tx = {
            "chainId": CHAIN_ID,
            "nonce": nonces[key],
            "gas": 21_000,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": 0,
            "type": 2,
            "value": 0,
            **fields,
        }
        nonces[key] = nonces[key] + 1
        return "0x" + bytes(acct.sign_transaction(tx).raw_transaction).hex()

    factory = w3.eth.contract(abi=token_art["abi"], bytecode=token_art["bytecode"])
    deploy = request(
        w3,
        "eth_sendRawTransactionSync",
        [raw(DEV_KEYS[0], data=factory.constructor(10**24).data_in_transaction, gas=2_000_000)],
    )["result"]
    token = w3.eth.contract(address=Web3.to_checksum_address(deploy["contractAddress"]), abi=token_art["abi"])
    for r in range(rounds):
        calls = [
            ("eth_sendRawTransaction", [raw(DEV_KEYS[1], to=Account.create().address, value=r + 1)]),
            ("eth_sendRawTransaction", [raw(DEV_KEYS[2], to=deployer.address, value=7)]),
            (
                "eth_sendRawTransaction",
                [
                    raw(
                        DEV_KEYS[0],
                        to=token.address,
                        gas=100_000,
                        data=token.encode_abi("transfer", [Account.create().address, r + 1]),
                    )
                ],
            ),
            (
                "eth_sendRawTransaction",
                [
                    raw(
                        DEV_KEYS[3],
                        to=token.address,
                        gas=100_000,
                        data=token.encode_abi("transfer", [deployer.address, 1]),
                    )
                ],
            ),
        ]  # reverts
        for answer in batch(w3, calls):
            assert "result" in answer, answer
        time.sleep(0.05)


def test_two_verifiers_follow_a_loaded_sequencer_with_zero_mismatches(
    daemon_factory: Any, tmp_path: Path
) -> None:
    d: Daemon = daemon_factory("--evm-block-ms", "200")
    w3 = Web3(Web3.HTTPProvider(d.url))
    v1 = start_verifier(d.feed_url, tmp_path / "v1")
    v2 = start_verifier(d.feed_url, tmp_path / "v2")
    try:
        send_load(w3, rounds=8)
        time.sleep(0.5)
        head = w3.eth.block_number
        for v in (v1, v2):
            wait_until(lambda v=v: v.status()["height"] >= head, 30, "the verifier to reach the head")
            status = v.status()
            assert status["verdict"] == "ok" and status["mismatches"] == []
            assert status["verifiedTxs"] >= 33
            metrics = requests.get(v.status_url + "/metrics", timeout=5).text
            assert "verifier_mismatches_total 0.0" in metrics
            assert re.search(r"verifier_verified_total [1-9]", metrics)
    finally:
        assert v1.stop() == 0, v1.log()
        assert v2.stop() == 0, v2.log()
    cli = subprocess.run(
        [sys.executable, "-m", "verifier.cli", "status", "--data-dir", str(tmp_path / "v1"), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )
    assert cli.returncode == 0 and json.loads(cli.stdout)["verdict"] == "ok"


def test_a_restarted_verifier_resumes_from_its_own_progress(daemon_factory: Any, tmp_path: Path) -> None:
    d: Daemon = daemon_factory("--evm-block-ms", "100")
    w3 = Web3(Web3.HTTPProvider(d.url))
    v = start_verifier(d.feed_url, tmp_path / "v")
    send_load(w3, rounds=3)
    wait_until(lambda: v.status()["height"] >= w3.eth.block_number, 30, "catch-up")
    v.stop(signal.SIGKILL)  # mid-stream, no goodbye
    before = json.loads(
        subprocess.run(
            [sys.executable, "-m", "verifier.cli", "status", "--data-dir", str(tmp_path / "v"), "--json"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=30,
        ).stdout
    )
    send_load(w3, rounds=3)
    again = start_verifier(d.feed_url, tmp_path / "v")
    try:
        wait_until(lambda: again.status()["height"] >= w3.eth.block_number, 30, "resumed catch-up")
        assert f"from_seq={before['nextSeq']}" in again.log(), again.log()
        status = again.status()
        assert status["verdict"] == "ok"
        assert (
            status["verifiedTxs"] == before["verifiedTxs"] + 12
            or status["verifiedTxs"] > before["verifiedTxs"]
        )
    finally:
        assert again.stop() == 0, again.log()


def test_a_late_verifier_catches_up_from_genesis_over_2000_blocks(
    daemon_factory: Any, tmp_path: Path
) -> None:
    d: Daemon = daemon_factory("--evm-block-ms", "2", "--mini-block-ms", "1")
    w3 = Web3(Web3.HTTPProvider(d.url))
    send_load(w3, rounds=2)
    wait_until(lambda: w3.eth.block_number >= 2000, 120, "2000 blocks")
    d.stop()  # a fixed chain to catch up with: restart the sequencer with slow blocks
    d = start_daemon(d.data_dir, "--evm-block-ms", "60000")
    try:
        head = Web3(Web3.HTTPProvider(d.url)).eth.block_number
        v = start_verifier(d.feed_url, tmp_path / "late")
        seen: list[int] = []

        def caught_up() -> bool:
            seen.append(v.status()["height"])
            return seen[-1] >= head

        wait_until(caught_up, 180, "catch-up over 2000 blocks")
        assert len(set(seen)) > 2, "progress is visible while catching up"
        assert v.status()["verdict"] == "ok"
        assert v.stop() == 0
    finally:
        d.stop()


EXPECTED_VERDICTS = {
    # kind: (field, mini-block number or None, tx index or None, block-level?)
    "balance": ("stateDiff.balance", 1, None),
    "storage": ("stateDiff.storage", 2, None),
    "receipt-gas": ("receipt.gasUsed", 1, 0),
    "receipt-status": ("receipt.status", 1, 0),
    "log": ("receipt.logs", 2, 0),
    "drop-tx": ("miniBlock.gasUsed", 1, None),
    "reorder-tx": ("receipt.transactionIndex", 2, 0),
    "skip-seq": ("stream.seq", None, None),
    "state-root": ("block.stateRoot", None, None),
}


def fire_drill_workload(w3: Web3) -> tuple[dict[int, float], dict[int, int]]:
    """mini-block 0: a deployment; 1: one transfer; 2: an event-emitting storage write and a
    transfer together. Returns when each mini-block was known sealed (epoch seconds) and the
    EVM block each belongs to."""
    key = DEV_KEYS[0]
    acct = Account.from_key(key)
    art = load_artifact("Reverter")
    nonce = 0

    def raw(**fields: Any) -> str:
        nonlocal nonce
        tx = {
            "chainId": CHAIN_ID,
            "nonce": nonce,
            "gas": 21_000,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": 0,
            "type": 2,
            "value": 0,
            **fields,
        }
        nonce += 1
        return "0x" + bytes(acct.sign_transaction(tx).raw_transaction).hex()

    sealed: dict[int, float] = {}
    owner: dict[int, int] = {}
    deploy = request(w3, "eth_sendRawTransactionSync", [raw(data=art["bytecode"], gas=1_000_000)])
    sealed[0], owner[0] = time.time(), int(deploy["result"]["blockNumber"], 16)
    contract = w3.eth.contract(
        address=Web3.to_checksum_address(deploy["result"]["contractAddress"]), abi=art["abi"]
    )
    transfer = request(w3, "eth_sendRawTransactionSync", [raw(to=Account.create().address, value=5)])
    sealed[1], owner[1] = time.time(), int(transfer["result"]["blockNumber"], 16)
    # right after a seal: the next mini-block is an interval away, so both land in it
    calls = [
        (
            "eth_sendRawTransaction",
            [raw(to=contract.address, data=contract.encode_abi("increment", []), gas=100_000)],
        ),
        ("eth_sendRawTransaction", [raw(to=Account.create().address, value=6)]),
    ]
    hashes = [a["result"] for a in batch(w3, calls)]
    receipts = [w3.eth.wait_for_transaction_receipt(h, timeout=10, poll_latency=0.005) for h in hashes]
    sealed[2], owner[2] = time.time(), receipts[0]["blockNumber"]
    assert receipts[0]["blockNumber"] == receipts[1]["blockNumber"]
    return sealed, owner


@pytest.mark.parametrize("kind", sorted(EXPECTED_VERDICTS))
def test_the_fire_drill_is_caught_naming_block_transaction_and_field(
    daemon_factory: Any, tmp_path: Path, kind: str
) -> None:
    d: Daemon = daemon_factory("--evm-block-ms", "400", "--mini-block-ms", "150", "--dev-fault", f"{kind}@1")
    w3 = Web3(Web3.HTTPProvider(d.url))
    v = start_verifier(d.feed_url, tmp_path / "v")
    sealed, owner = fire_drill_workload(w3)
    block_sealed_at = None
    deadline = time.monotonic() + 10
    while True:
        if block_sealed_at is None and w3.eth.block_number >= 1:
            block_sealed_at = time.time()
        if v.proc.poll() is not None:
            break
        assert time.monotonic() < deadline, f"no verdict for {kind}\n{v.log()}"
        time.sleep(0.02)
    assert v.proc.returncode == 3, v.log()
    v.stop()
    (verdict,) = json.loads(
        subprocess.run(
            [sys.executable, "-m", "verifier.cli", "status", "--data-dir", str(v.data_dir), "--json"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=30,
        ).stdout
    )["mismatches"]
    field, mini, tx = EXPECTED_VERDICTS[kind]
    assert verdict["field"] == field, verdict
    assert verdict["tx_index"] == tx, verdict
    if kind == "state-root":
        assert verdict["evm_block"] == 1
        assert block_sealed_at is not None and verdict["detected_at"] - block_sealed_at < 1.0
    elif kind == "skip-seq":
        assert int(verdict["claimed"]) == int(verdict["recomputed"]) + 1, "the gap is named"
    else:
        assert mini is not None and verdict["mini_block"] == mini, verdict
        assert verdict["evm_block"] == owner[mini], verdict
        assert verdict["detected_at"] - sealed[mini] < 1.0, (verdict, sealed)
    verdict_lines = [line for line in v.log().splitlines() if 'msg="VERDICT"' in line]
    assert len(verdict_lines) == 1 and f" field={field} " in verdict_lines[0], "one line, fields as fields"


def test_two_shards_split_the_work_and_together_verify_everything(
    daemon_factory: Any, tmp_path: Path
) -> None:
    d: Daemon = daemon_factory("--evm-block-ms", "200")
    w3 = Web3(Web3.HTTPProvider(d.url))
    shards = [start_verifier(d.feed_url, tmp_path / f"s{i}", "--shard", f"{i}/2") for i in range(2)]
    try:
        send_load(w3, rounds=6)
        time.sleep(0.5)
        head = w3.eth.block_number
        total = sum(len(w3.eth.get_block(n)["transactions"]) for n in range(head + 1))
        for s in shards:
            wait_until(lambda s=s: s.status()["height"] >= head, 30, "a shard to reach the head")
        statuses = [s.status() for s in shards]
        assert all(st["verdict"] == "ok" for st in statuses)
        assert [st["mode"] for st in statuses] == ["shard 0/2", "shard 1/2"]
        executed = [st["verifiedTxs"] for st in statuses]
        assert all(0 < n < total for n in executed), executed
        assert sum(executed) == total, "every transaction re-executed by exactly one shard"
    finally:
        for s in shards:
            assert s.stop() == 0, s.log()


def test_the_shard_that_owns_a_mini_block_catches_its_fault(daemon_factory: Any, tmp_path: Path) -> None:
    d: Daemon = daemon_factory(
        "--evm-block-ms", "400", "--mini-block-ms", "150", "--dev-fault", "receipt-gas@1"
    )
    w3 = Web3(Web3.HTTPProvider(d.url))
    owner = start_verifier(d.feed_url, tmp_path / "owner", "--shard", "1/2")
    fire_drill_workload(w3)
    wait_until(lambda: owner.proc.poll() is not None, 10, "the owning shard's verdict")
    assert owner.proc.returncode == 3
    verdict = json.loads(
        subprocess.run(
            [sys.executable, "-m", "verifier.cli", "status", "--data-dir", str(owner.data_dir), "--json"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=30,
        ).stdout
    )["mismatches"][0]
    assert (verdict["field"], verdict["mini_block"], verdict["tx_index"]) == ("receipt.gasUsed", 1, 0)
    owner.stop()


def test_a_replica_follows_without_executing_and_answers_reads(daemon_factory: Any, tmp_path: Path) -> None:
    d: Daemon = daemon_factory("--evm-block-ms", "200")
    w3 = Web3(Web3.HTTPProvider(d.url))
    replica = start_verifier(d.feed_url, tmp_path / "replica", "--replica")
    try:
        send_load(w3, rounds=3)
        time.sleep(0.5)
        head = w3.eth.block_number
        wait_until(lambda: replica.status()["height"] >= head, 30, "the replica to reach the head")
        status = replica.status()
        assert status["mode"] == "replica" and status["verdict"] == "ok" and status["verifiedTxs"] == 0
        reader = Web3(Web3.HTTPProvider(replica.status_url))
        for key in DEV_KEYS[:4]:
            address = Account.from_key(key).address
            assert reader.eth.get_balance(address) == w3.eth.get_balance(address, head)
            assert reader.eth.get_transaction_count(address) == w3.eth.get_transaction_count(address, head)
    finally:
        assert replica.stop() == 0, replica.log()


def test_a_verifier_rebuilds_a_generated_accounts_genesis_and_agrees(
    daemon_factory: Any, tmp_path: Path
) -> None:
    """``chain.generated_accounts = N``: the verifier builds the same genesis from its own config
    (the feed's generation rule is not trusted), and transfers to generated accounts verify."""
    from sequencer.genesis import generated_address

    config = tmp_path / "generated.toml"
    config.write_text(DEVNET.read_text().replace("# generated_accounts = 0", "generated_accounts = 300"))
    d: Daemon = daemon_factory("--evm-block-ms", "100", config=config)
    w3 = Web3(Web3.HTTPProvider(d.url))
    v = start_verifier(d.feed_url, tmp_path / "v", config=config)
    try:
        sender = Account.from_key(DEV_KEYS[5])
        nonce = w3.eth.get_transaction_count(sender.address)
        for i in range(3):
            tx = {
                "chainId": CHAIN_ID,
                "nonce": nonce + i,
                "to": Web3.to_checksum_address(generated_address(100 + i)),
                "value": 5,
                "gas": 21_000,
                "maxFeePerGas": 10 * GWEI,
                "maxPriorityFeePerGas": 0,
                "type": 2,
            }
            raw = "0x" + bytes(sender.sign_transaction(tx).raw_transaction).hex()
            assert request(w3, "eth_sendRawTransactionSync", [raw])["result"]["status"] == "0x1"
        wait_until(lambda: v.status()["height"] >= w3.eth.block_number, 60, "verifier catch-up")
        status = v.status()
        assert status["verdict"] == "ok", v.log()
        assert status["verifiedTxs"] >= 3
    finally:
        assert v.stop() == 0, v.log()


NEW_RULES = {
    # kind: the field every verifier names (at mini-block 1, but genesis)
    "base-fee": "miniBlock.env.baseFee",
    "timestamp": "miniBlock.env.timestamp",
    "gas-limit": "miniBlock.env.gasLimit",
    "coinbase": "miniBlock.env.coinbase",
    "genesis": "genesis.hash",
    "mini-block-hash": "miniBlock.hash",
    "relabel-number": "miniBlock.number",
    "forged-signature": "miniBlock.signature",
}


@pytest.mark.parametrize("kind", sorted(NEW_RULES))
def test_the_fire_drill_of_the_chain_rules_is_caught_by_unsharded_and_sharded_verifiers(
    daemon_factory: Any, tmp_path: Path, kind: str
) -> None:
    """The sequencer itself lies (its own key signs the lie): an unsharded verifier and a shard
    that does not re-execute the lying mini-block both name the block, the mini-block, the field,
    the claim and the recomputed value, within a second of the mini-block being sealed."""
    d: Daemon = daemon_factory("--evm-block-ms", "400", "--mini-block-ms", "150", "--dev-fault", f"{kind}@1")
    w3 = Web3(Web3.HTTPProvider(d.url))
    # shard 0 of 2 does not re-execute mini-block 1: the rules are checked without re-execution
    modes = {"unsharded": (), "shard-0": ("--shard", "0/2")}
    verifiers = {name: start_verifier(d.feed_url, tmp_path / name, *args) for name, args in modes.items()}
    try:
        sealed, owner = fire_drill_workload(w3) if kind != "genesis" else ({}, {})
        for name, v in verifiers.items():
            wait_until(lambda v=v: v.proc.poll() is not None, 15, f"{name}'s verdict for {kind}")
            assert v.proc.returncode == 3, v.log()
    finally:
        for v in verifiers.values():
            v.stop()
    for name, v in verifiers.items():
        (verdict,) = json.loads(
            subprocess.run(
                [sys.executable, "-m", "verifier.cli", "status", "--data-dir", str(v.data_dir), "--json"],
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=30,
            ).stdout
        )["mismatches"]
        assert verdict["field"] == NEW_RULES[kind], (name, verdict)
        assert verdict["claimed"] != verdict["recomputed"], verdict
        if kind == "genesis":
            assert (verdict["evm_block"], verdict["seq"]) == (0, 0)
        else:
            assert (verdict["mini_block"], verdict["evm_block"]) == (1, owner[1]), (name, verdict)
            assert verdict["detected_at"] - sealed[1] < 1.0, (name, verdict, sealed)


def test_two_worker_processes_re_execute_everything(daemon_factory: Any, tmp_path: Path) -> None:
    """``--workers 2``: every transaction re-executed once, in the verifier's process or its
    forked worker, and the verdict stays ok."""
    d: Daemon = daemon_factory("--evm-block-ms", "200")
    w3 = Web3(Web3.HTTPProvider(d.url))
    v = start_verifier(d.feed_url, tmp_path / "v", "--workers", "2")
    try:
        send_load(w3, rounds=6)
        time.sleep(0.5)
        head = w3.eth.block_number
        total = sum(len(w3.eth.get_block(n)["transactions"]) for n in range(head + 1))
        wait_until(lambda: v.status()["height"] >= head, 30, "the verifier to reach the head")
        status = v.status()
        assert status["verdict"] == "ok" and status["verifiedTxs"] == total, status
    finally:
        assert v.stop() == 0, v.log()


@pytest.mark.parametrize(
    "mini_block", [1, 2], ids=["in-the-forked-worker's-share", "in-the-main-process's-share"]
)
def test_two_worker_processes_catch_a_lie_in_either_share(
    daemon_factory: Any, tmp_path: Path, mini_block: int
) -> None:
    """A receipt the stream lies about stops a ``--workers 2`` verifier naming it, whichever of
    the two processes re-executed its mini-block (odd numbers: the worker; even: the main one)."""
    liar: Daemon = daemon_factory(
        "--evm-block-ms", "400", "--mini-block-ms", "150", "--dev-fault", f"receipt-status@{mini_block}"
    )
    v = start_verifier(liar.feed_url, tmp_path / "v2", "--workers", "2")
    fire_drill_workload(Web3(Web3.HTTPProvider(liar.url)))
    wait_until(lambda: v.proc.poll() is not None, 15, "the verdict")
    assert v.proc.returncode == 3, v.log()
    verdict = json.loads(
        subprocess.run(
            [sys.executable, "-m", "verifier.cli", "status", "--data-dir", str(v.data_dir), "--json"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=30,
        ).stdout
    )["mismatches"][0]
    assert (verdict["field"], verdict["mini_block"], verdict["tx_index"]) == ("receipt.status", mini_block, 0)
    v.stop()


def test_a_verifier_killed_at_random_moments_never_gives_a_false_verdict(
    daemon_factory: Any, tmp_path: Path
) -> None:
    """kill -9 while the sequencer is loaded, five times: each restart resumes from a boundary
    committed with its state, and the verifier ends at the head with every transaction verified
    once and no verdict."""
    import random

    from tests.support.loadgen import Load

    d: Daemon = daemon_factory("--evm-block-ms", "100")
    w3 = Web3(Web3.HTTPProvider(d.url))
    load = Load(d.url, DEV_KEYS[4:8])
    load.start()
    rng = random.Random(13)
    try:
        for _ in range(5):
            v = start_verifier(d.feed_url, tmp_path / "v")
            time.sleep(rng.uniform(0.3, 1.5))
            assert v.proc.poll() is None, v.log()
            v.stop(signal.SIGKILL)
    finally:
        load.stop()
    time.sleep(0.5)
    head = w3.eth.block_number
    total = sum(len(w3.eth.get_block(n)["transactions"]) for n in range(head + 1))
    v = start_verifier(d.feed_url, tmp_path / "v")
    try:
        wait_until(lambda: v.status()["height"] >= head, 60, "catch-up after the kills")
        status = v.status()
        assert status["verdict"] == "ok" and status["mismatches"] == [], v.log()
        assert status["verifiedTxs"] == total > 0, (status, total)
    finally:
        assert v.stop() == 0, v.log()
