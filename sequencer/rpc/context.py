"""What the JSON-RPC handlers work with: a small frozen context instead of the whole node."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sequencer.builder.devchain import DevChain
from sequencer.chain import Chain
from sequencer.config import RpcPolicy
from sequencer.mempool.pool import Mempool
from sequencer.mempool.submission import Submitter
from sequencer.rpc.callworkers import CallService
from sequencer.rpc.waiters import ReceiptWaiters
from sequencer.trie.state import StateTrie

DEFAULT_LOG_RANGE_CAP = 10_000

client_address: ContextVar[str | None] = ContextVar("client_address", default=None)
"""The address of the client whose request is being handled (set by the transport), for
per-client limits; ``None`` outside a request."""


@dataclass(frozen=True, slots=True)
class RpcContext:
    """The chain and pool the handlers read, the services they call, and their limits."""

    chain: Chain
    pool: Mempool
    submitter: Submitter
    waiters: ReceiptWaiters
    status: Callable[[], dict[str, Any]]
    """The node's status (``sequencer_status``, ``admin_nodeInfo``)."""
    log_range_cap: int = DEFAULT_LOG_RANGE_CAP
    policy: RpcPolicy = field(default_factory=RpcPolicy)
    calls: CallService = field(default_factory=CallService.inline_only)
    """Where simulated calls run (worker processes with a deadline, or inline)."""
    dev: DevChain | None = None
    """The dev-chain controls (a devnet only; ``None`` elsewhere)."""
    trie: StateTrie | None = None
    """The state trie of the newest state (``eth_getProof``)."""
