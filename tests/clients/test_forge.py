"""foundry's ``forge`` against the real daemon: ``forge script --broadcast`` and ``forge test
--fork-url``, compiling offline with the tests' npm ``solc`` (solcjs) behind a small wrapper that
speaks solc's ``--version`` and ``--standard-json`` (tests/js/solc_wrapper.cjs).

Specified: a script's three transactions (a deploy and two calls) are broadcast, each with a
successful receipt, and the chain holds their effect; a test run on a fork of the daemon (its
newest sealed block) reads that state, writes in the fork only, and a test asserting a wrong
value fails with its reason.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_typing import HexStr
from web3 import Web3

from tests.support.accounts import DEV_KEYS
from tests.support.cli import run_tool
from tests.support.daemon import ROOT, Daemon
from tests.support.tools import JS_DIR, forge_bin, node_bin, npm_package

PROJECT = ROOT / "tests" / "fixtures" / "forge"
DEPLOYER_KEY = DEV_KEYS[3]
FORGE_TIMEOUT_S = 180.0
SEAL_TIMEOUT_S = 10.0
COUNT = HexStr("0x06661abd")  # Counter.count()
FOUNDRY_TOML = """\
[profile.default]
src = "src"
test = "test"
script = "script"
out = "out"
libs = []
solc = "{solc}"
offline = true
evm_version = "cancun"
"""


def write_project(where: Path) -> Path:
    """The fixture project in ``where``, with a foundry.toml naming the solcjs wrapper."""
    npm_package("solc")
    shutil.copytree(PROJECT, where)
    solc = where / "solc"
    solc.write_text(f'#!/bin/sh\nexec "{node_bin()}" "{JS_DIR / "solc_wrapper.cjs"}" "$@"\n')
    solc.chmod(solc.stat().st_mode | stat.S_IXUSR)
    (where / "foundry.toml").write_text(FOUNDRY_TOML.format(solc=solc))
    return where


def forge(
    project: Path, daemon: Daemon, *args: str, env: dict[str, str] | None = None, check: bool = True
) -> Any:
    environ = {**os.environ, "HOME": str(project / ".home"), "NO_COLOR": "1", **(env or {})}
    return run_tool(
        [forge_bin(), *args], cwd=project, env=environ, daemon=daemon, timeout=FORGE_TIMEOUT_S, check=check
    )


@pytest.fixture(scope="module")
def broadcast(daemon_1s: Daemon, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """``forge script --broadcast`` run once: the project and its run-latest.json."""
    project = write_project(tmp_path_factory.mktemp("forge") / "project")
    forge(
        project,
        daemon_1s,
        "script",
        "script/Deploy.s.sol:Deploy",
        "--rpc-url",
        daemon_1s.url,
        "--broadcast",
        "--private-key",
        DEPLOYER_KEY,
    )
    run = json.loads((project / "broadcast" / "Deploy.s.sol" / "1337" / "run-latest.json").read_text())
    return project, run


def test_forge_script_broadcasts_its_transactions(
    daemon_1s: Daemon, broadcast: tuple[Path, dict[str, Any]]
) -> None:
    _project, run = broadcast
    kinds = [t["transactionType"] for t in run["transactions"]]
    assert kinds == ["CREATE", "CALL", "CALL"]
    assert [r["status"] for r in run["receipts"]] == ["0x1"] * 3
    w3 = Web3(Web3.HTTPProvider(daemon_1s.url))
    counter = Web3.to_checksum_address(run["transactions"][0]["contractAddress"])
    assert int.from_bytes(w3.eth.call({"to": counter, "data": COUNT}), "big") == 2
    deployer = Account.from_key(DEPLOYER_KEY).address
    for receipt in run["receipts"]:
        tx = w3.eth.get_transaction(receipt["transactionHash"])
        assert tx["from"] == deployer and tx["blockNumber"] == int(receipt["blockNumber"], 16)


def test_forge_test_on_a_fork_reads_the_daemons_state(
    daemon_1s: Daemon, broadcast: tuple[Path, dict[str, Any]]
) -> None:
    project, run = broadcast
    w3 = Web3(Web3.HTTPProvider(daemon_1s.url))
    last = max(int(r["blockNumber"], 16) for r in run["receipts"])
    deadline = time.monotonic() + SEAL_TIMEOUT_S
    while w3.eth.block_number < last:  # a fork starts at the newest sealed block
        assert time.monotonic() < deadline, f"block {last} not sealed within {SEAL_TIMEOUT_S}s"
        time.sleep(0.05)
    counter = Web3.to_checksum_address(run["transactions"][0]["contractAddress"])
    done = forge(
        project,
        daemon_1s,
        "test",
        "--fork-url",
        daemon_1s.url,
        "--json",
        env={"COUNTER": counter},
        check=False,
    )
    results = json.loads(done.stdout)["test/Counter.t.sol:CounterForkTest"]["test_results"]
    passing = results["test_reads_the_deployed_counter_and_increments_it_in_the_fork()"]
    failing = results["test_fails_when_the_state_disagrees()"]
    assert passing["status"] == "Success", passing
    assert failing["status"] == "Failure" and failing["reason"] == "expected failure", failing
    assert done.returncode != 0  # forge reports the failing test
    assert int.from_bytes(w3.eth.call({"to": counter, "data": COUNT}), "big") == 2  # inc() stayed in the fork
