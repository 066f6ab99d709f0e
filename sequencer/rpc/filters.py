"""Polling filters, with geth's semantics.

Methods: ``eth_newFilter``, ``eth_newBlockFilter``, ``eth_newPendingTransactionFilter``,
``eth_getFilterChanges``, ``eth_getFilterLogs`` and ``eth_uninstallFilter``.

  * A filter id is a 128-bit random QUANTITY (``rpc/ids.py``, as subscription ids). An unknown
    (or expired, or uninstalled) id answers "filter not found".
  * Kinds of filter and what ``eth_getFilterChanges`` returns since the previous poll (or since
    installation): a block filter, the hashes of newly sealed EVM blocks; a pending-transaction
    filter, the hashes of newly admitted transactions; a log filter, the new matching logs.
  * Logs are delivered when their EVM block is sealed, so ``blockHash`` is final (never the zero
    hash of a still-open block) and ``logIndex`` is the index in the block. A log filter's
    numeric ``fromBlock``/``toBlock`` bound the blocks it delivers; a tag (``latest``,
    ``pending``, ``safe``, ``finalized``) leaves that side open and ``earliest`` is block 0,
    as in geth. ``blockHash`` is not accepted in a filter; addresses and topics match as
    ``rpc/logs.py`` defines for every log query.
  * ``eth_getFilterLogs`` answers every matching log of the filter's range over sealed blocks
    by running the filter object through ``eth_getLogs``, so range caps and tag resolution are
    the same as there.
  * A filter not polled with ``eth_getFilterChanges`` for ``timeout_s`` is removed (as in geth,
    ``eth_getFilterLogs`` does not count as a poll). Expiry is checked on every call and on
    every producer event; :meth:`FilterManager.prune` is there for a periodic sweep too.
  * At most ``max_filters`` filters are installed at once, at most ``max_per_client`` by one
    client address (so one client cannot take them all); each keeps at most ``buffer_size``
    undelivered entries, the oldest being dropped first.
  * Producer events reach the filters through generators (``deliver_*``) that the fan-out task
    runs off the block path (``rpc/fanout.py``).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sequencer.errors import FilterNotFound, LimitExceeded
from sequencer.jsonrpc.encoding import d, params_list, parse_block_ref, parse_bool
from sequencer.jsonrpc.errors import InvalidParams
from sequencer.logs import fields
from sequencer.rpc.context import client_address
from sequencer.rpc.formatting import format_log
from sequencer.rpc.ids import new_id
from sequencer.rpc.logs import LogFilter, matching_logs, parse_log_filter
from sequencer.types import EvmBlock, Receipt

log = logging.getLogger("sequencer.rpc.filters")

DEFAULT_TIMEOUT_S = 300.0  # geth's 5 minutes
DEFAULT_MAX_FILTERS = 10_000
DEFAULT_MAX_PER_CLIENT = 1_000
CHUNK = 1_024
DEFAULT_BUFFER_SIZE = 10_000

LOGS = "logs"
BLOCKS = "blocks"
PENDING = "pending"
KINDS = (LOGS, BLOCKS, PENDING)

BlockReceipts = Callable[[EvmBlock], list[tuple[Receipt, bytes]]]
GetLogs = Callable[[dict[str, Any]], list[dict[str, Any]]]
Handler = Callable[[list[Any]], Any]


@dataclass(slots=True)
class Filter:
    """One installed polling filter and its undelivered entries."""

    id: str
    kind: str
    last_poll: float
    buffer: deque[Any]
    log_filter: LogFilter | None = None
    from_block: int | None = None
    """Lowest block number whose logs are delivered; ``None``: unbounded."""
    to_block: int | None = None
    """Highest block number whose logs are delivered; ``None``: unbounded."""
    criteria: dict[str, Any] = field(default_factory=dict)
    """The filter object as ``eth_getLogs`` takes it (for ``eth_getFilterLogs``)."""
    dropped: int = 0
    """Entries dropped from a full buffer since the previous poll."""
    owner: str | None = None
    """The client address that installed it (for the per-client cap)."""

    def in_range(self, number: int) -> bool:
        """Whether the filter delivers logs of block ``number``."""
        return (self.from_block is None or number >= self.from_block) and (
            self.to_block is None or number <= self.to_block
        )


class FilterManager:
    """The node's installed polling filters, fed by the block producer."""

    def __init__(
        self,
        block_receipts: BlockReceipts,
        get_logs: GetLogs,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_filters: int = DEFAULT_MAX_FILTERS,
        max_per_client: int = DEFAULT_MAX_PER_CLIENT,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if max_filters < 1 or buffer_size < 1:
            raise ValueError("max_filters and buffer_size must be at least 1")
        self._block_receipts = block_receipts
        self._get_logs = get_logs
        self.timeout_s = timeout_s
        self.max_filters = max_filters
        self.max_per_client = max_per_client
        self._per_client: Counter[str] = Counter()
        self.buffer_size = buffer_size
        self._clock = clock
        # ordered by last poll, oldest first: expiry pops from the front
        self._filters: OrderedDict[str, Filter] = OrderedDict()
        self._by_kind: dict[str, dict[str, Filter]] = {kind: {} for kind in KINDS}

    def methods(self) -> dict[str, Handler]:
        """The filter handlers."""
        return {
            "eth_newFilter": self.eth_new_filter,
            "eth_newBlockFilter": self.eth_new_block_filter,
            "eth_newPendingTransactionFilter": self.eth_new_pending_transaction_filter,
            "eth_getFilterChanges": self.eth_get_filter_changes,
            "eth_getFilterLogs": self.eth_get_filter_logs,
            "eth_uninstallFilter": self.eth_uninstall_filter,
        }

    def filter_count(self, kind: str | None = None) -> int:
        """Installed filters (expired ones may still count until the next call or prune)."""
        return len(self._filters) if kind is None else len(self._by_kind[kind])

    # -- lifecycle ------------------------------------------------------------------------------
    def prune(self, now: float | None = None) -> int:
        """Remove the filters not polled for ``timeout_s``; returns how many were removed."""
        if now is None:
            now = self._clock()
        removed = 0
        while self._filters:
            oldest = next(iter(self._filters.values()))
            if now - oldest.last_poll < self.timeout_s:
                break
            self._remove(oldest.id)
            removed += 1
            log.debug("filter expired", extra=fields(id=oldest.id, kind=oldest.kind))
        return removed

    def _remove(self, filter_id: str) -> Filter | None:
        f = self._filters.pop(filter_id, None)
        if f is not None:
            del self._by_kind[f.kind][filter_id]
            if f.owner is not None:
                self._per_client[f.owner] -= 1
                if self._per_client[f.owner] <= 0:
                    del self._per_client[f.owner]
        return f

    def _install(self, f: Filter) -> str:
        if len(self._filters) >= self.max_filters:
            raise LimitExceeded(
                f"too many filters installed (max {self.max_filters}); "
                "uninstall unused ones with eth_uninstallFilter"
            )
        owner = client_address.get()
        if owner is not None and self._per_client[owner] >= self.max_per_client:
            raise LimitExceeded(
                f"too many filters installed from this address (max {self.max_per_client}, "
                "rpc.max_filters_per_ip); uninstall unused ones with eth_uninstallFilter"
            )
        f.owner = owner
        if owner is not None:
            self._per_client[owner] += 1
        while f.id in self._filters:  # 128 random bits: never in practice
            f.id = new_id()
        self._filters[f.id] = f
        self._by_kind[f.kind][f.id] = f
        log.debug("filter installed", extra=fields(id=f.id, kind=f.kind))
        return f.id

    def _new_filter(self, kind: str, now: float) -> Filter:
        return Filter(id=new_id(), kind=kind, last_poll=now, buffer=deque())

    def _lookup(self, params: list[Any], method: str) -> tuple[Filter, float]:
        now = self._clock()
        self.prune(now)
        filter_id = _parse_id(params, method)
        f = self._filters.get(filter_id)
        if f is None:
            raise FilterNotFound()
        return f, now

    # -- handlers -------------------------------------------------------------------------------
    def eth_new_filter(self, params: list[Any]) -> str:
        """``eth_newFilter(criteria)``: a log filter's id."""
        (obj,) = params_list(params, "eth_newFilter", 1, 1)
        now = self._clock()
        self.prune(now)
        f = self._new_filter(LOGS, now)
        _parse_criteria(obj, f)
        return self._install(f)

    def eth_new_block_filter(self, params: list[Any]) -> str:
        """``eth_newBlockFilter()``: a block filter's id."""
        params_list(params, "eth_newBlockFilter", 0, 0)
        now = self._clock()
        self.prune(now)
        return self._install(self._new_filter(BLOCKS, now))

    def eth_new_pending_transaction_filter(self, params: list[Any]) -> str:
        """``eth_newPendingTransactionFilter()``: a pending-transaction filter's id."""
        (full,) = params_list(params, "eth_newPendingTransactionFilter", 0, 1)
        if full is not None and parse_bool(full, "fullTx"):
            raise InvalidParams(
                "eth_newPendingTransactionFilter: full transaction objects are not supported; "
                "omit the parameter or pass false (use eth_subscribe newPendingTransactions with true)"
            )
        now = self._clock()
        self.prune(now)
        return self._install(self._new_filter(PENDING, now))

    def eth_get_filter_changes(self, params: list[Any]) -> list[Any]:
        """``eth_getFilterChanges(id)``: what arrived since the last poll."""
        f, now = self._lookup(params, "eth_getFilterChanges")
        f.last_poll = now
        self._filters.move_to_end(f.id)
        out = list(f.buffer)
        f.buffer.clear()
        f.dropped = 0
        return out

    def eth_get_filter_logs(self, params: list[Any]) -> list[dict[str, Any]]:
        """``eth_getFilterLogs(id)``: every matching log of a log filter's range."""
        f, _now = self._lookup(params, "eth_getFilterLogs")
        if f.kind != LOGS:
            raise FilterNotFound()  # geth: only log filters have logs
        return self._get_logs(dict(f.criteria))

    def eth_uninstall_filter(self, params: list[Any]) -> bool:
        """``eth_uninstallFilter(id)``: whether it existed."""
        filter_id = _parse_id(params, "eth_uninstallFilter")
        self.prune()
        removed = self._remove(filter_id) is not None
        if removed:
            log.debug("filter uninstalled", extra=fields(id=filter_id))
        return removed

    # -- producer events ------------------------------------------------------------------------
    def on_block(self, block: EvmBlock) -> None:
        """A sealed EVM block, delivered at once (:meth:`deliver_block`)."""
        for _ in self.deliver_block(block):
            pass

    def on_pending(self, tx_hash: bytes) -> None:
        """A newly admitted transaction, delivered at once (:meth:`deliver_pending`)."""
        for _ in self.deliver_pending(tx_hash):
            pass

    def deliver_block(self, block: EvmBlock) -> Iterator[None]:
        """A sealed EVM block: its hash to block filters, its matching logs to log filters."""
        self.prune()
        blocks = self._by_kind[BLOCKS]
        if blocks:
            block_hash = d(block.hash)
            for i, f in enumerate(list(blocks.values()), 1):
                self._push(f, block_hash)
                if i % CHUNK == 0:
                    yield
        if not block.tx_hashes:
            return
        targets = [
            f
            for f in self._by_kind[LOGS].values()
            if f.in_range(block.number)
            and f.log_filter is not None
            and f.log_filter.may_match(block.logs_bloom)
        ]
        if not targets:
            return
        try:
            receipts = [r for r, _raw in self._block_receipts(block)]
        except Exception:  # a listener must never break block production
            log.exception(
                "log filters: cannot read the receipts of block %d; its logs are skipped", block.number
            )
            return
        formatted: dict[tuple[int, int], dict[str, Any]] = {}
        pushed = 0
        for f in targets:
            assert f.log_filter is not None
            for receipt, index, entry in matching_logs(receipts, f.log_filter):
                item = formatted.get((receipt.tx_index, index))
                if item is None:
                    item = formatted[(receipt.tx_index, index)] = format_log(
                        entry, receipt, block.hash, index, block.timestamp
                    )
                self._push(f, item)
                pushed += 1
                if pushed % CHUNK == 0:
                    yield

    def deliver_pending(self, tx_hash: bytes) -> Iterator[None]:
        """A transaction newly admitted to the pool: its hash to pending-transaction filters."""
        self.prune()
        pending = self._by_kind[PENDING]
        if not pending:
            return
        item = d(tx_hash)
        for i, f in enumerate(list(pending.values()), 1):
            self._push(f, item)
            if i % CHUNK == 0:
                yield

    def _push(self, f: Filter, item: Any) -> None:
        if len(f.buffer) >= self.buffer_size:
            f.buffer.popleft()
            f.dropped += 1
            if f.dropped == 1:
                log.warning(
                    "filter not polled fast enough, dropping its oldest entries",
                    extra=fields(id=f.id, kind=f.kind, buffer=self.buffer_size),
                )
        f.buffer.append(item)


def _parse_id(params: list[Any], method: str) -> str:
    (filter_id,) = params_list(params, method, 1, 1)
    if not isinstance(filter_id, str):
        raise InvalidParams(f"{method}: expected a filter id string, got {type(filter_id).__name__}")
    return filter_id


def _parse_bound(value: Any, name: str) -> int | None:
    ref = parse_block_ref(value, name)
    if ref.hash is not None:
        raise InvalidParams(f"eth_newFilter: invalid {name}: a block hash is not allowed here")
    if ref.tag is not None:
        return 0 if ref.tag == "earliest" else None
    return ref.number


def _parse_criteria(obj: Any, f: Filter) -> None:
    """Validate an ``eth_newFilter`` object and fill the log filter's fields."""
    if not isinstance(obj, dict):
        raise InvalidParams("eth_newFilter: filter must be an object")
    if obj.get("blockHash") is not None:
        raise InvalidParams("eth_newFilter: blockHash is not allowed in a filter; use eth_getLogs")
    address = obj.get("address")
    topics = obj.get("topics")
    f.log_filter = parse_log_filter(address, topics)
    if address == []:
        address = None  # any address, as absent (kept out of the criteria for eth_getLogs)
    f.from_block = _parse_bound(obj.get("fromBlock"), "fromBlock")
    f.to_block = _parse_bound(obj.get("toBlock"), "toBlock")
    if f.from_block is not None and f.to_block is not None and f.from_block > f.to_block:
        raise InvalidParams("eth_newFilter: invalid block range: fromBlock is after toBlock")
    criteria = {
        "fromBlock": obj.get("fromBlock"),
        "toBlock": obj.get("toBlock"),
        "address": address,
        "topics": topics,
    }
    f.criteria = {k: v for k, v in criteria.items() if v is not None}
