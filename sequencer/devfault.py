"""What a dev fault is (``sequencer run --dev-fault KIND[@N]``): its kinds, the value and its parser.

Dependency-free, so the config can validate a dev fault without importing the feed. How each
feed kind corrupts the feed, and which message it hits, is :mod:`sequencer.feed.faults`. The
settlement kinds (with ``--l1``) corrupt what goes to L1 instead: ``batch-drop-tx`` batches the
first L2 block at or after N that has a transaction without its last one
(:mod:`sequencer.settlement.batcher`), ``output-root`` proposes a wrong root for the first output
at or after L2 block N (:mod:`sequencer.settlement.proposer`), ``deposit-skip`` never offers the
first portal deposit of an L1 block at or after N to the producer
(:mod:`sequencer.settlement.deposits`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FEED_KINDS = (
    "balance",
    "storage",
    "receipt-gas",
    "receipt-status",
    "log",
    "state-root",
    "drop-tx",
    "reorder-tx",
    "skip-seq",
    "base-fee",
    "timestamp",
    "gas-limit",
    "coinbase",
    "genesis",
    "mini-block-hash",
    "relabel-number",
    "forged-signature",
)
SETTLEMENT_KINDS = ("batch-drop-tx", "output-root", "deposit-skip")
KINDS = FEED_KINDS + SETTLEMENT_KINDS
_SPEC = re.compile(r"([a-z-]+)(?:@([0-9]+))?")


@dataclass(frozen=True)
class DevFault:
    """One fault to inject: its kind and the number at or after which it hits."""

    kind: str
    at: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown dev fault kind {self.kind!r}; valid kinds: {', '.join(KINDS)}")
        if self.at < 0:
            raise ValueError(f"dev fault number must not be negative, got {self.at}")

    def __str__(self) -> str:
        return f"{self.kind}@{self.at}"

    @property
    def on_feed(self) -> bool:
        """Whether it corrupts the feed (else what goes to L1)."""
        return self.kind in FEED_KINDS


def parse_dev_fault(text: str) -> DevFault:
    """Parse ``KIND`` or ``KIND@N`` (N a non-negative decimal, default 0)."""
    match = _SPEC.fullmatch(text.strip())
    if match is None:
        kind, _, number = text.strip().partition("@")
        if kind not in KINDS:
            raise ValueError(f"unknown dev fault kind {kind!r}; valid kinds: {', '.join(KINDS)}")
        raise ValueError(
            f"bad dev fault number {number!r} in {text!r}: expected KIND@N with N a non-negative "
            f"decimal; valid kinds: {', '.join(KINDS)}"
        )
    kind, number = match.group(1), match.group(2)
    return DevFault(kind, int(number) if number is not None else 0)
