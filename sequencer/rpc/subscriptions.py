"""WebSocket subscriptions (``eth_subscribe``): standard and MegaETH real-time streams.

Kinds:
  * ``newHeads``                  every sealed EVM block's header
  * ``logs`` {address, topics, fromBlock?, toBlock?}
                                  matching logs: with ``"pending"`` as soon as their mini-block is
                                  durable (placeholder block hash), else when their EVM block seals
  * ``newPendingTransactions``    hashes (or full objects with ``true``) of admitted transactions
  * ``miniBlocks``                every mini-block, in MegaETH's fields (``mini_block_payload``),
                                  and the sequencer's ``signature`` when the chain is signed
  * ``stateChanges`` [addresses]  per mini-block, every changed account (optionally filtered):
                                  address, nonce (a number), balance, changed storage slots

Each connection has a bounded outbound queue; a subscriber that falls that far behind is
disconnected rather than allowed to slow the node. A payload is encoded once per event, not
once per subscriber, and the hub's deliveries are generators that yield between chunks of the
audience (``rpc/fanout.py`` runs them off the block path). Subscriptions are capped per
connection (``rpc.max_ws_subscriptions``) and per client address over all its connections
(``rpc.max_ws_subscriptions_per_ip``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from sequencer.codec import mini_block_roots
from sequencer.errors import LimitExceeded
from sequencer.jsonrpc.encoding import d, parse_address, parse_bool, q
from sequencer.jsonrpc.errors import InvalidParams
from sequencer.logs import fields
from sequencer.rpc.formatting import format_block, format_included, format_log, format_pooled, format_receipt
from sequencer.rpc.ids import new_id
from sequencer.rpc.logs import LogFilter, matching_logs, parse_log_filter
from sequencer.types import PENDING_HASH, EvmBlock, MiniBlock, Receipt, SignedTx

log = logging.getLogger("sequencer.rpc.ws")
KINDS = ("newHeads", "logs", "newPendingTransactions", "miniBlocks", "stateChanges")
DEFAULT_MAX_SUBSCRIPTIONS = 100
DEFAULT_MAX_PER_CLIENT = 1_000
DEFAULT_QUEUE_SIZE = 10_000
CHUNK = 256
"""Notifications queued between two yields of a delivery."""
_HEAD = b'{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"'
_MID = b'","result":'
_TAIL = b"}}"


def encode(result: Any) -> bytes:
    """A notification's ``result``, encoded once for every subscriber."""
    return orjson.dumps(result)


@dataclass(slots=True)
class Subscription:
    """One ``eth_subscribe`` subscription of a session."""

    id: str
    kind: str
    log_filter: LogFilter | None = None
    realtime: bool = False
    """A ``logs`` subscription with ``fromBlock``/``toBlock`` ``"pending"``: per mini-block."""
    addresses: frozenset[bytes] | None = None
    full: bool = False


class Session:
    """One WebSocket connection's subscriptions and outbound queue."""

    def __init__(
        self,
        hub: SubscriptionHub,
        max_subscriptions: int = DEFAULT_MAX_SUBSCRIPTIONS,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        client: str | None = None,
    ) -> None:
        self.hub = hub
        self.subs: dict[str, Subscription] = {}
        self.max_subscriptions = max_subscriptions
        self.client = client
        """The peer's address, for the per-client cap (``None``: not counted)."""
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=queue_size)
        """Encoded notifications waiting to be written."""
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
        self.hub.check_client(self.client)
        arg = params[1] if len(params) > 1 else None
        sub = Subscription(id=new_id(), kind=kind)
        if kind == "logs":
            if arg is not None and not isinstance(arg, dict):
                raise InvalidParams("logs filter must be an object")
            criteria = arg or {}
            sub.log_filter = parse_log_filter(criteria.get("address"), criteria.get("topics"))
            sub.realtime = _realtime_logs(criteria)
        elif kind == "stateChanges" and arg is not None:
            if not isinstance(arg, list):
                raise InvalidParams("stateChanges: expected a list of addresses")
            sub.addresses = frozenset(parse_address(a) for a in arg)
        elif kind == "newPendingTransactions" and arg is not None:
            sub.full = parse_bool(arg, "fullTransactions")
        elif arg is not None:
            raise InvalidParams(f"eth_subscribe: {kind} takes no parameters")
        self.subs[sub.id] = sub
        self.hub.added(self)
        return sub.id

    def unsubscribe(self, params: list[Any]) -> bool:
        """``eth_unsubscribe(id)``: whether it existed."""
        if len(params) != 1 or not isinstance(params[0], str):
            raise InvalidParams("eth_unsubscribe: expected a subscription id")
        removed = self.subs.pop(params[0], None) is not None
        if removed:
            self.hub.removed(self, 1)
        return removed

    def notify(self, sub: Subscription, result: bytes) -> None:
        """Queue a notification with an encoded ``result`` (:func:`encode`); a full queue marks
        the session overflowed (it gets closed)."""
        if self.overflowed.is_set():
            return
        try:
            self.queue.put_nowait(_HEAD + sub.id.encode() + _MID + result + _TAIL)
        except asyncio.QueueFull:
            log.warning(
                "websocket subscriber too slow, disconnecting", extra=fields(queue=self.queue.qsize())
            )
            self.overflowed.set()

    def close(self) -> None:
        """The connection closed: forget its subscriptions."""
        self.hub.removed(self, len(self.subs))
        self.subs.clear()
        self.hub.sessions.discard(self)


class SubscriptionHub:
    """Fans producer events out to every session with a matching subscription.

    ``block_receipts`` reads a sealed block's (receipt, raw transaction) pairs, for ``logs``
    subscriptions that deliver at the seal. ``sign``: the sequencer's mini-block signature in
    wire form (``{r, s, yParity}``, or ``None`` when unsigned), added to ``miniBlocks``
    payloads as ``signature``. The ``deliver_*`` methods are generators (one ``yield`` per
    chunk of notifications) for :class:`~sequencer.rpc.fanout.Fanout`.
    """

    def __init__(
        self,
        block_receipts: Callable[[EvmBlock], list[tuple[Receipt, bytes]]] | None = None,
        max_per_client: int = DEFAULT_MAX_PER_CLIENT,
        sign: Callable[[MiniBlock], dict[str, str] | None] | None = None,
    ) -> None:
        self.sessions: set[Session] = set()
        self._block_receipts = block_receipts
        self._sign = sign
        self.max_per_client = max_per_client
        self._per_client: Counter[str] = Counter()
        self._audience: dict[str, list[tuple[Session, Subscription]]] = {}
        """Subscribers by kind, rebuilt only when a subscription comes or goes."""

    def check_client(self, client: str | None) -> None:
        """Refuse one more subscription from ``client`` beyond the per-client cap."""
        if client is not None and self._per_client[client] >= self.max_per_client:
            raise LimitExceeded(
                f"too many subscriptions from this address (max {self.max_per_client}, "
                "rpc.max_ws_subscriptions_per_ip)"
            )

    def added(self, session: Session) -> None:
        """``session`` made a subscription."""
        self.sessions.add(session)
        self._audience.clear()
        if session.client is not None:
            self._per_client[session.client] += 1

    def removed(self, session: Session, count: int) -> None:
        """``session`` dropped ``count`` subscriptions."""
        self._audience.clear()
        if session.client is not None and count:
            self._per_client[session.client] -= count
            if self._per_client[session.client] <= 0:
                del self._per_client[session.client]

    def _subs(self, kind: str) -> list[tuple[Session, Subscription]]:
        audience = self._audience.get(kind)
        if audience is None:
            base, _, variant = kind.partition("/")
            audience = self._audience[kind] = [
                (s, sub)
                for s in self.sessions
                for sub in s.subs.values()
                if sub.kind == base and (base != "newPendingTransactions" or sub.full == (variant == "full"))
            ]
        return audience

    def subscription_count(self) -> int:
        """Subscriptions over all sessions."""
        return sum(len(s.subs) for s in self.sessions)

    def deliver_block(self, block: EvmBlock) -> Iterator[None]:
        """A sealed EVM block: its header to ``newHeads`` (with ``miniBlockCount``), its logs to
        the ``logs`` subscriptions that deliver at the seal (with the block's final hash)."""
        subs = self._subs("newHeads")
        if subs:
            header = format_block(block, [], False)
            for key in ("transactions", "uncles", "withdrawals", "size"):
                header.pop(key, None)
            yield from _send(subs, encode(header))
        sealed = [(s, sub) for s, sub in self._subs("logs") if not sub.realtime]
        sealed = [
            (s, sub) for s, sub in sealed if sub.log_filter and sub.log_filter.may_match(block.logs_bloom)
        ]
        if not sealed or not block.tx_hashes or self._block_receipts is None:
            return
        receipts = [r for r, _raw in self._block_receipts(block)]
        encoded: dict[tuple[int, int], bytes] = {}
        sent = 0
        for session, sub in sealed:
            assert sub.log_filter is not None
            for receipt, index, entry in matching_logs(receipts, sub.log_filter):
                item = encoded.get((receipt.tx_index, index))
                if item is None:
                    item = encoded[(receipt.tx_index, index)] = encode(
                        format_log(entry, receipt, block.hash, index, block.timestamp)
                    )
                session.notify(sub, item)
                sent += 1
                if sent % CHUNK == 0:
                    yield

    def deliver_pending(self, tx: SignedTx) -> Iterator[None]:
        """A newly admitted transaction: to ``newPendingTransactions``."""
        hashes, full = self._subs("newPendingTransactions"), self._subs("newPendingTransactions/full")
        if not hashes and not full:
            return
        if hashes:
            yield from _send(hashes, encode(d(tx.hash)))
        if full:
            yield from _send(full, encode(format_pooled(tx)))

    def deliver_mini_block(self, mb: MiniBlock) -> Iterator[None]:
        """A published mini-block: real-time logs, the mini-block itself, its state changes."""
        if not self.sessions:
            return
        sent = 0
        encoded: dict[tuple[int, int], bytes] = {}
        for session, sub in self._subs("logs"):
            assert sub.log_filter is not None
            if not sub.realtime:
                continue
            for receipt, index, entry in matching_logs(mb.receipts, sub.log_filter):
                item = encoded.get((receipt.tx_index, index))
                if item is None:
                    item = encoded[(receipt.tx_index, index)] = encode(
                        format_log(entry, receipt, PENDING_HASH, index, mb.block_env.timestamp)
                    )
                session.notify(sub, item)
                sent += 1
                if sent % CHUNK == 0:
                    yield
        minis = self._subs("miniBlocks")
        if minis:
            payload = mini_block_payload(mb)
            signature = self._sign(mb) if self._sign is not None else None
            if signature is not None:
                payload["signature"] = signature
            yield from _send(minis, encode(payload))
        changes = self._subs("stateChanges")
        if changes:
            for acc in mb.diff.accounts:
                item_dict: dict[str, Any] = {
                    "address": d(acc.address),
                    "nonce": acc.nonce,
                    "balance": q(acc.balance),
                    "storage": {d(slot.to_bytes(32, "big")): q(value) for slot, value in acc.storage},
                }
                if acc.deleted:
                    item_dict["deleted"] = True
                audience = [
                    (s, sub) for s, sub in changes if sub.addresses is None or acc.address in sub.addresses
                ]
                if audience:
                    yield from _send(audience, encode(item_dict))


def _send(audience: list[tuple[Session, Subscription]], payload: bytes) -> Iterator[None]:
    for i, (session, sub) in enumerate(audience, 1):
        session.notify(sub, payload)
        if i % CHUNK == 0:
            yield


def mini_block_payload(mb: MiniBlock) -> dict[str, Any]:
    """A ``miniBlocks`` notification, field by field as MegaETH documents it (docs/rpc.md)."""
    env = mb.block_env
    tx_root, receipt_root = mini_block_roots(mb)
    return {
        "block_number": q(mb.block_number),
        "block_timestamp": q(env.timestamp),
        "index": q(mb.index),
        "mini_block_number": q(mb.number),
        "mini_block_timestamp": q(mb.timestamp_us),
        "gas_used": q(mb.gas_used),
        "transactions": [
            format_included(raw, r, PENDING_HASH, env.base_fee, env.timestamp)
            for raw, r in zip(mb.raw_txs, mb.receipts, strict=True)
        ],
        "receipts": [format_receipt(r, PENDING_HASH, env.timestamp) for r in mb.receipts],
        "transaction_root": d(tx_root),
        "receipt_root": d(receipt_root),
    }


LOG_SUBSCRIPTION_TAGS = ("latest", "pending")


def _realtime_logs(criteria: dict[str, Any]) -> bool:
    """Whether a ``logs`` subscription asks for real-time delivery (MegaETH: ``fromBlock`` and
    ``toBlock`` ``"pending"``); ``latest`` or nothing delivers at the seal, as geth does."""
    bounds = [criteria.get(key) for key in ("fromBlock", "toBlock")]
    for value in bounds:
        if value is not None and value not in LOG_SUBSCRIPTION_TAGS:
            raise InvalidParams(
                'logs subscriptions deliver new logs: fromBlock/toBlock may only be "pending" or "latest"'
            )
    return "pending" in bounds
