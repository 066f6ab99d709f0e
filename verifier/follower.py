"""The verifier process: follow the feed, check every message, persist progress, report.

Progress is saved after every verified EVM block; a restarted verifier resumes from the
position after its last verified block (mini-blocks of a block it had not finished are
re-verified, nothing before). On a mismatch it logs one machine-readable JSON verdict,
records it in its progress (``verifier status``), counts it in ``verifier_mismatches_total``,
and halts (exit code 3) unless told to continue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from verifier.execution import Executor
from verifier.store import load_progress, open_state_store, save_progress
from verifier.verify import Checker, Mismatch

log = logging.getLogger("verifier")
EXIT_MISMATCH = 3


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.lag_blocks = Gauge(
            "verifier_lag_blocks", "EVM blocks the verifier is behind the sequencer", registry=self.registry
        )
        self.lag_ms = Gauge(
            "verifier_lag_ms", "Age of the newest verified mini-block (ms)", registry=self.registry
        )
        self.verified = Counter("verifier_verified_total", "Verified EVM blocks", registry=self.registry)
        self.verified_txs = Counter(
            "verifier_verified_transactions_total", "Verified transactions", registry=self.registry
        )
        self.mismatches = Counter("verifier_mismatches_total", "Mismatches found", registry=self.registry)


class Verifier:
    def __init__(
        self,
        feed: str,
        chain_id: int,
        data_dir: Path,
        halt_on_mismatch: bool = True,
        status_port: int | None = None,
        shard: tuple[int, int] = (0, 1),
        replica: bool = False,
    ) -> None:
        self.feed = feed.rstrip("/")
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.store = open_state_store(data_dir)
        self.progress = load_progress(data_dir)
        self.executor = Executor(self.store, chain_id)
        self.checker = Checker(self.executor, self.progress, shard=shard, replica=replica)
        self.shard = shard
        self.replica = replica
        self.halt_on_mismatch = halt_on_mismatch
        self.status_port = status_port
        self.metrics = Metrics()
        self.exit_code = 0
        self._stop = asyncio.Event()
        self.status_address: tuple[str, int] | None = None
        self._counted_txs = self.progress.verified_txs

    def stop(self) -> None:
        self._stop.set()

    def status(self) -> dict[str, Any]:
        p = self.progress
        return {
            "mode": "replica" if self.replica else f"shard {self.shard[0]}/{self.shard[1]}",
            "height": p.block_number,
            "nextSeq": p.next_seq,
            "verifiedBlocks": p.verified_blocks,
            "verifiedMiniBlocks": p.verified_mini_blocks,
            "verifiedTxs": p.verified_txs,
            "lagBlocks": max(0, p.head_block - p.block_number),
            "lagMs": max(0, int(time.time() * 1000 - p.last_mini_block_us / 1000))
            if p.last_mini_block_us
            else None,
            "verdict": p.verdict,
            "mismatches": p.mismatches,
        }

    async def _head(self, session: aiohttp.ClientSession) -> None:
        """Keep track of the sequencer's head (for lag) from the feed's status endpoint."""
        url = self.feed.replace("ws://", "http://").replace("wss://", "https://") + "/status"
        while not self._stop.is_set():
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as r:
                    data = await r.json()
                self.progress.head_seq = int(data["headSeq"])
                self.progress.head_block = int(data.get("headBlock", self.progress.head_block))
                self.metrics.lag_blocks.set(max(0, self.progress.head_block - self.progress.block_number))
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
                pass
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.5)

    async def run(self) -> int:
        runner = await self._serve_status()
        try:
            async with aiohttp.ClientSession() as session:
                head_task = asyncio.create_task(self._head(session))
                try:
                    while not self._stop.is_set():
                        try:
                            await self._follow(session)
                        except (aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
                            log.warning(
                                "feed connection lost (%s); resuming from seq %d", exc, self.progress.next_seq
                            )
                            await asyncio.sleep(0.5)
                finally:
                    head_task.cancel()
        finally:
            if runner is not None:
                await runner.cleanup()
            self.store.close()
        return self.exit_code

    async def _follow(self, session: aiohttp.ClientSession) -> None:
        url = f"{self.feed}/?from={self.progress.next_seq}"
        async with session.ws_connect(url, heartbeat=30) as ws:
            log.info("following %s from seq %d", self.feed, self.progress.next_seq)
            while not self._stop.is_set():
                try:
                    msg = await asyncio.wait_for(ws.receive(), 1.0)
                except TimeoutError:
                    continue
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                    log.info("feed closed the connection (%s); resuming", ws.close_code)
                    return
                if msg.type == aiohttp.WSMsgType.ERROR:
                    raise ConnectionError(str(ws.exception()))
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                self._handle(orjson.loads(msg.data))
                await asyncio.sleep(0)

    def _handle(self, message: dict[str, Any]) -> None:
        snapshot = asdict(self.progress)
        try:
            self.checker.check(message)
        except Mismatch as exc:
            verdict = exc.verdict.as_dict()
            self.metrics.mismatches.inc()
            log.error("VERDICT %s", json.dumps(verdict, sort_keys=True))
            # keep the progress of the last verified block, with the verdict recorded
            for key, value in snapshot.items():
                setattr(self.progress, key, value)
            self.progress.mismatches.append(verdict)
            self._save()
            if self.halt_on_mismatch:
                self.exit_code = EXIT_MISMATCH
                self.stop()
            else:
                self.progress.next_seq = int(message.get("seq", self.progress.next_seq)) + 1
            return
        if message.get("type") in ("block", "genesis"):
            self.metrics.verified.inc()
            self.metrics.verified_txs.inc(self.progress.verified_txs - self._counted_txs)
            self._counted_txs = self.progress.verified_txs
            self._save()
            if message["type"] == "block":
                log.info(
                    "verified block number=%d hash=%s txs=%d",
                    self.progress.block_number,
                    self.progress.block_hash,
                    self.progress.verified_txs,
                )
        if self.progress.last_mini_block_us:
            self.metrics.lag_ms.set(max(0.0, time.time() * 1000 - self.progress.last_mini_block_us / 1000))

    def _save(self) -> None:
        self.progress.updated_at = time.time()
        save_progress(self.data_dir, self.progress)

    def answer_read(self, request: dict[str, Any]) -> dict[str, Any]:
        """Minimal JSON-RPC reads on the last verified state (for replicas): eth_blockNumber,
        eth_getBalance, eth_getTransactionCount, eth_getCode, eth_getStorageAt."""
        rid, method, params = request.get("id"), request.get("method"), request.get("params") or []
        try:
            state: Any = self.executor.reader(bytes.fromhex(self.progress.state_root[2:]))
            if method == "eth_blockNumber":
                result: Any = hex(self.progress.block_number)
            elif method in ("eth_getBalance", "eth_getTransactionCount", "eth_getCode", "eth_getStorageAt"):
                address = bytes.fromhex(params[0][2:])
                if len(address) != 20:
                    raise ValueError("address must be 20 bytes")
                if method == "eth_getBalance":
                    result = hex(state.get_balance(address))
                elif method == "eth_getTransactionCount":
                    result = hex(state.get_nonce(address))
                elif method == "eth_getCode":
                    result = "0x" + bytes(state.get_code(address)).hex()
                else:
                    result = "0x" + state.get_storage(address, int(params[1], 16)).to_bytes(32, "big").hex()
            else:
                return {
                    "jsonrpc": "2.0",
                    "id": rid,
                    "error": {"code": -32601, "message": f"{method} is not served"},
                }
        except (ValueError, IndexError, TypeError) as exc:
            return {
                "jsonrpc": "2.0",
                "id": rid,
                "error": {"code": -32602, "message": f"invalid params: {exc}"},
            }
        return {"jsonrpc": "2.0", "id": rid, "result": result}

    async def _serve_status(self) -> web.AppRunner | None:
        if self.status_port is None:
            return None
        app = web.Application()

        async def status(_request: web.Request) -> web.Response:
            return web.json_response(self.status())

        async def metrics(_request: web.Request) -> web.Response:
            return web.Response(body=generate_latest(self.metrics.registry), content_type="text/plain")

        async def rpc(request: web.Request) -> web.Response:
            return web.json_response(self.answer_read(await request.json()))

        app.router.add_get("/status", status)
        app.router.add_post("/", rpc)
        app.router.add_get("/metrics", metrics)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.status_port)
        await site.start()
        server = site._server
        sockets = server.sockets if server is not None else []  # type: ignore[attr-defined]
        self.status_address = sockets[0].getsockname()[:2]
        return runner
