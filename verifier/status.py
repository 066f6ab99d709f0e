"""What a verifier reports: the status dict, and the status port that serves it.

:func:`status_info` builds the one status dict, for ``GET /status`` of a running verifier (from
its live progress) and for ``verifier status`` (from the checkpoint in a data dir): ``mode``,
``height``, ``blockHash``, ``nextSeq``, ``verifiedBlocks``, ``verifiedMiniBlocks``,
``verifiedTxs``, ``lagBlocks``, ``lagMs``, ``verdict``, ``alarm`` and ``mismatches``.

:func:`make_status_app` is the status port: ``GET /status`` (JSON), ``GET /metrics``
(Prometheus), ``GET /health`` (200, or 503 while the stream is not flowing or a mismatch was
found), the live dashboard (``GET /dashboard/``, the same page as the sequencer's, drawn from
this verifier's status) and, when given a dispatcher, read-only JSON-RPC on ``POST /``
(``verifier/reads.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from sequencer.dashboard.app import add_dashboard
from sequencer.jsonrpc.dispatch import Dispatcher
from sequencer.serving import PROMETHEUS_CONTENT_TYPE
from verifier.checkpoint import Checkpoint, Counts, decode_checkpoint, load_legacy_checkpoint
from verifier.store import StateStore, state_dir
from verifier.verdict import Verdict

JSON_HEADERS = {"Content-Type": "application/json"}
STATUS_HOST = "127.0.0.1"
"""The status port's default interface (``verifier run --status-host`` chooses another)."""


@dataclass(frozen=True, slots=True)
class StatusView:
    """Where a verifier stands, as the status reports it."""

    mode: str | None
    next_seq: int
    block_number: int
    block_hash: bytes
    counts: Counts
    head_block: int
    verdicts: tuple[Verdict, ...]
    alarm: str | None = None
    """What is wrong with the stream now (``verifier/health.py``); ``None``: nothing, or not
    known (a stopped verifier's data dir)."""

    @classmethod
    def of_checkpoint(cls, checkpoint: Checkpoint) -> StatusView:
        """The status a data dir's checkpoint records (a stopped verifier's)."""
        b = checkpoint.boundary
        return cls(
            checkpoint.mode,
            b.next_seq,
            b.block_number,
            b.block_hash,
            b.counts,
            checkpoint.head_block,
            checkpoint.verdicts,
        )


def read_checkpoint(data_dir: Path) -> Checkpoint:
    """The checkpoint a data dir holds (an earlier verifier's file, if that is what it holds;
    the start when it holds nothing), read without disturbing a verifier running on it."""
    legacy = load_legacy_checkpoint(data_dir)
    if legacy is not None:
        return legacy
    path = state_dir(data_dir)
    if not path.exists():
        return Checkpoint()
    store = StateStore(path, readonly=True)
    try:
        record = store.checkpoint_record()
    finally:
        store.close()
    return decode_checkpoint(record) if record is not None else Checkpoint()


def verdict_word(verdicts: tuple[Verdict, ...]) -> str:
    """``ok``, or ``mismatch`` once any verdict is recorded."""
    return "mismatch" if verdicts else "ok"


def lag_ms(last_mini_block_us: int, now: float) -> int | None:
    """Milliseconds since the newest verified mini-block was sealed (``None`` before the first)."""
    return max(0, int(now * 1000 - last_mini_block_us / 1000)) if last_mini_block_us else None


def status_info(view: StatusView, now: float) -> dict[str, Any]:
    """The status dict (see the module docstring); ``now`` in seconds since the epoch."""
    return {
        "mode": view.mode,
        "height": view.block_number,
        "blockHash": "0x" + view.block_hash.hex() if view.block_hash else "",
        "nextSeq": view.next_seq,
        "verifiedBlocks": view.counts.blocks,
        "verifiedMiniBlocks": view.counts.mini_blocks,
        "verifiedTxs": view.counts.txs,
        "lagBlocks": max(0, view.head_block - view.block_number),
        "lagMs": lag_ms(view.counts.last_mini_block_us, now),
        "verdict": verdict_word(view.verdicts),
        "alarm": view.alarm,
        "mismatches": [v.as_dict() for v in view.verdicts],
    }


def make_status_app(
    status: Callable[[], dict[str, Any]],
    metrics_text: Callable[[], bytes],
    reads: Dispatcher | None = None,
    healthy: Callable[[], bool] | None = None,
) -> web.Application:
    """The status port's app: ``/status`` answers ``status()``, ``/metrics`` ``metrics_text()``,
    ``/health`` ``healthy()`` (with the verdict and the alarm), ``/dashboard/`` the page, and
    ``POST /`` goes to ``reads`` (when given)."""
    app = web.Application()

    async def get_health(_request: web.Request) -> web.Response:
        now = status()
        ok = healthy() if healthy is not None else now["verdict"] == "ok"
        return web.json_response(
            {"healthy": ok, "verdict": now["verdict"], "alarm": now.get("alarm"), "status": now},
            status=200 if ok else 503,
        )

    app.router.add_get("/health", get_health)

    async def get_status(_request: web.Request) -> web.Response:
        return web.json_response(status())

    async def get_metrics(_request: web.Request) -> web.Response:
        return web.Response(body=metrics_text(), headers={"Content-Type": PROMETHEUS_CONTENT_TYPE})

    app.router.add_get("/status", get_status)
    app.router.add_get("/metrics", get_metrics)
    add_dashboard(app, lambda: {"role": "verifier", "status": status()})
    if reads is not None:
        dispatcher = reads

        async def rpc(request: web.Request) -> web.Response:
            answer = await dispatcher.handle_body(await request.read())
            return web.Response(body=answer or b"", headers=JSON_HEADERS)

        app.router.add_post("/", rpc)
    return app
