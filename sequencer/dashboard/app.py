"""The dashboard's routes: the page, its static files and its status endpoint.

* ``GET /dashboard/`` the page (``static/index.html``); ``/dashboard`` redirects there;
* ``GET /dashboard/static/...`` its scripts, styles and the vendored uPlot (with its licence);
* ``GET /dashboard/status.json`` the process's view (``snapshot()``), which holds ``role``
  (``"sequencer"`` or ``"verifier"``) and ``status`` (the ``sequencer_status`` or verifier
  ``/status`` dict) plus, on a sequencer, ``blocks``, ``feed`` and ``verifiers``.

Everything is a GET: the dashboard changes nothing. The page loads nothing from elsewhere (a
Content-Security-Policy says so to the browser): it works offline.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

DASHBOARD_PATH = "/dashboard/"
STATIC_DIR = Path(__file__).resolve().parent / "static"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)
Snapshot = Callable[[], dict[str, Any]]
"""Builds the view ``/dashboard/status.json`` answers (cheap: it is polled every second)."""


def dashboard_url(base_url: str) -> str:
    """The page's address on a server at ``base_url`` (``http://HOST:PORT``)."""
    return base_url.rstrip("/") + DASHBOARD_PATH


def add_dashboard(app: web.Application, snapshot: Snapshot) -> None:
    """Mount the dashboard on ``app`` (before it starts), its view built by ``snapshot``."""
    index = STATIC_DIR / "index.html"
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }

    async def page(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(index, headers={**headers, "Cache-Control": "no-cache"})

    async def redirect(_request: web.Request) -> web.Response:
        raise web.HTTPFound(DASHBOARD_PATH)

    async def status(_request: web.Request) -> web.Response:
        return web.json_response(snapshot(), headers={**headers, "Cache-Control": "no-store"})

    async def static(request: web.Request) -> web.FileResponse:
        path = (STATIC_DIR / request.match_info["name"]).resolve()
        if not path.is_relative_to(STATIC_DIR) or not path.is_file():
            raise web.HTTPNotFound()
        extra = {} if path.suffix else {"Content-Type": "text/plain; charset=utf-8"}  # LICENSE
        return web.FileResponse(path, headers={**headers, **extra, "Cache-Control": "no-cache"})

    app.router.add_get(DASHBOARD_PATH.rstrip("/"), redirect)
    app.router.add_get(DASHBOARD_PATH, page)
    app.router.add_get(DASHBOARD_PATH + "status.json", status)
    app.router.add_get(DASHBOARD_PATH + "static/{name:.+}", static)
