"""Specification of the verifier's status (``verifier/status.py``): one function builds it, for
``GET /status`` of a running verifier and for ``verifier status`` on its data dir.

* Both report ``mode``, ``height``, ``blockHash``, ``nextSeq``, ``verifiedBlocks``,
  ``verifiedMiniBlocks``, ``verifiedTxs``, ``lagBlocks``, ``lagMs``, ``verdict``, ``alarm`` and
  ``mismatches``; a verifier stopped at a block boundary and its data dir report the same.
* A running verifier reports its in-memory cursor and counts (mini-blocks of the open block
  included); its data dir reports the checkpoint (the last verified boundary).
* ``verifier status`` exits 0 while the verdict is ``ok`` and 1 once a mismatch is recorded.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner

from tests.support.feed_fixture import CHAIN, mid_block_mini_block, recorded_feed, text, with_balance_fault
from verifier.checkpoint import Counts
from verifier.cli import main
from verifier.node import VerifierNode
from verifier.replay import EVERYTHING, Mode
from verifier.status import StatusView, status_info
from verifier.subscriber import FeedHead
from verifier.verdict import Verdict

FEED = recorded_feed()
FAULTY = mid_block_mini_block(FEED)
NOW = 1_800_000_000.0
FIELDS = [
    "mode",
    "height",
    "blockHash",
    "nextSeq",
    "verifiedBlocks",
    "verifiedMiniBlocks",
    "verifiedTxs",
    "lagBlocks",
    "lagMs",
    "verdict",
    "alarm",
    "mismatches",
]


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both the node and the CLI read the time ``NOW`` (lagMs depends on it)."""
    clock = SimpleNamespace(time=lambda: NOW)
    monkeypatch.setattr("verifier.node.time", clock)
    monkeypatch.setattr("verifier.cli.time", clock)


def cli_status(data_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["status", "--data-dir", str(data_dir), *args])
    return result.exit_code, result.output


def follow(
    data_dir: Path, messages: list[dict[str, Any]], *, head: FeedHead, mode: Mode = EVERYTHING
) -> VerifierNode:
    """A verifier (left open) that was handed ``messages`` after the feed reported ``head``."""
    node = VerifierNode("ws://127.0.0.1:9", CHAIN, data_dir, halt_on_mismatch=False, mode=mode)
    node.verification.on_head(head)
    for message in messages:
        node.deliver(text(message))
    return node


def test_a_verifier_at_a_block_boundary_and_its_data_dir_report_the_same_status(tmp_path: Path) -> None:
    last_block = int(FEED[-1]["block"]["number"], 16)
    node = follow(tmp_path / "v", FEED, head=FeedHead(FEED[-1]["seq"] + 3, last_block + 2), mode=Mode(1, 2))
    try:
        live = node.status()
    finally:
        node.close()
    code, out = cli_status(tmp_path / "v", "--json")
    assert code == 0
    assert json.loads(out) == live
    assert list(live) == FIELDS
    assert live["mode"] == "shard 1/2"
    assert (live["height"], live["blockHash"]) == (last_block, FEED[-1]["block"]["hash"])
    assert live["nextSeq"] == FEED[-1]["seq"] + 1
    assert live["lagBlocks"] == 2
    last_mini = [m for m in FEED if m["type"] == "miniBlock"][-1]["miniBlock"]
    assert live["lagMs"] == int(NOW * 1000 - int(last_mini["timestampUs"], 16) / 1000)
    assert (live["verdict"], live["mismatches"]) == ("ok", [])


def test_the_status_port_serves_the_same_status(tmp_path: Path) -> None:
    node = VerifierNode("ws://127.0.0.1:9", CHAIN, tmp_path / "v", status_port=0)
    for message in FEED[:5]:
        node.deliver(text(message))

    async def fetch() -> Any:
        address = await node.start()
        assert address is not None
        try:
            async with aiohttp.ClientSession() as session, session.get(address.url + "/status") as r:
                return await r.json()
        finally:
            await node.shutdown()

    assert asyncio.run(fetch()) == node.status()


def test_a_running_verifier_reports_its_cursor_and_its_data_dir_the_last_boundary(tmp_path: Path) -> None:
    before = [m for m in FEED if m["seq"] <= FAULTY["seq"]]
    node = follow(tmp_path / "v", before, head=FeedHead(0, 0))
    try:
        live = node.status()
    finally:
        node.close()
    code, out = cli_status(tmp_path / "v", "--json")
    stored = json.loads(out)
    assert code == 0
    assert live["nextSeq"] == FAULTY["seq"] + 1
    assert stored["nextSeq"] < live["nextSeq"] and stored["height"] == live["height"]
    assert stored["verifiedMiniBlocks"] < live["verifiedMiniBlocks"]


def test_a_recorded_mismatch_is_reported_by_both_and_fails_the_status_command(tmp_path: Path) -> None:
    stream = with_balance_fault(FEED, FAULTY["seq"])
    node = follow(tmp_path / "v", [m for m in stream if m["seq"] <= FAULTY["seq"]], head=FeedHead(0, 0))
    try:
        live = node.status()
    finally:
        node.close()
    code, out = cli_status(tmp_path / "v", "--json")
    assert code == 1
    stored = json.loads(out)
    assert live["verdict"] == stored["verdict"] == "mismatch"
    assert live["mismatches"] == stored["mismatches"]
    (mismatch,) = stored["mismatches"]
    assert (mismatch["seq"], mismatch["field"], mismatch["verdict"]) == (
        FAULTY["seq"],
        "stateDiff.balance",
        "mismatch",
    )
    code, text = cli_status(tmp_path / "v")
    assert code == 1
    where = f"block {mismatch['evm_block']} mini-block {mismatch['mini_block']} tx None"
    assert f"MISMATCH: {where} stateDiff.balance: claimed {mismatch['claimed']}" in text
    assert "verdict: mismatch" in text


def test_status_info_before_genesis() -> None:
    view = StatusView(None, 0, -1, b"", Counts(), 0, ())
    assert status_info(view, NOW) == {
        "mode": None,
        "height": -1,
        "blockHash": "",
        "nextSeq": 0,
        "verifiedBlocks": 0,
        "verifiedMiniBlocks": 0,
        "verifiedTxs": 0,
        "lagBlocks": 1,
        "lagMs": None,
        "verdict": "ok",
        "alarm": None,
        "mismatches": [],
    }


def test_status_info_lag_never_goes_negative() -> None:
    sealed_in_the_future_us = int((NOW + 5) * 1_000_000)
    view = StatusView("replica", 9, 4, b"\x01" * 32, Counts(4, 6, 0, sealed_in_the_future_us), 3, ())
    info = status_info(view, NOW)
    assert (info["lagBlocks"], info["lagMs"]) == (0, 0)


def test_status_info_lists_every_recorded_verdict() -> None:
    verdicts = (
        Verdict(3, 1, 2, 0, "receipt.gasUsed", "0x5209", "0x5208", NOW - 1),
        Verdict(8, 2, None, None, "block.stateRoot", "0xaa", "0xbb", NOW),
    )
    info = status_info(StatusView("shard 0/1", 9, 1, b"\x01" * 32, Counts(1, 2, 2, 0), 2, verdicts), NOW)
    assert info["verdict"] == "mismatch"
    assert info["mismatches"] == [v.as_dict() for v in verdicts]
    assert info["lagBlocks"] == 1
