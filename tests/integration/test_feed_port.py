"""The feed port against a careless or hostile follower, on the real daemon: a bearer token
when configured (HTTP 401 without it, also for a non-ASCII header), a follower cap (HTTP 503
beyond it), history served at the configured rate without holding up the node's JSON-RPC, one
log line per disconnect and no traceback when a follower goes away mid-history, and ``wss://``
from certificate paths, which a verifier follows with the token and the CA."""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests
from web3 import Web3

from tests.support.daemon import DEVNET, Daemon
from tests.support.verifier import start_verifier

TOKEN = "feed-token-0123456789abcdef"


def config_with(tmp_path: Path, **feed: str) -> Path:
    """The devnet config with these ``[feed]`` keys set (values as TOML text)."""
    text = DEVNET.read_text()
    lines = "".join(f"{key} = {value}\n" for key, value in feed.items())
    for key in feed:
        text = "\n".join(line for line in text.splitlines() if not line.startswith(f"{key} ="))
    text = text.replace("[feed]", "[feed]\n" + lines.rstrip("\n"), 1)
    path = tmp_path / "feed.toml"
    path.write_text(text)
    return path


def http(feed_url: str) -> str:
    return feed_url.replace("ws://", "http://").replace("wss://", "https://")


def test_a_feed_with_a_token_refuses_followers_without_it(daemon_factory: Any, tmp_path: Path) -> None:
    d: Daemon = daemon_factory("--evm-block-ms", "200", config=config_with(tmp_path, token=f'"{TOKEN}"'))
    base = http(d.feed_url)
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": f"Basic {TOKEN}"},
    ):
        for path in ("/?from=0", "/status"):
            r = requests.get(base + path, headers=headers, timeout=5)
            assert r.status_code == 401, (headers, path, r.status_code)
            assert "Bearer" in r.json()["error"]
    # a header that is not ASCII is refused like any other wrong token, not a server error
    r = requests.get(base + "/status", headers={"Authorization": "Bearer tökën".encode()}, timeout=5)
    assert r.status_code == 401
    r = requests.get(base + "/status", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert r.status_code == 200 and r.json()["version"] == 2
    assert "Traceback" not in d.log()


def test_a_verifier_follows_a_token_feed_with_the_token(daemon_factory: Any, tmp_path: Path) -> None:
    config = config_with(tmp_path, token=f'"{TOKEN}"')
    d: Daemon = daemon_factory("--evm-block-ms", "200", config=config)
    w3 = Web3(Web3.HTTPProvider(d.url))
    without = start_verifier(d.feed_url, tmp_path / "without", "--feed-token", "not-the-token-at-all")
    with_token = start_verifier(d.feed_url, tmp_path / "with", "--feed-token", TOKEN)
    try:
        head = w3.eth.block_number + 2
        deadline = time.monotonic() + 30
        while with_token.status()["height"] < head:
            assert time.monotonic() < deadline, with_token.log()
            time.sleep(0.1)
        assert with_token.status()["verdict"] == "ok"
        assert without.status()["height"] == -1, "the wrong token verifies nothing"
        deadline = time.monotonic() + 15
        while without.status()["alarm"] != "feed.down":
            assert time.monotonic() < deadline, without.log()
            time.sleep(0.1)
        assert "HTTP 401" in without.log()
        assert requests.get(without.status_url + "/health", timeout=5).status_code == 503
        assert requests.get(with_token.status_url + "/health", timeout=5).status_code == 200
    finally:
        assert with_token.stop() == 0
        assert without.stop() == 0


@pytest.mark.asyncio
async def test_followers_beyond_the_cap_are_refused(daemon_factory: Any, tmp_path: Path) -> None:
    d: Daemon = daemon_factory("--evm-block-ms", "200", config=config_with(tmp_path, max_followers="2"))
    async with aiohttp.ClientSession() as session:
        first = await session.ws_connect(f"{d.feed_url}/?from=0")
        second = await session.ws_connect(f"{d.feed_url}/?from=0")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(f"{d.feed_url}/?from=0")
        assert refused.value.status == 503
        await first.close()
        for _ in range(50):  # the server notices the close
            async with session.get(http(d.feed_url) + "/status") as r:
                if (await r.json())["followers"] < 2:
                    break
            await asyncio.sleep(0.1)
        third = await session.ws_connect(f"{d.feed_url}/?from=0")
        assert (await third.receive_json(timeout=10))["seq"] == 0
        await third.close()
        await second.close()


async def _replay(feed_url: str, upto: int) -> float:
    """Read from genesis up to position ``upto``; how long it took."""
    began = time.perf_counter()
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{feed_url}/?from=0") as ws:
        while (await ws.receive_json(timeout=60))["seq"] < upto:
            pass
    return time.perf_counter() - began


def test_four_replays_from_genesis_are_rate_limited_and_leave_the_rpc_answering(
    daemon_factory: Any, tmp_path: Path
) -> None:
    rate = 2000
    config = config_with(tmp_path, history_rate=str(rate))
    d: Daemon = daemon_factory("--evm-block-ms", "2", "--mini-block-ms", "1", config=config)
    w3 = Web3(Web3.HTTPProvider(d.url))
    deadline = time.monotonic() + 60
    while w3.eth.block_number < 1500:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    d.stop()  # a fixed history to replay
    d = daemon_factory("--evm-block-ms", "60000", config=config, data_dir=d.data_dir)
    w3 = Web3(Web3.HTTPProvider(d.url))
    head = requests.get(http(d.feed_url) + "/status", timeout=5).json()["headSeq"]

    async def replays_and_probes() -> tuple[list[float], list[float]]:
        replays = [asyncio.create_task(_replay(d.feed_url, head)) for _ in range(4)]
        probes: list[float] = []
        while not all(r.done() for r in replays):
            began = time.perf_counter()
            await asyncio.to_thread(w3.eth.get_block_number)
            probes.append(time.perf_counter() - began)
            await asyncio.sleep(0.02)
        return [r.result() for r in replays], probes

    durations, probes = asyncio.run(replays_and_probes())
    assert min(durations) >= head / rate * 0.9, (durations, head, "the history rate holds")
    assert len(probes) > 20 and max(probes) < 2.0, "the RPC kept answering during the replays"
    median_ms = statistics.median(probes) * 1000
    print(f"eth_blockNumber during 4 replays of {head} messages: median {median_ms:.1f} ms")


@pytest.mark.asyncio
async def test_a_follower_leaving_mid_history_is_one_log_line(daemon_factory: Any) -> None:
    d: Daemon = daemon_factory("--evm-block-ms", "2", "--mini-block-ms", "1")
    w3 = Web3(Web3.HTTPProvider(d.url))
    while w3.eth.block_number < 300:
        await asyncio.sleep(0.1)
    for _ in range(3):
        session = aiohttp.ClientSession()
        ws = await session.ws_connect(f"{d.feed_url}/?from=0")
        for _ in range(5):
            await ws.receive(timeout=10)
        await session.close()  # the connection dropped mid-history, no close frame
    await asyncio.sleep(1.0)
    log = d.log()
    assert log.count("feed follower disconnected") == 3, log[-3000:]
    assert "Traceback" not in log and "level=error" not in log.lower()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "openssl"], check=False, capture_output=True)
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed and cannot be installed here")
    cert, key = tmp_path / "feed.crt", tmp_path / "feed.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_a_verifier_follows_a_wss_feed_with_a_token(daemon_factory: Any, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    config = config_with(tmp_path, token=f'"{TOKEN}"', tls_cert=f'"{cert}"', tls_key=f'"{key}"')
    d: Daemon = daemon_factory("--evm-block-ms", "200", config=config)
    assert d.feed_url.startswith("wss://"), d.feed_url
    v = start_verifier(d.feed_url, tmp_path / "v", "--feed-ca", str(cert), config=config)
    try:
        deadline = time.monotonic() + 30
        while v.status()["height"] < 3:
            assert time.monotonic() < deadline, v.log()
            time.sleep(0.1)
        assert v.status()["verdict"] == "ok"
    finally:
        assert v.stop() == 0
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(http(d.feed_url) + "/status", timeout=5)  # no CA: the certificate is not trusted
