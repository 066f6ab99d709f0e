"""Prometheus metrics of the sequencer, served on ``--metrics-port`` with /health and /ready."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

INTERVAL_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
FAST_BUCKETS = (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.tx_received = Counter(
            "sequencer_transactions_received_total", "Raw transactions submitted", registry=r
        )
        self.tx_accepted = Counter(
            "sequencer_transactions_accepted_total", "Transactions admitted to the pool", registry=r
        )
        self.tx_rejected = Counter(
            "sequencer_transactions_rejected_total", "Transactions refused, by reason", ["reason"], registry=r
        )
        self.tx_included = Counter(
            "sequencer_transactions_included_total", "Transactions sealed into mini-blocks", registry=r
        )
        self.gas_used = Counter("sequencer_gas_used_total", "Gas used by sealed transactions", registry=r)
        self.mini_blocks = Counter("sequencer_mini_blocks_total", "Mini-blocks sealed", registry=r)
        self.evm_blocks = Counter("sequencer_evm_blocks_total", "EVM blocks sealed", registry=r)
        self.mini_interval = Histogram(
            "sequencer_mini_block_interval_seconds",
            "Time between mini-block seals",
            buckets=INTERVAL_BUCKETS,
            registry=r,
        )
        self.block_seal = Histogram(
            "sequencer_evm_block_seal_seconds",
            "Time to seal an EVM block",
            buckets=INTERVAL_BUCKETS,
            registry=r,
        )
        self.state_root = Histogram(
            "sequencer_state_root_seconds",
            "State root computation per EVM block",
            buckets=INTERVAL_BUCKETS,
            registry=r,
        )
        self.tx_execution = Histogram(
            "sequencer_transaction_execution_seconds",
            "Execution time per transaction",
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.mempool_size = Gauge(
            "sequencer_mempool_transactions", "Pooled transactions", ["state"], registry=r
        )
        self.rpc_requests = Counter(
            "sequencer_rpc_requests_total", "JSON-RPC requests by method", ["method"], registry=r
        )
        self.rpc_errors = Counter(
            "sequencer_rpc_errors_total", "JSON-RPC errors by method", ["method"], registry=r
        )
        self.rpc_latency = Histogram(
            "sequencer_rpc_latency_seconds",
            "JSON-RPC latency by method",
            ["method"],
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.ws_connections = Gauge(
            "sequencer_websocket_connections", "Open WebSocket RPC connections", registry=r
        )
        self.ws_subscriptions = Gauge(
            "sequencer_websocket_subscriptions", "Active eth_subscribe subscriptions", registry=r
        )
        self.feed_followers = Gauge("sequencer_feed_followers", "Connected feed followers", registry=r)
        self.feed_lag = Gauge(
            "sequencer_feed_follower_lag_max",
            "Positions the slowest feed follower is behind the head",
            registry=r,
        )
        self.head_block = Gauge("sequencer_head_block", "Newest sealed EVM block", registry=r)
        self.healthy = Gauge("sequencer_healthy", "1 while storage writes succeed", registry=r)

    def observe_rpc(self, method: str, seconds: float, ok: bool) -> None:
        self.rpc_requests.labels(method).inc()
        self.rpc_latency.labels(method).observe(seconds)
        if not ok:
            self.rpc_errors.labels(method).inc()


def make_metrics_app(
    metrics: Metrics, healthy: Callable[[], bool], ready: Callable[[], bool], refresh: Callable[[], None]
) -> web.Application:
    app = web.Application()

    async def scrape(_request: web.Request) -> web.Response:
        refresh()
        return web.Response(body=generate_latest(metrics.registry), content_type="text/plain")

    async def health(_request: web.Request) -> web.Response:
        ok = healthy()
        return web.json_response({"healthy": ok}, status=200 if ok else 503)

    async def readiness(_request: web.Request) -> web.Response:
        ok = ready()
        return web.json_response({"ready": ok}, status=200 if ok else 503)

    app.router.add_get("/metrics", scrape)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", readiness)
    return app
