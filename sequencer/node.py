"""The sequencer node: assembles storage, chain, pool, producer, RPC and feed, and supervises them.

Every long-lived task runs in one ``asyncio.TaskGroup``: if one fails the others are cancelled.
SIGINT/SIGTERM stop accepting transactions, let the producer seal what it has (ready pooled
transactions go into a last mini-block, the open EVM block is sealed), flush, and exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import ssl
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import generate_latest

import sequencer
from sequencer.builder.devchain import DevChain
from sequencer.builder.durability import DurableWriter
from sequencer.builder.producer import BlockProducer
from sequencer.builder.startup import open_chain
from sequencer.config import NodeConfig
from sequencer.dashboard.app import add_dashboard, dashboard_url
from sequencer.dashboard.verifiers import VerifierWatch
from sequencer.errors import ConfigError, StorageError
from sequencer.feed.faults import FaultInjector
from sequencer.feed.server import FeedHub, make_feed_app
from sequencer.frontend.handoff import HandoffReceiver
from sequencer.frontend.intake import add_intake
from sequencer.frontend.spec import FrontendSpec
from sequencer.frontend.supervisor import FrontEnds, logging_setup
from sequencer.health import HealthGate
from sequencer.jsonrpc.dispatch import Dispatcher
from sequencer.jsonrpc.encoding import d
from sequencer.logs import fields
from sequencer.mempool.ingress import IngressDecoder
from sequencer.mempool.journal import PoolJournal
from sequencer.mempool.pool import Mempool
from sequencer.mempool.submission import Submitter
from sequencer.metrics import Metrics
from sequencer.rpc.admin import admin_methods
from sequencer.rpc.callworkers import CallService
from sequencer.rpc.context import RpcContext
from sequencer.rpc.errors import translate
from sequencer.rpc.fanout import Fanout
from sequencer.rpc.filters import FilterManager
from sequencer.rpc.logs import get_logs
from sequencer.rpc.methods import public_methods
from sequencer.rpc.server import make_app
from sequencer.rpc.subscriptions import SubscriptionHub
from sequencer.rpc.waiters import ReceiptWaiters
from sequencer.serving import (
    BoundAddress,
    fitted,
    make_probe_app,
    raise_fd_limit,
    start_server,
    start_unix_server,
)
from sequencer.settlement.service import SettlementService, SettlementSetup
from sequencer.signing import FeedSigner, load_keys
from sequencer.storage.log import HEADER_SIZE

log = logging.getLogger("sequencer.node")

SHUTDOWN_TIMEOUT_S = 10.0
DASHBOARD_BLOCKS = 60
DASHBOARD_MAX_SUBSCRIPTIONS = 8
FORCED_EXIT_CODE = 130


def feed_tls_context(config: NodeConfig) -> ssl.SSLContext | None:
    """The feed's TLS context (``feed.tls_cert`` / ``feed.tls_key``), or ``None`` for plain ws://."""
    if config.feed_tls_cert is None or config.feed_tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(config.feed_tls_cert, config.feed_tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"feed.tls_cert: cannot load the certificate and key: {exc}") from None
    return context


class Node:
    """One sequencer process over one data dir."""

    def __init__(
        self, config: NodeConfig, data_dir: str | Path, settlement: SettlementSetup | None = None
    ) -> None:
        """``settlement``: post to L1 (``sequencer run --l1``); ``None``: no L1, as before."""
        self.config = config
        self.data_dir = Path(data_dir)
        loaded = open_chain(config.chain, self.data_dir, config.storage_segment_bytes)
        self.db, self.chain = loaded.db, loaded.chain
        self.gate = HealthGate()
        self.metrics = Metrics()
        self.pool = Mempool.from_config(config.mempool, self.chain.world.nonce_of)
        self.writer = DurableWriter(self.db, self.gate, lambda: not self.gate.accepting)
        self.journal = PoolJournal(
            lambda records: self.writer.run(self.db.journal_pool, records),
            replace=lambda raws: self.writer.run(self.db.compact_pool, raws),
            snapshot=lambda: [tx.raw for tx in self.pool.durable_transactions()],
            compact_bytes=config.mempool.journal_compact_bytes,
        )
        self.producer = BlockProducer(
            config, self.chain, loaded.trie, self.pool, self.writer, self.metrics, self.journal
        )
        self.ingress = IngressDecoder(
            config.chain.chain_id, config.chain.allow_unprotected_txs, workers=config.rpc_ingress_workers
        )
        self.submitter = Submitter(
            self.chain,
            self.pool,
            config.chain,
            self.journal,
            self.gate,
            self.ingress,
            self.metrics,
            max_tx_gas=config.max_tx_gas,
        )
        self.feed_tls = feed_tls_context(config)
        self.signer = FeedSigner(config.chain, load_keys(config))
        for address in self.signer.missing_keys():
            log.warning("no signing key for a scheduled sequencer signer", extra=fields(signer=address))
        self.hub = SubscriptionHub(
            self.chain.block_receipts,
            max_per_client=config.rpc_max_ws_subscriptions_per_ip,
            sign=self.signer.mini_block_json,
        )
        self.fanout = Fanout()
        self.fanout.pacer.defer_to(self.producer.idle)  # sealing first, notifications after
        self.waiters = ReceiptWaiters()
        self.filters = FilterManager(
            self.chain.block_receipts,
            lambda criteria: get_logs(self.rpc, criteria),
            max_filters=config.rpc_max_filters,
            max_per_client=config.rpc_max_filters_per_ip,
        )
        injector = None
        if config.dev_fault is not None:  # the config refuses one unless the chain is a devnet
            log.warning("dev fault armed", extra=fields(kind=config.dev_fault.kind, at=config.dev_fault.at))
            if config.dev_fault.on_feed:
                injector = FaultInjector(config.dev_fault)
        self.feed = FeedHub(
            self.chain,
            injector=injector,
            rollbacks=loaded.recovery.rollbacks,
            signer=self.signer,
            max_followers=config.feed_max_followers,
            max_message_bytes=config.feed_max_message_bytes,
            history_rate=config.feed_history_rate,
            token=config.feed_token,
        )
        self.devchain = DevChain(self.producer, self.chain) if config.chain.devnet else None
        self.settlement: SettlementService | None = None
        if settlement is not None:
            try:
                self.settlement = settlement.service(
                    self.chain, self.gate, self.metrics.registry, self.data_dir, config.dev_fault
                )
            except BaseException:
                self.writer.close()
                self.ingress.close()
                self.db.close()
                raise
            self.producer.on_block(self.settlement.on_block)
            if self.settlement.deposits is not None:  # the portal's deposits open every EVM block
                self.producer.set_deposit_source(self.settlement.deposits)
                self.producer.on_mini_block(self.settlement.deposits.on_mini_block)
                self.producer.on_rollback(self.settlement.deposits.on_rollback)
        self._wire_events()
        self.submitter.restore(loaded.recovery.pool_txs)
        # the journal starts over from the restored pool: what was dropped, evicted, replaced,
        # expired or included is gone from it, and so is anything journaled in the block log
        # by versions before the pool journal
        restored = [tx.raw for tx in self.pool.durable_transactions()]
        try:
            self.db.compact_pool(restored)
            self.journal.size = sum(HEADER_SIZE + len(raw) for raw in restored)
        except StorageError as exc:  # the journal as it is still holds every pooled transaction
            log.warning("pool journal not compacted at start-up", extra=fields(error=str(exc)))
            self.journal.size = self.db.pool.size()
        limits = config.rpc_calls
        self.calls = CallService(
            self.data_dir, limits.workers, limits.timeout_ms, limits.memory_mb, limits.gas_cap, self.metrics
        )
        self.rpc = RpcContext(
            chain=self.chain,
            pool=self.pool,
            submitter=self.submitter,
            waiters=self.waiters,
            status=self.status,
            log_range_cap=config.rpc_max_logs_block_range,
            policy=config.rpc_policy,
            calls=self.calls,
            dev=self.devchain,
            trie=loaded.trie,
        )
        self.dispatcher = Dispatcher(
            public_methods(self.rpc, self.filters),
            max_batch=config.rpc_max_batch,
            max_response_bytes=config.rpc_policy.max_response_bytes,
            observe=self.metrics.observe_rpc,
            translate=translate,
        )
        self.admin_dispatcher = self.dispatcher.with_methods(admin_methods(self.rpc))
        self._running = False
        self._started_at = time.time()
        self._stop = asyncio.Event()
        self.rpc_address: BoundAddress | None = None
        self.feed_address: BoundAddress | None = None
        self.metrics_address: BoundAddress | None = None
        self.admin_address: BoundAddress | None = None
        self.dashboard_address: BoundAddress | None = None
        self.frontends = (
            FrontEnds(config.rpc_frontends, self._frontend_spec, self.metrics)
            if config.rpc_frontends
            else None
        )
        self._frontend_limits = config.connections
        self.handoff: HandoffReceiver | None = None
        self.verifier_watch = VerifierWatch(config.dashboard_verifiers if config.dashboard_enabled else ())

    def _wire_events(self) -> None:
        """Who hears about what: mini-blocks, blocks, dropped and admitted transactions."""
        producer = self.producer
        later = self.fanout.listener  # subscriptions and filters hear off the block path
        for on_mini in (
            self.waiters.on_mini_block,
            later(self.hub.deliver_mini_block),
            self.feed.on_mini_block,
        ):
            producer.on_mini_block(on_mini)
        for on_block in (
            later(self.hub.deliver_block),
            self.feed.on_block,
            later(self.filters.deliver_block),
        ):
            producer.on_block(on_block)
        producer.on_rollback(self.feed.on_rollback)
        producer.on_rejected(lambda tx, exc: self.waiters.on_rejected(tx.hash, exc.message))
        self.submitter.on_admitted(later(self.hub.deliver_pending))
        self.submitter.on_admitted(later(lambda tx: self.filters.deliver_pending(tx.hash)))

    @property
    def feed_url(self) -> str:
        """The feed's bound address, ``ws://HOST:PORT`` (``wss://`` with TLS)."""
        assert self.feed_address is not None
        scheme = "wss" if self.feed_tls is not None else "ws"
        return f"{scheme}://{self.feed_address.host}:{self.feed_address.port}"

    # -- health and status ----------------------------------------------------------------------
    def healthy(self) -> bool:
        """Accepting transactions and storage writes succeeding."""
        return self.gate.healthy

    def ready(self) -> bool:
        """Serving and sealing: started, accepting transactions and storage healthy."""
        return self._running and self.gate.healthy

    def refresh_metrics(self) -> None:
        """Bring the gauges up to date (before a scrape)."""
        m = self.metrics
        m.mempool_size.labels("ready").set(self.pool.ready_count())
        m.mempool_size.labels("queued").set(self.pool.queued_count())
        m.ws_subscriptions.set(self.hub.subscription_count())
        m.feed_followers.set(len(self.feed.followers))
        m.feed_lag.set(self.feed.max_lag())
        m.head_block.set(self.chain.head.number)
        m.healthy.set(1 if self.healthy() else 0)

    def metrics_text(self) -> bytes:
        """The Prometheus exposition of every metric."""
        self.refresh_metrics()
        return generate_latest(self.metrics.registry)

    def status(self) -> dict[str, Any]:
        """``sequencer_status``: head, open block, pool, audience and production figures."""
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
            "callWorkers": self.calls.counts(),
            "rpcFrontends": self.frontends.alive() if self.frontends is not None else 0,
            "miniBlockIntervalMs": self.config.mini_block_interval_ms,
            "evmBlockIntervalMs": self.config.evm_block_interval_ms,
            "uptimeS": round(time.time() - self._started_at, 3),
            **self.metrics.producer_summary(),
            **({"settlement": self.settlement.status()} if self.settlement is not None else {}),
        }

    def dashboard_view(self) -> dict[str, Any]:
        """The dashboard's ``status.json``: the status call's figures and what it does not carry
        (recent EVM blocks' timings, feed lag, the verifiers' reports)."""
        return {
            "role": "sequencer",
            "status": self.status(),
            "blocks": self.metrics.recent_blocks(DASHBOARD_BLOCKS),
            "feed": {"followers": len(self.feed.followers), "maxLagMessages": self.feed.max_lag()},
            "verifiers": self.verifier_watch.snapshot(),
        }

    # -- lifecycle ------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """First SIGINT/SIGTERM: graceful stop. A second one exits at once: everything
        acknowledged is already in the fsync'd log, so a forced exit loses nothing."""
        if self._stop.is_set():
            log.warning("second stop signal: exiting now without the final seal")
            logging.shutdown()
            os._exit(FORCED_EXIT_CODE)
        log.info("shutdown requested")
        self._stop.set()

    async def _start_servers(self, runners: list[web.AppRunner]) -> None:
        cfg = self.config
        raise_fd_limit()
        ports = 2 + sum(p is not None for p in (cfg.metrics_port, cfg.admin_port, cfg.dashboard_port))
        limits = fitted(cfg.connections, ports)

        async def serve(
            app: web.Application, host: str, port: int, tls: ssl.SSLContext | None = None
        ) -> BoundAddress:
            runner, address = await start_server(app, host, port, limits, ssl_context=tls)
            runners.append(runner)
            return address

        token_admin = (self.admin_dispatcher, cfg.admin_token) if cfg.admin_token else None
        self._frontend_limits = limits
        rpc_app = make_app(
            self.dispatcher,
            self.healthy,
            self.hub,
            max_body=cfg.rpc_max_body_bytes,
            max_subscriptions=cfg.rpc_max_ws_subscriptions,
            admin=token_admin,
            on_connections=self.metrics.ws_connections.set,
            policy=cfg.rpc_policy,
            pacer=self.fanout.pacer,
            body_timeout_s=cfg.connections.body_timeout_s,
            behind_frontends=self.frontends is not None,
        )
        if cfg.dashboard_enabled and cfg.dashboard_port is None:
            add_dashboard(rpc_app, self.dashboard_view)
        if self.frontends is None:
            self.rpc_address = await serve(rpc_app, cfg.rpc_host, cfg.rpc_port)
        else:  # the front ends own the port; the executor answers them on its private socket
            add_intake(rpc_app, self.submitter, self.metrics, translate)
            runner = await start_unix_server(rpc_app, self.frontends.executor_socket, limits)
            runners.append(runner)
            assert runner.server is not None
            self.handoff = HandoffReceiver(self.frontends.handoff_socket, runner.server)
            self.handoff.start()
            self.rpc_address = await self.frontends.start(cfg.rpc_host, cfg.rpc_port)
        self.feed_address = await serve(make_feed_app(self.feed), cfg.feed_host, cfg.feed_port, self.feed_tls)
        if cfg.metrics_port is not None:
            probe = make_probe_app(self.metrics_text, self.healthy, self.ready)
            self.metrics_address = await serve(probe, cfg.metrics_host, cfg.metrics_port)
        if cfg.admin_port is not None:
            admin_app = make_app(
                self.admin_dispatcher,
                self.healthy,
                self.hub,
                max_body=cfg.rpc_max_body_bytes,
                pacer=self.fanout.pacer,
                allowed_hosts=(*cfg.admin_allowed_hosts, cfg.admin_host.lower()),
            )
            self.admin_address = await serve(admin_app, cfg.admin_host, cfg.admin_port)
        if cfg.dashboard_enabled:
            self.dashboard_address = self.rpc_address
            if cfg.dashboard_port is not None:  # its own port: the page and read-only subscriptions
                subscriptions_only = Dispatcher({}, translate=translate)
                app = make_app(
                    subscriptions_only,
                    self.healthy,
                    self.hub,
                    max_subscriptions=DASHBOARD_MAX_SUBSCRIPTIONS,
                    pacer=self.fanout.pacer,
                )
                add_dashboard(app, self.dashboard_view)
                self.dashboard_address = await serve(app, cfg.dashboard_host, cfg.dashboard_port)

    def _frontend_spec(self, index: int) -> FrontendSpec:
        """Front end ``index``'s spec: the port's rules, its share of the connection caps."""
        cfg, count = self.config, self.config.rpc_frontends
        limits = self._frontend_limits
        level, fmt = logging_setup()
        return FrontendSpec(
            index=index,
            data_dir=str(self.data_dir),
            chain_id=cfg.chain.chain_id,
            allow_unprotected=cfg.chain.allow_unprotected_txs,
            max_body=cfg.rpc_max_body_bytes,
            max_batch=cfg.rpc_max_batch,
            max_response_bytes=cfg.rpc_policy.max_response_bytes,
            limits=replace(
                limits,
                max_connections=max(16, -(-limits.max_connections // count)),
                max_per_ip=max(1, -(-limits.max_per_ip // count)),
            ),
            policy=cfg.rpc_policy,
            log_level=level,
            log_format=fmt,
        )

    def _log_started(self) -> None:
        assert self.rpc_address is not None and self.feed_address is not None
        log.info(
            "sequencer started",
            extra=fields(
                rpc=self.rpc_address.url,
                feed=self.feed_url,
                chain_id=self.config.chain.chain_id,
                head=self.chain.head.number,
                mini_block_ms=self.config.mini_block_interval_ms,
                evm_block_ms=self.config.evm_block_interval_ms,
                data_dir=str(self.data_dir),
            ),
        )
        if self.metrics_address or self.admin_address or self.dashboard_address:
            log.info(
                "operator endpoints",
                extra=fields(
                    metrics=self.metrics_address.url if self.metrics_address else "off",
                    admin=self.admin_address.url if self.admin_address else "off",
                    dashboard=dashboard_url(self.dashboard_address.url) if self.dashboard_address else "off",
                ),
            )

    async def run(self, on_ready: Callable[[Node], None] | None = None) -> None:
        """Serve and produce blocks until a stop signal; then seal, flush and close."""
        loop = asyncio.get_running_loop()
        # a file-size limit (RLIMIT_FSIZE) must surface as a write error, not kill the process
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)
        runners: list[web.AppRunner] = []
        try:
            self.calls.start()  # the call workers start while the servers come up
            await self._start_servers(runners)
            self._running = True
            self.metrics.gc_frozen.set(freeze_startup_heap())
            self._log_started()
            if on_ready is not None:
                on_ready(self)
            async with asyncio.TaskGroup() as tg:
                producer_task = tg.create_task(self.producer.run(), name="block-producer")
                if self.settlement is not None:
                    tg.create_task(self.settlement.run(), name="settlement")
                expiry_task = tg.create_task(self.submitter.run_expiry(), name="mempool-expiry")
                fanout_task = tg.create_task(self.fanout.run(), name="notification-fanout")
                watch_task = tg.create_task(self.verifier_watch.run(), name="dashboard-verifiers")
                if self.frontends is not None:
                    frontends_task = tg.create_task(self.frontends.run(), name="rpc-frontends")
                await self._stop.wait()
                if self.frontends is not None:  # a front end stopped with us is not restarted
                    frontends_task.cancel()
                expiry_task.cancel()
                watch_task.cancel()
                self.gate.stop_accepting()
                if self.settlement is not None:
                    self.settlement.stop()
                self.producer.stop()
                await asyncio.wait_for(asyncio.shield(producer_task), SHUTDOWN_TIMEOUT_S)
                fanout_task.cancel()
        finally:
            if self._running:
                await self._final_seal()
            if self.frontends is not None:
                await self.frontends.stop()
            if self.handoff is not None:
                self.handoff.close()
            for r in runners:
                await r.cleanup()
            self.calls.close()
            self.writer.close()
            self.ingress.close()
            self.db.close()
            log.info("sequencer stopped", extra=fields(head=self.chain.head.number))

    async def _final_seal(self) -> None:
        """Seal pooled ready transactions and the open EVM block, so acknowledged work is on disk."""
        producer = self.producer
        try:
            for _ in range(100):
                if not self.pool.has_takeable() or not self.gate.storage_ok:
                    break
                await producer.seal_mini_block_now()
            if self.chain.open_minis and self.gate.storage_ok:
                await producer.seal_evm_block_now()
        except Exception:
            log.exception("final seal failed; the open block will be resumed at next start")


def freeze_startup_heap() -> int:
    """Move what start-up allocated (modules, py-evm's tables, the chain's caches) out of the
    cyclic garbage collector's reach, and return how many objects that is.

    Those objects live as long as the process, yet every full collection walked them all: with
    them frozen the longest collection pause under a burst went from ~67 ms to ~12 ms
    (docs/benchmarks.md, "Garbage collection").
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
