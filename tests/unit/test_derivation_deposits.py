"""Derivation's deposit rules: every portal deposit on L1 is in the derived chain, byte for byte,
in L1 order, before the other transactions of its block, from an L1 block at or before the block's
origin, and within ``derivation.deposit_window_l1_blocks``; a violation is a verdict naming the
deposit's L1 transaction and log index.

The rules are checked on synthetic portal logs (the pure :func:`check_block`) and through the
deriver over the synthetic L1 of ``test_derivation`` (violations are found before a block is
executed, so the recorded devnet blocks serve as the batches).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from eth_hash.auto import keccak

from sequencer.bridge.deposits import TRANSACTION_DEPOSITED_TOPIC, encode_deposit, encode_opaque_data
from sequencer.settlement.l1 import L1Log
from tests.unit.test_derivation import BLOCKS, Harness, batch_of, batcher_txs, recorded_chain, settlement
from verifier.derivation.bank import ChannelBank
from verifier.derivation.checkpoint import (
    DerivationCheckpoint,
    DerivationState,
    decode_derivation,
    encode_derivation,
)
from verifier.derivation.deposits import L1Deposit, check_block, read_deposits
from verifier.derivation.genesis import build_genesis
from verifier.derivation.verdict import DerivationMismatch
from verifier.state import FlatState

PORTAL = b"\x90" * 20
ALICE = b"\xa1" * 20
BOB = b"\xb0" * 20


def portal_log(l1_block: int, l1_hash: bytes, log_index: int, mint: int, tx: bytes | None = None) -> L1Log:
    """A portal ``TransactionDeposited`` log minting ``mint`` wei from ALICE to BOB."""
    opaque = encode_opaque_data(mint, 0, 100_000, False, b"")
    data = (32).to_bytes(32, "big") + len(opaque).to_bytes(32, "big") + opaque + b"\x00" * (-len(opaque) % 32)
    topics = (TRANSACTION_DEPOSITED_TOPIC, b"\x00" * 12 + ALICE, b"\x00" * 12 + BOB, b"\x00" * 32)
    return L1Log(PORTAL, topics, data, l1_block, l1_hash, tx or keccak(b"l1 tx %d" % l1_block), log_index)


def raw_of(d: L1Deposit, mint: int) -> bytes:
    """The deposit transaction of ``portal_log(...)`` with ``mint`` (what a sequencer includes)."""
    return encode_deposit(d.source_hash, ALICE, BOB, mint, 0, 100_000, b"")


def queue_of(logs: list[L1Log]) -> tuple[L1Deposit, ...]:
    deposits, bad = read_deposits(logs, PORTAL)
    assert bad == []
    return tuple(deposits)


# -- the rules ---------------------------------------------------------------------------------------
Q = queue_of(
    [
        portal_log(10, b"\x10" * 32, 0, 5),
        portal_log(10, b"\x10" * 32, 3, 6),
        portal_log(12, b"\x12" * 32, 1, 7),
    ]
)
TRANSFER = bytes.fromhex("02") + b"\x00" * 8  # any non-deposit transaction's bytes


def test_deposits_included_in_l1_order_before_other_transactions_are_accepted() -> None:
    rest, problems = check_block(Q, [raw_of(Q[0], 5), raw_of(Q[1], 6), TRANSFER], origin=11, window=10)
    assert problems == [] and rest == (Q[2],)
    assert keccak(raw_of(Q[0], 5)) == Q[0].tx_hash


def test_a_deposit_no_portal_log_has_is_unknown() -> None:
    forged = encode_deposit(b"\x77" * 32, ALICE, BOB, 10**18, 0, 100_000, b"")
    _, problems = check_block(Q, [forged], origin=12, window=10)
    assert [p.field for p in problems] == ["deposit.unknown"] and problems[0].deposit is None


def test_a_deposit_with_another_mint_than_its_log_is_a_fields_mismatch() -> None:
    _, problems = check_block(Q, [raw_of(Q[0], 5 * 10**18)], origin=12, window=10)
    assert [p.field for p in problems] == ["deposit.fields"]
    assert problems[0].deposit == Q[0]


def test_a_deposit_after_a_non_deposit_transaction_is_out_of_order() -> None:
    _, problems = check_block(Q, [TRANSFER, raw_of(Q[0], 5)], origin=12, window=10)
    assert [p.field for p in problems] == ["deposit.order"]


def test_a_deposit_newer_than_the_blocks_origin_is_refused() -> None:
    _, problems = check_block(Q, [raw_of(Q[0], 5), raw_of(Q[1], 6), raw_of(Q[2], 7)], origin=11, window=10)
    assert [(p.field, p.deposit) for p in problems] == [("deposit.origin", Q[2])]


def test_a_deposit_included_before_an_older_one_names_the_skipped_one() -> None:
    _, problems = check_block(Q, [raw_of(Q[1], 6)], origin=12, window=10)
    assert [(p.field, p.deposit) for p in problems] == [("deposit.skipped", Q[0])]
    assert problems[0].drops_batch


def test_a_deposit_not_included_within_the_window_is_skipped() -> None:
    rest, problems = check_block(Q, [raw_of(Q[0], 5)], origin=21, window=10)
    assert [(p.field, p.deposit) for p in problems] == [("deposit.skipped", Q[1])]
    assert not problems[0].drops_batch and rest == (Q[2],)
    _, none_late = check_block(Q, [], origin=20, window=10)
    assert none_late == []


# -- through the deriver ---------------------------------------------------------------------------
def with_portal(h: Harness, window: int) -> None:
    s = settlement()
    s = dataclasses.replace(
        s,
        contracts=dataclasses.replace(s.contracts, portal=PORTAL),
        derivation=dataclasses.replace(s.derivation, deposit_window_l1_blocks=window),
    )
    h.deriver.settlement = s


@pytest.mark.asyncio
async def test_the_deriver_flags_a_deposit_left_out_past_its_window_naming_the_l1_tx_and_log(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path)
    with_portal(h, 2)
    l1_tx = b"\xd0" * 32
    deposit_block = h.l1.next()
    h.state = await h.deriver.process(
        h.state, deposit_block, [], [portal_log(deposit_block.number, deposit_block.hash, 4, 10**18, l1_tx)]
    )
    assert len(h.state.deposits) == 1
    for _ in range(3):
        origin = await h.l1_block()
    # the batch of L2 block 1 names an origin 3 L1 blocks after the deposit's (window 2) without it
    with pytest.raises(DerivationMismatch):
        await h.l1_block(batcher_txs([batch_of(BLOCKS[0], origin)]))
    (verdict,) = h.verdicts
    assert verdict.field == "deposit.skipped"
    assert verdict.l1_tx == "0x" + l1_tx.hex() and verdict.log_index == 4
    assert verdict.l1_block == deposit_block.number and verdict.l2_block == 1


@pytest.mark.asyncio
async def test_the_deriver_flags_a_deposit_that_l1_does_not_have(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    with_portal(h, 10)
    forged = encode_deposit(b"\x77" * 32, ALICE, BOB, 10**18, 0, 100_000, b"")
    with pytest.raises(DerivationMismatch):
        await h.l1_block(batcher_txs([batch_of(BLOCKS[0], h.start, (forged, *BLOCKS[0].txs))]))
    (verdict,) = h.verdicts
    assert verdict.field == "deposit.unknown" and verdict.l2_block == 1
    assert "0x" + keccak(forged).hex() in verdict.claimed


@pytest.mark.asyncio
async def test_blocks_without_deposits_derive_as_before_while_no_deposit_waits(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    with_portal(h, 2)
    await h.l1_block(batcher_txs([batch_of(b, h.start) for b in BLOCKS]))
    assert h.verdicts == [] and h.state.head.hash == BLOCKS[-1].hash


def test_the_waiting_deposits_survive_the_checkpoint() -> None:
    genesis = build_genesis(FlatState(), recorded_chain())
    state = DerivationState(
        7, b"\x07" * 32, genesis, (genesis.hash,), b"\xba" * 20, ChannelBank(3), deposits=Q
    )
    record = encode_derivation(DerivationCheckpoint("d", state, (state,)))
    back = decode_derivation(record)
    assert back.state.deposits == Q and back.marks[0].deposits == Q
