"""Attacks on the mempool, against the real daemon.

Specified here:

* 2,000 senders' future-nonce transactions, enough to fill the pool, cannot lock out an honest
  ready transaction, even one with no tip: it evicts a queued one and is included; a queued
  newcomer that pays no more is refused with the limit named. The evicted transaction does not
  come back after a restart.
* Removals are journaled: a replaced transaction and an expired queued one
  (``mempool.queued_lifetime_s``) do not come back after a restart.
* The journal is compacted (``mempool.journal_compact_bytes``): it stays bounded while
  transactions flow through, and nothing acknowledged and still pooled is lost.
* A journal write failure (a real file-size limit on the running daemon) takes the transaction
  back out of the pool and answers an error; a duplicate submitted during that write waits for
  it and gets the same answer. Once writes succeed, the same transaction is accepted.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
from eth_account import Account
from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.attack import address, key, sign, write_attack_config
from tests.support.daemon import ROOT, start_daemon
from tests.support.rpc import request

SENDERS = 2_000


def post(url: str, calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    answers: list[dict[str, Any]] = requests.post(
        url, data=json.dumps(payload), headers={"Content-Type": "application/json"}, timeout=30
    ).json()
    return sorted(answers, key=lambda a: int(a["id"]))


def send(url: str, raws: list[bytes]) -> list[dict[str, Any]]:
    return post(url, [("eth_sendRawTransaction", ["0x" + r.hex()]) for r in raws])


def pool_status(w3: Web3) -> tuple[int, int]:
    result = request(w3, "txpool_status", [])["result"]
    return int(result["pending"], 16), int(result["queued"], 16)


def dev(i: int) -> bytes:
    return bytes.fromhex(DEV_KEYS[i][2:])


def nonce_of(w3: Web3, private_key: bytes) -> int:
    return int(w3.eth.get_transaction_count(Account.from_key(private_key).address))


def tx_hash(raw: bytes) -> str:
    return "0x" + Web3.keccak(raw).hex().removeprefix("0x")


def db_check(data: Path) -> None:
    check = subprocess.run(
        [sys.executable, "-m", "sequencer.cli", "db", "check", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_future_nonce_transactions_of_2000_senders_cannot_lock_out_an_honest_one(tmp_path: Path) -> None:
    config = write_attack_config(
        tmp_path / "attack.toml", SENDERS, {"mempool": {"capacity": str(SENDERS), "max_queued": str(SENDERS)}}
    )
    data = tmp_path / "data"
    d = start_daemon(data, config=config)
    try:
        # every generated sender parks a tip-1 transaction one nonce ahead: the pool is full
        raws = [sign(key(i), 1, b"\x66" * 20, tip=1) for i in range(SENDERS)]
        for start in range(0, SENDERS, 500):
            assert all("result" in a for a in send(d.url, raws[start : start + 500]))
        w3 = Web3(Web3.HTTPProvider(d.url, request_kwargs={"timeout": 10}))
        assert pool_status(w3) == (0, SENDERS)

        late = sign(dev(1), nonce_of(w3, dev(1)) + 5, b"\x66" * 20, tip=1)
        error = send(d.url, [late])[0]["error"]
        assert error == {
            "code": -32000,
            "message": f"txpool is full: {SENDERS} transactions (mempool.capacity)",
        }

        honest = sign(dev(0), nonce_of(w3, dev(0)), b"\x55" * 20, value=1, tip=0)
        receipt = request(w3, "eth_sendRawTransactionSync", ["0x" + honest.hex()])["result"]
        assert receipt["status"] == "0x1"
        assert pool_status(w3) == (0, SENDERS - 1)
        # the most recent of the cheapest queued transactions made room
        evicted = tx_hash(raws[-1])
        assert request(w3, "eth_getTransactionByHash", [evicted])["result"] is None
    finally:
        assert d.stop() == 0, d.log()

    again = start_daemon(data, config=config)
    try:
        w3 = Web3(Web3.HTTPProvider(again.url))
        assert pool_status(w3) == (0, SENDERS - 1), "the evicted transaction stays out"
        assert request(w3, "eth_getTransactionByHash", [evicted])["result"] is None
        assert request(w3, "eth_getTransactionByHash", [tx_hash(raws[0])])["result"] is not None
    finally:
        assert again.stop() == 0


def test_removals_are_journaled_and_the_journal_stays_bounded(tmp_path: Path) -> None:
    config = write_attack_config(
        tmp_path / "journal.toml",
        0,
        {"mempool": {"queued_lifetime_s": "3", "journal_compact_bytes": "65536"}},
    )
    data = tmp_path / "data"
    d = start_daemon(data, config=config)
    w3 = Web3(Web3.HTTPProvider(d.url))
    try:
        # transactions flow through: the journal grows past 64 KiB and is compacted
        senders = [dev(i) for i in range(2, 6)]
        raws = [sign(k, nonce_of(w3, k) + n, b"\x77" * 20, value=1) for n in range(400) for k in senders]
        for start in range(0, len(raws), 200):
            assert all("result" in a for a in send(d.url, raws[start : start + 200]))
        last = tx_hash(raws[-1])
        deadline = time.monotonic() + 20
        while request(w3, "eth_getTransactionReceipt", [last])["result"] is None:
            assert time.monotonic() < deadline, "the transfers were not included"
            time.sleep(0.05)
        # nothing of that traffic is live any more: the periodic look compacts the idle journal
        deadline = time.monotonic() + 10
        while (journal := sum(p.stat().st_size for p in (data / "pool").glob("*.seg"))) >= 65536:
            assert time.monotonic() < deadline, f"the journal is still {journal} bytes"
            time.sleep(0.1)
        assert "pool journal compacted" in d.log()

        # a queued transaction, replaced by a better-paying one
        base = nonce_of(w3, dev(1))
        old = sign(dev(1), base + 3, b"\x66" * 20, tip=1, max_fee=10**10)
        new = sign(dev(1), base + 3, b"\x66" * 20, tip=2, max_fee=2 * 10**10)
        assert "result" in send(d.url, [old])[0] and "result" in send(d.url, [new])[0]
    finally:
        assert d.stop() == 0, d.log()

    again = start_daemon(data, config=config)
    w3 = Web3(Web3.HTTPProvider(again.url))
    try:
        assert request(w3, "eth_getTransactionByHash", [tx_hash(old)])["result"] is None
        assert request(w3, "eth_getTransactionByHash", [tx_hash(new)])["result"] is not None
        assert pool_status(w3) == (0, 1)
        deadline = time.monotonic() + 10
        while pool_status(w3) != (0, 0):  # the queued one expires after 3 s
            assert time.monotonic() < deadline, "the queued transaction did not expire"
            time.sleep(0.1)
    finally:
        assert again.stop() == 0
    assert 'msg="queued transactions expired" count=1' in again.log()

    third = start_daemon(data, config=config)
    w3 = Web3(Web3.HTTPProvider(third.url))
    try:
        assert pool_status(w3) == (0, 0), "the expired transaction stays out"
        assert request(w3, "eth_getTransactionByHash", [tx_hash(new)])["result"] is None
    finally:
        assert third.stop() == 0
    db_check(data)


def test_a_failed_journal_write_takes_the_transaction_out_and_a_duplicate_waits_for_it(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    # no block is due while the disk is "full", so only the journal write is at stake
    d = start_daemon(data, "--evm-block-ms", "60000")
    w3 = Web3(Web3.HTTPProvider(d.url))
    try:
        sender = dev(7)
        raw = sign(sender, nonce_of(w3, sender), b"\x44" * 20, value=1)
        journal = max((data / "pool").glob("*.seg"))
        resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE, (journal.stat().st_size, resource.RLIM_INFINITY))
        try:
            first, duplicate = send(d.url, [raw, raw])
        finally:
            resource.prlimit(
                d.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
            )
        refusal = {"code": -32000, "message": "transaction not accepted: the node cannot write to disk"}
        assert first["error"] == refusal
        assert duplicate["error"] == refusal, "the duplicate waited for the first one's write"
        assert request(w3, "eth_getTransactionByHash", [tx_hash(raw)])["result"] is None
        assert pool_status(w3) == (0, 0)
        assert w3.eth.get_transaction_count(Account.from_key(sender).address) == nonce_of(w3, sender)

        receipt = request(w3, "eth_sendRawTransactionSync", ["0x" + raw.hex()])["result"]
        assert receipt["status"] == "0x1" and receipt["from"].lower() == "0x" + address(sender).hex()
    finally:
        assert d.stop() == 0, d.log()
    db_check(data)
