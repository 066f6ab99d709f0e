"""The feed connection: the WebSocket that streams messages, reconnects, and the head poll.

:meth:`FeedSubscriber.follow` connects to ``FEED/?from=SEQ`` with ``SEQ`` the caller's cursor at
that moment (with ``Authorization: Bearer TOKEN`` when a token is given, TLS for ``wss://``),
hands every text message to the caller as it arrived (the caller decodes it once), and
reconnects from the cursor whenever the connection is lost, closed, or the caller asks for it
(a gap: docs/feed.md says a follower reconnects from the position it expected). It reads the
next message only when the caller is done with the last, so a slow verifier is cut off by the
feed (close code 4001) and resumes, rather than buffering without bound.

A message larger than the limit (``feed.max_message_bytes`` of the config, the producer's own
maximum) is not read: the caller is told (:data:`OVERSIZE`) and gives its verdict. Every
connection event goes to :class:`~verifier.health.FeedHealth`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from sequencer.logs import fields
from verifier.health import FeedHealth

log = logging.getLogger("verifier")
RECONNECT_DELAY_S = 0.2
RECONNECT_MAX_DELAY_S = 5.0
HEAD_POLL_S = 0.5
RECEIVE_POLL_S = 1.0
HEARTBEAT_S = 30
CLOSE_TIMEOUT_S = 2.0
CLOSE_REASONS = {
    1001: "the sequencer is shutting down",
    4001: "too slow",
    4002: "a gap in the feed's stream",
    4004: "the feed cannot send a message larger than its limit",
    4006: "the devnet chain was rolled back (evm_revert): reconnecting with this verifier's tip",
}
OVERSIZE = "\x00oversize"
"""What the caller is handed instead of a message over the size limit."""


class Next(enum.Enum):
    """What the subscriber does after handing over a message."""

    GO = "go"
    RECONNECT = "reconnect"


@dataclass(frozen=True, slots=True)
class FeedHead:
    """The sequencer's head as its feed reports it: the newest position and EVM block."""

    seq: int
    block: int


def status_url(feed: str) -> str:
    """The feed's ``/status`` URL (``ws://`` -> ``http://``, ``wss://`` -> ``https://``)."""
    return feed.replace("ws://", "http://", 1).replace("wss://", "https://", 1) + "/status"


class FeedSubscriber:
    """Follows one feed until ``stopping`` is set."""

    def __init__(
        self,
        feed: str,
        session: aiohttp.ClientSession,
        stopping: asyncio.Event,
        *,
        max_message_bytes: int,
        health: FeedHealth | None = None,
        token: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.feed = feed.rstrip("/")
        self._session = session
        self._stopping = stopping
        self.max_message_bytes = max_message_bytes
        self.health = health or FeedHealth()
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True

    async def follow(
        self,
        position: Callable[[], int],
        deliver: Callable[[str], Next],
        tip: Callable[[], bytes | None] = lambda: None,
    ) -> None:
        """Deliver every message from ``position()`` on, reconnecting from ``position()`` after a
        lost connection or when ``deliver`` asks, until stopped. ``tip()``: the hash of the last
        message processed (sent as ``tip``, so a devnet feed that was rolled back past it says so
        with a ``reorg`` message)."""
        delay = RECONNECT_DELAY_S
        while not self._stopping.is_set():
            start = position()
            try:
                reason = await self._connection(start, deliver, tip())
                delay = RECONNECT_DELAY_S
            except aiohttp.WSServerHandshakeError as exc:
                reason = f"refused: HTTP {exc.status} {exc.message}"
            except (aiohttp.ClientError, ConnectionError, TimeoutError, ssl.SSLError) as exc:
                reason = f"connection failed: {type(exc).__name__}: {exc}"
            self.health.on_disconnected(reason)
            if self._stopping.is_set():
                break
            log.warning("feed connection ended; resuming", extra=fields(reason=reason, from_seq=position()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            delay = min(delay * 2, RECONNECT_MAX_DELAY_S)

    async def _connection(self, start: int, deliver: Callable[[str], Next], tip: bytes | None = None) -> str:
        """One connection; why it ended."""
        ws = await self._session.ws_connect(
            f"{self.feed}/?from={start}" + (f"&tip=0x{tip.hex()}" if tip is not None and start > 0 else ""),
            heartbeat=HEARTBEAT_S,
            headers=self._headers,
            ssl=self._ssl,
            max_msg_size=self.max_message_bytes,
        )
        try:
            return await self._receive(ws, start, deliver)
        finally:
            # a feed that never answers the close (or keeps sending) cannot hold the verifier
            with contextlib.suppress(TimeoutError, aiohttp.ClientError, ConnectionError):
                await asyncio.wait_for(ws.close(), CLOSE_TIMEOUT_S)

    async def _receive(
        self, ws: aiohttp.ClientWebSocketResponse, start: int, deliver: Callable[[str], Next]
    ) -> str:
        """Hand over messages until the connection ends; why it ended."""
        self.health.on_connected()
        log.info("following the feed", extra=fields(feed=self.feed, from_seq=start))
        while not self._stopping.is_set():
            try:
                msg = await asyncio.wait_for(ws.receive(), RECEIVE_POLL_S)
            except TimeoutError:
                continue
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.health.on_message()
                if deliver(msg.data) is Next.RECONNECT:
                    return "the verifier asked to resume from its position"
                await asyncio.sleep(0)
                continue
            if msg.type == aiohttp.WSMsgType.ERROR:
                if ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG:
                    self.health.on_message()
                    deliver(OVERSIZE)
                    return f"a message over {self.max_message_bytes} bytes"
                return f"error: {ws.exception()}"
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                code = ws.close_code
                return f"closed by the feed ({code}: {CLOSE_REASONS.get(code or 0, 'no reason given')})"
            if msg.type == aiohttp.WSMsgType.BINARY:
                self.health.on_message()
                if deliver("\x00binary") is Next.RECONNECT:
                    return "a binary message"
        return "stopping"

    async def watch_head(self, on_head: Callable[[FeedHead], None]) -> None:
        """Report the sequencer's head every :data:`HEAD_POLL_S` until stopped (failed polls are
        skipped)."""
        url = status_url(self.feed)
        last_block = 0
        while not self._stopping.is_set():
            try:
                async with self._session.get(
                    url, timeout=aiohttp.ClientTimeout(total=2), headers=self._headers, ssl=self._ssl
                ) as r:
                    data = await r.json()
                last_block = int(data.get("headBlock", last_block))
                on_head(FeedHead(int(data["headSeq"]), last_block))
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError, AttributeError):
                pass
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), HEAD_POLL_S)
