"""Specification of the execution engine's shared jump-destination analysis: calls to the same
code share which positions are valid JUMPDESTs, and the answers stay those of the EVM."""

from __future__ import annotations

import pytest
from eth_hash.auto import keccak

from sequencer.execution.engine import CallRequest, run_call
from sequencer.execution.flatdb import WorldState
from sequencer.types import AccountDiff, BlockEnv, StateDiff

CONTRACT = b"\xc0" * 20
CALLER = b"\xca" * 20
# PUSH1 0, CALLDATALOAD, JUMP (to the position given as calldata); PUSH2 0x5b5b (two 0x5b
# bytes that are push data, not JUMPDESTs), POP, JUMPDEST at 8, STOP; padded past 64 bytes.
CODE = bytes.fromhex("600035" + "56" + "615b5b" + "50" + "5b" + "00") + b"\x00" * 80
ENV = BlockEnv(1, 1, b"\x00" * 32, 0, 30_000_000, b"\x00" * 20, b"\x00" * 32)


def world() -> WorldState:
    w = WorldState()
    w.apply_diff(
        StateDiff(
            (
                AccountDiff(CONTRACT, 1, 0, keccak(CODE), CODE, (), False),
                AccountDiff(CALLER, 0, 10**18, keccak(b""), None, (), False),
            )
        )
    )
    return w


def jump_to(w: WorldState, position: int) -> bool:
    request = CallRequest(CALLER, CONTRACT, 100_000, 0, 0, position.to_bytes(32, "big"))
    return run_call(w, ENV, 1337, [], request).success


@pytest.mark.parametrize("order", [(8, 5, 6, 8), (5, 8, 6, 5, 8), (6, 8, 5)])
def test_jumps_into_push_data_fail_and_jumpdests_succeed_in_any_order(order: tuple[int, ...]) -> None:
    w = world()
    for position in order:
        assert jump_to(w, position) is (position == 8), position


def test_a_jump_past_the_code_or_onto_a_non_jumpdest_fails() -> None:
    w = world()
    assert jump_to(w, 8)
    assert not jump_to(w, 7)  # POP
    assert not jump_to(w, len(CODE) + 5)
