"""Specification of the verifier's checkpoint (``verifier/checkpoint.py``), on a recorded feed.

* The checkpoint only ever names an EVM block boundary (the position right after a verified
  ``genesis`` or ``block``), with the state root that block's header names; it is rewritten at
  every boundary, in the same store transaction as the state it names.
* A mismatch is recorded in the checkpoint at once, but the checkpoint's resume position stays
  at the last verified boundary, also in the middle of an EVM block and in ``--on-mismatch
  continue`` mode, where the in-memory cursor goes on past the message (from what re-execution
  found, so the lie is found once).
* A verifier restarted from its checkpoint, wherever it was interrupted, ends with the same
  verdicts, the same boundary, counts and state as one that ran without interruption; a
  mismatch found again after a restart is not recorded twice.
* A data dir of an earlier verifier (py-evm's trie state, ``checkpoint.json``) is refused with
  a clear message; ``verifier status`` still reads its checkpoint.

No sequencer runs here: the messages come from ``tests/fixtures/feed/devnet.jsonl``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import rlp
from eth_account import Account
from eth_hash.auto import keccak

from tests.conftest import DEV_KEYS
from tests.support.feed_fixture import (
    CHAIN,
    Message,
    boundary_positions,
    from_position,
    header_state_roots,
    mid_block_mini_block,
    recorded_feed,
    text,
    with_balance_fault,
    with_duplicate,
)
from verifier.checkpoint import (
    Boundary,
    Checkpoint,
    Counts,
    Rotation,
    decode_checkpoint,
    encode_checkpoint,
)
from verifier.node import EXIT_MISMATCH, VerifierNode
from verifier.replay import Mode
from verifier.status import read_checkpoint
from verifier.store import EarlierDataDir
from verifier.verdict import Verdict

FEED = recorded_feed()
BOUNDARIES = boundary_positions(FEED)
ROOTS = header_state_roots(FEED)
FAULTY = mid_block_mini_block(FEED)
DEV_ADDRESSES = [bytes.fromhex(Account.from_key(k).address[2:]) for k in DEV_KEYS[:4]]


def open_node(data_dir: Path, *, halt: bool = False) -> VerifierNode:
    return VerifierNode("ws://127.0.0.1:9", CHAIN, data_dir, halt_on_mismatch=halt, mode=Mode())


def load_checkpoint(data_dir: Path) -> Checkpoint:
    """What the data dir holds (of a verifier that is closed)."""
    return read_checkpoint(data_dir)


def saved(node: VerifierNode) -> Checkpoint:
    """What a running verifier's store holds now."""
    record = node.store.checkpoint_record()
    return decode_checkpoint(record) if record is not None else Checkpoint()


def deliver(node: VerifierNode, messages: list[Message]) -> None:
    """What the subscriber does: hand over messages in order until the verifier stops."""
    for message in messages:
        if node.stopping:
            return
        node.deliver(text(message))


def assert_names_a_boundary(checkpoint: Checkpoint, context: str) -> None:
    b = checkpoint.boundary
    assert b.next_seq in BOUNDARIES, f"{context}: checkpoint at seq {b.next_seq}, not a block boundary"
    assert b.state_root == ROOTS[b.block_number], f"{context}: state root is not block {b.block_number}'s"


def balances(node: VerifierNode) -> list[int]:
    view = node.state.at_boundary()
    return [account.balance if (account := view.get_account(a)) else 0 for a in DEV_ADDRESSES]


def test_the_recording_has_what_these_tests_need() -> None:
    assert FEED[0]["type"] == "genesis" and FEED[-1]["type"] == "block"
    assert int(FAULTY["miniBlock"]["index"], 16) > 0, "a mini-block in the middle of an EVM block"
    assert FAULTY["seq"] + 1 not in BOUNDARIES and FAULTY["seq"] not in BOUNDARIES
    assert any(m["type"] == "block" and m["block"]["miniBlockCount"] == "0x0" for m in FEED), "an empty block"


def test_an_honest_stream_is_checkpointed_at_every_block_boundary_and_nowhere_else(tmp_path: Path) -> None:
    node = open_node(tmp_path / "v")
    try:
        for message in FEED:
            node.deliver(text(message))
            checkpoint = saved(node)
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
        last_boundary = saved(node).boundary
        node.deliver(text(stream[len(before)]))
        checkpoint = saved(node)
        (verdict,) = checkpoint.verdicts
        assert (verdict.seq, verdict.field) == (FAULTY["seq"], "stateDiff.balance")
        assert checkpoint.boundary == last_boundary, "the resume position did not move"
        assert node.replay.next_seq == FAULTY["seq"] + 1, "the in-memory cursor goes on"
        for message in stream[len(before) + 1 :]:
            node.deliver(text(message))
            assert_names_a_boundary(saved(node), f"after seq {message['seq']}")
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
    # a message sent twice: the copy is ignored (the position was verified), nothing else changes
    "duplicate-mid-block": with_duplicate(FEED, FAULTY["seq"]),
    # a lie: recorded; verification goes on from what re-execution found, so the next
    # mini-block's parent link (to the true hash) is the only other finding, and every later
    # block verifies
    "balance-mid-block": with_balance_fault(FEED, FAULTY["seq"]),
}


LAST_BLOCK = max(ROOTS)
ENDINGS = {
    # kind: (the verdicts' fields, the block of the final checkpoint)
    "honest": ([], LAST_BLOCK),
    "duplicate-mid-block": ([], LAST_BLOCK),
    "balance-mid-block": (["stateDiff.balance", "miniBlock.parentHash"], LAST_BLOCK),
}


@pytest.mark.parametrize("kind", sorted(STREAMS))
def test_a_restart_from_the_checkpoint_ends_like_an_uninterrupted_run(tmp_path: Path, kind: str) -> None:
    stream = STREAMS[kind]
    whole = open_node(tmp_path / "whole")
    try:
        deliver(whole, stream)
        expected = saved(whole)
        expected_cursor, expected_counts = whole.replay.next_seq, whole.replay.counts
        expected_balances = balances(whole)
    finally:
        whole.close()
    fields, last_block = ENDINGS[kind]
    assert [v.field for v in expected.verdicts] == fields
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
            got = saved(resumed)
            context = f"{kind}, interrupted after {cut} messages"
            assert got.boundary == expected.boundary, context
            assert [v.finding for v in got.verdicts] == [v.finding for v in expected.verdicts], context
            assert (resumed.replay.next_seq, resumed.replay.counts) == (expected_cursor, expected_counts), (
                context
            )
            assert balances(resumed) == expected_balances, context
        finally:
            resumed.close()


def test_a_checkpoint_round_trips_through_its_record(tmp_path: Path) -> None:
    checkpoint = Checkpoint(
        boundary=Boundary(
            next_seq=10,
            block_number=3,
            block_hash=b"\x01" * 32,
            state_root=b"\x02" * 32,
            recent_hashes=(b"\x01" * 32, b"\x03" * 32),
            last_mini_hash=b"\x04" * 32,
            counts=Counts(blocks=3, mini_blocks=6, txs=9, last_mini_block_us=1_700_000_000_000_000),
            next_mini_block=6,
            timestamp=1_700_000_003,
            base_fee=875_000_000,
            gas_used=63_000,
            gas_limit=1_000_000_000,
        ),
        verdicts=(Verdict(7, 2, 4, 0, "receipt.gasUsed", "0x5209", "0x5208", 1_700_000_000.5),),
        mode="shard 1/2",
        head_seq=12,
        head_block=4,
        updated_at=1_700_000_001.25,
        rotations=(Rotation(1, b"\x05" * 20),),
    )
    assert decode_checkpoint(encode_checkpoint(checkpoint)) == checkpoint


def test_a_fresh_data_dir_starts_at_genesis(tmp_path: Path) -> None:
    checkpoint = load_checkpoint(tmp_path)
    assert checkpoint.boundary.next_seq == 0 and not checkpoint.boundary.started
    assert checkpoint.verdicts == ()


LEGACY = {
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


@pytest.mark.parametrize("name", ["progress.json", "checkpoint.json"])
def test_an_earlier_verifiers_data_dir_is_refused_and_its_status_still_read(
    tmp_path: Path, name: str
) -> None:
    (tmp_path / name).write_text(json.dumps(LEGACY))
    with pytest.raises(EarlierDataDir, match="earlier verifier"):
        open_node(tmp_path)
    checkpoint = load_checkpoint(tmp_path)
    assert checkpoint.boundary.next_seq == 6 and checkpoint.boundary.block_number == 1
    assert checkpoint.verdicts == (Verdict(3, 1, 2, None, "stateDiff.balance", "a", "b", 1.5),)


# -- the state and its checkpoint: durable together, checked at start-up, audited with py-trie ------


def test_a_state_that_does_not_match_its_checkpoint_is_refused_at_start_up(tmp_path: Path) -> None:
    """The incremental trie's root of the loaded state is compared with the checkpoint's: a store
    changed behind the verifier's back (a disk fault, a hand edit) stops it, never a verdict."""
    import lmdb

    from verifier.node import StateCorrupt

    node = open_node(tmp_path / "v")
    deliver(node, FEED)
    node.close()
    env = lmdb.open(str(tmp_path / "v" / "state.lmdb"), max_dbs=4)
    try:
        accounts = env.open_db(b"accounts")
        with env.begin(write=True, db=accounts) as txn:
            address, record = next(iter(txn.cursor()))
            txn.put(address, record[:-1] + bytes([record[-1] ^ 1]))
    finally:
        env.close()
    with pytest.raises(StateCorrupt, match="its checkpoint"):
        open_node(tmp_path / "v")


def test_the_audit_catches_a_root_the_fast_trie_got_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug the verifier's incremental trie shared with the sequencer's would pass every header
    check (both compute the same wrong root); the audit recomputes the root with py-trie.

    The shared bug: the root of the recording's final state comes out wrong. The sequencer with
    that bug wrote it in the headers of the blocks that end in that state (and their children's
    parent links): the recording is rewritten so."""
    from sequencer.trie.state import StateTrie
    from tests.support.feed_fixture import reseal
    from verifier.node import StateCorrupt

    final = ROOTS[LAST_BLOCK]
    true_root = StateTrie.root

    def buggy(self: StateTrie) -> bytes:
        root = true_root(self)
        return keccak(root) if root == final else root

    monkeypatch.setattr(StateTrie, "root", buggy)
    lying = copy.deepcopy(FEED)
    parent: bytes | None = None
    for m in lying:
        body = m.get("block")
        if body is None:
            continue
        fields = rlp.decode(bytes.fromhex(body["header"][2:]))
        if parent is not None:
            fields[0] = fields[13] = parent  # parentHash, prevRandao
        if fields[3] == final:
            fields[3] = keccak(final)
        body["header"] = "0x" + rlp.encode(fields).hex()
        parent = bytes.fromhex(reseal(m)["block"]["hash"][2:])
    assert lying != FEED
    unaudited = open_node(tmp_path / "plain")
    try:
        deliver(unaudited, lying)
        assert unaudited.verification.verdicts == [], "without the audit, the shared bug passes"
        assert unaudited.replay.boundary.block_number == LAST_BLOCK
    finally:
        unaudited.close()
    audited = VerifierNode("ws://127.0.0.1:9", CHAIN, tmp_path / "audited", audit_every=1)
    try:
        with pytest.raises(StateCorrupt, match="audit: py-trie computes state root"):
            deliver(audited, lying)
    finally:
        audited.close()
