"""Fixtures of the client suites: a daemon with the devnet's own 1 s EVM blocks, per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.daemon import Daemon, start_daemon


@pytest.fixture(scope="module")
def daemon_1s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One devnet daemon (1 s EVM blocks, as a user runs it) shared by a test module."""
    d = start_daemon(tmp_path_factory.mktemp("node") / "data")
    try:
        yield d
        code = d.stop()
        assert code == 0, f"daemon exited with {code}\n{d.log()}"
    finally:
        d.kill()
