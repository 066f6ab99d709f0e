"""Decoding and stateless validation of raw signed transactions (py-evm adapter).

Runs at ingress, before a transaction reaches the mempool: the sender is recovered once here
(libsecp256k1 through coincurve, the signing hash cut from the raw bytes) and cached on py-evm's
decoded transaction, which travels as :attr:`SignedTx.engine_tx` to execution.
"""

from __future__ import annotations

from typing import Any

import coincurve
import rlp
from eth.vm.forks.prague import PragueVM
from eth.vm.spoof import SpoofTransaction
from eth_hash.auto import keccak
from eth_utils.exceptions import ValidationError

from sequencer import fastrlp
from sequencer.bridge.deposits import DEPOSIT_TX_TYPE
from sequencer.errors import (
    DepositFromUser,
    IntrinsicGasTooLow,
    InvalidSignature,
    InvalidTransaction,
    NonceMaxValue,
    OversizedTransaction,
    TipAboveFeeCap,
    UndecodableTransaction,
    UnprotectedTransaction,
    UnsupportedTransactionType,
    WrongChainId,
)
from sequencer.rules import data_floor_gas
from sequencer.types import SignedTx, UnsignedTx

MAX_TX_SIZE = 128 * 1024  # geth's txMaxSize
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SUPPORTED_TYPES = (0, 1, 2)

_BUILDER = PragueVM.get_transaction_builder()


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
    """Decode and statelessly validate a raw transaction; each refusal is its rule's error."""
    if len(raw) > MAX_TX_SIZE:
        raise OversizedTransaction()
    if not raw:
        raise UndecodableTransaction("empty input")
    if raw[0] == DEPOSIT_TX_TYPE:
        raise DepositFromUser()
    if raw[0] < 0x7F and raw[0] not in SUPPORTED_TYPES:
        raise UnsupportedTransactionType()
    try:
        tx = decode_raw(raw)
    except (rlp.DecodingError, rlp.DeserializationError, ValidationError, ValueError) as exc:
        raise UndecodableTransaction(str(exc)) from None
    except Exception as exc:  # py-evm raises assorted errors on malformed payloads
        raise UndecodableTransaction(type(exc).__name__) from None

    tx_type = raw[0] if raw[0] < 0x7F else 0
    if tx_type == 0:
        v = tx.v
        if v in (27, 28):
            if not allow_unprotected:
                raise UnprotectedTransaction()
            tx_chain_id = None
        else:
            tx_chain_id = (v - 35) // 2 if v >= 35 else -1
            if tx_chain_id != chain_id:
                raise WrongChainId()
        max_fee = max_tip = tx.gas_price
    else:
        tx_chain_id = tx.chain_id
        if tx_chain_id != chain_id:
            raise WrongChainId()
        if tx_type == 1:
            max_fee = max_tip = tx.gas_price
        else:
            max_fee, max_tip = tx.max_fee_per_gas, tx.max_priority_fee_per_gas
            if max_tip > max_fee:
                raise TipAboveFeeCap()

    r, s = tx.r, tx.s
    if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N):
        raise InvalidSignature()
    if s > SECP256K1_N // 2:  # EIP-2
        raise InvalidSignature("s above secp256k1n/2 (EIP-2)")
    if tx.gas < tx.intrinsic_gas:
        raise IntrinsicGasTooLow()
    try:
        tx.validate()
    except ValidationError as exc:
        raise InvalidTransaction(str(exc)) from None
    y_parity = tx.y_parity if tx_type else _legacy_parity(tx.v, tx_chain_id)
    if y_parity not in (0, 1):
        raise InvalidSignature()
    tx_hash = keccak(raw)
    try:
        sender = recover_sender(signing_hash(raw, tx_type, tx_chain_id), y_parity, r, s)
    except Exception:
        raise InvalidSignature("signature does not recover") from None
    # py-evm caches both as cached_property values: execution never recovers or re-encodes again
    tx.__dict__["sender"] = sender
    if tx_type:
        tx.__dict__["hash"] = tx_hash
    if tx.gas < data_floor_gas(tx.data):
        raise IntrinsicGasTooLow("insufficient gas for floor data gas cost")
    if tx.nonce >= 2**64 - 1:
        raise NonceMaxValue()

    access_list: tuple[tuple[bytes, tuple[int, ...]], ...] = ()
    if tx_type:
        access_list = tuple(
            (bytes(address), tuple(int(slot) for slot in slots)) for address, slots in tx.access_list
        )
    return SignedTx(
        hash=tx_hash,
        raw=raw,
        sender=sender,
        type=tx_type,
        chain_id=tx_chain_id,
        nonce=tx.nonce,
        gas=tx.gas,
        to=bytes(tx.to) if tx.to else None,
        value=tx.value,
        data=bytes(tx.data),
        max_fee_per_gas=max_fee,
        max_priority_fee_per_gas=max_tip,
        access_list=access_list,
        v=tx.v if tx_type == 0 else y_parity,
        r=r,
        s=s,
        engine_tx=tx,
    )


def _access_items(tx: UnsignedTx) -> list[object]:
    return [[address, [slot.to_bytes(32, "big") for slot in slots]] for address, slots in tx.access_list]


def impersonated_transaction(tx: UnsignedTx, sender: bytes) -> SignedTx:
    """A devnet transaction sent for an account nobody signs for (``anvil_impersonateAccount``).

    Its raw form carries a stand-in signature (``r`` = the sender's address, ``s`` = 1) that
    recovers to no one, so its hash is unique to its sender; the sender is kept on its receipt,
    and execution takes it from there (the signature is never checked)."""
    r, s = int.from_bytes(sender, "big") or 1, 1
    to = tx.to or b""
    if tx.type == 0:
        v = tx.chain_id * 2 + 35
        raw = fastrlp.encode([tx.nonce, tx.max_fee_per_gas, tx.gas, to, tx.value, tx.data, v, r, s])
    elif tx.type == 1:
        v = 0
        body = [
            tx.chain_id,
            tx.nonce,
            tx.max_fee_per_gas,
            tx.gas,
            to,
            tx.value,
            tx.data,
            _access_items(tx),
            v,
            r,
            s,
        ]
        raw = b"\x01" + fastrlp.encode(body)
    else:
        v = 0
        body = [
            tx.chain_id,
            tx.nonce,
            tx.max_priority_fee_per_gas,
            tx.max_fee_per_gas,
            tx.gas,
            to,
            tx.value,
            tx.data,
            _access_items(tx),
            v,
            r,
            s,
        ]
        raw = b"\x02" + fastrlp.encode(body)
    decoded = decode_raw(raw)
    decoded.__dict__["sender"] = sender
    return SignedTx(
        hash=keccak(raw),
        raw=raw,
        sender=sender,
        type=tx.type,
        chain_id=tx.chain_id,
        nonce=tx.nonce,
        gas=tx.gas,
        to=tx.to,
        value=tx.value,
        data=tx.data,
        max_fee_per_gas=tx.max_fee_per_gas,
        max_priority_fee_per_gas=tx.max_priority_fee_per_gas if tx.type == 2 else tx.max_fee_per_gas,
        access_list=tx.access_list,
        v=v,
        r=r,
        s=s,
        engine_tx=SpoofTransaction(decoded, validate=lambda: None),
    )
