"""Verifier processes following a real sequencer's feed (issue 5)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from eth_account import Account
from web3 import Web3

from tests.conftest import DEV_KEYS, DEVNET, ROOT, Daemon, _die_with_parent, load_artifact, start_daemon

CHAIN_ID = 1337
GWEI = 10**9


@dataclass
class VerifierProc:
    proc: subprocess.Popen[bytes]
    status_url: str
    data_dir: Path
    log_path: Path

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = requests.get(self.status_url + "/status", timeout=5).json()
        return data

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(15)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


def start_verifier(feed_url: str, data_dir: Path, *extra: str) -> VerifierProc:
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{data_dir.name}-{time.monotonic_ns()}.log"
    args = [
        sys.executable,
        "-m",
        "verifier.cli",
        "run",
        "--feed",
        feed_url,
        "--config",
        str(DEVNET),
        "--data-dir",
        str(data_dir),
        "--status-port",
        "0",
        *extra,
    ]
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=log_file,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=_die_with_parent,
        )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    m = re.search(r"status=(\S+)", line)
    assert m, f"verifier did not start: {line!r}\n{log_path.read_text()}"
    return VerifierProc(proc, m.group(1), data_dir, log_path)


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def send_load(w3: Web3, rounds: int = 5) -> None:
    """Transfers from several senders and ERC-20 transfers, as send-and-wait batches."""
    token_art = load_artifact("TestToken")
    deployer = Account.from_key(DEV_KEYS[0])
    nonces = {k: w3.eth.get_transaction_count(Account.from_key(k).address) for k in DEV_KEYS[:4]}

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
        nonces[key] += 1
        return "0x" + bytes(acct.sign_transaction(tx).raw_transaction).hex()

    factory = w3.eth.contract(abi=token_art["abi"], bytecode=token_art["bytecode"])
    deploy = w3.provider.make_request(
        "eth_sendRawTransactionSync",
        [raw(DEV_KEYS[0], data=factory.constructor(10**24).data_in_transaction, gas=2_000_000)],
    )["result"]
    token = w3.eth.contract(address=Web3.to_checksum_address(deploy["contractAddress"]), abi=token_art["abi"])
    for r in range(rounds):
        batch = [
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
        for answer in w3.provider.make_batch_request(batch):
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
        assert f"from seq {before['nextSeq']}" in again.log(), again.log()
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
        wait_until(
            lambda: seen.append(v.status()["height"]) or seen[-1] >= head, 180, "catch-up over 2000 blocks"
        )
        assert len(set(seen)) > 2, "progress is visible while catching up"
        assert v.status()["verdict"] == "ok"
        assert v.stop() == 0
    finally:
        d.stop()
