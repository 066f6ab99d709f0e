"""Tracing hooks into py-evm (execution adapter): a computation class that reports every message
(a call frame opens and closes), every opcode step and every log to the active tracer.

py-evm has no tracer API: :class:`TracingComputation` brackets ``apply_message`` and
``apply_create_message`` (the frame closes after a created contract's code is deposited) and
runs its own copy of py-evm's opcode loop while a tracer is active (:func:`activate`); with none
it is py-evm's own. The tracers themselves are in ``tracing.py`` (and ``simulate_v1.py``'s
transfer log).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from eth.abc import ComputationAPI, MessageAPI, StateAPI, TransactionContextAPI
from eth.exceptions import Halt, Revert, VMError
from eth.vm.computation import NO_RESULT
from eth.vm.logic.invalid import InvalidOpcode
from eth_typing import Address

from sequencer.execution.engine import CachedAnalysisComputation, SequencerState
from sequencer.execution.simulation import vm_error_text

CALL_OPS = {0xF1: "CALL", 0xF2: "CALLCODE", 0xF4: "DELEGATECALL", 0xFA: "STATICCALL"}
CREATE_OPS = {0xF0: "CREATE", 0xF5: "CREATE2"}


class TraceTooLarge(Exception):
    """The trace grew past its byte budget."""


@dataclass(frozen=True, slots=True)
class TraceConfig:
    """What to trace with: ``tracer`` ``None`` is the struct logger; ``budget`` is the byte
    budget of the answer (0: none)."""

    tracer: str | None = None
    disable_stack: bool = False
    disable_storage: bool = False
    enable_memory: bool = False
    enable_return_data: bool = False
    limit: int = 0
    only_top_call: bool = False
    with_log: bool = False
    diff_mode: bool = False
    disable_code: bool = False
    budget: int = 0


# -- the hooks ------------------------------------------------------------------------------------
_ACTIVE: ContextVar[Tracer | None] = ContextVar("sequencer_tracer", default=None)


def stack_int(value: int | bytes) -> int:
    """A stack item as an int (py-evm keeps some as bytes)."""
    return value if isinstance(value, int) else int.from_bytes(value, "big")


def stack_of(computation: ComputationAPI) -> list[int]:
    """The computation's stack, bottom first."""
    return [stack_int(v) for v in computation._stack.values]  # type: ignore[attr-defined]


class TracingComputation(CachedAnalysisComputation):
    """Prague's computation that reports messages, steps and logs to the active tracer."""

    @classmethod
    def apply_message(
        cls,
        state: StateAPI,
        message: MessageAPI,
        transaction_context: TransactionContextAPI,
        parent_computation: ComputationAPI | None = None,
    ) -> ComputationAPI:
        """A message call: a frame opens before it and closes after it."""
        tracer = _ACTIVE.get()
        if tracer is None or id(message) in tracer.bracketed:
            return super().apply_message(state, message, transaction_context, parent_computation)
        return tracer.bracket(
            message,
            parent_computation,
            state,
            lambda: super(TracingComputation, cls).apply_message(
                state, message, transaction_context, parent_computation
            ),
        )

    @classmethod
    def apply_create_message(
        cls,
        state: StateAPI,
        message: MessageAPI,
        transaction_context: TransactionContextAPI,
        parent_computation: ComputationAPI | None = None,
    ) -> ComputationAPI:
        """A contract creation: the frame closes after the code is deposited."""
        tracer = _ACTIVE.get()
        if tracer is None:
            return super().apply_create_message(state, message, transaction_context, parent_computation)
        return tracer.bracket(
            message,
            parent_computation,
            state,
            lambda: super(TracingComputation, cls).apply_create_message(
                state, message, transaction_context, parent_computation
            ),
        )

    @classmethod
    def apply_computation(
        cls,
        state: StateAPI,
        message: MessageAPI,
        transaction_context: TransactionContextAPI,
        parent_computation: ComputationAPI | None = None,
    ) -> ComputationAPI:
        """py-evm's opcode loop, telling the tracer about each step."""
        tracer = _ACTIVE.get()
        if tracer is None:
            return super().apply_computation(state, message, transaction_context, parent_computation)
        with cls(state, message, transaction_context) as computation:
            if computation.is_origin_computation:
                computation.contracts_created = []
                if message.is_create:
                    cls.consume_initcode_gas_cost(computation)
            if parent_computation is not None:
                computation.contracts_created = parent_computation.contracts_created
            if message.is_create:
                computation.contracts_created.append(message.storage_address)
            precompile = computation.precompiles.get(message.code_address, NO_RESULT)
            if precompile is not NO_RESULT:
                if not message.is_delegation:
                    precompile(computation)
                return computation
            lookup = computation.opcodes
            code = computation.code
            if not len(code):  # no code: nothing runs (geth's interpreter is not entered)
                return computation
            last = 0  # where the next opcode is read from; the implicit STOP past the end reads nothing
            for opcode in code:
                pc = code.program_counter - 1 if code.program_counter == last + 1 else code.program_counter
                opcode_fn = lookup.get(opcode) or InvalidOpcode(opcode)
                tracer.before_step(computation, pc, opcode, opcode_fn.mnemonic)
                try:
                    opcode_fn(computation=computation)
                except Halt:
                    tracer.after_step(computation, None)
                    break
                except VMError as exc:
                    tracer.after_step(computation, exc)
                    raise
                tracer.after_step(computation, None)
                last = code.program_counter
        return computation

    def add_log_entry(self, account: Address, topics: tuple[int, ...], data: bytes) -> None:
        """A LOG: the frame that emitted it records it (``withLog``)."""
        super().add_log_entry(account, topics, data)
        tracer = _ACTIVE.get()
        if tracer is not None:
            tracer.on_log(bytes(account), topics, bytes(data))


class TracingState(SequencerState):
    """The flat state with the tracing computation."""

    computation_class = TracingComputation


@contextmanager
def activate(tracer: Tracer) -> Iterator[None]:
    """``tracer`` hears every message, step and log while the block runs."""
    token = _ACTIVE.set(tracer)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


# -- frames and tracers ---------------------------------------------------------------------------
@dataclass(slots=True)
class Frame:
    """One call frame as a tracer sees it (geth's ``callFrame``)."""

    type: str
    sender: bytes
    to: bytes
    value: int | None
    gas: int
    input: bytes
    depth: int
    message: MessageAPI
    gas_used: int = 0
    output: bytes = b""
    error: str | None = None
    reverted: bool = False
    calls: list[Frame] = field(default_factory=list)
    logs: list[tuple[bytes, tuple[int, ...], bytes, int]] = field(default_factory=list)


class Tracer:
    """What every tracer shares: the frame stack and the current step."""

    def __init__(self, config: TraceConfig, state: StateAPI) -> None:
        self.config = config
        self.state = state
        self.bracketed: set[int] = set()
        self.frames: list[Frame] = []
        self.root: Frame | None = None
        self.op_at: dict[int, int] = {}  # depth -> the opcode being executed there
        self.last_child: Frame | None = None
        self.spent = 0

    def charge(self, size: int) -> None:
        """Count ``size`` answer bytes against the budget."""
        self.spent += size
        if self.config.budget and self.spent > self.config.budget:
            raise TraceTooLarge(f"the trace is larger than {self.config.budget} bytes")

    def bracket(
        self,
        message: MessageAPI,
        parent: ComputationAPI | None,
        state: StateAPI,
        run: Callable[[], ComputationAPI],
    ) -> ComputationAPI:
        """Open a frame for ``message``, run it, and close the frame."""
        self.bracketed.add(id(message))
        depth = len(self.frames)
        if parent is None:
            kind = "CREATE" if message.is_create else "CALL"
        else:
            op = self.op_at.get(depth - 1, 0xF1)
            kind = CREATE_OPS.get(op) or CALL_OPS.get(op, "CALL")
        sender = bytes(parent.msg.storage_address) if parent is not None else bytes(message.sender)
        to = message.code_address if kind in ("DELEGATECALL", "CALLCODE") else message.storage_address
        value = None if kind in ("STATICCALL", "DELEGATECALL") else message.value
        frame = Frame(
            kind,
            sender,
            bytes(to),
            value,
            message.gas,
            bytes(message.code if message.is_create else message.data),
            depth,
            message,
        )
        self.enter(frame, state)
        if self.frames:
            self.frames[-1].calls.append(frame)
        else:
            self.root = frame
        self.frames.append(frame)
        try:
            computation = run()
        except VMError as exc:  # refused before it ran (depth, balance)
            frame.error = vm_error_text(exc)
            self.frames.pop()
            self.bracketed.discard(id(message))
            raise
        frame.gas_used = message.gas - computation.get_gas_remaining()
        if computation.is_error:
            reverted = isinstance(computation.error, Revert)
            frame.reverted = True
            frame.error = "execution reverted" if reverted else vm_error_text(computation.error)
            frame.output = bytes(computation.output) if reverted else b""
        else:
            frame.output = bytes(computation.output)
        self.frames.pop()
        self.bracketed.discard(id(message))
        self.last_child = frame
        self.exit(frame, computation, state)
        return computation

    def enter(self, frame: Frame, state: StateAPI) -> None:
        """A frame opened."""

    def exit(self, frame: Frame, computation: ComputationAPI, state: StateAPI) -> None:
        """A frame closed."""

    def before_step(self, computation: ComputationAPI, pc: int, opcode: int, mnemonic: str) -> None:
        """An opcode is about to run."""
        self.op_at[len(self.frames) - 1] = opcode

    def after_step(self, computation: ComputationAPI, error: VMError | None) -> None:
        """The opcode ran (``error``: it failed)."""

    def on_log(self, address: bytes, topics: tuple[int, ...], data: bytes) -> None:
        """A LOG opcode emitted a log in the current frame."""
        if self.frames:
            frame = self.frames[-1]
            frame.logs.append((address, topics, data, len(frame.calls)))

    def result(self, computation: ComputationAPI, gas_used: int, gas_limit: int) -> Any:
        """The tracer's answer once the transaction ran."""
        raise NotImplementedError
