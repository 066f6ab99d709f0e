"""Crash safety with real crashes: nothing acknowledged is lost, damage on disk is detected.

The daemon runs as a subprocess; crashes are SIGKILL, write failures come from a real
file-size limit (RLIMIT_FSIZE set on the running daemon with prlimit), damage is done to the
files on disk.
"""

from __future__ import annotations

import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.daemon import ROOT, start_daemon
from tests.support.loadgen import Load, comparable, raw_transfer, wait_for_receipts
from tests.support.rpc import request


def assert_chain_links(w3: Web3) -> None:
    head = w3.eth.block_number
    parent = None
    for n in range(head + 1):
        block = request(w3, "eth_getBlockByNumber", [hex(n), False])["result"]
        if parent is not None:
            assert block["parentHash"] == parent, f"block {n} does not link to its parent"
        parent = block["hash"]


def test_kill_9_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rng = random.Random(4)
    all_receipts: dict[str, dict[str, Any]] = {}
    all_acked: set[str] = set()
    for _round in range(3):
        d = start_daemon(data, "--evm-block-ms", "300")
        w3 = Web3(Web3.HTTPProvider(d.url))
        sealed_before = w3.eth.get_block("latest")
        load = Load(d.url, DEV_KEYS[:6])
        load.start()
        time.sleep(rng.uniform(0.8, 2.0))
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(10)
        d.kill()
        load.stop()
        all_receipts.update(load.receipts)
        all_acked |= load.acked
        assert load.receipts and load.acked, "the load did not run"

        restarted = start_daemon(data, "--evm-block-ms", "300")
        try:
            w3 = Web3(Web3.HTTPProvider(restarted.url))
            # every served receipt is in the chain, identical in every field final when served
            found = wait_for_receipts(w3, set(all_receipts) | all_acked)
            for h, served in all_receipts.items():
                assert comparable(found[h]) == comparable(served), h
            # sealed blocks are unchanged, and the chain continues with correct parent links
            again = w3.eth.get_block(sealed_before["number"])
            assert (again["hash"], again["stateRoot"]) == (sealed_before["hash"], sealed_before["stateRoot"])
            deadline = time.monotonic() + 5
            while w3.eth.block_number <= sealed_before["number"] + 1:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert_chain_links(w3)
        finally:
            assert restarted.stop() == 0, restarted.log()


def test_sigterm_drains_seals_and_exits_0(tmp_path: Path) -> None:
    data = tmp_path / "data"
    d = start_daemon(data, "--mini-block-ms", "200")
    w3 = Web3(Web3.HTTPProvider(d.url))
    key = DEV_KEYS[0]
    nonce = w3.eth.get_transaction_count(Account.from_key(key).address)
    hashes = {
        request(w3, "eth_sendRawTransaction", [raw_transfer(key, nonce + i)])["result"] for i in range(5)
    }
    started = time.monotonic()
    assert d.stop(signal.SIGTERM) == 0, d.log()
    assert time.monotonic() - started < 10
    assert "sequencer stopped" in d.log()
    restarted = start_daemon(data)
    try:
        found = wait_for_receipts(Web3(Web3.HTTPProvider(restarted.url)), hashes, timeout=5)
        assert all(r["status"] == "0x1" for r in found.values())
    finally:
        restarted.stop()


def test_a_second_signal_forces_exit_without_losing_anything(tmp_path: Path) -> None:
    data = tmp_path / "data"
    d = start_daemon(data, "--mini-block-ms", "1000")
    w3 = Web3(Web3.HTTPProvider(d.url))
    key = DEV_KEYS[1]
    nonce = w3.eth.get_transaction_count(Account.from_key(key).address)
    hashes = {
        request(w3, "eth_sendRawTransaction", [raw_transfer(key, nonce + i)])["result"] for i in range(3)
    }
    d.proc.send_signal(signal.SIGTERM)
    d.proc.send_signal(signal.SIGTERM)
    code = d.proc.wait(10)
    d.kill()
    assert code in (0, 130)
    restarted = start_daemon(data)
    try:
        wait_for_receipts(Web3(Web3.HTTPProvider(restarted.url)), hashes, timeout=5)
    finally:
        restarted.stop()


CLI = [sys.executable, "-m", "sequencer.cli"]


def _last_segment(data: Path) -> Path:
    return sorted((data / "log").glob("*.seg"))[-1]


def _record_offsets(segment: Path) -> list[int]:
    import struct

    blob = segment.read_bytes()
    offsets, pos = [], 0
    while pos + 11 <= len(blob):
        _magic, _kind, length, _crc = struct.unpack_from(">2sBII", blob, pos)
        offsets.append(pos)
        pos += 11 + length
    return offsets


def _prepared_data_dir(tmp_path: Path) -> tuple[Path, set[str]]:
    data = tmp_path / "data"
    d = start_daemon(data, "--evm-block-ms", "200")
    w3 = Web3(Web3.HTTPProvider(d.url))
    key = DEV_KEYS[2]
    nonce = w3.eth.get_transaction_count(Account.from_key(key).address)
    hashes = set()
    for i in range(6):
        r = request(w3, "eth_sendRawTransactionSync", [raw_transfer(key, nonce + i)])["result"]
        hashes.add(r["transactionHash"])
    time.sleep(0.5)
    assert d.stop() == 0
    return data, hashes


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_torn_tail_is_repaired_with_one_log_line(tmp_path: Path, damage: str) -> None:
    data, hashes = _prepared_data_dir(tmp_path)
    segment = _last_segment(data)
    blob = bytearray(segment.read_bytes())
    last = _record_offsets(segment)[-1]
    if damage == "truncate":
        segment.write_bytes(bytes(blob[: len(blob) - 7]))
    else:
        blob[last + 20] ^= 0xFF
        segment.write_bytes(bytes(blob))

    d = start_daemon(data)
    try:
        assert d.log().count("recovered a torn log tail") == 1, d.log()
        w3 = Web3(Web3.HTTPProvider(d.url))
        wait_for_receipts(w3, hashes, timeout=5)
        start = w3.eth.block_number
        deadline = time.monotonic() + 5
        while w3.eth.block_number < start + 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert_chain_links(w3)
    finally:
        assert d.stop() == 0, d.log()
    check = subprocess.run(
        [sys.executable, "-m", "sequencer.cli", "db", "check", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_corruption_in_the_middle_refuses_to_start_and_db_check_names_it(tmp_path: Path) -> None:
    data, _ = _prepared_data_dir(tmp_path)
    segment = _last_segment(data)
    offsets = _record_offsets(segment)
    target = offsets[len(offsets) // 2]
    blob = bytearray(segment.read_bytes())
    blob[target + 15] ^= 0xFF
    segment.write_bytes(bytes(blob))

    run = subprocess.run(
        [*CLI, "run", "--dev", "--data-dir", str(data), "--rpc-port", "0", "--feed-port", "0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert run.returncode == 2
    assert f"corrupt record in log/{segment.name} at offset {target}" in run.stderr

    check = subprocess.run(
        [sys.executable, "-m", "sequencer.cli", "db", "check", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert check.returncode == 1
    assert f"DAMAGED: corrupt record in log/{segment.name} at offset {target}" in check.stdout


def test_write_failures_stop_sealing_and_acknowledging_then_resume(tmp_path: Path) -> None:
    data = tmp_path / "data"
    d = start_daemon(data, "--evm-block-ms", "200")
    try:
        w3 = Web3(Web3.HTTPProvider(d.url))
        key = DEV_KEYS[3]
        nonce = w3.eth.get_transaction_count(Account.from_key(key).address)
        assert request(w3, "eth_sendRawTransactionSync", [raw_transfer(key, nonce)])["result"]
        segment = _last_segment(data)
        # the disk is "full": the daemon may not grow any file beyond its current size
        limit = segment.stat().st_size
        resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
        deadline = time.monotonic() + 5
        while requests_health(d.url) != 503:
            assert time.monotonic() < deadline, "the node did not notice the failing writes"
            time.sleep(0.05)
        response = request(w3, "eth_sendRawTransaction", [raw_transfer(key, nonce + 1)])
        assert response["error"]["code"] == -32000
        assert "unhealthy" in response["error"]["message"] or "cannot write" in response["error"]["message"]
        head = w3.eth.block_number
        time.sleep(0.6)
        assert w3.eth.block_number == head, "no block is sealed while writes fail"

        resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        deadline = time.monotonic() + 5
        while requests_health(d.url) != 200:
            assert time.monotonic() < deadline, "the node did not resume"
            time.sleep(0.05)
        receipt = request(w3, "eth_sendRawTransactionSync", [raw_transfer(key, nonce + 1)])["result"]
        assert receipt["status"] == "0x1"
        assert "storage write failed" in d.log() and "sealing resumed" in d.log()
    finally:
        assert d.stop() == 0, d.log()
    check = subprocess.run(
        [sys.executable, "-m", "sequencer.cli", "db", "check", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout


def requests_health(url: str) -> int:
    import requests

    return requests.get(url + "/health", timeout=5).status_code
