"""Specification of sequencer.mempool.admission.admit: the checks a decoded transaction passes
before it enters the pool, in geth's wording, against a stub chain (flat state + tx index).
(Decoding comes first: ``execution/transactions.py``, as the submission service runs them.)"""

from __future__ import annotations

from typing import Any, cast

import pytest
from eth.constants import EMPTY_SHA3
from eth_account import Account

from sequencer.chain import Chain
from sequencer.config import ChainConfig
from sequencer.errors import InvalidTransaction
from sequencer.execution.transactions import decode_transaction
from sequencer.mempool.admission import admit
from sequencer.mempool.pool import Mempool
from sequencer.state import AccountRecord, WorldState
from sequencer.types import TxLocation

CHAIN_ID = 1337
GWEI = 10**9
KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
POOR_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
TO = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
SENDER = bytes.fromhex(Account.from_key(KEY).address[2:])
BASE_FEE = 1 * GWEI
GAS_LIMIT = 30_000_000
BALANCE = 10**18


class Store:
    def __init__(self) -> None:
        self.included: dict[bytes, TxLocation] = {}

    def get_tx_location(self, tx_hash: bytes) -> TxLocation | None:
        return self.included.get(tx_hash)


class StubChain:
    """What admission reads of the chain: the committed flat state and the tx index."""

    def __init__(self) -> None:
        self.world = WorldState()
        self.world.accounts[SENDER] = AccountRecord(nonce=3, balance=BALANCE, code_hash=EMPTY_SHA3)
        self.store = Store()
        self.nonce_lowered = False


CONFIG = ChainConfig(
    chain_id=CHAIN_ID,
    fork="prague",
    block_gas_limit=GAS_LIMIT,
    initial_base_fee=BASE_FEE,
    base_fee_floor=0,
    coinbase=b"\x00" * 20,
    genesis_timestamp=0,
    genesis=(),
    devnet=True,
    allow_unprotected_txs=False,
)


@pytest.fixture
def chain() -> StubChain:
    return StubChain()


@pytest.fixture
def pool(chain: StubChain) -> Mempool:
    def state_nonce(address: bytes) -> int:
        account = chain.world.get_account(address)
        return account.nonce if account else 0

    return Mempool(state_nonce)


def raw(nonce: int = 3, key: str = KEY, **fields: Any) -> bytes:
    tx = {
        "type": 2,
        "chainId": CHAIN_ID,
        "nonce": nonce,
        "maxFeePerGas": 2 * GWEI,
        "maxPriorityFeePerGas": 1 * GWEI,
        "gas": 21_000,
        "to": TO,
        "value": 1,
        **fields,
    }
    return bytes(Account.from_key(key).sign_transaction(tx).raw_transaction)


def submit(chain: StubChain, pool: Mempool, data: bytes, base_fee: int = BASE_FEE) -> Any:
    tx = decode_transaction(data, CHAIN_ID, False)
    admit(tx, cast(Chain, chain), pool, CONFIG, base_fee)
    return tx


def test_admit_says_whether_the_transaction_is_new_and_must_be_journaled(
    chain: StubChain, pool: Mempool
) -> None:
    tx = decode_transaction(raw(), CHAIN_ID, False)
    assert admit(tx, cast(Chain, chain), pool, CONFIG, BASE_FEE).new is True
    assert admit(tx, cast(Chain, chain), pool, CONFIG, BASE_FEE).new is False  # already pooled
    included = decode_transaction(raw(nonce=2), CHAIN_ID, False)
    chain.store.included[included.hash] = TxLocation(1, 1, 0, 0)
    assert admit(included, cast(Chain, chain), pool, CONFIG, BASE_FEE).new is False  # already included


def test_a_valid_transaction_is_pooled_and_returned(chain: StubChain, pool: Mempool) -> None:
    tx = submit(chain, pool, raw())
    assert (tx.sender, tx.nonce) == (SENDER, 3)
    assert pool.get(tx.hash) == tx and pool.is_ready(tx.hash)
    assert pool.next_nonce(SENDER) == 4


def test_a_future_nonce_is_pooled_as_queued(chain: StubChain, pool: Mempool) -> None:
    tx = submit(chain, pool, raw(nonce=5))
    assert tx.hash in pool and not pool.is_ready(tx.hash)
    assert pool.next_nonce(SENDER) == 3


def test_a_duplicate_is_answered_with_the_same_transaction(chain: StubChain, pool: Mempool) -> None:
    first = submit(chain, pool, raw())
    again = submit(chain, pool, raw())
    assert again.hash == first.hash
    assert len(pool) == 1
    assert pool.get(first.hash) is not None


def test_an_included_transaction_is_answered_without_pooling_it(chain: StubChain, pool: Mempool) -> None:
    data = raw(nonce=2)  # below the state nonce: the one that was included
    with pytest.raises(InvalidTransaction, match=r"^nonce too low$"):
        submit(chain, pool, data)
    tx_hash = decode_transaction(data, CHAIN_ID, False).hash
    chain.store.included[tx_hash] = TxLocation(1, 1, 0, 0)
    assert submit(chain, pool, data).hash == tx_hash
    assert len(pool) == 0


def test_the_index_is_read_only_for_a_transaction_that_breaks_a_rule(chain: StubChain, pool: Mempool) -> None:
    asked: list[bytes] = []
    lookup = chain.store.get_tx_location

    def counting(tx_hash: bytes) -> TxLocation | None:
        asked.append(tx_hash)
        return lookup(tx_hash)

    chain.store.get_tx_location = counting  # type: ignore[method-assign]
    submit(chain, pool, raw())
    assert asked == []  # a valid new transaction costs no index read
    included = decode_transaction(
        raw(nonce=2, maxFeePerGas=1, maxPriorityFeePerGas=0), CHAIN_ID, False
    )  # underpriced now
    chain.store.included[included.hash] = TxLocation(1, 1, 0, 0)
    assert admit(included, cast(Chain, chain), pool, CONFIG, BASE_FEE).new is False
    assert asked == [included.hash]


def test_after_a_devnet_nonce_edit_an_included_transaction_is_still_not_pooled_again(
    chain: StubChain, pool: Mempool
) -> None:
    included = decode_transaction(raw(nonce=3), CHAIN_ID, False)
    chain.store.included[included.hash] = TxLocation(1, 1, 0, 0)
    chain.nonce_lowered = True  # anvil_setNonce took the account back to 3: the nonce rule passes
    assert admit(included, cast(Chain, chain), pool, CONFIG, BASE_FEE).new is False
    assert len(pool) == 0


def test_nonce_too_low(chain: StubChain, pool: Mempool) -> None:
    with pytest.raises(InvalidTransaction, match=r"^nonce too low$"):
        submit(chain, pool, raw(nonce=0))
    assert len(pool) == 0


def test_insufficient_funds_counts_gas_times_fee_cap_plus_value(chain: StubChain, pool: Mempool) -> None:
    fee_cap = 2 * GWEI
    affordable = BALANCE - 21_000 * fee_cap
    with pytest.raises(InvalidTransaction, match=r"^insufficient funds for gas \* price \+ value$"):
        submit(chain, pool, raw(value=affordable + 1))
    assert len(pool) == 0
    assert submit(chain, pool, raw(value=affordable)).value == affordable  # exactly enough


def test_an_unknown_account_has_no_funds(chain: StubChain, pool: Mempool) -> None:
    with pytest.raises(InvalidTransaction, match=r"^insufficient funds for gas \* price \+ value$"):
        submit(chain, pool, raw(nonce=0, key=POOR_KEY))


def test_a_transaction_over_the_block_gas_limit_is_refused(chain: StubChain, pool: Mempool) -> None:
    with pytest.raises(InvalidTransaction, match=r"^exceeds block gas limit$"):
        submit(chain, pool, raw(gas=GAS_LIMIT + 1))
    assert (
        submit(chain, pool, raw(gas=GAS_LIMIT, maxFeePerGas=BASE_FEE, maxPriorityFeePerGas=0)).gas
        == GAS_LIMIT
    )


def test_a_fee_cap_below_the_next_base_fee_is_underpriced(chain: StubChain, pool: Mempool) -> None:
    with pytest.raises(
        InvalidTransaction,
        match=r"^transaction underpriced: max fee per gas 999999999 less than block base fee 1000000000$",
    ):
        submit(chain, pool, raw(maxFeePerGas=BASE_FEE - 1, maxPriorityFeePerGas=0))
    assert len(pool) == 0
    assert submit(chain, pool, raw(maxFeePerGas=BASE_FEE, maxPriorityFeePerGas=0)).hash in pool


def test_a_legacy_gas_price_below_the_base_fee_is_underpriced(chain: StubChain, pool: Mempool) -> None:
    legacy = bytes(
        Account.from_key(KEY)
        .sign_transaction(
            {"chainId": CHAIN_ID, "nonce": 3, "gasPrice": BASE_FEE - 1, "gas": 21_000, "to": TO, "value": 1}
        )
        .raw_transaction
    )
    with pytest.raises(InvalidTransaction, match=r"^transaction underpriced"):
        submit(chain, pool, legacy)


def test_the_decoding_checks_come_first(chain: StubChain, pool: Mempool) -> None:
    with pytest.raises(InvalidTransaction, match=r"^invalid chain id for signer$"):
        submit(chain, pool, raw(chainId=CHAIN_ID + 1))
    with pytest.raises(InvalidTransaction, match=r"^intrinsic gas too low$"):
        submit(chain, pool, raw(gas=20_999))


def test_pool_rules_apply_after_the_state_checks(chain: StubChain, pool: Mempool) -> None:
    submit(chain, pool, raw(maxFeePerGas=2 * GWEI, maxPriorityFeePerGas=GWEI))
    with pytest.raises(InvalidTransaction, match=r"^replacement transaction underpriced$"):
        submit(chain, pool, raw(value=2, maxFeePerGas=2 * GWEI + 1, maxPriorityFeePerGas=GWEI + 1))
    bumped = submit(
        chain, pool, raw(value=2, maxFeePerGas=22 * GWEI // 10, maxPriorityFeePerGas=11 * GWEI // 10)
    )
    assert bumped.hash in pool and len(pool) == 1
    with pytest.raises(InvalidTransaction, match=r"^nonce too high"):
        submit(chain, pool, raw(nonce=3 + 1 + pool.max_nonce_gap + 1))
