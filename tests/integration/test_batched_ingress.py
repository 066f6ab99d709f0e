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

from tests.conftest import DEV_KEYS

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


def test_a_batch_answers_like_single_calls_and_everything_valid_is_included(daemon_factory: Any) -> None:
    d = daemon_factory()
    w3 = Web3(Web3.HTTPProvider(d.url))
    acct = Account.from_key(DEV_KEYS[6])
    first = w3.eth.get_transaction_count(acct.address)
    raws = [signed(acct, first + i) for i in range(40)]
    bad = {5: "0x02c0ffee", 9: signed(acct, first + 9, chain_id=1)}
    expected_errors = {}
    for i, raw in bad.items():
        single = w3.provider.make_request("eth_sendRawTransaction", [raw])  # type: ignore[arg-type]
        expected_errors[i] = single["error"]
        raws[i] = raw

    answers = w3.provider.make_batch_request([("eth_sendRawTransaction", [raw]) for raw in raws])  # type: ignore[arg-type]

    assert len(answers) == 40
    for i, answer in enumerate(answers):
        if i in bad:
            assert answer["error"] == expected_errors[i]
        else:
            assert answer["result"] == "0x" + Web3.keccak(hexstr=raws[i]).hex().removeprefix("0x")
    assert "ingress worker started" in d.log()  # decoded in the worker, not inline
    # nonce first+5 never arrived: the transactions before it are included, the rest wait for it
    last_before_gap = answers[4]["result"]
    deadline = time.monotonic() + 10
    while w3.provider.make_request("eth_getTransactionReceipt", [last_before_gap])["result"] is None:  # type: ignore[arg-type]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert w3.eth.get_transaction_count(acct.address) == first + 5
    assert w3.eth.get_transaction_count(acct.address, "pending") == first + 5


def test_the_ingress_worker_exits_when_the_node_is_killed(daemon_factory: Any) -> None:
    d = daemon_factory()
    w3 = Web3(Web3.HTTPProvider(d.url))
    acct = Account.from_key(DEV_KEYS[7])
    first = w3.eth.get_transaction_count(acct.address)
    answers = w3.provider.make_batch_request(
        [("eth_sendRawTransaction", [signed(acct, first + i)]) for i in range(20)]  # type: ignore[arg-type]
    )
    assert all("result" in a for a in answers)
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
