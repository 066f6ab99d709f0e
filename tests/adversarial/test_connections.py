"""Specification (issue #12, item 4): connections cannot exhaust the node.

Against the real daemon, on the RPC and the feed port: 300 half-open (slowloris) connections
do not keep normal clients from being served and are closed after ``rpc.idle_timeout_s``; one
client address cannot hold more than ``rpc.max_connections_per_ip`` connections, nor all of
them together more than ``rpc.max_connections``, and a refused newcomer gets a 503 naming the
limit while other addresses are served; a request body that trickles in is answered 408 after
``rpc.body_timeout_s``.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import requests

from tests.support.daemon import Daemon, rpc_config, start_daemon

HALF_OPEN = 300
IDLE_S = 2


def config_with(tmp: Path, **rpc_keys: int | float) -> Path:
    return rpc_config(tmp / "config.toml", **rpc_keys)


def address(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    assert parsed.hostname is not None and parsed.port is not None
    return parsed.hostname, parsed.port


def open_raw(
    target: tuple[str, int], count: int, partial: bytes = b"", source: str = "127.0.0.1"
) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        s = socket.create_connection(target, timeout=5, source_address=(source, 0))
        if partial:
            s.sendall(partial)
        sockets.append(s)
    return sockets


def closed_by_server(s: socket.socket, within_s: float) -> bool:
    s.settimeout(within_s)
    try:
        while True:
            data = s.recv(4096)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def block_number(url: str, source: str = "127.0.0.1") -> requests.Response:
    with requests.Session() as http:
        adapter = requests.adapters.HTTPAdapter()
        http.mount("http://", adapter)
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
        if source == "127.0.0.1":
            return http.post(url, json=body, timeout=5)
        # requests has no source-address option: a raw request from another loopback address
        s = socket.create_connection(address(url), timeout=5, source_address=(source, 0))
        payload = b'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}'
        s.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload)
        )
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
        s.close()
        response = requests.Response()
        response.status_code = int(raw.split(b" ", 2)[1])
        response._content = raw.split(b"\r\n\r\n", 1)[1]
        return response


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    tmp = tmp_path_factory.mktemp("connections")
    config = config_with(tmp, idle_timeout_s=IDLE_S, body_timeout_s=1, max_connections_per_ip=400)
    daemon = start_daemon(tmp / "data", config=config)
    yield daemon
    daemon.stop()


@pytest.mark.parametrize("port", ["rpc", "feed"])
def test_half_open_connections_do_not_keep_clients_out_and_are_closed(node: Daemon, port: str) -> None:
    target = address(node.url if port == "rpc" else node.feed_url.replace("ws://", "http://"))
    slow = open_raw(target, HALF_OPEN, partial=b"POST / HTTP/1.1\r\nHost: x\r\n")
    try:
        started = time.monotonic()
        for _ in range(5):
            answer = block_number(node.url)
            assert answer.status_code == 200 and "result" in answer.json()
        assert time.monotonic() - started < 5
        time.sleep(IDLE_S)
        assert all(closed_by_server(s, within_s=IDLE_S + 3) for s in slow), "every half-open one was closed"
    finally:
        for s in slow:
            s.close()


def test_a_trickling_request_body_is_answered_408(node: Daemon) -> None:
    (s,) = open_raw(address(node.url), 1)
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
    s.settimeout(10)
    started = time.monotonic()
    head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 408") and 1 <= time.monotonic() - started < 5
    s.close()


def test_one_address_cannot_hold_every_connection(tmp_path: Path) -> None:
    config = config_with(tmp_path, max_connections_per_ip=20, max_connections=30)
    daemon = start_daemon(tmp_path / "data", config=config)
    held: list[socket.socket] = []
    try:
        held = open_raw(address(daemon.url), 20)
        time.sleep(0.2)
        refused = block_number(daemon.url)
        assert refused.status_code == 503 and b"rpc.max_connections_per_ip" in refused.content
        other = block_number(daemon.url, source="127.0.0.2")
        assert other.status_code == 200, "another address is served"
        held += open_raw(address(daemon.url), 10, source="127.0.0.3")
        time.sleep(0.2)
        full = block_number(daemon.url, source="127.0.0.4")
        assert full.status_code == 503 and b"rpc.max_connections)" in full.content
        for s in held[:5]:
            s.close()
        time.sleep(0.3)
        assert block_number(daemon.url).status_code == 200, "closed connections free their places"
    finally:
        for s in held:
            with contextlib.suppress(OSError):
                s.close()
        daemon.stop()
