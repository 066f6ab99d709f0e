"""Decoding and stateless validation of raw signed transactions (py-evm adapter).

Runs at ingress, before a transaction reaches the mempool: the sender is recovered once here
(coincurve backs eth-keys) and cached on the decoded transaction for execution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import coincurve
import rlp
from eth.vm.forks.prague import PragueVM
from eth_hash.auto import keccak
from eth_utils.exceptions import ValidationError

from sequencer import fastrlp
from sequencer.errors import InvalidTransaction

MAX_TX_SIZE = 128 * 1024  # geth's txMaxSize
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SUPPORTED_TYPES = (0, 1, 2)
TX_GAS = 21000
TOTAL_COST_FLOOR_PER_TOKEN = 10  # EIP-7623
STANDARD_TOKEN_COST = 4

_BUILDER = PragueVM.get_transaction_builder()


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A decoded, signature-checked transaction; ``evm_tx`` is py-evm's object (sender cached)."""

    hash: bytes
    raw: bytes
    sender: bytes
    nonce: int
    type: int
    gas: int
    to: bytes | None
    value: int
    data: bytes
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    chain_id: int | None
    intrinsic_gas: int
    evm_tx: Any

    def effective_gas_price(self, base_fee: int) -> int:
        return min(self.max_fee_per_gas, self.max_priority_fee_per_gas + base_fee)

    def max_cost(self) -> int:
        return self.gas * self.max_fee_per_gas + self.value


def data_floor_gas(data: bytes) -> int:
    """EIP-7623: the minimum gas a transaction pays for its calldata."""
    zeros = data.count(0)
    tokens = zeros + (len(data) - zeros) * STANDARD_TOKEN_COST
    return TX_GAS + TOTAL_COST_FLOOR_PER_TOKEN * tokens


def _item_end(data: bytes, pos: int) -> int:
    """The end offset of the RLP item starting at ``pos`` (the input was decoded strictly before)."""
    b0 = data[pos]
    if b0 < 0x80:
        return pos + 1
    if b0 < 0xB8:
        return pos + 1 + b0 - 0x80
    if b0 < 0xC0:
        n = b0 - 0xB7
        return pos + 1 + n + int.from_bytes(data[pos + 1 : pos + 1 + n], "big")
    if b0 < 0xF8:
        return pos + 1 + b0 - 0xC0
    n = b0 - 0xF7
    return pos + 1 + n + int.from_bytes(data[pos + 1 : pos + 1 + n], "big")


def _list_body(data: bytes) -> int:
    """The offset of the first item inside the RLP list ``data``."""
    b0 = data[0]
    return 1 if b0 < 0xF8 else 1 + b0 - 0xF7


def signing_hash(raw: bytes, tx_type: int, chain_id: int | None) -> bytes:
    """The hash a transaction's sender signed, cut from the raw bytes (no re-encoding).

    Typed: ``keccak(type || rlp(fields without y_parity, r, s))``; legacy:
    ``keccak(rlp([first six fields] + [chain_id, 0, 0]))`` (EIP-155) or the six alone.
    ``raw`` must already have decoded strictly (canonical RLP).
    """
    payload = raw[1:] if tx_type else raw
    pos = _list_body(payload)
    for _ in range({0: 6, 1: 8, 2: 9}[tx_type]):
        pos = _item_end(payload, pos)
    body = payload[_list_body(payload) : pos]
    if tx_type == 0 and chain_id is not None:
        body += fastrlp.encode(chain_id) + b"\x80\x80"
    unsigned = fastrlp.list_prefix(len(body)) + body
    return keccak(raw[:1] + unsigned if tx_type else unsigned)


def _legacy_parity(v: int, chain_id: int | None) -> int:
    return v - 27 if chain_id is None else v - 35 - 2 * chain_id


def recover_sender(msg_hash: bytes, y_parity: int, r: int, s: int) -> bytes:
    """The address that signed ``msg_hash`` (libsecp256k1 through coincurve)."""
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((y_parity,))
    public = coincurve.PublicKey.from_signature_and_message(signature, msg_hash, hasher=None)
    return keccak(public.format(compressed=False)[1:])[12:]


def decode_raw(raw: bytes) -> Any:
    """Decode a raw transaction through the Prague builder (legacy or typed)."""
    return _BUILDER.decode(raw)


def decode_transaction(raw: bytes, chain_id: int, allow_unprotected: bool) -> SignedTx:
    """Decode and statelessly validate a raw transaction, with geth's rejection messages."""
    if len(raw) > MAX_TX_SIZE:
        raise InvalidTransaction("oversized data")
    if not raw:
        raise InvalidTransaction("transaction could not be decoded: empty input")
    if raw[0] < 0x7F and raw[0] not in SUPPORTED_TYPES:
        raise InvalidTransaction("transaction type not supported")
    try:
        tx = decode_raw(raw)
    except (rlp.DecodingError, rlp.DeserializationError, ValidationError, ValueError) as exc:
        raise InvalidTransaction(f"transaction could not be decoded: {exc}") from None
    except Exception as exc:  # py-evm raises assorted errors on malformed payloads
        raise InvalidTransaction(f"transaction could not be decoded: {type(exc).__name__}") from None

    tx_type = raw[0] if raw[0] < 0x7F else 0
    if tx_type == 0:
        v = tx.v
        if v in (27, 28):
            if not allow_unprotected:
                raise InvalidTransaction("only replay-protected (EIP-155) transactions allowed over RPC")
            tx_chain_id = None
        else:
            tx_chain_id = (v - 35) // 2 if v >= 35 else -1
            if tx_chain_id != chain_id:
                raise InvalidTransaction("invalid chain id for signer")
        max_fee = max_tip = tx.gas_price
    else:
        tx_chain_id = tx.chain_id
        if tx_chain_id != chain_id:
            raise InvalidTransaction("invalid chain id for signer")
        if tx_type == 1:
            max_fee = max_tip = tx.gas_price
        else:
            max_fee, max_tip = tx.max_fee_per_gas, tx.max_priority_fee_per_gas
            if max_tip > max_fee:
                raise InvalidTransaction("max priority fee per gas higher than max fee per gas")

    r, s = tx.r, tx.s
    if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N):
        raise InvalidTransaction("invalid transaction v, r, s values")
    if s > SECP256K1_N // 2:  # EIP-2
        raise InvalidTransaction("invalid transaction v, r, s values: s above secp256k1n/2 (EIP-2)")
    try:
        tx.validate()
    except ValidationError as exc:
        message = str(exc)
        if "intrinsic" in message.lower() or "insufficient gas" in message.lower():
            raise InvalidTransaction("intrinsic gas too low") from None
        raise InvalidTransaction(f"invalid transaction: {message}") from None
    y_parity = tx.y_parity if tx_type else _legacy_parity(tx.v, tx_chain_id)
    if y_parity not in (0, 1):
        raise InvalidTransaction("invalid transaction v, r, s values")
    tx_hash = keccak(raw)
    try:
        sender = recover_sender(signing_hash(raw, tx_type, tx_chain_id), y_parity, r, s)
    except Exception:
        raise InvalidTransaction("invalid sender: signature does not recover") from None
    # py-evm caches both as cached_property values: execution never recovers or re-encodes again
    tx.__dict__["sender"] = sender
    if tx_type:
        tx.__dict__["hash"] = tx_hash

    intrinsic = tx.intrinsic_gas
    if tx.gas < intrinsic:
        raise InvalidTransaction("intrinsic gas too low")
    if tx.gas < data_floor_gas(tx.data):
        raise InvalidTransaction("intrinsic gas too low: insufficient gas for floor data gas cost")
    if tx.nonce >= 2**64 - 1:
        raise InvalidTransaction("nonce has max value")

    to = bytes(tx.to) if tx.to else None
    return SignedTx(
        hash=tx_hash,
        raw=raw,
        sender=sender,
        nonce=tx.nonce,
        type=tx_type,
        gas=tx.gas,
        to=to,
        value=tx.value,
        data=bytes(tx.data),
        max_fee_per_gas=max_fee,
        max_priority_fee_per_gas=max_tip,
        chain_id=tx_chain_id,
        intrinsic_gas=intrinsic,
        evm_tx=tx,
    )


@dataclass(frozen=True, slots=True)
class TxFields:
    """A transaction's fields for display (eth_getTransactionByHash and full blocks)."""

    hash: bytes
    type: int
    sender: bytes
    nonce: int
    gas: int
    to: bytes | None
    value: int
    data: bytes
    gas_price: int | None
    max_fee_per_gas: int | None
    max_priority_fee_per_gas: int | None
    chain_id: int | None
    access_list: tuple[tuple[bytes, tuple[int, ...]], ...] | None
    v: int
    r: int
    s: int


def describe_transaction(raw: bytes) -> TxFields:
    """Decode a raw transaction (already validated once) into display fields."""
    tx = decode_raw(raw)
    tx_type = raw[0] if raw[0] < 0x7F else 0
    access_list = None
    if tx_type in (1, 2):
        access_list = tuple(
            (bytes(address), tuple(int(slot) for slot in slots)) for address, slots in tx.access_list
        )
    if tx_type == 0:
        chain_id = (tx.v - 35) // 2 if tx.v >= 35 else None
        v = tx.v
    else:
        chain_id = tx.chain_id
        v = tx.y_parity
    return TxFields(
        hash=bytes(tx.hash),
        type=tx_type,
        sender=bytes(tx.sender),
        nonce=tx.nonce,
        gas=tx.gas,
        to=bytes(tx.to) if tx.to else None,
        value=tx.value,
        data=bytes(tx.data),
        gas_price=tx.gas_price if tx_type in (0, 1) else None,
        max_fee_per_gas=tx.max_fee_per_gas if tx_type == 2 else None,
        max_priority_fee_per_gas=tx.max_priority_fee_per_gas if tx_type == 2 else None,
        chain_id=chain_id,
        access_list=access_list,
        v=v,
        r=tx.r,
        s=tx.s,
    )
