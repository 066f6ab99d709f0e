"""Operator experience against a real daemon: CLI commands, metrics, health, admin separation."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_account import Account
from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.daemon import ROOT, Daemon, write_config
from tests.support.rpc import request

CHAIN_ID = 1337
GWEI = 10**9
TOKEN = "s3cret-admin-token-0123456789"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sequencer.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def send(w3: Web3, key: str, nonce: int) -> dict[str, Any]:
    acct = Account.from_key(key)
    raw = acct.sign_transaction(
        {
            "chainId": CHAIN_ID,
            "nonce": nonce,
            "to": acct.address,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": 0,
            "type": 2,
        }
    ).raw_transaction
    result: dict[str, Any] = request(w3, "eth_sendRawTransactionSync", ["0x" + bytes(raw).hex()])["result"]
    return result


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.support.daemon import start_daemon

    d = start_daemon(
        tmp_path_factory.mktemp("op") / "data",
        "--evm-block-ms",
        "200",
        "--metrics-port",
        "0",
        "--admin-port",
        "0",
        "--admin-token",
        TOKEN,
    )
    yield d
    assert d.stop() == 0, d.log()


def addresses(d: Daemon) -> dict[str, str]:
    found = dict(re.findall(r"(metrics|admin)=(http://[^\s\"]+)", d.log()))
    assert found, d.log()
    return found


def test_status_block_tx_and_mempool_commands(node: Daemon) -> None:
    w3 = Web3(Web3.HTTPProvider(node.url))
    receipt = send(w3, DEV_KEYS[0], w3.eth.get_transaction_count(Account.from_key(DEV_KEYS[0]).address))

    status = cli("status", "--rpc", node.url)
    assert status.returncode == 0, status.stderr
    assert "head block" in status.stdout and "mempool ready / queued" in status.stdout
    as_json = json.loads(cli("status", "--rpc", node.url, "--json").stdout)
    assert as_json["chainId"] == CHAIN_ID and as_json["includedTxs"] >= 1

    block = json.loads(cli("block", "latest", "--rpc", node.url, "--json").stdout)
    assert int(block["number"], 16) >= 1
    table = cli("block", "0", "--rpc", node.url)
    assert table.returncode == 0 and "state root" in table.stdout

    tx = cli("tx", receipt["transactionHash"], "--rpc", node.url)
    assert tx.returncode == 0 and "success" in tx.stdout
    tx_json = json.loads(cli("tx", receipt["transactionHash"], "--rpc", node.url, "--json").stdout)
    assert tx_json["receipt"]["status"] == "0x1"

    pool = json.loads(cli("mempool", "--rpc", node.url, "--json").stdout)
    assert set(pool["status"]) == {"pending", "queued"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["block", "notanumber"], "not a block number or tag"),
        (["block", "999999"], "block 999999 not found"),
        (["tx", "0x" + "ab" * 32], "not found"),
        (["tx", "0x12"], "invalid transaction hash"),
    ],
)
def test_command_errors_are_one_line_and_non_zero(node: Daemon, args: list[str], message: str) -> None:
    result = cli(*args, "--rpc", node.url)
    assert result.returncode != 0
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_an_unreachable_node_is_a_clear_error() -> None:
    result = cli("status", "--rpc", "http://127.0.0.1:9")
    assert result.returncode == 1 and result.stderr.startswith("error: cannot reach the node at")


def test_config_check_init_and_db_check(tmp_path: Path) -> None:
    assert cli("config", "check", "configs/devnet.toml").stdout.startswith("ok:")
    assert cli("config", "check", "configs/production.toml").stdout.startswith("ok: chain_id=424242")
    bad = write_config(tmp_path / "bad.toml", chain_id='"x"')
    result = cli("config", "check", str(bad))
    assert result.returncode == 2 and "chain.chain_id" in result.stderr
    init = cli("init", "--config", "configs/devnet.toml", "--data-dir", str(tmp_path / "d"))
    assert init.returncode == 0 and "genesis=0x" in init.stdout
    check = cli("db", "check", "--data-dir", str(tmp_path / "d"))
    assert check.returncode == 0 and "ok: the data dir is sound" in check.stdout


def test_run_and_init_take_a_config_file_or_dev_but_not_both_and_not_neither(tmp_path: Path) -> None:
    for command in ("run", "init"):
        both = cli(command, "--dev", "--config", "configs/devnet.toml", "--data-dir", str(tmp_path / "d"))
        assert both.returncode == 2 and "not both" in both.stderr
        neither = cli(command, "--data-dir", str(tmp_path / "d"))
        assert (
            neither.returncode == 2 and "give --config FILE" in neither.stderr and "--dev" in neither.stderr
        )
    assert not (tmp_path / "d").exists()
    init = cli("init", "--dev", "--data-dir", str(tmp_path / "d"))
    assert init.returncode == 0 and "chain_id=1337" in init.stdout


def test_every_command_has_help_with_examples() -> None:
    for command in (
        ["run"],
        ["status"],
        ["block"],
        ["tx"],
        ["mempool"],
        ["init"],
        ["config", "check"],
        ["db", "check"],
    ):
        result = cli(*command, "--help")
        assert result.returncode == 0 and "Example" in result.stdout, command


def test_metrics_after_some_load(node: Daemon) -> None:
    w3 = Web3(Web3.HTTPProvider(node.url))
    key = DEV_KEYS[1]
    nonce = w3.eth.get_transaction_count(Account.from_key(key).address)
    for i in range(3):
        send(w3, key, nonce + i)
    request(w3, "eth_sendRawTransaction", ["0x1234"])  # a rejection
    deadline = time.monotonic() + 10
    while w3.eth.block_number < 1:  # an EVM block sealed (the test may run first)
        assert time.monotonic() < deadline
        time.sleep(0.05)
    metrics_url = addresses(node)["metrics"]
    text = requests.get(metrics_url + "/metrics", timeout=5).text

    def value(name: str) -> float:
        match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.M)
        assert match, name
        return float(match.group(1))

    assert value("sequencer_transactions_received_total") >= 4
    assert value("sequencer_transactions_accepted_total") >= 3
    assert value("sequencer_transactions_included_total") >= 3
    assert value("sequencer_gas_used_total") >= 63_000
    assert value("sequencer_mini_blocks_total") >= 3
    assert value("sequencer_evm_blocks_total") >= 1
    assert value("sequencer_head_block") >= 1
    assert value("sequencer_healthy") == 1
    assert value("sequencer_gc_frozen_objects") > 10_000  # the start-up heap is out of the collector's way
    assert re.search(
        r'sequencer_transactions_rejected_total\{reason="transaction type not supported"\} [1-9]', text
    )
    assert re.search(r'sequencer_rpc_requests_total\{method="eth_sendRawTransactionSync"\} [1-9]', text)
    assert re.search(r"sequencer_mini_block_interval_seconds_count [1-9]", text)
    assert re.search(r"sequencer_evm_block_seal_seconds_count [1-9]", text)
    assert re.search(r"sequencer_transaction_execution_seconds_count [1-9]", text)
    assert re.search(r"sequencer_state_root_seconds_count [1-9]", text)
    assert 'sequencer_mempool_transactions{state="ready"}' in text
    assert "sequencer_websocket_connections" in text and "sequencer_feed_followers" in text
    assert "sequencer_feed_follower_max_lag_messages" in text
    assert requests.get(metrics_url + "/health", timeout=5).json() == {"healthy": True}
    assert requests.get(metrics_url + "/ready", timeout=5).json() == {"ready": True}


def test_admin_methods_are_refused_on_the_public_port_and_work_where_enabled(node: Daemon) -> None:
    request: dict[str, Any] = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "debug_getRawHeader",
        "params": ["latest"],
    }
    admin_only: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": "admin_nodeInfo"}
    public = requests.post(node.url, json=admin_only, timeout=5).json()
    assert public["error"]["code"] == -32601
    wrong = requests.post(node.url, json=admin_only, headers={"Authorization": "Bearer nope"}, timeout=5)
    assert wrong.json()["error"]["code"] == -32601
    # (the debug namespace is public on a devnet, this node's chain: docs/rpc.md, developer tooling)

    w3 = Web3(Web3.HTTPProvider(node.url))
    number = w3.eth.block_number
    by_number = {**request, "params": [hex(number)]}
    with_token = requests.post(
        node.url, json=by_number, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    )
    header = bytes.fromhex(with_token.json()["result"][2:])
    assert Web3.keccak(header) == w3.eth.get_block(number)["hash"], "the raw header hashes to the block hash"

    admin_url = addresses(node)["admin"]
    info = requests.post(
        admin_url, json={"jsonrpc": "2.0", "id": 1, "method": "admin_nodeInfo"}, timeout=5
    ).json()
    assert info["result"]["chainId"] == CHAIN_ID
    chain_id = requests.post(
        admin_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=5
    ).json()
    assert chain_id["result"] == hex(CHAIN_ID), "the admin port serves the public methods too"


def test_the_admin_port_refuses_other_host_names_dns_rebinding(node: Daemon) -> None:
    admin_url = addresses(node)["admin"]
    port = admin_url.rsplit(":", 1)[1]
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": "admin_nodeInfo"}
    rebound = requests.post(admin_url, json=body, headers={"Host": f"evil.example:{port}"}, timeout=5)
    assert rebound.status_code == 403 and "admin.allowed_hosts" in rebound.text
    for name in (f"localhost:{port}", f"127.0.0.1:{port}", "LOCALHOST"):
        assert requests.post(admin_url, json=body, headers={"Host": name}, timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--admin-token", "short"],
            "error: admin.token: must be at least 16 characters (set by --admin-token)",
        ),
        (["--mini-block-ms", "0"], "Invalid value for '--mini-block-ms'"),
        (
            ["--mini-block-ms", "500", "--evm-block-ms", "100"],
            "error: blocks.evm_block_interval_ms: must not be shorter than blocks.mini_block_interval_ms "
            "(blocks.evm_block_interval_ms set by --evm-block-ms, "
            "blocks.mini_block_interval_ms set by --mini-block-ms)",
        ),
        (
            ["--mini-block-ms", "5000"],  # the devnet file's EVM block interval is 1000 ms
            "error: blocks.evm_block_interval_ms: must not be shorter than blocks.mini_block_interval_ms "
            "(blocks.mini_block_interval_ms set by --mini-block-ms)",
        ),
    ],
)
def test_bad_run_options_are_refused_clearly(tmp_path: Path, args: list[str], message: str) -> None:
    """A flag is checked by the config's own rule, which names the key and the flag."""
    result = cli(
        "run", "--dev", "--data-dir", str(tmp_path / "d"), "--rpc-port", "0", "--feed-port", "0", *args
    )
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "d").exists()  # refused before opening anything


def test_a_bad_admin_token_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sequencer.cli",
            "run",
            "--dev",
            "--data-dir",
            str(tmp_path / "d"),
            "--rpc-port",
            "0",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**os.environ, "SEQUENCER_ADMIN_TOKEN": "short"},
    )
    assert result.returncode == 2, result.stderr
    assert (
        "error: admin.token: must be at least 16 characters (set by SEQUENCER_ADMIN_TOKEN)" in result.stderr
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shard", "2/2"], "--shard must be I/N"),
        (["--shard", "x"], "--shard must be I/N"),
        (["--feed", "http://127.0.0.1:8546"], "--feed must be a ws:// or wss:// URL"),
    ],
)
def test_bad_verifier_options_are_refused_clearly(tmp_path: Path, args: list[str], message: str) -> None:
    base = [
        "--feed",
        "ws://127.0.0.1:9",
        "--config",
        "configs/devnet.toml",
        "--data-dir",
        str(tmp_path / "v"),
    ]
    if "--feed" in args:
        base = base[2:]
    result = subprocess.run(
        [sys.executable, "-m", "verifier.cli", "run", *base, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 2 and message in result.stderr, result.stderr
