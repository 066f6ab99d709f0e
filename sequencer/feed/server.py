"""The feed server: a WebSocket endpoint on its own port streaming feed messages (docs/feed.md).

A follower connects to ``ws://HOST:PORT/?from=SEQ`` (default 0, genesis). History is served
from disk, then the live stream; both are numbered by ``seq`` and the follower sees every
position exactly once, in order. Each follower has a bounded queue: one that falls too far
behind is disconnected (close code 4001, reason naming the position to resume from) instead of
slowing the sequencer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from sequencer.chain import Chain
from sequencer.feed.faults import FaultInjector
from sequencer.feed.wire import block_message, genesis_message, mini_block_message, seq_of_block, seq_of_mini
from sequencer.logs import fields
from sequencer.serving import WebSocketRegistry
from sequencer.types import EvmBlock, MiniBlock

log = logging.getLogger("sequencer.feed")
DEFAULT_QUEUE = 10_000
CLOSE_TOO_SLOW = 4001
CLOSE_DEVNET_EVENT = 4005
_HORIZON: dict[str, Any] = {"type": "horizon"}  # queue marker: the stream ends at the horizon


def horizon_reason(seq: int) -> str:
    """Why the stream ends at a devnet event (a WebSocket close reason: at most 123 bytes)."""
    return f"devnet edit at seq {seq}: the feed cannot carry it yet (feed v1)"


class FeedHub:
    """History from the chain store plus live events from the producer, per follower."""

    def __init__(
        self,
        chain: Chain,
        queue_size: int = DEFAULT_QUEUE,
        injector: FaultInjector | None = None,
        horizon: int | None = None,
    ) -> None:
        self.chain = chain
        self.horizon = horizon
        """The position of the chain's first devnet event, if any: nothing is served from it."""
        self.queue_size = queue_size
        self.followers: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self.positions: dict[asyncio.Queue[dict[str, Any] | None], int] = {}  # next seq per follower
        # devnet fire drill (--dev-fault): applied to every message, history and live alike
        self.injector = injector
        if injector is not None:
            injector.bind_source(self._raw_history)

    @property
    def skipped_seq(self) -> int | None:
        """A position deliberately not sent (``--dev-fault skip-seq``), else None."""
        return self.injector.skipped_seq if self.injector is not None else None

    # -- live events (producer listeners) -----------------------------------------------------
    def on_mini_block(self, mb: MiniBlock) -> None:
        """A published mini-block: to every follower (nothing is built when nobody follows)."""
        if mb.dev_edits:
            self.end_at(seq_of_mini(mb))
        if self.followers and self.horizon is None:  # nobody listening: don't build messages
            self._publish(mini_block_message(mb))

    def on_block(self, block: EvmBlock) -> None:
        """A published EVM block: to every follower."""
        if self.followers and self.horizon is None:
            self._publish(block_message(block))

    def on_rollback(self, block: EvmBlock) -> None:
        """A devnet rollback to ``block``: what followers saw after it is gone."""
        self.end_at(seq_of_block(block) + 1)

    def end_at(self, seq: int) -> None:
        """A devnet event at ``seq``: the stream ends there, for every follower."""
        if self.horizon is not None and self.horizon <= seq:
            return
        self.horizon = seq
        log.warning("feed ends at a devnet event", extra=fields(seq=seq))
        for queue in list(self.followers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(_HORIZON)

    def _publish(self, built: dict[str, Any]) -> None:
        message = built if self.injector is None else self.injector.apply(built)
        if message is None:
            return
        for queue in list(self.followers):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                self.followers.discard(queue)
                queue.get_nowait()  # make room for the end marker
                queue.put_nowait(None)

    # -- history ------------------------------------------------------------------------------
    def _first_block_at_or_after(self, seq: int) -> int:
        """The smallest block number whose ``seq`` is >= ``seq`` (binary search)."""
        lo, hi = 0, self.chain.head.number
        while lo < hi:
            mid = (lo + hi) // 2
            block = self.chain.get_block(mid)
            assert block is not None
            if seq_of_block(block) >= seq:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def history(self, start: int) -> Iterator[dict[str, Any]]:
        """Messages with ``seq >= start`` from the store, up to what is published now."""
        if self.injector is None:
            yield from self._raw_history(start)
            return
        for built in self._raw_history(start):
            message = self.injector.apply(built)
            if message is not None:
                yield message

    def _raw_history(self, start: int) -> Iterator[dict[str, Any]]:
        chain = self.chain
        if start == 0:
            genesis = chain.get_block(0)
            assert genesis is not None
            yield genesis_message(genesis, chain.config)
        number = max(1, self._first_block_at_or_after(start)) if start <= seq_of_block(chain.head) else None
        if number is not None:
            while number <= chain.head.number:
                block = chain.get_block(number)
                assert block is not None
                for mb in chain.block_mini_blocks(block):
                    message = mini_block_message(mb)
                    if message["seq"] >= start:
                        yield message
                if seq_of_block(block) >= start:
                    yield block_message(block)
                number += 1
        for mb in list(chain.open_minis):
            message = mini_block_message(mb)
            if message["seq"] >= start:
                yield message

    def max_lag(self) -> int:
        """How many positions the slowest connected follower is behind the head."""
        if not self.positions:
            return 0
        return max(0, self.head_seq() + 1 - min(self.positions.values()))

    def head_seq(self) -> int:
        """The position of the newest published event."""
        mini = self.chain.head_mini
        return max(seq_of_block(self.chain.head), seq_of_mini(mini) if mini is not None else 0)


def make_feed_app(hub: FeedHub, on_follower: Callable[[int], None] | None = None) -> web.Application:
    """The feed's aiohttp app: ``GET /?from=SEQ`` (WebSocket) and ``GET /status``."""
    app = web.Application()
    sockets = WebSocketRegistry(app, close_message=b"sequencer shutting down")

    async def follow(request: web.Request) -> web.StreamResponse:
        try:
            start = int(request.query.get("from", "0"))
            if start < 0:
                raise ValueError
        except ValueError:
            return web.json_response({"error": "from must be a non-negative integer position"}, status=400)
        if hub.horizon is not None and start >= hub.horizon:
            return web.json_response({"error": horizon_reason(hub.horizon)}, status=409)
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        sockets.add(ws)
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=hub.queue_size)
        hub.followers.add(queue)  # live first, so nothing published during catch-up is missed
        if on_follower:
            on_follower(len(hub.followers))
        log.info("feed follower connected", extra=fields(from_seq=start, followers=len(hub.followers)))
        next_seq = start
        reader = asyncio.create_task(_drain_incoming(ws))
        try:
            for message in hub.history(start):
                if hub.horizon is not None and message["seq"] >= hub.horizon:
                    await ws.close(code=CLOSE_DEVNET_EVENT, message=horizon_reason(hub.horizon).encode())
                    return ws
                await ws.send_str(orjson.dumps(message).decode())
                next_seq = message["seq"] + 1
                hub.positions[queue] = next_seq
                await asyncio.sleep(0)
            while True:
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():  # the follower went away (or the server is closing it)
                    getter.cancel()
                    break
                live = getter.result()
                if live is _HORIZON or (
                    hub.horizon is not None and live is not None and live["seq"] >= hub.horizon
                ):
                    assert hub.horizon is not None
                    await ws.close(code=CLOSE_DEVNET_EVENT, message=horizon_reason(hub.horizon).encode())
                    break
                if live is None:
                    await ws.close(code=CLOSE_TOO_SLOW, message=f"too slow: resume from {next_seq}".encode())
                    log.warning("feed follower too slow, disconnected", extra=fields(resume_from=next_seq))
                    break
                if live["seq"] < next_seq:
                    continue
                if live["seq"] > next_seq == hub.skipped_seq:  # a dev fault drill's deliberate gap
                    next_seq += 1
                if live["seq"] != next_seq:  # cannot happen unless the queue lost events
                    await ws.close(code=CLOSE_TOO_SLOW, message=f"gap: resume from {next_seq}".encode())
                    break
                await ws.send_str(orjson.dumps(live).decode())
                next_seq += 1
                hub.positions[queue] = next_seq
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            hub.followers.discard(queue)
            hub.positions.pop(queue, None)
            sockets.discard(ws)
            reader.cancel()
            if on_follower:
                on_follower(len(hub.followers))
        return ws

    async def status(_request: web.Request) -> web.Response:
        return web.json_response(
            {
                "version": 1,
                "headSeq": hub.head_seq(),
                "headBlock": hub.chain.head.number,
                "followers": len(hub.followers),
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
