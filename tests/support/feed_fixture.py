"""A recorded devnet feed (``tests/fixtures/feed/devnet.jsonl``, see ``record_feed.py``) and
faults to inject into copies of it, for the verifier's unit tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import rlp

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "feed" / "devnet.jsonl"
STATE_ROOT_FIELD = 3
"""Index of the state root in an Ethereum header's RLP list."""

Message = dict[str, Any]


def recorded_feed() -> list[Message]:
    """The recorded messages, genesis first (a fresh copy each call)."""
    return [json.loads(line) for line in FIXTURE.read_text().splitlines() if line]


def boundary_positions(messages: list[Message]) -> set[int]:
    """The positions right after each ``genesis`` and ``block`` message (the EVM block boundaries)."""
    return {m["seq"] + 1 for m in messages if m["type"] in ("genesis", "block")}


def header_state_roots(messages: list[Message]) -> dict[int, bytes]:
    """EVM block number -> the state root its header names (genesis included)."""
    out: dict[int, bytes] = {}
    for m in messages:
        body = m.get("genesis") or m.get("block")
        if body is not None:
            number = int(body.get("number", "0x0"), 16)
            out[number] = bytes(rlp.decode(bytes.fromhex(body["header"][2:]))[STATE_ROOT_FIELD])
    return out


def mid_block_mini_block(messages: list[Message]) -> Message:
    """The first mini-block that is not the first of its EVM block and has a state diff entry."""
    for m in messages:
        if m["type"] == "miniBlock" and int(m["miniBlock"]["index"], 16) > 0 and m["miniBlock"]["stateDiff"]:
            return m
    raise AssertionError("the recording has no mini-block in the middle of an EVM block")


def with_balance_fault(messages: list[Message], seq: int) -> list[Message]:
    """A copy where the mini-block at ``seq`` claims 1 wei more for its first diff entry."""
    out = copy.deepcopy(messages)
    (target,) = [m for m in out if m["seq"] == seq]
    entry = next(e for e in target["miniBlock"]["stateDiff"] if not e["deleted"])
    entry["balance"] = hex(int(entry["balance"], 16) + 1)
    return out


def with_duplicate(messages: list[Message], seq: int) -> list[Message]:
    """A copy where the message at ``seq`` is sent twice in a row."""
    out: list[Message] = []
    for m in messages:
        out.append(copy.deepcopy(m))
        if m["seq"] == seq:
            out.append(copy.deepcopy(m))
    return out


def from_position(messages: list[Message], seq: int) -> list[Message]:
    """What a feed sends to a follower connecting with ``from=seq``: every message from the first
    one at ``seq`` on (a fault in the feed is sent again, as the fire drill's is)."""
    for i, m in enumerate(messages):
        if m["seq"] >= seq:
            return copy.deepcopy(messages[i:])
    return []
