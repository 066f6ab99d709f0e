"""Deposits in the OP stack's encodings: source hash, aliasing, the portal's event, the 0x7E tx."""

from __future__ import annotations

import pytest
from eth_hash.auto import keccak

from sequencer.bridge.deposits import (
    TRANSACTION_DEPOSITED_TOPIC,
    DepositEvent,
    MalformedDeposit,
    apply_l1_to_l2_alias,
    decode_deposit,
    decode_deposit_log,
    deposit_tx,
    encode_opaque_data,
    undo_l1_to_l2_alias,
    user_deposit_source_hash,
)

BLOCK = bytes.fromhex("9ba3933dc6ce43c145349770a39c30f9b647f17668f004bd2e05c80a2e7262f7")
ALICE = bytes.fromhex("70997970c51812dc3a010c7d01b50e0d17dc79c8")


def test_user_deposit_source_hash_matches_the_op_stack_vector() -> None:
    # viem's computeSourceHash test vector (userDeposit, l1LogIndex 196)
    assert user_deposit_source_hash(BLOCK, 196).hex() == (
        "d0868c8764d81f1749edb7dec4a550966963540d9fe50aefce8cdb38ea7b2213"
    )


def test_aliasing_adds_the_offset_modulo_2_160_and_undoes() -> None:
    assert apply_l1_to_l2_alias(b"\x00" * 20).hex() == "1111000000000000000000000000000000001111"
    wrapped = apply_l1_to_l2_alias(b"\xff" * 20)
    assert wrapped.hex() == "1111000000000000000000000000000000001110"
    assert undo_l1_to_l2_alias(wrapped) == b"\xff" * 20


def _log(
    mint: int, value: int, gas: int, creation: bool, data: bytes, version: int = 0
) -> tuple[list[bytes], bytes]:
    opaque = encode_opaque_data(mint, value, gas, creation, data)
    padded = opaque + b"\x00" * (-len(opaque) % 32)
    abi = (32).to_bytes(32, "big") + len(opaque).to_bytes(32, "big") + padded
    topics = [
        TRANSACTION_DEPOSITED_TOPIC,
        b"\x00" * 12 + ALICE,
        b"\x00" * 12 + ALICE,
        version.to_bytes(32, "big"),
    ]
    return topics, abi


def _decode(topics: list[bytes], data: bytes) -> DepositEvent:
    return decode_deposit_log(
        topics, data, l1_block_number=7, l1_block_hash=BLOCK, l1_tx_hash=b"\x01" * 32, log_index=3
    )


def test_a_portal_log_decodes_to_its_deposit_and_its_0x7e_transaction_round_trips() -> None:
    event = _decode(*_log(10**18, 5, 100_000, False, b"\xca\xfe"))
    assert (event.sender, event.to, event.mint, event.value, event.gas, event.data) == (
        ALICE,
        ALICE,
        10**18,
        5,
        100_000,
        b"\xca\xfe",
    )
    tx = deposit_tx(event)
    assert tx.raw[0] == 0x7E and tx.hash == keccak(tx.raw) and tx.is_deposit
    assert tx.source_hash == user_deposit_source_hash(BLOCK, 3)
    assert decode_deposit(tx.raw) == tx


def test_a_creation_deposit_has_no_recipient() -> None:
    event = _decode(*_log(0, 0, 200_000, True, b"\x60\x00"))
    assert event.to is None
    assert decode_deposit(deposit_tx(event).raw).to is None


@pytest.mark.parametrize(
    "case",
    ["other event", "version 1", "short opaque", "bad bool"],
)
def test_malformed_portal_logs_are_refused(case: str) -> None:
    topics, data = _log(1, 0, 21_000, False, b"")
    if case == "other event":
        topics[0] = b"\x00" * 32
    elif case == "version 1":
        topics, data = _log(1, 0, 21_000, False, b"", version=1)
    elif case == "short opaque":
        data = (32).to_bytes(32, "big") + (10).to_bytes(32, "big") + b"\x00" * 32
    else:
        data = data[: 64 + 72] + b"\x02" + data[64 + 73 :]
    with pytest.raises(MalformedDeposit):
        _decode(topics, data)


@pytest.mark.parametrize("raw", [b"\x7e", b"\x7e\xc0", b"\x02\xc0", b"\x7e\xc9" + b"\x80" * 9])
def test_malformed_deposit_transactions_are_refused(raw: bytes) -> None:
    with pytest.raises(MalformedDeposit):
        decode_deposit(raw)
