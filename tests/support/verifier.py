"""A real verifier process, for tests and benchmarks."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.support.daemon import DEVNET, ROOT, die_with_parent


@dataclass
class VerifierProc:
    """A running ``verifier run`` subprocess with its status port."""

    proc: subprocess.Popen[bytes]
    status_url: str
    data_dir: Path
    log_path: Path

    def status(self) -> dict[str, Any]:
        """Its ``/status``."""
        data: dict[str, Any] = requests.get(self.status_url + "/status", timeout=5).json()
        return data

    def log(self) -> str:
        """Its stderr so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal it and wait for the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(15)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


def start_verifier(feed_url: str, data_dir: Path, *extra: str, config: Path = DEVNET) -> VerifierProc:
    """Start a verifier on the feed (with the devnet config unless told otherwise) and wait for
    its ``status=`` line."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{data_dir.name}-{time.monotonic_ns()}.log"
    args = [
        sys.executable,
        "-m",
        "verifier.cli",
        "run",
        "--feed",
        feed_url,
        "--config",
        str(config),
        "--data-dir",
        str(data_dir),
        "--status-port",
        "0",
        *extra,
    ]
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=log_file,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=die_with_parent,
        )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    m = re.search(r"status=(\S+)", line)
    assert m, f"verifier did not start: {line!r}\n{log_path.read_text()}"
    return VerifierProc(proc, m.group(1), data_dir, log_path)
