"""Re-execution against the claims: receipts field by field, and the state diff exactly.

Both diffs are canonical (docs/feed.md: every changed account once, ascending by address, every
changed slot once, ascending), so they are equal or the first difference names what the stream
got wrong: an account changed but not listed (``stateDiff.missing``), one listed but unchanged
(``stateDiff.unchanged``), or a field (``stateDiff.nonce``, ``.balance``, ``.codeHash``,
``.code``, ``.storage``, ``.deleted``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from verifier.execution import ExecutedTx
from verifier.wire import AccountChange, ClaimedReceipt


@dataclass(frozen=True, slots=True)
class Finding:
    """One difference: the field, what the stream claimed, what re-execution gave."""

    field: str
    claimed: str
    recomputed: str
    tx_index: int | None = None


def _h(b: bytes | None) -> str:
    return "0x" + b.hex() if b is not None else "null"


def _n(value: int | None) -> str:
    return hex(value) if value is not None else "null"


def _logs(logs: Sequence[object]) -> str:
    return str([(_h(lg.address), [_h(t) for t in lg.topics], _h(lg.data)) for lg in logs])  # type: ignore[attr-defined]


def compare_receipts(executed: Sequence[ExecutedTx], claimed: Sequence[ClaimedReceipt]) -> Finding | None:
    """The first receipt field the claims get wrong (index within the mini-block)."""
    for i, (ex, r) in enumerate(zip(executed, claimed, strict=True)):
        if not ex.valid:
            return Finding("transaction.valid", "included", f"invalid: {ex.error}", i)
        pairs: tuple[tuple[str, object, object], ...] = (
            ("receipt.type", r.tx_type, ex.tx_type),
            ("receipt.status", r.status, ex.status),
            ("receipt.gasUsed", r.gas_used, ex.gas_used),
            ("receipt.cumulativeGasUsed", r.cumulative_gas_used, ex.cumulative_gas_used),
            ("receipt.effectiveGasPrice", r.effective_gas_price, ex.effective_gas_price),
        )
        for name, got, want in pairs:
            if got != want:
                return Finding(name, hex(got), hex(want), i)  # type: ignore[arg-type]
        if r.logs != ex.logs:
            return Finding("receipt.logs", _logs(r.logs), _logs(ex.logs), i)
        if r.contract_address != ex.contract_address:
            return Finding("receipt.contractAddress", _h(r.contract_address), _h(ex.contract_address), i)
        if r.deposit_nonce != ex.deposit_nonce:
            return Finding("receipt.depositNonce", _n(r.deposit_nonce), _n(ex.deposit_nonce), i)
    return None


def compare_diff(executed: Sequence[AccountChange], claimed: Sequence[AccountChange]) -> Finding | None:
    """The first difference between the executed and the claimed diff."""
    by_address = {a.address: a for a in claimed}
    ran = {a.address: a for a in executed}
    for address in sorted(by_address.keys() | ran.keys()):
        where = _h(address)
        got, want = by_address.get(address), ran.get(address)
        if got is None:
            return Finding("stateDiff.missing", f"{where} not listed", f"{where} changed")
        if want is None:
            return Finding("stateDiff.unchanged", f"{where} listed", f"{where} did not change")
        if got.deleted != want.deleted:
            return Finding("stateDiff.deleted", f"{where}: {got.deleted}", f"{where}: {want.deleted}")
        if got.nonce != want.nonce:
            return Finding("stateDiff.nonce", f"{where}: {got.nonce}", f"{where}: {want.nonce}")
        if got.balance != want.balance:
            return Finding("stateDiff.balance", f"{where}: {got.balance}", f"{where}: {want.balance}")
        if got.code_hash != want.code_hash:
            return Finding(
                "stateDiff.codeHash", f"{where}: {_h(got.code_hash)}", f"{where}: {_h(want.code_hash)}"
            )
        if got.code != want.code:
            return Finding(
                "stateDiff.code", f"{where}: {_h(got.code)[:80]}", f"{where}: {_h(want.code)[:80]}"
            )
        if got.storage != want.storage:
            claimed_slots, real_slots = dict(got.storage), dict(want.storage)
            for slot in sorted(claimed_slots.keys() | real_slots.keys()):
                if claimed_slots.get(slot) != real_slots.get(slot):
                    return Finding(
                        "stateDiff.storage",
                        f"{where} slot {hex(slot)}: {_slot(claimed_slots.get(slot))}",
                        f"{where} slot {hex(slot)}: {_slot(real_slots.get(slot))}",
                    )
    return None


def _slot(value: int | None) -> str:
    return "unchanged" if value is None else hex(value)
