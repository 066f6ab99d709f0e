"""Raw transactions for re-execution: decoded, checked against the stateless rules a sequencer
admits a transaction by, their senders recovered from the raw bytes (py-evm adapter)."""

from __future__ import annotations

from typing import Any

from coincurve import PublicKey
from eth.exceptions import UnrecognizedTransactionType
from eth.vm.forks.london.transactions import DynamicFeeTransaction
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.transactions import PragueTypedTransaction
from eth.vm.spoof import SpoofTransaction
from eth_keys.exceptions import BadSignature
from eth_utils.exceptions import ValidationError
from rlp.exceptions import RLPException

from sequencer import fastrlp
from verifier.commitments import keccak

_BUILDER = PragueVM.get_transaction_builder()
MAX_TX_SIZE = 128 * 1024
SUPPORTED_TYPES = (0, 1, 2)
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
UINT256 = 2**256
TX_DATA_FLOOR_PER_TOKEN = 10  # EIP-7623
TX_BASE_GAS = 21_000
INVALID_TRANSACTION: tuple[type[Exception], ...] = (
    ValidationError,  # py-evm's rules: nonce, balance, fee cap, intrinsic gas, signature, ...
    BadSignature,
    RLPException,  # not a decodable transaction
    UnrecognizedTransactionType,
    ValueError,
    TypeError,
    IndexError,
)
"""What makes a transaction invalid (never included). Anything else is the verifier's own
failure (a missing code in its own state, say) and stops it rather than passing a verdict."""


class InvalidTransaction(ValidationError):
    """A transaction the chain's rules do not let a sequencer include."""


def _signing_payload(fields: list[Any], tx_type: int, chain_id: int | None) -> bytes:
    """What the sender signed: ``type || rlp(fields but yParity, r, s)``; legacy (EIP-155):
    ``rlp(first six fields + [chainId, 0, 0])``, or the six alone when unprotected."""
    if tx_type:
        return bytes((tx_type,)) + fastrlp.encode(fields[:-3])
    if chain_id is None:
        return fastrlp.encode(fields[:6])
    return fastrlp.encode([*fields[:6], chain_id, b"", b""])


def _int(b: bytes) -> int:
    if b[:1] == b"\x00":
        raise InvalidTransaction("a transaction field is not a canonical integer")
    return int.from_bytes(b, "big")


def _fast_dynamic_fee(fields: Any) -> Any:
    """py-evm's EIP-1559 transaction built from already decoded fields (a third of the cost of
    py-evm's own decoding); ``None`` for anything but the plain shape (an access list, say),
    which py-evm's decoder then takes."""
    if type(fields) is not list or len(fields) != 12 or fields[8] != []:
        return None
    if any(type(f) is not bytes for i, f in enumerate(fields) if i != 8):
        return None
    cid, nonce, tip, cap, gas, to, value, data, _access, y_parity, r, s = fields
    inner = DynamicFeeTransaction(
        _int(cid),
        _int(nonce),
        _int(tip),
        _int(cap),
        _int(gas),
        to,
        _int(value),
        data,
        [],
        _int(y_parity),
        _int(r),
        _int(s),
    )
    return PragueTypedTransaction(2, inner)


def prepare_transaction(
    raw: bytes, chain_id: int, allow_unprotected: bool, impersonated: bytes | None = None
) -> Any:
    """Decode a raw transaction and check the stateless rules a sequencer admits it by (size,
    type, chain id, signature in range and low-s, tip within the fee cap, intrinsic and EIP-7623
    floor gas, nonce); recover its sender from the raw bytes (libsecp256k1) and cache it on
    py-evm's transaction, so execution never recovers it again. Raises
    :class:`InvalidTransaction`.

    ``impersonated`` (a devnet's ``impersonated`` dev edit, the caller checks it is one): the
    sender, which no signature proves; the transaction must carry the sequencer's stand-in
    signature for it (``r`` = the sender's address as an integer, or 1 for the zero address;
    ``s`` = 1; parity 0), and is executed for that sender with py-evm's signature check off."""
    if len(raw) > MAX_TX_SIZE:
        raise InvalidTransaction(f"larger than {MAX_TX_SIZE} bytes")
    if not raw:
        raise InvalidTransaction("empty")
    tx_type = raw[0] if raw[0] < 0x7F else 0
    if tx_type not in SUPPORTED_TYPES:
        raise InvalidTransaction(f"unsupported transaction type {tx_type}")
    try:
        fields = fastrlp.decode(raw[1:] if tx_type else raw)
    except (fastrlp.DecodingError, RecursionError) as exc:
        raise InvalidTransaction(f"not RLP: {exc}") from None
    tx: Any = _fast_dynamic_fee(fields) if tx_type == 2 else None
    if tx is None:
        tx = _BUILDER.decode(raw)
    if tx_type == 0:
        v = tx.v
        if v in (27, 28):
            if not allow_unprotected:
                raise InvalidTransaction("unprotected (no chain id, EIP-155) transactions are not allowed")
            tx_chain_id, y_parity = None, v - 27
        else:
            tx_chain_id = (v - 35) // 2 if v >= 35 else -1
            y_parity = v - 35 - 2 * tx_chain_id
        max_fee = tip = tx.gas_price
    else:
        tx_chain_id, y_parity = tx.chain_id, tx.y_parity
        if tx_type == 1:
            max_fee = tip = tx.gas_price
        else:
            max_fee, tip = tx.max_fee_per_gas, tx.max_priority_fee_per_gas
    if tx_chain_id != chain_id:
        raise InvalidTransaction(f"chain id {tx_chain_id}, not this chain's {chain_id}")
    if tip > max_fee:
        raise InvalidTransaction("max priority fee per gas above max fee per gas")
    if not (max_fee < UINT256 and tx.value < UINT256 and tx.gas < UINT256 and tx.nonce < 2**64 - 1):
        raise InvalidTransaction("a transaction field is out of range")
    if tx.to and len(tx.to) != 20:
        raise InvalidTransaction("to is not an address")
    r, s = tx.r, tx.s
    if not (0 < r < SECP256K1_N and 0 < s <= SECP256K1_N // 2 and y_parity in (0, 1)):
        raise InvalidTransaction("invalid signature values (EIP-2: s in the lower half)")
    if tx.gas < tx.intrinsic_gas:
        raise InvalidTransaction("intrinsic gas too low")
    data = tx.data
    zeros = data.count(0)
    if tx.gas < TX_BASE_GAS + TX_DATA_FLOOR_PER_TOKEN * (zeros + 4 * (len(data) - zeros)):
        raise InvalidTransaction("insufficient gas for floor data gas cost (EIP-7623)")
    if impersonated is not None:
        if (r, s, y_parity) != (int.from_bytes(impersonated, "big") or 1, 1, 0):
            raise InvalidTransaction("not the stand-in signature of an impersonated sender")
        tx.__dict__["sender"] = impersonated
        if tx_type:
            tx.__dict__["hash"] = keccak(raw)
        return SpoofTransaction(tx, sender=impersonated, validate=lambda: None)
    digest = keccak(_signing_payload(fields, tx_type, tx_chain_id))
    try:
        public = PublicKey.from_signature_and_message(
            r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((y_parity,)), digest, hasher=None
        )
    except ValueError:
        raise InvalidTransaction("the signature does not recover") from None
    tx.__dict__["sender"] = keccak(public.format(compressed=False)[1:])[12:]
    if tx_type:
        tx.__dict__["hash"] = keccak(raw)
    return tx
