"""Settlement in tests: deploy with the real command, read what went to L1, derive with the real
verifier, and put a mixed load (transfers and ERC-20 calls) on the sequencer."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3

from sequencer.settlement.channels import Batch, decode_calldata, decode_channel
from sequencer.settlement.settings import Settlement
from tests.support.accounts import DEV_KEYS
from tests.support.anvil import Anvil
from tests.support.contracts import load_artifact
from tests.support.daemon import DEVNET, ROOT, die_with_parent
from tests.support.rpc import batch, request
from tests.support.verifier import VerifierProc

CHAIN_ID = 1337
GWEI = 10**9
FAST_BATCHER = {"max_delay_ms": 400, "origin_depth": 1, "poll_interval_ms": 100, "resubmit_after_s": 6}


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll until ``predicate()`` is truthy; its value (fails naming ``what`` after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(interval)


def deploy_settlement(
    anvil: Anvil, out: Path, *extra: str, output_interval: int = 4, batcher: dict[str, Any] | None = None
) -> Path:
    """``sequencer l1 deploy`` on ``anvil``, then the [batcher] settings set to ``batcher``
    (fast, test-sized defaults: :data:`FAST_BATCHER`)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sequencer.cli",
            "l1",
            "deploy",
            "--l1-rpc",
            anvil.url,
            "--key",
            DEV_KEYS[0],
            "--out",
            str(out),
            "--config",
            str(DEVNET),
            "--output-interval",
            str(output_interval),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    for key, value in {**FAST_BATCHER, **(batcher or {})}.items():
        text, n = re.subn(rf"(?m)^{key} = [^#\n]*", f"{key} = {value}", text, count=1)  # [batcher] is first
        assert n == 1, key
    out.write_text(text)
    return out


@dataclass(frozen=True)
class PostedBatch:
    """A batch found on L1 and the L1 transaction whose frame completed its channel."""

    l1_block: int
    l1_tx: str
    batch: Batch


def batches_on_l1(w3: Web3, settlement: Settlement) -> list[PostedBatch]:
    """Every batch the batcher posted to the inbox on the canonical L1, in L1 order (channels
    assembled from their frames, in any number of transactions)."""
    inbox = settlement.contracts.batch_inbox
    batcher = settlement.roles.batcher
    pending: dict[bytes, dict[int, bytes]] = {}
    closing: dict[bytes, int] = {}
    found: list[PostedBatch] = []
    for number in range(settlement.l1.start_block, int(w3.eth.block_number) + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            assert not isinstance(tx, bytes)
            to, sender = tx.get("to"), tx["from"]
            if not to or bytes.fromhex(str(to)[2:]) != inbox or bytes.fromhex(str(sender)[2:]) != batcher:
                continue
            for frame in decode_calldata(bytes(tx["input"])):
                pending.setdefault(frame.channel_id, {})[frame.number] = frame.data
                if frame.is_last:
                    closing[frame.channel_id] = frame.number
                last = closing.get(frame.channel_id)
                frames = pending[frame.channel_id]
                if last is not None and set(frames) >= set(range(last + 1)):
                    data = b"".join(frames[i] for i in range(last + 1))
                    del pending[frame.channel_id]
                    for b in decode_channel(data):
                        found.append(PostedBatch(number, "0x" + bytes(tx["hash"]).hex(), b))
    return found


def reached(proc: VerifierProc, height: int) -> dict[str, Any] | None:
    """A verifier's status once its height is at least ``height`` (``None`` before)."""
    status = proc.status()
    return status if status["height"] >= height else None


def start_deriver(settlement_path: Path, data_dir: Path, *extra: str) -> VerifierProc:
    """``verifier run --derive`` from the settlement file and the devnet config; waits for its
    ``status=`` line."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{data_dir.name}-{time.monotonic_ns()}.log"
    args = [
        sys.executable,
        "-m",
        "verifier.cli",
        "run",
        "--derive",
        "--l1",
        str(settlement_path),
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
            preexec_fn=die_with_parent,
        )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    m = re.search(r"status=(\S+)", line)
    assert m, f"derivation verifier did not start: {line!r}\n{log_path.read_text()}"
    return VerifierProc(proc, m.group(1), data_dir, log_path)


class MixedLoad:
    """Transfers and ERC-20 calls from the dev accounts, nonces tracked here."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self.keys = DEV_KEYS[:4]
        self.nonces = {k: int(w3.eth.get_transaction_count(Account.from_key(k).address)) for k in self.keys}
        art = load_artifact("TestToken")
        factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        created = request(
            w3,
            "eth_sendRawTransactionSync",
            [self.raw(self.keys[0], data=factory.constructor(10**24).data_in_transaction, gas=2_000_000)],
        )["result"]
        self.token = w3.eth.contract(
            address=Web3.to_checksum_address(created["contractAddress"]), abi=art["abi"]
        )
        self.sent: list[str] = [created["transactionHash"]]

    def raw(self, key: str, **fields: Any) -> str:
        tx = {
            "chainId": CHAIN_ID,
            "nonce": self.nonces[key],
            "gas": 21_000,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": 0,
            "type": 2,
            "value": 0,
            **fields,
        }
        self.nonces[key] += 1
        return "0x" + bytes(Account.from_key(key).sign_transaction(tx).raw_transaction).hex()

    def transfer(self, key_index: int = 1) -> str:
        """A signed 1-wei transfer to a fresh address (its nonce taken)."""
        return self.raw(self.keys[key_index], to=Account.create().address, value=1)

    def round(self, r: int = 0) -> None:
        """Two transfers and two ERC-20 transfers, in one JSON-RPC batch."""
        to = Account.create().address
        calls = [
            ("eth_sendRawTransaction", [self.raw(self.keys[1], to=to, value=r + 1)]),
            ("eth_sendRawTransaction", [self.raw(self.keys[2], to=to, value=7)]),
            (
                "eth_sendRawTransaction",
                [
                    self.raw(
                        self.keys[0],
                        to=self.token.address,
                        gas=100_000,
                        data=self.token.encode_abi("transfer", [to, r + 1]),
                    )
                ],
            ),
            (
                "eth_sendRawTransaction",
                [
                    self.raw(
                        self.keys[3],
                        to=self.token.address,
                        gas=100_000,
                        data=self.token.encode_abi("transfer", [to, 1]),
                    )
                ],
            ),  # reverts: account 3 holds no tokens
        ]
        for answer in batch(self.w3, calls):
            assert "result" in answer, answer
            self.sent.append(answer["result"])

    def run(self, rounds: int, pause_s: float = 0.05) -> None:
        for r in range(rounds):
            self.round(r)
            time.sleep(pause_s)
