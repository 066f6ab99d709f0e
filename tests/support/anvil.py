"""A real L1 for settlement tests: anvil (foundry) as a subprocess on a free port.

The binary comes from the npm package ``@foundry-rs/anvil-linux-amd64`` in ``tests/js`` (installed
by ``scripts/test.sh``; installed here with ``npm ci`` when missing), or ``$ANVIL``, or an
``anvil`` on PATH. It mines a block every ``block_time`` seconds; with ``slots_in_an_epoch``
small its ``safe`` and ``finalized`` tags trail the head by a few blocks, so they advance within
seconds. :meth:`Anvil.pause` and :meth:`Anvil.resume` freeze it (SIGSTOP/SIGCONT): an L1 that
does not answer, and keeps its state.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from tests.support.daemon import ROOT, die_with_parent

JS_DIR = ROOT / "tests" / "js"
NPM_ANVIL = JS_DIR / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
START_TIMEOUT_S = 20.0
L1_CHAIN_ID = 31337


def anvil_binary() -> str | None:
    """Where anvil is: ``$ANVIL``, the npm package (installed now if npm can), or PATH."""
    if os.environ.get("ANVIL"):
        return os.environ["ANVIL"]
    if not NPM_ANVIL.exists() and shutil.which("npm") and (JS_DIR / "package-lock.json").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=JS_DIR, check=False, timeout=300
        )
    if NPM_ANVIL.exists():
        return str(NPM_ANVIL)
    return shutil.which("anvil")


@dataclass
class Anvil:
    """A running anvil."""

    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def w3(self, timeout: float = 10) -> Web3:
        return Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": timeout}))

    def rpc(self, method: str, params: list[Any]) -> Any:
        """One raw call; its ``result`` (an ``error`` fails the test)."""
        answer = self.w3().provider.make_request(method, params)  # type: ignore[arg-type]
        assert "error" not in answer, f"{method}: {answer['error']}"
        return answer["result"]

    def pause(self) -> None:
        """Freeze it: connections open but nothing answers (SIGSTOP)."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let it go on (SIGCONT)."""
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self.proc.stdout.close()


def start_anvil(
    log_dir: Path, *, block_time: float | None = 1, slots_in_an_epoch: int = 2, extra: tuple[str, ...] = ()
) -> Anvil:
    """Start anvil on a free port and wait until it answers; skips the test if there is no anvil.

    ``block_time`` None: automine (a block per transaction, at once)."""
    binary = anvil_binary()
    if binary is None:
        pytest.skip(
            "anvil not found: install Node.js and npm (tests/js provides @foundry-rs/anvil-linux-amd64) "
            "or set ANVIL"
        )
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"anvil-{time.monotonic_ns()}.log"
    args = [
        binary,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        *(["--block-time", str(block_time)] if block_time is not None else []),
        "--slots-in-an-epoch",
        str(slots_in_an_epoch),
        *extra,
    ]
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
    )
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    buf = b""
    deadline = time.monotonic() + START_TIMEOUT_S
    url = None
    while time.monotonic() < deadline and proc.poll() is None:
        chunk = proc.stdout.read()
        if chunk:
            buf += chunk
            m = re.search(rb"Listening on (127\.0\.0\.1:\d+)", buf)
            if m:
                url = "http://" + m.group(1).decode()
                break
        time.sleep(0.02)
    if url is None:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        raise AssertionError(f"anvil did not start: {buf.decode(errors='replace')}")
    # keep draining its output into a file so a full pipe never blocks it
    log_file = log_path.open("ab")
    log_file.write(buf)
    _drain(proc, log_file)
    return Anvil(proc, url, log_path)


def _drain(proc: subprocess.Popen[bytes], sink: Any) -> None:
    """Copy ``proc``'s stdout into ``sink`` in a daemon thread until it closes."""
    stream = proc.stdout
    assert stream is not None
    os.set_blocking(stream.fileno(), True)

    def drain() -> None:
        try:
            for line in iter(stream.readline, b""):
                sink.write(line)
                sink.flush()
        except (OSError, ValueError):
            pass
        finally:
            sink.close()

    threading.Thread(target=drain, daemon=True).start()
