"""A Hardhat 3 project (``tests/js/hardhat``) whose tests run against the real daemon as an HTTP
network, the way a dApp developer points ``npx hardhat test`` at a local node.

Specified (in ``tests/js/hardhat/test/devchain.test.js``, run by Hardhat's node:test runner):
hardhat-ethers' signers are the node's ten dev accounts (``eth_accounts``,
``eth_sendTransaction``); ``loadFixture`` deploys once and restores the fixture's state for the
next test (``evm_snapshot``/``evm_revert``); ``time.increase`` (``evm_increaseTime``) moves block
time; ``mine`` (``hardhat_mine``) seals N blocks; ``setBalance`` (``hardhat_setBalance``) sets a
balance; ``impersonateAccount`` sends from an account without a key; ``takeSnapshot().restore()``
rolls the chain back. This module checks that every one of those tests ran and passed.
"""

from __future__ import annotations

import os
import re

import pytest

from tests.support.cli import run_tool
from tests.support.daemon import Daemon
from tests.support.tools import JS_DIR, hardhat_node_bin, npm_package

PROJECT = JS_DIR / "hardhat"
HARDHAT_TESTS = 8
RUN_TIMEOUT_S = 180.0


def test_the_hardhat_project_passes_against_the_daemon(
    daemon: Daemon, tmp_path_factory: pytest.TempPathFactory
) -> None:
    node = hardhat_node_bin()
    cli = npm_package("hardhat") / "dist" / "src" / "cli.js"
    home = tmp_path_factory.mktemp("hardhat-home")  # Hardhat's caches and telemetry choice, not the user's
    env = {
        **os.environ,
        "MEGAPY_RPC_URL": daemon.url,
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true",
        "NO_COLOR": "1",
        "FORCE_COLOR": "0",
    }
    done = run_tool(
        [node, str(cli), "test", "nodejs", "--network", "megapy", "--no-compile", "test/devchain.test.js"],
        env=env,
        cwd=PROJECT,
        daemon=daemon,
        timeout=RUN_TIMEOUT_S,
    )
    out = done.stdout + done.stderr
    passing = re.search(r"(\d+) passing", out)
    assert passing is not None, out
    assert int(passing.group(1)) == HARDHAT_TESTS, out
    assert "failing" not in out, out
