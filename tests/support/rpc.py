"""Raw JSON-RPC calls through a web3.py provider, for tests that look at the whole answer."""

from __future__ import annotations

from typing import Any, cast

from web3 import Web3
from web3.providers import HTTPProvider
from web3.types import RPCEndpoint


def request(w3: Web3, method: str, params: Any) -> dict[str, Any]:
    """One call: the whole response object (``result`` or ``error``)."""
    return cast(dict[str, Any], w3.provider.make_request(RPCEndpoint(method), params))


def batch(w3: Web3, calls: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """One JSON-RPC batch over HTTP: the responses, in request order."""
    provider = cast(HTTPProvider, w3.provider)
    answers = provider.make_batch_request([(RPCEndpoint(m), p) for m, p in calls])
    return cast(list[dict[str, Any]], answers)
