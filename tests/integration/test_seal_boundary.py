"""Specification: every answer is consistent across the seal of an EVM block.

A transaction alone in its EVM block (so its mini-block is the block's last) is read every few
milliseconds, from the moment its receipt exists until well after its block is sealed: its
receipt, its block by number, the logs of that block, ``pending`` and ``latest``. Each read is
one JSON-RPC batch whose requests start in order, so a seal can fall between two of them but
not go backwards: once one answer shows the block sealed, every later answer (in the batch and
after it) shows it sealed, with the same real hash, and none ever shows the block missing.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from eth_account import Account
from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.contracts import load_artifact
from tests.support.daemon import Daemon, start_daemon

PLACEHOLDER = "0x" + "ff" * 32
EVM_BLOCK_MS = 300
ROUNDS = 4
READ_EVERY_S = 0.003
KEY = DEV_KEYS[4]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Any:
    daemon = start_daemon(tmp_path_factory.mktemp("seal") / "data", "--evm-block-ms", str(EVM_BLOCK_MS))
    yield daemon
    daemon.stop()


def batch(session: requests.Session, url: str, calls: list[tuple[str, list[Any]]]) -> list[Any]:
    body: list[Any] = [
        {"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)
    ]
    answers = sorted(session.post(url, json=body, timeout=10).json(), key=lambda a: a["id"])
    assert all("result" in a for a in answers), answers
    return [a["result"] for a in answers]


class Observer:
    """Checks each answer about block N against what earlier answers showed."""

    def __init__(self, number: str, tx_hash: str) -> None:
        self.number, self.tx_hash = number, tx_hash
        self.sealed_hash: str | None = None
        self.reads = 0

    def saw(self, block_hash: str | None, what: str) -> None:
        """One answer's view of block N's hash: the placeholder/None while open, the real one after."""
        if block_hash in (None, PLACEHOLDER):
            assert self.sealed_hash is None, f"{what} went back to the open block after the seal"
        elif self.sealed_hash is None:
            self.sealed_hash = block_hash
        else:
            assert block_hash == self.sealed_hash, f"{what} shows another hash"

    def check(self, receipt: Any, block: Any, logs: Any, pending: Any, latest: Any) -> None:
        self.reads += 1
        assert receipt is not None and receipt["blockNumber"] == self.number and receipt["status"] == "0x1"
        self.saw(receipt["blockHash"], "the receipt")
        assert all(log["blockHash"] == receipt["blockHash"] for log in receipt["logs"])

        assert block is not None, "a fresh receipt's block is always served"
        assert block["number"] == self.number and self.tx_hash in block["transactions"]
        self.saw(block["hash"], "the block by number")

        (log,) = [log for log in logs if log["transactionHash"] == self.tx_hash]
        assert log["blockNumber"] == self.number
        self.saw(log["blockHash"], "eth_getLogs")

        n = int(self.number, 16)
        pending_number, latest_number = int(pending["number"], 16), int(latest["number"], 16)
        assert pending_number >= n, "pending is the open block N or a later one"
        if pending_number == n:
            self.saw(pending["hash"], "pending")  # null while open, the real hash once sealed
        elif pending_number == n + 1:
            # N was sealed, maybe between two requests of this batch: the open block's parent
            # is N's real hash
            assert pending["parentHash"] != PLACEHOLDER
            self.saw(pending["parentHash"], "pending's parent")
        else:
            assert self.sealed_hash is not None, "pending moved past N before N was sealed"
        assert latest_number >= n - 1
        if latest_number == n - 1:
            assert self.sealed_hash is None, "latest went back to the parent after the seal"
        elif latest_number == n:
            self.saw(latest["hash"], "latest")
        else:
            assert self.sealed_hash is not None


def test_answers_are_consistent_at_every_read_across_the_seal(node: Daemon) -> None:
    w3 = Web3(Web3.HTTPProvider(node.url))
    art = load_artifact("Reverter")
    sender = Account.from_key(KEY)
    nonce = w3.eth.get_transaction_count(sender.address)
    fees = {"chainId": 1337, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 0, "type": 2}
    deployed = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(
            sender.sign_transaction(
                {**fees, "nonce": nonce, "data": art["bytecode"], "gas": 1_000_000}
            ).raw_transaction
        ),
        timeout=10,
    )
    contract = w3.eth.contract(address=deployed["contractAddress"], abi=art["abi"])
    increment = contract.encode_abi("increment", [])
    session = requests.Session()
    sealed_reads = open_reads = 0
    for round_ in range(ROUNDS):
        # start right after a seal, so the transaction is alone in the next block
        start = w3.eth.block_number
        while w3.eth.block_number == start:
            time.sleep(0.005)
        tx = sender.sign_transaction(
            {**fees, "nonce": nonce + 1 + round_, "to": contract.address, "data": increment, "gas": 100_000}
        )
        sent = w3.eth.send_raw_transaction(tx.raw_transaction)
        tx_hash = sent.to_0x_hex()
        receipt = w3.eth.wait_for_transaction_receipt(sent, timeout=10, poll_latency=0.002)
        number = hex(receipt["blockNumber"])
        observer = Observer(number, tx_hash)
        deadline = time.monotonic() + 10
        after_seal = 0
        while after_seal < 20:
            assert time.monotonic() < deadline, "the block was not sealed in time"
            observer.check(
                *batch(
                    session,
                    node.url,
                    [
                        ("eth_getTransactionReceipt", [tx_hash]),
                        ("eth_getBlockByNumber", [number, False]),
                        (
                            "eth_getLogs",
                            [{"address": contract.address, "fromBlock": number, "toBlock": number}],
                        ),
                        ("eth_getBlockByNumber", ["pending", False]),
                        ("eth_getBlockByNumber", ["latest", False]),
                    ],
                )
            )
            if observer.sealed_hash is None:
                open_reads += 1
            else:
                after_seal += 1
                sealed_reads += 1
            time.sleep(READ_EVERY_S)
        sealed = w3.eth.get_block(receipt["blockNumber"])
        assert sealed["hash"].to_0x_hex() == observer.sealed_hash
        assert sealed["transactions"] == [sent], "alone in its block"
    assert open_reads > 0, "some reads saw the block open"
    assert sealed_reads == 20 * ROUNDS
