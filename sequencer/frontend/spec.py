"""What a front-end process is told when it starts (it is spawned: everything here pickles)."""

from __future__ import annotations

from dataclasses import dataclass

from sequencer.config import ConnectionLimits, RpcPolicy


@dataclass(frozen=True, slots=True)
class FrontendSpec:
    """One front end: where it listens, where the executor is, and the rules it applies."""

    index: int
    data_dir: str
    """The node's data dir: its store is opened read-only for the reads served here."""
    chain_id: int
    allow_unprotected: bool
    max_body: int
    max_batch: int
    max_response_bytes: int
    limits: ConnectionLimits
    policy: RpcPolicy
    log_level: str = "info"
    log_format: str = "kv"
    # filled in by the supervisor when it starts the front end:
    host: str = ""
    port: int = 0
    executor_socket: str = ""
    """The executor's private Unix socket (in a directory only this user can open)."""
    handoff_socket: str = ""
    """Where WebSocket connections are handed to the executor (``handoff.py``)."""
    parent_pid: int = 0
