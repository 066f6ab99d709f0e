"""Specification of the execution engine's own parts: the shared jump-destination analysis
(calls to the same code share which positions are valid JUMPDESTs, and the answers stay those
of the EVM) and the receipt encoding and bloom (byte-for-byte py-evm's)."""

from __future__ import annotations

from typing import Any

import pytest
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer.bloom import logs_bloom
from sequencer.execution.engine import encode_receipt
from sequencer.execution.simulation import CallRequest, run_call
from sequencer.state import WorldState
from sequencer.types import AccountDiff, BlockEnv, Log, StateDiff

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


# -- receipts: our encoding and bloom are py-evm's -----------------------------------------------

log_entries = st.lists(
    st.tuples(
        st.binary(min_size=20, max_size=20),
        st.lists(st.integers(min_value=0, max_value=2**256 - 1), max_size=4),
        st.binary(max_size=100),
    ),
    max_size=4,
)


@settings(max_examples=100, deadline=None)
@given(
    tx_type=st.sampled_from([0, 1, 2]),
    success=st.booleans(),
    cumulative=st.integers(min_value=21_000, max_value=2**63),
    entries=log_entries,
)
def test_receipt_encoding_and_bloom_equal_py_evm(
    tx_type: int, success: bool, cumulative: int, entries: list[tuple[bytes, list[int], bytes]]
) -> None:
    from eth.rlp.logs import Log as EvmLog
    from eth.rlp.receipts import Receipt as EvmReceipt
    from eth.vm.forks.prague.receipts import PragueTypedReceipt

    reference: Any = EvmReceipt(
        state_root=b"\x01" if success else b"",
        gas_used=cumulative,
        logs=[EvmLog(address, tuple(topics), data) for address, topics, data in entries],
    )
    if tx_type:
        reference = PragueTypedReceipt(tx_type, reference)
    logs = [
        Log(address, tuple(t.to_bytes(32, "big") for t in topics), data) for address, topics, data in entries
    ]
    bloom = logs_bloom(logs)
    assert bloom == reference.bloom.to_bytes(256, "big")
    assert encode_receipt(tx_type, int(success), cumulative, bloom, logs) == reference.encode()
