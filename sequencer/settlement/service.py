"""Settlement as one supervised service of the node: the batcher, the proposer and (with a
portal) the deposit follower loops.

:class:`SettlementService` runs them under one ``asyncio.TaskGroup`` until stopped. A step that
meets an unreachable L1 is retried after a :class:`~sequencer.settlement.l1.Backoff` (the L2
keeps sealing meanwhile); each step's outcome goes to the chain's ``safe``/``finalized`` heads,
the metrics and the health gate: the settlement backlog (sealed L2 blocks after the safe head,
checked at every sealed block) over ``batcher.max_backlog_blocks`` refuses transactions until
posting catches up; a batcher alarm (out of funds, nonce taken) turns health red. A step that
fails for any other reason (a bug, a full disk) is logged with its traceback, raises the alarm
and is retried with backoff: sealing is never stopped by settlement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address
from prometheus_client import CollectorRegistry

from sequencer.chain import Chain
from sequencer.devfault import DevFault
from sequencer.errors import ConfigError
from sequencer.health import HealthGate
from sequencer.logs import fields
from sequencer.metrics import DepositMetrics, SettlementMetrics
from sequencer.settlement.batcher import Batcher
from sequencer.settlement.deposits import CursorStore, DepositFollower
from sequencer.settlement.keys import RoleKey
from sequencer.settlement.l1 import Backoff, L1Client, L1Error, L1Unreachable
from sequencer.settlement.progress import ProgressStore
from sequencer.settlement.proposer import Proposer
from sequencer.settlement.settings import Settlement
from sequencer.types import EvmBlock

log = logging.getLogger("sequencer.settlement")

L1_TIMEOUT_S = 3.0
STOP_GRACE_S = 2.0
"""On stop, a step under way gets this long to finish; then it is cancelled (its progress on
disk is what a crash would leave: the next start sends the recorded transactions again)."""


@dataclass(frozen=True, slots=True)
class SettlementSetup:
    """What ``sequencer run --l1`` hands the node: the settlement file and the two keys."""

    settlement: Settlement
    batcher_key: RoleKey
    proposer_key: RoleKey

    def service(
        self,
        chain: Chain,
        gate: HealthGate,
        registry: CollectorRegistry,
        data_dir: Path,
        dev_fault: DevFault | None = None,
    ) -> SettlementService:
        """The service for one node."""
        return SettlementService(
            self.settlement, chain, gate, registry, data_dir, self.batcher_key, self.proposer_key, dev_fault
        )


class SettlementService:
    """The batcher and the proposer of one node, supervised (see the module docstring)."""

    def __init__(
        self,
        settlement: Settlement,
        chain: Chain,
        gate: HealthGate,
        registry: CollectorRegistry,
        data_dir: Path,
        batcher_key: RoleKey,
        proposer_key: RoleKey,
        dev_fault: DevFault | None = None,
    ) -> None:
        genesis = chain.get_block(0)
        assert genesis is not None
        if settlement.l2_chain_id != chain.chain_id:
            raise ConfigError(
                f"the settlement file is for L2 chain {settlement.l2_chain_id}, "
                f"this node is chain {chain.chain_id}"
            )
        if settlement.l2_genesis_hash != genesis.hash:
            raise ConfigError(
                f"the settlement file's l2.genesis_hash 0x{settlement.l2_genesis_hash.hex()} is not this "
                f"chain's genesis 0x{genesis.hash.hex()}"
            )
        self.settlement = settlement
        self.chain = chain
        self.gate = gate
        self.metrics = SettlementMetrics(registry)
        self.l1 = L1Client(settlement.l1.rpc, timeout_s=L1_TIMEOUT_S)
        drop_at = dev_fault.at if dev_fault is not None and dev_fault.kind == "batch-drop-tx" else None
        wrong_at = dev_fault.at if dev_fault is not None and dev_fault.kind == "output-root" else None
        skip_at = dev_fault.at if dev_fault is not None and dev_fault.kind == "deposit-skip" else None
        self.batcher = Batcher(
            settlement,
            chain,
            self.l1,
            batcher_key.key,
            ProgressStore(data_dir),
            self.metrics,
            drop_tx_at=drop_at,
            deposit_l1_block=self._deposit_l1_block,
        )
        self.deposits: DepositFollower | None = None
        portal = settlement.contracts.portal
        if portal is not None:
            last_origin = self.batcher.progress.last_origin
            self.deposits = DepositFollower(
                self.l1,
                portal,
                settlement.l1.start_block,
                settlement.batcher.origin_depth,
                lambda tx_hash: chain.find_receipt(tx_hash) is not None,
                CursorStore(data_dir),
                DepositMetrics(registry),
                resume_by=last_origin.number + 1 if last_origin is not None else None,
                skip_at=skip_at,
            )
        self.proposer = Proposer(
            settlement,
            chain,
            self.l1,
            proposer_key.key,
            self.metrics,
            lambda: self.batcher.safe_block,
            wrong_root_at=wrong_at,
        )
        self.l1_reachable: bool | None = None
        self._l1_alarm: str | None = None
        self._failure: str | None = None
        self._stop = asyncio.Event()
        self._publish()
        log.info(
            "settlement on",
            extra=fields(
                l1=settlement.l1.rpc,
                l1_chain_id=settlement.l1.chain_id,
                inbox=to_checksum_address(settlement.contracts.batch_inbox),
                batcher=to_checksum_address(self.batcher.address),
                batcher_key_from=batcher_key.source,
                proposer=to_checksum_address(self.proposer.address),
                proposer_key_from=proposer_key.source,
            ),
        )

    # -- the loops --------------------------------------------------------------------------------
    async def run(self) -> None:
        """Run the batcher and the proposer until :meth:`stop`."""
        try:
            if not await self._step_or_stop(self._check_l1):
                return
            async with asyncio.TaskGroup() as tg:
                tg.create_task(
                    self._loop("batcher", self._batcher_step, self.settlement.batcher.poll_interval_ms),
                    name="settlement-batcher",
                )
                tg.create_task(
                    self._loop("proposer", self.proposer.step, self.settlement.proposer.poll_interval_ms),
                    name="settlement-proposer",
                )
                if self.deposits is not None:
                    tg.create_task(
                        self._loop(
                            "deposit follower", self.deposits.step, self.settlement.batcher.poll_interval_ms
                        ),
                        name="settlement-deposits",
                    )
        finally:
            await self.l1.close()

    def stop(self) -> None:
        """End both loops after their current step."""
        self._stop.set()

    async def _check_l1(self) -> None:
        """The L1 must be the settlement file's chain (checked once it answers)."""
        backoff = Backoff()
        while not self._stop.is_set():
            try:
                chain_id = await self.l1.chain_id()
            except (L1Unreachable, L1Error) as exc:
                self._reachable(False, str(exc))
                await self._sleep(backoff.next_delay())
                continue
            self._reachable(True)
            if chain_id != self.settlement.l1.chain_id:
                problem = (
                    f"the L1 at {self.settlement.l1.rpc} is chain {chain_id}, the settlement file says "
                    f"{self.settlement.l1.chain_id}: not posting"
                )
                self._l1_alarm = problem
                self._publish()
                await self._stop.wait()
            return

    async def _batcher_step(self) -> None:
        try:
            await self.batcher.step()
        finally:
            self._publish()

    async def _step_or_stop(self, step: Callable[[], Awaitable[None]]) -> bool:
        """Run one step; ``False`` when a stop cut it short (after :data:`STOP_GRACE_S`)."""
        task = asyncio.ensure_future(step())
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not task.done():
            try:
                await asyncio.wait_for(task, STOP_GRACE_S)
            except TimeoutError:
                return False
        await task
        return True

    async def _loop(self, name: str, step: Callable[[], Awaitable[None]], interval_ms: int) -> None:
        backoff = Backoff()
        while not self._stop.is_set():
            try:
                if not await self._step_or_stop(step):
                    return
            except L1Unreachable as exc:
                self._reachable(False, str(exc))
                await self._sleep(backoff.next_delay())
                continue
            except L1Error as exc:
                log.warning("the L1 refused a request", extra=fields(step=name, error=str(exc)))
                await self._sleep(backoff.next_delay())
                continue
            except Exception as exc:  # a bug or the disk: settlement stops, sealing goes on
                log.exception("settlement step failed", extra=fields(step=name))
                self._failure = f"the {name} failed: {type(exc).__name__}: {exc}"
                self._publish()
                await self._sleep(backoff.next_delay())
                continue
            if self._failure is not None and self._failure.startswith(f"the {name} "):
                self._failure = None
                self._publish()
            backoff.reset()
            self._reachable(True)
            await self._sleep(interval_ms / 1000)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    def _reachable(self, up: bool, why: str = "") -> None:
        if up and self.l1_reachable is False:
            log.info("L1 reachable again", extra=fields(l1=self.settlement.l1.rpc))
        elif not up and self.l1_reachable is not False:
            log.warning("L1 unreachable, retrying with backoff", extra=fields(error=why))
        self.l1_reachable = up
        self.metrics.l1_reachable.set(1 if up else 0)

    def _deposit_l1_block(self, tx_hash: bytes) -> int | None:
        return self.deposits.l1_block_of(tx_hash) if self.deposits is not None else None

    # -- what the node sees ---------------------------------------------------------------------
    def _publish(self) -> None:
        """Safe and finalized heads to the chain, the backlog and the alarm to the health gate."""
        self.chain.set_settled(self.batcher.safe_block, self.batcher.finalized_block)
        self._check_backlog(self.chain.head.number)
        self.gate.settlement_alarm(self._l1_alarm or self._failure or self.batcher.alarm)

    def on_block(self, block: EvmBlock) -> None:
        """A block was sealed: the backlog grew by one."""
        self._check_backlog(block.number)

    def _check_backlog(self, head: int) -> None:
        unsafe = head - self.batcher.safe_block
        limit = self.settlement.batcher.max_backlog_blocks
        self.metrics.unsafe_blocks.set(unsafe)
        if unsafe > limit:
            why = "the L1 does not answer" if self.l1_reachable is False else "posting is behind"
            self.gate.settlement_backlog(
                f"{unsafe} L2 blocks are not yet on L1 (batcher.max_backlog_blocks = {limit}; {why}); "
                "the node accepts transactions again when posting catches up"
            )
        else:
            self.gate.settlement_backlog(None)

    def status(self) -> dict[str, Any]:
        """The ``settlement`` part of ``sequencer_status``."""
        b, p = self.batcher, self.proposer
        return {
            "l1ChainId": self.settlement.l1.chain_id,
            "l1Reachable": self.l1_reachable,
            "l1Head": b.view.head.number if b.view is not None else None,
            "l1Finalized": b.view.finalized if b.view is not None else None,
            "safeBlock": b.safe_block,
            "finalizedBlock": b.finalized_block,
            "unpostedBlocks": b.unposted_blocks,
            "unsafeBlocks": self.chain.head.number - b.safe_block,
            "maxBacklogBlocks": self.settlement.batcher.max_backlog_blocks,
            "batcher": {
                "address": to_checksum_address(b.address),
                "balanceWei": str(b.balance) if b.balance is not None else None,
                "pendingTxs": b.pending_txs,
                "nextBlock": b.progress.next_block,
                "alarm": b.alarm,
            },
            "proposer": {
                "address": to_checksum_address(p.address),
                "nextOutputBlock": p.next_block,
                "inFlight": p.in_flight.l2_block if p.in_flight is not None else None,
            },
            "deposits": self.deposits.status() if self.deposits is not None else None,
        }
