"""A recorded devnet feed (``tests/fixtures/feed/devnet.jsonl``, see ``record_feed.py``),
faults to inject into copies of it, and the verifier fed with it, for the verifier's unit tests.

A fault is injected the way a lying sequencer would: the edited mini-block is re-hashed and
re-signed with the devnet's sequencer key (:func:`reseal`), so it reads as the lie it is, not
as a broken hash or signature."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import rlp
from eth_hash.auto import keccak

from sequencer.config import ChainConfig, load_config
from sequencer.feed.wire import wire_mini_block_hash, wire_signing_hash
from sequencer.signing import SequencerKey
from tests.support.daemon import DEVNET

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "feed" / "devnet.jsonl"
STATE_ROOT_FIELD = 3
"""Index of the state root in an Ethereum header's RLP list."""

Message = dict[str, Any]
CHAIN: ChainConfig = load_config(DEVNET).chain
DEVNET_SEQUENCER_KEY = SequencerKey(load_config(DEVNET).signing_keys[0])


def text(message: Message) -> str:
    """A message as the feed sends it (JSON text)."""
    return orjson.dumps(message).decode()


def reseal(message: Message) -> Message:
    """``message`` (edited in place) with its mini-block hash and signature recomputed, or its
    block hash and signature: what a sequencer that lies consistently sends."""
    if message["type"] == "miniBlock":
        mb = message["miniBlock"]
        mb["hash"] = "0x" + wire_mini_block_hash(mb).hex()
        mb["signature"] = DEVNET_SEQUENCER_KEY.sign(wire_signing_hash(mb)).as_json()
    elif message["type"] == "block":
        block = message["block"]
        digest = bytes(keccak(bytes.fromhex(block["header"][2:])))
        block["hash"] = "0x" + digest.hex()
        block["signature"] = DEVNET_SEQUENCER_KEY.sign(digest).as_json()
    return message


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
    """A copy where the mini-block at ``seq`` claims 1 wei more for its first diff entry
    (re-hashed and re-signed)."""
    out = copy.deepcopy(messages)
    (target,) = [m for m in out if m["seq"] == seq]
    entry = next(e for e in target["miniBlock"]["stateDiff"] if not e["deleted"])
    entry["balance"] = hex(int(entry["balance"], 16) + 1)
    reseal(target)
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
