"""Specification of the RPC front ends (``rpc.frontends``): processes sharing the RPC port own the
accept path and the hottest reads, and every answer is the one the executor itself gives.

A body whose requests are all front-end methods (``eth_sendRawTransaction``,
``eth_getTransactionReceipt``, ``eth_blockNumber``, ``eth_chainId``, ``net_version``) is answered
by the front end; a body with any other method goes to the executor whole. So the same request
put in a batch beside ``eth_gasPrice`` is the executor's answer, and the tests compare the two.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests
from eth_account import Account
from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.daemon import Daemon, start_daemon
from tests.support.rpc import batch, request
from tests.support.settlement import wait_until

CHAIN_ID = 1337
GWEI = 10**9
SINK = "0x" + "44" * 20
FRONTENDS = ("--rpc-frontends", "2")


def signed(acct: Any, nonce: int, chain_id: int = CHAIN_ID, fee: int = 10 * GWEI, value: int = 1) -> str:
    tx = {
        "chainId": chain_id,
        "nonce": nonce,
        "to": SINK,
        "value": value,
        "gas": 21_000,
        "maxFeePerGas": fee,
        "maxPriorityFeePerGas": 0,
        "type": 2,
    }
    return "0x" + bytes(acct.sign_transaction(tx).raw_transaction).hex()


def by_executor(w3: Web3, method: str, params: list[Any]) -> dict[str, Any]:
    """The executor's answer: the request beside a method only the executor serves."""
    answer, _gas_price = batch(w3, [(method, params), ("eth_gasPrice", [])])
    return answer


def frontend_pids(d: Daemon) -> dict[int, int]:
    """Front end index -> pid, from the node's log (the latest start of each)."""
    return {
        int(i): int(pid)
        for i, pid in re.findall(r'msg="RPC front end started" frontend=(\d+) pid=(\d+)', d.log())
    }


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Any:
    d = start_daemon(
        tmp_path_factory.mktemp("frontends") / "data",
        *FRONTENDS,
        "--evm-block-ms",
        "250",
        "--metrics-port",
        "0",
    )
    try:
        yield d
        assert d.stop() == 0, d.log()
    finally:
        d.kill()


def test_the_node_says_its_front_ends_are_up(node: Daemon) -> None:
    pids = frontend_pids(node)
    assert sorted(pids) == [0, 1]
    assert all(alive(pid) for pid in pids.values())
    w3 = Web3(Web3.HTTPProvider(node.url))
    assert request(w3, "sequencer_status", [])["result"]["rpcFrontends"] == 2


def test_submissions_answer_exactly_as_the_executor_answers_them(node: Daemon) -> None:
    w3 = Web3(Web3.HTTPProvider(node.url))
    acct = Account.from_key(DEV_KEYS[5])
    first = w3.eth.get_transaction_count(acct.address)
    good = [signed(acct, first + i) for i in range(30)]
    answers = batch(w3, [("eth_sendRawTransaction", [raw]) for raw in good])
    assert [a["result"] for a in answers] == [Web3.keccak(hexstr=raw).to_0x_hex() for raw in good]

    wait_until(lambda: w3.eth.get_transaction_count(acct.address) == first + 30, 10, "not included")
    refused = {
        "undecodable": "0x02c0ffee",
        "another chain": signed(acct, first + 30, chain_id=1),
        "nonce too low": signed(acct, first, value=2),
        "fee under the base fee": signed(acct, first + 30, fee=1),
        "not hex": "0xzz",
    }
    for why, raw in refused.items():
        here = request(w3, "eth_sendRawTransaction", [raw])
        there = by_executor(w3, "eth_sendRawTransaction", [raw])
        assert "error" in here, why
        assert here["error"] == there["error"], why
    # a duplicate of an included transaction is answered with its hash, as the executor does
    duplicate = request(w3, "eth_sendRawTransaction", [good[-1]])
    assert (
        duplicate["result"]
        == by_executor(w3, "eth_sendRawTransaction", [good[-1]])["result"]
        == answers[-1]["result"]
    )


def metric(d: Daemon, sample: str) -> float:
    url = re.search(r"metrics=(http://[^\s\"]+)", d.log())
    assert url, d.log()
    found = re.search(
        rf"^{re.escape(sample)} ([0-9.e+]+)$", requests.get(url.group(1) + "/metrics", timeout=5).text, re.M
    )
    return float(found.group(1)) if found else 0.0


def test_the_node_s_metrics_count_what_the_front_ends_refused_and_accepted(node: Daemon) -> None:
    w3 = Web3(Web3.HTTPProvider(node.url))
    refused = 'sequencer_transactions_rejected_total{reason="transaction type not supported"}'
    before = metric(node, refused), metric(node, "sequencer_transactions_accepted_total")
    acct = Account.from_key(DEV_KEYS[8])
    assert "error" in request(w3, "eth_sendRawTransaction", ["0x1234"])  # refused by the front end
    assert "result" in request(
        w3, "eth_sendRawTransaction", [signed(acct, w3.eth.get_transaction_count(acct.address))]
    )
    wait_until(lambda: metric(node, refused) == before[0] + 1, 5, "the front end's refusal is not counted")
    assert metric(node, "sequencer_transactions_accepted_total") == before[1] + 1


def test_reads_served_by_the_front_end_equal_the_executor_s(node: Daemon) -> None:
    w3 = Web3(Web3.HTTPProvider(node.url))
    acct = Account.from_key(DEV_KEYS[6])
    nonce = w3.eth.get_transaction_count(acct.address)
    tx_hash = request(w3, "eth_sendRawTransaction", [signed(acct, nonce)])["result"]
    wait_until(
        lambda: request(w3, "eth_getTransactionReceipt", [tx_hash])["result"] is not None, 10, "no receipt"
    )
    # once its EVM block is sealed the receipt carries the block's hash, on both paths
    wait_until(
        lambda: (
            w3.eth.block_number
            >= int(request(w3, "eth_getTransactionReceipt", [tx_hash])["result"]["blockNumber"], 16)
        ),
        10,
        "not sealed",
    )
    here = request(w3, "eth_getTransactionReceipt", [tx_hash])["result"]
    assert here == by_executor(w3, "eth_getTransactionReceipt", [tx_hash])["result"]
    assert here["status"] == "0x1" and here["from"] == acct.address.lower()
    unknown = "0x" + "ab" * 32
    assert request(w3, "eth_getTransactionReceipt", [unknown])["result"] is None
    assert (
        request(w3, "eth_getTransactionReceipt", ["0x12"])["error"]
        == by_executor(w3, "eth_getTransactionReceipt", ["0x12"])["error"]
    )
    for method in ("eth_chainId", "net_version"):
        assert request(w3, method, [])["result"] == by_executor(w3, method, [])["result"]
    assert abs(w3.eth.block_number - int(by_executor(w3, "eth_blockNumber", [])["result"], 16)) <= 1


def test_everything_else_is_the_executor_s_with_the_transport_rules_intact(node: Daemon) -> None:
    w3 = Web3(Web3.HTTPProvider(node.url))
    assert w3.eth.get_balance(Web3.to_checksum_address(SINK)) > 0  # an executor method, through the front end
    assert requests.get(node.url + "/health", timeout=5).json() == {"healthy": True}
    form = requests.post(
        node.url, data="x=1", headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=5
    )
    assert form.status_code == 415
    parse = requests.post(node.url, data="{not json", headers={"Content-Type": "application/json"}, timeout=5)
    assert parse.json()["error"]["code"] == -32700
    empty = requests.post(node.url, data="[]", headers={"Content-Type": "application/json"}, timeout=5)
    assert empty.json()["error"]["code"] == -32600
    too_large = requests.post(
        node.url,
        data=b"[" + b" " * (6 * 1024 * 1024) + b"]",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert too_large.status_code == 413 and too_large.json()["error"]["code"] == -32600
    unknown = request(w3, "eth_noSuchMethod", [])
    assert unknown["error"]["code"] == -32601


async def _subscribe_new_heads(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.ws_connect(url.replace("http", "ws")) as ws:
        await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]})
        subscribed = await asyncio.wait_for(ws.receive_json(), 10)
        head = await asyncio.wait_for(ws.receive_json(), 10)
        assert head["params"]["subscription"] == subscribed["result"]
        result: dict[str, Any] = head["params"]["result"]
        return result


def test_websocket_subscriptions_pass_through_the_front_ends(node: Daemon) -> None:
    head = asyncio.run(_subscribe_new_heads(node.url))
    assert int(head["number"], 16) >= 1


def test_a_front_end_that_dies_is_replaced_and_the_port_keeps_serving(tmp_path: Path) -> None:
    d = start_daemon(tmp_path / "data", *FRONTENDS)
    try:
        w3 = Web3(Web3.HTTPProvider(d.url, request_kwargs={"timeout": 5}))
        victim = frontend_pids(d)[0]
        os.kill(victim, signal.SIGKILL)
        # the other front end answers meanwhile (new connections: a closed one may have been the victim's)
        for _ in range(10):
            assert Web3(Web3.HTTPProvider(d.url)).eth.chain_id == CHAIN_ID
        wait_until(lambda: frontend_pids(d).get(0) not in (None, victim), 60, d.log())
        assert "RPC front end exited: starting it again" in d.log()
        assert alive(frontend_pids(d)[0])
        assert w3.eth.chain_id == CHAIN_ID
        assert d.stop() == 0
        # a graceful stop takes the front ends with it and frees the port
        assert not any(alive(pid) for pid in frontend_pids(d).values())
        with socket.create_server(("127.0.0.1", int(d.url.rsplit(":", 1)[1]))):
            pass
    finally:
        d.kill()


def test_nothing_acknowledged_through_a_front_end_is_lost_when_the_node_is_killed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    d = start_daemon(data, *FRONTENDS)
    acct = Account.from_key(DEV_KEYS[7])
    try:
        w3 = Web3(Web3.HTTPProvider(d.url))
        first = w3.eth.get_transaction_count(acct.address)
        acked: list[str] = []
        for k in range(10):
            raws = [signed(acct, first + 20 * k + i) for i in range(20)]
            acked += [a["result"] for a in batch(w3, [("eth_sendRawTransaction", [r]) for r in raws])]
        pids = frontend_pids(d)
        d.proc.kill()  # kill -9 the executor right after the last acknowledgement
        d.proc.wait()
        wait_until(lambda: not any(alive(pid) for pid in pids.values()), 10, "front ends outlived the node")
    finally:
        d.kill()
    again = start_daemon(data, *FRONTENDS)
    try:
        w3 = Web3(Web3.HTTPProvider(again.url))
        wait_until(lambda: w3.eth.get_transaction_count(acct.address) == first + 200, 20, again.log())
        for tx_hash in acked:
            assert request(w3, "eth_getTransactionReceipt", [tx_hash])["result"]["status"] == "0x1"
        assert again.stop() == 0
    finally:
        again.kill()


def test_a_front_end_count_out_of_range_is_refused_naming_the_flag(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "sequencer.cli",
            "run",
            "--dev",
            "--data-dir",
            str(tmp_path),
            "--rpc-frontends",
            "65",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "Invalid value for '--rpc-frontends': 65 is not in the range 0<=x<=64" in run.stderr
