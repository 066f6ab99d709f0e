"""Attack: a transaction that runs forever, against the real daemon.

Specified here:

* A transaction with the largest gas limit the node accepts, calling a contract whose code
  loops forever, is aborted after the per-transaction time budget
  (``execution.tx_time_budget_ms``) and dropped: its sender, waiting with send-and-wait, is
  told why (code 5, the limit named); the drop is counted.
* Meanwhile, under a steady load from other senders, the chain keeps its cadence (mini-block
  interval p99 at most 3x the configured interval, or within twice the same load's p99 without
  the attack on a machine too busy for that) and their transactions keep being included.
* The abort leaves no trace: no receipt, the sender's nonce and balance and the contract's
  storage and balance untouched, nothing a verifier re-executing the feed disagrees with, and
  after a restart the transaction is neither pooled nor run again.
* Its sender is throttled: a new transaction is refused for ``execution.abort_cooldown_s``.
* A gas limit above ``execution.max_tx_gas`` is refused at once, naming the cap.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.attack import (
    LOOP_INITCODE,
    MAX_TX_GAS,
    MiniBlockWatch,
    PacedLoad,
    contract_address,
    p99,
    sign,
)
from tests.support.daemon import Daemon, start_daemon
from tests.support.rpc import request
from tests.support.verifier import start_verifier

MINI_BLOCK_MS = 10
ATTACKER = bytes.fromhex(DEV_KEYS[8][2:])
DEPLOYER = bytes.fromhex(DEV_KEYS[9][2:])


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def status(w3: Web3) -> dict[str, Any]:
    result: dict[str, Any] = request(w3, "sequencer_status", [])["result"]
    return result


def deploy_loop(w3: Web3) -> str:
    sender = Account.from_key(DEPLOYER).address
    nonce = w3.eth.get_transaction_count(sender)
    raw = sign(DEPLOYER, nonce, None, data=LOOP_INITCODE, gas=200_000)
    receipt = request(w3, "eth_sendRawTransactionSync", ["0x" + raw.hex()])["result"]
    assert receipt["status"] == "0x1"
    expected = "0x" + contract_address(bytes.fromhex(sender[2:]), nonce).hex()
    assert receipt["contractAddress"].lower() == expected
    return str(receipt["contractAddress"])


def test_a_transaction_that_loops_forever_is_aborted_and_leaves_no_trace(tmp_path: Path) -> None:
    data = tmp_path / "data"
    d: Daemon = start_daemon(data, "--mini-block-ms", str(MINI_BLOCK_MS), "--evm-block-ms", "500")
    verifier = start_verifier(d.feed_url, tmp_path / "verifier")
    w3 = Web3(Web3.HTTPProvider(d.url, request_kwargs={"timeout": 10}))
    try:
        loop = deploy_loop(w3)
        attacker = Account.from_key(ATTACKER).address
        nonce, balance = w3.eth.get_transaction_count(attacker), w3.eth.get_balance(attacker)

        too_big = sign(ATTACKER, nonce, bytes.fromhex(loop[2:]), gas=MAX_TX_GAS + 1)
        error = request(w3, "eth_sendRawTransaction", ["0x" + too_big.hex()])["error"]
        assert error["code"] == -32000
        assert error["message"] == (
            f"transaction gas limit too high: cap {MAX_TX_GAS} (execution.max_tx_gas), tx {MAX_TX_GAS + 1}"
        )

        keys = [bytes.fromhex(k[2:]) for k in DEV_KEYS[:4]]
        nonces = [int(w3.eth.get_transaction_count(Account.from_key(k).address)) for k in keys]
        attack = sign(ATTACKER, nonce, bytes.fromhex(loop[2:]), value=12345, gas=MAX_TX_GAS)
        with MiniBlockWatch(d.url) as watch, PacedLoad(d.url, keys, nonces, per_tick=3) as load:
            time.sleep(0.5)
            baseline_from = time.time()
            time.sleep(2)
            before = status(w3)
            acked_before = len(load.acked)
            attack_from = time.time()
            answer = request(w3, "eth_sendRawTransactionSync", ["0x" + attack.hex()])
            answered_in = time.time() - attack_from
            # enough mini-blocks for a p99 (nearest rank) that one stalled interval cannot set
            wait_until(lambda: len(watch.intervals_ms(attack_from, time.time())) >= 250, 20, "mini-blocks")
            attack_until = time.time()
            after = status(w3)
        assert not load.errors, load.errors[:3]

        error = answer["error"]
        assert error["code"] == 5, answer
        assert (
            "execution time budget exceeded: aborted after 150 ms (execution.tx_time_budget_ms)"
            in (error["message"])
        )
        assert error["data"] == "0x" + Web3.keccak(attack).hex().removeprefix("0x")
        assert answered_in < 2, "the sender hears at once, not after a timeout"
        assert after["droppedTxs"] == before["droppedTxs"] + 1
        # the cadence holds: the one mini-block that ran the loop took about the budget (unbounded,
        # the loop would have run for seconds), and the p99 stays within 3x the interval, or, on
        # a machine this busy, within twice what the same load gives without the attack
        baseline = watch.intervals_ms(baseline_from, attack_from)
        during = watch.intervals_ms(attack_from, attack_until)
        assert max(during) < 1000, max(during)
        assert p99(during) <= max(3 * MINI_BLOCK_MS, 2 * p99(baseline)), (p99(during), p99(baseline))
        # other senders' transactions kept being included while the loop was aborted
        included = sum(n for t, n in watch.stamps if attack_from <= t <= attack_until)
        assert included >= 250 and len(load.acked) > acked_before

        # aborted executions cost their sender nothing: it may not repeat one at once
        again = request(w3, "eth_sendRawTransaction", ["0x" + attack.hex()])["error"]
        assert again["code"] == -32000 and again["message"].startswith("sender throttled: ")
        assert "(execution.abort_cooldown_s)" in again["message"]

        # no trace: no receipt, state untouched
        tx_hash = "0x" + Web3.keccak(attack).hex().removeprefix("0x")
        assert request(w3, "eth_getTransactionReceipt", [tx_hash])["result"] is None
        assert request(w3, "eth_getTransactionByHash", [tx_hash])["result"] is None
        assert w3.eth.get_transaction_count(attacker) == nonce
        assert w3.eth.get_balance(attacker) == balance
        assert w3.eth.get_storage_at(Web3.to_checksum_address(loop), 0) == b"\x00" * 32
        assert w3.eth.get_balance(Web3.to_checksum_address(loop)) == 0
        # ... and nothing a verifier re-executing every mini-block disagrees with
        head = w3.eth.block_number + 1
        wait_until(lambda: w3.eth.block_number >= head, 10, "an EVM block after the attack")
        wait_until(lambda: verifier.status()["height"] >= head, 30, "the verifier to reach the head")
        assert verifier.status()["verdict"] == "ok" and verifier.status()["mismatches"] == []
    finally:
        verifier.stop()
        assert d.stop() == 0, d.log()
    assert d.log().count('reason="execution time budget exceeded') == 1

    again = start_daemon(data)
    try:
        w3 = Web3(Web3.HTTPProvider(again.url))
        time.sleep(0.3)  # a few mini-block intervals: a re-admitted transaction would run by now
        assert request(w3, "txpool_status", [])["result"] == {"pending": "0x0", "queued": "0x0"}
        assert w3.eth.get_transaction_count(attacker) == nonce
        assert status(w3)["droppedTxs"] == 0
    finally:
        assert again.stop() == 0
    assert "transaction dropped" not in again.log()
