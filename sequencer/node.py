"""The sequencer node: assembles storage, chain, pool, producer and RPC, and supervises them.

Every long-lived task runs in one ``asyncio.TaskGroup``: if one fails the others are cancelled.
SIGINT/SIGTERM stop accepting transactions, let the producer seal what it has (ready pooled
transactions go into a last mini-block, the open EVM block is sealed), flush, and exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

import sequencer
from sequencer.builder.genesis import load_chain
from sequencer.builder.producer import BlockProducer
from sequencer.config import NodeConfig
from sequencer.errors import ConfigError, NodeUnavailable, SequencerError
from sequencer.feed.faults import DevFault, FaultInjector
from sequencer.feed.server import FeedHub, make_feed_app
from sequencer.mempool.admission import admit
from sequencer.mempool.ingress import IngressDecoder
from sequencer.mempool.journal import PoolJournal
from sequencer.mempool.pool import Mempool
from sequencer.metrics import Metrics, make_metrics_app
from sequencer.rpc.admin import admin_methods
from sequencer.rpc.dispatch import Dispatcher
from sequencer.rpc.encoding import d
from sequencer.rpc.filters import FilterManager
from sequencer.rpc.formatting import format_transaction
from sequencer.rpc.methods import EthApi
from sequencer.rpc.server import make_app
from sequencer.rpc.subscriptions import SubscriptionHub
from sequencer.rpc.txpool import txpool_methods
from sequencer.rpc.waiters import ReceiptWaiters
from sequencer.storage.durable import ChainDB

log = logging.getLogger("sequencer.node")


def _bound(site: web.TCPSite) -> BoundAddress:
    sockets = site._server.sockets if site._server is not None else []  # type: ignore[union-attr,attr-defined]
    host, port = sockets[0].getsockname()[:2]
    return BoundAddress(host, port)


async def _serve(app: web.Application, host: str, port: int, runners: list[web.AppRunner]) -> BoundAddress:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    runners.append(runner)
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    return _bound(site)


def genesis_alloc(config: NodeConfig) -> list[dict[str, Any]]:
    """The genesis allocation as the feed's genesis message carries it."""
    return [
        {
            "address": d(a.address),
            "balance": hex(a.balance),
            "nonce": hex(a.nonce),
            "code": d(a.code),
            "storage": [[hex(s), hex(v)] for s, v in a.storage],
        }
        for a in config.chain.genesis
    ]


def genesis_generated(config: NodeConfig) -> dict[str, Any] | None:
    """The generated accounts' rule as the feed's genesis message carries it (``--accounts``)."""
    from sequencer.builder.genesis import GENERATED_BALANCE, GENERATED_DOMAIN

    count = config.chain.generated_accounts
    if not count:
        return None
    return {"count": hex(count), "balance": hex(GENERATED_BALANCE), "domain": d(GENERATED_DOMAIN)}


SHUTDOWN_TIMEOUT_S = 10.0
FORCED_EXIT_CODE = 130


@dataclass(frozen=True, slots=True)
class BoundAddress:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class Node:
    def __init__(self, config: NodeConfig, data_dir: str | Path, dev_fault: DevFault | None = None) -> None:
        if dev_fault is not None and not config.chain.devnet:
            raise ConfigError(
                "--dev-fault is refused: the chain config is not a devnet (chain.devnet = false)"
            )
        self.config = config
        self.data_dir = Path(data_dir)
        self.db = ChainDB(self.data_dir)
        self.recovery = self.db.recover()
        self.chain, trie = load_chain(config.chain, self.db)
        self.pool = Mempool(self._state_nonce)
        self.ingress = IngressDecoder(
            config.chain.chain_id, config.chain.allow_unprotected_txs, workers=config.rpc_ingress_workers
        )
        self.producer = BlockProducer(config, self.chain, trie, self.pool, self.db)
        self.journal = PoolJournal(lambda raws: self.producer.write(self.db.persist_pool_txs, raws))
        self.hub = SubscriptionHub()
        self.waiters = ReceiptWaiters()
        self.producer.on_mini_block(self.waiters.on_mini_block)
        self.producer.on_mini_block(self.hub.on_mini_block)
        self.producer.on_block(self.hub.on_block)
        injector = None
        if dev_fault is not None:
            log.warning("dev fault armed kind=%s at=%d", dev_fault.kind, dev_fault.at)
            injector = FaultInjector(dev_fault)
        self.feed = FeedHub(
            self.chain, genesis_alloc(config), injector=injector, genesis_generated=genesis_generated(config)
        )
        self.producer.on_mini_block(self.feed.on_mini_block)
        self.producer.on_block(self.feed.on_block)
        self.producer.on_rejected(lambda tx, reason: self.waiters.on_rejected(tx.hash, reason))
        self.api = EthApi(self, log_range_cap=config.rpc_max_logs_block_range)
        self.filters = FilterManager(self.chain.block_receipts, lambda flt: self.api.eth_get_logs([flt]))
        self.producer.on_mini_block(self.filters.on_mini_block)
        self.producer.on_block(self.filters.on_block)
        self._restore_pool()
        self.metrics = Metrics()
        self._wire_metrics()
        txpool = txpool_methods(self.pool, lambda raw: format_transaction(raw, None, None, None, None))
        public = {**self.api.methods(), **self.filters.methods(), **txpool}
        self.dispatcher = Dispatcher(
            public,
            max_batch=config.rpc_max_batch,
            observe=self.metrics.observe_rpc,
            before_batch=self.api.prepare_batch,
        )
        self.admin_dispatcher = self.dispatcher.with_methods(admin_methods(self.api))
        self._running = False
        self._accepting = True
        self._started_at = time.time()
        self._stop = asyncio.Event()
        self.rpc_address: BoundAddress | None = None
        self.feed_address: BoundAddress | None = None
        self.metrics_address: BoundAddress | None = None
        self.admin_address: BoundAddress | None = None

    def _wire_metrics(self) -> None:
        m, stats = self.metrics, self.producer.stats

        def on_mini(mb: Any) -> None:
            m.mini_blocks.inc()
            m.tx_included.inc(len(mb.raw_txs))
            m.gas_used.inc(mb.gas_used)
            if stats.mini_intervals:
                m.mini_interval.observe(stats.mini_intervals[-1] / 1000)

        def on_block(block: Any) -> None:
            m.evm_blocks.inc()
            m.head_block.set(block.number)
            if stats.block_seal_ms:
                m.block_seal.observe(stats.block_seal_ms[-1] / 1000)
            if stats.state_root_ms:
                m.state_root.observe(stats.state_root_ms[-1] / 1000)

        self.producer.on_mini_block(on_mini)
        self.producer.on_block(on_block)
        self.producer.exec_observer = m.tx_execution.observe
        m.head_block.set(self.chain.head.number)

    def refresh_metrics(self) -> None:
        m = self.metrics
        m.mempool_size.labels("ready").set(self.pool.ready_count())
        m.mempool_size.labels("queued").set(self.pool.queued_count())
        m.ws_subscriptions.set(self.hub.subscription_count())
        m.feed_followers.set(len(self.feed.followers))
        m.feed_lag.set(self.feed.max_lag())
        m.healthy.set(1 if self.healthy() else 0)

    def ready(self) -> bool:
        """Serving and sealing: started, accepting transactions and storage healthy."""
        return self._running and self.healthy()

    def _restore_pool(self) -> None:
        """Re-admit journaled transactions that no block includes (they were acknowledged)."""
        restored = dropped = 0
        for raw in self.recovery.pool_txs:
            try:
                admit(raw, self.chain, self.pool, self.config.chain, self.api.next_base_fee())
                restored += 1
            except SequencerError as exc:
                dropped += 1
                log.info("journaled transaction no longer valid, dropped reason=%r", str(exc))
        if restored or dropped:
            log.info("mempool restored from the journal restored=%d dropped=%d", restored, dropped)

    def _state_nonce(self, sender: bytes) -> int:
        account = self.chain.world.get_account(sender)
        return account.nonce if account else 0

    def check_accepting(self) -> None:
        if not self._accepting:
            raise NodeUnavailable("node is shutting down")
        if not self.producer.healthy:
            raise NodeUnavailable("node is unhealthy: storage writes are failing")

    def healthy(self) -> bool:
        return self._accepting and self.producer.healthy

    def status(self) -> dict[str, Any]:
        head = self.chain.head
        mini = self.chain.head_mini
        return {
            "clientVersion": f"{sequencer.CLIENT_NAME}/v{sequencer.__version__}",
            "chainId": self.config.chain.chain_id,
            "healthy": self.healthy(),
            "headBlock": {"number": head.number, "hash": d(head.hash), "timestamp": head.timestamp},
            "headMiniBlock": {"number": mini.number, "blockNumber": mini.block_number, "hash": d(mini.hash)}
            if mini
            else None,
            "openBlock": self.chain.open_env.number if self.chain.open_env else None,
            "mempool": {"ready": self.pool.ready_count(), "queued": self.pool.queued_count()},
            "filters": self.filters.filter_count(),
            "feedFollowers": len(self.feed.followers),
            "subscriptions": self.hub.subscription_count(),
            "miniBlockIntervalMs": self.config.mini_block_interval_ms,
            "evmBlockIntervalMs": self.config.evm_block_interval_ms,
            "uptimeS": round(time.time() - self._started_at, 3),
            **self.producer.stats.summary(),
        }

    def request_stop(self) -> None:
        """First SIGINT/SIGTERM: graceful stop. A second one exits at once: everything
        acknowledged is already in the fsync'd log, so a forced exit loses nothing."""
        if self._stop.is_set():
            log.warning("second stop signal: exiting now without the final seal")
            logging.shutdown()
            os._exit(FORCED_EXIT_CODE)
        log.info("shutdown requested")
        self._stop.set()

    async def run(self, on_ready: Any = None) -> None:
        loop = asyncio.get_running_loop()
        # a file-size limit (RLIMIT_FSIZE) must surface as a write error, not kill the process
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)
        cfg = self.config
        token_admin = (self.admin_dispatcher, cfg.admin_token) if cfg.admin_token else None
        app = make_app(
            self.dispatcher,
            self.healthy,
            self.hub,
            max_body=cfg.rpc_max_body_bytes,
            max_subscriptions=cfg.rpc_max_ws_subscriptions,
            admin=token_admin,
            on_connections=self.metrics.ws_connections.set,
        )
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.config.rpc_host, self.config.rpc_port, reuse_address=True)
        await site.start()
        self.rpc_address = _bound(site)
        feed_runner = web.AppRunner(make_feed_app(self.feed), access_log=None, handle_signals=False)
        await feed_runner.setup()
        feed_site = web.TCPSite(feed_runner, self.config.feed_host, self.config.feed_port, reuse_address=True)
        await feed_site.start()
        self.feed_address = _bound(feed_site)
        runners = [runner, feed_runner]
        if cfg.metrics_port is not None:
            metrics_app = make_metrics_app(self.metrics, self.healthy, self.ready, self.refresh_metrics)
            self.metrics_address = await _serve(metrics_app, cfg.metrics_host, cfg.metrics_port, runners)
        if cfg.admin_port is not None:
            admin_app = make_app(
                self.admin_dispatcher, self.healthy, self.hub, max_body=cfg.rpc_max_body_bytes
            )
            self.admin_address = await _serve(admin_app, cfg.admin_host, cfg.admin_port, runners)
        self._running = True
        log.info(
            "sequencer started rpc=%s feed=ws://%s:%d chain_id=%d head=%d mini_block_ms=%g "
            "evm_block_ms=%g data_dir=%s",
            self.rpc_address.url,
            self.feed_address.host,
            self.feed_address.port,
            self.config.chain.chain_id,
            self.chain.head.number,
            self.config.mini_block_interval_ms,
            self.config.evm_block_interval_ms,
            self.data_dir,
        )
        if self.metrics_address is not None or self.admin_address is not None:
            log.info(
                "operator endpoints metrics=%s admin=%s",
                self.metrics_address.url if self.metrics_address else "off",
                self.admin_address.url if self.admin_address else "off",
            )
        if on_ready is not None:
            on_ready(self)
        try:
            async with asyncio.TaskGroup() as tg:
                producer_task = tg.create_task(self.producer.run(), name="block-producer")
                await self._stop.wait()
                self._accepting = False
                self.producer.stop()
                await asyncio.wait_for(asyncio.shield(producer_task), SHUTDOWN_TIMEOUT_S)
        finally:
            await self._final_seal()
            for r in runners:
                await r.cleanup()
            self.ingress.close()
            self.db.close()
            log.info("sequencer stopped head=%d", self.chain.head.number)

    async def _final_seal(self) -> None:
        """Seal pooled ready transactions and the open EVM block, so acknowledged work is on disk."""
        producer = self.producer
        try:
            for _ in range(100):
                if not self.pool.ready_count() or not producer.healthy:
                    break
                await producer.seal_mini_block_now()
            if self.chain.open_minis and producer.healthy:
                await producer.seal_evm_block_now()
        except Exception:
            log.exception("final seal failed; the open block will be resumed at next start")
        finally:
            producer.close()
