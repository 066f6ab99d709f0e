"""viem against the real daemon over HTTP and WebSocket (tests/js/viem_client.mjs does the work,
once per module; each test reads one of its checks).

Specified: ``sendTransaction`` + ``waitForTransactionReceipt``, then ``getBlock({blockNumber:
receipt.blockNumber})`` is that block and ``getBlock({blockTag: "pending"})`` has no hash;
``estimateGas`` with an access list is enough for the transaction; ``call`` with a state
override; ``getLogs`` up to ``"pending"`` has a new event at once; a custom error is decoded;
``watchBlocks`` and ``watchEvent`` over a WebSocket deliver sealed heads and the event.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.daemon import Daemon
from tests.support.jssuite import check, run_js_suite
from tests.support.tools import npm_package


@pytest.fixture(scope="module")
def report(daemon_1s: Daemon) -> dict[str, Any]:
    npm_package("viem")
    return run_js_suite("viem_client.mjs", daemon_1s)


def test_send_wait_and_the_receipts_block_by_number(report: dict[str, Any]) -> None:
    result = check(report, "sendAndReceipt")
    assert result["blockHash"] is not None


def test_estimate_with_an_access_list_call_with_a_state_override(report: dict[str, Any]) -> None:
    result = check(report, "estimateAndCall")
    assert int(result["gasUsed"]) <= int(result["estimate"])


def test_get_logs_to_pending(report: dict[str, Any]) -> None:
    assert check(report, "logs")["count"] == 2


def test_a_custom_error_is_decoded(report: dict[str, Any]) -> None:
    assert check(report, "customError")["errorName"] == "Unauthorized"


def test_watch_blocks_over_websocket(report: dict[str, Any]) -> None:
    check(report, "watchBlocksOverWebSocket")


def test_watch_event_over_websocket(report: dict[str, Any]) -> None:
    check(report, "watchEventOverWebSocket")
