"""The verifier's py-evm adapter: the only verifier module that imports py-evm (``eth*`` packages).

Deliberately *not* the sequencer's flat state: the verifier runs py-evm's own trie-backed
``AccountDB`` (the reference implementation), so a bug in the sequencer's execution path is
caught by independent code. State roots here are py-evm's own. Its trie nodes live in a
:class:`~verifier.store.RawStore` (LMDB in a data dir), reached through a thin ``BaseDB``
wrapper. Everything else in the verifier sees plain values (:class:`Env`, :class:`Header`,
:class:`ExecutedTx`, :class:`Account`) and opaque :data:`BlockState` handles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import sha256
from types import SimpleNamespace
from typing import Any, TypeAlias

import rlp
from eth._utils.address import generate_contract_address
from eth.constants import BLANK_ROOT_HASH, EMPTY_UNCLE_HASH
from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB
from eth.db.trie import make_trie_root_and_nodes
from eth.vm.execution_context import ExecutionContext
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.blocks import PragueBlockHeader
from eth.vm.forks.prague.state import PragueState
from eth_bloom.bloom import BloomFilter
from eth_hash.auto import keccak as _keccak
from eth_typing import Address, BlockNumber, Hash32
from eth_utils.exceptions import ValidationError

from verifier.store import RawStore

_BUILDER = PragueVM.get_transaction_builder()

BlockState: TypeAlias = PragueState
"""A state being read or built (one per open EVM block); only this module looks inside."""


def keccak(data: bytes) -> bytes:
    """Keccak-256 of ``data``."""
    return bytes(_keccak(data))


@dataclass(frozen=True, slots=True)
class Env:
    """An EVM block's environment, as the feed's ``miniBlock.env`` gives it."""

    number: int
    timestamp: int
    parent_hash: bytes
    base_fee: int
    gas_limit: int
    coinbase: bytes
    prev_randao: bytes


@dataclass(frozen=True, slots=True)
class ExecutedTx:
    """What re-executing one transaction gave."""

    tx_hash: bytes
    valid: bool
    error: str | None
    status: int
    gas_used: int
    cumulative_gas_used: int
    logs: tuple[tuple[bytes, tuple[bytes, ...], bytes], ...]
    contract_address: bytes | None
    encoded_receipt: bytes
    bloom: int


@dataclass(frozen=True, slots=True)
class Header:
    """The fields of a Prague header the checks compare."""

    number: int
    parent_hash: bytes
    state_root: bytes
    transactions_root: bytes
    receipts_root: bytes
    bloom: int
    gas_used: int
    timestamp: int
    base_fee: int
    gas_limit: int
    coinbase: bytes
    prev_randao: bytes


@dataclass(frozen=True, slots=True)
class Account:
    """An account's values in a state (a missing account: ``exists`` false, zeros)."""

    exists: bool
    nonce: int
    balance: int
    code_hash: bytes


def decode_header(header_rlp: bytes) -> Header:
    """Decode a Prague header from its RLP."""
    h = rlp.decode(header_rlp, sedes=PragueBlockHeader)
    return Header(
        number=h.block_number,
        parent_hash=h.parent_hash,
        state_root=h.state_root,
        transactions_root=h.transaction_root,
        receipts_root=h.receipt_root,
        bloom=h.bloom,
        gas_used=h.gas_used,
        timestamp=h.timestamp,
        base_fee=h.base_fee_per_gas or 0,
        gas_limit=h.gas_limit,
        coinbase=h.coinbase,
        prev_randao=h.mix_hash,
    )


def encode_header(header: Header) -> bytes:
    """The RLP of a standard Prague header with these fields (post-merge constants for the rest:
    no uncles, no difficulty, empty extra data, no withdrawals, blobs or requests); the block
    hash is its keccak."""
    encoded = rlp.encode(
        PragueBlockHeader(
            difficulty=0,
            block_number=BlockNumber(header.number),
            gas_limit=header.gas_limit,
            timestamp=header.timestamp,
            coinbase=Address(header.coinbase),
            parent_hash=Hash32(header.parent_hash),
            uncles_hash=EMPTY_UNCLE_HASH,
            state_root=Hash32(header.state_root),
            transaction_root=Hash32(header.transactions_root),
            receipt_root=Hash32(header.receipts_root),
            bloom=header.bloom,
            gas_used=header.gas_used,
            extra_data=b"",
            mix_hash=Hash32(header.prev_randao),
            nonce=b"\x00" * 8,
            base_fee_per_gas=header.base_fee,
            withdrawals_root=BLANK_ROOT_HASH,
            blob_gas_used=0,
            excess_blob_gas=0,
            parent_beacon_block_root=Hash32(b"\x00" * 32),
            requests_hash=Hash32(sha256(b"").digest()),
        )
    )
    return bytes(encoded)


def trie_root(items: Sequence[bytes]) -> bytes:
    """Root of an index-keyed trie (transactions, receipts), via py-evm."""

    class _Item:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def encode(self) -> bytes:
            return self.data

    root, _ = make_trie_root_and_nodes(tuple(_Item(i) for i in items))  # type: ignore[arg-type]
    return bytes(root)


def encode_claimed_receipt(r: dict[str, Any]) -> tuple[bytes, int]:
    """A receipt's consensus encoding (type byte + RLP) and bloom, from its claimed fields."""
    bloom = BloomFilter()
    logs = []
    for log in r["logs"]:
        address, topics = _b(log["address"]), [_b(t) for t in log["topics"]]
        bloom.add(address)
        for topic in topics:
            bloom.add(topic)
        logs.append([address, topics, _b(log["data"])])
    payload = rlp.encode(
        [int(r["status"], 16), int(r["cumulativeGasUsed"], 16), int(bloom).to_bytes(256, "big"), logs]
    )
    tx_type = int(r["type"], 16)
    return (payload if tx_type == 0 else bytes([tx_type]) + payload), int(bloom)


def _b(v: str) -> bytes:
    return bytes.fromhex(v[2:])


class _StoreDB(BaseDB):
    """py-evm's key-value database interface over a :class:`RawStore`."""

    def __init__(self, store: RawStore) -> None:
        self._get = store.get
        self._put = store.put
        self._delete = store.delete

    def __getitem__(self, key: bytes) -> bytes:
        value = self._get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._put(key, value)

    def __delitem__(self, key: bytes) -> None:
        if not self._delete(key):
            raise KeyError(key)

    def _exists(self, key: bytes) -> bool:
        return self._get(key) is not None


class Executor:
    """Executes mini-blocks on py-evm's Prague state over the verifier's own store."""

    def __init__(self, store: RawStore, chain_id: int) -> None:
        self.db = AtomicDB(_StoreDB(store))
        self.chain_id = chain_id

    def _state(self, root: bytes, env: Env | None = None, prev_hashes: Sequence[bytes] = ()) -> PragueState:
        env = env or Env(0, 0, b"\x00" * 32, 0, 30_000_000, b"\x00" * 20, b"\x00" * 32)
        context = ExecutionContext(
            coinbase=Address(env.coinbase),
            timestamp=env.timestamp,
            block_number=BlockNumber(env.number),
            difficulty=0,
            mix_hash=Hash32(env.prev_randao),
            gas_limit=env.gas_limit,
            prev_hashes=tuple(Hash32(h) for h in prev_hashes),
            chain_id=self.chain_id,
            base_fee_per_gas=env.base_fee,
            excess_blob_gas=0,
        )
        return PragueState(self.db, context, Hash32(root))

    def reader(self, root: bytes) -> BlockState:
        """A state to read (accounts, code, storage) at ``root``."""
        return self._state(root)

    def block_state(self, root: bytes, env: Env, prev_hashes: Sequence[bytes]) -> BlockState:
        """A state for one EVM block: mini-blocks run on it in turn; roots only at the end."""
        return self._state(root, env, prev_hashes)

    def genesis(self, alloc: Sequence[dict[str, Any]], generated: dict[str, Any] | None = None) -> bytes:
        """Build the genesis state: ``alloc``, plus ``generated`` accounts (the sequencer's
        ``--accounts``): ``count`` accounts of ``balance`` at ``keccak(domain || i as 8 bytes)[12:]``."""
        state = self._state(BLANK_ROOT_HASH)
        if generated:
            domain = bytes.fromhex(generated["domain"][2:])
            balance = int(generated["balance"], 16)
            for i in range(int(generated["count"], 16)):
                state.set_balance(Address(keccak(domain + i.to_bytes(8, "big"))[12:]), balance)
        for entry in alloc:
            address = Address(bytes.fromhex(entry["address"][2:]))
            state.set_balance(address, int(entry["balance"], 16))
            state.set_nonce(address, int(entry["nonce"], 16))
            code = bytes.fromhex(entry["code"][2:])
            if code:
                state.set_code(address, code)
            for slot, value in entry["storage"]:
                state.set_storage(address, int(slot, 16), int(value, 16))
        state.persist()
        return bytes(state.state_root)

    def execute(self, state: BlockState, raw_txs: Sequence[bytes], gas_before: int) -> list[ExecutedTx]:
        """Run the transactions on ``state`` (a block state), in order."""
        out: list[ExecutedTx] = []
        cumulative = gas_before
        for raw in raw_txs:
            tx_hash = keccak(raw)
            try:
                tx = _BUILDER.decode(raw)
                state.lock_changes()
                snapshot = state.snapshot()
                try:
                    computation = state.apply_transaction(tx)
                except ValidationError as exc:
                    state.revert(snapshot)
                    out.append(ExecutedTx(tx_hash, False, str(exc), 0, 0, cumulative, (), None, b"", 0))
                    continue
                state.commit(snapshot)
            except Exception as exc:
                out.append(
                    ExecutedTx(
                        tx_hash, False, f"{type(exc).__name__}: {exc}", 0, 0, cumulative, (), None, b"", 0
                    )
                )
                continue
            receipt = PragueVM.make_receipt(SimpleNamespace(gas_used=cumulative), tx, computation, state)  # type: ignore[arg-type]
            gas_used = receipt.gas_used - cumulative
            cumulative = receipt.gas_used
            logs = tuple(
                (bytes(a), tuple(t.to_bytes(32, "big") for t in topics), bytes(data))
                for a, topics, data in computation.get_log_entries()
            )
            contract = bytes(generate_contract_address(Address(tx.sender), tx.nonce)) if not tx.to else None
            out.append(
                ExecutedTx(
                    tx_hash,
                    True,
                    None,
                    0 if computation.is_error else 1,
                    gas_used,
                    cumulative,
                    logs,
                    contract,
                    receipt.encode(),
                    receipt.bloom,
                )
            )
        return out

    @staticmethod
    def commit(state: BlockState) -> bytes:
        """Persist ``state`` to the store; its state root."""
        state.persist()
        return bytes(state.state_root)

    @staticmethod
    def apply_diff(state: BlockState, diff: Sequence[dict[str, Any]]) -> None:
        """Apply a stream's claimed diff to ``state`` (no execution)."""
        for acc in diff:
            address = Address(bytes.fromhex(acc["address"][2:]))
            if acc["deleted"]:
                state.delete_account(address)
                continue
            state.touch_account(address)
            state.set_nonce(address, int(acc["nonce"], 16))
            state.set_balance(address, int(acc["balance"], 16))
            if acc.get("code") is not None:
                state.set_code(address, bytes.fromhex(acc["code"][2:]))
            for slot, value in acc["storage"]:
                state.set_storage(address, int(slot, 16), int(value, 16))
        state.lock_changes()

    @staticmethod
    def root_of(state: BlockState) -> bytes:
        """The state root of ``state`` with its pending changes (nothing persisted)."""
        return bytes(state.make_state_root())

    @staticmethod
    def account(state: BlockState, address: bytes) -> Account:
        """The account at ``address`` in ``state``."""
        a = Address(address)
        return Account(
            state.account_exists(a), state.get_nonce(a), state.get_balance(a), bytes(state.get_code_hash(a))
        )

    @staticmethod
    def code(state: BlockState, address: bytes) -> bytes:
        """The code at ``address`` in ``state``."""
        return bytes(state.get_code(Address(address)))

    @staticmethod
    def storage(state: BlockState, address: bytes, slot: int) -> int:
        """The value of ``slot`` of ``address`` in ``state``."""
        return int(state.get_storage(Address(address), slot))
