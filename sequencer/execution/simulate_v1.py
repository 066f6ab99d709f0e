"""``eth_simulateV1`` through py-evm (execution-apis ``eth/execute.yaml``): calls in a sequence of
simulated blocks on one throwaway overlay, each block with its own block and state overrides.

Without ``validation`` a call behaves like ``eth_call`` (no nonce check, a zero base fee unless
one is set, no fee charged without a gas price); with it, a call is checked like a transaction
(nonce, fee cap against the base fee, funds, intrinsic gas, the block's gas) and a failed check
refuses the whole request with its execution-apis code. ``traceTransfers`` adds every ether
transfer (top level and internal) as an ERC-20 ``Transfer`` log from
``0xeeee...eeee``, in execution order among the call's own logs.

Results are data (:class:`SimulatedBlock`); the RPC layer shapes them. A simulated block's
``stateRoot`` is not computed (zero); its hash is the keccak of its header with that root.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from eth.abc import ComputationAPI, StateAPI
from eth.exceptions import Revert
from eth.vm.forks.prague import PragueVM
from eth.vm.spoof import SpoofTransaction
from eth_hash.auto import keccak
from eth_typing import Address

from sequencer import fastrlp
from sequencer.bloom import logs_bloom
from sequencer.errors import SimulationRefused
from sequencer.execution.engine import SequencerState, encode_receipt, execution_context
from sequencer.execution.flatdb import FlatAccountDB
from sequencer.execution.headers import make_header
from sequencer.execution.simulation import revert_message, vm_error_text
from sequencer.execution.tracehooks import Frame, TraceConfig, Tracer, TracingState, activate
from sequencer.rules import data_floor_gas, next_base_fee
from sequencer.state import AccountOverride, StateReader
from sequencer.trie.mpt import compute_root
from sequencer.types import ZERO_HASH, AccessList, BlockEnv, Log

_BUILDER: Any = PragueVM.get_transaction_builder()
TRANSFER_ADDRESS = b"\xee" * 20
TRANSFER_TOPIC = keccak(b"Transfer(address,address,uint256)")
MAX_BLOCKS = 256
MAX_CALLS = 1000


@dataclass(frozen=True, slots=True)
class SimCall:
    """One call of a simulated block (``None``: the default)."""

    sender: bytes
    to: bytes | None
    gas: int | None
    gas_price: int | None
    max_fee: int | None
    max_tip: int | None
    value: int
    data: bytes
    nonce: int | None
    access_list: AccessList = ()


@dataclass(frozen=True, slots=True)
class SimBlock:
    """One simulated block: its overrides (``None``: the default) and calls."""

    calls: tuple[SimCall, ...]
    overrides: tuple[tuple[bytes, AccountOverride], ...] = ()
    number: int | None = None
    time: int | None = None
    gas_limit: int | None = None
    coinbase: bytes | None = None
    prev_randao: bytes | None = None
    base_fee: int | None = None


@dataclass(frozen=True, slots=True)
class SimulatePlan:
    """The request: the blocks, the chain they build on, the options.

    ``first_env``: the environment of the first block when none of its fields is overridden
    (the open block's, for the newest state); ``parent_*``: the block it builds on.
    """

    blocks: tuple[SimBlock, ...]
    first_env: BlockEnv
    parent_gas_used: int
    parent_gas_limit: int
    parent_base_fee: int
    parent_timestamp: int
    chain_id: int
    prev_hashes: tuple[bytes, ...]
    gas_cap: int
    base_fee_floor: int
    validation: bool = False
    trace_transfers: bool = False


@dataclass(frozen=True, slots=True)
class SimulatedCall:
    """A call's outcome: ``error`` is ``(code, message)``, 3 for a revert, -32015 otherwise."""

    status: int
    output: bytes
    gas_used: int
    logs: tuple[Log, ...]
    tx_hash: bytes
    raw: bytes
    sender: bytes
    error: tuple[int, str] | None = None


@dataclass(frozen=True, slots=True)
class SimulatedBlock:
    """A simulated block: its header fields and its calls."""

    env: BlockEnv
    hash: bytes
    header_rlp: bytes
    gas_used: int
    logs_bloom: bytes
    transactions_root: bytes
    receipts_root: bytes
    calls: tuple[SimulatedCall, ...]


class _Transfers(Tracer):
    """Collects a call's logs and ether transfers in order, dropping those of failed frames."""

    def __init__(self, config: TraceConfig, state: StateAPI) -> None:
        super().__init__(config, state)
        self.entries: dict[int, list[Log]] = {}

    def enter(self, frame: Frame, state: StateAPI) -> None:
        """A frame that moves ether logs a transfer."""
        self.entries[id(frame)] = []
        if frame.value and frame.type in ("CALL", "CALLCODE", "CREATE", "CREATE2"):
            topics = (TRANSFER_TOPIC, b"\x00" * 12 + frame.sender, b"\x00" * 12 + frame.to)
            self._current(frame).append(Log(TRANSFER_ADDRESS, topics, frame.value.to_bytes(32, "big")))

    def _current(self, frame: Frame) -> list[Log]:
        return self.entries[id(frame)]

    def on_log(self, address: bytes, topics: tuple[int, ...], data: bytes) -> None:
        """A contract's own log."""
        if self.frames:
            self._current(self.frames[-1]).append(
                Log(address, tuple(t.to_bytes(32, "big") for t in topics), data)
            )

    def exit(self, frame: Frame, computation: ComputationAPI, state: StateAPI) -> None:
        """A frame's entries join its parent's, unless it failed."""
        mine = self.entries.pop(id(frame))
        if frame.reverted or not self.frames:
            if not self.frames and not frame.reverted:
                self.entries[0] = mine
            return
        self._current(self.frames[-1]).extend(mine)

    def logs(self) -> tuple[Log, ...]:
        """The call's logs with its transfers, in order."""
        return tuple(self.entries.get(0, ()))


def _apply_override(db: FlatAccountDB, address: bytes, o: AccountOverride) -> None:
    a = Address(address)
    if o.balance is not None:
        db.set_balance(a, o.balance)
    if o.nonce is not None:
        db.set_nonce(a, o.nonce)
    if o.code is not None:
        db.set_code(a, o.code)
    if o.storage is not None:
        db.delete_storage(a)
        db.touch_account(a)
        for slot, value in o.storage:
            db.set_storage(a, slot, value)
    for slot, value in o.storage_diff:
        db.set_storage(a, slot, value)


def _encode(call: SimCall, nonce: int, gas: int, chain_id: int) -> bytes:
    """The call as a transaction, its signature standing for its sender (``r`` = the address):
    its hash names it in the answer."""
    to = call.to or b""
    r = int.from_bytes(call.sender, "big") or 1
    if call.gas_price is not None:
        body = [nonce, call.gas_price, gas, to, call.value, call.data, chain_id * 2 + 35, r, 1]
        return bytes(fastrlp.encode(body))
    access = [[a, [s.to_bytes(32, "big") for s in slots]] for a, slots in call.access_list]
    fee, tip = call.max_fee or 0, call.max_tip or 0
    body = [chain_id, nonce, tip, fee, gas, to, call.value, call.data, access, 0, r, 1]
    return b"\x02" + bytes(fastrlp.encode(body))


class _Simulator:
    def __init__(self, world: StateReader, plan: SimulatePlan) -> None:
        self.plan = plan
        self.world = world
        self.db: FlatAccountDB | None = None
        self.hashes = list(plan.prev_hashes)

    def state(self, env: BlockEnv) -> StateAPI:
        cls = TracingState if self.plan.trace_transfers else SequencerState
        state: Any = cls(self.world, execution_context(env, self.plan.chain_id, self.hashes), b"")  # type: ignore[arg-type]
        if self.db is None:
            self.db = cast(FlatAccountDB, state._account_db)
        else:
            state._account_db = self.db
        return cast(StateAPI, state)

    def env_of(
        self, block: SimBlock, index: int, parent: BlockEnv | None, parent_gas: tuple[int, int]
    ) -> BlockEnv:
        plan = self.plan
        first = plan.first_env
        if parent is None:
            number, timestamp, base = first.number, first.timestamp, first.base_fee
            previous_number, previous_time = first.number - 1, plan.parent_timestamp
        else:
            number, timestamp = parent.number + 1, parent.timestamp + 1
            base = next_base_fee(parent.base_fee, parent_gas[0], parent_gas[1], plan.base_fee_floor)
            previous_number, previous_time = parent.number, parent.timestamp
        if block.number is not None:
            if block.number <= previous_number:
                raise SimulationRefused(
                    -38020, f"block numbers must increase: {block.number} after {previous_number}"
                )
            number = block.number
        if block.time is not None:
            if block.time <= previous_time:
                raise SimulationRefused(
                    -38021, f"block timestamps must increase: {block.time} after {previous_time}"
                )
            timestamp = block.time
        elif timestamp <= previous_time:
            timestamp = previous_time + 1
        if block.base_fee is not None:
            base = block.base_fee
        elif not plan.validation:
            base = 0
        return BlockEnv(
            number=number,
            timestamp=timestamp,
            parent_hash=self.hashes[0] if self.hashes else ZERO_HASH,
            base_fee=base,
            gas_limit=block.gas_limit if block.gas_limit is not None else first.gas_limit,
            coinbase=block.coinbase if block.coinbase is not None else first.coinbase,
            prev_randao=block.prev_randao if block.prev_randao is not None else first.prev_randao,
        )

    def run(self) -> list[SimulatedBlock]:
        plan = self.plan
        if len(plan.blocks) > MAX_BLOCKS:
            raise SimulationRefused(-38026, f"too many blocks: at most {MAX_BLOCKS}")
        if sum(len(b.calls) for b in plan.blocks) > MAX_CALLS:
            raise SimulationRefused(-38026, f"too many calls: at most {MAX_CALLS}")
        out: list[SimulatedBlock] = []
        parent: BlockEnv | None = None
        parent_gas = (plan.parent_gas_used, plan.parent_gas_limit)
        for index, block in enumerate(plan.blocks):
            env = self.env_of(block, index, parent, parent_gas)
            if parent is not None and env.number > parent.number + 1:  # skipped blocks: no hashes
                self.hashes[:0] = [ZERO_HASH] * (env.number - parent.number - 1)
            state = self.state(env)
            assert self.db is not None
            for address, override in block.overrides:
                _apply_override(self.db, address, override)
            simulated = self.block(state, env, block)
            out.append(simulated)
            self.hashes.insert(0, simulated.hash)
            del self.hashes[256:]
            parent, parent_gas = env, (simulated.gas_used, env.gas_limit)
        return out

    def block(self, state: StateAPI, env: BlockEnv, block: SimBlock) -> SimulatedBlock:
        calls: list[SimulatedCall] = []
        used = 0
        receipts: list[bytes] = []
        all_logs: list[Log] = []
        for i, call in enumerate(block.calls):
            result = self.call(state, env, call, env.gas_limit - used, i)
            used += result.gas_used
            calls.append(result)
            all_logs.extend(result.logs)
            tx_type = 0 if call.gas_price is not None else 2
            receipts.append(
                encode_receipt(tx_type, result.status, used, logs_bloom(result.logs), result.logs)
            )
        keys = [fastrlp.encode(i) for i in range(len(calls))]
        tx_root = compute_root(zip(keys, (c.raw for c in calls), strict=True))
        receipts_root = compute_root(zip(keys, receipts, strict=True))
        bloom = logs_bloom(all_logs)
        header_rlp, block_hash = make_header(
            number=env.number,
            parent_hash=env.parent_hash,
            coinbase=env.coinbase,
            state_root=ZERO_HASH,
            transactions_root=tx_root,
            receipts_root=receipts_root,
            logs_bloom=int.from_bytes(bloom, "big"),
            gas_limit=env.gas_limit,
            gas_used=used,
            timestamp=env.timestamp,
            prev_randao=env.prev_randao,
            base_fee=env.base_fee,
        )
        return SimulatedBlock(env, block_hash, header_rlp, used, bloom, tx_root, receipts_root, tuple(calls))

    def call(self, state: StateAPI, env: BlockEnv, call: SimCall, gas_left: int, index: int) -> SimulatedCall:
        plan = self.plan
        sender = Address(call.sender)
        state_nonce = state.get_nonce(sender)
        nonce = state_nonce
        if plan.validation and call.nonce is not None:
            if call.nonce < state_nonce:
                raise SimulationRefused(
                    -38010,
                    f"nonce too low: address {_hex(call.sender)}, tx: {call.nonce} state: {state_nonce}",
                )
            if call.nonce > state_nonce:
                raise SimulationRefused(
                    -38011,
                    f"nonce too high: address {_hex(call.sender)}, tx: {call.nonce} state: {state_nonce}",
                )
        gas = call.gas if call.gas is not None else min(gas_left, plan.gas_cap)
        gas = min(gas, plan.gas_cap)
        if gas > gas_left:
            raise SimulationRefused(-38015, f"block gas limit reached: the call needs {gas}, {gas_left} left")
        price = call.gas_price if call.gas_price is not None else (call.max_fee or 0)
        if plan.validation:
            fee_cap = call.gas_price if call.gas_price is not None else (call.max_fee or 0)
            if fee_cap < env.base_fee:
                raise SimulationRefused(
                    -38012, f"max fee per gas less than block base fee: {fee_cap} < {env.base_fee}"
                )
        if call.gas_price is not None:
            unsigned = _BUILDER.create_unsigned_transaction(
                nonce=nonce,
                gas_price=call.gas_price,
                gas=gas,
                to=Address(call.to or b""),
                value=call.value,
                data=call.data,
            )
            effective = call.gas_price
        else:
            fee, tip = call.max_fee or 0, call.max_tip or 0
            unsigned = _BUILDER.new_unsigned_dynamic_fee_transaction(
                plan.chain_id,
                nonce,
                min(tip, fee) if fee else tip,
                max(fee, tip),
                gas,
                Address(call.to or b""),
                call.value,
                call.data,
                [(Address(a), list(slots)) for a, slots in call.access_list],
            )
            effective = min(max(fee, tip), min(tip, fee) + env.base_fee) if fee else 0
        intrinsic = max(unsigned.intrinsic_gas, data_floor_gas(call.data))
        if gas < intrinsic:
            raise SimulationRefused(-38013, f"intrinsic gas too low: have {gas}, want {intrinsic}")
        if state.get_balance(sender) < gas * max(price, effective) + call.value:
            raise SimulationRefused(
                -38014, f"insufficient funds for gas * price + value: address {_hex(call.sender)}"
            )
        raw = _encode(call, nonce, gas, plan.chain_id)
        tx_hash = keccak(raw)
        tx: Any = SpoofTransaction(unsigned, from_=sender)
        state.lock_changes()
        transfers = _Transfers(TraceConfig(), state) if plan.trace_transfers else None
        if transfers is not None:
            with activate(transfers):
                computation = state.apply_transaction(tx)
        else:
            computation = state.apply_transaction(tx)
        gas_used = PragueVM.finalize_gas_used(tx, computation)
        if computation.is_error:
            error = computation.error
            if isinstance(error, Revert):
                output = bytes(computation.output)
                return SimulatedCall(
                    0, output, gas_used, (), tx_hash, raw, call.sender, (3, revert_message(output))
                )
            return SimulatedCall(
                0,
                b"",
                gas_used,
                (),
                tx_hash,
                raw,
                call.sender,
                (-32015, f"vm execution error: {vm_error_text(error)}"),
            )
        if transfers is not None:
            logs = transfers.logs()
        else:
            logs = tuple(
                Log(bytes(address), tuple(t.to_bytes(32, "big") for t in topics), bytes(data))
                for address, topics, data in computation.get_log_entries()
            )
        return SimulatedCall(1, bytes(computation.output), gas_used, logs, tx_hash, raw, call.sender)


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def simulate(world: StateReader, plan: SimulatePlan) -> list[SimulatedBlock]:
    """Run ``plan`` on a throwaway overlay over ``world``; raises :class:`SimulationRefused`."""
    return _Simulator(world, plan).run()
