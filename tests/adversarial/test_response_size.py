"""Specification (issue #12, item 3): answers cannot amplify a small request into a huge one.

One transaction emits 5,000 logs of 512 bytes. A 4 KB batch of 40 ``eth_getLogs`` for its
block would answer ~150 MB: the node answers as many as fit in ``rpc.max_response_bytes``
(25 MB, geth's batch limit) and ``-32005`` naming the limit for the rest, encoding each answer
as it is ready, so its memory grows by far less than the answers would take. A single query
over the byte budget is refused the same way, and ``eth_getLogsWithCursor`` pages through it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_account import Account
from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.attack import HEAVY_TRANSACTIONS, set_in_config, write_attack_config
from tests.support.daemon import Daemon, rpc_config, start_daemon

LOGS, DATA_BYTES = 5_000, 512
# init code: for i = 5000..1: LOG1(memory[0:512], topic i); deploys nothing
EMITTER = "0x6113885b8015601757806102006000a1600190036003565b00"
LIMIT = 25 * 1024 * 1024
KEY = DEV_KEYS[5]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    tmp = tmp_path_factory.mktemp("responses")
    # the 5,000-log transaction needs ~24 M gas and ~0.2 s: more than the node allows by default
    config = write_attack_config(tmp / "heavy.toml", 0, {"execution": HEAVY_TRANSACTIONS})
    daemon = start_daemon(tmp / "data", config=config)
    yield daemon
    daemon.stop()


@pytest.fixture(scope="module")
def noisy_block(node: Daemon) -> str:
    return _emit(node)


def post(url: str, body: Any) -> requests.Response:
    return requests.post(url, json=body, timeout=120)


def test_a_batch_of_forty_large_queries_is_bounded(node: Daemon, noisy_block: str) -> None:
    query = {"fromBlock": noisy_block, "toBlock": noisy_block}
    before = rss_mib(node.proc.pid)
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_getLogs", "params": [query]} for i in range(40)]
    answer = post(node.url, batch)
    grew = rss_mib(node.proc.pid) - before
    answers = answer.json()
    assert [a["id"] for a in answers] == list(range(40))
    full = [a for a in answers if "result" in a]
    refused = [a for a in answers if "error" in a]
    assert full and all(len(a["result"]) == LOGS for a in full)
    assert len(answer.content) <= LIMIT + 40 * 300, "the answers stay within the limit"
    assert refused and all(a["error"]["code"] == -32005 for a in refused)
    assert all("rpc.max_response_bytes" in a["error"]["message"] for a in refused)
    assert grew < 100, f"the node's memory grew {grew:.0f} MiB"


def test_one_query_over_the_byte_budget_is_refused_and_paged_with_a_cursor(tmp_path: Path) -> None:
    config = tmp_path / "small.toml"
    rpc_config(config, max_response_bytes=1_048_576)
    set_in_config(config, "execution", HEAVY_TRANSACTIONS)
    daemon = start_daemon(tmp_path / "data", config=config)
    try:
        block = _emit(daemon)
        query = {"fromBlock": block, "toBlock": block}
        refused = post(
            daemon.url, {"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [query]}
        ).json()
        assert refused["error"]["code"] == -32005 and "rpc.max_response_bytes" in refused["error"]["message"]
        seen, cursor, pages = 0, None, 0
        while True:
            page = post(
                daemon.url,
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "eth_getLogsWithCursor",
                    "params": [{**query, **({"cursor": cursor} if cursor else {})}],
                },
            )
            assert len(page.content) <= 1_048_576 + 4096
            result = page.json()["result"]
            seen += len(result["logs"])
            pages += 1
            cursor = result.get("cursor")
            if cursor is None:
                break
        assert seen == LOGS and pages > 1
    finally:
        daemon.stop()


def _emit(daemon: Daemon) -> str:
    """Send the 5,000-log transaction; its block number once the block is sealed."""
    w3 = Web3(Web3.HTTPProvider(daemon.url))
    sender = Account.from_key(KEY)
    fields = {"chainId": 1337, "nonce": 0, "data": EMITTER, "gas": 30_000_000}
    tx = sender.sign_transaction({**fields, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 0})
    sent = w3.eth.send_raw_transaction(tx.raw_transaction)
    deadline = time.monotonic() + 30
    while (number := w3.eth.get_transaction(sent)["blockNumber"]) is None:  # the receipt may be too large
        assert time.monotonic() < deadline
        time.sleep(0.05)
    while w3.eth.block_number < number:  # sealed: every query sees the same logs
        time.sleep(0.05)
    return hex(number)
