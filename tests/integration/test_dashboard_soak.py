"""The dashboard holds up under a fast chain (slow: run with ``-m slow``, not in CI).

With at least 1,000 mini-blocks per 10 s flowing for a minute, the page keeps up (it receives
every mini-block over its subscription and its counters follow the node) and its memory stays
flat: the JS heap after a forced garbage collection, and the DOM's node count, do not grow
between the first sample after warm-up and the last. Its screenshot is kept as an artifact.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from pathlib import Path

import aiohttp
import orjson
import pytest
from selenium import webdriver

from bench.bench_sustained import fast_transfer
from tests.support.accounts import DEV_KEYS
from tests.support.browser import artifacts_dir, body_data, chromium, number, wait_for
from tests.support.daemon import start_daemon

pytestmark = pytest.mark.slow

WARM_UP_S = 15
SOAK_S = 60
SAMPLE_EVERY_S = 10
MINI_BLOCKS_PER_10_S = 1000
TICK_S = 0.004  # a transaction every 4 ms: most 5 ms mini-blocks have one waiting
SENDERS = 4


class PacedLoad:
    """Pre-signed transfers, one every ``TICK_S`` round-robin over ``SENDERS`` accounts, from a
    thread of its own until stopped; each sender's are sent in nonce order, one at a time."""

    def __init__(self, url: str, seconds: float) -> None:
        self.url = url
        count = int(seconds / TICK_S) // SENDERS
        keys = [bytes.fromhex(k.removeprefix("0x")) for k in DEV_KEYS[:SENDERS]]
        to = bytes.fromhex("70997970C51812dc3A010C7d01b50e0d17dc79C8")
        self.raws = [[fast_transfer(key, nonce, to) for nonce in range(count)] for key in keys]
        self.errors: list[object] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        started = time.perf_counter()
        async with aiohttp.ClientSession() as session:

            async def sender(index: int, raws: list[bytes]) -> None:
                for k, raw in enumerate(raws):
                    due = started + (k * SENDERS + index + 1) * TICK_S
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                    if self._stop.is_set():
                        return
                    body = {
                        "jsonrpc": "2.0",
                        "id": k,
                        "method": "eth_sendRawTransaction",
                        "params": ["0x" + raw.hex()],
                    }
                    async with session.post(self.url, data=orjson.dumps(body)) as response:
                        answer = orjson.loads(await response.read())
                    if "error" in answer:
                        self.errors.append(answer["error"])

            await asyncio.gather(*(sender(i, raws) for i, raws in enumerate(self.raws)))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(15)


def memory(browser: webdriver.Chrome) -> tuple[float, float]:
    """The page's JS heap in use (bytes) after a full garbage collection, and its DOM node count."""
    browser.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
    answer = browser.execute_cdp_cmd("Performance.getMetrics", {})
    metrics = {m["name"]: m["value"] for m in answer["metrics"]}
    return float(metrics["JSHeapUsedSize"]), float(metrics["Nodes"])


def test_the_page_keeps_up_with_a_fast_chain_and_its_memory_stays_flat(tmp_path: Path) -> None:
    # 5 ms mini-blocks: at 10 ms, 1,000 per 10 s is the cadence's very ceiling, which any seal
    # hiccup on a shared machine would miss
    daemon = start_daemon(tmp_path / "node", "--mini-block-ms", "5")
    load = PacedLoad(daemon.url, WARM_UP_S + SOAK_S + 2 * SAMPLE_EVERY_S)
    try:
        with chromium() as browser:
            browser.execute_cdp_cmd("Performance.enable", {})
            browser.get(daemon.url + "/dashboard/")
            wait_for(lambda: body_data(browser).get("ready") == "true", 20, "the page to start")
            load.start()
            time.sleep(WARM_UP_S)
            first_live = int(body_data(browser)["liveMiniBlocks"])
            first_sealed = number(browser, "miniBlocks")
            started = time.monotonic()
            samples = [memory(browser)]
            while time.monotonic() - started < SOAK_S:
                time.sleep(SAMPLE_EVERY_S)
                samples.append(memory(browser))
            elapsed = time.monotonic() - started
            received = int(body_data(browser)["liveMiniBlocks"]) - first_live
            sealed = number(browser, "miniBlocks") - first_sealed
            browser.save_screenshot(str(tmp_path / "dashboard-soak.png"))
            shutil.copy(tmp_path / "dashboard-soak.png", artifacts_dir() / "dashboard-soak.png")
            load.stop()
            assert not load.errors, load.errors[:3]
            rate = sealed / elapsed * 10
            assert rate >= MINI_BLOCKS_PER_10_S, f"the load made only {rate:.0f} mini-blocks per 10 s"
            assert received >= 0.95 * sealed, f"the page received {received} of {sealed} mini-blocks"
            heaps = [heap for heap, _ in samples]
            nodes = [count for _, count in samples]
            print(  # the figures docs/operations.md records (pytest -s shows them)
                f"mini-blocks per 10 s: {rate:.0f}; received by the page: {received} of {sealed}; "
                f"JS heap MiB: {[round(h / 2**20, 1) for h in heaps]}; DOM nodes: {[int(n) for n in nodes]}"
            )
            assert max(heaps[1:]) <= heaps[0] * 1.3 + 2 * 2**20, f"the JS heap grew: {heaps}"
            assert nodes[-1] <= nodes[0] + 200, f"the DOM grew: {nodes}"
    finally:
        load.stop()
        assert daemon.stop() == 0, daemon.log()
