"""The EVM block being verified: what its mini-blocks add up to, and their signed headers.

:class:`OpenBlock` accumulates, mini-block by mini-block, what the block-level checks compare
with the header (transactions, receipt encodings, gas, bloom, log count); :class:`SignedHeader`
is a mini-block header as the sequencer signed it, kept as evidence when a verdict concerns it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from verifier.execution import ExecutedTx, MiniBlockExecutor
from verifier.wire import ClaimedReceipt, Env, Signature

ENV_FIELDS = ("number", "timestamp", "parentHash", "baseFee", "gasLimit", "coinbase", "prevRandao")


@dataclass(frozen=True, slots=True)
class SignedHeader:
    """A signed mini-block header: what the sequencer committed to (kept as evidence)."""

    number: int
    block_number: int
    index: int
    block_timestamp: int
    timestamp_us: int
    gas_used: int
    transaction_root: bytes
    receipt_root: bytes
    hash: bytes
    signature: Signature

    def as_dict(self) -> dict[str, Any]:
        """The header in MegaETH's field names, with the signature and the mini-block hash."""
        return {
            "block_number": hex(self.block_number),
            "block_timestamp": hex(self.block_timestamp),
            "index": hex(self.index),
            "mini_block_number": hex(self.number),
            "mini_block_timestamp": hex(self.timestamp_us),
            "gas_used": hex(self.gas_used),
            "transaction_root": "0x" + self.transaction_root.hex(),
            "receipt_root": "0x" + self.receipt_root.hex(),
            "hash": "0x" + self.hash.hex(),
            "signature": {
                "r": hex(self.signature.r),
                "s": hex(self.signature.s),
                "yParity": hex(self.signature.y_parity),
            },
        }


@dataclass(slots=True)
class OpenBlock:
    """The EVM block whose mini-blocks are being verified, and what they add up to."""

    env: Env
    first_mini: int
    last_hash: bytes
    last_us: int
    txs: list[bytes] = field(default_factory=list)
    tx_hashes: list[bytes] = field(default_factory=list)
    receipts: list[bytes] = field(default_factory=list)
    gas: int = 0
    bloom: int = 0
    logs: int = 0
    mini_blocks: int = 0
    executed_txs: int = 0
    signed: list[SignedHeader] = field(default_factory=list)
    executor: MiniBlockExecutor | None = None


def executed_receipt(tx: ExecutedTx) -> ClaimedReceipt:
    """A re-executed transaction's receipt, in the claimed form (for its consensus encoding)."""
    return ClaimedReceipt(
        tx.tx_hash,
        tx.tx_type,
        tx.status,
        tx.gas_used,
        tx.cumulative_gas_used,
        tx.effective_gas_price,
        tx.contract_address,
        0,
        0,
        tx.logs,
        tx.deposit_nonce,
    )


def _h(b: bytes | None) -> str:
    return "0x" + b.hex() if b is not None else "null"


def env_value(env: Env, name: str) -> str:
    """A field of an environment, as a verdict shows it."""
    value = {
        "number": env.number,
        "timestamp": env.timestamp,
        "parentHash": env.parent_hash,
        "baseFee": env.base_fee,
        "gasLimit": env.gas_limit,
        "coinbase": env.coinbase,
        "prevRandao": env.prev_randao,
    }[name]
    return _h(value) if isinstance(value, bytes) else str(value)
