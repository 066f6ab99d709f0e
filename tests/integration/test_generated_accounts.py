"""Specification of ``--accounts N``: a genesis with N generated, funded accounts (for
state-size and load tests), fixed when the data dir is created."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address
from web3 import Web3

from sequencer.genesis import GENERATED_BALANCE, generated_address
from tests.support.daemon import DEVNET, ROOT


def test_generated_accounts_are_funded_and_part_of_the_genesis(daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory("--accounts", "1000")
    w3 = Web3(Web3.HTTPProvider(d.url))
    for i in (0, 1, 999):
        assert w3.eth.get_balance(to_checksum_address(generated_address(i))) == GENERATED_BALANCE
    assert w3.eth.get_balance(to_checksum_address(generated_address(1000))) == 0
    plain = daemon_factory(data_dir=tmp_path / "plain")
    genesis = w3.eth.get_block(0)
    other = Web3(Web3.HTTPProvider(plain.url)).eth.get_block(0)
    assert genesis["stateRoot"] != other["stateRoot"]
    assert genesis["hash"] != other["hash"]


def init(data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``sequencer init`` on ``data_dir`` with the devnet config."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "sequencer.cli",
            "init",
            "--config",
            str(DEVNET),
            "--data-dir",
            str(data_dir),
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_a_data_dir_keeps_the_count_it_was_created_with(tmp_path: Path) -> None:
    first = init(tmp_path / "data", "--accounts", "50")
    assert first.returncode == 0, first.stderr
    again = init(tmp_path / "data", "--accounts", "50")
    assert again.returncode == 0, again.stderr
    assert again.stdout.split("genesis=")[1] == first.stdout.split("genesis=")[1]
    other = init(tmp_path / "data", "--accounts", "51")
    assert other.returncode == 2
    assert "different genesis" in other.stderr


def test_the_count_is_validated(tmp_path: Path) -> None:
    out = init(tmp_path / "data", "--accounts", "-1")
    assert out.returncode == 2
    assert "--accounts" in out.stderr
