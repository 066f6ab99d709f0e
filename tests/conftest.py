"""Shared fixtures: a real sequencer daemon as a subprocess, dev accounts, contract artifacts.

The harness itself lives in ``tests/support`` (also used by the benchmarks); the names below are
re-exported for the tests that import them from here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from tests.support.accounts import DEV_KEYS
from tests.support.contracts import ARTIFACTS, load_artifact
from tests.support.daemon import DEVNET, ROOT, Daemon, die_with_parent, start_daemon, write_config

__all__ = [
    "ARTIFACTS",
    "DEVNET",
    "DEV_KEYS",
    "ROOT",
    "Daemon",
    "_die_with_parent",
    "die_with_parent",
    "load_artifact",
    "start_daemon",
    "write_config",
]
_die_with_parent = die_with_parent


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Daemon] = []

    def factory(*extra: str, data_dir: Path | None = None, config: Path = DEVNET) -> Daemon:
        d = start_daemon(data_dir or tmp_path / "data", *extra, config=config)
        started.append(d)
        return d

    yield factory
    for d in started:
        d.kill()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One daemon shared by a test module (fast EVM blocks to keep tests short)."""
    d = start_daemon(tmp_path_factory.mktemp("node") / "data", "--evm-block-ms", "250")
    try:
        yield d
        code = d.stop()
        assert code == 0, f"daemon exited with {code}\n{d.log()}"
    finally:
        d.kill()


@pytest.fixture(scope="session")
def dev_accounts() -> list[LocalAccount]:
    return [Account.from_key(k) for k in DEV_KEYS]
