"""Structured logs of the real processes: ``sequencer run --log-format json`` and ``verifier run
--log-format json`` write one JSON object per line, values as typed fields, so a log shipper can
find a sealed block by its ``number``; bad input and vanished clients leave no traceback."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import requests
from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.daemon import Daemon, start_daemon
from tests.support.loadgen import raw_transfer
from tests.support.rpc import request
from tests.support.verifier import start_verifier


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as a JSON object (fails on any line that is not one)."""
    entries = []
    for line in text.splitlines():
        entry = json.loads(line)
        assert isinstance(entry, dict), line
        entries.append(entry)
    return entries


def misbehave(daemon: Daemon) -> None:
    """Bad input a public node sees: garbage, a body cut short, bad JSON, a bad transaction."""
    host, port = daemon.url.removeprefix("http://").split(":")
    for payload in (
        b"NOT HTTP\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
    ):
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            conn.sendall(payload)
            time.sleep(0.1)
    requests.post(daemon.url, data=b'{"not json', timeout=5)
    requests.post(daemon.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_nope", "params": []}, timeout=5)


def test_json_log_lines_have_typed_fields_and_find_a_sealed_block_by_number(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path / "node", "--log-format", "json", "--evm-block-ms", "200")
    verifier = None
    try:
        verifier = start_verifier(daemon.feed_url, tmp_path / "verifier", "--log-format", "json")
        w3 = Web3(Web3.HTTPProvider(daemon.url))
        sent = request(w3, "eth_sendRawTransactionSync", [raw_transfer(DEV_KEYS[3], 0)])
        receipt = sent["result"]
        number = int(receipt["blockNumber"], 16)
        misbehave(daemon)
        deadline = time.monotonic() + 20
        while verifier.status()["height"] <= number:
            assert time.monotonic() < deadline, verifier.log()
            time.sleep(0.1)
    finally:
        if verifier is not None:
            assert verifier.stop() == 0, verifier.log()
        assert daemon.stop() == 0, daemon.log()

    entries = json_lines(daemon.log())
    for entry in entries:
        assert {"ts", "level", "logger", "msg"} <= set(entry), entry
        assert isinstance(entry["ts"], float) and entry["level"] in ("debug", "info", "warning", "error")
        assert "exc" not in entry, f"no traceback for bad input or a vanished client: {entry}"
    started = next(e for e in entries if e["msg"] == "sequencer started")
    assert started["rpc"] == daemon.url and isinstance(started["chain_id"], int)

    (sealed,) = [e for e in entries if e["msg"] == "evm block sealed" and e["number"] == number]
    assert sealed["logger"] == "sequencer.builder"
    assert isinstance(sealed["hash"], str) and len(sealed["hash"]) == 66 and sealed["hash"].startswith("0x")
    assert sealed["txs"] >= 1 and isinstance(sealed["txs"], int)
    assert sealed["mini_blocks"] >= 1 and sealed["gas_used"] >= 21_000
    assert isinstance(sealed["seal_ms"], float) and isinstance(sealed["state_root_ms"], float)
    assert isinstance(sealed["base_fee"], int)
    numbers = [e["number"] for e in entries if e["msg"] == "evm block sealed"]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)

    checked = json_lines(verifier.log())
    (verified,) = [e for e in checked if e["msg"] == "verified block" and e["number"] == number]
    assert verified["hash"] == sealed["hash"] and verified["txs"] >= 1
    following = next(e for e in checked if e["msg"] == "following the feed")
    assert following["from_seq"] == 0 and following["feed"] == daemon.feed_url
