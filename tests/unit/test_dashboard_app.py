"""Specification of the dashboard's server side (sequencer.dashboard) and its configuration.

* The page, its scripts and the vendored uPlot are served from the package, read-only, with a
  Content-Security-Policy that lets the page load nothing from elsewhere; nothing outside the
  static folder is reachable; ``status.json`` answers the process's view.
* The vendored uPlot is the npm release pinned in ``tests/js/package.json``, byte for byte,
  with its licence.
* The sequencer learns about verifiers by polling their status URLs: an unreachable, broken or
  oversized one is reported as unreachable, with the reason, and holds nothing up.
* ``[dashboard]`` is validated like every other section; devnet has it on, production off.
* The node's view holds the status call's figures and the recent EVM blocks' timings.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from sequencer.config import load_config, parse_config
from sequencer.dashboard.app import DASHBOARD_PATH, STATIC_DIR, add_dashboard, dashboard_url
from sequencer.dashboard.verifiers import MAX_ANSWER_BYTES, VerifierWatch
from sequencer.errors import ConfigError
from sequencer.node import Node
from sequencer.serving import start_server
from tests.support.accounts import DEV_KEYS
from tests.support.inprocess import in_process_node, signed

ROOT = Path(__file__).resolve().parents[2]
VENDOR = STATIC_DIR / "vendor" / "uplot"
NPM_UPLOT = ROOT / "tests" / "js" / "node_modules" / "uplot"

Serve = Callable[[web.Application], Awaitable[str]]


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner, address = await start_server(app, "127.0.0.1", 0)
        runners.append(runner)
        return address.url

    yield start
    for runner in runners:
        await runner.cleanup()


async def dashboard_server(serve: Serve, view: dict[str, Any]) -> str:
    app = web.Application()
    add_dashboard(app, lambda: view)
    return await serve(app)


@pytest.mark.asyncio
async def test_the_page_and_its_files_are_served_read_only_and_self_contained(serve: Serve) -> None:
    url = await dashboard_server(serve, {"role": "sequencer", "status": {}})
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "/dashboard", allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == DASHBOARD_PATH
        async with session.get(url + DASHBOARD_PATH) as r:
            assert r.status == 200 and r.content_type == "text/html"
            csp = r.headers["Content-Security-Policy"]
            page = await r.text()
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
        for path in ("static/dashboard.js", "static/dashboard.css", "static/vendor/uplot/uPlot.iife.min.js"):
            assert path in page
            async with session.get(url + DASHBOARD_PATH + path) as r:
                assert r.status == 200 and r.headers["Content-Security-Policy"] == csp
        async with session.get(url + DASHBOARD_PATH + "static/vendor/uplot/LICENSE") as r:
            assert r.status == 200 and r.content_type == "text/plain" and "MIT License" in await r.text()
        async with session.get(url + DASHBOARD_PATH + "status.json") as r:
            assert await r.json() == {"role": "sequencer", "status": {}}
        for escape in (
            "static/../app.py",
            "static/%2e%2e/app.py",
            "static/vendor/../../app.py",
            "static/nope.js",
        ):
            async with session.get(url + DASHBOARD_PATH + escape) as r:
                assert r.status == 404, escape
        async with session.post(url + DASHBOARD_PATH + "status.json") as r:
            assert r.status == 405, "the dashboard changes nothing"


def test_the_page_loads_nothing_from_elsewhere() -> None:
    page = (STATIC_DIR / "index.html").read_text()
    references = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert references
    for ref in references:
        assert ref.startswith(("static/", "status.json", "data:")), ref
    script = (STATIC_DIR / "dashboard.js").read_text()
    assert not re.search(r"https?://", script), "no address but the page's own origin"


def test_the_vendored_uplot_is_the_pinned_npm_release() -> None:
    if not NPM_UPLOT.exists():
        pytest.skip("tests/js/node_modules is not installed (scripts/test.sh installs it with npm)")
    for vendored, released in (
        ("uPlot.iife.min.js", "dist/uPlot.iife.min.js"),
        ("uPlot.min.css", "dist/uPlot.min.css"),
        ("LICENSE", "LICENSE"),
    ):
        assert (VENDOR / vendored).read_bytes() == (NPM_UPLOT / released).read_bytes(), vendored
    assert '"version": "1.6.32"' in (NPM_UPLOT / "package.json").read_text()
    assert "1.6.32" in (VENDOR / "README.md").read_text()


def test_the_dashboard_url_names_its_path() -> None:
    assert dashboard_url("http://127.0.0.1:8545") == "http://127.0.0.1:8545/dashboard/"


# -- verifiers report in ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_verifiers_are_polled_and_a_bad_one_is_reported_unreachable(serve: Serve) -> None:
    status = {
        "mode": "shard 0/1",
        "height": 7,
        "blockHash": "0x" + "ab" * 32,
        "verifiedBlocks": 8,
        "verifiedMiniBlocks": 40,
        "verifiedTxs": 123,
        "lagBlocks": 0,
        "lagMs": 12,
        "verdict": "ok",
        "mismatches": [],
    }
    app = web.Application()

    async def good(_r: web.Request) -> web.Response:
        return web.json_response(status)

    async def huge(_r: web.Request) -> web.Response:
        return web.Response(body=b" " * (MAX_ANSWER_BYTES + 1), content_type="application/json")

    async def broken(_r: web.Request) -> web.Response:
        return web.Response(body=b"not json", content_type="application/json")

    async def failing(_r: web.Request) -> web.Response:
        return web.Response(status=500)

    async def odd(_r: web.Request) -> web.Response:
        return web.json_response({"height": {"nested": [1] * 100}, "verdict": "x" * 1000, "mismatches": 5})

    handlers = (("good", good), ("huge", huge), ("broken", broken), ("failing", failing), ("odd", odd))
    for prefix, handler in handlers:
        app.router.add_get(f"/{prefix}/status", handler)
    url = await serve(app)
    with_closed_port = f"http://127.0.0.1:{await closed_port()}"
    urls = (f"{url}/good", f"{url}/huge", f"{url}/broken", f"{url}/failing", with_closed_port, f"{url}/odd")
    watch = VerifierWatch(urls)
    assert [r["reachable"] for r in watch.snapshot()] == [False] * 6, "nothing is known before a poll"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        await watch.poll_once(session)
    good_view, too_large, not_json, error, closed, odd_view = watch.snapshot()
    assert good_view["reachable"] and good_view["error"] is None and good_view["url"] == urls[0]
    assert {k: good_view[k] for k in ("height", "lagMs", "verifiedTxs", "verdict", "mode")} == {
        "height": 7,
        "lagMs": 12,
        "verifiedTxs": 123,
        "verdict": "ok",
        "mode": "shard 0/1",
    }
    assert good_view["mismatches"] == 0
    assert not too_large["reachable"] and too_large["error"] == "status answer too large"
    assert not not_json["reachable"] and "JSONDecodeError" in not_json["error"]
    assert not error["reachable"] and error["error"] == "HTTP 500"
    assert not closed["reachable"] and "ClientConnectorError" in closed["error"]
    assert odd_view["reachable"], "an odd answer is shown as far as it makes sense, never trusted"
    assert odd_view["height"] is None and odd_view["verdict"] == "x" * 200 and odd_view["mismatches"] == 0


async def closed_port() -> int:
    runner, address = await start_server(web.Application(), "127.0.0.1", 0)
    await runner.cleanup()
    return address.port


@pytest.mark.asyncio
async def test_a_watch_without_verifiers_does_nothing() -> None:
    watch = VerifierWatch(())
    await watch.run()  # returns at once: there is nothing to poll
    assert watch.snapshot() == []


# -- configuration ------------------------------------------------------------------------------


def devnet_doc() -> dict[str, Any]:
    return tomllib.loads((ROOT / "configs" / "devnet.toml").read_text())


def test_devnet_has_the_dashboard_on_and_production_off() -> None:
    devnet = load_config(ROOT / "configs" / "devnet.toml")
    assert devnet.dashboard_enabled and devnet.dashboard_port is None and devnet.dashboard_verifiers == ()
    production = load_config(ROOT / "configs" / "production.toml")
    assert not production.dashboard_enabled and production.dashboard_port == 8547


@pytest.mark.parametrize(
    ("dashboard", "message"),
    [
        ({"enabled": "yes"}, "dashboard.enabled: expected bool, got str"),
        ({"port": 70000}, "dashboard.port: must be between 0 and 65535, got 70000"),
        ({"verifiers": "http://a:1"}, "dashboard.verifiers: expected list, got str"),
        ({"verifiers": ["ftp://a:1"]}, "dashboard.verifiers[0]: expected a verifier status URL"),
        ({"verifiers": ["http://a:1", 5]}, "dashboard.verifiers[1]: expected a verifier status URL"),
        ({"verifiers": ["http://a:1"] * 65}, "dashboard.verifiers: at most 64 URLs, got 65"),
        ({"colour": "blue"}, "dashboard: unknown key(s) colour"),
    ],
)
def test_a_bad_dashboard_section_is_refused_naming_the_key(dashboard: dict[str, Any], message: str) -> None:
    doc = devnet_doc()
    doc["dashboard"] = dashboard
    with pytest.raises(ConfigError) as info:
        parse_config(doc)
    assert message in str(info.value)


def test_verifier_urls_are_kept_without_a_trailing_slash() -> None:
    doc = devnet_doc()
    doc["dashboard"] = {"enabled": True, "verifiers": ["http://v1:9100/", "https://v2.example:443"]}
    assert parse_config(doc).dashboard_verifiers == ("http://v1:9100", "https://v2.example:443")


# -- the node's view ----------------------------------------------------------------------------


@pytest.fixture
def node(tmp_path: Path) -> Any:
    with in_process_node(tmp_path / "data") as n:
        yield n


@pytest.mark.asyncio
async def test_the_node_view_has_the_status_and_the_blocks_timings(node: Node) -> None:
    await node.submitter.submit(signed(DEV_KEYS[0], 0))
    await node.producer.seal_mini_block_now()
    await node.producer.seal_evm_block_now()
    await node.producer.seal_evm_block_now()
    view = node.dashboard_view()
    assert view["role"] == "sequencer" and view["verifiers"] == []
    status = view["status"]
    assert status["includedTxs"] == 1 and status["evmBlocks"] == 2
    assert view["feed"] == {"followers": 0, "maxLagMessages": 0}
    first, second = view["blocks"]
    assert (first["number"], first["txs"], first["miniBlocks"], first["gasUsed"]) == (1, 1, 1, 21_000)
    assert (second["number"], second["txs"], second["miniBlocks"]) == (2, 0, 0)
    assert first["hash"] == "0x" + node.chain.get_block(1).hash.hex()  # type: ignore[union-attr]
    assert first["sealMs"] >= first["stateRootMs"] >= 0


@pytest.mark.asyncio
async def test_a_failing_poll_is_logged_and_polling_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    watch = VerifierWatch(("http://127.0.0.1:9",), interval_s=0.01)
    calls: list[int] = []

    async def broken(_session: aiohttp.ClientSession) -> None:
        calls.append(1)
        raise RuntimeError("a bug")

    monkeypatch.setattr(watch, "poll_once", broken)
    task = asyncio.create_task(watch.run())
    while len(calls) < 3:
        await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert "polling the verifiers failed" in caplog.text
