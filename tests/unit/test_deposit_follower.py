"""The sequencer's deposit follower, over a synthetic L1 (headers and portal logs in memory).

Specified: only L1 blocks ``origin_depth`` deep are read; deposits are offered in L1 order and
only for L2 blocks at or after their L1 block's time; a published mini-block with a deposit
takes it out of the offer; a restart reads L1 again from the durable cursor and finds what the
chain already holds; an L1 reorg drops the deposits of the reorganized blocks (the new blocks'
deposits come with new source hashes) and an included deposit reorganized away is reported;
the ``deposit-skip`` fire drill withholds one deposit; the batcher's origin for a block with a
deposit is not older than the deposit's L1 block.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import cast

import pytest
from prometheus_client import CollectorRegistry

from sequencer.bridge.deposits import TRANSACTION_DEPOSITED_TOPIC, encode_opaque_data
from sequencer.metrics import DepositMetrics
from sequencer.settlement.deposits import CursorStore, DepositFollower
from sequencer.settlement.l1 import L1Block, L1Client, L1Log
from sequencer.settlement.origins import OriginPicker
from sequencer.settlement.progress import Origin
from sequencer.types import BlockEnv, EvmBlock, MiniBlock, StateDiff

PORTAL = bytes.fromhex("11" * 20)
ALICE = bytes.fromhex("a1" * 20)
BOB = bytes.fromhex("b0" * 20)


class SyntheticL1(L1Client):
    """Blocks ``0..n`` with 12 s spacing; each may carry portal deposits; ``reorg`` replaces a tail."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:1")
        self.chain: list[L1Block] = []
        self.logs_of: dict[bytes, list[L1Log]] = {}
        self.fork = 0
        self.mine(1)

    def mine(self, count: int, deposits: dict[int, list[int]] | None = None) -> None:
        """Append ``count`` blocks; ``deposits``: offset in this batch -> minted amounts."""
        for i in range(count):
            number = len(self.chain)
            parent = self.chain[-1].hash if self.chain else b"\x00" * 32
            block_hash = bytes([self.fork]) + number.to_bytes(31, "big")
            self.chain.append(L1Block(number, block_hash, parent, 1_000 + 12 * number, 7))
            self.logs_of[block_hash] = [
                deposit_log(number, block_hash, k, mint) for k, mint in enumerate((deposits or {}).get(i, []))
            ]

    def reorg(self, from_block: int, deposits: dict[int, list[int]] | None = None) -> None:
        """Replace blocks ``from_block..`` with as many new ones."""
        count = len(self.chain) - from_block
        del self.chain[from_block:]
        self.fork += 1
        self.mine(count, deposits)

    async def block(self, which: int | str) -> L1Block | None:
        if which == "latest":
            return self.chain[-1]
        assert isinstance(which, int)
        return self.chain[which] if which < len(self.chain) else None

    async def logs(self, block_hash: bytes, addresses: list[bytes]) -> list[L1Log]:
        assert addresses == [PORTAL]
        return list(self.logs_of.get(block_hash, []))


def deposit_log(number: int, block_hash: bytes, index: int, mint: int) -> L1Log:
    """A portal ``TransactionDeposited`` log minting ``mint`` wei from ALICE to BOB."""
    opaque = encode_opaque_data(mint, mint, 100_000, False, b"")
    padded = opaque + b"\x00" * (-len(opaque) % 32)
    data = (32).to_bytes(32, "big") + len(opaque).to_bytes(32, "big") + padded
    topics = (TRANSACTION_DEPOSITED_TOPIC, b"\x00" * 12 + ALICE, b"\x00" * 12 + BOB, b"\x00" * 32)
    tx_hash = bytes([0xEE, index]) + number.to_bytes(30, "big")
    return L1Log(PORTAL, topics, data, number, block_hash, tx_hash, index)


def env_at(timestamp: int) -> BlockEnv:
    return BlockEnv(1, timestamp, b"\x00" * 32, 7, 30_000_000, b"\x00" * 20, b"\x00" * 32)


def mini_block_with(hashes: list[bytes]) -> MiniBlock:
    return MiniBlock(
        1, 1, 0, 0, b"\x00" * 32, b"\x01" * 32, env_at(0), (), tuple(hashes), (), StateDiff(()), 0
    )


def follower(
    l1: SyntheticL1,
    data_dir: Path,
    in_chain: set[bytes] | None = None,
    **kwargs: int | None,
) -> DepositFollower:
    chain = in_chain if in_chain is not None else set()
    return DepositFollower(
        l1,
        PORTAL,
        0,
        2,
        lambda h: h in chain,
        CursorStore(data_dir),
        DepositMetrics(CollectorRegistry()),
        **kwargs,
    )


def step(f: DepositFollower) -> None:
    asyncio.run(f.step())


FAR_FUTURE = env_at(10**9)
FAKE_BLOCK = cast(EvmBlock, None)  # on_rollback does not read the block it rolled back to


def test_only_blocks_origin_depth_deep_are_read_and_offered_in_l1_order(tmp_path: Path) -> None:
    l1 = SyntheticL1()
    l1.mine(3, {0: [5, 6], 1: [7]})  # blocks 1, 2, 3: deposits in 1 and 2
    f = follower(l1, tmp_path)
    step(f)
    assert f.next_block == 2  # head 3, depth 2: blocks 0 and 1 only
    assert [t.mint for t in f.pending(FAR_FUTURE)] == [5, 6]
    l1.mine(1)
    step(f)
    offered = f.pending(FAR_FUTURE)
    assert [t.mint for t in offered] == [5, 6, 7]
    assert all(t.is_deposit for t in offered)
    assert f.l1_block_of(offered[2].hash) == 2


def test_a_deposit_waits_for_an_l2_block_not_older_than_its_l1_block(tmp_path: Path) -> None:
    l1 = SyntheticL1()
    l1.mine(4, {0: [5], 1: [7]})  # deposits in L1 blocks 1 (t=1012) and 2 (t=1024)
    f = follower(l1, tmp_path)
    step(f)
    assert [t.mint for t in f.pending(env_at(1011))] == []
    assert [t.mint for t in f.pending(env_at(1012))] == [5]
    assert [t.mint for t in f.pending(env_at(1030))] == [5, 7]


def test_a_published_deposit_is_no_longer_offered(tmp_path: Path) -> None:
    l1 = SyntheticL1()
    l1.mine(4, {0: [5, 6]})
    f = follower(l1, tmp_path)
    step(f)
    first, second = f.pending(FAR_FUTURE)
    f.on_mini_block(mini_block_with([first.hash]))
    assert list(f.pending(FAR_FUTURE)) == [second]
    assert f.pending_count == 1
    f.on_mini_block(mini_block_with([second.hash]))
    assert list(f.pending(FAR_FUTURE)) == []


def test_deposits_a_rollback_takes_out_of_the_chain_are_offered_again_in_l1_order(tmp_path: Path) -> None:
    l1 = SyntheticL1()
    l1.mine(4, {0: [5, 6], 1: [7]})
    chain: set[bytes] = set()
    f = follower(l1, tmp_path, chain)
    step(f)
    first, second, third = f.pending(FAR_FUTURE)
    chain.update({first.hash, second.hash})
    f.on_mini_block(mini_block_with([first.hash, second.hash]))
    assert list(f.pending(FAR_FUTURE)) == [third]
    chain.discard(second.hash)  # evm_revert to a block between the two
    f.on_rollback(FAKE_BLOCK)
    assert list(f.pending(FAR_FUTURE)) == [second, third]
    f.on_rollback(FAKE_BLOCK)  # nothing else left the chain
    assert list(f.pending(FAR_FUTURE)) == [second, third]


def test_a_restart_reads_again_from_the_oldest_pending_deposit_and_skips_what_the_chain_holds(
    tmp_path: Path,
) -> None:
    l1 = SyntheticL1()
    l1.mine(6, {0: [5], 2: [6]})  # deposits in L1 blocks 1 and 3
    f = follower(l1, tmp_path)
    step(f)
    first, second = f.pending(FAR_FUTURE)
    f.on_mini_block(mini_block_with([first.hash]))
    step(f)  # the cursor moves to the oldest deposit not yet included: L1 block 3
    assert CursorStore(tmp_path).load(PORTAL) == 3
    again = follower(l1, tmp_path, in_chain={first.hash})
    step(again)
    assert list(again.pending(FAR_FUTURE)) == [second]
    # a crash after the second was included but before the cursor moved: offered no more
    restarted = follower(l1, tmp_path, in_chain={first.hash, second.hash})
    step(restarted)
    assert list(restarted.pending(FAR_FUTURE)) == []
    assert restarted.l1_block_of(second.hash) == 3


def test_resume_by_reads_from_the_batchers_next_origin_when_that_is_older(tmp_path: Path) -> None:
    l1 = SyntheticL1()
    l1.mine(6, {0: [5]})
    f = follower(l1, tmp_path)
    step(f)
    (first,) = f.pending(FAR_FUTURE)
    f.on_mini_block(mini_block_with([first.hash]))
    step(f)
    assert CursorStore(tmp_path).load(PORTAL) == 5
    again = follower(l1, tmp_path, in_chain={first.hash}, resume_by=1)
    step(again)
    assert again.l1_block_of(first.hash) == 1  # known again: the batcher can pick its origin
    assert list(again.pending(FAR_FUTURE)) == []


def test_an_l1_reorg_drops_pending_deposits_of_the_reorganized_blocks(tmp_path: Path) -> None:
    l1 = SyntheticL1()
    l1.mine(5, {0: [5], 2: [6]})  # deposits in L1 blocks 1 and 3
    f = follower(l1, tmp_path)
    step(f)
    old = list(f.pending(FAR_FUTURE))
    assert [t.mint for t in old] == [5, 6]
    l1.reorg(3, {1: [9]})  # blocks 3..5 replaced: the new block 4 has a deposit of 9
    l1.mine(1)
    step(f)
    now = list(f.pending(FAR_FUTURE))
    assert [t.mint for t in now] == [5, 9]
    assert now[0] == old[0]
    assert f.lookup(old[1].hash) is None


def test_an_included_deposit_reorganized_away_is_logged_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    l1 = SyntheticL1()
    l1.mine(5, {2: [6]})  # a deposit in L1 block 3
    chain: set[bytes] = set()
    f = follower(l1, tmp_path, in_chain=chain)
    step(f)
    (deposit,) = f.pending(FAR_FUTURE)
    chain.add(deposit.hash)
    f.on_mini_block(mini_block_with([deposit.hash]))
    l1.reorg(2)
    l1.mine(1)
    with caplog.at_level(logging.ERROR, logger="sequencer.settlement.deposits"):
        step(f)
    assert any("took out an included deposit" in r.getMessage() for r in caplog.records)
    assert list(f.pending(FAR_FUTURE)) == []


def test_the_deposit_skip_drill_withholds_the_first_deposit_at_or_after_its_l1_block(tmp_path: Path) -> None:
    l1 = SyntheticL1()
    l1.mine(6, {0: [5], 2: [6, 7]})  # deposits in L1 blocks 1 and 3
    f = follower(l1, tmp_path, skip_at=2)
    step(f)
    assert [t.mint for t in f.pending(FAR_FUTURE)] == [5, 7]


def test_the_origin_of_a_block_with_a_deposit_is_not_older_than_the_deposit(tmp_path: Path) -> None:
    l1 = SyntheticL1()
    l1.mine(9)
    start = Origin(0, l1.chain[0].hash, l1.chain[0].timestamp)
    picker = OriginPicker(l1, start, 4)
    # head 9, depth 4: the origin would be block 5; a deposit of L1 block 7 pulls it to 7
    assert asyncio.run(picker.pick(None, 10**9, 9)).number == 5
    assert asyncio.run(picker.pick(None, 10**9, 9, at_least=7)).number == 7
    assert asyncio.run(picker.pick(None, 10**9, 9, at_least=3)).number == 5
