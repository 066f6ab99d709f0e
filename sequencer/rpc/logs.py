"""Log queries, written once: the filter, its parsing, the iteration over blocks, ``eth_getLogs``.

geth's semantics, shared by ``eth_getLogs``, polling filters (``eth_newFilter``) and ``logs``
subscriptions:

* ``address``: one address or a list; absent, null or an empty list matches every address;
* ``topics``: up to four positions; position *i* is null or an empty list (any topic), one
  topic, or a list of topics (any of them); a log matches when it has at least as many topics
  as positions given and each position matches.

A block whose logs bloom cannot contain the filter's addresses or topics is skipped without
reading its receipts. A range reaches the open block when it names it (``toBlock: "pending"``
or its number): its logs so far, with the placeholder block hash until it is sealed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sequencer.bloom import bloom_may_contain
from sequencer.chain import Chain
from sequencer.errors import BlockNotFound, LimitExceeded
from sequencer.jsonrpc.encoding import params_list, parse_address, parse_block_ref, parse_hash
from sequencer.jsonrpc.errors import InvalidParams
from sequencer.rpc.blocktags import AnyBlock, block_by_hash
from sequencer.rpc.context import RpcContext
from sequencer.rpc.formatting import format_log
from sequencer.types import Log, Receipt

MAX_TOPICS = 4


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Which logs a query wants; ``None`` is a wildcard (see the module docstring)."""

    addresses: frozenset[bytes] | None
    topics: tuple[frozenset[bytes] | None, ...]

    def matches(self, address: bytes, topics: tuple[bytes, ...]) -> bool:
        """Whether a log with this address and these topics matches."""
        if self.addresses is not None and address not in self.addresses:
            return False
        if len(self.topics) > len(topics):
            return False
        return all(opts is None or topics[i] in opts for i, opts in enumerate(self.topics))

    def may_match(self, bloom: bytes) -> bool:
        """False when a block with this logs bloom certainly has no matching log."""
        value = int.from_bytes(bloom, "big")
        if self.addresses is not None and not any(bloom_may_contain(value, a) for a in self.addresses):
            return False
        return all(opts is None or any(bloom_may_contain(value, t) for t in opts) for opts in self.topics)


MATCH_ALL = LogFilter(None, ())


def parse_log_filter(address: Any, topics: Any) -> LogFilter:
    """A :class:`LogFilter` from a request's ``address`` and ``topics`` members."""
    addresses: frozenset[bytes] | None
    if address is None or address == []:
        addresses = None
    elif isinstance(address, list):
        addresses = frozenset(parse_address(a, "address") for a in address)
    elif isinstance(address, str):
        addresses = frozenset({parse_address(address, "address")})
    else:
        raise InvalidParams("invalid address: expected an address or an array of addresses")
    if topics is None:
        topics = []
    if not isinstance(topics, list) or len(topics) > MAX_TOPICS:
        raise InvalidParams(f"invalid topics: expected an array of at most {MAX_TOPICS} entries")
    positions: list[frozenset[bytes] | None] = []
    for entry in topics:
        if entry is None or entry == []:
            positions.append(None)
        elif isinstance(entry, list):
            positions.append(frozenset(parse_hash(t, "topic") for t in entry))
        else:
            positions.append(frozenset({parse_hash(entry, "topic")}))
    return LogFilter(addresses, tuple(positions))


def matching_logs(receipts: Iterable[Receipt], flt: LogFilter) -> Iterator[tuple[Receipt, int, Log]]:
    """Every log of ``receipts`` that matches: (its receipt, its index in the block, the log)."""
    for receipt in receipts:
        for i, entry in enumerate(receipt.logs):
            if flt.matches(entry.address, entry.topics):
                yield receipt, receipt.first_log_index + i, entry


def block_logs(chain: Chain, block: AnyBlock, flt: LogFilter) -> list[dict[str, Any]]:
    """The matching logs of a block (sealed, or open so far), formatted (the bloom is asked first)."""
    if not block.tx_hashes or not flt.may_match(block.logs_bloom):
        return []
    receipts = [r for r, _raw in chain.block_receipts(block)]
    return [
        format_log(entry, receipt, block.hash, index, block.timestamp)
        for receipt, index, entry in matching_logs(receipts, flt)
    ]


LOG_OVERHEAD_BYTES = 420
"""A formatted log's bytes besides its data and topics (addresses, hashes, quantities, keys)."""


@dataclass(frozen=True, slots=True)
class LogPage:
    """Logs of a query, up to a limit; ``cursor`` names the last one when more remain."""

    logs: list[dict[str, Any]]
    cursor: tuple[int, int] | None


def get_logs(ctx: RpcContext, criteria: Any) -> list[dict[str, Any]]:
    """``eth_getLogs`` for one filter object: ``blockHash``, or a ``fromBlock``/``toBlock`` range
    (at most ``ctx.log_range_cap`` blocks; ``"pending"`` or the open block's number reach the open
    block). More than ``rpc.max_logs_per_response`` matching logs is refused, naming the limit."""
    limit = ctx.policy.max_logs_per_response
    page = query_logs(ctx, criteria, limit, None, ctx.policy.max_response_bytes)
    if page.cursor is not None:
        which = (
            f"more than {limit} results (rpc.max_logs_per_response)"
            if len(page.logs) == limit
            else f"more than {ctx.policy.max_response_bytes} bytes (rpc.max_response_bytes)"
        )
        raise LimitExceeded(
            f"query returned {which}; narrow the block range or the filter, or page with "
            "eth_getLogsWithCursor"
        )
    return page.logs


def log_size(item: dict[str, Any]) -> int:
    """About how many bytes a formatted log takes in an answer."""
    return LOG_OVERHEAD_BYTES + len(item["data"]) + 69 * len(item["topics"])


def query_logs(
    ctx: RpcContext, criteria: Any, limit: int, after: tuple[int, int] | None, max_bytes: int
) -> LogPage:
    """The matching logs after ``after`` (block number, log index), at most ``limit`` of them and
    about ``max_bytes`` of answer (always at least one)."""
    if not isinstance(criteria, dict):
        raise InvalidParams("eth_getLogs: filter must be an object")
    chain = ctx.chain
    flt = parse_log_filter(criteria.get("address"), criteria.get("topics"))
    blocks: list[AnyBlock]
    if criteria.get("blockHash") is not None:
        if criteria.get("fromBlock") is not None or criteria.get("toBlock") is not None:
            raise InvalidParams("eth_getLogs: blockHash cannot be combined with fromBlock/toBlock")
        by_hash = block_by_hash(chain, parse_hash(criteria["blockHash"], "blockHash"))
        if by_hash is None:
            raise BlockNotFound("unknown block")
        blocks = [by_hash]
    else:
        blocks = _range(ctx, criteria)
    out: list[dict[str, Any]] = []
    size = 0
    for block in blocks:
        if after is not None and block.number < after[0]:
            continue
        for item in block_logs(chain, block, flt):
            position = (block.number, int(item["logIndex"], 16))
            if after is not None and position <= after:
                continue
            item_size = log_size(item)
            if len(out) == limit or (out and size + item_size > max_bytes):
                last = out[-1]
                return LogPage(out, (int(last["blockNumber"], 16), int(last["logIndex"], 16)))
            out.append(item)
            size += item_size
    return LogPage(out, None)


def _range(ctx: RpcContext, criteria: dict[str, Any]) -> list[AnyBlock]:
    chain = ctx.chain
    head = chain.head.number
    pending = chain.pending_block()
    top = pending.number if pending is not None else head
    start = _bound(chain, criteria.get("fromBlock"), "fromBlock", top)
    end = _bound(chain, criteria.get("toBlock"), "toBlock", top)
    if start > end:
        raise InvalidParams("eth_getLogs: invalid block range: fromBlock is after toBlock")
    if start > top:
        return []
    end = min(end, top)
    if end - start + 1 > ctx.log_range_cap:
        raise InvalidParams(f"eth_getLogs: block range exceeds the cap of {ctx.log_range_cap} blocks")
    out: list[AnyBlock] = []
    for n in range(start, end + 1):
        in_range: AnyBlock | None = chain.get_block(n) if n <= head else pending
        if in_range is not None:
            out.append(in_range)
    return out


def encode_cursor(position: tuple[int, int]) -> str:
    """A page cursor: the block number and log index of the last log returned, 8 bytes each."""
    return f"0x{position[0]:016x}{position[1]:016x}"


def decode_cursor(value: Any) -> tuple[int, int]:
    """The position an ``eth_getLogsWithCursor`` cursor names."""
    if not isinstance(value, str) or len(value) != 34 or not value.startswith("0x"):
        raise InvalidParams("invalid cursor: pass the cursor of a previous eth_getLogsWithCursor answer")
    try:
        return int(value[2:18], 16), int(value[18:], 16)
    except ValueError:
        raise InvalidParams(
            "invalid cursor: pass the cursor of a previous eth_getLogsWithCursor answer"
        ) from None


def _bound(chain: Chain, value: Any, name: str, pending_number: int) -> int:
    """A range end: ``earliest`` is 0, ``pending`` the open block, other tags the head."""
    ref = parse_block_ref(value, name)
    if ref.hash is not None:
        raise InvalidParams(f"invalid {name}: a block hash is not allowed here")
    if ref.tag == "earliest":
        return 0
    if ref.tag == "pending":
        return pending_number
    if ref.tag is not None:
        return chain.head.number
    assert ref.number is not None
    return ref.number


def log_methods(ctx: RpcContext) -> dict[str, Any]:
    """The ``eth_getLogs`` and ``eth_getLogsWithCursor`` handlers."""

    def eth_get_logs(params: list[Any]) -> list[dict[str, Any]]:
        (criteria,) = params_list(params, "eth_getLogs", 1, 1)
        return get_logs(ctx, criteria)

    def eth_get_logs_with_cursor(params: list[Any]) -> dict[str, Any]:
        (criteria,) = params_list(params, "eth_getLogsWithCursor", 1, 1)
        if not isinstance(criteria, dict):
            raise InvalidParams("eth_getLogsWithCursor: filter must be an object")
        after = decode_cursor(criteria["cursor"]) if criteria.get("cursor") is not None else None
        query = {k: v for k, v in criteria.items() if k != "cursor"}
        page = query_logs(ctx, query, ctx.policy.max_logs_per_response, after, ctx.policy.max_response_bytes)
        out: dict[str, Any] = {"logs": page.logs}
        if page.cursor is not None:
            out["cursor"] = encode_cursor(page.cursor)
        return out

    return {"eth_getLogs": eth_get_logs, "eth_getLogsWithCursor": eth_get_logs_with_cursor}
