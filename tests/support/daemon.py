"""The real sequencer daemon as a subprocess, for tests and benchmarks: start it on free ports,
read its bound addresses, stop or kill it, and write configs derived from the devnet's."""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
DEVNET = ROOT / "configs" / "devnet.toml"
START_TIMEOUT_S = 30.0
FRONTENDS_ENV = "MEGAPY_TEST_RPC_FRONTENDS"
"""Set to N to run every daemon the tests start behind N RPC front ends (``--rpc-frontends``):
the whole suite then speaks to the node through them (docs/operations.md)."""
STOP_TIMEOUT_S = 15.0


@dataclass
class Daemon:
    """A running ``sequencer run`` subprocess."""

    proc: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    log_path: Path
    args: list[str] = field(default_factory=list)
    feed_url: str = ""
    stdout: bytes = b""
    """What it printed on stdout so far (the start lines); :meth:`printed` reads the rest."""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def printed(self) -> str:
        """Its stdout so far: the bound addresses it printed at start (``rpc=``, ``feed=``...)."""
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self.stdout += self.proc.stdout.read() or b""
        return self.stdout.decode(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send ``sig`` and wait for the exit code (SIGKILL after a timeout is a failure)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"daemon did not stop within {STOP_TIMEOUT_S}s\n{self.log()}") from None
        self._close()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def _close(self) -> None:
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self.proc.stdout.close()


def die_with_parent() -> None:
    """Runs in the child: a daemon never outlives the test process (Linux PR_SET_PDEATHSIG)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def start_daemon(data_dir: Path, *extra: str, config: Path = DEVNET) -> Daemon:
    """Start the daemon on a free port and wait for its ``rpc=`` line."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{data_dir.name}-{time.monotonic_ns()}.log"
    args = [
        sys.executable,
        "-m",
        "sequencer.cli",
        "run",
        "--config",
        str(config),
        "--data-dir",
        str(data_dir),
        "--rpc-port",
        "0",
        "--feed-port",
        "0",
        *extra,
    ]
    if os.environ.get(FRONTENDS_ENV) and "--rpc-frontends" not in extra:
        args += ["--rpc-frontends", os.environ[FRONTENDS_ENV]]
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
    # front ends are started (and, if one hangs, started again) before the node says it listens
    deadline = time.monotonic() + START_TIMEOUT_S * (3 if "--rpc-frontends" in args else 1)
    url = None
    os.set_blocking(proc.stdout.fileno(), False)
    buf = b""
    while time.monotonic() < deadline:
        chunk = proc.stdout.read()
        if chunk:
            buf += chunk
            m = re.search(rb"rpc=(http://\S+)\s+feed=(wss?://\S+)", buf)
            if m:
                url, feed_url = m.group(1).decode(), m.group(2).decode()
                break
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    if url is None:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        raise AssertionError(f"daemon did not start: {buf!r}\n{log_path.read_text(errors='replace')}")
    return Daemon(proc, url, data_dir, log_path, args, feed_url, buf)


def write_config(path: Path, **replacements: str) -> Path:
    """A copy of the devnet config with ``key = value`` lines replaced (values as TOML text)."""
    text = DEVNET.read_text()
    for key, value in replacements.items():
        text, n = re.subn(rf"(?m)^{re.escape(key)}\s*=\s*[^#\n]*", f"{key} = {value}", text)
        assert n == 1, f"config key {key} not found exactly once"
    path.write_text(text)
    return path


def rpc_config(path: Path, **values: int | float | str) -> Path:
    """A copy of the devnet config with ``[rpc]`` keys set (replaced or added; numbers as given,
    strings as TOML text)."""
    lines = [
        line
        for line in DEVNET.read_text().split("\n")
        if not any(re.match(rf"{re.escape(key)}\s*=", line) for key in values)
    ]
    text = "\n".join(lines)
    added = "".join(f"{key} = {value}\n" for key, value in values.items())
    path.write_text(text.replace("[rpc]\n", "[rpc]\n" + added, 1))
    return path
