"""The batcher: every sealed L2 block's transactions, posted to the L1 batch inbox in OP's format.

Each step (every ``batcher.poll_interval_ms``, backing off while the L1 does not answer):

1. **Look at L1**: its head and finalized blocks, the batcher's balance (an alarm below
   ``batcher.min_balance_wei``).
2. **Reconcile** (when the L1 head moved): find the receipts of batch transactions not yet
   included; check that included ones are still on the canonical chain (an L1 reorg that took
   one out puts it back to be sent again, same nonce, same bytes); move channels whose L1 blocks
   are finalized to the posted log.
3. **Send**: broadcast what has not reached the L1 yet (after a restart, a reorg, an outage),
   and re-sign with bumped fees (+12.5%, same nonce, same calldata) what is not included after
   ``batcher.resubmit_after_s``.
4. **Post**: when the oldest unbatched block was sealed ``batcher.max_delay_ms`` ago, or a
   frame's worth of blocks is waiting, put the blocks in a channel (each with its L1 origin:
   :mod:`sequencer.settlement.origins`), compress it, cut it into frames of
   ``batcher.max_frame_bytes``, sign one transaction per frame at consecutive nonces, **record
   them** (:mod:`sequencer.settlement.progress`), then broadcast them.

The safe head is the newest L2 block that it and every block before it are in channels included
on L1 (as this node sees L1); the finalized head the same for finalized L1 blocks.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from eth_account import Account
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

from sequencer import fastrlp
from sequencer.bridge.deposits import DEPOSIT_TX_TYPE
from sequencer.chain import Chain
from sequencer.logs import fields
from sequencer.metrics import SettlementMetrics
from sequencer.settlement.channels import (
    Batch,
    batcher_calldata,
    channel_payload,
    compress_channel,
    split_channel,
)
from sequencer.settlement.keys import address_of
from sequencer.settlement.l1 import L1Block, L1Client, L1Error
from sequencer.settlement.origins import OriginPicker
from sequencer.settlement.progress import (
    BatcherProgress,
    ChannelRecord,
    FrameTx,
    Inclusion,
    Origin,
    ProgressStore,
    deployment_id,
)
from sequencer.settlement.settings import Settlement

log = logging.getLogger("sequencer.settlement.batcher")

TX_GAS = 21_000
FEE_BUMP = (9, 8)
"""Each re-signed version pays 12.5% more (L1 pools want at least 10%)."""
DEPOSIT_TYPE_BYTE = bytes((DEPOSIT_TX_TYPE,))
BLOCK_OVERHEAD_BYTES = 80
"""Roughly what a batch adds to its transactions (hashes, numbers, RLP prefixes)."""


def calldata_gas(data: bytes) -> int:
    """The gas of a plain transaction carrying ``data`` (Prague: the EIP-7623 floor included)."""
    zeros = data.count(0)
    nonzeros = len(data) - zeros
    standard = TX_GAS + 4 * zeros + 16 * nonzeros
    floor = TX_GAS + 10 * (zeros + 4 * nonzeros)
    return max(standard, floor)


def bumped(value: int) -> int:
    """A fee raised by :data:`FEE_BUMP` (at least by 1)."""
    return max(value + 1, -(-value * FEE_BUMP[0] // FEE_BUMP[1]))


@dataclass(frozen=True, slots=True)
class L1View:
    """The L1 as the last step saw it."""

    head: L1Block
    finalized: int
    """The finalized block's number (-1 when the L1 has none)."""


class Batcher:
    """Posts the chain's blocks to L1 and knows how far they got (see the module docstring)."""

    def __init__(
        self,
        settlement: Settlement,
        chain: Chain,
        l1: L1Client,
        key: str,
        store: ProgressStore,
        metrics: SettlementMetrics,
        *,
        drop_tx_at: int | None = None,
        deposit_l1_block: Callable[[bytes], int | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``drop_tx_at``: the ``batch-drop-tx`` fire drill (devnet only): the first block at or
        after that number with a transaction is batched without its last transaction.
        ``deposit_l1_block``: the L1 block a deposit (by transaction hash) was emitted in (the
        deposit follower's), for the origin of blocks with deposits."""
        self.settings = settlement.batcher
        self.settlement = settlement
        self.chain = chain
        self.l1 = l1
        self.metrics = metrics
        self.store = store
        self.address = address_of(key)
        self._account = Account.from_key(key)
        self.inbox = settlement.contracts.batch_inbox
        self.progress = store.load(deployment_id(settlement.l1.chain_id, self.inbox, self.address))
        start = Origin(settlement.l1.start_block, settlement.l1.start_block_hash, 0)
        self.origins = OriginPicker(l1, start, self.settings.origin_depth)
        self.view: L1View | None = None
        self.balance: int | None = None
        self.alarm: str | None = None
        self._drop_tx_at = drop_tx_at
        self._deposit_l1_block = deposit_l1_block
        self._clock = clock
        self._unsent: dict[int, str] = {
            t.nonce: "restart" for ch in self.progress.channels for t in ch.txs if t.included is None
        }
        """Nonces whose newest version must be broadcast, and why (restart, reorg, new)."""
        self._reconciled_head: bytes | None = None
        self._nonce_checked = False
        self._ratio = 1.0
        if self._unsent:
            log.info("resuming: batch transactions to send again", extra=fields(count=len(self._unsent)))

    # -- what it knows ------------------------------------------------------------------------------
    @property
    def safe_block(self) -> int:
        """The L2 safe head (see the module docstring)."""
        return min(self.progress.safe_block(), self.chain.head.number)

    @property
    def finalized_block(self) -> int:
        """The L2 finalized head."""
        finalized = self.view.finalized if self.view is not None else -1
        return min(self.progress.finalized_at(finalized), self.safe_block)

    @property
    def pending_txs(self) -> int:
        """Batch transactions not included yet."""
        return sum(1 for ch in self.progress.channels for t in ch.txs if t.included is None)

    @property
    def unposted_blocks(self) -> int:
        """Sealed L2 blocks in no batch transaction yet."""
        return max(0, self.chain.head.number - self.progress.next_block + 1)

    # -- one step ---------------------------------------------------------------------------------
    async def step(self, *, flush: bool = False) -> None:
        """Look, reconcile, send, post (see the module docstring); ``flush`` posts what waits now."""
        head = await self.l1.block("latest")
        if head is None:
            return
        finalized = await self.l1.block("finalized")
        self.view = L1View(head, finalized.number if finalized is not None else -1)
        self.metrics.l1_head.set(head.number)
        if head.hash != self._reconciled_head:
            await self._check_funds()
            await self._reconcile()
            self._reconciled_head = head.hash
        if self.alarm is None:
            await self._send_pending()
            await self._post(flush)
        self._report()

    def _report(self) -> None:
        m = self.metrics
        m.safe_block.set(self.safe_block)
        m.finalized_block.set(self.finalized_block)
        m.unposted_blocks.set(self.unposted_blocks)
        m.unsafe_blocks.set(self.chain.head.number - self.safe_block)
        m.pending_txs.set(self.pending_txs)
        m.alarm.set(1 if self.alarm else 0)
        if self.balance is not None:
            m.batcher_balance.set(self.balance)

    async def _check_funds(self) -> None:
        self.balance = await self.l1.balance(self.address)
        low = self.balance < self.settings.min_balance_wei
        if low:
            self._raise_alarm(
                f"the batcher {to_checksum_address(self.address)} has {self.balance} wei on L1, below "
                f"batcher.min_balance_wei ({self.settings.min_balance_wei}): fund it"
            )
        elif self.alarm is not None and "fund it" in self.alarm:
            self.alarm = None

    def _raise_alarm(self, problem: str) -> None:
        if problem != self.alarm:
            log.error("batcher alarm", extra=fields(problem=problem))
        self.alarm = problem

    # -- reconcile --------------------------------------------------------------------------------
    async def _reconcile(self) -> None:
        assert self.view is not None
        finalized = self.view.finalized
        canonical: dict[int, bytes | None] = {}
        changed = False
        channels: list[ChannelRecord] = []
        for ch in self.progress.channels:
            txs: list[FrameTx] = []
            for t in ch.txs:
                inc = t.included
                if inc is not None and inc.block_number > finalized:
                    if inc.block_number not in canonical:
                        block = await self.l1.block(inc.block_number)
                        canonical[inc.block_number] = block.hash if block is not None else None
                    if canonical[inc.block_number] != inc.block_hash:
                        log.warning(
                            "L1 reorg took out batch tx: sending it again",
                            extra=fields(
                                tx="0x" + inc.tx_hash.hex(),
                                nonce=t.nonce,
                                l2_blocks=f"{ch.first_block}-{ch.last_block}",
                                l1_block=inc.block_number,
                            ),
                        )
                        self.metrics.l1_reorgs.inc()
                        t = replace(t, included=None)
                        self._unsent[t.nonce] = "reorg"
                        self.origins.forget_from(inc.block_number)
                        changed = True
                if t.included is None:
                    found = await self._find_inclusion(t)
                    if found is not None:
                        t = replace(t, included=found)
                        self._unsent.pop(t.nonce, None)
                        changed = True
                txs.append(t)
            channels.append(replace(ch, txs=tuple(txs)))
        done: list[ChannelRecord] = []
        while channels and (at := channels[0].included_at) is not None and at <= finalized:
            done.append(channels.pop(0))
        if done:
            self.store.append_posted(done)
        if changed or done:
            fin = done[-1].last_block if done else self.progress.finalized_block
            self._save(replace(self.progress, channels=tuple(channels), finalized_block=fin))

    async def _find_inclusion(self, t: FrameTx) -> Inclusion | None:
        for tx_hash in reversed(t.tx_hashes):
            receipt = await self.l1.receipt(tx_hash)
            if receipt is not None:
                return Inclusion(tx_hash, receipt.block_number, receipt.block_hash)
        return None

    def _save(self, progress: BatcherProgress) -> None:
        self.store.save(progress)
        self.progress = progress

    # -- send -------------------------------------------------------------------------------------
    async def _send_pending(self) -> None:
        now = self._clock()
        for ci, ch in enumerate(self.progress.channels):
            for ti, t in enumerate(ch.txs):
                if t.included is not None:
                    continue
                if t.nonce in self._unsent:
                    reason = self._unsent[t.nonce]
                    if reason != "new":
                        self.metrics.resubmissions.labels(reason).inc()
                    await self._broadcast(t)
                elif now - t.sent_at >= self.settings.resubmit_after_s:
                    bumped_tx = self._bump(t, now)
                    txs = (*ch.txs[:ti], bumped_tx, *ch.txs[ti + 1 :])
                    channels = list(self.progress.channels)
                    channels[ci] = replace(ch, txs=txs)
                    self._save(replace(self.progress, channels=tuple(channels)))
                    ch = channels[ci]
                    self.metrics.resubmissions.labels("fee-bump").inc()
                    log.info(
                        "batch tx not included: re-signed with bumped fees",
                        extra=fields(
                            nonce=t.nonce,
                            waited_s=round(now - t.sent_at),
                            max_fee=bumped_tx.max_fee,
                            tip=bumped_tx.max_tip,
                        ),
                    )
                    await self._broadcast(bumped_tx)
                if self.alarm is not None:
                    return

    async def _broadcast(self, t: FrameTx) -> None:
        try:
            await self.l1.send_raw(t.raws[-1])
        except L1Error as exc:
            text = exc.message.lower()
            if "nonce too low" in text:
                found = await self._find_inclusion(t)
                if found is None:
                    self._raise_alarm(
                        f"batcher nonce {t.nonce} was used by a transaction this batcher did not send: "
                        "is the batcher key used elsewhere?"
                    )
                    return
            elif "insufficient funds" in text:
                self._raise_alarm(
                    f"the batcher {to_checksum_address(self.address)} cannot pay for its batch "
                    f"transactions: fund it"
                )
                return
            elif not any(
                s in text for s in ("already known", "already imported", "known transaction", "underpriced")
            ):
                raise
        self._unsent.pop(t.nonce, None)

    def _bump(self, t: FrameTx, now: float) -> FrameTx:
        assert self.view is not None
        tip = bumped(t.max_tip)
        fee = max(bumped(t.max_fee), 2 * self.view.head.base_fee + tip)
        calldata = self._calldata_of(t)
        signed = self._sign(t.nonce, calldata, fee, tip)
        return replace(
            t,
            raws=(*t.raws, signed[0]),
            tx_hashes=(*t.tx_hashes, signed[1]),
            max_fee=fee,
            max_tip=tip,
            sent_at=now,
        )

    @staticmethod
    def _calldata_of(t: FrameTx) -> bytes:
        """The calldata of a signed EIP-1559 transaction (field 7 of its RLP)."""
        fields = fastrlp.decode(t.raws[-1][1:])
        data: bytes = fields[7]
        return data

    def _sign(self, nonce: int, calldata: bytes, max_fee: int, tip: int) -> tuple[bytes, bytes]:
        tx = {
            "type": 2,
            "chainId": self.settlement.l1.chain_id,
            "nonce": nonce,
            "to": to_checksum_address(self.inbox),
            "value": 0,
            "data": calldata,
            "gas": calldata_gas(calldata),
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": tip,
        }
        signed = self._account.sign_transaction(tx)
        return bytes(signed.raw_transaction), bytes(signed.hash)

    # -- post -------------------------------------------------------------------------------------
    async def _post(self, flush: bool) -> None:
        if self.pending_txs >= self.settings.max_pending_txs:
            return
        chain = self.chain
        first = self.progress.next_block
        head = chain.head.number
        if first > head:
            return
        limit = self.settings.max_frame_bytes
        picked: list[tuple[int, int, bytes, tuple[bytes, ...]]] = []
        raw_total = 0
        full = False
        oldest_sealed_s = self._clock()
        started = time.thread_time()
        for number in range(first, head + 1):
            block = chain.get_block(number)
            assert block is not None
            txs = tuple(chain.block_transactions(block))
            size = sum(len(t) for t in txs) + BLOCK_OVERHEAD_BYTES
            if picked and (raw_total + size) * self._ratio > limit:
                full = True
                break
            if not picked:
                oldest_sealed_s = block.sealed_at_us / 1e6
            picked.append((number, block.timestamp, block.parent_hash, txs))
            raw_total += size
        else:
            full = raw_total * self._ratio >= limit
        self.metrics.batcher_cpu.inc(time.thread_time() - started)
        waited_ms = (self._clock() - oldest_sealed_s) * 1000
        if not (full or flush or waited_ms >= self.settings.max_delay_ms):
            return
        await self._open_channel(picked)

    async def _open_channel(self, picked: list[tuple[int, int, bytes, tuple[bytes, ...]]]) -> None:
        assert self.view is not None
        origin = self.progress.last_origin
        batches: list[Batch] = []
        l2_txs = 0
        for number, timestamp, parent_hash, txs in picked:
            origin = await self.origins.pick(
                origin, timestamp, self.view.head.number, self._newest_deposit_block(txs)
            )
            if self._drop_tx_at is not None and number >= self._drop_tx_at and txs:
                log.warning(
                    "dev fault batch-drop-tx: block batched without its last transaction",
                    extra=fields(l2_block=number),
                )
                txs = txs[:-1]
                self._drop_tx_at = None
            batches.append(Batch(parent_hash, origin.number, origin.hash, timestamp, txs))
            l2_txs += len(txs)
        assert origin is not None
        started = time.thread_time()  # the CPU of the synchronous parts (the event loop's thread)
        payload = channel_payload(batches)
        data = compress_channel(payload)
        self._ratio = max(0.05, len(data) / max(1, len(payload)))
        channel_id = os.urandom(16)
        frames = split_channel(channel_id, data, self.settings.max_frame_bytes)
        cpu = time.thread_time() - started
        nonce = await self._next_nonce()
        tip = await self.l1.max_priority_fee()
        fee = 2 * self.view.head.base_fee + tip
        now = self._clock()
        started = time.thread_time()
        txs_out: list[FrameTx] = []
        gas = 0
        for i, frame in enumerate(frames):
            calldata = batcher_calldata([frame])
            gas += calldata_gas(calldata)
            raw, tx_hash = self._sign(nonce + i, calldata, fee, tip)
            txs_out.append(
                FrameTx(nonce + i, frame.number, (raw,), (tx_hash,), fee, tip, now, None, len(calldata))
            )
        cpu += time.thread_time() - started
        record = ChannelRecord(
            channel_id,
            picked[0][0],
            picked[-1][0],
            origin,
            tuple(txs_out),
            l2_txs,
            len(payload),
            len(data),
        )
        self._save(
            dataclasses.replace(
                self.progress,
                next_block=picked[-1][0] + 1,
                next_nonce=nonce + len(frames),
                last_origin=origin,
                channels=(*self.progress.channels, record),
            )
        )
        m = self.metrics
        m.batcher_cpu.inc(cpu)
        m.batch_gas.inc(gas)
        m.batch_txs.inc(len(txs_out))
        m.calldata_bytes.inc(sum(t.calldata_bytes for t in txs_out))
        m.batched_blocks.inc(len(picked))
        m.batched_txs.inc(l2_txs)
        log.info(
            "batch",
            extra=fields(
                channel="0x" + channel_id.hex(),
                l2_blocks=f"{record.first_block}-{record.last_block}",
                l2_txs=l2_txs,
                frames=len(frames),
                bytes=len(data),
                uncompressed_bytes=len(payload),
                origin=origin.number,
                nonce=nonce,
            ),
        )
        self._unsent.update((t.nonce, "new") for t in txs_out)
        for t in txs_out:
            await self._broadcast(t)
            if self.alarm is not None:
                return

    def _newest_deposit_block(self, txs: tuple[bytes, ...]) -> int | None:
        """The newest L1 block among the deposits of a block's transactions (``None``: none known)."""
        if self._deposit_l1_block is None:
            return None
        newest: int | None = None
        for raw in txs:
            if raw[:1] != DEPOSIT_TYPE_BYTE:
                break  # deposits come first in their block
            number = self._deposit_l1_block(bytes(keccak(raw)))
            if number is not None and (newest is None or number > newest):
                newest = number
        return newest

    async def _next_nonce(self) -> int:
        local = self.progress.next_nonce
        if not self._nonce_checked or local is None:
            on_l1 = await self.l1.nonce(self.address, "pending")
            self._nonce_checked = True
            if local is not None and on_l1 > local:
                log.warning(
                    "the batcher's L1 nonce is ahead of its records: another sender uses its key?",
                    extra=fields(l1_nonce=on_l1, recorded_nonce=local),
                )
            local = max(on_l1, local or 0)
        return local
