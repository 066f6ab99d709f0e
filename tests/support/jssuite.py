"""Running a JavaScript client suite (``tests/js/*_client.mjs``) once and reading its checks."""

from __future__ import annotations

import json
from typing import Any

from tests.support.cli import last_json_line, run_tool
from tests.support.daemon import Daemon
from tests.support.tools import JS_DIR, node_bin

SUITE_TIMEOUT_S = 240.0


def run_js_suite(script: str, daemon: Daemon, *args: str) -> dict[str, Any]:
    """Run ``tests/js/SCRIPT`` against ``daemon``: the report's ``checks`` (name -> result)."""
    done = run_tool(
        [node_bin(), str(JS_DIR / script), daemon.url, *args],
        cwd=JS_DIR,
        daemon=daemon,
        timeout=SUITE_TIMEOUT_S,
        check=False,
    )
    report = last_json_line(done.stdout + "\n")
    report["stderr"] = done.stderr
    return report


def check(report: dict[str, Any], name: str) -> dict[str, Any]:
    """The check ``name`` of ``report``, failing with its error when it failed."""
    checks: dict[str, Any] = report["checks"]
    assert name in checks, f"the suite ran no check {name!r}: {sorted(checks)}\n{report['stderr']}"
    result: dict[str, Any] = checks[name]
    assert result["ok"], f"{name}: {result['error']}\n{result.get('stack', '')}\n{json.dumps(result)[:2000]}"
    return result
