"""Prometheus metrics of the sequencer: the one home of its statistics.

The producer, the submission service and the RPC report events here; ``/metrics`` exports them
and the status call (``sequencer_status``) reads its figures from here too, so no second set of
counters can drift from what Prometheus sees. Timings are histograms plus a window of the most
recent observations, exported as a summary with quantiles (``*_recent_seconds``), which is where
the status call's p50/p99/max come from.

Names follow Prometheus' conventions (base units in the name: ``_seconds``, ``_messages``;
``_total`` on counters); every registry also carries the standard process and platform
collectors (``process_resident_memory_bytes``, ``process_cpu_seconds_total``, ``python_info``...)
and a ``*_build_info`` gauge (:func:`add_standard_collectors`).
"""

from __future__ import annotations

import importlib.metadata
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

import sequencer
from sequencer.types import EvmBlock, MiniBlock

INTERVAL_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
FAST_BUCKETS = (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5)
RPC_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)
"""JSON-RPC latency: from sub-millisecond reads to send-and-wait, which waits up to 10 s."""
QUANTILES = (0.5, 0.99)
RECENT_BLOCKS = 100
"""EVM blocks whose timings :meth:`Metrics.recent_blocks` keeps (for the dashboard)."""


def add_standard_collectors(registry: CollectorRegistry, namespace: str, version: str) -> None:
    """Register the process, platform and garbage-collector collectors in ``registry`` (as the
    default registry has them) and ``{namespace}_build_info{version,py_evm}``, always 1."""
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    build = Gauge(
        f"{namespace}_build_info",
        "The version of this build and of its EVM (always 1)",
        ["version", "py_evm"],
        registry=registry,
    )
    build.labels(version, _version_of("py-evm")).set(1)


def _version_of(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def percentile(values: list[float], q: float) -> float:
    """The ``q``-quantile of ``values`` (nearest rank; 0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _RecentWindow(Collector):
    """Exports a :class:`Timing`'s recent window as a Prometheus summary."""

    def __init__(self, name: str, documentation: str, values: deque[float]) -> None:
        self._name = name
        self._documentation = documentation
        self._values = values

    def collect(self) -> Iterator[Metric]:
        values = list(self._values)
        metric = Metric(self._name, self._documentation, "summary")
        for q in QUANTILES:
            metric.add_sample(self._name, {"quantile": str(q)}, percentile(values, q))
        metric.add_sample(self._name + "_count", {}, float(len(values)))
        metric.add_sample(self._name + "_sum", {}, float(sum(values)))
        yield metric


class Timing:
    """A latency histogram, plus its most recent ``window`` observations for quantiles."""

    def __init__(
        self,
        name: str,
        documentation: str,
        registry: CollectorRegistry,
        window: int,
        buckets: tuple[float, ...],
    ) -> None:
        self.histogram = Histogram(name, documentation, buckets=buckets, registry=registry)
        self._recent: deque[float] = deque(maxlen=window)
        recent_name = name.removesuffix("_seconds") + "_recent_seconds"
        registry.register(_RecentWindow(recent_name, f"{documentation} (last {window})", self._recent))

    def observe(self, seconds: float) -> None:
        """Record one observation."""
        self.histogram.observe(seconds)
        self._recent.append(seconds)

    def quantile_ms(self, q: float) -> float:
        """The ``q``-quantile of the recent window, in milliseconds."""
        return round(percentile(list(self._recent), q) * 1000, 3)

    def max_ms(self) -> float:
        """The largest observation of the recent window, in milliseconds."""
        return round(max(self._recent, default=0.0) * 1000, 3)


class Metrics:
    """Every metric of one sequencer process, in its own registry."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        add_standard_collectors(r, "sequencer", sequencer.__version__)
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
        self.tx_dropped = Counter(
            "sequencer_transactions_dropped_total",
            "Pooled transactions dropped at execution, by reason",
            ["reason"],
            registry=r,
        )
        self.pool_removals = Counter(
            "sequencer_mempool_removed_total",
            "Pooled transactions removed other than by inclusion or a drop at execution, by reason "
            "(replaced, evicted, expired)",
            ["reason"],
            registry=r,
        )
        self.gas_used = Counter("sequencer_gas_used_total", "Gas used by sealed transactions", registry=r)
        self.mini_blocks = Counter("sequencer_mini_blocks_total", "Mini-blocks sealed", registry=r)
        self.evm_blocks = Counter("sequencer_evm_blocks_total", "EVM blocks sealed", registry=r)
        self.mini_interval = Timing(
            "sequencer_mini_block_interval_seconds",
            "Time between mini-block seals",
            r,
            window=1000,
            buckets=INTERVAL_BUCKETS,
        )
        self.block_interval = Timing(
            "sequencer_evm_block_interval_seconds",
            "Time between EVM block seals",
            r,
            window=100,
            buckets=INTERVAL_BUCKETS,
        )
        self.block_seal = Timing(
            "sequencer_evm_block_seal_seconds",
            "Time to seal an EVM block",
            r,
            window=100,
            buckets=INTERVAL_BUCKETS,
        )
        self.state_root = Timing(
            "sequencer_state_root_seconds",
            "State root computation per EVM block",
            r,
            window=100,
            buckets=INTERVAL_BUCKETS,
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
            buckets=RPC_BUCKETS,
            registry=r,
        )
        self.calls_aborted = Counter(
            "sequencer_rpc_calls_aborted_total",
            "eth_call/eth_estimateGas/... aborted: timeout, queue_timeout, out_of_memory, worker_died",
            ["reason"],
            registry=r,
        )
        self.ws_connections = Gauge(
            "sequencer_websocket_connections", "Open WebSocket RPC connections", registry=r
        )
        self.ws_subscriptions = Gauge(
            "sequencer_websocket_subscriptions", "Active eth_subscribe subscriptions", registry=r
        )
        self.feed_followers = Gauge("sequencer_feed_followers", "Connected feed followers", registry=r)
        self.frontends = Gauge(
            "sequencer_rpc_frontends", "RPC front-end processes serving the port (rpc.frontends)", registry=r
        )
        self.frontend_restarts = Counter(
            "sequencer_rpc_frontend_restarts_total",
            "RPC front-end processes started again after one exited",
            registry=r,
        )
        self.gc_frozen = Gauge(
            "sequencer_gc_frozen_objects",
            "Objects of the start-up heap moved out of garbage collection (gc.freeze)",
            registry=r,
        )
        self.feed_lag = Gauge(
            "sequencer_feed_follower_max_lag_messages",
            "Feed messages the slowest follower is behind the head",
            registry=r,
        )
        self.head_block = Gauge("sequencer_head_block", "Newest sealed EVM block", registry=r)
        self.healthy = Gauge("sequencer_healthy", "1 while storage writes succeed", registry=r)
        self._last_mini_at: float | None = None
        self._last_block_at: float | None = None
        self._recent_blocks: deque[dict[str, Any]] = deque(maxlen=RECENT_BLOCKS)

    # -- events ---------------------------------------------------------------------------------
    def observe_rpc(self, method: str, seconds: float, ok: bool) -> None:
        """One JSON-RPC request answered."""
        self.rpc_requests.labels(method).inc()
        self.rpc_latency.labels(method).observe(seconds)
        if not ok:
            self.rpc_errors.labels(method).inc()

    def mini_block_sealed(self, mb: MiniBlock) -> None:
        """A mini-block was published."""
        now = time.monotonic()
        if self._last_mini_at is not None:
            self.mini_interval.observe(now - self._last_mini_at)
        self._last_mini_at = now
        self.mini_blocks.inc()
        self.tx_included.inc(len(mb.raw_txs))
        self.gas_used.inc(mb.gas_used)

    def evm_block_sealed(self, block: EvmBlock, seal_s: float, state_root_s: float) -> None:
        """An EVM block was published; it took ``seal_s`` to seal, ``state_root_s`` of it the root."""
        now = time.monotonic()
        if self._last_block_at is not None:
            self.block_interval.observe(now - self._last_block_at)
        self._last_block_at = now
        self.evm_blocks.inc()
        self.head_block.set(block.number)
        self.block_seal.observe(seal_s)
        self.state_root.observe(state_root_s)
        self._recent_blocks.append(
            {
                "number": block.number,
                "hash": "0x" + block.hash.hex(),
                "txs": len(block.tx_hashes),
                "miniBlocks": max(0, block.last_mini_block - block.first_mini_block + 1),
                "gasUsed": block.gas_used,
                "sealMs": round(seal_s * 1000, 3),
                "stateRootMs": round(state_root_s * 1000, 3),
                "sealedAtUs": block.sealed_at_us,
            }
        )

    def transaction_dropped(self, reason: str) -> None:
        """A pooled transaction turned out invalid at execution."""
        self.tx_dropped.labels(reason).inc()

    def pool_removed(self, reason: str) -> None:
        """A pooled transaction was replaced, evicted or expired."""
        self.pool_removals.labels(reason).inc()

    # -- reads (the status call) ------------------------------------------------------------------
    @staticmethod
    def _count(counter: Counter) -> int:
        return int(sum(s.value for m in counter.collect() for s in m.samples if s.name.endswith("_total")))

    def recent_blocks(self, count: int = RECENT_BLOCKS) -> list[dict[str, Any]]:
        """The newest ``count`` sealed EVM blocks, oldest first: number, hash, txs, mini-blocks,
        gas, seal and state-root time (ms), sealed-at (unix µs)."""
        return list(self._recent_blocks)[-count:] if count > 0 else []

    def producer_summary(self) -> dict[str, float | int]:
        """Block production figures for ``sequencer_status``."""
        return {
            "miniBlockIntervalP50Ms": self.mini_interval.quantile_ms(0.5),
            "miniBlockIntervalP99Ms": self.mini_interval.quantile_ms(0.99),
            "evmBlockIntervalP50Ms": self.block_interval.quantile_ms(0.5),
            "evmBlockIntervalP99Ms": self.block_interval.quantile_ms(0.99),
            "evmBlockSealP50Ms": self.block_seal.quantile_ms(0.5),
            "evmBlockSealMaxMs": self.block_seal.max_ms(),
            "stateRootP50Ms": self.state_root.quantile_ms(0.5),
            "stateRootMaxMs": self.state_root.max_ms(),
            "includedTxs": self._count(self.tx_included),
            "droppedTxs": self._count(self.tx_dropped),
            "miniBlocks": self._count(self.mini_blocks),
            "evmBlocks": self._count(self.evm_blocks),
        }


class SettlementMetrics:
    """The settlement statistics (``sequencer run --l1``), in the node's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.l1_reachable = Gauge("settlement_l1_reachable", "1 while the L1 answers", registry=r)
        self.l1_head = Gauge("settlement_l1_head_block", "The L1 head as last seen", registry=r)
        self.safe_block = Gauge(
            "settlement_safe_block", "Newest L2 block whose batches are included on L1 (safe)", registry=r
        )
        self.finalized_block = Gauge(
            "settlement_finalized_block", "Newest L2 block whose batches are on finalized L1", registry=r
        )
        self.unposted_blocks = Gauge(
            "settlement_unposted_blocks", "Sealed L2 blocks not yet in any batch transaction", registry=r
        )
        self.unsafe_blocks = Gauge(
            "settlement_unsafe_blocks",
            "Sealed L2 blocks after the safe head (the settlement backlog)",
            registry=r,
        )
        self.batcher_balance = Gauge("settlement_batcher_balance_wei", "The batcher's L1 balance", registry=r)
        self.pending_txs = Gauge(
            "settlement_pending_batch_txs", "Batch transactions sent but not yet included", registry=r
        )
        self.batch_txs = Counter(
            "settlement_batch_txs_total", "Batch transactions signed (one frame each)", registry=r
        )
        self.calldata_bytes = Counter(
            "settlement_batch_calldata_bytes_total",
            "Calldata bytes of the batch transactions signed",
            registry=r,
        )
        self.batch_gas = Counter(
            "settlement_batch_l1_gas_total",
            "L1 gas of the batch transactions signed (calldata pricing)",
            registry=r,
        )
        self.batcher_cpu = Counter(
            "settlement_batcher_cpu_seconds_total",
            "CPU the batcher spent reading, encoding, compressing and signing batches",
            registry=r,
        )
        self.batched_blocks = Counter(
            "settlement_batched_blocks_total", "L2 blocks put in channels", registry=r
        )
        self.batched_txs = Counter(
            "settlement_batched_l2_txs_total", "L2 transactions put in channels", registry=r
        )
        self.resubmissions = Counter(
            "settlement_batch_resubmissions_total",
            "Batch transactions sent again, by reason (fee-bump, reorg, restart)",
            ["reason"],
            registry=r,
        )
        self.l1_reorgs = Counter(
            "settlement_l1_reorgs_total", "Included batch transactions an L1 reorg took out", registry=r
        )
        self.outputs_proposed = Counter(
            "settlement_outputs_proposed_total", "Output roots proposed to the L2OutputOracle", registry=r
        )
        self.output_block = Gauge(
            "settlement_output_block", "The L2 block of the newest output root on L1", registry=r
        )
        self.alarm = Gauge("settlement_alarm", "1 while a settlement alarm is raised", registry=r)


class DepositMetrics:
    """The deposit follower's statistics (``sequencer run --l1`` with a portal)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.seen = Counter("settlement_deposits_seen_total", "Portal deposits read from L1", registry=r)
        self.included = Counter(
            "settlement_deposits_included_total", "Portal deposits included in L2 blocks", registry=r
        )
        self.pending = Gauge(
            "settlement_deposits_pending", "Deposits read from L1 and not yet included", registry=r
        )
        self.oldest_pending_age = Gauge(
            "settlement_deposits_oldest_pending_l1_blocks",
            "L1 blocks since the oldest deposit not yet included was emitted (0 when none waits)",
            registry=r,
        )
        self.next_block = Gauge(
            "settlement_deposits_next_l1_block", "The next L1 block the deposit follower reads", registry=r
        )
        self.reorged_included = Counter(
            "settlement_deposits_reorged_included_total",
            "Included deposits whose L1 block an L1 reorg took out",
            registry=r,
        )
