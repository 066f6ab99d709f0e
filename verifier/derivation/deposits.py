"""The deposit rules of derivation: every portal deposit on L1 in the L2 chain, in order, in time.

The portal's ``TransactionDeposited`` logs of each L1 block become :class:`L1Deposit` entries
of the derivation state's queue, in L1 order (block, log index). Each derived L2 block is
checked against that queue by :func:`check_block`:

- its deposit transactions (type 0x7E) come before any other transaction (``deposit.order``);
- each is, byte for byte, the deposit transaction of a queued portal log: the same source hash
  with other fields is ``deposit.fields``, no such log at all ``deposit.unknown``;
- that log's L1 block is at or before the block's L1 origin (``deposit.origin``);
- deposits are taken from the front of the queue: one included while an older one waits is
  ``deposit.skipped`` naming the older one;
- after the block, a deposit still queued whose L1 block plus
  ``derivation.deposit_window_l1_blocks`` is before the block's origin was not included in time:
  ``deposit.skipped`` (the force-inclusion rule).

Each problem names the L1 transaction and the log index of the deposit concerned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_hash.auto import keccak

from sequencer.bridge.deposits import (
    DEPOSIT_TX_TYPE,
    TRANSACTION_DEPOSITED_TOPIC,
    MalformedDeposit,
    decode_deposit,
    decode_deposit_log,
    deposit_tx,
)
from sequencer.settlement.l1 import L1Log


@dataclass(frozen=True, slots=True)
class L1Deposit:
    """A portal deposit on L1 not yet seen in the derived chain: where it is and its L2 identity."""

    l1_block: int
    l1_tx: bytes
    log_index: int
    source_hash: bytes
    tx_hash: bytes
    """keccak256 of its 0x7E transaction's bytes (its L2 transaction hash)."""


@dataclass(frozen=True, slots=True)
class DepositProblem:
    """A broken deposit rule: the field, the deposit concerned (if L1 has one) and the values."""

    field: str
    deposit: L1Deposit | None
    claimed: str
    derived: str
    note: str = ""
    drops_batch: bool = True
    """Whether the batch is invalid (else the block stands: a deposit's window passed)."""


@dataclass(frozen=True, slots=True)
class BadLog:
    """A portal log that is not a deposit (reported, not queued)."""

    l1_tx: bytes
    log_index: int
    error: str


def _h(b: bytes) -> str:
    return "0x" + b.hex()


def read_deposits(logs: Sequence[L1Log], portal: bytes) -> tuple[list[L1Deposit], list[BadLog]]:
    """The deposits among one L1 block's logs, in log order (and the portal logs that are not)."""
    out: list[L1Deposit] = []
    bad: list[BadLog] = []
    for lg in logs:
        if lg.address != portal or not lg.topics or lg.topics[0] != TRANSACTION_DEPOSITED_TOPIC:
            continue
        try:
            event = decode_deposit_log(
                list(lg.topics),
                lg.data,
                l1_block_number=lg.block_number,
                l1_block_hash=lg.block_hash,
                l1_tx_hash=lg.tx_hash,
                log_index=lg.log_index,
            )
        except MalformedDeposit as exc:
            bad.append(BadLog(lg.tx_hash, lg.log_index, str(exc)))
            continue
        tx = deposit_tx(event)
        out.append(L1Deposit(lg.block_number, lg.tx_hash, lg.log_index, event.source_hash, tx.hash))
    return out, bad


def _where(d: L1Deposit) -> str:
    return f"L1 tx {_h(d.l1_tx)} log {d.log_index} (L1 block {d.l1_block})"


def check_block(
    queue: tuple[L1Deposit, ...], transactions: Sequence[bytes], origin: int, window: int
) -> tuple[tuple[L1Deposit, ...], list[DepositProblem]]:
    """The queue after an L2 block with these transactions and this L1 origin, and the rules broken.

    With problems, the caller decides (halt, or drop the batch); the queue returned is what it
    would be if the block were accepted, without the deposits the window rule reported.
    """
    problems: list[DepositProblem] = []
    by_hash = {d.tx_hash: i for i, d in enumerate(queue)}
    by_source = {d.source_hash: d for d in queue}
    taken: set[int] = set()
    front = 0
    seen_other = False
    for position, raw in enumerate(transactions):
        if raw[:1] != bytes((DEPOSIT_TX_TYPE,)):
            seen_other = True
            continue
        tx_hash = bytes(keccak(raw))
        index = by_hash.get(tx_hash)
        deposit = queue[index] if index is not None else None
        if seen_other:
            problems.append(
                DepositProblem(
                    "deposit.order",
                    deposit,
                    f"deposit {_h(tx_hash)} at transaction {position}",
                    "deposits before every other transaction of the block",
                )
            )
        if deposit is None or index is None:
            try:
                source = decode_deposit(raw).source_hash
            except MalformedDeposit as exc:
                problems.append(
                    DepositProblem(
                        "deposit.unknown", None, f"transaction {position}: {exc}", "a portal deposit"
                    )
                )
                continue
            same_source = by_source.get(source) if source is not None else None
            if same_source is not None:
                problems.append(
                    DepositProblem(
                        "deposit.fields",
                        same_source,
                        f"deposit {_h(tx_hash)} with source hash {_h(source or b'')}",
                        f"{_h(same_source.tx_hash)} (the portal log's deposit)",
                        f"transaction {position} has the source hash of {_where(same_source)} "
                        "but other fields",
                    )
                )
            else:
                problems.append(
                    DepositProblem(
                        "deposit.unknown",
                        None,
                        f"deposit {_h(tx_hash)} with source hash {_h(source or b'')}",
                        "no such deposit on L1 (none waiting)",
                        f"transaction {position}",
                    )
                )
            continue
        if deposit.l1_block > origin:
            problems.append(
                DepositProblem(
                    "deposit.origin",
                    deposit,
                    f"deposit of L1 block {deposit.l1_block}",
                    f"<= {origin} (the block's L1 origin)",
                    f"transaction {position} is {_where(deposit)}",
                )
            )
        while front < len(queue) and front in taken:
            front += 1
        if index != front:
            skipped = queue[front]
            problems.append(
                DepositProblem(
                    "deposit.skipped",
                    skipped,
                    f"{_where(deposit)} included first",
                    f"{_where(skipped)} first (L1 order)",
                    f"transaction {position} skips the older deposit",
                )
            )
        taken.add(index)
    remaining = tuple(d for i, d in enumerate(queue) if i not in taken)
    late = [d for d in remaining if d.l1_block + window < origin]
    for d in late:
        problems.append(
            DepositProblem(
                "deposit.skipped",
                d,
                f"not included by an L2 block with L1 origin {origin}",
                f"included by L1 origin {d.l1_block + window} "
                f"(L1 block {d.l1_block} + deposit window {window})",
                f"{_where(d)} was not included within the deposit window",
                drops_batch=False,
            )
        )
    if late:
        remaining = tuple(d for d in remaining if d not in late)
    return remaining, problems
