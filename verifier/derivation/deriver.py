"""The derivation pipeline for one L1 block: system config, batcher transactions, frames,
channels, batches, L2 blocks, output roots (docs/settlement.md, "What derivation checks").

:meth:`Deriver.process` takes the state after the previous L1 block and one L1 block (its
transactions and its logs from the SystemConfig and the L2OutputOracle) and returns the state
after it, in this order:

1. a ``ConfigUpdate`` of the batcher in this block applies to this block's transactions;
2. each transaction to the batch inbox from the batcher, in block order, is decoded into
   frames (all must parse), which go to the channel bank; each channel they complete is
   decompressed into batches;
3. each batch must extend the derived head: a batch not newer than the head is dropped (stale,
   e.g. posted twice); otherwise its parent must be the head (``batch.parentHash``), its L1
   origin canonical (``batch.epochHash``), not older than the head's (``batch.epochNumber``),
   before the block that includes it, and not newer than the batch (``batch.timestamp``, except
   for the settlement start block), its transactions valid (``batch.transactions``); then it is
   executed into the next L2 block;
4. channels that timed out are dropped;
5. each ``OutputProposed`` is checked against the derived block (``output.outputRoot``), now or
   once that block is derived.

A failed check is a :class:`~verifier.derivation.verdict.DerivationVerdict` naming the L1 block
and transaction, the channel and frame, the L2 block, the field, the value on L1 and the derived
one. Halting, it raises :class:`~verifier.derivation.verdict.DerivationMismatch`; otherwise the
offending item is dropped (as OP's rules drop invalid batches) and derivation goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from sequencer.config import ChainConfig
from sequencer.logs import fields
from sequencer.settlement.channels import Batch, WireFormatError, decode_calldata, decode_channel
from sequencer.settlement.contracts import (
    CONFIG_UPDATE_TOPIC,
    OUTPUT_PROPOSED_TOPIC,
    OUTPUTS_DELETED_TOPIC,
    UPDATE_BATCHER,
)
from sequencer.settlement.l1 import L1Block, L1Log, L1Transaction
from sequencer.settlement.outputs import output_root_v0
from sequencer.settlement.settings import Settlement
from verifier.checkpoint import MAX_RECENT_HASHES
from verifier.derivation.bank import CompleteChannel
from verifier.derivation.blocks import build_block
from verifier.derivation.checkpoint import Counts, DerivationState, PendingOutput
from verifier.derivation.deposits import L1Deposit, check_block, read_deposits
from verifier.derivation.records import DerivedIndex, DerivedRecord
from verifier.derivation.verdict import DerivationMismatch, DerivationVerdict, announce
from verifier.state import Changes, FlatState

log = logging.getLogger("verifier.derivation")

HeaderLookup = Callable[[int], Awaitable[L1Block | None]]


def _h(b: bytes) -> str:
    return "0x" + b.hex()


def _is_batcher_update(lg: L1Log, system_config: bytes) -> bool:
    """A SystemConfig ``ConfigUpdate`` of the batcher (its data: ``abi.encode(abi.encode(address))``)."""
    return (
        lg.address == system_config
        and len(lg.topics) > 2
        and lg.topics[0] == CONFIG_UPDATE_TOPIC
        and int.from_bytes(lg.topics[2], "big") == UPDATE_BATCHER
        and len(lg.data) >= 96
    )


@dataclass(frozen=True, slots=True)
class Where:
    """The L1 evidence a verdict names."""

    l1_block: int
    l1_tx: bytes | None
    channel: bytes | None = None
    frame: int | None = None
    log_index: int | None = None


class Deriver:
    """Applies L1 blocks to a derivation state (see the module docstring)."""

    def __init__(
        self,
        settlement: Settlement,
        chain: ChainConfig,
        state: FlatState,
        index: DerivedIndex,
        headers: HeaderLookup,
        *,
        halt_on_mismatch: bool = True,
        on_verdict: Callable[[DerivationVerdict], None] = announce,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settlement = settlement
        self.chain = chain
        self.flat = state
        self.index = index
        self.applied = -1
        """The newest L2 block applied to the flat state (the caller sets it at the start)."""
        self.pending = Changes()
        """The flat state's changes not yet in the store (:meth:`take_pending`)."""
        self.headers = headers
        self.halt = halt_on_mismatch
        self.on_verdict = on_verdict
        self._clock = clock

    def _verdict(
        self, where: Where, l2_block: int | None, field: str, claimed: str, derived: str, note: str = ""
    ) -> None:
        """Record a failed check (and stop when halting)."""
        verdict = DerivationVerdict(
            field=field,
            claimed=claimed,
            derived=derived,
            l1_block=where.l1_block,
            l1_tx=_h(where.l1_tx) if where.l1_tx else None,
            l2_block=l2_block,
            channel=_h(where.channel) if where.channel else None,
            frame=where.frame,
            note=note,
            detected_at=self._clock(),
            log_index=where.log_index,
        )
        self.on_verdict(verdict)
        if self.halt:
            raise DerivationMismatch(verdict)

    def take_pending(self) -> Changes:
        """The flat state's changes since the last call (for the state store), and start afresh."""
        self.pending.merge(self.flat.take_changes())
        pending, self.pending = self.pending, Changes()
        return pending

    def settle(self) -> None:
        """Fold what the flat state changed since the last block boundary into the pending changes
        (after the caller wrote to it: genesis, a rollback)."""
        self.pending.merge(self.flat.take_changes())

    # -- one L1 block -------------------------------------------------------------------------------
    async def process(
        self, state: DerivationState, block: L1Block, txs: list[L1Transaction], logs: list[L1Log]
    ) -> DerivationState:
        """The state after L1 block ``block`` (its transactions and its contracts' logs)."""
        contracts = self.settlement.contracts
        batcher = state.batcher
        for lg in logs:
            if _is_batcher_update(lg, contracts.system_config):
                batcher = lg.data[-20:]
                log.info("batcher changed", extra=fields(batcher="0x" + batcher.hex(), l1_block=block.number))
        state = replace(state, batcher=batcher)
        for tx in txs:
            if tx.to == contracts.batch_inbox and tx.sender == batcher:
                state = await self._batcher_tx(state, block, tx)
        bank, expired = state.bank.expire(block.number)
        for channel in expired:
            log.warning(
                "channel timed out and is dropped",
                extra=fields(
                    channel="0x" + channel.channel_id.hex(),
                    l1_block=block.number,
                    opened_at=channel.opened_at,
                ),
            )
        state = replace(
            state, bank=bank, counts=replace(state.counts, dropped=state.counts.dropped + len(expired))
        )
        for lg in logs:
            if lg.address == contracts.l2_output_oracle and lg.topics:
                state = self._oracle_log(state, lg)
        if contracts.portal is not None:
            # after this block's batches: their origins are older than this block
            deposits, bad = read_deposits(logs, contracts.portal)
            for b in bad:
                log.warning(
                    "portal log is not a deposit: ignored",
                    extra=fields(
                        l1_block=block.number, l1_tx=_h(b.l1_tx), log_index=b.log_index, error=b.error
                    ),
                )
            if deposits:
                state = replace(state, deposits=(*state.deposits, *deposits))
        return replace(state, l1_number=block.number, l1_hash=block.hash)

    async def _batcher_tx(self, state: DerivationState, block: L1Block, tx: L1Transaction) -> DerivationState:
        where = Where(block.number, tx.hash)
        try:
            frames = decode_calldata(tx.input)
        except WireFormatError as exc:
            self._verdict(
                where, None, "batcherTx.calldata", str(exc)[:300], "a version-0 batcher transaction"
            )
            return state
        for frame in frames:
            bank, done, dropped = state.bank.add(frame, tx.hash, block.number)
            if dropped is not None:
                log.warning(
                    "frame dropped",
                    extra=fields(
                        frame=frame.number,
                        channel="0x" + frame.channel_id.hex(),
                        l1_tx="0x" + tx.hash.hex(),
                        reason=dropped,
                    ),
                )
                state = replace(state, counts=replace(state.counts, dropped=state.counts.dropped + 1))
                continue
            state = replace(state, bank=bank)
            if done is not None:
                state = await self._channel(state, block, done)
        return state

    async def _channel(
        self, state: DerivationState, block: L1Block, channel: CompleteChannel
    ) -> DerivationState:
        last = channel.frames[-1]
        where = Where(block.number, channel.last_tx, channel.channel_id, last.number)
        try:
            batches = decode_channel(channel.data)
        except WireFormatError as exc:
            self._verdict(
                where, state.head.number + 1, "channel.data", str(exc)[:300], "zlib-compressed batches"
            )
            return state
        for batch in batches:
            state = await self._batch(state, block, where, batch)
        return state

    async def _batch(
        self, state: DerivationState, block: L1Block, where: Where, batch: Batch
    ) -> DerivationState:
        head = state.head
        number = head.number + 1
        if batch.timestamp <= head.timestamp:
            log.warning(
                "stale batch dropped: not newer than the derived head",
                extra=fields(
                    timestamp=batch.timestamp,
                    parent="0x" + batch.parent_hash.hex(),
                    l1_tx="0x" + (where.l1_tx or b"").hex(),
                    head=head.number,
                    head_timestamp=head.timestamp,
                ),
            )
            return replace(state, counts=replace(state.counts, dropped=state.counts.dropped + 1))
        if batch.parent_hash != head.hash:
            previous = self.index.get(head.number)
            origin = ""
            if previous is not None and previous.l1_tx:
                origin = (
                    f"; block {head.number} was derived from L1 tx {_h(previous.l1_tx)} "
                    f"(L1 block {previous.l1_block})"
                )
            self._verdict(
                where,
                number,
                "batch.parentHash",
                _h(batch.parent_hash),
                _h(head.hash),
                f"the batch for L2 block {number} does not extend the derived block {head.number}{origin}",
            )
            return state
        start = self.settlement.l1.start_block
        floor = max(head.epoch_number, start)
        if batch.epoch_number < floor:
            self._verdict(where, number, "batch.epochNumber", str(batch.epoch_number), f">= {floor}")
            return state
        if batch.epoch_number >= block.number:
            self._verdict(
                where,
                number,
                "batch.epochNumber",
                str(batch.epoch_number),
                f"< {block.number} (the inclusion block)",
            )
            return state
        origin_block = await self.headers(batch.epoch_number)
        if origin_block is None or origin_block.hash != batch.epoch_hash:
            canonical = _h(origin_block.hash) if origin_block is not None else "no such L1 block"
            self._verdict(where, number, "batch.epochHash", _h(batch.epoch_hash), canonical)
            return state
        if batch.timestamp < origin_block.timestamp and batch.epoch_number != start:
            self._verdict(
                where,
                number,
                "batch.timestamp",
                str(batch.timestamp),
                f">= {origin_block.timestamp} (its L1 origin's)",
            )
            return state
        deposits = state.deposits
        if self.settlement.contracts.portal is not None:
            checked = self._check_deposits(state, where, number, batch)
            if checked is None:
                return state
            deposits = checked
        built = build_block(
            self.flat,
            self.chain,
            head,
            state.recent_hashes,
            batch.timestamp,
            batch.transactions,
            batch.epoch_number,
        )
        if built.head is None:
            assert built.invalid is not None
            bad = built.invalid
            self._verdict(
                where,
                number,
                "batch.transactions",
                f"transaction {bad.index} included",
                f"invalid: {bad.error}"[:300],
            )
            return state
        new = built.head
        undo = self.flat.undo_record()
        self.pending.merge(self.flat.take_changes())
        self.applied = new.number
        self.index.put(DerivedRecord(new, block.number, where.l1_tx or b""), undo)
        counts = state.counts
        state = replace(
            state,
            head=new,
            deposits=deposits,
            recent_hashes=(new.hash, *state.recent_hashes)[:MAX_RECENT_HASHES],
            counts=Counts(
                counts.blocks + 1,
                counts.txs + new.txs,
                counts.batches + 1,
                counts.outputs_checked,
                counts.dropped,
            ),
        )
        waiting = [o for o in state.outputs if o.l2_block == new.number]
        if waiting:
            state = replace(state, outputs=tuple(o for o in state.outputs if o.l2_block != new.number))
            for output in waiting:
                state = self._check_output(state, output)
        return state

    def _check_deposits(
        self, state: DerivationState, where: Where, number: int, batch: Batch
    ) -> tuple[L1Deposit, ...] | None:
        """The deposit queue after this batch's block, or ``None`` when the batch is dropped."""
        queue, problems = check_block(
            state.deposits,
            batch.transactions,
            batch.epoch_number,
            self.settlement.derivation.deposit_window_l1_blocks,
        )
        drop = False
        for p in problems:
            d = p.deposit
            at = (
                Where(d.l1_block, d.l1_tx, where.channel, where.frame, d.log_index)
                if d is not None
                else where
            )
            note = f"{p.note}; the batch is L1 tx {_h(where.l1_tx or b'')} (L1 block {where.l1_block})"
            self._verdict(at, number, p.field, p.claimed, p.derived, note.lstrip("; "))
            drop = drop or p.drops_batch
        return None if drop else queue

    # -- outputs ------------------------------------------------------------------------------------
    def _oracle_log(self, state: DerivationState, lg: L1Log) -> DerivationState:
        topic = lg.topics[0]
        if topic == OUTPUT_PROPOSED_TOPIC and len(lg.topics) == 4:
            output = PendingOutput(
                l2_block=int.from_bytes(lg.topics[3], "big"),
                output_root=lg.topics[1],
                index=int.from_bytes(lg.topics[2], "big"),
                l1_block=lg.block_number,
                l1_tx=lg.tx_hash,
            )
            if output.l2_block <= state.head.number:
                return self._check_output(state, output)
            return replace(state, outputs=(*state.outputs, output))
        if topic == OUTPUTS_DELETED_TOPIC and len(lg.topics) == 3:
            first_deleted = int.from_bytes(lg.topics[2], "big")
            log.warning(
                "outputs deleted by the challenger",
                extra=fields(from_index=first_deleted, l1_tx="0x" + lg.tx_hash.hex()),
            )
            return replace(state, outputs=tuple(o for o in state.outputs if o.index < first_deleted))
        return state

    def _check_output(self, state: DerivationState, output: PendingOutput) -> DerivationState:
        record = self.index.get(output.l2_block)
        where = Where(output.l1_block, output.l1_tx)
        if record is None:
            self._verdict(where, output.l2_block, "output.l2BlockNumber", str(output.l2_block), "not derived")
            return state
        derived = output_root_v0(record.head.state_root, record.head.hash, record.head.message_passer_root)
        if derived != output.output_root:
            self._verdict(
                where,
                output.l2_block,
                "output.outputRoot",
                _h(output.output_root),
                _h(derived),
                f"output index {output.index}; derived block hash {_h(record.head.hash)}, "
                f"state root {_h(record.head.state_root)}, message passer storage root "
                f"{_h(record.head.message_passer_root)}",
            )
            return state
        log.info("output root matches", extra=fields(l2_block=output.l2_block, index=output.index))
        return replace(state, counts=replace(state.counts, outputs_checked=state.counts.outputs_checked + 1))
