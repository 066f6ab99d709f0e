"""Specification: a newcomer's install works anywhere.

The wheel built from this checkout, installed into a fresh virtual environment outside the
repository, starts a devnet with ``sequencer run --dev`` from an unrelated directory: no config
file, the data dir under the user's data directory, block 0 stamped with the chain's creation
time, the standard dev accounts funded. Without ``--dev`` or ``--config`` it explains what to give.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
DEV_ACCOUNT = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
INSTALL_TIMEOUT_S = 600
START_TIMEOUT_S = 60


def _run(
    *args: str | Path, cwd: Path, timeout: float = INSTALL_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=True
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The ``bin/`` of a fresh venv, outside the repository, with only the built wheel installed."""
    base = tmp_path_factory.mktemp("install")
    wheels = base / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, ROOT, cwd=base)
    (wheel,) = wheels.glob("megapy_l2-*.whl")
    venv = base / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=base)
    _run(
        venv / "bin" / "python",
        "-m",
        "pip",
        "install",
        "-q",
        "--no-compile",
        "--disable-pip-version-check",
        wheel,
        cwd=base,
    )
    yield venv / "bin"


def _rpc(url: str, method: str, *params: str | bool) -> Any:
    answer = requests.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=10
    )
    return answer.json()["result"]


def test_run_dev_starts_a_devnet_from_any_directory(installed: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    user_data = tmp_path / "xdg-data"
    env = {**os.environ, "XDG_DATA_HOME": str(user_data), "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPATH", None)
    created_at = int(time.time())
    log_path = tmp_path / "sequencer.log"
    with (
        log_path.open("wb") as log,
        subprocess.Popen(
            [installed / "sequencer", "run", "--dev", "--rpc-port", "0", "--feed-port", "0"],
            cwd=elsewhere,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
        ) as proc,
    ):
        try:
            assert proc.stdout is not None
            deadline = time.monotonic() + START_TIMEOUT_S
            url = None
            while url is None and time.monotonic() < deadline and proc.poll() is None:
                if m := re.match(r"rpc=(http://\S+)", proc.stdout.readline().decode()):
                    url = m.group(1)
            assert url is not None, f"did not start: {log_path.read_text(errors='replace')}"
            assert _rpc(url, "eth_chainId") == "0x539"
            assert int(_rpc(url, "eth_getBalance", DEV_ACCOUNT, "latest"), 16) == 10_000 * 10**18
            genesis = _rpc(url, "eth_getBlockByNumber", "0x0", False)
            assert created_at - 5 <= int(genesis["timestamp"], 16) <= int(time.time()) + 1
            assert (user_data / "megapy" / "chain-1337").is_dir()
            assert not any(elsewhere.iterdir()), "nothing is written to the working directory"
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    assert proc.returncode == 0


def test_run_without_a_config_names_the_two_ways_to_give_one(installed: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [installed / "sequencer", "run"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "--config FILE" in result.stderr and "--dev" in result.stderr
