"""Specification of batched submissions: a JSON-RPC batch of eth_sendRawTransaction calls is
decoded in the ingress worker process, and answers exactly as the same calls sent one by one."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.rpc import batch, request

CHAIN_ID = 1337
GWEI = 10**9


def signed(acct: Any, nonce: int, chain_id: int = CHAIN_ID) -> str:
    tx = {
        "chainId": chain_id,
        "nonce": nonce,
        "to": "0x" + "33" * 20,
        "value": 1,
        "gas": 21_000,
        "maxFeePerGas": 10 * GWEI,
        "maxPriorityFeePerGas": 0,
        "type": 2,
    }
    return "0x" + bytes(acct.sign_transaction(tx).raw_transaction).hex()


def check_batch(w3: Web3, acct: Any, first: int) -> list[Any]:
    """Send 40 transactions (nonces first..first+39) as one batch, with two bad ones at 5 and 9:
    each answer is what the same call alone gets."""
    raws = [signed(acct, first + i) for i in range(40)]
    bad = {5: "0x02c0ffee", 9: signed(acct, first + 9, chain_id=1)}
    expected_errors = {}
    for i, raw in bad.items():
        single = request(w3, "eth_sendRawTransaction", [raw])
        expected_errors[i] = single["error"]
        raws[i] = raw

    answers = batch(w3, [("eth_sendRawTransaction", [raw]) for raw in raws])

    assert len(answers) == 40
    for i, answer in enumerate(answers):
        if i in bad:
            assert answer["error"] == expected_errors[i]
        else:
            assert answer["result"] == "0x" + Web3.keccak(hexstr=raws[i]).hex().removeprefix("0x")
    return list(answers)


def wait_for_receipt(w3: Web3, tx_hash: str) -> None:
    deadline = time.monotonic() + 10
    while request(w3, "eth_getTransactionReceipt", [tx_hash])["result"] is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_batch_answers_like_single_calls_before_and_after_the_worker_is_up(daemon_factory: Any) -> None:
    d = daemon_factory()
    w3 = Web3(Web3.HTTPProvider(d.url))
    inline_sender, worker_sender = Account.from_key(DEV_KEYS[6]), Account.from_key(DEV_KEYS[8])
    # the first big batch is decoded inline while the worker starts
    first = w3.eth.get_transaction_count(inline_sender.address)
    answers = check_batch(w3, inline_sender, first)
    deadline = time.monotonic() + 60  # a start that hangs is killed and retried after 10 s
    while "ingress worker started" not in d.log():
        assert time.monotonic() < deadline, d.log()
        time.sleep(0.05)
    # then batches go through the worker
    worker_first = w3.eth.get_transaction_count(worker_sender.address)
    worker_answers = check_batch(w3, worker_sender, worker_first)
    # nonce first+5 never arrived: the transactions before it are included, the rest wait for it
    for acct, start, got in ((inline_sender, first, answers), (worker_sender, worker_first, worker_answers)):
        wait_for_receipt(w3, got[4]["result"])
        assert w3.eth.get_transaction_count(acct.address) == start + 5
        assert w3.eth.get_transaction_count(acct.address, "pending") == start + 5


def test_the_ingress_worker_exits_when_the_node_is_killed(daemon_factory: Any) -> None:
    d = daemon_factory()
    w3 = Web3(Web3.HTTPProvider(d.url))
    acct = Account.from_key(DEV_KEYS[7])
    first = w3.eth.get_transaction_count(acct.address)
    answers = batch(
        w3,
        [("eth_sendRawTransaction", [signed(acct, first + i)]) for i in range(20)],
    )
    assert all("result" in a for a in answers)
    deadline = time.monotonic() + 60  # a start that hangs is killed and retried after 10 s
    while "ingress worker started" not in d.log():
        assert time.monotonic() < deadline, d.log()
        time.sleep(0.05)
    children = subprocess.run(["pgrep", "-P", str(d.proc.pid)], capture_output=True, text=True).stdout.split()
    assert children, "no ingress worker process"
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(10)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() and _alive(pid) for pid in children):
        assert time.monotonic() < deadline, "the ingress worker outlived the node"
        time.sleep(0.1)


def _alive(pid: str) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
