"""Simulated calls through py-evm: ``eth_call``, ``eth_estimateGas``, ``eth_createAccessList``,
``eth_callMany`` (py-evm adapter).

A :class:`Simulation` runs calls on a throwaway overlay over a state (the live one, a historical
view, or one with overrides); calls of one simulation see each other's effects, in order. As
in geth, a call without a gas price runs with a zero base fee, so it needs no funds for gas.
Results are data (:class:`CallResult`); :func:`call` and :func:`estimate_gas` turn failures into
the domain's :class:`~sequencer.errors.ExecutionReverted` / :class:`~sequencer.errors.CallFailed`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from eth.exceptions import (
    ContractCreationCollision,
    InvalidInstruction,
    OutOfGas,
    Revert,
    StackDepthLimit,
    WriteProtection,
)
from eth.exceptions import (
    InsufficientFunds as EvmInsufficientFunds,
)
from eth.vm.forks.prague import PragueVM
from eth.vm.spoof import SpoofTransaction
from eth_abi.abi import decode as abi_decode
from eth_typing import Address
from eth_utils.exceptions import ValidationError

from sequencer.errors import CallFailed, ExecutionReverted
from sequencer.execution.engine import SequencerState, execution_context
from sequencer.execution.flatdb import FlatAccountDB
from sequencer.rules import data_floor_gas
from sequencer.state import StateReader
from sequencer.types import AccessList, BlockEnv

_BUILDER: Any = PragueVM.get_transaction_builder()
ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)
PRECOMPILES = frozenset((i).to_bytes(20, "big") for i in range(1, 0x12))
MAX_ACCESS_LIST_ROUNDS = 8
ESTIMATE_ERROR_RATIO_DENOMINATOR = 67
"""An estimate stops searching within ~1.5% above the smallest limit that works (geth's
``estimateGasErrorRatio``): a few executions instead of a dozen."""


@dataclass(frozen=True, slots=True)
class CallRequest:
    """A call to simulate.

    Fees: ``max_priority_fee`` ``None`` is a legacy call priced at ``gas_price``; otherwise an
    EIP-1559 call with fee cap ``gas_price``. A ``gas_price`` of 0 (no price given) runs the call
    with a zero base fee. ``gas`` 0 means "up to the block's limit" (the caller fills it in).
    """

    sender: bytes
    to: bytes | None
    gas: int
    gas_price: int
    value: int
    data: bytes
    max_priority_fee: int | None = None
    access_list: AccessList = ()

    @property
    def priced(self) -> bool:
        """Whether the call names a price (else it runs with a zero base fee)."""
        return self.gas_price != 0

    def with_gas(self, gas: int) -> CallRequest:
        """The same call with another gas limit."""
        return replace(self, gas=gas)


@dataclass(frozen=True, slots=True)
class CallResult:
    """What a simulated call did: success and its output, or the failure (a revert's output).

    ``accessed``: the addresses and storage slots it touched (for access lists), when asked for.
    """

    success: bool
    output: bytes
    gas_used: int
    error: str | None
    reverted: bool = False
    accessed: AccessList = ()


class Simulation:
    """Calls run in order on one throwaway overlay over ``world`` in environment ``env``."""

    def __init__(
        self,
        world: StateReader,
        env: BlockEnv,
        chain_id: int,
        prev_hashes: Sequence[bytes],
        zero_base_fee: bool,
    ) -> None:
        if zero_base_fee:
            env = replace(env, base_fee=0)
        self.env = env
        self.chain_id = chain_id
        self._world = world
        self._prev_hashes = prev_hashes
        self._zero_base_fee = zero_base_fee
        self._state = SequencerState(world, execution_context(env, chain_id, prev_hashes), b"")  # type: ignore[arg-type]
        self._db: FlatAccountDB = self._state._account_db  # type: ignore[assignment]

    def set_env(self, env: BlockEnv) -> None:
        """Run the following calls in ``env`` (their predecessors' effects are kept)."""
        if self._zero_base_fee:
            env = replace(env, base_fee=0)
        self.env = env
        state = SequencerState(self._world, execution_context(env, self.chain_id, self._prev_hashes), b"")  # type: ignore[arg-type]
        state._account_db = self._db  # the same overlay, in the new environment
        self._state = state

    def run(self, request: CallRequest, track_access: bool = False) -> CallResult:
        """Run one call; its effects stay for the next call of this simulation."""
        state, env = self._state, self.env
        sender = Address(request.sender)
        nonce = state.get_nonce(sender)
        to = Address(request.to or b"")
        unsigned: Any
        if request.max_priority_fee is None and not request.access_list:
            unsigned = _BUILDER.create_unsigned_transaction(
                nonce=nonce,
                gas_price=request.gas_price,
                gas=request.gas,
                to=to,
                value=request.value,
                data=request.data,
            )
            price = request.gas_price
        else:
            tip = request.max_priority_fee if request.max_priority_fee is not None else request.gas_price
            unsigned = _BUILDER.new_unsigned_dynamic_fee_transaction(
                self.chain_id,
                nonce,
                min(tip, request.gas_price),
                request.gas_price,
                request.gas,
                to,
                request.value,
                request.data,
                [(Address(a), list(slots)) for a, slots in request.access_list],
            )
            price = min(request.gas_price, min(tip, request.gas_price) + env.base_fee)
        if request.gas < max(unsigned.intrinsic_gas, data_floor_gas(request.data)):
            return CallResult(False, b"", request.gas, "intrinsic gas too low")
        if request.gas_price and request.gas_price < env.base_fee:
            return CallResult(False, b"", 0, "max fee per gas less than block base fee")
        if state.get_balance(sender) < request.gas * price + request.value:
            return CallResult(False, b"", 0, "insufficient funds for gas * price + value")
        tx: Any = SpoofTransaction(unsigned, from_=request.sender)
        state.lock_changes()
        try:
            computation = state.apply_transaction(tx)
        except ValidationError as exc:  # a py-evm rule the checks above do not know
            return CallResult(False, b"", 0, f"invalid call: {exc}")
        accessed = self._accessed(request) if track_access else ()
        gas_used = PragueVM.finalize_gas_used(tx, computation)
        if computation.is_error:
            error = computation.error
            if isinstance(error, Revert):
                output = bytes(computation.output)
                return CallResult(False, output, gas_used, revert_message(output), True, accessed)
            return CallResult(False, b"", gas_used, vm_error_text(error), False, accessed)
        return CallResult(True, bytes(computation.output), gas_used, None, False, accessed)

    def _accessed(self, request: CallRequest) -> AccessList:
        """What the call warmed (EIP-2929), minus what every call warms anyway (geth's rule:
        the sender, the recipient, precompiles, and the coinbase)."""
        excluded = {request.sender, self.env.coinbase, *PRECOMPILES}
        if request.to is not None:
            excluded.add(request.to)
        slots: dict[bytes, set[int]] = {}
        for item in self._db.warm_set():
            if isinstance(item, tuple):
                slots.setdefault(item[0], set()).add(item[1])
            elif item not in excluded:
                slots.setdefault(item, set())
        for address, wanted in request.access_list:
            slots.setdefault(address, set()).update(wanted)
        return tuple((address, tuple(sorted(slots[address]))) for address in sorted(slots))


def run_call(
    world: StateReader,
    env: BlockEnv,
    chain_id: int,
    prev_hashes: Sequence[bytes],
    request: CallRequest,
    track_access: bool = False,
) -> CallResult:
    """One call on a throwaway overlay over ``world``."""
    simulation = Simulation(world, env, chain_id, prev_hashes, zero_base_fee=not request.priced)
    return simulation.run(request, track_access)


def revert_message(output: bytes) -> str:
    """geth's error text for revert data: decodes Error(string) and Panic(uint256)."""
    if output[:4] == ERROR_SELECTOR:
        try:
            (reason,) = abi_decode(["string"], output[4:])
            return f"execution reverted: {reason}"
        except Exception:
            pass
    if output[:4] == PANIC_SELECTOR and len(output) == 36:
        return f"execution reverted: panic code 0x{int.from_bytes(output[4:], 'big'):x}"
    return "execution reverted"


_VM_ERROR_TEXTS: tuple[tuple[type[Exception], str], ...] = (
    (OutOfGas, "out of gas"),
    (EvmInsufficientFunds, "insufficient balance for transfer"),
    (InvalidInstruction, "invalid opcode"),
    (StackDepthLimit, "max call depth exceeded"),
    (WriteProtection, "write protection"),
    (ContractCreationCollision, "contract address collision"),
)


def vm_error_text(error: Exception) -> str:
    """geth's text for an EVM failure other than a revert, by the failure's type."""
    for kind, text in _VM_ERROR_TEXTS:
        if isinstance(error, kind):
            return text
    return f"execution failed: {type(error).__name__}"


def raise_failure(result: CallResult, gas_cap: int | None = None) -> None:
    """The domain error of a failed call."""
    if result.reverted:
        raise ExecutionReverted(result.error or "execution reverted", result.output)
    if gas_cap is not None and result.error == "out of gas":
        raise CallFailed(f"gas required exceeds allowance ({gas_cap})")
    raise CallFailed(result.error or "execution failed")


def call(
    world: StateReader, env: BlockEnv, chain_id: int, prev_hashes: Sequence[bytes], request: CallRequest
) -> bytes:
    """eth_call: the return data, or :class:`ExecutionReverted` / :class:`CallFailed`."""
    result = run_call(world, env, chain_id, prev_hashes, request)
    if not result.success:
        raise_failure(result)
    return result.output


def estimate_gas(
    world: StateReader,
    env: BlockEnv,
    chain_id: int,
    prev_hashes: Sequence[bytes],
    request: CallRequest,
    cap: int,
) -> int:
    """A gas limit with which the call succeeds, at most ~1.5% above the smallest one (binary
    search, like geth); never below the intrinsic cost with its access list and the EIP-7623
    calldata floor."""
    hi = min(request.gas or cap, cap)

    def attempt(gas: int) -> CallResult:
        return run_call(world, env, chain_id, prev_hashes, request.with_gas(gas))

    top = attempt(hi)
    if not top.success:
        raise_failure(top, gas_cap=hi)
    used = max(top.gas_used, data_floor_gas(request.data))
    if used >= hi:
        return hi
    if attempt(used).success:  # most calls (transfers, simple writes) need exactly what they used
        return used
    lo = used
    # else it needs a reserve (the 63/64 rule, a refund, a stipend): search above
    guess = min(hi, max(top.gas_used * 64 // 63 + 2300, lo + 1))
    if guess < hi and attempt(guess).success:
        hi = guess
    while lo + 1 < hi and (hi - lo) * ESTIMATE_ERROR_RATIO_DENOMINATOR > hi:
        mid = (lo + hi) // 2
        if attempt(mid).success:
            hi = mid
        else:
            lo = mid
    return hi


def create_access_list(
    world: StateReader,
    env: BlockEnv,
    chain_id: int,
    prev_hashes: Sequence[bytes],
    request: CallRequest,
) -> CallResult:
    """eth_createAccessList: run the call, add what it touched to its access list, and again
    until the list stops changing (an access list can change the path a call takes)."""
    current = request.access_list
    result = run_call(world, env, chain_id, prev_hashes, request, track_access=True)
    for _ in range(MAX_ACCESS_LIST_ROUNDS):
        if result.accessed == current:
            break
        current = result.accessed
        result = run_call(world, env, chain_id, prev_hashes, replace(request, access_list=current), True)
    return result
