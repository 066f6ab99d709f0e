"""The live dashboard, as an operator sees it: a real headless Chromium loads the sequencer's
``/dashboard/`` while load runs; its numbers move (live over the node's own WebSocket
subscriptions, and from ``status.json``), they match ``sequencer status`` once the load stops,
and the verifier the sequencer polls shows its height and verdict. A verifier serves the same
page about itself. Screenshots of both are kept as test artifacts.

The long run (1,000 mini-blocks per 10 s for a minute, the page's memory flat) is
``test_dashboard_soak.py``, behind ``-m slow``.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import requests
from selenium import webdriver

from tests.support.accounts import DEV_KEYS
from tests.support.browser import artifacts_dir, body_data, chromium, field, number, table, wait_for
from tests.support.daemon import ROOT, Daemon, start_daemon
from tests.support.loadgen import Load
from tests.support.verifier import VerifierProc, start_verifier

# the first test may install Debian packages (apt-get), which can take minutes on a new machine
pytestmark = pytest.mark.timeout(900)


PATIENCE = 30.0
"""How long a wait for the page may take (each returns as soon as it holds; the machine is shared)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli_status(daemon: Daemon) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-m", "sequencer.cli", "status", "--rpc", daemon.url, "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    status: dict[str, object] = json.loads(result.stdout)
    return status


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[tuple[Daemon, VerifierProc]]:
    """A sequencer whose dashboard polls one verifier, whose status port is chosen beforehand
    (the sequencer starts first: the verifier needs its feed); tried again on another port in
    the rare case that another process took that one in between."""
    for attempt in range(3):
        status_port = free_port()
        daemon = start_daemon(
            tmp_path / f"node-{attempt}", "--dashboard-verifier", f"http://127.0.0.1:{status_port}"
        )
        try:
            verifier = start_verifier(
                daemon.feed_url, tmp_path / f"verifier-{attempt}", "--status-port", str(status_port)
            )
        except AssertionError:
            daemon.kill()
            continue
        try:
            yield daemon, verifier
        finally:
            assert verifier.stop() == 0, verifier.log()
            assert daemon.stop() == 0, daemon.log()
        return
    raise AssertionError("no verifier could bind a status port chosen beforehand, three times")


def test_the_start_line_prints_the_dashboard_address(chain: tuple[Daemon, VerifierProc]) -> None:
    daemon, _ = chain
    page = requests.get(daemon.url + "/dashboard/", timeout=5)
    assert page.status_code == 200 and "megapy" in page.text
    assert "default-src 'none'" in page.headers["Content-Security-Policy"], "nothing loads from elsewhere"
    assert f"dashboard={daemon.url}/dashboard/" in daemon.printed().splitlines()
    vendored = requests.get(daemon.url + "/dashboard/static/vendor/uplot/LICENSE", timeout=5)
    assert vendored.status_code == 200 and "MIT" in vendored.text
    assert requests.get(daemon.url + "/dashboard/static/../../pyproject.toml", timeout=5).status_code == 404


def test_the_page_moves_with_the_chain_and_matches_sequencer_status(
    chain: tuple[Daemon, VerifierProc], tmp_path: Path
) -> None:
    daemon, verifier = chain
    load = Load(daemon.url, DEV_KEYS[:4])
    with chromium() as browser:
        browser.get(daemon.url + "/dashboard/")
        wait_for(lambda: body_data(browser).get("ready") == "true", PATIENCE, "the page to start")
        assert body_data(browser)["role"] == "sequencer"
        load.start()
        try:
            wait_for(
                lambda: int(body_data(browser).get("liveMiniBlocks", 0)) >= 20, PATIENCE, "live mini-blocks"
            )
            first_minis, first_head = number(browser, "miniBlocks"), number(browser, "headMiniBlock")
            wait_for(
                lambda: number(browser, "miniBlocks") > first_minis, PATIENCE, "the mini-block count to move"
            )
            wait_for(
                lambda: number(browser, "headMiniBlock") > first_head, PATIENCE, "the head mini-block to move"
            )
            wait_for(lambda: number(browser, "miniBlocksPerSecond") > 0, PATIENCE, "a live mini-block rate")
            wait_for(lambda: number(browser, "txsPerSecond") > 0, PATIENCE, "a live transaction rate")
            wait_for(lambda: number(browser, "includedTxs") > 0, PATIENCE, "sealed transactions")
            row = wait_for(lambda: verifier_row(browser), PATIENCE, "the verifier's report")
            assert row is not None and row[0] == verifier.status_url and row[-1] == "ok", row
            wait_for(lambda: verifier_height(browser) >= 1, PATIENCE, "the verifier's height")
            assert blocks_rows(browser), "recent EVM blocks are listed with their seal times"
            browser.save_screenshot(str(tmp_path / "dashboard-sequencer.png"))
            shutil.copy(tmp_path / "dashboard-sequencer.png", artifacts_dir() / "dashboard-sequencer.png")
        finally:
            load.stop()

        # the load is over: the sealed totals stop moving and the page shows what the node says
        def settled() -> bool:
            status = cli_status(daemon)
            return (
                number(browser, "includedTxs") == status["includedTxs"]
                and number(browser, "miniBlocks") == status["miniBlocks"]
                and number(browser, "droppedTxs") == status["droppedTxs"]
            )

        wait_for(settled, PATIENCE, "the page's totals to match sequencer status")

        def head_number() -> int:
            answer = requests.post(
                daemon.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"}, timeout=5
            )
            return int(answer.json()["result"], 16)

        def page_follows_the_head() -> bool:
            before = head_number()
            shown = number(browser, "headBlock")
            return before - 1 <= shown <= head_number()

        # EVM blocks still seal every second: the page follows within one (read between two
        # readings of the node's head, so a slow reading does not count against the page)
        wait_for(page_follows_the_head, PATIENCE, "the head block")
        status = cli_status(daemon)
        assert number(browser, "includedTxs") >= len(load.acked) + len(load.receipts) > 0
        mempool = status["mempool"]
        assert isinstance(mempool, dict)
        wait_for(
            lambda: number(browser, "mempoolReady") == mempool["ready"] == 0, PATIENCE, "an empty mempool"
        )
        assert number(browser, "feedFollowers") == 1, "the verifier follows the feed"

    verifier_status = verifier.status()
    assert verifier_status["verdict"] == "ok"


def verifier_row(browser: webdriver.Chrome) -> list[str] | None:
    """The verifiers table's one row, when it has one (with all its cells)."""
    rows = table(browser, "verifiers-body")
    return rows[0] if len(rows) == 1 and len(rows[0]) == 7 else None


def verifier_height(browser: webdriver.Chrome) -> int:
    row = verifier_row(browser)
    return int(row[2].replace(",", "")) if row is not None else -1


def blocks_rows(browser: webdriver.Chrome) -> list[list[str]]:
    return table(browser, "blocks-body")


def test_a_verifier_serves_the_same_page_about_itself(
    chain: tuple[Daemon, VerifierProc], tmp_path: Path
) -> None:
    daemon, verifier = chain
    load = Load(daemon.url, DEV_KEYS[4:6])
    load.start()
    try:
        with chromium() as browser:
            browser.get(verifier.status_url + "/dashboard/")
            wait_for(lambda: body_data(browser).get("ready") == "true", PATIENCE, "the page to start")
            assert body_data(browser)["role"] == "verifier"
            assert field(browser, "verdict") == "ok"
            first = number(browser, "verifiedMiniBlocks")
            wait_for(
                lambda: number(browser, "verifiedMiniBlocks") > first,
                PATIENCE,
                "verified mini-blocks to move",
            )
            wait_for(lambda: number(browser, "verifiedMiniBlocksPerSecond") > 0, PATIENCE, "a verified rate")
            wait_for(
                lambda: abs(number(browser, "height") - verifier.status()["height"]) <= 1,
                PATIENCE,
                "the page's height to match the verifier's /status",
            )
            browser.save_screenshot(str(tmp_path / "dashboard-verifier.png"))
            shutil.copy(tmp_path / "dashboard-verifier.png", artifacts_dir() / "dashboard-verifier.png")
    finally:
        load.stop()
    health = requests.get(verifier.status_url + "/health", timeout=5)
    assert health.status_code == 200
    assert {k: health.json()[k] for k in ("healthy", "verdict", "alarm")} == {
        "healthy": True,
        "verdict": "ok",
        "alarm": None,
    }


def rpc_over_ws(
    ws_url: str, *calls: tuple[str, list[object]], origin: str | None = None
) -> list[dict[str, object]]:
    """Answers to ``calls`` over one WebSocket connection (opened as a page of ``origin``), in order."""
    import asyncio

    async def run() -> list[dict[str, object]]:
        headers = {"Origin": origin} if origin else {}
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url, headers=headers) as ws:
            answers = []
            for i, (method, params) in enumerate(calls):
                await ws.send_json({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
                while True:
                    message = await asyncio.wait_for(ws.receive_json(), 10)
                    if message.get("id") == i:
                        answers.append(message)
                        break
            return answers

    return asyncio.run(run())


def test_on_its_own_port_the_dashboard_serves_subscriptions_and_nothing_else(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path / "node", "--dashboard-port", "0")
    try:
        found = re.search(r"^dashboard=(http://\S+)/dashboard/$", daemon.printed(), re.M)
        assert found, daemon.log()
        base = found.group(1)
        assert base != daemon.url
        assert requests.get(base + "/dashboard/", timeout=5).status_code == 200
        assert requests.get(daemon.url + "/dashboard/", timeout=5).status_code == 404, "not on the RPC port"
        ws_url = base.replace("http://", "ws://") + "/"
        subscribed, send, read = rpc_over_ws(
            ws_url,
            ("eth_subscribe", ["newHeads"]),
            ("eth_sendRawTransaction", ["0x02"]),
            ("eth_getBalance", ["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "latest"]),
            origin=base,  # as the dashboard page itself connects
        )
        assert isinstance(subscribed.get("result"), str), subscribed
        for refused in (send, read):
            error = refused["error"]
            assert isinstance(error, dict) and error["code"] == -32601, refused
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused_origin:
            rpc_over_ws(ws_url, ("eth_subscribe", ["newHeads"]), origin="http://elsewhere.example")
        assert refused_origin.value.status == 403, "another site's page may not subscribe"
        posted = requests.post(
            base + "/", json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=5
        )
        assert posted.json()["error"]["code"] == -32601, "read-only: no JSON-RPC methods over HTTP"
    finally:
        assert daemon.stop() == 0, daemon.log()


def test_the_dashboard_can_be_turned_off(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path / "node", "--no-dashboard")
    try:
        assert requests.get(daemon.url + "/dashboard/", timeout=5).status_code == 404
        assert "dashboard=" not in daemon.printed() + daemon.log()
    finally:
        assert daemon.stop() == 0, daemon.log()
