"""Deposits: the portal's ``TransactionDeposited`` event and the L2 deposit transaction (type 0x7E).

Both in the OP stack's encodings (ethereum-optimism/specs, protocol/deposits.md):

- the event ``TransactionDeposited(address indexed from, address indexed to, uint256 indexed
  version, bytes opaqueData)``, version 0, with ``opaqueData = abi.encodePacked(uint256 mint,
  uint256 value, uint64 gasLimit, bool isCreation, bytes data)``;
- the transaction ``0x7E || rlp([sourceHash, from, to, mint, value, gas, isSystemTx, data])``
  (``to`` empty for a creation, ``isSystemTx`` an RLP bool: ``0x80`` false, ``0x01`` true), its
  hash ``keccak256`` of those bytes;
- a user deposit's ``sourceHash = keccak256(bytes32(0) ++ keccak256(l1BlockHash ++
  bytes32(logIndex)))``.

A deposit has no signature: it is a :class:`~sequencer.types.SignedTx` with ``type`` 0x7E,
``source_hash`` and ``mint`` set, no fee (``max_fee_per_gas`` 0) and ``v = r = s = 0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_hash.auto import keccak

from sequencer import fastrlp
from sequencer.types import SignedTx

DEPOSIT_TX_TYPE = 0x7E
DEPOSIT_RECEIPT_VERSION = 1
"""A deposit receipt's version (OP's Canyon): its consensus encoding ends ``depositNonce,
depositReceiptVersion``."""
DEPOSIT_EVENT_VERSION = 0
TRANSACTION_DEPOSITED_TOPIC = keccak(b"TransactionDeposited(address,address,uint256,bytes)")
ALIAS_OFFSET = 0x1111000000000000000000000000000000001111
USER_DEPOSIT_DOMAIN = b"\x00" * 32
_OPAQUE_FIXED = 32 + 32 + 8 + 1


class MalformedDeposit(ValueError):
    """A log or raw transaction that is not a well-formed deposit (the message says why)."""


@dataclass(frozen=True, slots=True)
class DepositEvent:
    """One ``TransactionDeposited`` log of the portal, where it was emitted and what it asks for.

    ``sender`` is the L2 ``from`` as the portal emitted it (already aliased for a contract
    caller); ``to`` is ``None`` for a creation.
    """

    l1_block_number: int
    l1_block_hash: bytes
    l1_tx_hash: bytes
    log_index: int
    sender: bytes
    to: bytes | None
    mint: int
    value: int
    gas: int
    data: bytes

    @property
    def source_hash(self) -> bytes:
        """The deposit's unique source hash (user-deposit domain)."""
        return user_deposit_source_hash(self.l1_block_hash, self.log_index)


def user_deposit_source_hash(l1_block_hash: bytes, log_index: int) -> bytes:
    """``keccak256(bytes32(0) ++ keccak256(l1BlockHash ++ bytes32(logIndex)))``."""
    inner = keccak(l1_block_hash + log_index.to_bytes(32, "big"))
    return bytes(keccak(USER_DEPOSIT_DOMAIN + inner))


def apply_l1_to_l2_alias(address: bytes) -> bytes:
    """An L1 contract's address as its deposits' L2 sender: ``address + 0x1111...1111`` mod 2^160."""
    return ((int.from_bytes(address, "big") + ALIAS_OFFSET) % (1 << 160)).to_bytes(20, "big")


def undo_l1_to_l2_alias(address: bytes) -> bytes:
    """The inverse of :func:`apply_l1_to_l2_alias`."""
    return ((int.from_bytes(address, "big") - ALIAS_OFFSET) % (1 << 160)).to_bytes(20, "big")


def encode_opaque_data(mint: int, value: int, gas: int, is_creation: bool, data: bytes) -> bytes:
    """``abi.encodePacked(uint256 mint, uint256 value, uint64 gasLimit, bool isCreation, bytes data)``."""
    return (
        mint.to_bytes(32, "big")
        + value.to_bytes(32, "big")
        + gas.to_bytes(8, "big")
        + (b"\x01" if is_creation else b"\x00")
        + data
    )


def decode_deposit_log(
    topics: list[bytes],
    data: bytes,
    *,
    l1_block_number: int,
    l1_block_hash: bytes,
    l1_tx_hash: bytes,
    log_index: int,
) -> DepositEvent:
    """A portal ``TransactionDeposited`` log (its topics and ABI-encoded data) as a deposit.

    Raises :class:`MalformedDeposit` for another event, another version or bad encoding.
    """
    if len(topics) != 4 or topics[0] != TRANSACTION_DEPOSITED_TOPIC:
        raise MalformedDeposit("not a TransactionDeposited log")
    version = int.from_bytes(topics[3], "big")
    if version != DEPOSIT_EVENT_VERSION:
        raise MalformedDeposit(f"unknown deposit version {version}")
    if len(data) < 64 or int.from_bytes(data[:32], "big") != 32:
        raise MalformedDeposit("opaqueData is not ABI-encoded bytes")
    length = int.from_bytes(data[32:64], "big")
    if length < _OPAQUE_FIXED or 64 + length > len(data):
        raise MalformedDeposit("opaqueData too short")
    opaque = data[64 : 64 + length]
    mint = int.from_bytes(opaque[0:32], "big")
    value = int.from_bytes(opaque[32:64], "big")
    gas = int.from_bytes(opaque[64:72], "big")
    if opaque[72] not in (0, 1):
        raise MalformedDeposit("isCreation is not a bool")
    is_creation = opaque[72] == 1
    to = topics[2][12:]
    return DepositEvent(
        l1_block_number=l1_block_number,
        l1_block_hash=l1_block_hash,
        l1_tx_hash=l1_tx_hash,
        log_index=log_index,
        sender=topics[1][12:],
        to=None if is_creation else to,
        mint=mint,
        value=value,
        gas=gas,
        data=bytes(opaque[_OPAQUE_FIXED:]),
    )


def encode_deposit(
    source_hash: bytes,
    sender: bytes,
    to: bytes | None,
    mint: int,
    value: int,
    gas: int,
    data: bytes,
    is_system_tx: bool = False,
) -> bytes:
    """The deposit transaction's bytes: ``0x7E || rlp([...])``."""
    body = fastrlp.encode(
        [source_hash, sender, to or b"", mint, value, gas, b"\x01" if is_system_tx else b"", data]
    )
    return bytes((DEPOSIT_TX_TYPE,)) + body


def deposit_tx(event: DepositEvent) -> SignedTx:
    """The L2 deposit transaction of a portal event."""
    raw = encode_deposit(
        event.source_hash, event.sender, event.to, event.mint, event.value, event.gas, event.data
    )
    return _signed(
        raw, event.source_hash, event.sender, event.to, event.mint, event.value, event.gas, event.data, False
    )


def _signed(
    raw: bytes,
    source_hash: bytes,
    sender: bytes,
    to: bytes | None,
    mint: int,
    value: int,
    gas: int,
    data: bytes,
    is_system_tx: bool,
) -> SignedTx:
    return SignedTx(
        hash=bytes(keccak(raw)),
        raw=raw,
        sender=sender,
        type=DEPOSIT_TX_TYPE,
        chain_id=None,
        nonce=0,
        gas=gas,
        to=to,
        value=value,
        data=data,
        max_fee_per_gas=0,
        max_priority_fee_per_gas=0,
        access_list=(),
        v=0,
        r=0,
        s=0,
        source_hash=source_hash,
        mint=mint,
        is_system_tx=is_system_tx,
    )


def _uint(item: Any, name: str, size: int = 32) -> int:
    if not isinstance(item, bytes) or (item[:1] == b"\x00") or len(item) > size:
        raise MalformedDeposit(f"{name} is not a canonical integer")
    return int.from_bytes(item, "big")


def decode_deposit(raw: bytes) -> SignedTx:
    """A deposit transaction from its bytes, strictly (canonical RLP, field sizes checked).

    Raises :class:`MalformedDeposit`.
    """
    if raw[:1] != bytes((DEPOSIT_TX_TYPE,)):
        raise MalformedDeposit("not a deposit transaction (type 0x7e)")
    try:
        fields = fastrlp.decode(raw[1:])
    except Exception as exc:  # fastrlp.DecodingError and anything a hostile input triggers
        raise MalformedDeposit(f"bad RLP: {exc}") from None
    if not isinstance(fields, list) or len(fields) != 8:
        raise MalformedDeposit("a deposit has 8 fields")
    source_hash, sender, to, mint, value, gas, is_system, data = fields
    for name, item in (("sourceHash", source_hash), ("from", sender), ("to", to), ("data", data)):
        if not isinstance(item, bytes):
            raise MalformedDeposit(f"{name} is not a byte string")
    if len(source_hash) != 32 or len(sender) != 20 or len(to) not in (0, 20):
        raise MalformedDeposit("sourceHash, from or to has the wrong length")
    if is_system not in (b"", b"\x01"):
        raise MalformedDeposit("isSystemTx is not an RLP bool")
    return _signed(
        raw,
        source_hash,
        sender,
        to or None,
        _uint(mint, "mint"),
        _uint(value, "value"),
        _uint(gas, "gas", 8),
        data,
        is_system == b"\x01",
    )
