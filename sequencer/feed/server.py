"""The feed server: a WebSocket endpoint on its own port streaming feed messages (docs/feed.md).

A follower connects to ``ws://HOST:PORT/?from=SEQ`` (``wss://`` when the node has a TLS
certificate; default 0, genesis), with ``Authorization: Bearer TOKEN`` when ``feed.token`` is
set. History is served from disk, then the live stream; both are numbered by ``seq`` and the
follower sees every position exactly once, in order.

Nothing a follower does can slow the sequencer:

* at most ``feed.max_followers`` connections (HTTP 503 beyond), each with a bounded queue: one
  that falls too far behind is disconnected (close code 4001, reason naming the position to
  resume from);
* history is read and encoded in a worker thread, by at most :data:`HISTORY_THREADS` followers
  at a time, at most ``feed.history_rate`` messages per second each, so replays from genesis do
  not hold the event loop;
* a live message is encoded once for every follower.

Every message is signed (``sequencer/signing.py``) when the chain has a signing schedule; a
message larger than ``feed.max_message_bytes`` is never sent (close code 4004, and an error in
the log: followers cannot get past it until the limit is raised). Each disconnect is one log
line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from sequencer.chain import Chain
from sequencer.feed.faults import FaultInjector
from sequencer.feed.wire import (
    WIRE_VERSION,
    block_message,
    genesis_message,
    mini_block_message,
    seq_of_block,
    seq_of_mini,
)
from sequencer.logs import fields
from sequencer.serving import WebSocketRegistry
from sequencer.signing import FeedSigner
from sequencer.types import EvmBlock, MiniBlock

log = logging.getLogger("sequencer.feed")
DEFAULT_QUEUE = 10_000
CLOSE_TOO_SLOW = 4001
CLOSE_GAP = 4002
CLOSE_TOO_LARGE = 4004
HISTORY_THREADS = 2
HISTORY_BATCH = 256
HISTORY_BATCH_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024

CLOSE_REORG = 4006

Encoded = tuple[int, str]
"""A message ready to send: its position and its JSON text."""

_REORG: Encoded = (-1, "reorg")  # queue marker (by identity): the chain was rolled back


def encode(message: dict[str, Any]) -> Encoded:
    """A message's position and JSON text."""
    return message["seq"], orjson.dumps(message).decode()


class FeedHub:
    """History from the chain store plus live events from the producer, per follower."""

    def __init__(
        self,
        chain: Chain,
        queue_size: int = DEFAULT_QUEUE,
        injector: FaultInjector | None = None,
        rollbacks: int = 0,
        *,
        signer: FeedSigner | None = None,
        max_followers: int = 32,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        history_rate: int = 0,
        token: str | None = None,
    ) -> None:
        self.chain = chain
        self.rollbacks = rollbacks
        """Devnet rollbacks (``evm_revert``) of this chain so far: a connection that began
        before the latest one is closed (``CLOSE_REORG``)."""
        self.last_rollback: EvmBlock | None = None
        self.queue_size = queue_size
        self.signer = signer
        self.max_followers = max_followers
        self.max_message_bytes = max_message_bytes
        self.history_rate = history_rate
        self.token = token
        self.followers: set[asyncio.Queue[Encoded | None]] = set()
        self.positions: dict[asyncio.Queue[Encoded | None], int] = {}  # next seq per follower
        self.history_slots = asyncio.Semaphore(HISTORY_THREADS)
        # devnet fire drill (--dev-fault): applied to every message, history and live alike
        self.injector = injector
        self._injector_lock = threading.Lock()
        if injector is not None:
            injector.bind_source(self._raw_history)
            if signer is not None:
                injector.bind_signer(signer)

    @property
    def skipped_seq(self) -> int | None:
        """A position deliberately not sent (``--dev-fault skip-seq``), else None."""
        return self.injector.skipped_seq if self.injector is not None else None

    # -- messages -----------------------------------------------------------------------------
    def mini_block_message(self, mb: MiniBlock) -> dict[str, Any]:
        """A mini-block's message, signed when the chain is."""
        signature = self.signer.mini_block_json(mb) if self.signer is not None else None
        return mini_block_message(mb, signature)

    def block_message(self, block: EvmBlock) -> dict[str, Any]:
        """An EVM block's message, signed when the chain is."""
        signature = self.signer.block(block) if self.signer is not None else None
        return block_message(block, signature.as_json() if signature is not None else None)

    def _injected(self, built: dict[str, Any]) -> dict[str, Any] | None:
        if self.injector is None:
            return built
        with self._injector_lock:
            return self.injector.apply(built)

    # -- live events (producer listeners) -----------------------------------------------------
    def on_mini_block(self, mb: MiniBlock) -> None:
        """A published mini-block: to every follower (nothing is built when nobody follows). A
        devnet's dev-edit mini-block is one like any other: its message carries ``devEdits``."""
        if self.followers:  # nobody listening: don't build messages
            self._publish(self.mini_block_message(mb))

    def on_block(self, block: EvmBlock) -> None:
        """A published EVM block: to every follower."""
        if self.followers:
            self._publish(self.block_message(block))

    def on_rollback(self, block: EvmBlock) -> None:
        """A devnet rollback to ``block``: what followers saw after it is gone. Every stream
        ends (``CLOSE_REORG``); a follower reconnects naming its tip, and one whose tip is no
        longer in the chain is sent a ``reorg`` message (docs/feed.md, "Devnet events")."""
        self.rollbacks += 1
        self.last_rollback = block
        log.warning(
            "feed streams end at a devnet rollback",
            extra=fields(
                to_block=block.number, resume_from=seq_of_block(block) + 1, followers=len(self.followers)
            ),
        )
        for queue in list(self.followers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(_REORG)

    def hash_at(self, seq: int) -> bytes | None:
        """The hash of the mini-block or EVM block at position ``seq`` in the chain now, or
        None when the chain has nothing there."""
        chain = self.chain
        head = chain.head
        if seq <= seq_of_block(head):
            number = self._first_block_at_or_after(seq, head)
            block = head if number == head.number else chain.store.get_block(number)
            if block is None:
                return None
            if seq_of_block(block) == seq:
                return block.hash
            mb = chain.get_mini_block(seq - number)
            return mb.hash if mb is not None and seq_of_mini(mb) == seq else None
        for mb in list(chain.open_minis):
            if seq_of_mini(mb) == seq:
                return mb.hash
        return None

    def reorg_message(self, seq: int) -> Encoded:
        """The ``reorg`` message for a follower at ``seq`` whose tip is no longer in the chain."""
        block = self.last_rollback
        body: dict[str, Any] = {"rollbacks": hex(self.rollbacks)}
        if block is not None:
            body.update(toBlock=hex(block.number), toBlockHash="0x" + block.hash.hex())
        return encode({"version": WIRE_VERSION, "seq": seq, "type": "reorg", "reorg": body})

    def _publish(self, built: dict[str, Any]) -> None:
        message = self._injected(built)
        if message is None:
            return
        encoded = encode(message)  # once, for every follower
        for queue in list(self.followers):
            try:
                queue.put_nowait(encoded)
            except asyncio.QueueFull:
                self.followers.discard(queue)
                queue.get_nowait()  # make room for the end marker
                queue.put_nowait(None)

    # -- history ------------------------------------------------------------------------------
    def _first_block_at_or_after(self, seq: int, head: EvmBlock) -> int:
        """The smallest block number whose ``seq`` is >= ``seq`` (binary search)."""
        lo, hi = 0, head.number
        while lo < hi:
            mid = (lo + hi) // 2
            block = head if mid == head.number else self.chain.store.get_block(mid)
            assert block is not None
            if seq_of_block(block) >= seq:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def history(self, start: int) -> Iterator[dict[str, Any]]:
        """Messages with ``seq >= start`` from the store, up to what is published now."""
        for built in self._raw_history(start):
            message = self._injected(built)
            if message is not None:
                yield message

    def encoded_history(self, start: int) -> Iterator[Encoded]:
        """:meth:`history`, encoded (run in a worker thread: reads the store, never the loop)."""
        for message in self.history(start):
            yield encode(message)

    def _raw_history(self, start: int) -> Iterator[dict[str, Any]]:
        chain = self.chain
        store = chain.store
        if start == 0:
            genesis = chain.get_block(0)
            assert genesis is not None
            yield genesis_message(genesis, chain.config)
        head = chain.head
        number = max(1, self._first_block_at_or_after(start, head)) if start <= seq_of_block(head) else None
        if number is not None:
            while number <= chain.head.number:
                head = chain.head
                block = head if number == head.number else store.get_block(number)
                assert block is not None
                if block.last_mini_block >= block.first_mini_block:
                    # read at once: a store transaction never spans a yield (nor threads)
                    minis = list(store.iter_mini_blocks(block.first_mini_block, block.last_mini_block))
                    for mb in minis:
                        if seq_of_mini(mb) >= start:
                            yield self.mini_block_message(mb)
                if seq_of_block(block) >= start:
                    yield self.block_message(block)
                number += 1
        for mb in list(chain.open_minis):
            if seq_of_mini(mb) >= start:
                yield self.mini_block_message(mb)

    def max_lag(self) -> int:
        """How many positions the slowest connected follower is behind the head."""
        if not self.positions:
            return 0
        return max(0, self.head_seq() + 1 - min(self.positions.values()))

    def head_seq(self) -> int:
        """The position of the newest published event."""
        mini = self.chain.head_mini
        return max(seq_of_block(self.chain.head), seq_of_mini(mini) if mini is not None else 0)

    def authorized(self, request: web.Request) -> bool:
        """Whether the request carries the feed's bearer token (or none is required)."""
        if self.token is None:
            return True
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, b"Bearer " + self.token.encode())


def _next_batch(source: Iterator[Encoded], limit: int = HISTORY_BATCH) -> list[Encoded]:
    """Up to ``limit`` messages (or :data:`HISTORY_BATCH_BYTES`) from ``source``."""
    batch: list[Encoded] = []
    size = 0
    for item in source:
        batch.append(item)
        size += len(item[1])
        if len(batch) >= limit or size >= HISTORY_BATCH_BYTES:
            break
    return batch


class _Disconnect(Exception):
    """The follower's stream ends here, for ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def make_feed_app(hub: FeedHub, on_follower: Callable[[int], None] | None = None) -> web.Application:
    """The feed's aiohttp app: ``GET /?from=SEQ`` (WebSocket) and ``GET /status``."""
    app = web.Application()
    sockets = WebSocketRegistry(app, close_message=b"sequencer shutting down")

    async def send(
        ws: web.WebSocketResponse, queue: asyncio.Queue[Encoded | None], item: Encoded, epoch: int
    ) -> int:
        seq, text = item
        if item is _REORG or hub.rollbacks != epoch:  # history and live alike: not past a rollback
            await ws.close(code=CLOSE_REORG, message=b"reorg: the chain was rolled back; reconnect with tip")
            raise _Disconnect("devnet rollback")
        if len(text) > hub.max_message_bytes:
            log.error(
                "feed message too large (feed.max_message_bytes): not sent",
                extra=fields(seq=seq, bytes=len(text), max_message_bytes=hub.max_message_bytes),
            )
            await ws.close(code=CLOSE_TOO_LARGE, message=f"message too large: seq {seq}".encode())
            raise _Disconnect(f"message too large at seq {seq}")
        await ws.send_str(text)
        hub.positions[queue] = seq + 1
        return seq + 1

    async def serve_history(
        ws: web.WebSocketResponse, queue: asyncio.Queue[Encoded | None], start: int, epoch: int
    ) -> int:
        next_seq = start
        source = hub.encoded_history(start)
        # about ten batches a second at the configured rate, so the rate holds over short spans
        limit = min(HISTORY_BATCH, max(1, hub.history_rate // 10)) if hub.history_rate else HISTORY_BATCH
        async with hub.history_slots:
            while True:
                began = time.monotonic()
                batch = await asyncio.to_thread(_next_batch, source, limit)
                if not batch:
                    return next_seq
                for item in batch:
                    next_seq = await send(ws, queue, item, epoch)
                if hub.history_rate:
                    pause = len(batch) / hub.history_rate - (time.monotonic() - began)
                    if pause > 0:
                        await asyncio.sleep(pause)

    async def follow(request: web.Request) -> web.StreamResponse:
        if not hub.authorized(request):
            return web.json_response(
                {"error": "the feed requires 'Authorization: Bearer TOKEN'"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="feed"'},
            )
        try:
            start = int(request.query.get("from", "0"))
            if start < 0:
                raise ValueError
        except ValueError:
            return web.json_response({"error": "from must be a non-negative integer position"}, status=400)
        try:
            tip = bytes.fromhex(request.query["tip"].removeprefix("0x")) if "tip" in request.query else None
        except ValueError:
            return web.json_response({"error": "tip must be a hex hash"}, status=400)
        epoch = hub.rollbacks
        if len(hub.followers) >= hub.max_followers:
            return web.json_response(
                {"error": f"too many followers (feed.max_followers = {hub.max_followers})"}, status=503
            )
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        sockets.add(ws)
        queue: asyncio.Queue[Encoded | None] = asyncio.Queue(maxsize=hub.queue_size)
        hub.followers.add(queue)  # live first, so nothing published during catch-up is missed
        if on_follower:
            on_follower(len(hub.followers))
        peer = request.remote or "?"
        log.info(
            "feed follower connected", extra=fields(peer=peer, from_seq=start, followers=len(hub.followers))
        )
        next_seq = start
        reason = "closed by the follower"
        reader = asyncio.create_task(_drain_incoming(ws))
        try:
            if tip is not None and hub.rollbacks and start > 0 and hub.hash_at(start - 1) != tip:
                await ws.send_str(hub.reorg_message(start)[1])
                await ws.close(code=CLOSE_REORG, message=b"reorg: re-sync (the tip is not in the chain)")
                raise _Disconnect("tip not in the chain (devnet rollback): reorg sent")
            next_seq = await serve_history(ws, queue, start, epoch)
            while True:
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():  # the follower went away (or the server is closing it)
                    getter.cancel()
                    break
                live = getter.result()
                if live is None:
                    await ws.close(code=CLOSE_TOO_SLOW, message=f"too slow: resume from {next_seq}".encode())
                    raise _Disconnect(f"too slow, resume from {next_seq}")
                if live is _REORG:
                    await send(ws, queue, live, epoch)  # closes the stream
                seq = live[0]
                if seq < next_seq:
                    continue
                if seq > next_seq == hub.skipped_seq:  # a dev fault drill's deliberate gap
                    next_seq += 1
                if seq != next_seq:  # cannot happen unless the queue lost events
                    await ws.close(code=CLOSE_GAP, message=f"gap: resume from {next_seq}".encode())
                    raise _Disconnect(f"gap, resume from {next_seq}")
                next_seq = await send(ws, queue, live, epoch)
        except _Disconnect as end:
            reason = end.reason
        except asyncio.CancelledError:
            reason = "server shutting down"
            raise
        except (ConnectionError, RuntimeError) as exc:  # a reset, or a write to a closing transport
            reason = f"connection lost ({type(exc).__name__})"
        finally:
            hub.followers.discard(queue)
            hub.positions.pop(queue, None)
            sockets.discard(ws)
            reader.cancel()
            if on_follower:
                on_follower(len(hub.followers))
            log.info("feed follower disconnected", extra=fields(peer=peer, next_seq=next_seq, reason=reason))
        return ws

    async def status(request: web.Request) -> web.Response:
        if not hub.authorized(request):
            return web.json_response({"error": "the feed requires 'Authorization: Bearer TOKEN'"}, status=401)
        return web.json_response(
            {
                "version": WIRE_VERSION,
                "headSeq": hub.head_seq(),
                "headBlock": hub.chain.head.number,
                "followers": len(hub.followers),
                "maxFollowers": hub.max_followers,
                "maxMessageBytes": hub.max_message_bytes,
                "signed": hub.signer is not None and hub.signer.enabled,
                "rollbacks": hub.rollbacks,
            }
        )

    app.router.add_get("/", follow)
    app.router.add_get("/status", status)
    return app


async def _drain_incoming(ws: web.WebSocketResponse) -> None:
    """Followers send nothing; reading keeps pings answered and notices a closed socket."""
    async for msg in ws:
        if msg.type == WSMsgType.ERROR:
            break
