"""A dApp page in a real browser (headless Chromium) against the daemon, across origins.

The page (tests/fixtures/browser/dapp.html) and ethers' browser bundle (from the tests' npm
packages) are served from a local server on another port than the RPC: another origin, so the
browser sends a CORS preflight before every JSON-RPC POST (ethers sends ``Content-Type:
application/json``). Specified:

* with the page's origin in ``rpc.cors_origins``, the page reads a balance, sends a transaction
  and shows its receipt (status 1, the recipient credited);
* a node started without ``rpc.cors_origins`` is refused by the browser: the page's first call
  fails and nothing is sent.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import ClientSession, web
from eth_account import Account
from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.daemon import DEVNET, ROOT, Daemon, start_daemon
from tests.support.tools import chromium_bin, npm_package

PAGE = ROOT / "tests" / "fixtures" / "browser" / "dapp.html"
PAGE_TIMEOUT_S = 60.0


def config_with_cors(path: Path, origins: list[str] | None) -> Path:
    """The devnet config with ``rpc.cors_origins`` set to ``origins`` (``None``: left out)."""
    text = re.sub(r"(?m)^cors_origins\s*=.*\n", "", DEVNET.read_text())
    if origins is not None:
        text = text.replace("[rpc]\n", f"[rpc]\ncors_origins = {json.dumps(origins)}\n", 1)
    path.write_text(text)
    return path


@asynccontextmanager
async def page_server() -> AsyncIterator[tuple[str, asyncio.Queue[dict[str, Any]]]]:
    """Serve the page and ethers' bundle on 127.0.0.1; yields the origin and the page's reports."""
    bundle = npm_package("ethers") / "dist" / "ethers.umd.min.js"
    reports: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def result(request: web.Request) -> web.Response:
        await reports.put(json.loads(await request.text()))
        return web.Response(text="ok")

    async def page(_request: web.Request) -> web.Response:
        return web.Response(body=PAGE.read_bytes(), content_type="text/html")

    async def ethers(_request: web.Request) -> web.Response:
        return web.Response(body=bundle.read_bytes(), content_type="text/javascript")

    app = web.Application()
    app.router.add_get("/dapp.html", page)
    app.router.add_get("/ethers.umd.min.js", ethers)
    app.router.add_post("/result", result)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", reports
    finally:
        await runner.cleanup()


Reports = asyncio.Queue[dict[str, Any]]


async def open_page(origin: str, reports: Reports, rpc: str, key: str, profile: Path) -> Any:
    """Open the page in headless Chromium; the outcome it reports (bounded in time)."""
    url = f"{origin}/dapp.html?{urlencode({'rpc': rpc, 'key': key})}"
    proc = await asyncio.create_subprocess_exec(
        chromium_bin(),
        "--headless=new",
        "--no-sandbox",  # runs as root in CI containers
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        f"--user-data-dir={profile}",
        url,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        return await asyncio.wait_for(reports.get(), PAGE_TIMEOUT_S)
    except TimeoutError:
        raise AssertionError(f"the page reported nothing within {PAGE_TIMEOUT_S}s") from None
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


async def preflight(url: str, origin: str) -> dict[str, str]:
    """The headers of the preflight a browser sends before a JSON POST from ``origin``."""
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    async with ClientSession() as session, session.options(url, headers=headers) as response:
        return dict(response.headers)


@asynccontextmanager
async def node_for(tmp_path: Path, origins: list[str] | None) -> AsyncIterator[Daemon]:
    name = "cors" if origins else "nocors"
    config = config_with_cors(tmp_path / f"{name}.toml", origins)
    d = await asyncio.to_thread(start_daemon, tmp_path / name, config=config)
    try:
        yield d
    finally:
        d.kill()


@pytest.mark.asyncio
async def test_a_page_on_an_allowed_origin_reads_sends_and_shows_the_receipt(tmp_path: Path) -> None:
    chromium_bin()  # install (or skip) before the servers start
    key = DEV_KEYS[1]
    async with page_server() as (origin, reports), node_for(tmp_path, [origin]) as node:
        outcome = await open_page(origin, reports, node.url, key, tmp_path / "profile")
        assert outcome["ok"], outcome
        assert outcome["origin"] == origin and origin != node.url.rstrip("/")
        assert (await preflight(node.url, origin)).get("Access-Control-Allow-Origin") == origin
        receipt = outcome["receipt"]
        assert receipt["status"] == 1 and receipt["from"] == Account.from_key(key).address
        assert int(outcome["balance"]) > 0 and outcome["received"] == "4242"
        w3 = Web3(Web3.HTTPProvider(node.url))
        assert w3.eth.get_transaction_receipt(receipt["hash"])["status"] == 1
        assert w3.eth.get_balance(outcome["to"]) == 4242


@pytest.mark.asyncio
async def test_a_node_without_cors_origins_is_refused_by_the_browser(tmp_path: Path) -> None:
    chromium_bin()
    key = DEV_KEYS[2]
    async with page_server() as (origin, reports), node_for(tmp_path, None) as node:
        outcome = await open_page(origin, reports, node.url, key, tmp_path / "profile")
        assert not outcome["ok"] and outcome["error"] == "Failed to fetch", outcome  # Chromium's CORS failure
        assert "Access-Control-Allow-Origin" not in await preflight(node.url, origin)
        w3 = Web3(Web3.HTTPProvider(node.url))  # not a browser: no Origin, no CORS
        assert w3.eth.get_transaction_count(Account.from_key(key).address) == 0  # nothing was sent
