"""Specification of the connection limits every port shares (sequencer.serving): the caps are
kept within the process's file-descriptor limit, which start-up raises to its hard maximum."""

from __future__ import annotations

import resource
from collections.abc import Iterator

import pytest

from sequencer.config import ConnectionLimits
from sequencer.serving import FD_RESERVE, fitted, raise_fd_limit


@pytest.fixture
def low_fd_limit() -> Iterator[int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        yield 1024
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_caps_are_lowered_to_fit_the_fd_limit_across_ports(low_fd_limit: int) -> None:
    limits = fitted(ConnectionLimits(max_connections=2_000, max_per_ip=500), ports=4)
    assert limits.max_connections == (low_fd_limit - FD_RESERVE) // 4
    assert limits.max_per_ip == limits.max_connections
    assert limits.idle_timeout_s == ConnectionLimits().idle_timeout_s


def test_caps_within_the_limit_are_kept(low_fd_limit: int) -> None:
    small = ConnectionLimits(max_connections=100, max_per_ip=10)
    assert fitted(small, ports=2) == small


def test_start_up_raises_the_soft_fd_limit_to_the_hard_one(low_fd_limit: int) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    raised = raise_fd_limit()
    assert raised == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert raised == hard or hard == resource.RLIM_INFINITY
