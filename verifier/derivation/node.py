"""The derivation verifier's process: follow L1, derive, checkpoint, roll back on L1 reorgs.

:class:`DerivationNode` reads L1 block by block from where its checkpoint left off (the
settlement's start block the first time), up to ``confirmations`` blocks behind the L1 head,
and puts each block through the :class:`~verifier.derivation.deriver.Deriver`. Before a block
is used its parent must be the block processed last; when it is not, L1 reorganized: the
verifier goes back to the newest of its recent states (``ROLLBACK_WINDOW`` L1 blocks) whose L1
block is still canonical (the flat state is rolled back with the derived blocks' undo records,
newest first, to that state's L2 head, and its root checked) and derives forward from there.
``finalized`` is the L2 head of the newest state at or below L1's finalized block. The
checkpoint is committed with the flat state in one transaction of the state store
(``verifier/store.py``, after syncing the derived index) when blocks were derived, and at least
every second while L1 blocks are read. An
unreachable L1 is retried with backoff; a verdict halts it (exit code 3) unless told to go on.
Given a feed too, it also compares the sequencer's unsafe blocks with what L1 later says
(:mod:`verifier.derivation.unsafe`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from sequencer.config import ChainConfig
from sequencer.errors import ConfigError
from sequencer.logs import fields
from sequencer.serving import BoundAddress, start_server
from sequencer.settlement.l1 import Backoff, L1Block, L1Client, L1Error, L1Unreachable
from sequencer.settlement.settings import Settlement
from verifier.derivation.bank import ChannelBank
from verifier.derivation.checkpoint import (
    DerivationCheckpoint,
    DerivationState,
    decode_derivation,
    encode_derivation,
    is_derivation,
    status_of,
)
from verifier.derivation.deriver import Deriver
from verifier.derivation.genesis import build_genesis
from verifier.derivation.records import DerivedIndex, DerivedRecord
from verifier.derivation.unsafe import Claim, UnsafeBlocks
from verifier.derivation.verdict import DerivationMismatch, DerivationVerdict, announce
from verifier.state import FlatState
from verifier.status import STATUS_HOST, make_status_app
from verifier.store import StateStore, state_dir
from verifier.subscriber import FeedSubscriber, Next

log = logging.getLogger("verifier.derivation")

EXIT_OK = 0
EXIT_MISMATCH = 3
ROLLBACK_WINDOW = 128
SAVE_EVERY_S = 1.0
HEADER_CACHE = 1024
L1_TIMEOUT_S = 5.0


class DerivationFailed(Exception):
    """Derivation cannot go on (an L1 that is not the settlement file's, a reorg too deep)."""


def deployment_of(settlement: Settlement) -> str:
    """What names a settlement in the checkpoint (a data dir derives one chain only)."""
    c = settlement.contracts
    return f"{settlement.l1.chain_id}:0x{c.batch_inbox.hex()}:0x{c.l2_output_oracle.hex()}"


class DerivationNode:
    """One derivation verifier over one data dir (see the module docstring)."""

    def __init__(
        self,
        settlement: Settlement,
        chain: ChainConfig,
        data_dir: Path,
        *,
        halt_on_mismatch: bool = True,
        status_port: int | None = None,
        status_host: str = STATUS_HOST,
        confirmations: int = 0,
        poll_interval_s: float = 0.5,
        feed: str | None = None,
        feed_token: str | None = None,
        feed_ssl: ssl.SSLContext | None = None,
        max_message_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        """``feed``: also compare the sequencer's unsafe blocks (its feed) with what L1 says
        (with its bearer token, TLS context and message size limit)."""
        data_dir.mkdir(parents=True, exist_ok=True)
        self.settlement = settlement
        self.feed = feed
        self.unsafe = UnsafeBlocks()
        self.halt_on_mismatch = halt_on_mismatch
        self.data_dir = data_dir
        self.confirmations = confirmations
        self.poll_interval_s = poll_interval_s
        self.status_port = status_port
        self.status_host = status_host
        self.feed_token = feed_token
        self.feed_ssl = feed_ssl
        self.max_message_bytes = max_message_bytes
        if chain.genesis_timestamp is None:
            chain = replace(chain, genesis_timestamp=settlement.l2_genesis_timestamp)
        self.store = StateStore(state_dir(data_dir))
        self.index = DerivedIndex(data_dir)
        self.l1 = L1Client(settlement.l1.rpc, timeout_s=L1_TIMEOUT_S)
        self.deployment = deployment_of(settlement)
        self.flat = FlatState()
        record = self.store.checkpoint_record()
        if record is not None and not is_derivation(record):
            self.close()
            raise ConfigError(f"{data_dir} holds a feed verifier's state: use another --data-dir")
        loaded = decode_derivation(record) if record is not None else None
        if loaded is None:
            genesis = build_genesis(self.flat, chain)
            if genesis.hash != settlement.l2_genesis_hash:
                self.close()
                raise ConfigError(
                    f"the config's genesis is 0x{genesis.hash.hex()}, the settlement file's "
                    f"l2.genesis_hash is 0x{settlement.l2_genesis_hash.hex()}: not the same chain"
                )
            self.index.put(DerivedRecord(genesis, -1, b""))
            state = DerivationState(
                l1_number=settlement.l1.start_block - 1,
                l1_hash=b"",
                head=genesis,
                recent_hashes=(genesis.hash,),
                batcher=settlement.roles.batcher,
                bank=ChannelBank(settlement.derivation.channel_timeout_l1_blocks),
            )
            loaded = DerivationCheckpoint(self.deployment, state, (state,))
        elif loaded.deployment != self.deployment:
            self.close()
            raise ConfigError(
                f"{data_dir} derives another settlement ({loaded.deployment}); this settlement file is "
                f"{self.deployment}: use another --data-dir"
            )
        else:
            self.flat.load(self.store.accounts(), self.store.slots(), self.store.codes())
            root = self.flat.root()
            if root != loaded.state.head.state_root:
                self.close()
                raise DerivationFailed(
                    f"the state store has root 0x{root.hex()}, its checkpoint (L2 block "
                    f"{loaded.state.head.number}) names 0x{loaded.state.head.state_root.hex()}"
                )
        self.checkpoint = loaded
        self.state = loaded.state
        self.marks: list[DerivationState] = list(loaded.marks) or [loaded.state]
        self.verdicts: list[DerivationVerdict] = list(loaded.verdicts)
        self._findings = {v.finding for v in self.verdicts}
        self.deriver = Deriver(
            settlement,
            chain,
            self.flat,
            self.index,
            self._header,
            halt_on_mismatch=halt_on_mismatch,
            on_verdict=self._on_verdict,
        )
        self.deriver.applied = self.state.head.number
        self.deriver.settle()  # genesis, the first time
        self.l1_head = loaded.l1_head
        self.l1_finalized = loaded.l1_finalized
        self.exit_code = EXIT_OK
        self.status_address: BoundAddress | None = None
        self._runner: web.AppRunner | None = None
        self._headers: OrderedDict[int, L1Block] = OrderedDict()
        self._stopping = asyncio.Event()
        self._saved_at = 0.0
        self._dirty = False
        self._registry, self._gauges = _metrics()

    # -- status -------------------------------------------------------------------------------------
    def snapshot(self) -> DerivationCheckpoint:
        """The checkpoint as it stands."""
        return DerivationCheckpoint(
            self.deployment,
            self.state,
            tuple(replace(m, recent_hashes=()) for m in self.marks),
            tuple(self.verdicts),
            self.l1_head,
            self.l1_finalized,
            time.time(),
        )

    def status(self) -> dict[str, Any]:
        """``GET /status`` (with ``unsafeHeight`` and ``unsafeChecked`` when following a feed)."""
        info = status_of(self.snapshot(), time.time())
        if self.feed is not None:
            info["unsafeHeight"] = self.unsafe.newest
            info["unsafeChecked"] = self.unsafe.checked
        return info

    def metrics_text(self) -> bytes:
        """``GET /metrics``."""
        g, s = self._gauges, self.state
        g["safe"].set(s.head.number)
        g["finalized"].set(s.finalized)
        g["l1"].set(s.l1_number)
        g["l1_lag"].set(max(0, self.l1_head - s.l1_number))
        g["blocks"].set(s.counts.blocks)
        g["txs"].set(s.counts.txs)
        g["outputs"].set(s.counts.outputs_checked)
        g["mismatches"].set(len(self.verdicts))
        return bytes(generate_latest(self._registry))

    def _on_verdict(self, verdict: DerivationVerdict) -> None:
        announce(verdict)
        if verdict.finding not in self._findings:
            self._findings.add(verdict.finding)
            self.verdicts.append(verdict)
            self._dirty = True

    # -- lifecycle ----------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop after the L1 block being processed."""
        self._stopping.set()

    async def start(self) -> BoundAddress | None:
        """Open the status port (when asked for one)."""
        if self.status_port is not None and self._runner is None:
            app = make_status_app(self.status, self.metrics_text)
            self._runner, self.status_address = await start_server(app, self.status_host, self.status_port)
        return self.status_address

    async def run(self) -> int:
        """Follow L1 until stopped or halted; the exit code (0, or 3 after a mismatch)."""
        backoff = Backoff(0.25, 5.0)
        reachable = True
        session = aiohttp.ClientSession() if self.feed is not None else None
        feed_task = None
        if self.feed is not None and session is not None:
            subscriber = FeedSubscriber(
                self.feed,
                session,
                self._stopping,
                max_message_bytes=self.max_message_bytes,
                token=self.feed_token,
                ssl_context=self.feed_ssl,
            )
            feed_task = asyncio.create_task(subscriber.follow(lambda: self.unsafe.next_seq, self._on_feed))
        try:
            await self.start()
            while not self._stopping.is_set():
                try:
                    await self._follow()
                    if not reachable:
                        log.info("L1 reachable again", extra=fields(l1=self.settlement.l1.rpc))
                    reachable = True
                    backoff.reset()
                    delay = self.poll_interval_s
                except (L1Unreachable, L1Error) as exc:
                    if reachable:
                        log.warning(
                            "L1 unreachable, retrying with backoff",
                            extra=fields(l1=self.settlement.l1.rpc, error=str(exc)),
                        )
                    reachable = False
                    delay = backoff.next_delay()
                except DerivationMismatch:
                    self.exit_code = EXIT_MISMATCH
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
        finally:
            if feed_task is not None:
                feed_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await feed_task
            if session is not None:
                await session.close()
            self._save()
            await self.shutdown()
        return self.exit_code

    # -- the feed's unsafe blocks -------------------------------------------------------------------
    def _on_feed(self, text: str) -> Next:
        try:
            message = json.loads(text)
            claim = self.unsafe.on_message(message)
        except (KeyError, ValueError, TypeError, AttributeError, IndexError):
            log.warning("feed message is not a well-formed block message", extra=fields(text=text[:200]))
            return Next.GO
        if claim is not None and claim.number <= self.state.head.number:
            self._check_unsafe(claim)
        return Next.GO

    def _check_unsafe(self, claim: Claim) -> None:
        record = self.index.get(claim.number)
        if record is None:
            return
        self.unsafe.compared(claim)
        if record.head.hash == claim.hash:
            return
        self._on_verdict(
            DerivationVerdict(
                field="unsafe.blockHash",
                claimed="0x" + claim.hash.hex(),
                derived="0x" + record.head.hash.hex(),
                l1_block=record.l1_block,
                l1_tx="0x" + record.l1_tx.hex() if record.l1_tx else None,
                l2_block=claim.number,
                note=f"the sequencer's feed (seq {claim.seq}) announced another block {claim.number} "
                "than the one its batch on L1 derives",
                detected_at=time.time(),
            )
        )
        self._save()
        if self.halt_on_mismatch:
            self.exit_code = EXIT_MISMATCH
            self.stop()

    async def shutdown(self) -> None:
        """Close the status port, the L1 client and the stores."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.l1.close()
        self.close()

    def close(self) -> None:
        """Close the stores."""
        self.index.close()
        self.store.close()

    # -- following L1 -------------------------------------------------------------------------------
    async def _header(self, number: int) -> L1Block | None:
        cached = self._headers.get(number)
        if cached is None:
            cached = await self.l1.block(number)
            if cached is None:
                return None
            self._headers[number] = cached
            if len(self._headers) > HEADER_CACHE:
                self._headers.popitem(last=False)
        return cached

    async def _follow(self) -> None:
        head = await self.l1.block("latest")
        if head is None:
            return
        finalized = await self.l1.block("finalized")
        self.l1_head = head.number
        self.l1_finalized = finalized.number if finalized is not None else -1
        target = head.number - self.confirmations
        s = self.settlement
        while self.state.l1_number < target and not self._stopping.is_set():
            number = self.state.l1_number + 1
            got = await self.l1.block_with_transactions(number)
            if got is None:
                break
            block, txs = got
            if self.state.l1_hash and block.parent_hash != self.state.l1_hash:
                await self._rollback()
                return
            if number == s.l1.start_block and block.hash != s.l1.start_block_hash:
                raise DerivationFailed(
                    f"L1 block {number} is 0x{block.hash.hex()}, the settlement file's start block is "
                    f"0x{s.l1.start_block_hash.hex()}: is this the settlement file's L1?"
                )
            self._headers[block.number] = block
            emitters = [s.contracts.l2_output_oracle, s.contracts.system_config]
            if s.contracts.portal is not None:
                emitters.append(s.contracts.portal)
            logs = await self.l1.logs(block.hash, emitters)
            before = self.state.head.number
            try:
                self._advance(await self.deriver.process(self.state, block, txs, logs))
            except DerivationMismatch:
                # blocks this L1 block built before the mismatch leave the flat state again
                self._rewind(self.state.head.number)
                self._save()
                raise
            if self.state.head.number != before:
                for number in range(before + 1, self.state.head.number + 1):
                    claim = self.unsafe.claim(number)
                    if claim is not None:
                        self._check_unsafe(claim)
                self._dirty = True
                log.info(
                    "derived L2 blocks",
                    extra=fields(
                        first=before + 1,
                        last=self.state.head.number,
                        l1_block=block.number,
                        head="0x" + self.state.head.hash.hex(),
                    ),
                )
            if self._dirty or time.monotonic() - self._saved_at >= SAVE_EVERY_S:
                self._save()
        self._update_finalized()

    def _advance(self, state: DerivationState) -> None:
        self.state = state
        self.marks.append(replace(state, recent_hashes=()))
        del self.marks[:-ROLLBACK_WINDOW]

    def _update_finalized(self) -> None:
        done = [m.head.number for m in self.marks if m.l1_number <= self.l1_finalized]
        if done and max(done) > self.state.finalized:
            self.state = replace(self.state, finalized=max(done))
            self.marks[-1] = replace(self.marks[-1], finalized=self.state.finalized)
            self._dirty = True
            self._save()

    async def _rollback(self) -> None:
        for i in range(len(self.marks) - 1, -1, -1):
            mark = self.marks[i]
            if mark.l1_hash:
                canonical = await self.l1.block(mark.l1_number)
                if canonical is None or canonical.hash != mark.l1_hash:
                    continue
            recent = []
            for n in range(mark.head.number, max(-1, mark.head.number - 256), -1):
                record = self.index.get(n)
                if record is None:
                    break
                recent.append(record.head.hash)
            log.warning(
                "L1 reorg: derivation rolls back",
                extra=fields(
                    below=self.state.l1_number, to_l1_block=mark.l1_number, l2_head=mark.head.number
                ),
            )
            self._rewind(mark.head.number, mark.head.state_root)
            self.state = replace(
                mark, recent_hashes=tuple(recent), finalized=max(mark.finalized, self.state.finalized)
            )
            del self.marks[i + 1 :]
            self._headers.clear()
            self._dirty = True
            self._save()
            return
        raise DerivationFailed(
            f"L1 reorganized deeper than the {len(self.marks)} L1 blocks this verifier keeps: "
            "start over with a fresh --data-dir"
        )

    def _rewind(self, number: int, state_root: bytes | None = None) -> None:
        """Roll the flat state back to L2 block ``number`` with the undo records, newest first
        (and check it has ``state_root`` then, when given)."""
        for n in range(self.deriver.applied, number, -1):
            undo = self.index.undo(n)
            if undo is None:
                raise DerivationFailed(
                    f"L2 block {n} can no longer be undone (its undo record is gone): "
                    "start over with a fresh --data-dir"
                )
            self.flat.restore(undo)
            self.deriver.settle()  # a boundary per block, the writes kept for the store
        self.deriver.applied = min(self.deriver.applied, number)
        if state_root is not None and self.flat.root() != state_root:
            raise DerivationFailed(
                f"rolled back to L2 block {number}, the state root is 0x{self.flat.root().hex()}, "
                f"not 0x{state_root.hex()}: start over with a fresh --data-dir"
            )

    def _save(self) -> None:
        self.index.prune_undo(self.marks[0].head.number + 1 if self.marks else 0)
        self.index.sync()
        self.store.commit(self.deriver.take_pending(), encode_derivation(self.snapshot()))
        self._saved_at = time.monotonic()
        self._dirty = False


def _metrics() -> tuple[CollectorRegistry, dict[str, Gauge]]:
    registry = CollectorRegistry()
    specs = {
        "safe": ("verifier_safe_height", "Newest L2 block derived from L1"),
        "finalized": ("verifier_finalized_height", "Newest L2 block derived from finalized L1"),
        "l1": ("verifier_l1_height", "Newest L1 block derivation has read"),
        "l1_lag": ("verifier_l1_lag_blocks", "L1 blocks between the L1 head and what derivation has read"),
        "blocks": ("verifier_derived_blocks", "L2 blocks derived"),
        "txs": ("verifier_derived_transactions", "L2 transactions re-executed"),
        "outputs": ("verifier_outputs_checked", "Output roots on L1 that match the derived blocks"),
        "mismatches": ("verifier_mismatches", "Verdicts recorded"),
    }
    return registry, {key: Gauge(name, text, registry=registry) for key, (name, text) in specs.items()}
