"""A verifier following a devnet through ``evm_revert`` (docs/feed.md, "Devnet events").

Specified: a verifier that has verified blocks a revert then rolls back is told by the feed (its
stream closes, code 4006; reconnecting with its tip, which is no longer in the chain, it is sent
a ``reorg`` message), logs the reorg, verifies the chain again from genesis, and reaches the new
head with no mismatch verdict; the block it verifies at the old height is the new chain's.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from hexbytes import HexBytes
from web3 import Web3

from tests.support.daemon import Daemon
from tests.support.rpc import request
from tests.support.verifier import VerifierProc, start_verifier

DEV_ACCOUNT = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
WAIT_S = 60.0


def call(w3: Web3, method: str, *params: Any) -> Any:
    answer = request(w3, method, list(params))
    assert "result" in answer, (method, answer)
    return answer["result"]


def transfers(w3: Web3, count: int) -> None:
    for n in range(count):
        to = "0x" + f"{0xA11CE0 + n:040x}"
        tx_hash = call(w3, "eth_sendTransaction", {"from": DEV_ACCOUNT, "to": to, "value": hex(1000 + n)})
        assert w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash), timeout=20)["status"] == 1


def verified_head(v: VerifierProc, w3: Web3) -> dict[str, Any]:
    """Wait until the verifier has verified the chain's newest sealed block (that very block,
    by hash); its status."""
    head = w3.eth.get_block("latest")
    deadline = time.monotonic() + WAIT_S
    while True:
        status = v.status()
        if status["height"] == head["number"] and status["blockHash"] == HexBytes(head["hash"]).to_0x_hex():
            return status
        number = head["number"]
        assert time.monotonic() < deadline, f"the verifier did not reach block {number}: {status}\n{v.log()}"
        time.sleep(0.1)


def test_a_verifier_that_followed_reverted_blocks_resyncs_without_a_mismatch(
    daemon_factory: Any, tmp_path: Path
) -> None:
    d: Daemon = daemon_factory("--evm-block-ms", "60000")  # only evm_mine seals: exact numbers
    w3 = Web3(Web3.HTTPProvider(d.url, request_kwargs={"timeout": 30}))
    v = start_verifier(d.feed_url, tmp_path / "v")
    try:
        transfers(w3, 2)
        call(w3, "evm_mine")
        verified_head(v, w3)
        snapshot = call(w3, "evm_snapshot")
        fork = w3.eth.block_number
        transfers(w3, 3)
        call(w3, "evm_mine")
        call(w3, "evm_mine")
        old = w3.eth.get_block(fork + 1)
        before = verified_head(v, w3)
        assert before["height"] > fork, "the verifier must have verified blocks the revert drops"

        assert call(w3, "evm_revert", snapshot) is True
        assert w3.eth.block_number == fork
        transfers(w3, 1)
        call(w3, "evm_mine")
        call(w3, "evm_mine")
        call(w3, "evm_mine")
        after = verified_head(v, w3)

        assert after["verdict"] == "ok", after
        assert "feed reorg" in v.log(), v.log()
        new = w3.eth.get_block(fork + 1)
        assert new["hash"] != old["hash"] and len(new["transactions"]) == 1
        assert after["height"] == fork + 3
        assert v.proc.poll() is None, "the verifier keeps running"
    finally:
        assert v.stop() == 0, v.log()
