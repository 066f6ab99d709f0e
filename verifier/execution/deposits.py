"""Deposits (type 0x7E) re-executed after OP's Regolith/Canyon rules: the verifier's own copy of
them, deliberately apart from the sequencer's adapter (a bug there must not be a bug here).

The mint is credited to ``from`` first and kept whatever follows; the sender's nonce is
incremented (a creation's address from ``from`` and the nonce before); no signature, nonce
check or fee (gas price 0; the coinbase is neither paid nor touched). A deposit that fails
before executing (too little gas for its intrinsic or data floor cost, initcode over the
EIP-3860 limit, a value above the sender's balance with the mint) keeps only the mint and the
nonce increment and uses all its gas; one that reverts keeps its actual gas used, status 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth._utils.address import generate_contract_address
from eth.abc import ComputationAPI, SignedTransactionAPI, StateAPI
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.state import PragueTransactionExecutor
from eth.vm.forks.shanghai.constants import MAX_INITCODE_SIZE
from eth.vm.spoof import SpoofTransaction
from eth_typing import Address

from sequencer.types import SignedTx

_BUILDER = PragueVM.get_transaction_builder()
TX_BASE_GAS = 21_000
TX_DATA_FLOOR_PER_TOKEN = 10  # EIP-7623


class _DepositExecutor(PragueTransactionExecutor):
    """Prague's executor without validation and without the coinbase fee."""

    def validate_transaction(self, transaction: SignedTransactionAPI) -> None:
        """A deposit is valid by construction: L1 checked it."""

    def finalize_computation(
        self, transaction: SignedTransactionAPI, computation: ComputationAPI
    ) -> ComputationAPI:
        """The refund and data floor (for the gas used) and self-destructs; no fee."""
        gas_used = transaction.gas - computation.get_gas_remaining()
        refund = self.calculate_gas_refund(computation, gas_used)
        computation.data_floor_gas = self.calc_data_floor_gas(transaction, gas_used, refund)
        for account in computation.get_accounts_for_deletion():
            self.vm_state.delete_account(account)
        return computation


@dataclass(frozen=True, slots=True)
class DepositResult:
    """What re-executing a deposit gave."""

    nonce: int
    """The sender's nonce before (the receipt's ``depositNonce``)."""
    status: int
    gas_used: int
    logs: tuple[tuple[bytes, tuple[int, ...], bytes], ...]
    contract_address: bytes | None


def execute_deposit(state: StateAPI, tx: SignedTx) -> DepositResult:
    """Re-execute the deposit ``tx`` (decoded strictly from its raw bytes) on ``state``; the
    caller owns checkpoints and the block gas check."""
    sender = Address(tx.sender)
    if tx.mint:
        state.delta_balance(sender, tx.mint)
    nonce = state.get_nonce(sender)
    legacy: Any = _BUILDER.new_transaction(
        nonce=nonce,
        gas_price=0,
        gas=tx.gas,
        to=Address(tx.to or b""),
        value=tx.value,
        data=tx.data,
        v=27,
        r=1,
        s=1,
    )
    engine_tx: Any = SpoofTransaction(legacy, sender=sender)
    zeros = tx.data.count(0)
    floor = TX_BASE_GAS + TX_DATA_FLOOR_PER_TOKEN * (zeros + 4 * (len(tx.data) - zeros))
    contract = bytes(generate_contract_address(sender, nonce)) if tx.to is None else None
    if (
        tx.gas < engine_tx.intrinsic_gas
        or tx.gas < floor
        or (tx.to is None and len(tx.data) > MAX_INITCODE_SIZE)
        or tx.value > state.get_balance(sender)
    ):
        state.increment_nonce(sender)
        return DepositResult(nonce, 0, tx.gas, (), contract)
    computation = _DepositExecutor(state)(engine_tx)
    logs = tuple((bytes(a), tuple(topics), bytes(data)) for a, topics, data in computation.get_log_entries())
    return DepositResult(
        nonce,
        0 if computation.is_error else 1,
        PragueVM.finalize_gas_used(engine_tx, computation),
        logs,
        contract,
    )
