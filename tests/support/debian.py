"""Debian packages a test needs: installed with apt-get when missing (the test machines run as
root with the Debian registry reachable); a test skips, saying why, only when that cannot be."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

APT_TIMEOUT_S = 900


def ensure_command(command: str, package: str, *also: str) -> str:
    """The path of ``command``, installing Debian ``package`` (and ``also``) first when it is missing."""
    found = shutil.which(command)
    if found:
        return found
    if shutil.which("apt-get") is None:
        pytest.skip(f"{command} is missing and this machine has no apt-get to install {package}")
    if os.geteuid() != 0:
        pytest.skip(f"{command} is missing and installing {package} with apt-get needs root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300"]
    install += [package, *also]
    result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_S)
    if result.returncode != 0:  # the package lists may be missing or stale: refresh them once
        update = ["apt-get", "update", "-q", "-o", "DPkg::Lock::Timeout=300"]
        subprocess.run(update, env=env, capture_output=True, timeout=APT_TIMEOUT_S)
        result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_S)
    found = shutil.which(command)
    assert found, f"apt-get install {package} did not provide {command}:\n{result.stdout}\n{result.stderr}"
    return found
