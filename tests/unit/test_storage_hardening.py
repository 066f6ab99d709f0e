"""Specification of the data dir's hardening (sequencer.storage: log, lock, durable):

* a failed segment rotation leaves the log appendable where it was; a failed cut of a torn
  write blocks every later append until the cut succeeds, so nothing follows a torn record;
* a log can be replaced atomically (compaction): older segments go only after the new one is
  in place;
* one process per data dir: a second lock is refused naming the holder;
* recovery replays the pool journal (adds minus removals), and reads the block log's pool
  records only while no pool journal exists (data dirs from before it).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest
from eth_hash.auto import keccak

from sequencer.errors import StorageError
from sequencer.storage.durable import ChainDB, PoolRecord
from sequencer.storage.lock import DataDirLock, DataDirLocked
from sequencer.storage.log import KIND_MINI_BLOCK, KIND_POOL_ADD, BlockLog, segment_name


def records(log: BlockLog) -> list[bytes]:
    return [r.payload for r in log.scan(repair=False)]


def test_a_failed_rotation_leaves_the_log_appendable_where_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = BlockLog(tmp_path / "log", segment_bytes=64)
    log.append([(KIND_MINI_BLOCK, b"a" * 40)])
    real_open = os.open

    def no_descriptors(path: Any, *args: Any, **kwargs: Any) -> int:
        if str(path).endswith(segment_name(1)):
            raise OSError(errno.EMFILE, "Too many open files")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", no_descriptors)
    with pytest.raises(StorageError, match=r"^log rotation failed: cannot create log/00000001.seg: Too many"):
        log.append([(KIND_MINI_BLOCK, b"b" * 40)])
    assert log.segments() == [0]
    monkeypatch.setattr(os, "open", real_open)
    log.append([(KIND_MINI_BLOCK, b"b" * 40)])
    assert log.segments() == [0, 1]
    assert records(log) == [b"a" * 40, b"b" * 40]
    log.close()


def test_a_failed_cut_blocks_appends_until_it_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = BlockLog(tmp_path / "log")
    log.append([(KIND_MINI_BLOCK, b"first")])
    real_write, real_truncate = os.write, os.ftruncate

    def half_then_full(fd: int, data: Any) -> int:
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    def cannot_truncate(fd: int, size: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "write", half_then_full)
    monkeypatch.setattr(os, "ftruncate", cannot_truncate)
    with pytest.raises(StorageError, match="log write failed: No space left on device; cannot cut"):
        log.append([(KIND_MINI_BLOCK, b"second")])
    monkeypatch.setattr(os, "write", real_write)
    with pytest.raises(StorageError, match=r"cannot cut a failed write off log/00000000\.seg at offset"):
        log.append([(KIND_MINI_BLOCK, b"third")])  # never written after the torn bytes
    monkeypatch.setattr(os, "ftruncate", real_truncate)
    log.append([(KIND_MINI_BLOCK, b"third")])
    assert records(log) == [b"first", b"third"]
    log.close()


def test_replace_is_atomic_and_drops_the_older_segments(tmp_path: Path) -> None:
    log = BlockLog(tmp_path / "pool")
    log.append([(KIND_POOL_ADD, b"x"), (KIND_POOL_ADD, b"y")])
    log.replace([(KIND_POOL_ADD, b"y")])
    assert log.segments() == [1] and records(log) == [b"y"]
    log.append([(KIND_POOL_ADD, b"z")])
    assert records(log) == [b"y", b"z"]
    assert not list((tmp_path / "pool").glob("*.tmp"))
    log.close()


def test_a_second_lock_on_a_data_dir_is_refused_naming_the_holder(tmp_path: Path) -> None:
    first = DataDirLock(tmp_path)
    with pytest.raises(DataDirLocked, match=rf"is held by pid {os.getpid()} \(stop that process first"):
        DataDirLock(tmp_path)
    first.release()
    DataDirLock(tmp_path).release()


def test_recovery_replays_the_pool_journal_adds_minus_removals(tmp_path: Path) -> None:
    db = ChainDB(tmp_path)
    a, b, c = b"\x02tx-a", b"\x02tx-b", b"\x02tx-c"

    db.journal_pool([PoolRecord(raw=a), PoolRecord(raw=b)])
    db.journal_pool([PoolRecord(removed=(keccak(a),)), PoolRecord(raw=c), PoolRecord(raw=a)])
    db.journal_pool([PoolRecord(removed=(keccak(b), keccak(c)))])
    db.log.append([(KIND_POOL_ADD, b"\x02legacy")])  # ignored: the pool journal exists
    db.close()
    db = ChainDB(tmp_path)
    try:
        assert db.recover().pool_txs == [a]
    finally:
        db.close()


def test_a_data_dir_from_before_the_pool_journal_restores_from_the_log(tmp_path: Path) -> None:
    db = ChainDB(tmp_path)
    db.log.append([(KIND_POOL_ADD, b"\x02old-1"), (KIND_POOL_ADD, b"\x02old-2")])
    db.close()
    db = ChainDB(tmp_path)
    try:
        assert db.recover().pool_txs == [b"\x02old-1", b"\x02old-2"]
    finally:
        db.close()
