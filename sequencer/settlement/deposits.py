"""The deposit follower: the portal's ``TransactionDeposited`` logs on L1, offered to the producer.

Each step (every ``batcher.poll_interval_ms``, under the settlement service's supervisor) reads
the L1 blocks that are at least ``batcher.origin_depth`` behind the L1 head, one block at a time
(its header, then the portal's logs of that block by block hash), checks that each block's
parent is the block read before it, and decodes every ``TransactionDeposited`` log
(:mod:`sequencer.bridge.deposits`) into its L2 deposit transaction (type 0x7E).

It is the producer's :class:`~sequencer.builder.producer.DepositSource`: :meth:`pending` offers
the deposits not yet included, in L1 order (L1 block, log index), those of L1 blocks whose
timestamp is at or below the L2 block's; :meth:`on_mini_block` learns which were included.

**Durability**: ``DATA_DIR/settlement/deposits.json`` (replaced atomically) holds the L1 block
from which a restart reads again: the L1 block of the oldest deposit not yet included, or the
next unread block. A restarted follower reads from there (or from the settlement's start) and
asks the chain which of the deposits it finds are already included; the producer's
skip-if-already-in-chain check makes inclusion exactly-once even when one is offered again.

**L1 reorgs**: a block whose parent is not the block read before it means L1 reorganized; the
follower walks back to the newest block it read that is still canonical, drops the deposits
not yet included of the blocks after it (their logs come again with the new blocks, with new
source hashes) and logs an error for an included deposit whose L1 block is gone (the L2 chain
holds a deposit L1 no longer has: deeper than ``origin_depth``).
"""

from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from eth_utils.address import to_checksum_address

from sequencer.bridge.deposits import (
    TRANSACTION_DEPOSITED_TOPIC,
    DepositEvent,
    MalformedDeposit,
    decode_deposit_log,
    deposit_tx,
)
from sequencer.errors import StorageError
from sequencer.logs import fields
from sequencer.metrics import DepositMetrics
from sequencer.settlement.l1 import L1Client
from sequencer.settlement.progress import SETTLEMENT_DIR
from sequencer.types import BlockEnv, EvmBlock, MiniBlock, SignedTx

log = logging.getLogger("sequencer.settlement.deposits")

CURSOR_FILE = "deposits.json"
FORMAT_VERSION = 1
MAX_BLOCKS_PER_STEP = 256
"""L1 blocks read in one step at most (catching up after an outage takes several steps)."""
RECENT_HEADERS = 512
"""Hashes of the last L1 blocks read, to find where a reorg forked."""
KNOWN_DEPOSITS = 65_536
"""Deposits remembered after inclusion (for the batcher's origin rule and reorg reports)."""


@dataclass(frozen=True, slots=True)
class SeenDeposit:
    """A deposit read from L1: the portal's event, its L2 transaction and its L1 block's time."""

    event: DepositEvent
    tx: SignedTx
    l1_timestamp: int


class CursorStore:
    """``DATA_DIR/settlement/deposits.json``: where a restarted follower reads L1 from."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / SETTLEMENT_DIR
        self.path = self.dir / CURSOR_FILE

    def load(self, portal: bytes) -> int | None:
        """The recorded L1 block to read from (``None`` when none is recorded for this portal)."""
        if not self.path.exists():
            return None
        try:
            data = json.loads(self.path.read_text())
            if data.get("portal") != "0x" + portal.hex():
                log.warning(
                    "deposit cursor is for another portal: reading from the settlement start",
                    extra=fields(path=str(self.path), recorded=data.get("portal")),
                )
                return None
            return int(data["from_block"])
        except (KeyError, ValueError, TypeError) as exc:
            raise StorageError(f"{self.path} is damaged: {type(exc).__name__}: {exc}") from None

    def save(self, portal: bytes, from_block: int) -> None:
        """Replace the cursor atomically and durably."""
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            f.write(
                json.dumps(
                    {"version": FORMAT_VERSION, "portal": "0x" + portal.hex(), "from_block": from_block}
                )
            )
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class DepositFollower:
    """Follows the portal on L1 and offers its deposits to the producer (see the module docstring)."""

    def __init__(
        self,
        l1: L1Client,
        portal: bytes,
        start_block: int,
        depth: int,
        is_included: Callable[[bytes], bool],
        store: CursorStore,
        metrics: DepositMetrics,
        *,
        resume_by: int | None = None,
        skip_at: int | None = None,
    ) -> None:
        """``start_block``: where to read from without a cursor (the settlement's start);
        ``resume_by``: read from this block at the latest even if the cursor is further (the
        batcher's next origin: deposits in L2 blocks not yet batched must be known for their
        origin); ``is_included``: whether a transaction hash is in the chain; ``skip_at``: the
        ``deposit-skip`` fire drill (devnet only): the first deposit of an L1 block at or after
        that number is never offered."""
        self.l1 = l1
        self.portal = portal
        self.depth = depth
        self.is_included = is_included
        self.store = store
        self.metrics = metrics
        recorded = store.load(portal)
        resume = recorded if recorded is not None else start_block
        if resume_by is not None:
            resume = min(resume, resume_by)
        self.next_block = max(start_block, resume)
        self._saved_from = self.next_block
        self._hashes: OrderedDict[int, bytes] = OrderedDict()
        self._pending: list[SeenDeposit] = []
        """Deposits read and not known to be included, in L1 order."""
        self._known: OrderedDict[bytes, SeenDeposit] = OrderedDict()
        """Every deposit read (by L2 transaction hash), pending or included, the newest last."""
        self._included: set[bytes] = set()
        self._skip_at = skip_at
        self.l1_head: int | None = None
        if recorded is not None:
            log.info("deposits: resuming from the recorded L1 block", extra=fields(l1_block=self.next_block))

    # -- what it knows ------------------------------------------------------------------------------
    @property
    def pending_count(self) -> int:
        """Deposits read and not yet included."""
        return len(self._pending)

    def l1_block_of(self, tx_hash: bytes) -> int | None:
        """The L1 block a deposit (by its L2 transaction hash) was emitted in, if it is known."""
        seen = self._known.get(tx_hash)
        return seen.event.l1_block_number if seen is not None else None

    def lookup(self, tx_hash: bytes) -> SeenDeposit | None:
        """A deposit read from L1, by its L2 transaction hash."""
        return self._known.get(tx_hash)

    # -- the producer's side ------------------------------------------------------------------------
    def pending(self, env: BlockEnv) -> Sequence[SignedTx]:
        """The deposits not yet included that a block with ``env`` may include, in L1 order."""
        out: list[SignedTx] = []
        for seen in self._pending:
            if seen.l1_timestamp > env.timestamp:
                break
            out.append(seen.tx)
        return out

    def on_mini_block(self, mb: MiniBlock) -> None:
        """A mini-block was published: its deposits are included."""
        hashes = [h for h in mb.tx_hashes if h in self._known and h not in self._included]
        if not hashes:
            return
        done = set(hashes)
        self._included.update(done)
        self._pending = [s for s in self._pending if s.tx.hash not in done]
        for h in hashes:
            seen = self._known[h]
            self.metrics.included.inc()
            log.info(
                "deposit included",
                extra=fields(
                    l2_tx="0x" + h.hex(),
                    l2_block=mb.block_number,
                    l1_block=seen.event.l1_block_number,
                    l1_tx="0x" + seen.event.l1_tx_hash.hex(),
                    log_index=seen.event.log_index,
                ),
            )
        self._report()

    def on_rollback(self, _block: EvmBlock) -> None:
        """The chain was rolled back (a devnet's ``evm_revert``): the included deposits it took
        out of the chain are pending again, in L1 order (the next EVM block includes them)."""
        gone = {h for h in self._included if h in self._known and not self.is_included(h)}
        if not gone:
            return
        self._included -= gone
        back = [self._known[h] for h in gone]
        self._pending = sorted(
            self._pending + back, key=lambda s: (s.event.l1_block_number, s.event.log_index)
        )
        log.warning("deposits pending again after a rollback", extra=fields(count=len(gone)))
        self._report()

    # -- one step ---------------------------------------------------------------------------------
    async def step(self) -> None:
        """Read the L1 blocks that became ``depth`` deep since the last step."""
        head = await self.l1.block("latest")
        if head is None:
            return
        self.l1_head = head.number
        limit = head.number - self.depth
        read = 0
        while self.next_block <= limit and read < MAX_BLOCKS_PER_STEP:
            number = self.next_block
            block = await self.l1.block(number)
            if block is None:
                break
            parent = self._hashes.get(number - 1)
            if parent is not None and block.parent_hash != parent:
                await self._reorg(number - 1)
                continue
            logs = await self.l1.logs(block.hash, [self.portal])
            for lg in logs:
                if lg.address != self.portal or not lg.topics or lg.topics[0] != TRANSACTION_DEPOSITED_TOPIC:
                    continue
                try:
                    event = decode_deposit_log(
                        list(lg.topics),
                        lg.data,
                        l1_block_number=block.number,
                        l1_block_hash=block.hash,
                        l1_tx_hash=lg.tx_hash,
                        log_index=lg.log_index,
                    )
                except MalformedDeposit as exc:
                    log.error(
                        "portal log is not a deposit: ignored",
                        extra=fields(
                            l1_block=block.number,
                            l1_tx="0x" + lg.tx_hash.hex(),
                            log_index=lg.log_index,
                            error=str(exc),
                        ),
                    )
                    continue
                self._add(SeenDeposit(event, deposit_tx(event), block.timestamp))
            self._hashes[number] = block.hash
            while len(self._hashes) > RECENT_HEADERS:
                self._hashes.popitem(last=False)
            self.next_block = number + 1
            read += 1
        self._save_cursor()
        self._report()

    def _add(self, seen: SeenDeposit) -> None:
        ev, tx = seen.event, seen.tx
        if tx.hash in self._known:
            return
        self._known[tx.hash] = seen
        while len(self._known) > KNOWN_DEPOSITS:
            old, _ = self._known.popitem(last=False)
            self._included.discard(old)
        self.metrics.seen.inc()
        where = fields(
            l2_tx="0x" + tx.hash.hex(),
            l1_block=ev.l1_block_number,
            l1_tx="0x" + ev.l1_tx_hash.hex(),
            log_index=ev.log_index,
            sender=to_checksum_address(ev.sender),
            to=to_checksum_address(ev.to) if ev.to is not None else None,
            mint=str(ev.mint),
            gas=ev.gas,
        )
        if self.is_included(tx.hash):
            self._included.add(tx.hash)
            log.info("deposit already included", extra=where)
            return
        if self._skip_at is not None and ev.l1_block_number >= self._skip_at:
            log.warning("dev fault deposit-skip: this deposit is never offered", extra=where)
            self._skip_at = None
            self._included.add(tx.hash)  # never offered, never reported as pending
            return
        self._pending.append(seen)
        log.info("deposit seen", extra=where)

    async def _reorg(self, below: int) -> None:
        """The block after ``below`` does not extend it: go back to the newest canonical block read."""
        fork = below
        while fork in self._hashes:
            canonical = await self.l1.block(fork)
            if canonical is not None and canonical.hash == self._hashes[fork]:
                break
            fork -= 1
        first_gone = fork + 1
        for n in [n for n in self._hashes if n >= first_gone]:
            del self._hashes[n]
        dropped = [s for s in self._pending if s.event.l1_block_number >= first_gone]
        self._pending = [s for s in self._pending if s.event.l1_block_number < first_gone]
        for seen in [s for s in self._known.values() if s.event.l1_block_number >= first_gone]:
            h = seen.tx.hash
            if h in self._included and self.is_included(h):
                log.error(
                    "L1 reorg took out an included deposit: the L2 chain holds a deposit L1 no longer has",
                    extra=fields(
                        l2_tx="0x" + h.hex(),
                        l1_block=seen.event.l1_block_number,
                        l1_tx="0x" + seen.event.l1_tx_hash.hex(),
                        log_index=seen.event.log_index,
                    ),
                )
                self.metrics.reorged_included.inc()
            del self._known[h]
            self._included.discard(h)
        log.warning(
            "L1 reorg: deposits of the reorganized blocks dropped",
            extra=fields(from_l1_block=first_gone, dropped=len(dropped)),
        )
        self.next_block = first_gone

    def _save_cursor(self) -> None:
        from_block = self._pending[0].event.l1_block_number if self._pending else self.next_block
        if from_block != self._saved_from:
            self.store.save(self.portal, from_block)
            self._saved_from = from_block

    def _report(self) -> None:
        m = self.metrics
        m.pending.set(len(self._pending))
        m.next_block.set(self.next_block)
        oldest = self._pending[0].event.l1_block_number if self._pending else None
        m.oldest_pending_age.set(self.next_block - 1 - oldest if oldest is not None else 0)

    def status(self) -> dict[str, object]:
        """The ``deposits`` part of the settlement status."""
        oldest = self._pending[0].event if self._pending else None
        return {
            "portal": to_checksum_address(self.portal),
            "nextL1Block": self.next_block,
            "pending": len(self._pending),
            "oldestPending": (
                {
                    "l1Block": oldest.l1_block_number,
                    "l1Tx": "0x" + oldest.l1_tx_hash.hex(),
                    "logIndex": oldest.log_index,
                }
                if oldest is not None
                else None
            ),
        }
