"""The feed connection: the WebSocket that streams messages, reconnects, and the head poll.

:meth:`FeedSubscriber.follow` connects to ``FEED/?from=SEQ`` with ``SEQ`` the caller's cursor
at that moment, hands every text message (decoded JSON) to the caller in order, and reconnects
from the cursor whenever the connection is lost or closed (docs/feed.md: positions are the same
on every connection, so resuming is exact). :meth:`FeedSubscriber.watch_head` polls the feed's
``GET /status`` for the sequencer's head, for the lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from sequencer.logs import fields

log = logging.getLogger("verifier")
RECONNECT_DELAY_S = 0.5
HEAD_POLL_S = 0.5
RECEIVE_POLL_S = 1.0
HEARTBEAT_S = 30


@dataclass(frozen=True, slots=True)
class FeedHead:
    """The sequencer's head as its feed reports it: the newest position and EVM block."""

    seq: int
    block: int


def status_url(feed: str) -> str:
    """The feed's ``/status`` URL (``ws://`` -> ``http://``, ``wss://`` -> ``https://``)."""
    return feed.replace("ws://", "http://").replace("wss://", "https://") + "/status"


class FeedSubscriber:
    """Follows one feed until ``stopping`` is set."""

    def __init__(self, feed: str, session: aiohttp.ClientSession, stopping: asyncio.Event) -> None:
        self.feed = feed.rstrip("/")
        self._session = session
        self._stopping = stopping

    async def follow(self, position: Callable[[], int], deliver: Callable[[dict[str, Any]], None]) -> None:
        """Deliver every message from ``position()`` on, reconnecting from ``position()`` after a
        lost connection, until stopped."""
        while not self._stopping.is_set():
            try:
                await self._connection(position(), deliver)
            except (aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
                log.warning(
                    "feed connection lost; resuming", extra=fields(error=str(exc), from_seq=position())
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), RECONNECT_DELAY_S)

    async def _connection(self, start: int, deliver: Callable[[dict[str, Any]], None]) -> None:
        async with self._session.ws_connect(f"{self.feed}/?from={start}", heartbeat=HEARTBEAT_S) as ws:
            log.info("following the feed", extra=fields(feed=self.feed, from_seq=start))
            while not self._stopping.is_set():
                try:
                    msg = await asyncio.wait_for(ws.receive(), RECEIVE_POLL_S)
                except TimeoutError:
                    continue
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                    log.info("feed closed the connection; resuming", extra=fields(code=ws.close_code))
                    return
                if msg.type == aiohttp.WSMsgType.ERROR:
                    raise ConnectionError(str(ws.exception()))
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                deliver(orjson.loads(msg.data))
                await asyncio.sleep(0)

    async def watch_head(self, on_head: Callable[[FeedHead], None]) -> None:
        """Report the sequencer's head every :data:`HEAD_POLL_S` until stopped (failed polls are
        skipped)."""
        url = status_url(self.feed)
        last_block = 0
        while not self._stopping.is_set():
            try:
                async with self._session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as r:
                    data = await r.json()
                last_block = int(data.get("headBlock", last_block))
                on_head(FeedHead(int(data["headSeq"]), last_block))
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError, AttributeError):
                pass
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), HEAD_POLL_S)
