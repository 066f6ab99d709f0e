"""Specification of the verifier's checkpoint (``verifier/checkpoint.py``), on a recorded feed.

* The on-disk checkpoint only ever names an EVM block boundary (the position right after a
  verified ``genesis`` or ``block``), with the state root that block's header names; it is
  rewritten at every boundary.
* A mismatch is recorded in the checkpoint at once, but the checkpoint's resume position stays
  at the last verified boundary, also in the middle of an EVM block and in ``--on-mismatch
  continue`` mode, where the in-memory cursor goes on past the message.
* A verifier restarted from its checkpoint, wherever it was interrupted, ends with the same
  verdicts, the same boundary, counts and state as one that ran without interruption; a
  mismatch found again after a restart is not recorded twice.
* Earlier data dirs (``progress.json``) are still read.

No sequencer runs here: the messages come from ``tests/fixtures/feed/devnet.jsonl``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from tests.conftest import DEV_KEYS
from tests.support.feed_fixture import (
    Message,
    boundary_positions,
    from_position,
    header_state_roots,
    mid_block_mini_block,
    recorded_feed,
    with_balance_fault,
    with_duplicate,
)
from verifier.checkpoint import (
    CHECKPOINT_FILE,
    LEGACY_PROGRESS_FILE,
    Boundary,
    Checkpoint,
    Counts,
    load_checkpoint,
    save_checkpoint,
)
from verifier.node import EXIT_MISMATCH, VerifierNode
from verifier.replay import Mode
from verifier.verdict import Verdict

FEED = recorded_feed()
BOUNDARIES = boundary_positions(FEED)
ROOTS = header_state_roots(FEED)
FAULTY = mid_block_mini_block(FEED)
DEV_ADDRESSES = [bytes.fromhex(Account.from_key(k).address[2:]) for k in DEV_KEYS[:4]]


def open_node(data_dir: Path, *, halt: bool = False) -> VerifierNode:
    return VerifierNode("ws://127.0.0.1:9", 1337, data_dir, halt_on_mismatch=halt, mode=Mode())


def deliver(node: VerifierNode, messages: list[Message]) -> None:
    """What the subscriber does: hand over messages in order until the verifier stops."""
    for message in messages:
        if node.stopping:
            return
        node.deliver(message)


def assert_names_a_boundary(checkpoint: Checkpoint, context: str) -> None:
    b = checkpoint.boundary
    assert b.next_seq in BOUNDARIES, f"{context}: checkpoint at seq {b.next_seq}, not a block boundary"
    assert b.state_root == ROOTS[b.block_number], f"{context}: state root is not block {b.block_number}'s"


def balances(node: VerifierNode, root: bytes) -> list[int]:
    state = node.executor.reader(root)
    return [node.executor.account(state, a).balance for a in DEV_ADDRESSES]


def test_the_recording_has_what_these_tests_need() -> None:
    assert FEED[0]["type"] == "genesis" and FEED[-1]["type"] == "block"
    assert int(FAULTY["miniBlock"]["index"], 16) > 0, "a mini-block in the middle of an EVM block"
    assert FAULTY["seq"] + 1 not in BOUNDARIES and FAULTY["seq"] not in BOUNDARIES
    assert any(m["type"] == "block" and m["block"]["miniBlockCount"] == "0x0" for m in FEED), "an empty block"


def test_an_honest_stream_is_checkpointed_at_every_block_boundary_and_nowhere_else(tmp_path: Path) -> None:
    node = open_node(tmp_path / "v")
    try:
        for message in FEED:
            node.deliver(message)
            checkpoint = load_checkpoint(tmp_path / "v")
            assert_names_a_boundary(checkpoint, f"after seq {message['seq']}")
            if message["type"] in ("genesis", "block"):
                assert checkpoint.boundary.next_seq == message["seq"] + 1, "rewritten at each boundary"
            else:
                assert checkpoint.boundary.next_seq < message["seq"] + 1
        assert checkpoint.verdicts == ()
        assert checkpoint.boundary.counts == node.replay.counts
        assert checkpoint.mode == "shard 0/1"
    finally:
        node.close()


def test_a_mismatch_mid_block_in_continue_mode_is_recorded_while_the_checkpoint_stays_at_the_boundary(
    tmp_path: Path,
) -> None:
    stream = with_balance_fault(FEED, FAULTY["seq"])
    node = open_node(tmp_path / "v")
    try:
        before = [m for m in stream if m["seq"] < FAULTY["seq"]]
        deliver(node, before)
        last_boundary = load_checkpoint(tmp_path / "v").boundary
        node.deliver(stream[len(before)])
        checkpoint = load_checkpoint(tmp_path / "v")
        (verdict,) = checkpoint.verdicts
        assert (verdict.seq, verdict.field) == (FAULTY["seq"], "stateDiff.balance")
        assert checkpoint.boundary == last_boundary, "the resume position did not move"
        assert node.replay.next_seq == FAULTY["seq"] + 1, "the in-memory cursor goes on"
        for message in stream[len(before) + 1 :]:
            node.deliver(message)
            assert_names_a_boundary(load_checkpoint(tmp_path / "v"), f"after seq {message['seq']}")
    finally:
        node.close()


def test_a_mismatch_in_halt_mode_stops_and_a_restart_finds_it_again_without_recording_it_twice(
    tmp_path: Path,
) -> None:
    stream = with_balance_fault(FEED, FAULTY["seq"])
    node = open_node(tmp_path / "v", halt=True)
    try:
        deliver(node, stream)
        assert node.exit_code == EXIT_MISMATCH and node.stopping
        assert node.replay.next_seq == FAULTY["seq"], "halted at the faulty message"
    finally:
        node.close()
    first = load_checkpoint(tmp_path / "v")
    assert_names_a_boundary(first, "after the halt")
    assert [v.field for v in first.verdicts] == ["stateDiff.balance"]
    again = open_node(tmp_path / "v", halt=True)
    try:
        assert again.replay.next_seq == first.boundary.next_seq
        deliver(again, from_position(stream, again.replay.next_seq))
        assert again.exit_code == EXIT_MISMATCH
    finally:
        again.close()
    assert load_checkpoint(tmp_path / "v").verdicts == first.verdicts


STREAMS = {
    "honest": FEED,
    # a message sent twice: the copy is a stream.seq verdict, and verification goes on
    "duplicate-mid-block": with_duplicate(FEED, FAULTY["seq"]),
    # a lie: recorded, and nothing after it verifies (no later block is a boundary)
    "balance-mid-block": with_balance_fault(FEED, FAULTY["seq"]),
}


LAST_BLOCK = max(ROOTS)
FAULTY_BLOCK = int(FAULTY["miniBlock"]["blockNumber"], 16)
ENDINGS = {
    # kind: (the first verdict's field, how many verdicts, the block of the final checkpoint)
    "honest": (None, 0, LAST_BLOCK),
    "duplicate-mid-block": ("stream.seq", 1, LAST_BLOCK),
    # every later message fails too (its block never verifies), so one verdict per message
    "balance-mid-block": ("stateDiff.balance", len(FEED) - FAULTY["seq"], FAULTY_BLOCK - 1),
}


@pytest.mark.parametrize("kind", sorted(STREAMS))
def test_a_restart_from_the_checkpoint_ends_like_an_uninterrupted_run(tmp_path: Path, kind: str) -> None:
    stream = STREAMS[kind]
    whole = open_node(tmp_path / "whole")
    try:
        deliver(whole, stream)
        expected = load_checkpoint(tmp_path / "whole")
        expected_cursor, expected_counts = whole.replay.next_seq, whole.replay.counts
        expected_balances = balances(whole, expected.boundary.state_root)
    finally:
        whole.close()
    first_field, verdicts, last_block = ENDINGS[kind]
    assert len(expected.verdicts) == verdicts
    assert (expected.verdicts[0].field if expected.verdicts else None) == first_field
    assert expected.boundary.block_number == last_block
    for cut in range(1, len(stream)):
        data_dir = tmp_path / f"cut-{cut}"
        first = open_node(data_dir)
        try:
            deliver(first, stream[:cut])
        finally:
            first.close()  # interrupted: the open block, if any, is lost
        resumed = open_node(data_dir)
        try:
            assert resumed.replay.next_seq in BOUNDARIES
            deliver(resumed, from_position(stream, resumed.replay.next_seq))
            got = load_checkpoint(data_dir)
            context = f"{kind}, interrupted after {cut} messages"
            assert got.boundary == expected.boundary, context
            assert [v.finding for v in got.verdicts] == [v.finding for v in expected.verdicts], context
            assert (resumed.replay.next_seq, resumed.replay.counts) == (expected_cursor, expected_counts), (
                context
            )
            assert balances(resumed, got.boundary.state_root) == expected_balances, context
        finally:
            resumed.close()


def test_a_checkpoint_round_trips_through_its_file(tmp_path: Path) -> None:
    checkpoint = Checkpoint(
        boundary=Boundary(
            next_seq=10,
            block_number=3,
            block_hash=b"\x01" * 32,
            state_root=b"\x02" * 32,
            recent_hashes=(b"\x01" * 32, b"\x03" * 32),
            last_mini_hash=b"\x04" * 32,
            counts=Counts(blocks=3, mini_blocks=6, txs=9, last_mini_block_us=1_700_000_000_000_000),
        ),
        verdicts=(Verdict(7, 2, 4, 0, "receipt.gasUsed", "0x5209", "0x5208", 1_700_000_000.5),),
        mode="shard 1/2",
        head_seq=12,
        head_block=4,
        updated_at=1_700_000_001.25,
    )
    save_checkpoint(tmp_path, checkpoint)
    assert load_checkpoint(tmp_path) == checkpoint
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_FILE], "no temporary file left behind"


def test_a_fresh_data_dir_starts_at_genesis(tmp_path: Path) -> None:
    checkpoint = load_checkpoint(tmp_path)
    assert checkpoint.boundary.next_seq == 0 and not checkpoint.boundary.started
    assert checkpoint.verdicts == ()


def test_a_progress_file_of_the_earlier_version_is_read(tmp_path: Path) -> None:
    legacy = {
        "next_seq": 6,
        "block_number": 1,
        "block_hash": "0x" + "ab" * 32,
        "state_root": "0x" + "cd" * 32,
        "recent_hashes": ["0x" + "ab" * 32, "0x" + "ef" * 32],
        "verified_blocks": 1,
        "verified_mini_blocks": 4,
        "verified_txs": 5,
        "last_mini_block_us": 123,
        "head_seq": 9,
        "head_block": 2,
        "mismatches": [
            {
                "seq": 3,
                "evm_block": 1,
                "mini_block": 2,
                "tx_index": None,
                "field": "stateDiff.balance",
                "claimed": "a",
                "recomputed": "b",
                "detected_at": 1.5,
                "verdict": "mismatch",
            }
        ],
        "updated_at": 2.5,
    }
    (tmp_path / LEGACY_PROGRESS_FILE).write_text(json.dumps(legacy))
    checkpoint = load_checkpoint(tmp_path)
    assert checkpoint.boundary == Boundary(
        6, 1, b"\xab" * 32, b"\xcd" * 32, (b"\xab" * 32, b"\xef" * 32), None, Counts(1, 4, 5, 123)
    )
    assert checkpoint.verdicts == (Verdict(3, 1, 2, None, "stateDiff.balance", "a", "b", 1.5),)
    assert (checkpoint.head_seq, checkpoint.head_block, checkpoint.mode) == (9, 2, None)
    save_checkpoint(tmp_path, Checkpoint())
    assert load_checkpoint(tmp_path) == Checkpoint(), "checkpoint.json wins over progress.json"
