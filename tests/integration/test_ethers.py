"""ethers.js v6 against the real daemon: transfers, a contract deploy and call, a decoded custom
error, and how quickly ``tx.wait()`` resolves (tests/js/ethers_smoke.mjs does the work).

Product requirement: a wallet's wait-for-receipt resolves within a few mini-block intervals
(10 ms), never an EVM block interval (1 s). ethers' ``TransactionResponse.wait()`` (confirms=1)
returns on its first ``eth_getTransactionReceipt`` when that already finds the receipt; the node
serves a receipt as soon as its mini-block is sealed, so the fast path is taken even though the
receipt's ``blockNumber`` is one above ``eth_blockNumber`` until the EVM block seals.

Needs Node.js and ``cd tests/js && npm ci``; skipped otherwise (under CI, failed).
The wider ethers suite is tests/clients/test_ethers_client.py.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.support import tools
from tests.support.daemon import ROOT, Daemon
from tests.support.tools import npm_package

JS_DIR = ROOT / "tests" / "js"
SCRIPT = JS_DIR / "ethers_smoke.mjs"
NODE_TIMEOUT_S = 60
# One EVM block is 1 s on the devnet; a wait must resolve well inside it.
MAX_WAIT_MS = 500


@pytest.fixture
def node_bin() -> str:
    npm_package("ethers")  # skips (fails under CI) when not installed
    return tools.node_bin()


Result = tuple[subprocess.CompletedProcess[str], dict[str, Any]]


def run_smoke(node: str, daemon: Daemon, *args: str) -> Result:
    try:
        proc = subprocess.run(
            [node, str(SCRIPT), daemon.url, *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=NODE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as e:
        raise AssertionError(
            f"ethers smoke test did not finish within {NODE_TIMEOUT_S}s\n"
            f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}\n{daemon.log()[-4000:]}"
        ) from None
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"no JSON line (exit {proc.returncode})\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc, json.loads(lines[-1])


def assert_waits_fast(result: dict[str, Any]) -> None:
    waits = result["waits"]
    assert waits, result
    slow = [w for w in waits if w["waitMs"] >= MAX_WAIT_MS]
    assert not slow, f"tx.wait() took an EVM block interval, not a few mini-blocks: {slow}"


def test_ethers_wallet_flow_and_wait_within_mini_blocks(node_bin: str, daemon_factory: Any) -> None:
    """Full flow with ethers' request-sharing cache off (see the next test for why)."""
    d = daemon_factory()
    proc, result = run_smoke(node_bin, d, "--cache-timeout=-1")
    assert proc.returncode == 0 and result["ok"], (
        f"ethers smoke test failed at {result.get('step')}: {result.get('error')}\n"
        f"stderr: {proc.stderr}\n{json.dumps(result, indent=1)}"
    )
    assert result["chainId"] == "1337"
    assert result["ethers"].startswith("6.")
    names = [w["name"] for w in result["waits"]]
    assert {"transfer#0", "deploy", "set", "deployReverter"} <= set(names), names
    assert_waits_fast(result)
    # Every wait took ethers' fast path: one receipt lookup, no block polling.
    for w in result["waits"]:
        assert w["rpc"].get("eth_getTransactionReceipt") == 1 and "eth_blockNumber" not in w["rpc"], w
    for how in ("staticCall", "call"):
        info = result["revert"][how]
        assert info["code"] == "CALL_EXCEPTION" and info["revertName"] == "Unauthorized", info
        assert info["revertArgs"] == ["0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "7"], info
    assert result["revert"]["estimateGas"]["data"].startswith(result["revert"]["selector"])


def test_ethers_default_provider_back_to_back_sends(node_bin: str, daemon_factory: Any) -> None:
    """ethers with every default: send, wait, send again from the same wallet.

    ethers 6's AbstractProvider shares identical RPC requests for cacheTimeout=250 ms
    (abstract-provider.js #perform) and does not clear it after broadcastTransaction; wait()
    resolves in ~12 ms here, so the next wallet.sendTransaction reuses the pre-send
    eth_getTransactionCount(sender, 'pending') and the node rightly answers -32000 'nonce too
    low' (ethers NONCE_EXPIRED). Client-side, known upstream (ethers-io/ethers.js#4549, #5165;
    workaround: JsonRpcProvider option cacheTimeout: -1, or a NonceManager). While ethers has
    that bug the test is an expected failure with exactly that symptom; once ethers fixes it,
    the test simply passes. Any other failure is a failure.
    """
    d = daemon_factory()
    proc, result = run_smoke(node_bin, d, "--transfers=3")
    # The first wait is unaffected by the cache and must be fast either way.
    assert_waits_fast(result)
    if proc.returncode != 0:
        totals = result.get("rpcTotals", {})
        sends, counts = totals.get("eth_sendRawTransaction", 0), totals.get("eth_getTransactionCount", 0)
        if result.get("errorCode") == "NONCE_EXPIRED" and counts < sends:
            pytest.xfail(
                f"ethers' 250 ms request cache (ethers-io/ethers.js#4549): {sends} sends, {counts} "
                f"eth_getTransactionCount at {result.get('step')}: {result['error']} (rpc totals {totals})"
            )
        raise AssertionError(
            f"ethers smoke test failed at {result.get('step')}: {result.get('error')}\n"
            f"stderr: {proc.stderr}\n{json.dumps(result, indent=1)}"
        )
    assert result["ok"], result
