"""The durable block log: the sequencer's source of truth on disk.

An append-only sequence of framed records in segment files ``<data>/log/NNNNNNNN.seg``::

    magic "ML" (2) | kind (1) | length (4, big-endian) | crc32 of kind+payload (4) | payload

Records are appended and ``fdatasync``'d before anything about them is visible; the LMDB
store (``store.py``) is an index and state cache derived from the log, rebuilt from it when
needed. At start-up the log is scanned and every record checked:

* a damaged or partial record at the very end, with nothing valid after it, is a **torn tail**
  (a crash mid-write): the segment is truncated to the last complete record, with one log line;
* a damaged record with valid records after it, or in an older segment, is **corruption**:
  :class:`LogCorruption` names the segment, the offset and the last good record.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sequencer.errors import StorageError

log = logging.getLogger("sequencer.storage")

MAGIC = b"ML"
_HEADER = struct.Struct(">2sBII")  # magic, kind, length, crc
HEADER_SIZE = _HEADER.size
MAX_RECORD = 256 * 1024 * 1024
SEGMENT_BYTES = 256 * 1024 * 1024

KIND_MINI_BLOCK = 1
KIND_EVM_BLOCK = 2
KIND_POOL_ADD = 3
KIND_GENESIS = 4
KIND_ROLLBACK = 5
"""A devnet ``evm_revert``: the chain after the named EVM block is dropped (records before it
that are past that block no longer count; pooled transactions journaled before it are gone)."""
KINDS = {
    KIND_MINI_BLOCK: "mini-block",
    KIND_EVM_BLOCK: "evm-block",
    KIND_POOL_ADD: "pool-add",
    KIND_GENESIS: "genesis",
    KIND_ROLLBACK: "rollback",
}


class LogCorruption(StorageError):
    """A record in the middle of the log is damaged: the data dir must not be served."""


@dataclass(frozen=True, slots=True)
class Position:
    """Where a record starts: segment and byte offset."""

    segment: int
    offset: int

    def __str__(self) -> str:
        return f"{segment_name(self.segment)}@{self.offset}"


@dataclass(frozen=True, slots=True)
class Record:
    """One valid record of the log."""

    kind: int
    payload: bytes
    position: Position


@dataclass(frozen=True, slots=True)
class TornTail:
    """A damaged end of the log, cut off at start-up."""

    position: Position
    dropped_bytes: int


def segment_name(index: int) -> str:
    """The file name of segment ``index``."""
    return f"{index:08d}.seg"


def frame(kind: int, payload: bytes) -> bytes:
    """A record's bytes on disk: magic, kind, length, CRC-32, payload."""
    crc = zlib.crc32(bytes([kind]) + payload)
    return _HEADER.pack(MAGIC, kind, len(payload), crc) + payload


def _parse_at(data: bytes, offset: int) -> tuple[int, bytes] | None:
    """The (kind, payload) of a valid record at ``offset``, or None."""
    if len(data) - offset < HEADER_SIZE:
        return None
    magic, kind, length, crc = _HEADER.unpack_from(data, offset)
    if magic != MAGIC or kind not in KINDS or length > MAX_RECORD:
        return None
    end = offset + HEADER_SIZE + length
    if end > len(data):
        return None
    payload = data[offset + HEADER_SIZE : end]
    if zlib.crc32(bytes([kind]) + payload) != crc:
        return None
    return kind, payload


def _valid_record_after(data: bytes, start: int) -> int | None:
    """The offset of the next valid record after ``start`` (a sign of mid-file corruption)."""
    pos = data.find(MAGIC, start + 1)
    while pos != -1:
        if _parse_at(data, pos) is not None:
            return pos
        pos = data.find(MAGIC, pos + 1)
    return None


class BlockLog:
    """Append-only, fsync'd record log in segment files."""

    def __init__(self, directory: str | Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.dir = Path(directory)
        self.segment_bytes = segment_bytes
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create log dir {self.dir}: {exc.strerror}") from None
        self._fd: int | None = None
        self._segment = 0
        self._size = 0

    def segments(self) -> list[int]:
        """The segment numbers present, ascending."""
        out = []
        for p in self.dir.glob("*.seg"):
            try:
                out.append(int(p.stem))
            except ValueError:
                continue
        return sorted(out)

    # -- reading and recovery -----------------------------------------------------------------
    def scan(
        self,
        repair: bool = True,
        on_torn: Callable[[TornTail], None] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[Record]:
        """Every valid record, in order. Truncates a torn tail when ``repair`` (else reports it
        through ``on_torn``); raises :class:`LogCorruption` on damage in the middle."""
        segments = self.segments()
        total = sum((self.dir / segment_name(s)).stat().st_size for s in segments)
        done = 0
        for i, seg in enumerate(segments):
            path = self.dir / segment_name(seg)
            data = path.read_bytes()
            offset = 0
            last_good: Position | None = None
            while offset < len(data):
                parsed = _parse_at(data, offset)
                if parsed is None:
                    is_last = i == len(segments) - 1
                    later = _valid_record_after(data, offset)
                    if not is_last or later is not None:
                        where = f"log/{segment_name(seg)} at offset {offset}"
                        after = f"after the record at {last_good}" if last_good else "in its first record"
                        raise LogCorruption(
                            f"corrupt record in {where} ({after}); {len(data) - offset} bytes follow"
                        )
                    torn = TornTail(Position(seg, offset), len(data) - offset)
                    if on_torn is not None:
                        on_torn(torn)
                    if repair:
                        with path.open("r+b") as f:
                            f.truncate(offset)
                            f.flush()
                            os.fsync(f.fileno())
                    break
                kind, payload = parsed
                position = Position(seg, offset)
                last_good = position
                yield Record(kind, payload, position)
                offset += HEADER_SIZE + len(payload)
            done += len(data)
            if progress is not None:
                progress(done, total)

    # -- appending ----------------------------------------------------------------------------
    def _open_for_append(self) -> None:
        segments = self.segments()
        self._segment = segments[-1] if segments else 0
        path = self.dir / segment_name(self._segment)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._size = os.fstat(self._fd).st_size
        self._sync_dir()

    def _sync_dir(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def append(self, records: list[tuple[int, bytes]]) -> None:
        """Append records and make them durable (one fdatasync for the group)."""
        if self._fd is None:
            self._open_for_append()
        assert self._fd is not None
        data = b"".join(frame(kind, payload) for kind, payload in records)
        try:
            if self._size and self._size + len(data) > self.segment_bytes:
                os.close(self._fd)
                self._segment += 1
                self._fd = os.open(
                    self.dir / segment_name(self._segment), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644
                )
                self._size = 0
                self._sync_dir()
            written = 0
            while written < len(data):
                written += os.write(self._fd, data[written:])
            os.fdatasync(self._fd)
        except OSError as exc:
            # a partial write leaves a torn record; cut it so the next append starts clean
            self._truncate_to(self._size)
            raise StorageError(f"log write failed: {exc.strerror or exc}") from None
        self._size += len(data)

    def _truncate_to(self, size: int) -> None:
        try:
            if self._fd is not None:
                os.ftruncate(self._fd, size)
        except OSError:
            pass

    def close(self) -> None:
        """Close the segment being appended to."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
