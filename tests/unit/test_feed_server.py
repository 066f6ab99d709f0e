"""Specification of the feed server's limits (``sequencer/feed/server.py``) on a hand-made hub:
a message larger than ``feed.max_message_bytes`` is never sent (close code 4004, an error in the
log), a follower over the cap is refused with HTTP 503, a wrong token with HTTP 401, and the
history is served at the configured rate."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp import WSMsgType, WSServerHandshakeError
from aiohttp.test_utils import TestClient, TestServer

from sequencer.feed.server import CLOSE_TOO_LARGE, FeedHub, make_feed_app
from tests.unit.test_feed_faults import FakeChain


def hub(**limits: Any) -> FeedHub:
    chain = FakeChain()
    feed = FeedHub(chain, **limits)  # type: ignore[arg-type]
    chain.produce(feed, 10)
    return feed


@pytest.mark.asyncio
async def test_a_message_over_the_limit_is_not_sent(caplog: pytest.LogCaptureFixture) -> None:
    feed = hub(max_message_bytes=2000)  # the genesis message of the devnet is larger
    async with TestClient(TestServer(make_feed_app(feed))) as client:
        ws = await client.ws_connect("/?from=0")
        msg = await ws.receive(timeout=5)
        assert msg.type == WSMsgType.CLOSE and ws.close_code == CLOSE_TOO_LARGE
        assert "message too large: seq 0" in (msg.extra or "")
    assert "feed message too large" in caplog.text
    assert any(getattr(r, "fields", {}).get("seq") == 0 for r in caplog.records)


@pytest.mark.asyncio
async def test_followers_over_the_cap_and_without_the_token_are_refused() -> None:
    feed = hub(max_followers=1, token="t" * 20)
    async with TestClient(TestServer(make_feed_app(feed))) as client:
        with pytest.raises(WSServerHandshakeError) as no_token:
            await client.ws_connect("/?from=1")
        assert no_token.value.status == 401
        auth = {"Authorization": "Bearer " + "t" * 20}
        first = await client.ws_connect("/?from=1", headers=auth)
        assert (await first.receive_json(timeout=5))["seq"] == 1
        with pytest.raises(WSServerHandshakeError) as over:
            await client.ws_connect("/?from=1", headers=auth)
        assert over.value.status == 503
        await first.close()


@pytest.mark.asyncio
async def test_history_is_served_at_the_configured_rate() -> None:
    feed = hub(history_rate=20)
    async with TestClient(TestServer(make_feed_app(feed))) as client:
        began = time.monotonic()
        ws = await client.ws_connect("/?from=1")
        seen = [(await ws.receive_json(timeout=5))["seq"] for _ in range(10)]
        assert seen == list(range(1, 11))
        # the first batch (two messages: a tenth of a second's worth) goes at once, the rest paced
        assert time.monotonic() - began >= (10 - 2) / 20 * 0.9, "ten messages at 20 a second"
        await ws.close()
