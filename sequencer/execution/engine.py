"""The execution engine: runs transactions through py-evm's Prague state on the flat state.

One long-lived py-evm ``State`` per EVM block drives ``apply_transaction`` directly (py-evm's
``MiningChain.apply_transaction`` rebuilds the tx/receipt tries on every call, which is
quadratic), so the block gas limit is enforced here. Nothing on this path computes a trie.

Failures are classified by explicit checks before py-evm runs (the same checks, in the same
order, as py-evm's own validation), and by exception type after: never by an error's text.
Results are data (:class:`TxOutcome`); an invalid transaction raises its rule's
:class:`~sequencer.errors.InvalidTransaction`. Simulated calls live in ``simulation.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eth._utils.address import generate_contract_address
from eth.abc import ComputationAPI, MessageAPI, SignedTransactionAPI, StateAPI, TransactionContextAPI
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.vm.execution_context import ExecutionContext
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.forks.prague.state import PragueState, PragueTransactionExecutor
from eth.vm.forks.shanghai.constants import MAX_INITCODE_SIZE
from eth.vm.message import Message
from eth.vm.spoof import SpoofTransaction
from eth_typing import Address, BlockNumber, Hash32
from eth_utils.exceptions import ValidationError
from eth_utils.logging import get_extended_debug_logger

from sequencer import fastrlp
from sequencer.bloom import logs_bloom
from sequencer.bridge.deposits import DEPOSIT_RECEIPT_VERSION
from sequencer.errors import (
    ExceedsBlockGasLimit,
    ExecutionTimeExceeded,
    FeeCapBelowBaseFee,
    InsufficientFunds,
    InvalidTransaction,
    NonceTooHigh,
    NonceTooLow,
)
from sequencer.execution.deadline import DeadlineExceeded, time_limit
from sequencer.execution.flatdb import FlatAccountDB
from sequencer.rules import data_floor_gas
from sequencer.state import WorldState
from sequencer.types import BlockEnv, Log, SignedTx, StateDiff

_BUILDER = PragueVM.get_transaction_builder()
ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)


_JUMP_ANALYSIS_CACHE_SIZE = 4096
_jump_analysis: dict[bytes, tuple[set[int], set[int]]] = {}


class CachedAnalysisComputation(PragueComputation):
    """Prague's computation, sharing the jump-destination analysis of each contract's code.

    py-evm's ``CodeStream`` works out lazily which positions are valid opcodes (not PUSH data)
    and keeps the answers on the stream, so every call to a contract starts the analysis over
    (~7% of an ERC-20 transfer). The answers depend on the code alone: calls to the same code
    share them here.
    """

    def __init__(
        self, state: StateAPI, message: MessageAPI, transaction_context: TransactionContextAPI
    ) -> None:
        super().__init__(state, message, transaction_context)
        code = message.code
        if len(code) > 64:
            known = _jump_analysis.get(code)
            if known is None:
                if len(_jump_analysis) >= _JUMP_ANALYSIS_CACHE_SIZE:
                    _jump_analysis.clear()
                known = _jump_analysis[code] = (set(), set())
            self.code.valid_positions, self.code.invalid_positions = known  # type: ignore[attr-defined]


class SequencerTransactionExecutor(PragueTransactionExecutor):
    """py-evm's Prague executor, building the EVM message without its debug line.

    py-evm's ``build_evm_message`` formats a debug2 log line before calling the logger, whether
    or not the level is on: ``repr`` of the whole transaction, a keccak of its data and four hex
    encodings, ~11 µs of a ~60 µs transfer (``bench/bench_execution.py``). The message built is
    the same (the rest of the method is py-evm 0.12.1b1's, pinned: Cancun's rules with Prague's
    set-code refund and delegation, through the inherited hooks; no blob fee, as the node
    accepts no blob transactions: ``execution/transactions.py``).
    """

    def build_evm_message(self, transaction: SignedTransactionAPI) -> MessageAPI:
        """The message ``transaction`` runs as: its fee bought, the sender's nonce incremented."""
        vm_state = self.vm_state
        vm_state.delta_balance(transaction.sender, -(transaction.gas * vm_state.get_gas_price(transaction)))
        vm_state.increment_nonce(transaction.sender)
        msg_refund = self.calc_message_refund(transaction)
        message_gas = transaction.gas - transaction.intrinsic_gas
        if transaction.to == CREATE_CONTRACT_ADDRESS:
            contract_address: Address | None = generate_contract_address(
                transaction.sender, vm_state.get_nonce(transaction.sender) - 1
            )
            data, code, is_delegation = b"", transaction.data, False
        else:
            contract_address = None
            data = transaction.data
            code, delegation_address = self.get_code_at_address(transaction.to)
            is_delegation = delegation_address is not None
        return Message(
            gas=message_gas,
            to=transaction.to,
            sender=transaction.sender,
            value=transaction.value,
            data=data,
            code=code,
            create_address=contract_address,  # type: ignore[arg-type]  # py-evm's own: None for a call
            refund=msg_refund,
            is_delegation=is_delegation,
        )


class SequencerState(PragueState):
    """py-evm's Prague state with the flat, trie-free account database."""

    account_db_class = FlatAccountDB
    computation_class = CachedAnalysisComputation
    transaction_executor_class = SequencerTransactionExecutor
    # py-evm's ``logger`` is a property that builds the logger on every use (several per tx)
    logger = get_extended_debug_logger("eth.vm.state.SequencerState")


class DepositExecutor(SequencerTransactionExecutor):
    """py-evm's Prague executor for an L1 deposit (type 0x7E, OP's Regolith rules).

    No validation (L1 checked the sender and bought the gas; the adapter checks what makes a
    deposit fail before this runs), no fee: the gas price is 0, so nothing is bought or
    refunded, and the coinbase is neither paid nor touched. The nonce is incremented and a
    creation's address derived from it as for any transaction.
    """

    def validate_transaction(self, transaction: SignedTransactionAPI) -> None:
        """Nothing to validate: a deposit is valid by construction (see the class docstring)."""

    def finalize_computation(
        self, transaction: SignedTransactionAPI, computation: ComputationAPI
    ) -> ComputationAPI:
        """Work out the refund and the data floor (they set the gas used) and process
        self-destructs; no fee goes to the coinbase."""
        gas_used = transaction.gas - computation.get_gas_remaining()
        gas_refund = self.calculate_gas_refund(computation, gas_used)
        computation.data_floor_gas = self.calc_data_floor_gas(transaction, gas_used, gas_refund)
        for account in computation.get_accounts_for_deletion():
            self.vm_state.delete_account(account)
        return computation


def deposit_engine_tx(tx: SignedTx, nonce: int) -> Any:
    """py-evm's form of a deposit: a zero-priced legacy transaction with the deposit's fields
    and its sender spoofed (py-evm has no type 0x7E; the signature is never looked at)."""
    legacy = _BUILDER.new_transaction(
        nonce=nonce,
        gas_price=0,
        gas=tx.gas,
        to=Address(tx.to if tx.to is not None else b""),
        value=tx.value,
        data=tx.data,
        v=27,
        r=1,
        s=1,
    )
    return SpoofTransaction(legacy, sender=Address(tx.sender))


def deposit_failure(tx: SignedTx, engine_tx: Any, balance: int) -> str | None:
    """Why a deposit fails before it executes (OP's "failed deposit": geth's state-transition
    errors), or ``None``: too little gas for its intrinsic or data floor cost, initcode over
    the EIP-3860 limit, or a value above the sender's balance (the mint included)."""
    if tx.gas < engine_tx.intrinsic_gas:
        return "intrinsic gas too low"
    if tx.gas < data_floor_gas(tx.data):
        return "insufficient gas for floor data gas cost"
    if tx.to is None and len(tx.data) > MAX_INITCODE_SIZE:
        return "max initcode size exceeded"
    if tx.value > balance:
        return "insufficient funds for transfer"
    return None


@dataclass(frozen=True, slots=True)
class DepositRun:
    """What running a deposit's rules on a state did (before any receipt)."""

    nonce: int
    """The sender's nonce before (``depositNonce``)."""
    computation: ComputationAPI | None
    """``None`` when the deposit failed before executing (``failure`` says why)."""
    gas_used: int
    failure: str | None


def run_deposit(
    state: StateAPI, tx: SignedTx, execute: Callable[[Any], ComputationAPI] | None = None
) -> DepositRun:
    """Run a deposit's rules on ``state``: mint, then either the failed-deposit outcome (the
    nonce increment, all gas used) or the execution (``execute``: py-evm's
    :class:`DepositExecutor` unless a tracer wraps it). The caller owns checkpoints."""
    sender = Address(tx.sender)
    if tx.mint:
        state.delta_balance(sender, tx.mint)
    nonce = state.get_nonce(sender)
    engine_tx = deposit_engine_tx(tx, nonce)
    failure = deposit_failure(tx, engine_tx, state.get_balance(sender))
    if failure is not None:
        state.increment_nonce(sender)
        return DepositRun(nonce, None, tx.gas, failure)
    computation = (execute or DepositExecutor(state))(engine_tx)
    return DepositRun(nonce, computation, PragueVM.finalize_gas_used(engine_tx, computation), None)


@dataclass(frozen=True, slots=True)
class TxOutcome:
    """What executing one transaction produced (its receipt fields, before indexing)."""

    tx: SignedTx
    status: int
    gas_used: int
    cumulative_gas_used: int
    effective_gas_price: int
    logs: tuple[Log, ...]
    bloom: bytes
    contract_address: bytes | None
    encoded_receipt: bytes
    deposit_nonce: int | None = None
    """A deposit's sender nonce before it ran (``None`` for every other transaction)."""


def encode_receipt(
    tx_type: int,
    status: int,
    cumulative_gas_used: int,
    bloom: bytes,
    logs: Sequence[Log],
    deposit_nonce: int | None = None,
) -> bytes:
    """The consensus encoding of a receipt (EIP-658 status; EIP-2718 type prefix if typed).

    A deposit's (``deposit_nonce`` given) appends ``depositNonce`` and ``depositReceiptVersion``
    (1) to the four fields, as op-geth encodes it since Canyon.
    """
    fields: list[object] = [
        b"\x01" if status else b"",
        cumulative_gas_used,
        bloom,
        [[log.address, list(log.topics), log.data] for log in logs],
    ]
    if deposit_nonce is not None:
        fields += [deposit_nonce, DEPOSIT_RECEIPT_VERSION]
    body = fastrlp.encode(fields)
    return bytes((tx_type,)) + body if tx_type else body


def execution_context(env: BlockEnv, chain_id: int, prev_hashes: Sequence[bytes]) -> ExecutionContext:
    """py-evm's execution context for a block environment."""
    return ExecutionContext(
        coinbase=Address(env.coinbase),
        timestamp=env.timestamp,
        block_number=BlockNumber(env.number),
        difficulty=0,
        mix_hash=Hash32(env.prev_randao),
        gas_limit=env.gas_limit,
        prev_hashes=tuple(Hash32(h) for h in prev_hashes),
        chain_id=chain_id,
        base_fee_per_gas=env.base_fee,
        excess_blob_gas=0,
    )


class BlockExecutor:
    """Executes transactions for one EVM block, mini-block by mini-block.

    The overlay holds the changes of the mini-block being built; :meth:`take_diff` drains it
    as the mini-block's state diff, which the caller applies to the :class:`WorldState` once the
    mini-block is durable and then confirms with :meth:`commit_mini_block`; if the mini-block
    cannot be made durable, :meth:`rollback_mini_block` forgets it.

    With ``tx_time_budget_s``, a transaction whose execution runs longer is aborted where it is
    (``execution/deadline.py``): every change it made is discarded and it raises
    :class:`~sequencer.errors.ExecutionTimeExceeded`, like any invalid transaction.
    """

    def __init__(
        self,
        world: WorldState,
        env: BlockEnv,
        chain_id: int,
        prev_hashes: Sequence[bytes],
        gas_used: int = 0,
        tx_time_budget_s: float | None = None,
    ) -> None:
        self.env = env
        self.chain_id = chain_id
        self.tx_time_budget_s = tx_time_budget_s
        self._world = world
        self._state = SequencerState(world, execution_context(env, chain_id, prev_hashes), b"")  # type: ignore[arg-type]
        self._db: FlatAccountDB = self._state._account_db  # type: ignore[assignment]
        self.gas_used = gas_used
        self._committed_gas = gas_used

    def fits(self, tx: SignedTx) -> bool:
        """Whether the transaction's gas limit fits in what is left of the block."""
        return self.gas_used + tx.gas <= self.env.gas_limit

    def check(self, tx: SignedTx) -> None:
        """py-evm's validation of a transaction against the state, as explicit rules (plus the
        block gas limit): raises the first rule it breaks, changes nothing."""
        if not self.fits(tx):
            raise ExceedsBlockGasLimit()
        env = self.env
        if tx.max_fee_per_gas < env.base_fee:
            raise FeeCapBelowBaseFee()
        db = self._db
        sender = tx.sender
        balance = db.get_balance(sender)  # type: ignore[arg-type]
        if balance < tx.gas * tx.effective_gas_price(env.base_fee) + tx.value:
            raise InsufficientFunds()
        nonce = db.get_nonce(sender)  # type: ignore[arg-type]
        if tx.nonce < nonce:
            raise NonceTooLow()
        if tx.nonce > nonce:
            raise NonceTooHigh()

    def apply(self, tx: SignedTx) -> TxOutcome:
        """Execute one transaction; raises its rule's :class:`InvalidTransaction` and changes
        nothing if it is invalid. A deposit goes to :meth:`apply_deposit`."""
        if tx.is_deposit:
            return self.apply_deposit(tx)
        self.check(tx)
        state = self._state
        state.lock_changes()
        checkpoint = self._db.record()
        try:
            with time_limit(self.tx_time_budget_s):
                computation = state.apply_transaction(tx.engine_tx)  # type: ignore[arg-type]
        except DeadlineExceeded:
            self._abandon(checkpoint)
            assert self.tx_time_budget_s is not None
            raise ExecutionTimeExceeded(
                f"aborted after {self.tx_time_budget_s * 1000:g} ms (execution.tx_time_budget_ms)"
            ) from None
        except ValidationError as exc:  # a rule the checks above do not know yet
            self._abandon(checkpoint)
            raise InvalidTransaction(str(exc)) from None
        except Exception:
            self._abandon(checkpoint)
            raise
        self._db.commit(checkpoint)
        gas_used = PragueVM.finalize_gas_used(tx.engine_tx, computation)  # type: ignore[arg-type]
        self.gas_used += gas_used
        logs = tuple(
            Log(bytes(address), tuple(topic.to_bytes(32, "big") for topic in topics), bytes(data))
            for address, topics, data in computation.get_log_entries()
        )
        status = 0 if computation.is_error else 1
        bloom = logs_bloom(logs)
        contract = generate_contract_address(Address(tx.sender), tx.nonce) if tx.to is None else None
        return TxOutcome(
            tx=tx,
            status=status,
            gas_used=gas_used,
            cumulative_gas_used=self.gas_used,
            effective_gas_price=tx.effective_gas_price(self.env.base_fee),
            logs=logs,
            bloom=bloom,
            contract_address=bytes(contract) if contract else None,
            encoded_receipt=encode_receipt(tx.type, status, self.gas_used, bloom, logs),
        )

    def apply_deposit(self, tx: SignedTx) -> TxOutcome:
        """Execute an L1 deposit (type 0x7E) after OP's Regolith/Canyon rules.

        ``mint`` is credited to the sender first and kept whatever follows; the sender's nonce
        is incremented (a creation's address comes from the nonce before); no signature, nonce
        or fee checks and no fee. A deposit that fails before it executes (:func:`deposit_failure`)
        keeps only the mint and the nonce increment and uses all its gas; one that reverts keeps
        the mint, the nonce increment and its actual gas used, with status 0. Its only refusal is
        :class:`~sequencer.errors.ExceedsBlockGasLimit` (it does not fit what is left of the
        block). It runs without the time budget: a deposit cannot be dropped (L1 requires its
        inclusion) and aborting it would give a result no verifier can reproduce; the portal's
        maximum gas per deposit bounds it.
        """
        if not self.fits(tx):
            raise ExceedsBlockGasLimit()
        state, db = self._state, self._db
        sender = Address(tx.sender)
        state.lock_changes()
        checkpoint = db.record()
        try:
            run = run_deposit(state, tx)
        except Exception:
            self._abandon(checkpoint)
            raise
        db.commit(checkpoint)
        computation, nonce, gas_used = run.computation, run.nonce, run.gas_used
        status = 0
        logs: tuple[Log, ...] = ()
        if computation is not None:
            status = 0 if computation.is_error else 1
            logs = tuple(
                Log(bytes(address), tuple(topic.to_bytes(32, "big") for topic in topics), bytes(data))
                for address, topics, data in computation.get_log_entries()
            )
        self.gas_used += gas_used
        bloom = logs_bloom(logs)
        contract = generate_contract_address(sender, nonce) if tx.to is None else None
        return TxOutcome(
            tx=tx,
            status=status,
            gas_used=gas_used,
            cumulative_gas_used=self.gas_used,
            effective_gas_price=0,
            logs=logs,
            bloom=bloom,
            contract_address=bytes(contract) if contract else None,
            encoded_receipt=encode_receipt(tx.type, status, self.gas_used, bloom, logs, nonce),
            deposit_nonce=nonce,
        )

    def _abandon(self, checkpoint: Any) -> None:
        """Undo a transaction that did not finish: its account, storage and warm-set changes
        (the overlay's journal) and its transient storage (py-evm clears that only after a
        transaction that finishes). The gas counter was not touched yet."""
        self._db.discard(checkpoint)
        self._state._transient_storage = None  # type: ignore[assignment]  # rebuilt empty on use

    def take_diff(self) -> StateDiff:
        """Drain the overlay: the state diff of the mini-block executed since the last one."""
        return self._db.take_diff()

    def commit_mini_block(self) -> None:
        """The drained mini-block is durable and applied to the world state: keep its gas."""
        self._committed_gas = self.gas_used

    def rollback_mini_block(self) -> None:
        """Forget the mini-block executed since the last commit (its write failed): its state
        changes and its gas. Its transactions can be executed again."""
        self._db.reset()
        self.gas_used = self._committed_gas
