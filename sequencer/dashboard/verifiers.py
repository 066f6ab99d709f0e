"""How verifiers report in to a sequencer's dashboard: the sequencer polls them.

Each verifier serves its status on its status port (``verifier run --status-port``, ``GET
/status``). A sequencer given their URLs (``dashboard.verifiers``) asks each one every
:data:`POLL_INTERVAL_S` and keeps its last answer: nothing is pushed to the sequencer, a
verifier needs no address of the dashboard, and one that is down or slow shows as unreachable
without holding anything up (each poll has a short timeout and a bounded answer).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

log = logging.getLogger("sequencer.dashboard")
POLL_INTERVAL_S = 1.0
POLL_TIMEOUT_S = 2.0
MAX_ANSWER_BYTES = 256 * 1024
REPORTED: tuple[str, ...] = ("mode", "height", "blockHash", "verifiedBlocks", "verifiedMiniBlocks")
REPORTED += ("verifiedTxs", "lagBlocks", "lagMs", "verdict")


@dataclass(frozen=True, slots=True)
class VerifierReport:
    """A verifier's last answer (or why there is none)."""

    url: str
    status: dict[str, Any] | None
    error: str | None
    checked_at: float

    def as_dict(self) -> dict[str, Any]:
        """The dashboard's view of it: the reported figures (plain values only: whatever else a
        verifier answers is dropped), ``mismatches`` (a count), ``reachable``, ``error``."""
        status = self.status or {}
        view: dict[str, Any] = {key: _plain(status.get(key)) for key in REPORTED}
        mismatches = status.get("mismatches")
        view["mismatches"] = len(mismatches) if isinstance(mismatches, list) else 0
        view.update(url=self.url, reachable=self.status is not None, error=self.error)
        view["checkedAt"] = self.checked_at
        return view


def _plain(value: Any) -> str | int | float | bool | None:
    if isinstance(value, str):
        return value[:200]
    return value if isinstance(value, int | float | bool) else None


class VerifierWatch:
    """Polls verifier status URLs and keeps the newest report of each."""

    def __init__(self, urls: tuple[str, ...], interval_s: float = POLL_INTERVAL_S) -> None:
        self.urls = urls
        self.interval_s = interval_s
        self._reports = {url: VerifierReport(url, None, "not polled yet", 0.0) for url in urls}

    def snapshot(self) -> list[dict[str, Any]]:
        """Every verifier's newest report, in configuration order."""
        return [self._reports[url].as_dict() for url in self.urls]

    async def run(self) -> None:
        """Poll until cancelled (nothing to do without URLs)."""
        if not self.urls:
            return
        timeout = aiohttp.ClientTimeout(total=POLL_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                try:
                    await self.poll_once(session)
                except Exception:  # a bug here must not stop the node: report it, keep polling
                    log.exception("polling the verifiers failed")
                await asyncio.sleep(self.interval_s)

    async def poll_once(self, session: aiohttp.ClientSession) -> None:
        """Ask every verifier once, together."""
        reports = await asyncio.gather(*(self._ask(session, url) for url in self.urls))
        for report in reports:
            self._reports[report.url] = report

    async def _ask(self, session: aiohttp.ClientSession, url: str) -> VerifierReport:
        try:
            async with session.get(url + "/status") as response:
                if response.status != 200:
                    return VerifierReport(url, None, f"HTTP {response.status}", time.time())
                body = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    body += chunk
                    if len(body) > MAX_ANSWER_BYTES:
                        return VerifierReport(url, None, "status answer too large", time.time())
            status = orjson.loads(body)
            if not isinstance(status, dict):
                return VerifierReport(url, None, "status answer is not a JSON object", time.time())
            return VerifierReport(url, status, None, time.time())
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError, ValueError) as exc:
            return VerifierReport(url, None, f"{type(exc).__name__}: {exc}".rstrip(": "), time.time())
