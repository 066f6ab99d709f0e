"""WebSocket subscriptions (``eth_subscribe``): standard and MegaETH real-time streams.

Kinds:
  * ``newHeads``                  every sealed EVM block's header
  * ``logs`` {address, topics}    matching logs, as soon as their mini-block is durable
  * ``newPendingTransactions``    hashes (or full objects with ``true``) of admitted transactions
  * ``miniBlocks``                every mini-block: number, EVM block number, index, microsecond
                                  timestamp, gas used, transactions and receipts, and the
                                  sequencer's ``signature`` when the chain is signed
  * ``stateChanges`` [addresses]  per mini-block, every changed account (optionally filtered):
                                  address, nonce, balance, changed storage slots

Each connection has a bounded outbound queue; a subscriber that falls that far behind is
disconnected rather than allowed to slow the node.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sequencer.errors import LimitExceeded
from sequencer.jsonrpc.encoding import d, parse_address, parse_bool, q
from sequencer.jsonrpc.errors import InvalidParams
from sequencer.rpc.formatting import format_block, format_included, format_log, format_pooled, format_receipt
from sequencer.rpc.ids import new_id
from sequencer.rpc.logs import LogFilter, matching_logs, parse_log_filter
from sequencer.types import ZERO_HASH, EvmBlock, MiniBlock, SignedTx

log = logging.getLogger("sequencer.rpc.ws")
KINDS = ("newHeads", "logs", "newPendingTransactions", "miniBlocks", "stateChanges")
DEFAULT_MAX_SUBSCRIPTIONS = 100
DEFAULT_QUEUE_SIZE = 10_000


@dataclass(slots=True)
class Subscription:
    """One ``eth_subscribe`` subscription of a session."""

    id: str
    kind: str
    log_filter: LogFilter | None = None
    addresses: frozenset[bytes] | None = None
    full: bool = False


class Session:
    """One WebSocket connection's subscriptions and outbound queue."""

    def __init__(
        self,
        hub: SubscriptionHub,
        max_subscriptions: int = DEFAULT_MAX_SUBSCRIPTIONS,
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ) -> None:
        self.hub = hub
        self.subs: dict[str, Subscription] = {}
        self.max_subscriptions = max_subscriptions
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=queue_size)
        self.overflowed = asyncio.Event()

    def methods(self) -> dict[str, Callable[[list[Any]], Any]]:
        """The session's own handlers."""
        return {"eth_subscribe": self.subscribe, "eth_unsubscribe": self.unsubscribe}

    def subscribe(self, params: list[Any]) -> str:
        """``eth_subscribe(kind, arg?)``: the new subscription's id."""
        if not params or not isinstance(params[0], str):
            raise InvalidParams("eth_subscribe: expected a subscription kind")
        kind = params[0]
        if kind not in KINDS:
            raise InvalidParams(
                f"eth_subscribe: unknown subscription kind {kind!r}; one of {', '.join(KINDS)}"
            )
        if len(params) > 2:
            raise InvalidParams("eth_subscribe: expected at most 2 params")
        if len(self.subs) >= self.max_subscriptions:
            raise LimitExceeded(f"too many subscriptions on this connection (max {self.max_subscriptions})")
        arg = params[1] if len(params) > 1 else None
        sub = Subscription(id=new_id(), kind=kind)
        if kind == "logs":
            if arg is not None and not isinstance(arg, dict):
                raise InvalidParams("logs filter must be an object")
            criteria = arg or {}
            sub.log_filter = parse_log_filter(criteria.get("address"), criteria.get("topics"))
        elif kind == "stateChanges" and arg is not None:
            if not isinstance(arg, list):
                raise InvalidParams("stateChanges: expected a list of addresses")
            sub.addresses = frozenset(parse_address(a) for a in arg)
        elif kind == "newPendingTransactions" and arg is not None:
            sub.full = parse_bool(arg, "fullTransactions")
        elif arg is not None:
            raise InvalidParams(f"eth_subscribe: {kind} takes no parameters")
        self.subs[sub.id] = sub
        self.hub.sessions.add(self)
        return sub.id

    def unsubscribe(self, params: list[Any]) -> bool:
        """``eth_unsubscribe(id)``: whether it existed."""
        if len(params) != 1 or not isinstance(params[0], str):
            raise InvalidParams("eth_unsubscribe: expected a subscription id")
        return self.subs.pop(params[0], None) is not None

    def notify(self, sub: Subscription, result: Any) -> None:
        """Queue a notification; a full queue marks the session overflowed (it gets closed)."""
        if self.overflowed.is_set():
            return
        message = {
            "jsonrpc": "2.0",
            "method": "eth_subscription",
            "params": {"subscription": sub.id, "result": result},
        }
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            log.warning("websocket subscriber too slow, disconnecting queue=%d", self.queue.qsize())
            self.overflowed.set()

    def close(self) -> None:
        """The connection closed: forget its subscriptions."""
        self.subs.clear()
        self.hub.sessions.discard(self)


class SubscriptionHub:
    """Fans producer events out to every session with a matching subscription."""

    def __init__(self, sign: Callable[[MiniBlock], dict[str, str] | None] | None = None) -> None:
        """``sign``: the sequencer's mini-block signature in wire form (``{r, s, yParity}``, or
        ``None`` when unsigned), added to ``miniBlocks`` payloads as ``signature``."""
        self.sessions: set[Session] = set()
        self._sign = sign

    def _subs(self, kind: str) -> list[tuple[Session, Subscription]]:
        return [(s, sub) for s in self.sessions for sub in s.subs.values() if sub.kind == kind]

    def subscription_count(self) -> int:
        """Subscriptions over all sessions."""
        return sum(len(s.subs) for s in self.sessions)

    def on_block(self, block: EvmBlock) -> None:
        """A sealed EVM block: its header to ``newHeads``."""
        subs = self._subs("newHeads")
        if not subs:
            return
        header = format_block(block, [], False)
        for key in ("transactions", "uncles", "withdrawals", "size"):
            header.pop(key, None)
        for session, sub in subs:
            session.notify(sub, header)

    def on_pending(self, tx: SignedTx) -> None:
        """A newly admitted transaction: to ``newPendingTransactions``."""
        subs = self._subs("newPendingTransactions")
        if not subs:
            return
        full = None
        for session, sub in subs:
            if sub.full:
                full = full or format_pooled(tx)
                session.notify(sub, full)
            else:
                session.notify(sub, d(tx.hash))

    def on_mini_block(self, mb: MiniBlock) -> None:
        """A published mini-block: its logs, the mini-block itself, its state changes."""
        if not self.sessions:
            return
        for session, sub in self._subs("logs"):
            assert sub.log_filter is not None
            for receipt, index, entry in matching_logs(mb.receipts, sub.log_filter):
                session.notify(sub, format_log(entry, receipt, ZERO_HASH, index, mb.block_env.timestamp))
        minis = self._subs("miniBlocks")
        if minis:
            payload: dict[str, Any] = {
                "number": q(mb.number),
                "blockNumber": q(mb.block_number),
                "index": q(mb.index),
                "timestamp": q(mb.timestamp_us),
                "hash": d(mb.hash),
                "parentHash": d(mb.parent_hash),
                "gasUsed": q(mb.gas_used),
                "transactions": [
                    format_included(raw, r, ZERO_HASH, mb.block_env.base_fee, mb.block_env.timestamp)
                    for raw, r in zip(mb.raw_txs, mb.receipts, strict=True)
                ],
                "receipts": [format_receipt(r, ZERO_HASH, mb.block_env.timestamp) for r in mb.receipts],
            }
            signature = self._sign(mb) if self._sign is not None else None
            if signature is not None:
                payload["signature"] = signature
            for session, sub in minis:
                session.notify(sub, payload)
        changes = self._subs("stateChanges")
        if changes:
            for acc in mb.diff.accounts:
                item: dict[str, Any] = {
                    "address": d(acc.address),
                    "nonce": q(acc.nonce),
                    "balance": q(acc.balance),
                    "storage": {
                        d(slot.to_bytes(32, "big")): d(value.to_bytes(32, "big"))
                        for slot, value in acc.storage
                    },
                }
                if acc.deleted:
                    item["deleted"] = True
                for session, sub in changes:
                    if sub.addresses is None or acc.address in sub.addresses:
                        session.notify(sub, item)
