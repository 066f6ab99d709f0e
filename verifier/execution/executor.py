"""Re-executing the mini-blocks of one EVM block on py-evm's Prague state over the overlay."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from eth._utils.address import generate_contract_address
from eth.constants import BLANK_ROOT_HASH
from eth.vm.execution_context import ExecutionContext
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.state import PragueState
from eth_typing import Address, BlockNumber, Hash32
from eth_utils.exceptions import ValidationError
from eth_utils.logging import get_extended_debug_logger

from sequencer.bridge.deposits import DEPOSIT_TX_TYPE, MalformedDeposit, decode_deposit
from verifier.commitments import keccak
from verifier.execution.accountdb import OverlayAccountDB
from verifier.execution.deposits import execute_deposit
from verifier.execution.transactions import INVALID_TRANSACTION, prepare_transaction
from verifier.state import FlatState
from verifier.wire import AccountChange, Env, LogEntry


class VerifierState(PragueState):
    """py-evm's Prague state over the overlay."""

    account_db_class = OverlayAccountDB
    logger = get_extended_debug_logger("eth.vm.state.VerifierState")


@dataclass(frozen=True, slots=True)
class ExecutedTx:
    """What re-executing one transaction gave (``valid`` false: it cannot be included)."""

    tx_hash: bytes
    valid: bool
    error: str | None
    tx_type: int = 0
    status: int = 0
    gas_used: int = 0
    cumulative_gas_used: int = 0
    effective_gas_price: int = 0
    logs: tuple[LogEntry, ...] = ()
    contract_address: bytes | None = None
    deposit_nonce: int | None = None
    """A deposit's sender nonce before it ran (``None`` for any other transaction)."""


@dataclass(frozen=True, slots=True)
class ExecutedMiniBlock:
    """A mini-block's re-execution: its transactions' results and the state diff it made."""

    txs: tuple[ExecutedTx, ...]
    diff: tuple[AccountChange, ...]


class MiniBlockExecutor:
    """Re-executes the mini-blocks of one EVM block, in turn, on the flat state."""

    def __init__(
        self,
        state: FlatState,
        chain_id: int,
        env: Env,
        prev_hashes: Sequence[bytes],
        *,
        allow_unprotected: bool = False,
    ) -> None:
        self.env = env
        self.chain_id = chain_id
        self.allow_unprotected = allow_unprotected
        context = ExecutionContext(
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
        self._state = VerifierState(state, context, BLANK_ROOT_HASH)  # type: ignore[arg-type]
        self._db = cast(OverlayAccountDB, self._state._account_db)

    def run(
        self, raw_txs: Sequence[bytes], gas_before: int, impersonated: Mapping[bytes, bytes] | None = None
    ) -> ExecutedMiniBlock:
        """Execute the transactions in order after ``gas_before`` gas of the block; drain the
        overlay as the mini-block's diff (the flat state itself is left as it was).
        ``impersonated``: a devnet's impersonated senders, by transaction hash."""
        state, db, env = self._state, self._db, self.env
        out: list[ExecutedTx] = []
        cumulative = gas_before
        for raw in raw_txs:
            tx_hash = keccak(raw)
            if raw[:1] == bytes((DEPOSIT_TX_TYPE,)):
                executed = self._deposit(raw, tx_hash, cumulative)
                cumulative = executed.cumulative_gas_used if executed.valid else cumulative
                out.append(executed)
                continue
            try:
                sender = impersonated.get(tx_hash) if impersonated else None
                tx = prepare_transaction(raw, self.chain_id, self.allow_unprotected, sender)
                if cumulative + tx.gas > env.gas_limit:
                    raise ValidationError("transaction gas exceeds what is left of the block gas limit")
                state.lock_changes()
                checkpoint = db.record()
                try:
                    computation = state.apply_transaction(tx)
                except Exception:
                    db.discard(checkpoint)
                    raise
                db.commit(checkpoint)
            except INVALID_TRANSACTION as exc:
                out.append(ExecutedTx(tx_hash, False, f"{type(exc).__name__}: {exc}"[:300]))
                continue
            gas_used = PragueVM.finalize_gas_used(tx, computation)
            cumulative += gas_used
            logs = tuple(
                LogEntry(bytes(a), tuple(t.to_bytes(32, "big") for t in topics), bytes(data))
                for a, topics, data in computation.get_log_entries()
            )
            contract = bytes(generate_contract_address(Address(tx.sender), tx.nonce)) if not tx.to else None
            tx_type = raw[0] if raw[0] < 0x7F else 0
            price = min(tx.max_fee_per_gas, tx.max_priority_fee_per_gas + env.base_fee)
            out.append(
                ExecutedTx(
                    tx_hash,
                    True,
                    None,
                    tx_type,
                    0 if computation.is_error else 1,
                    gas_used,
                    cumulative,
                    price,
                    logs,
                    contract,
                )
            )
        return ExecutedMiniBlock(tuple(out), db.take_diff())

    def _deposit(self, raw: bytes, tx_hash: bytes, cumulative: int) -> ExecutedTx:
        """Re-execute a deposit (``verifier/execution/deposits.py``) after ``cumulative`` gas."""
        state, db = self._state, self._db
        state.lock_changes()
        checkpoint = db.record()
        try:
            tx = decode_deposit(raw)
            if cumulative + tx.gas > self.env.gas_limit:
                raise ValidationError("deposit gas exceeds what is left of the block gas limit")
            result = execute_deposit(state, tx)
        except (MalformedDeposit, ValidationError) as exc:
            db.discard(checkpoint)
            return ExecutedTx(tx_hash, False, f"{type(exc).__name__}: {exc}"[:300])
        except Exception:
            db.discard(checkpoint)
            raise
        db.commit(checkpoint)
        logs = tuple(
            LogEntry(address, tuple(t.to_bytes(32, "big") for t in topics), data)
            for address, topics, data in result.logs
        )
        return ExecutedTx(
            tx_hash,
            True,
            None,
            DEPOSIT_TX_TYPE,
            result.status,
            result.gas_used,
            cumulative + result.gas_used,
            0,
            logs,
            result.contract_address,
            result.nonce,
        )
