"""Specification of the verifier's checker on malformed streams: a message missing a field or
carrying a field of the wrong shape is a machine-readable verdict (``stream.malformed``), not a
crash."""

from __future__ import annotations

from typing import Any

import pytest

from verifier.checkpoint import Boundary
from verifier.execution import Executor
from verifier.replay import Replay
from verifier.store import MemoryStore
from verifier.verdict import Mismatch


def checker() -> Replay:
    return Replay(Executor(MemoryStore(), 1337), Boundary())


@pytest.mark.parametrize(
    "genesis",
    [
        {"hash": "0x00", "alloc": []},  # no header
        {"hash": "0x00", "header": "0xc0", "alloc": [], "generatedAccounts": {"count": "ten"}},
        {"hash": "0x00", "header": "0xc0", "alloc": [{"address": "0x11"}]},
    ],
)
def test_a_malformed_genesis_is_a_verdict(genesis: dict[str, Any]) -> None:
    with pytest.raises(Mismatch) as info:
        checker().check({"version": 1, "seq": 0, "type": "genesis", "genesis": genesis})
    verdict = info.value.verdict.as_dict()
    assert verdict["field"] == "stream.malformed"
    assert verdict["seq"] == 0


def test_a_mini_block_without_its_body_is_a_verdict() -> None:
    c = checker()
    with pytest.raises(Mismatch) as info:
        c.check({"version": 1, "seq": 0, "type": "miniBlock"})
    assert info.value.verdict.as_dict()["field"] == "stream.malformed"
