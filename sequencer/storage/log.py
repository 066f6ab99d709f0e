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

import contextlib
import logging
import mmap
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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
KIND_POOL_REMOVE = 5
KIND_ROLLBACK = 6
"""A devnet ``evm_revert``: the chain after the named EVM block is dropped (records before it
that are past that block no longer count; pooled transactions journaled before it are gone)."""
KINDS = {
    KIND_MINI_BLOCK: "mini-block",
    KIND_EVM_BLOCK: "evm-block",
    KIND_POOL_ADD: "pool-add",
    KIND_GENESIS: "genesis",
    KIND_POOL_REMOVE: "pool-remove",
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


def _parse_at(data: bytes | mmap.mmap, offset: int) -> tuple[int, bytes] | None:
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


def _valid_record_after(data: bytes | mmap.mmap, start: int) -> int | None:
    """The offset of the next valid record after ``start`` (a sign of mid-file corruption)."""
    pos = data.find(MAGIC, start + 1)
    while pos != -1:
        if _parse_at(data, pos) is not None:
            return pos
        pos = data.find(MAGIC, pos + 1)
    return None


def _scan_segment(path: Path, is_last: bool, repair: bool) -> Iterator[tuple[int, bytes, int] | TornTail]:
    """The valid records of one segment, read record by record (never the whole file), then its
    torn tail if it has one (cut off when ``repair``); :class:`LogCorruption` on damage with
    valid records after it, or anywhere in a segment that is not the last."""
    with path.open("rb", buffering=1024 * 1024) as f:
        size = os.fstat(f.fileno()).st_size
        offset = 0
        last_good: int | None = None
        seg = int(path.stem)
        while offset < size:
            header = f.read(HEADER_SIZE)
            parsed = _read_record(f, header)
            if parsed is None:
                break
            kind, payload = parsed
            yield kind, payload, offset
            last_good = offset
            offset += HEADER_SIZE + len(payload)
        else:
            return
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        later = _valid_record_after(data, offset)
    if not is_last or later is not None:
        where = f"log/{segment_name(seg)} at offset {offset}"
        after = "in its first record"
        if last_good is not None:
            after = f"after the record at {Position(seg, last_good)}"
        raise LogCorruption(f"corrupt record in {where} ({after}); {size - offset} bytes follow")
    if repair:
        with path.open("r+b") as f:
            f.truncate(offset)
            f.flush()
            os.fsync(f.fileno())
    yield TornTail(Position(seg, offset), size - offset)


def _read_record(f: BinaryIO, header: bytes) -> tuple[int, bytes] | None:
    """The (kind, payload) of the record whose header was just read from ``f``, or None."""
    if len(header) < HEADER_SIZE:
        return None
    magic, kind, length, crc = _HEADER.unpack(header)
    if magic != MAGIC or kind not in KINDS or length > MAX_RECORD:
        return None
    payload = f.read(length)
    if len(payload) < length or zlib.crc32(bytes([kind]) + payload) != crc:
        return None
    return kind, payload


def fsync_dir(directory: Path) -> None:
    """Make the creation, removal or renaming of files in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlockLog:
    """Append-only, fsync'd record log in segment files.

    A failed append leaves the log as it was before it: a partial write is cut off, and a
    segment rotation opens (and makes durable) the next segment before it lets go of the current
    one. If the cut itself fails, every later append retries it first and fails until it
    succeeds, so nothing is ever written after a torn record.
    """

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
        self._torn = False  # a failed append left bytes after _size that could not be cut yet

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
        """Every valid record, in order, streamed (memory stays one record, whatever the log's
        size). Truncates a torn tail when ``repair`` (else reports it through ``on_torn``);
        raises :class:`LogCorruption` on damage in the middle."""
        segments = self.segments()
        total = sum((self.dir / segment_name(s)).stat().st_size for s in segments)
        done = 0
        for i, seg in enumerate(segments):
            path = self.dir / segment_name(seg)
            seg_size = path.stat().st_size
            for item in _scan_segment(path, i == len(segments) - 1, repair):
                if isinstance(item, TornTail):
                    if on_torn is not None:
                        on_torn(item)
                    continue
                kind, payload, offset = item
                yield Record(kind, payload, Position(seg, offset))
            done += seg_size
            if progress is not None:
                progress(done, total)

    # -- appending ----------------------------------------------------------------------------
    def _open_for_append(self) -> None:
        segments = self.segments()
        self._segment = segments[-1] if segments else 0
        path = self.dir / segment_name(self._segment)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot open log/{path.name}: {exc.strerror or exc}") from None
        try:
            self._size = os.fstat(fd).st_size
            fsync_dir(self.dir)
        except OSError as exc:
            os.close(fd)
            raise StorageError(f"cannot open log/{path.name}: {exc.strerror or exc}") from None
        self._fd = fd

    def _rotate(self) -> None:
        """Switch to the next segment: open it and make its creation durable first, then close
        the current one. On failure the current segment stays the one appended to."""
        assert self._fd is not None
        name = segment_name(self._segment + 1)
        try:
            fd = os.open(self.dir / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            reason = exc.strerror or exc
            raise StorageError(f"log rotation failed: cannot create log/{name}: {reason}") from None
        try:
            size = os.fstat(fd).st_size
            fsync_dir(self.dir)
        except OSError as exc:
            os.close(fd)
            raise StorageError(f"log rotation failed: log/{name}: {exc.strerror or exc}") from None
        old, self._fd = self._fd, fd
        self._segment += 1
        self._size = size
        with contextlib.suppress(OSError):  # everything in it was fdatasync'd already
            os.close(old)

    def append(self, records: list[tuple[int, bytes]]) -> None:
        """Append records and make them durable (one fdatasync for the group).

        Raises :class:`StorageError` when nothing of them is durable (the log is left as it was).
        """
        if self._fd is None:
            self._open_for_append()
        assert self._fd is not None
        if self._torn:
            self._cut_torn_write()
        data = b"".join(frame(kind, payload) for kind, payload in records)
        if self._size and self._size + len(data) > self.segment_bytes:
            self._rotate()
        try:
            written = 0
            while written < len(data):
                written += os.write(self._fd, data[written:])
            os.fdatasync(self._fd)
        except OSError as exc:
            # a partial write leaves a torn record; cut it so the next append starts clean
            self._torn = True
            try:
                self._cut_torn_write()
            except StorageError as cut:
                raise StorageError(f"log write failed: {exc.strerror or exc}; {cut}") from None
            raise StorageError(f"log write failed: {exc.strerror or exc}") from None
        self._size += len(data)

    def _cut_torn_write(self) -> None:
        """Truncate the segment back to its last complete record (after a failed write)."""
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, self._size)
            os.fdatasync(self._fd)
        except OSError as exc:
            raise StorageError(
                f"cannot cut a failed write off log/{segment_name(self._segment)} "
                f"at offset {self._size}: {exc.strerror or exc}"
            ) from None
        self._torn = False

    def replace(self, records: list[tuple[int, bytes]]) -> None:
        """Replace the whole log by ``records`` (compaction), atomically: they are written to a
        new segment under a temporary name and fsync'd, the segment is renamed into place and
        the directory fsync'd, and only then are the older segments deleted. Appends go to the
        new segment. On failure the log is unchanged and appends continue where they were.

        A crash between the rename and the deletions leaves older segments in front of the new
        one: readers of a replaced log must give the same result when they replay them first
        (the pool journal does: its newest segment holds everything still live)."""
        segments = self.segments()
        target = segment_name(segments[-1] + 1 if segments else 0)
        tmp = self.dir / (target + ".tmp")
        data = b"".join(frame(kind, payload) for kind, payload in records)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                written = 0
                while written < len(data):
                    written += os.write(fd, data[written:])
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, self.dir / target)
            fsync_dir(self.dir)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StorageError(f"cannot compact {self.dir.name}/: {exc.strerror or exc}") from None
        self.close()
        self._torn = False
        for seg in segments:
            with contextlib.suppress(OSError):
                (self.dir / segment_name(seg)).unlink()
        with contextlib.suppress(OSError):
            fsync_dir(self.dir)
        self._open_for_append()

    def size(self) -> int:
        """Bytes in all segments (what a compaction would shrink)."""
        return sum((self.dir / segment_name(s)).stat().st_size for s in self.segments())

    def close(self) -> None:
        """Close the segment being appended to."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
