"""Specification of the RPC port's transport rules for browsers (docs/rpc.md, "Browsers").

* CORS: with ``rpc.cors_origins`` set, a preflight is answered and responses name the origin;
  with none, no CORS headers (browsers refuse the answers).
* A POST must say ``Content-Type: application/json``; anything else is HTTP 415, so a page on
  another site cannot reach the node with a "simple" request that skips the preflight.
* A WebSocket upgrade with an ``Origin`` header is accepted only from ``rpc.ws_origins``
  (default: the CORS origins); without ``Origin`` (not a browser) it is accepted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import requests

from tests.support.daemon import Daemon, start_daemon, write_config

GOOD = "https://good.example"
EVIL = "https://evil.example"
BODY = '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    tmp = tmp_path_factory.mktemp("origins")
    config = write_config(tmp / "strict.toml", cors_origins=f'["{GOOD}"]')
    daemon = start_daemon(tmp / "data", config=config)
    yield daemon
    daemon.stop()


def test_a_preflight_from_an_allowed_origin_is_answered(strict: Daemon) -> None:
    answer = requests.options(
        strict.url,
        headers={
            "Origin": GOOD,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=10,
    )
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == GOOD
    post = requests.post(
        strict.url, data=BODY, headers={"Origin": GOOD, "Content-Type": "application/json"}, timeout=10
    )
    assert post.json()["result"] == "0x539" and post.headers["Access-Control-Allow-Origin"] == GOOD


def test_other_origins_get_no_cors_headers(strict: Daemon) -> None:
    preflight = requests.options(
        strict.url, headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"}, timeout=10
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers
    post = requests.post(
        strict.url, data=BODY, headers={"Origin": EVIL, "Content-Type": "application/json"}, timeout=10
    )
    assert "Access-Control-Allow-Origin" not in post.headers


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_post_that_is_not_json_is_refused_with_415(strict: Daemon, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    raw = BODY.encode()
    answer = requests.post(strict.url, data=raw, headers=headers, timeout=10)
    if content_type is None:  # requests sends no Content-Type for raw bytes
        assert "Content-Type" not in answer.request.headers
    assert answer.status_code == 415
    charset = requests.post(
        strict.url, data=raw, headers={"Content-Type": "application/json; charset=utf-8"}, timeout=10
    )
    assert charset.json()["result"] == "0x539"


@pytest.mark.asyncio
@pytest.mark.parametrize(("origin", "accepted"), [(GOOD, True), (EVIL, False), (None, True)])
async def test_websocket_upgrades_are_checked_against_the_allowed_origins(
    strict: Daemon, origin: str | None, accepted: bool
) -> None:
    url = strict.url.replace("http://", "ws://")
    headers = {"Origin": origin} if origin else {}
    async with aiohttp.ClientSession(skip_auto_headers=["Origin"]) as session:
        if not accepted:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(url, headers=headers)
            assert refused.value.status == 403
            return
        async with session.ws_connect(url, headers=headers) as ws:
            await ws.send_str(BODY)
            assert (await ws.receive_json(timeout=5))["result"] == "0x539"


def test_a_node_without_cors_origins_sends_no_cors_headers(tmp_path: Path) -> None:
    config = write_config(tmp_path / "none.toml", cors_origins="[]")
    daemon = start_daemon(tmp_path / "data", config=config)
    try:
        preflight = requests.options(
            daemon.url, headers={"Origin": GOOD, "Access-Control-Request-Method": "POST"}, timeout=10
        )
        assert "Access-Control-Allow-Origin" not in preflight.headers
        post = requests.post(
            daemon.url, data=BODY, headers={"Origin": GOOD, "Content-Type": "application/json"}, timeout=10
        )
        assert post.json()["result"] == "0x539" and "Access-Control-Allow-Origin" not in post.headers
    finally:
        daemon.stop()
