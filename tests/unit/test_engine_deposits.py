"""Specification of deposit execution (type 0x7E) in the sequencer's execution adapter, after OP's
Regolith/Canyon rules: the mint is credited to ``from`` first and kept whatever follows; the
sender's nonce is incremented (a creation's address comes from ``from`` and the nonce before);
no signature, nonce check or fee; a reverting deposit is included with status 0 and its actual
gas, a deposit that fails before executing (value above balance + mint, too little gas) uses all
its gas and keeps only the mint and the nonce increment; the receipt's consensus encoding carries
``depositNonce`` and ``depositReceiptVersion``; the block gas limit applies as to any transaction.
"""

from __future__ import annotations

import pytest
from eth._utils.address import generate_contract_address
from eth_hash.auto import keccak

from sequencer import fastrlp
from sequencer.bridge.deposits import decode_deposit, encode_deposit
from sequencer.errors import ExceedsBlockGasLimit
from sequencer.execution.engine import BlockExecutor, TxOutcome
from sequencer.state import WorldState
from sequencer.types import AccountDiff, BlockEnv, SignedTx, StateDiff

COINBASE = b"\xcb" * 20
ENV = BlockEnv(1, 1_700_000_000, b"\x00" * 32, 7, 30_000_000, COINBASE, b"\x00" * 32)
DEPOSITOR = b"\xd0" * 20
RECIPIENT = b"\xee" * 20
STORER = b"\x50" * 20
REVERTER = b"\x4e" * 20
ETHER = 10**18
# SSTORE(0, CALLVALUE); LOG0 of nothing; STOP
STORER_CODE = bytes.fromhex("34600055" + "60006000a0" + "00")
# REVERT(0, 0)
REVERTER_CODE = bytes.fromhex("60006000fd")
# initcode returning the one-byte runtime 0x00: PUSH1 0 PUSH1 0 MSTORE8 PUSH1 1 PUSH1 0 RETURN
INITCODE = bytes.fromhex("600060005360016000f3")


def account(address: bytes, balance: int = 0, nonce: int = 0, code: bytes = b"") -> AccountDiff:
    return AccountDiff(address, nonce, balance, keccak(code), code or None, (), False)


def world() -> WorldState:
    w = WorldState()
    w.apply_diff(
        StateDiff(
            tuple(
                sorted(
                    (
                        account(DEPOSITOR, balance=ETHER, nonce=3),
                        account(STORER, nonce=1, code=STORER_CODE),
                        account(REVERTER, nonce=1, code=REVERTER_CODE),
                    ),
                    key=lambda a: a.address,
                )
            )
        )
    )
    return w


def balance(w: WorldState, address: bytes) -> int:
    record = w.get_account(address)
    return record.balance if record is not None else 0


def deposit(
    to: bytes | None, mint: int = 0, value: int = 0, gas: int = 100_000, data: bytes = b"", n: int = 0
) -> SignedTx:
    raw = encode_deposit(keccak(n.to_bytes(32, "big")), DEPOSITOR, to, mint, value, gas, data)
    return decode_deposit(raw)


def run(*txs: SignedTx) -> tuple[WorldState, list[TxOutcome], BlockExecutor]:
    w = world()
    executor = BlockExecutor(w, ENV, 1337, [], tx_time_budget_s=1.0)
    outcomes = [executor.apply(tx) for tx in txs]
    w.apply_diff(executor.take_diff())
    executor.commit_mini_block()
    return w, outcomes, executor


def test_a_plain_value_deposit_mints_to_its_sender_and_moves_the_value_without_a_fee() -> None:
    w, (outcome,), _ = run(deposit(RECIPIENT, mint=2 * ETHER, value=ETHER // 2))
    assert outcome.status == 1
    assert outcome.gas_used == 21_000
    assert outcome.effective_gas_price == 0
    assert outcome.deposit_nonce == 3
    assert balance(w, DEPOSITOR) == ETHER + 2 * ETHER - ETHER // 2
    assert balance(w, RECIPIENT) == ETHER // 2
    assert w.nonce_of(DEPOSITOR) == 4
    assert balance(w, COINBASE) == 0 and w.get_account(COINBASE) is None


def test_a_deposit_calling_a_contract_executes_it() -> None:
    w, (outcome,), _ = run(deposit(STORER, mint=ETHER, value=1234))
    assert outcome.status == 1
    assert w.get_storage(STORER, 0) == 1234
    assert len(outcome.logs) == 1 and outcome.logs[0].address == STORER
    assert outcome.gas_used > 21_000 + 20_000


def test_a_deposit_to_a_reverting_contract_is_included_with_status_0_and_keeps_the_mint() -> None:
    w, (outcome,), _ = run(deposit(REVERTER, mint=ETHER, value=ETHER // 4, gas=60_000))
    assert outcome.status == 0
    assert 21_000 < outcome.gas_used < 60_000  # the actual gas (Regolith), not the limit
    assert balance(w, DEPOSITOR) == 2 * ETHER  # mint kept, value not moved
    assert balance(w, REVERTER) == 0
    assert w.nonce_of(DEPOSITOR) == 4


def test_a_creation_deposit_deploys_at_the_address_of_from_and_its_nonce() -> None:
    w, (outcome,), _ = run(deposit(None, data=INITCODE, gas=200_000))
    expected = bytes(generate_contract_address(DEPOSITOR, 3))  # type: ignore[arg-type]
    assert outcome.status == 1
    assert outcome.contract_address == expected
    assert w.get_code(expected) == b"\x00"
    assert w.nonce_of(DEPOSITOR) == 4


def test_a_deposit_whose_value_exceeds_balance_and_mint_fails_but_keeps_the_mint() -> None:
    w, (outcome,), executor = run(deposit(RECIPIENT, mint=ETHER, value=3 * ETHER, gas=50_000))
    assert outcome.status == 0
    assert outcome.gas_used == 50_000  # a failed deposit uses all its gas
    assert executor.gas_used == 50_000
    assert outcome.logs == ()
    assert balance(w, DEPOSITOR) == 2 * ETHER
    assert balance(w, RECIPIENT) == 0
    assert w.nonce_of(DEPOSITOR) == 4


def test_a_deposit_with_less_gas_than_its_intrinsic_cost_fails_but_keeps_the_mint() -> None:
    w, (outcome,), _ = run(deposit(STORER, mint=ETHER, value=1, gas=21_000, data=b"\x01" * 10))
    assert outcome.status == 0 and outcome.gas_used == 21_000
    assert w.get_storage(STORER, 0) == 0
    assert balance(w, DEPOSITOR) == 2 * ETHER


def test_deposits_from_a_fresh_account_count_its_nonce_and_the_block_gas() -> None:
    first = deposit(RECIPIENT, mint=ETHER, n=1)
    second = deposit(RECIPIENT, mint=ETHER, n=2)
    _, outcomes, executor = run(first, second)
    assert [o.deposit_nonce for o in outcomes] == [3, 4]
    assert [o.cumulative_gas_used for o in outcomes] == [21_000, 42_000]
    assert executor.gas_used == 42_000


def test_the_receipt_encoding_carries_the_deposit_nonce_and_receipt_version() -> None:
    _, (outcome,), _ = run(deposit(RECIPIENT, mint=ETHER))
    encoded = outcome.encoded_receipt
    assert encoded[0] == 0x7E
    status, cumulative, bloom, logs, nonce, version = fastrlp.decode(encoded[1:])
    assert (status, cumulative, logs) == (b"\x01", (21_000).to_bytes(2, "big"), [])
    assert bloom == b"\x00" * 256
    assert (nonce, version) == (b"\x03", b"\x01")


def test_a_deposit_that_does_not_fit_the_block_is_refused_and_changes_nothing() -> None:
    tx = deposit(RECIPIENT, mint=ETHER, gas=100_000)
    w = world()
    env = BlockEnv(1, 1, b"\x00" * 32, 7, 90_000, COINBASE, b"\x00" * 32)
    executor = BlockExecutor(w, env, 1337, [])
    with pytest.raises(ExceedsBlockGasLimit):
        executor.apply(tx)
    assert executor.take_diff().accounts == ()
    assert executor.gas_used == 0


@pytest.mark.parametrize(
    ("to", "data", "gas"),
    [
        (STORER, b"\x00" * 100, 21_500),  # above the intrinsic 21,400, below the EIP-7623 floor 22,000
        (None, b"\x00" * (49_152 + 1), 1_000_000),  # initcode over the EIP-3860 limit
    ],
    ids=["below-the-data-floor", "initcode-too-large"],
)
def test_other_failed_deposits_keep_the_mint_and_use_all_their_gas(
    to: bytes | None, data: bytes, gas: int
) -> None:
    w, (outcome,), _ = run(deposit(to, mint=ETHER, gas=gas, data=data))
    assert outcome.status == 0 and outcome.gas_used == gas
    assert balance(w, DEPOSITOR) == 2 * ETHER
    assert w.nonce_of(DEPOSITOR) == 4
    assert w.get_storage(STORER, 0) == 0
