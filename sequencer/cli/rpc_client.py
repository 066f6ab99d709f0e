"""The small JSON-RPC client of the inspection commands: one call over urllib, one-line errors."""

from __future__ import annotations

from typing import Any

TIMEOUT_S = 10.0


class RpcCallError(Exception):
    """A call failed: the node cannot be reached or answered an error. The message is one line."""


def call(url: str, method: str, params: list[Any], timeout: float = TIMEOUT_S) -> Any:
    """The ``result`` of calling ``method`` with ``params`` on the node at ``url``.

    Raises :class:`RpcCallError` when the node cannot be reached, its answer is not JSON, or the
    answer is a JSON-RPC error (``"METHOD: MESSAGE (code CODE)"``).
    """
    # imported here, not at the top: the daemon's start-up (`sequencer run`) does not need them
    import json
    import urllib.error
    import urllib.request

    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RpcCallError(f"cannot reach the node at {url}: {getattr(exc, 'reason', exc)}") from None
    if "error" in answer:
        raise RpcCallError(f"{method}: {answer['error'].get('message')} (code {answer['error'].get('code')})")
    return answer["result"]
