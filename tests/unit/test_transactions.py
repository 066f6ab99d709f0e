"""Specification of sequencer.execution.transactions: decoding and stateless validation of raw
signed transactions, with geth's rejection messages."""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from eth_account import Account
from eth_hash.auto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sequencer.codec import decode_signed_tx
from sequencer.errors import InvalidTransaction
from sequencer.execution.transactions import (
    MAX_TX_SIZE,
    SECP256K1_N,
    decode_raw,
    decode_transaction,
    signing_hash,
)
from sequencer.rules import data_floor_gas

CHAIN_ID = 1337
KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ACCOUNT = Account.from_key(KEY)
SENDER = bytes.fromhex(ACCOUNT.address[2:])
TO = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TO_BYTES = bytes.fromhex(TO[2:])
GWEI = 10**9


def sign(fields: dict[str, Any]) -> bytes:
    return bytes(ACCOUNT.sign_transaction(fields).raw_transaction)


def legacy(**overrides: Any) -> dict[str, Any]:
    fields = {
        "chainId": CHAIN_ID,
        "nonce": 7,
        "gasPrice": 3 * GWEI,
        "gas": 50_000,
        "to": TO,
        "value": 12345,
        "data": b"\x01\x02",
    }
    return {**fields, **overrides}


def eip2930(**overrides: Any) -> dict[str, Any]:
    fields = {
        "type": 1,
        "chainId": CHAIN_ID,
        "nonce": 8,
        "gasPrice": 4 * GWEI,
        "gas": 60_000,
        "to": TO,
        "value": 1,
        "data": b"",
        "accessList": [{"address": TO, "storageKeys": ["0x" + "00" * 31 + "05"]}],
    }
    return {**fields, **overrides}


def eip1559(**overrides: Any) -> dict[str, Any]:
    fields = {
        "type": 2,
        "chainId": CHAIN_ID,
        "nonce": 9,
        "maxFeePerGas": 5 * GWEI,
        "maxPriorityFeePerGas": 2 * GWEI,
        "gas": 70_000,
        "to": TO,
        "value": 10**18,
        "data": b"\xab\xcd",
    }
    return {**fields, **overrides}


def decode(raw: bytes, *, allow_unprotected: bool = False) -> Any:
    return decode_transaction(raw, CHAIN_ID, allow_unprotected)


def rejected(raw: bytes, *, allow_unprotected: bool = False) -> str:
    with pytest.raises(InvalidTransaction) as info:
        decode(raw, allow_unprotected=allow_unprotected)
    return info.value.message


def with_high_s(raw: bytes) -> bytes:
    """The same transaction with the malleable twin signature (s -> n - s, parity flipped)."""
    tx = decode_raw(raw)
    if raw[0] >= 0x7F:  # legacy: v = chain_id * 2 + 35 + parity
        flipped_v = tx.v + 1 if (tx.v - 35) % 2 == 0 else tx.v - 1
        encoded: bytes = rlp.encode(tx.copy(s=SECP256K1_N - tx.s, v=flipped_v))
        return encoded
    return bytes(tx.copy(s=SECP256K1_N - tx.s, y_parity=1 - tx.y_parity).encode())


# -- valid transactions ---------------------------------------------------------------------------


def test_legacy_eip155() -> None:
    raw = sign(legacy())
    t = decode(raw)
    assert t.type == 0
    assert t.sender == SENDER
    assert t.hash == keccak(raw)
    assert t.raw == raw
    assert (t.nonce, t.gas, t.to, t.value, t.data) == (7, 50_000, TO_BYTES, 12345, b"\x01\x02")
    assert t.max_fee_per_gas == t.max_priority_fee_per_gas == 3 * GWEI
    assert t.chain_id == CHAIN_ID
    assert decode_raw(raw).intrinsic_gas == 21_000 + 2 * 16
    assert t.effective_gas_price(GWEI) == 3 * GWEI
    assert t.max_cost() == 50_000 * 3 * GWEI + 12345


def test_eip2930() -> None:
    raw = sign(eip2930())
    t = decode(raw)
    assert raw[0] == 1
    assert t.type == 1
    assert t.sender == SENDER
    assert t.hash == keccak(raw)
    assert (t.nonce, t.gas, t.to, t.value, t.data) == (8, 60_000, TO_BYTES, 1, b"")
    assert t.max_fee_per_gas == t.max_priority_fee_per_gas == 4 * GWEI
    assert t.chain_id == CHAIN_ID
    assert decode_raw(raw).intrinsic_gas == 21_000 + 2400 + 1900  # one address, one storage key
    assert t.access_list == ((TO_BYTES, (5,)),)


def test_eip1559() -> None:
    raw = sign(eip1559())
    t = decode(raw)
    assert raw[0] == 2
    assert t.type == 2
    assert t.sender == SENDER
    assert t.hash == keccak(raw)
    assert (t.nonce, t.gas, t.to, t.value, t.data) == (9, 70_000, TO_BYTES, 10**18, b"\xab\xcd")
    assert (t.max_fee_per_gas, t.max_priority_fee_per_gas) == (5 * GWEI, 2 * GWEI)
    assert t.chain_id == CHAIN_ID
    assert t.effective_gas_price(GWEI) == 3 * GWEI
    assert t.effective_gas_price(4 * GWEI) == 5 * GWEI  # capped at the max fee
    assert t.max_cost() == 70_000 * 5 * GWEI + 10**18


def test_contract_creation_has_no_recipient() -> None:
    init_code = bytes.fromhex("600a600c600039600a6000f3602a60005260206000f3")
    raw = sign(eip1559(to=b"", data=init_code, gas=100_000))
    t = decode(raw)
    assert t.to is None
    assert decode_raw(raw).intrinsic_gas > 53_000  # creation surcharge


def test_the_sender_recovered_is_cached_on_the_py_evm_object() -> None:
    t = decode(sign(eip1559()))
    assert bytes(t.engine_tx.sender) == SENDER


def test_unprotected_legacy_is_accepted_only_when_allowed() -> None:
    raw = sign(legacy(chainId=None))
    assert decode_raw(raw).v in (27, 28)
    assert rejected(raw) == "only replay-protected (EIP-155) transactions allowed over RPC"
    t = decode(raw, allow_unprotected=True)
    assert t.sender == SENDER
    assert t.chain_id is None


# -- rejections ------------------------------------------------------------------------------------


def test_oversized() -> None:
    raw = sign(eip1559(data=b"\x01" * MAX_TX_SIZE, gas=30_000_000))
    assert len(raw) > 128 * 1024
    assert rejected(raw) == "oversized data"
    assert rejected(b"\x00" * (MAX_TX_SIZE + 1)) == "oversized data"


@pytest.mark.parametrize("make", [legacy, eip2930, eip1559])
def test_wrong_chain_id(make: Any) -> None:
    assert rejected(sign(make(chainId=1))) == "invalid chain id for signer"


@pytest.mark.parametrize(
    "raw",
    [b"", b"\xde\xad\xbe\xef", b"\xc0", b"\x02\xc0", b"\x02garbage", b"\x01\xc3\x01\x02\x03"],
    ids=["empty", "deadbeef", "empty-list", "type2-empty-list", "type2-garbage", "type1-short"],
)
def test_garbage(raw: bytes) -> None:
    assert rejected(raw).startswith("transaction could not be decoded")


def test_truncated_transaction() -> None:
    raw = sign(eip1559())
    assert rejected(raw[:-5]).startswith("transaction could not be decoded")


@pytest.mark.parametrize("type_byte", [3, 4, 5])
def test_unsupported_type(type_byte: int) -> None:
    body = sign(eip1559())[1:]
    assert rejected(bytes([type_byte]) + body) == "transaction type not supported"


def test_a_deposit_type_is_refused_as_coming_only_from_l1() -> None:
    body = sign(eip1559())[1:]
    assert rejected(bytes([0x7E]) + body) == "deposit transactions come only from L1"


@pytest.mark.parametrize("make", [legacy, eip2930, eip1559])
def test_high_s_signature(make: Any) -> None:
    raw = sign(make())
    high = with_high_s(raw)
    assert decode_raw(high).s > SECP256K1_N // 2
    # the twin signature recovers the same sender: only EIP-2 rules it out
    assert bytes(decode_raw(high).sender) == SENDER
    assert "EIP-2" in rejected(high)


def test_tip_above_max_fee() -> None:
    raw = sign(eip1559(maxFeePerGas=GWEI, maxPriorityFeePerGas=GWEI + 1))
    assert rejected(raw) == "max priority fee per gas higher than max fee per gas"


def test_eip1559_gas_below_21000() -> None:
    assert rejected(sign(eip1559(gas=20_999, data=b""))) == "intrinsic gas too low"


@pytest.mark.parametrize("make", [legacy, eip2930])
def test_legacy_and_access_list_gas_below_21000(make: Any) -> None:
    assert rejected(sign(make(gas=20_999, data=b""))) == "intrinsic gas too low"


def test_gas_below_the_calldata_floor() -> None:
    data = b"\x01" * 1000
    floor = data_floor_gas(data)
    assert floor == 21_000 + 10 * 4 * 1000
    intrinsic = 21_000 + 16 * 1000  # the standard cost is below the EIP-7623 floor
    assert intrinsic < floor
    message = rejected(sign(eip1559(gas=floor - 1, data=data)))
    assert message.startswith("intrinsic gas too low")
    assert decode(sign(eip1559(gas=floor, data=data))).gas == floor


def test_zero_bytes_count_one_token_in_the_floor() -> None:
    assert data_floor_gas(b"") == 21_000
    assert data_floor_gas(b"\x00\x00\x01") == 21_000 + 10 * (1 + 1 + 4)


# -- reading an included transaction back (codec.decode_signed_tx) -------------------------------


def test_read_back_legacy() -> None:
    raw = sign(legacy())
    f = decode_signed_tx(raw, SENDER)
    evm = decode_raw(raw)
    assert (f.hash, f.type, f.sender, f.nonce, f.gas) == (keccak(raw), 0, SENDER, 7, 50_000)
    assert (f.to, f.value, f.data) == (TO_BYTES, 12345, b"\x01\x02")
    assert f.gas_price == f.max_fee_per_gas == f.max_priority_fee_per_gas == 3 * GWEI
    assert f.chain_id == CHAIN_ID
    assert f.access_list == ()
    assert f.v in (CHAIN_ID * 2 + 35, CHAIN_ID * 2 + 36)
    assert (f.v, f.r, f.s) == (evm.v, evm.r, evm.s)
    assert f.engine_tx is None  # nothing decoded through py-evm, nothing recovered


def test_read_back_unprotected_legacy() -> None:
    f = decode_signed_tx(sign(legacy(chainId=None)), SENDER)
    assert f.chain_id is None
    assert f.v in (27, 28)


def test_read_back_eip2930() -> None:
    raw = sign(eip2930())
    f = decode_signed_tx(raw, SENDER)
    assert (f.type, f.sender, f.nonce, f.gas_price, f.chain_id) == (1, SENDER, 8, 4 * GWEI, CHAIN_ID)
    assert f.access_list == ((TO_BYTES, (5,)),)
    assert f.v in (0, 1)


def test_read_back_contract_creation() -> None:
    f = decode_signed_tx(sign(eip1559(to=b"", data=b"\x60\x00", gas=100_000)), SENDER)
    assert f.to is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    make=st.sampled_from([legacy, eip2930, eip1559]),
    nonce=st.integers(min_value=0, max_value=2**64 - 2),
    value=st.integers(min_value=0, max_value=2**256 - 1),
    data=st.binary(max_size=300),
    creation=st.booleans(),
    slots=st.lists(st.integers(min_value=0, max_value=2**256 - 1), max_size=4),
)
def test_reading_back_gives_what_admission_decoded(
    make: Any, nonce: int, value: int, data: bytes, creation: bool, slots: list[int]
) -> None:
    """The transaction read back from its raw bytes and its receipt's sender equals the one
    ingress decoded through py-evm, field by field, for every type."""
    fields = make(nonce=nonce, value=value, data=data, gas=10_000_000)
    if creation:
        fields.pop("to")
    if "accessList" in fields:
        fields["accessList"] = [{"address": TO, "storageKeys": [f"0x{s:064x}" for s in slots]}]
    raw = sign(fields)
    assert decode_signed_tx(raw, SENDER) == decode(raw)


# -- sender recovery from the raw bytes -------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    make=st.sampled_from([legacy, eip2930, eip1559]),
    key=st.integers(min_value=1, max_value=SECP256K1_N - 1),
    nonce=st.integers(min_value=0, max_value=2**64 - 2),
    value=st.integers(min_value=0, max_value=2**256 - 1),
    data=st.binary(max_size=300),
    creation=st.booleans(),
    slots=st.lists(st.integers(min_value=0, max_value=2**256 - 1), max_size=4),
)
def test_signing_hash_and_sender_equal_py_evm(
    make: Any, key: int, nonce: int, value: int, data: bytes, creation: bool, slots: list[int]
) -> None:
    """Cut from the raw bytes (short and long strings and lists), the signing hash and the
    recovered sender are py-evm's own, for every transaction type."""
    fields = make(nonce=nonce, value=value, data=data, gas=10_000_000)
    if creation:
        fields.pop("to")
    if "accessList" in fields:
        fields["accessList"] = [{"address": TO, "storageKeys": [f"0x{s:064x}" for s in slots]}]
    acct = Account.from_key(key.to_bytes(32, "big"))
    raw = bytes(acct.sign_transaction(fields).raw_transaction)
    reference = decode_raw(raw)
    tx_type = raw[0] if raw[0] < 0x7F else 0
    assert signing_hash(raw, tx_type, CHAIN_ID) == keccak(reference.get_message_for_signing())
    t = decode(raw)
    assert t.sender == bytes(reference.sender) == bytes.fromhex(acct.address[2:])
    assert t.hash == reference.hash


def test_unprotected_legacy_signing_hash_has_no_chain_id() -> None:
    unprotected = Account.sign_transaction
    raw = bytes(unprotected({**legacy(), "chainId": None}, KEY).raw_transaction)
    reference = decode_raw(raw)
    assert signing_hash(raw, 0, None) == keccak(reference.get_message_for_signing())
    assert decode(raw, allow_unprotected=True).sender == SENDER


def test_a_parity_outside_0_and_1_is_rejected() -> None:
    tx = decode_raw(sign(eip1559()))
    raw = bytes(tx.copy(y_parity=2).encode())
    assert rejected(raw).startswith("invalid transaction v, r, s values")
