"""Specification of the verifier as a follower that cannot be crashed or stalled by its stream:

* any message that is not what docs/feed.md says (not JSON, not an object, another version, a
  field missing or of the wrong type, a non-canonical or out-of-range quantity, uppercase or
  odd-length hex, a header that is not a Prague header, larger than the size limit) is a
  ``stream.malformed`` (or ``stream.version``) verdict, never an exception;
* nothing the stream supplies drives a loop: the genesis is built from the verifier's own
  config (a ``generatedAccounts.count`` of 2^64 is ignored), and every list is bounded;
* a duplicate of a verified position is ignored; a gap makes the follower reconnect from the
  position it expected, and only a gap still there after three connections is a verdict;
* random mutations of real messages give a verdict or pass, and never raise.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.feed_fixture import CHAIN, Message, recorded_feed, text
from verifier.node import VerifierNode
from verifier.subscriber import OVERSIZE
from verifier.verification import GAP_LIMIT, Step

FEED = recorded_feed()
FIRST_MINI = next(m for m in FEED if m["type"] == "miniBlock")
FIRST_BLOCK = next(m for m in FEED if m["type"] == "block")


def node_at(data_dir: Path, upto_seq: int) -> VerifierNode:
    """A verifier that has verified every message before ``upto_seq``."""
    node = VerifierNode("ws://127.0.0.1:9", CHAIN, data_dir, halt_on_mismatch=True)
    for message in FEED:
        if message["seq"] >= upto_seq:
            break
        step = node.verification.handle_text(text(message))
        assert step.verdict is None, step
    return node


def first_verdict(data_dir: Path, raw: str, at: int) -> Step:
    node = node_at(data_dir, at)
    try:
        return node.verification.handle_text(raw)
    finally:
        node.close()


def edited(message: Message, path: tuple[Any, ...], value: Any) -> str:
    out = copy.deepcopy(message)
    target: Any = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(out)


MINI = ("miniBlock",)
MALFORMED_MINI_BLOCKS = {
    "not-json": "{not json",
    "a-json-list": "[1, 2, 3]",
    "a-json-string": '"miniBlock"',
    "no-body": json.dumps({"version": 2, "seq": 1, "type": "miniBlock"}),
    "body-a-list": edited(FIRST_MINI, MINI, []),
    "number-decimal": edited(FIRST_MINI, (*MINI, "number"), 0),
    "number-leading-zero": edited(FIRST_MINI, (*MINI, "number"), "0x00"),
    "number-uppercase": edited(FIRST_MINI, (*MINI, "gasUsed"), "0xAB"),
    "number-huge": edited(FIRST_MINI, (*MINI, "number"), "0x" + "f" * 64),
    "quantity-over-256-bits": edited(FIRST_MINI, (*MINI, "env", "baseFee"), "0x1" + "0" * 64),
    "hash-short": edited(FIRST_MINI, (*MINI, "hash"), "0x1234"),
    "hash-odd-hex": edited(FIRST_MINI, (*MINI, "parentHash"), "0x" + "a" * 63),
    "env-missing": edited(FIRST_MINI, (*MINI, "env"), None),
    "transactions-an-object": edited(FIRST_MINI, (*MINI, "transactions"), {"0": "0x00"}),
    "transaction-not-hex": edited(FIRST_MINI, (*MINI, "transactions"), ["0xzz"]),
    "receipt-a-string": edited(FIRST_MINI, (*MINI, "receipts"), ["0x"]),
    "five-topics": edited(
        FIRST_MINI,
        (*MINI, "receipts", 0, "logs"),
        [{"address": "0x" + "11" * 20, "topics": ["0x" + "22" * 32] * 5, "data": "0x"}],
    ),
    "storage-pair-of-three": edited(
        FIRST_MINI,
        (*MINI, "stateDiff", 0, "storage"),
        [["0x1", "0x2", "0x3"]],
    ),
    "deleted-a-string": edited(FIRST_MINI, (*MINI, "stateDiff", 0, "deleted"), "no"),
    "signature-y-parity-2": edited(FIRST_MINI, (*MINI, "signature", "yParity"), "0x2"),
    "seq-negative": edited(FIRST_MINI, ("seq",), -1),
    "seq-a-string": edited(FIRST_MINI, ("seq",), "1"),
    "type-unknown": edited(FIRST_MINI, ("type",), "transaction"),
    "deep-nesting": '{"version": 2, "seq": 1, "type": "miniBlock", "miniBlock": '
    + "[" * 5000
    + "]" * 5000
    + "}",
    "binary-frame": "\x00binary",
    "oversize": OVERSIZE,
}


@pytest.mark.parametrize("name", sorted(MALFORMED_MINI_BLOCKS))
def test_a_malformed_message_is_a_verdict_not_a_crash(tmp_path: Path, name: str) -> None:
    step = first_verdict(tmp_path, MALFORMED_MINI_BLOCKS[name], FIRST_MINI["seq"])
    assert step.verdict is not None and step.verdict.field == "stream.malformed", step
    assert step.halt and step.recorded
    assert step.verdict.seq == FIRST_MINI["seq"], "named at the position expected"


def test_another_feed_version_is_a_version_verdict(tmp_path: Path) -> None:
    step = first_verdict(tmp_path, edited(FIRST_MINI, ("version",), 1), FIRST_MINI["seq"])
    assert step.verdict is not None and step.verdict.field == "stream.version"
    assert "unsupported feed version 1" in step.verdict.claimed


@pytest.mark.parametrize(
    "header",
    ["0xc0", "0x80", "0x", "0xf90000", "0x" + "c1" * 3000 + "80"],
    ids=["empty-list", "empty-string", "nothing", "non-canonical-length", "nested"],
)
def test_a_header_that_is_not_a_prague_header_is_a_verdict(tmp_path: Path, header: str) -> None:
    raw = edited(FIRST_BLOCK, ("block", "header"), header)
    step = first_verdict(tmp_path, raw, FIRST_BLOCK["seq"])
    assert step.verdict is not None and step.verdict.field == "stream.malformed", step


def test_the_stream_cannot_make_the_genesis_loop(tmp_path: Path) -> None:
    """The genesis comes from the config: a stream's generation rule is never run."""
    genesis = copy.deepcopy(FEED[0])
    genesis["genesis"]["generatedAccounts"] = {"count": hex(2**64 - 1), "balance": "0x1", "domain": "0x00"}
    step = first_verdict(tmp_path, text(genesis), 0)
    assert step.verdict is None and step.boundary is not None


def test_a_duplicate_of_a_verified_position_is_ignored(tmp_path: Path) -> None:
    node = node_at(tmp_path, FIRST_MINI["seq"] + 1)
    try:
        step = node.verification.handle_text(text(FIRST_MINI))
        assert step.ignored and step.verdict is None and not step.reconnect
        assert node.verification.duplicates == 1
    finally:
        node.close()


def test_a_gap_is_a_reconnect_and_only_a_lasting_gap_is_a_verdict(tmp_path: Path) -> None:
    node = node_at(tmp_path, FIRST_MINI["seq"])
    after = next(m for m in FEED if m["seq"] == FIRST_MINI["seq"] + 1)
    try:
        steps = [node.verification.handle_text(text(after)) for _ in range(GAP_LIMIT)]
        assert all(s.reconnect for s in steps)
        assert [s.verdict is not None for s in steps] == [False] * (GAP_LIMIT - 1) + [True]
        verdict = steps[-1].verdict
        assert verdict is not None and verdict.field == "stream.seq"
        assert (int(verdict.claimed), int(verdict.recomputed)) == (after["seq"], FIRST_MINI["seq"])
    finally:
        node.close()


def test_a_healed_gap_is_forgotten(tmp_path: Path) -> None:
    node = node_at(tmp_path, FIRST_MINI["seq"])
    after = next(m for m in FEED if m["seq"] == FIRST_MINI["seq"] + 1)
    try:
        for _ in range(GAP_LIMIT - 1):
            assert node.verification.handle_text(text(after)).reconnect
        assert node.verification.handle_text(text(FIRST_MINI)).verdict is None
        assert node.verification.handle_text(text(after)).verdict is None
    finally:
        node.close()


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for i, item in enumerate(value[:3]):
            out.extend(_paths(item, (*prefix, i)))
    return out


MUTANTS: list[Any] = [
    None,
    True,
    0,
    -1,
    2**70,
    "",
    "0x",
    "0x0",
    "0xzz",
    "0x" + "ff" * 33,
    [],
    {},
    [[]],
    {"a": 1},
]
TARGETS = [m for m in FEED if m["type"] in ("miniBlock", "block")][:6]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_mutations_of_real_messages_are_caught_and_never_raise(
    tmp_path_factory: pytest.TempPathFactory, data: Any
) -> None:
    """Every field of a message is checked or committed to: an edit that changes anything is a
    verdict (of whatever kind it breaks first), or, for its position, a duplicate or a gap; and
    nothing raises."""
    message = data.draw(st.sampled_from(TARGETS))
    path = data.draw(st.sampled_from(_paths(message)[1:]))
    raw = edited(message, path, data.draw(st.sampled_from(MUTANTS)))
    step = first_verdict(tmp_path_factory.mktemp("v"), raw, message["seq"])
    if step.verdict is None and not step.ignored and not step.reconnect:
        assert json.loads(raw) == message, f"an edit at {path} went unnoticed"
