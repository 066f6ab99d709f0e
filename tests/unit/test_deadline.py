"""Specification of the per-transaction time budget (sequencer.execution.deadline and
BlockExecutor.apply):

* a transaction running past its budget is interrupted wherever py-evm is and raises
  ExecutionTimeExceeded, naming the config key;
* the abort leaves no trace: no state change in the overlay (balance, nonce, storage, value
  sent), no gas counted, no transient storage, and the next transaction runs as if it had never
  been tried;
* a budget is a no-op off the main thread, and a timer that fires after the block is harmless.
"""

from __future__ import annotations

import gc
import signal
import threading
import time

import pytest
from eth_hash.auto import keccak

from sequencer.errors import ExecutionTimeExceeded
from sequencer.execution.deadline import DeadlineExceeded, time_limit
from sequencer.execution.engine import BlockExecutor
from sequencer.execution.transactions import decode_transaction
from sequencer.state import WorldState
from sequencer.types import AccountDiff, BlockEnv, StateDiff
from tests.support.attack import CHAIN_ID, LOOP_RUNTIME, address, key, sign

ENV = BlockEnv(1, 1, b"\x00" * 32, 10**9, 30_000_000, b"\x00" * 20, b"\x00" * 32)
LOOP = b"\x10" * 20
# TSTORE(0, 1), then call LOOP (which loops forever); the transient slot must not survive
TSTORE_THEN_CALL = bytes.fromhex("600160005d" + "6000600060006000600073" + LOOP.hex() + "5af1")
CALLER = b"\x11" * 20
# TLOAD(0), SSTORE(0, it): records what transient slot 0 held
TLOAD_SSTORE = bytes.fromhex("60005c600055")
READER = b"\x12" * 20
SENDER = key(0)


def world() -> WorldState:
    w = WorldState()
    accounts = [
        AccountDiff(address(SENDER), 0, 10**24, keccak(b""), None, (), False),
        AccountDiff(LOOP, 1, 0, keccak(LOOP_RUNTIME), LOOP_RUNTIME, (), False),
        AccountDiff(CALLER, 1, 0, keccak(TSTORE_THEN_CALL), TSTORE_THEN_CALL, (), False),
        AccountDiff(READER, 1, 0, keccak(TLOAD_SSTORE), TLOAD_SSTORE, (), False),
    ]
    w.apply_diff(StateDiff(tuple(sorted(accounts, key=lambda a: a.address))))
    return w


def tx(nonce: int, to: bytes, gas: int = 16_000_000, value: int = 0) -> object:
    return decode_transaction(sign(SENDER, nonce, to, value=value, gas=gas), CHAIN_ID, False)


def test_a_transaction_past_its_budget_is_aborted_and_leaves_no_trace() -> None:
    w = world()
    executor = BlockExecutor(w, ENV, CHAIN_ID, [], tx_time_budget_s=0.05)
    started = time.perf_counter()
    with pytest.raises(ExecutionTimeExceeded) as info:
        executor.apply(tx(0, LOOP, value=777))  # type: ignore[arg-type]
    assert 0.05 <= time.perf_counter() - started < 1
    assert info.value.message == (
        "execution time budget exceeded: aborted after 50 ms (execution.tx_time_budget_ms)"
    )
    assert executor.gas_used == 0
    assert executor.take_diff().accounts == (), "the overlay holds nothing of it"
    # the same nonce runs next, exactly as on a fresh executor
    outcome = executor.apply(tx(0, READER, gas=100_000))  # type: ignore[arg-type]
    fresh = BlockExecutor(world(), ENV, CHAIN_ID, []).apply(tx(0, READER, gas=100_000))  # type: ignore[arg-type]
    assert (outcome.status, outcome.gas_used, outcome.encoded_receipt) == (
        fresh.status,
        fresh.gas_used,
        fresh.encoded_receipt,
    )


def test_transient_storage_of_an_aborted_transaction_is_gone() -> None:
    executor = BlockExecutor(world(), ENV, CHAIN_ID, [], tx_time_budget_s=0.05)
    with pytest.raises(ExecutionTimeExceeded):
        executor.apply(tx(0, CALLER))  # type: ignore[arg-type]
    outcome = executor.apply(tx(0, READER, gas=100_000))  # type: ignore[arg-type]
    assert outcome.status == 1
    diff = {a.address: a for a in executor.take_diff().accounts}
    assert READER not in diff or dict(diff[READER].storage).get(0, 0) == 0, "TLOAD saw the aborted TSTORE"


def test_without_a_budget_a_transaction_runs_until_its_gas_is_spent() -> None:
    executor = BlockExecutor(world(), ENV, CHAIN_ID, [])
    outcome = executor.apply(tx(0, LOOP, gas=200_000))  # type: ignore[arg-type]
    assert outcome.status == 0 and outcome.gas_used == 200_000  # out of gas, in full


def test_whoever_used_the_alarm_before_gets_it_back() -> None:
    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda signum, _frame: fired.append(signum))
    try:
        signal.setitimer(signal.ITIMER_REAL, 5.0)
        with pytest.raises(DeadlineExceeded), time_limit(0.01):
            while True:
                pass
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 4.0 < left <= 5.0, "the outer timer is re-armed with what was left"
        with time_limit(0.2):
            pass
        signal.setitimer(signal.ITIMER_REAL, 0.001)
        deadline = time.monotonic() + 2
        while not fired and time.monotonic() < deadline:
            time.sleep(0.001)
        assert fired == [signal.SIGALRM], "the outer handler is back"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_budget_is_a_no_op_off_the_main_thread() -> None:
    outcome: list[str] = []

    def run() -> None:
        with time_limit(0.01):
            time.sleep(0.05)
        outcome.append("finished")

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(5)
    assert outcome == ["finished"]


def test_no_garbage_collection_pauses_a_budgeted_block() -> None:
    """A collection of a large heap can take longer than a transaction's budget: it waits."""
    assert gc.isenabled()
    with time_limit(1.0):
        assert not gc.isenabled(), "collections wait while the budget runs"
    assert gc.isenabled(), "and run again after it"
    gc.disable()
    try:
        with time_limit(1.0):
            pass
        assert not gc.isenabled(), "whoever had turned collection off keeps it off"
    finally:
        gc.enable()
