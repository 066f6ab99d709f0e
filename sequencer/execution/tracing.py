"""Transaction tracing (py-evm adapter): geth's struct logger, ``callTracer`` and ``prestateTracer``.

py-evm has no tracer hooks, so tracing runs transactions on a state whose computation class
(:class:`TracingComputation`) brackets every message (``apply_message`` /
``apply_create_message``: a call frame opens and closes) and runs its own copy of py-evm's
opcode loop, which tells the active tracer about every step before and after it executes.
Nothing of this runs on the block path: the producer's state keeps the plain computation class,
and tracing happens in the call workers (``rpc/calljobs.py``), under their deadline and heap cap.

The tracers produce geth's JSON shapes (``eth/tracers/logger`` and ``eth/tracers/native``):

* the struct logger (no ``tracer``): ``{gas, failed, returnValue, structLogs: [{pc, op, gas,
  gasCost, depth, stack?, memory?, storage?, returnData?, refund?, error?}]}`` with the options
  ``disableStack``, ``disableStorage``, ``enableMemory``, ``enableReturnData``, ``limit``;
* ``callTracer``: the call tree, ``{type, from, to, value?, gas, gasUsed, input, output?,
  error?, revertReason?, calls?, logs?}``, options ``onlyTopCall`` and ``withLog``;
* ``prestateTracer``: the accounts (and slots) the transaction touched as they were before it,
  or with ``diffMode`` ``{pre, post}`` of what it changed.

An answer larger than its byte budget (the RPC's ``rpc.max_response_bytes``) stops the trace
with :class:`TraceTooLarge` instead of growing without bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from eth._utils.address import generate_contract_address
from eth.abc import ComputationAPI, StateAPI
from eth.exceptions import Revert, VMError
from eth.vm.forks.prague import PragueVM
from eth.vm.spoof import SpoofTransaction
from eth_abi.abi import decode as abi_decode
from eth_typing import Address

from sequencer.bridge.deposits import DEPOSIT_TX_TYPE, decode_deposit
from sequencer.execution.engine import DepositExecutor, execution_context, run_deposit
from sequencer.execution.flatdb import FlatAccountDB
from sequencer.execution.simulation import CallRequest, vm_error_text
from sequencer.execution.tracehooks import (
    CALL_OPS,
    CREATE_OPS,
    Frame,
    TraceConfig,
    Tracer,
    TracingState,
    activate,
    stack_int,
    stack_of,
)
from sequencer.execution.transactions import decode_raw
from sequencer.state import StateReader
from sequencer.types import BlockEnv, SignedTx

ERROR_SELECTOR = bytes.fromhex("08c379a0")
SLOAD, SSTORE, SELFDESTRUCT = 0x54, 0x55, 0xFF
LOG_OPS = range(0xA0, 0xA5)
ADDRESS_ARG_OPS = {0x31: 1, 0x3B: 1, 0x3C: 1, 0x3F: 1, 0xFF: 1, 0xF1: 2, 0xF2: 2, 0xF4: 2, 0xFA: 2}
"""Opcodes that read another account, and the stack position (from the top) of its address."""
TRACERS = ("callTracer", "prestateTracer")
STEP_BYTES = 120
"""About what one struct-log entry costs in JSON besides its stack, memory and storage."""


@dataclass(frozen=True, slots=True)
class TracedTx:
    """A transaction to re-execute: its raw bytes and its sender (from its receipt)."""

    raw: bytes
    sender: bytes


def _hex(value: int) -> str:
    return hex(value)


def _data(value: bytes) -> str:
    return "0x" + value.hex()


def _word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


class StructLogger(Tracer):
    """geth's default tracer: one entry per opcode."""

    def __init__(self, config: TraceConfig, state: StateAPI) -> None:
        super().__init__(config, state)
        self.logs: list[dict[str, Any]] = []
        self.storage: dict[bytes, dict[int, int]] = {}
        self._pending: tuple[dict[str, Any], int, int, int] | None = None

    def before_step(self, computation: ComputationAPI, pc: int, opcode: int, mnemonic: str) -> None:
        """Record the step as it starts (gas, stack, memory), its cost once it ran."""
        super().before_step(computation, pc, opcode, mnemonic)
        if self.config.limit and len(self.logs) >= self.config.limit:
            self._pending = None
            return
        config = self.config
        gas = computation.get_gas_remaining()
        entry: dict[str, Any] = {
            "pc": pc,
            "op": mnemonic,
            "gas": gas,
            "gasCost": 0,
            "depth": len(self.frames),
        }
        size = STEP_BYTES
        stack = stack_of(computation)
        if not config.disable_stack:
            entry["stack"] = [_hex(v) for v in stack]
            size += 20 * len(stack)
        if config.enable_memory:
            memory = bytes(computation._memory._bytes)  # type: ignore[attr-defined]
            # geth's words: 64 hex digits without a prefix (stack entries are 0x quantities)
            entry["memory"] = [memory[i : i + 32].hex() for i in range(0, len(memory), 32)]
            size += 2 * len(memory) + 5 * (len(memory) // 32)
        if config.enable_return_data:
            entry["returnData"] = _data(bytes(computation.return_data))
            size += 2 * len(computation.return_data)
        refund = computation.get_gas_meter().gas_refunded
        if refund:
            entry["refund"] = refund
        if not config.disable_storage and opcode in (SLOAD, SSTORE) and stack:
            address = bytes(computation.msg.storage_address)
            slots = self.storage.setdefault(address, {})
            slot = stack[-1]
            if opcode == SLOAD:
                slots[slot] = self.state.get_storage(computation.msg.storage_address, slot)
            elif len(stack) >= 2:
                slots[slot] = stack[-2]
            entry["storage"] = {f"{k:064x}": f"{v:064x}" for k, v in slots.items()}
            size += 140 * len(slots)
        self.charge(size)
        self.logs.append(entry)
        self._pending = (entry, gas, opcode, len(self.frames))

    def after_step(self, computation: ComputationAPI, error: VMError | None) -> None:
        """The step's gas cost (a call's includes the gas it passed on, as geth counts it)."""
        pending = self._pending
        if pending is None:
            return
        entry, gas, opcode, _depth = pending
        cost = gas - computation.get_gas_remaining()
        child = self.last_child
        if (
            child is not None
            and child.depth == len(self.frames)
            and (opcode in CALL_OPS or opcode in CREATE_OPS)
        ):
            cost += child.gas - child.gas_used
            if opcode in CREATE_OPS:
                cost -= child.gas
        entry["gasCost"] = max(cost, 0)
        if error is not None:
            entry["error"] = "execution reverted" if isinstance(error, Revert) else vm_error_text(error)
        self._pending = None
        self.last_child = None

    def result(self, computation: ComputationAPI, gas_used: int, gas_limit: int) -> Any:
        """``{gas, failed, returnValue, structLogs}``."""
        output = (
            bytes(computation.output)
            if computation.is_success or isinstance(computation.error, Revert)
            else b""
        )
        return {
            "gas": gas_used,
            "failed": computation.is_error,
            "returnValue": _data(output),
            "structLogs": self.logs,
        }


def revert_reason(output: bytes) -> str | None:
    """The reason string of an ``Error(string)`` revert (geth's ``revertReason``)."""
    if output[:4] != ERROR_SELECTOR:
        return None
    try:
        (reason,) = abi_decode(["string"], output[4:])
    except Exception:
        return None
    return str(reason)


class CallTracer(Tracer):
    """geth's ``callTracer``: the tree of calls."""

    def enter(self, frame: Frame, state: StateAPI) -> None:
        """Count the frame against the budget."""
        if self.config.only_top_call and self.frames:
            return
        self.charge(200 + 2 * len(frame.input))

    def exit(self, frame: Frame, computation: ComputationAPI, state: StateAPI) -> None:
        """Logs of a failed frame are dropped, with its sub-calls' (as geth)."""
        self.charge(2 * len(frame.output))
        if frame.reverted:
            _drop_logs(frame)

    def before_step(self, computation: ComputationAPI, pc: int, opcode: int, mnemonic: str) -> None:
        """A SELFDESTRUCT is a frame of its own."""
        super().before_step(computation, pc, opcode, mnemonic)
        if opcode == SELFDESTRUCT and self.frames:
            stack = stack_of(computation)
            if stack:
                contract = computation.msg.storage_address
                beneficiary = stack[-1].to_bytes(32, "big")[12:]
                balance = self.state.get_balance(contract)
                self.frames[-1].calls.append(
                    Frame(
                        "SELFDESTRUCT",
                        bytes(contract),
                        beneficiary,
                        balance,
                        0,
                        b"",
                        len(self.frames),
                        computation.msg,
                    )
                )

    def on_log(self, address: bytes, topics: tuple[int, ...], data: bytes) -> None:
        """Logs are kept with ``withLog`` only."""
        if self.config.with_log:
            self.charge(100 + 70 * len(topics) + 2 * len(data))
            super().on_log(address, topics, data)

    def result(self, computation: ComputationAPI, gas_used: int, gas_limit: int) -> Any:
        """The root frame with its gas limit and the transaction's gas used."""
        assert self.root is not None
        root = self.root
        root.gas, root.gas_used = gas_limit, gas_used
        return self._frame(root, top=True)

    def _frame(self, frame: Frame, top: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": frame.type,
            "from": _data(frame.sender),
            "gas": _hex(frame.gas),
            "gasUsed": _hex(frame.gas_used),
        }
        failed_create = frame.error is not None and frame.type in ("CREATE", "CREATE2")
        if not failed_create:
            out["to"] = _data(frame.to)
        out["input"] = _data(frame.input)
        if frame.output and (frame.error is None or frame.error == "execution reverted"):
            out["output"] = _data(frame.output)
        if frame.error is not None:
            out["error"] = frame.error
            reason = revert_reason(frame.output) if frame.error == "execution reverted" else None
            if reason is not None:
                out["revertReason"] = reason
        calls = [] if (self.config.only_top_call and top) else frame.calls
        if calls:
            out["calls"] = [self._frame(c) for c in calls]
        if self.config.with_log and frame.logs:
            out["logs"] = [
                {
                    "address": _data(address),
                    "topics": [_word(t) for t in topics],
                    "data": _data(data),
                    "position": _hex(position),
                }
                for address, topics, data, position in frame.logs
            ]
        if frame.value is not None:
            out["value"] = _hex(frame.value)
        return out


def _drop_logs(frame: Frame) -> None:
    frame.logs.clear()
    for call in frame.calls:
        _drop_logs(call)


@dataclass(slots=True)
class _Account:
    exists: bool
    balance: int
    nonce: int
    code: bytes
    storage: dict[int, int] = field(default_factory=dict)


class PrestateTracer(Tracer):
    """geth's ``prestateTracer``: what the transaction read and wrote, as it was before it (and
    after it, with ``diffMode``)."""

    def __init__(self, config: TraceConfig, state: StateAPI) -> None:
        super().__init__(config, state)
        self.pre: dict[bytes, _Account] = {}
        self.created: set[bytes] = set()
        self.deleted: set[bytes] = set()

    def look_up(self, address: bytes) -> None:
        """Remember an account as it is now (the first touch is before any change)."""
        if address in self.pre:
            return
        state, a = self.state, Address(address)
        db = cast(FlatAccountDB, state._account_db)  # type: ignore[attr-defined]
        self.pre[address] = _Account(
            db.account_exists(a), state.get_balance(a), state.get_nonce(a), bytes(state.get_code(a))
        )
        self.charge(150 + (0 if self.config.disable_code else 2 * len(self.pre[address].code)))

    def look_up_slot(self, address: bytes, slot: int) -> None:
        """Remember a slot as it was when the transaction started."""
        self.look_up(address)
        slots = self.pre[address].storage
        if slot not in slots:
            slots[slot] = self.state.get_storage(Address(address), slot, from_journal=False)
            self.charge(140)

    def enter(self, frame: Frame, state: StateAPI) -> None:
        """A created contract's address is touched when its frame opens."""
        if frame.type in ("CREATE", "CREATE2"):
            self.look_up(frame.to)
            self.created.add(frame.to)

    def before_step(self, computation: ComputationAPI, pc: int, opcode: int, mnemonic: str) -> None:
        """Accounts and slots touched by this opcode."""
        super().before_step(computation, pc, opcode, mnemonic)
        if opcode in (SLOAD, SSTORE):
            values = computation._stack.values  # type: ignore[attr-defined]
            if values:
                self.look_up_slot(bytes(computation.msg.storage_address), stack_int(values[-1]))
            return
        position = ADDRESS_ARG_OPS.get(opcode)
        if position is not None:
            values = computation._stack.values  # type: ignore[attr-defined]
            if len(values) >= position:
                self.look_up(stack_int(values[-position]).to_bytes(32, "big")[12:])
            if opcode == SELFDESTRUCT:
                self.deleted.add(bytes(computation.msg.storage_address))

    def result(self, computation: ComputationAPI, gas_used: int, gas_limit: int) -> Any:
        """``{address: account}``, or ``{pre, post}`` with ``diffMode``."""
        state = self.state
        # an account the transaction created, that did not exist before, has no pre-state
        new = {a for a in self.created if a in self.pre and not self.pre[a].exists}
        if not self.config.diff_mode:
            return {_data(a): self._account(acc) for a, acc in sorted(self.pre.items()) if a not in new}
        db = cast(FlatAccountDB, state._account_db)  # type: ignore[attr-defined]
        pre: dict[str, Any] = {}
        post: dict[str, Any] = {}
        for address, account in sorted(self.pre.items()):
            a = Address(address)
            if account.exists and not db.account_exists(a):  # gone: only its pre-state is shown
                pre[_data(address)] = self._account(account)
                continue
            balance, nonce, code = state.get_balance(a), state.get_nonce(a), bytes(state.get_code(a))
            changed: dict[str, Any] = {}
            if balance != account.balance:
                changed["balance"] = _hex(balance)
            if nonce != account.nonce:
                changed["nonce"] = nonce
            if code != account.code and not self.config.disable_code:
                changed["code"] = _data(code)
            slots_pre: dict[int, int] = {}
            slots_post: dict[int, int] = {}
            for slot, before in account.storage.items():
                after = state.get_storage(a, slot)
                if after != before:
                    if before:
                        slots_pre[slot] = before
                    if after:
                        slots_post[slot] = after
            if not (changed or slots_pre or slots_post):
                continue
            if address not in new:
                pre[_data(address)] = self._account(replace(account, storage=slots_pre))
            if slots_post and not self.config.disable_storage:
                changed["storage"] = {_word(k): _word(v) for k, v in sorted(slots_post.items())}
            post[_data(address)] = changed
        return {"post": post, "pre": pre}

    def _account(self, account: _Account) -> dict[str, Any]:
        out: dict[str, Any] = {"balance": _hex(account.balance)}
        if account.code and not self.config.disable_code:
            out["code"] = _data(account.code)
        if account.nonce:
            out["nonce"] = account.nonce
        storage = {k: v for k, v in account.storage.items() if v or not self.config.diff_mode}
        if storage and not self.config.disable_storage:
            out["storage"] = {_word(k): _word(v) for k, v in sorted(storage.items())}
        return out


def _make_tracer(config: TraceConfig, state: StateAPI) -> Tracer:
    if config.tracer is None:
        return StructLogger(config, state)
    if config.tracer == "callTracer":
        return CallTracer(config, state)
    return PrestateTracer(config, state)


# -- running ------------------------------------------------------------------------------------------
def engine_tx(tx: TracedTx) -> Any:
    """py-evm's form of an included transaction, its sender taken from its receipt (nothing is
    re-verified: it was checked when it was admitted)."""
    decoded = decode_raw(tx.raw)
    decoded.__dict__["sender"] = Address(tx.sender)
    return SpoofTransaction(decoded, validate=lambda: None)


class Tracing:
    """Transactions run in order on a throwaway overlay over ``world``, some of them traced."""

    def __init__(
        self, world: StateReader, env: BlockEnv, chain_id: int, prev_hashes: Sequence[bytes]
    ) -> None:
        self.env = env
        self.chain_id = chain_id
        self.state = TracingState(world, execution_context(env, chain_id, prev_hashes), b"")  # type: ignore[arg-type]

    def replay(self, tx: TracedTx) -> None:
        """Execute ``tx`` untraced (a transaction before the traced one)."""
        self.state.lock_changes()
        if tx.raw[0] == DEPOSIT_TX_TYPE:
            run_deposit(self.state, decode_deposit(tx.raw))
            return
        self.state.apply_transaction(engine_tx(tx))

    def trace(self, tx: TracedTx, config: TraceConfig) -> Any:
        """Execute ``tx`` traced with ``config``; its effects stay for the next one."""
        if tx.raw[0] == DEPOSIT_TX_TYPE:
            return self._trace_deposit(decode_deposit(tx.raw), config)
        unsigned = engine_tx(tx)
        return self._traced(unsigned, tx.sender, unsigned.to, unsigned.nonce, unsigned.gas, config)

    def trace_call(self, request: CallRequest, config: TraceConfig) -> Any:
        """A simulated call, traced (``debug_traceCall``)."""
        state = self.state
        nonce = state.get_nonce(Address(request.sender))
        builder: Any = PragueVM.get_transaction_builder()
        if request.max_priority_fee is None and not request.access_list:
            unsigned = builder.create_unsigned_transaction(
                nonce=nonce,
                gas_price=request.gas_price,
                gas=request.gas,
                to=Address(request.to or b""),
                value=request.value,
                data=request.data,
            )
        else:
            tip = request.max_priority_fee if request.max_priority_fee is not None else request.gas_price
            unsigned = builder.new_unsigned_dynamic_fee_transaction(
                self.chain_id,
                nonce,
                min(tip, request.gas_price),
                request.gas_price,
                request.gas,
                Address(request.to or b""),
                request.value,
                request.data,
                [(Address(a), list(slots)) for a, slots in request.access_list],
            )
        tx = SpoofTransaction(unsigned, from_=Address(request.sender))
        return self._traced(tx, request.sender, unsigned.to, nonce, request.gas, config)

    def _trace_deposit(self, tx: SignedTx, config: TraceConfig) -> Any:
        """A deposit, traced: its mint and nonce increment happen outside the trace (as in
        op-geth); one that failed before executing has an empty trace with its failure."""
        state = self.state
        nonce = state.get_nonce(Address(tx.sender))
        tracer = self._tracer(config, tx.sender, tx.to or b"", nonce)

        def execute(engine: Any) -> ComputationAPI:
            with activate(tracer):
                return DepositExecutor(state)(engine)

        run = run_deposit(state, tx, execute)
        if run.computation is not None or isinstance(tracer, PrestateTracer):
            return tracer.result(run.computation, run.gas_used, tx.gas)  # type: ignore[arg-type]
        if isinstance(tracer, StructLogger):
            return {"gas": run.gas_used, "failed": True, "returnValue": "0x", "structLogs": []}
        out: dict[str, Any] = {
            "type": "CREATE" if tx.to is None else "CALL",
            "from": _data(tx.sender),
            "gas": _hex(tx.gas),
            "gasUsed": _hex(run.gas_used),
        }
        if tx.to is not None:
            out["to"] = _data(tx.to)
        out.update(input=_data(tx.data), error=f"failed deposit: {run.failure}", value=_hex(tx.value))
        return out

    def _tracer(self, config: TraceConfig, sender: bytes, to: bytes, nonce: int) -> Tracer:
        state = self.state
        state.lock_changes()
        tracer = _make_tracer(config, state)
        if isinstance(tracer, PrestateTracer):
            tracer.look_up(sender)
            tracer.look_up(self.env.coinbase)
            if to:
                tracer.look_up(bytes(to))
            else:
                created = bytes(generate_contract_address(Address(sender), nonce))
                tracer.look_up(created)
                tracer.created.add(created)
        return tracer

    def _traced(self, tx: Any, sender: bytes, to: bytes, nonce: int, gas: int, config: TraceConfig) -> Any:
        state = self.state
        tracer = self._tracer(config, sender, to, nonce)
        with activate(tracer):
            computation = state.apply_transaction(tx)
        gas_used = PragueVM.finalize_gas_used(tx, computation)
        return tracer.result(computation, gas_used, gas)
