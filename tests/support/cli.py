"""Running a client's command line against the daemon: bounded in time, failures with output."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.support.daemon import ROOT, Daemon

COMMAND_TIMEOUT_S = 60.0


def run_tool(
    args: list[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    daemon: Daemon | None = None,
    timeout: float = COMMAND_TIMEOUT_S,
    check: bool = True,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``args``; a non-zero exit (with ``check``) or a timeout fails with the output and the
    tail of the daemon's log."""
    try:
        done = subprocess.run(
            args,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise AssertionError(
            f"{' '.join(args)} did not finish within {timeout}s\n"
            f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}{_log_tail(daemon)}"
        ) from None
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {done.returncode}\n"
            f"stdout: {done.stdout}\nstderr: {done.stderr}{_log_tail(daemon)}"
        )
    return done


def last_json_line(out: str) -> dict[str, Any]:
    """The last line of ``out`` that is a JSON object (a JS suite's report)."""
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    assert lines, f"no JSON line in the output:\n{out}"
    parsed: dict[str, Any] = json.loads(lines[-1])
    return parsed


def _log_tail(daemon: Daemon | None) -> str:
    return "" if daemon is None else f"\ndaemon log (tail):\n{daemon.log()[-4000:]}"
