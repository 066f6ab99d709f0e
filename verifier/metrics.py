"""The verifier's Prometheus metrics (served on ``/metrics`` of its status port).

Named by Prometheus' conventions (base units in the name), with the standard process and
platform collectors and ``verifier_build_info`` beside them.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

import verifier
from sequencer.metrics import add_standard_collectors
from verifier.checkpoint import NOTHING_YET, Counts


class VerifierMetrics:
    """``verifier_lag_blocks``, ``verifier_lag_seconds``, ``verifier_verified_total``,
    ``verifier_verified_transactions_total``, ``verifier_mismatches_total``,
    ``verifier_feed_healthy`` and ``verifier_feed_reconnects``."""

    def __init__(self, counted: Counts = NOTHING_YET) -> None:
        """``counted``: the counts already reported (a restarted verifier's checkpoint)."""
        self.registry = CollectorRegistry()
        add_standard_collectors(self.registry, "verifier", verifier.__version__)
        self.lag_blocks = Gauge(
            "verifier_lag_blocks", "EVM blocks the verifier is behind the sequencer", registry=self.registry
        )
        self.lag_seconds = Gauge(
            "verifier_lag_seconds",
            "Age of the newest verified mini-block (since its sequencer timestamp)",
            registry=self.registry,
        )
        self.verified = Counter("verifier_verified_total", "Verified EVM blocks", registry=self.registry)
        self.verified_txs = Counter(
            "verifier_verified_transactions_total", "Verified transactions", registry=self.registry
        )
        self.mismatches = Counter("verifier_mismatches_total", "Mismatches found", registry=self.registry)
        self.resyncs = Counter(
            "verifier_resyncs_total",
            "Re-syncs from genesis after a devnet reorg (evm_revert past the verifier's tip)",
            registry=self.registry,
        )
        self.healthy = Gauge(
            "verifier_feed_healthy",
            "1 while the feed's stream flows, 0 during an alarm",
            registry=self.registry,
        )
        self.reconnects = Gauge(
            "verifier_feed_reconnects", "Reconnections to the feed since start", registry=self.registry
        )
        self.healthy.set(1)
        self._counted_txs = counted.txs

    def block_verified(self, counts: Counts) -> None:
        """A ``genesis`` or ``block`` verified, with the running counts as of it."""
        self.verified.inc()
        self.verified_txs.inc(counts.txs - self._counted_txs)
        self._counted_txs = counts.txs

    def resynced(self) -> None:
        """The verifier verifies again from genesis (a devnet reorg): its counts start over."""
        self.resyncs.inc()
        self._counted_txs = 0

    def mismatch(self) -> None:
        """A mismatch was found."""
        self.mismatches.inc()

    def health(self, ok: bool, reconnects: int) -> None:
        """The stream's health and the reconnections so far."""
        self.healthy.set(1 if ok else 0)
        self.reconnects.set(reconnects)

    def lag(self, *, blocks: int | None = None, ms: float | None = None) -> None:
        """The lag behind the sequencer, in EVM blocks and/or age of the newest mini-block (ms)."""
        if blocks is not None:
            self.lag_blocks.set(blocks)
        if ms is not None:
            self.lag_seconds.set(ms / 1000)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return bytes(generate_latest(self.registry))
