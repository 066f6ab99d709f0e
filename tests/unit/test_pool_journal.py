"""Specification of the pool journal's group commit and compaction (sequencer.mempool.journal):

* records queued together share one write; each group's ``done`` hears how its write went
  before its waiter does;
* a failed write fails its waiters and calls ``done`` with the error;
* once the journal has grown past ``compact_bytes`` and twice the live size, it is replaced by
  the snapshot; a failed compaction is retried later and loses nothing.
"""

from __future__ import annotations

import asyncio

import pytest

from sequencer.errors import StorageError
from sequencer.mempool.journal import PoolJournal
from sequencer.storage.durable import PoolRecord
from sequencer.storage.log import HEADER_SIZE


class Disk:
    def __init__(self) -> None:
        self.writes: list[list[PoolRecord]] = []
        self.replaced: list[list[bytes]] = []
        self.fail_writes = False
        self.fail_replace = False

    async def write(self, records: list[PoolRecord]) -> None:
        await asyncio.sleep(0)
        if self.fail_writes:
            raise StorageError("disk full")
        self.writes.append(records)

    async def replace(self, raws: list[bytes]) -> None:
        if self.fail_replace:
            raise StorageError("disk full")
        self.replaced.append(raws)


@pytest.mark.asyncio
async def test_concurrent_records_share_one_write_and_done_comes_first() -> None:
    disk = Disk()
    journal = PoolJournal(disk.write)
    order: list[str] = []

    async def add(raw: bytes) -> None:
        await journal.persist([PoolRecord(raw=raw)], lambda error: order.append(f"done {raw!r} {error}"))
        order.append(f"returned {raw!r}")

    await asyncio.gather(add(b"a"), add(b"b"))
    assert [len(w) for w in disk.writes] == [2]
    assert order == ["done b'a' None", "done b'b' None", "returned b'a'", "returned b'b'"]
    assert journal.size == 2 * (HEADER_SIZE + 1)


@pytest.mark.asyncio
async def test_a_failed_write_fails_its_waiters_and_tells_done() -> None:
    disk = Disk()
    disk.fail_writes = True
    journal = PoolJournal(disk.write)
    errors: list[BaseException | None] = []
    with pytest.raises(StorageError, match="disk full"):
        await journal.persist([PoolRecord(raw=b"a")], errors.append)
    assert len(errors) == 1 and isinstance(errors[0], StorageError)
    assert journal.size == 0


@pytest.mark.asyncio
async def test_the_journal_is_compacted_to_the_snapshot_once_it_outgrows_its_bound() -> None:
    disk = Disk()
    live = [b"x" * 10]
    journal = PoolJournal(disk.write, disk.replace, lambda: list(live), compact_bytes=100)
    for _ in range(3):  # 3 x 31 bytes: not past 100 yet
        await journal.persist([PoolRecord(raw=b"y" * 20)])
    assert disk.replaced == []
    await journal.persist([PoolRecord(raw=b"y" * 20)])
    assert disk.replaced == [[b"x" * 10]], "past 100 bytes and twice the live size"
    assert journal.size == HEADER_SIZE + 10 and journal.compactions == 1


@pytest.mark.asyncio
async def test_no_compaction_while_the_journal_is_mostly_live() -> None:
    disk = Disk()
    live: list[bytes] = []
    journal = PoolJournal(disk.write, disk.replace, lambda: list(live), compact_bytes=100)
    for i in range(10):
        raw = bytes([i]) * 20
        live.append(raw)
        await journal.persist([PoolRecord(raw=raw)])
    assert disk.replaced == []


@pytest.mark.asyncio
async def test_a_failed_compaction_is_retried_later_and_the_journal_stays() -> None:
    disk = Disk()
    disk.fail_replace = True
    journal = PoolJournal(disk.write, disk.replace, lambda: [], compact_bytes=100)
    for _ in range(5):
        await journal.persist([PoolRecord(raw=b"y" * 20)])
    assert disk.replaced == [] and journal.size == 5 * (HEADER_SIZE + 20)
    disk.fail_replace = False
    for _ in range(4):
        await journal.persist([PoolRecord(raw=b"y" * 20)])
    assert disk.replaced == [[]]


@pytest.mark.asyncio
async def test_an_idle_journal_is_compacted_when_checked() -> None:
    disk = Disk()
    live = [b"y" * 20] * 4
    journal = PoolJournal(disk.write, disk.replace, lambda: list(live), compact_bytes=100)
    for _ in range(4):
        await journal.persist([PoolRecord(raw=b"y" * 20)])
    assert disk.replaced == [], "all of it live"
    live.clear()  # included meanwhile: no write comes to notice
    journal.check_compaction()
    assert journal._flusher is not None
    await journal._flusher  # the check runs between writes, in the flusher
    assert disk.replaced == [[]] and journal.size == 0
