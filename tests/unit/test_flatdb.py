"""Specification of sequencer.execution.flatdb: the journaled flat overlay that py-evm executes on.

* reads fall through the overlay to the committed ``WorldState``;
* ``record()``/``commit()``/``discard()`` nest like geth's journal and restore every observable
  (balances, nonces, code, storage, existence and the EIP-2929 warm sets) exactly;
* ``get_storage(from_journal=False)`` is the slot's value at the start of the transaction;
* ``take_diff()`` is the canonical diff of the overlay and ``WorldState.apply_diff`` replays it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from eth.constants import EMPTY_SHA3
from eth_hash.auto import keccak
from eth_typing import Address, Hash32
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sequencer.execution.flatdb import FlatAccountDB
from sequencer.state import AccountRecord, WorldState
from sequencer.types import AccountDiff, StateDiff

A = Address(b"\x0a" * 20)  # pre-existing contract with code and storage
B = Address(b"\x0b" * 20)  # pre-existing externally owned account
C = Address(b"\x0c" * 20)  # does not exist in the base state
ADDRESSES = (A, B, C)
SLOTS = (0, 1, 2, 7)
CODE_A = bytes.fromhex("6001600055")
CODE_NEW = bytes.fromhex("60ff60005260206000f3")


def make_world() -> WorldState:
    world = WorldState()
    world.accounts[A] = AccountRecord(1, 100, keccak(CODE_A))
    world.code[keccak(CODE_A)] = CODE_A
    world.storage[A] = {0: 11, 1: 22}
    world.accounts[B] = AccountRecord(5, 10**18, EMPTY_SHA3)
    return world


@pytest.fixture
def world() -> WorldState:
    return make_world()


@pytest.fixture
def db(world: WorldState) -> FlatAccountDB:
    return FlatAccountDB(world)


def observe(db: FlatAccountDB | WorldState) -> dict[str, Any]:
    """Everything a reader can see of the accounts and slots under test."""
    out: dict[str, Any] = {}
    for address in ADDRESSES:
        if isinstance(db, WorldState):
            acc = db.get_account(address)
            out[address.hex()] = (
                acc is not None,
                acc.nonce if acc else 0,
                acc.balance if acc else 0,
                db.get_code(address),
                tuple(db.get_storage(address, s) for s in SLOTS),
            )
        else:
            out[address.hex()] = (
                db.account_exists(address),
                db.get_nonce(address),
                db.get_balance(address),
                db.get_code(address),
                tuple(db.get_storage(address, s) for s in SLOTS),
            )
    return out


def warm_state(db: FlatAccountDB) -> tuple[frozenset[bytes], frozenset[tuple[bytes, int]]]:
    addresses = frozenset(a for a in ADDRESSES if db.is_address_warm(a))
    slots = frozenset((a, s) for a in ADDRESSES for s in SLOTS if db.is_storage_warm(a, s))
    return addresses, slots


def mutate_everything(db: FlatAccountDB) -> None:
    db.set_balance(A, 1)
    db.increment_nonce(A)
    db.set_storage(A, 0, 0)
    db.set_storage(A, 2, 33)
    db.set_balance(B, 7)
    db.set_code(B, CODE_NEW)
    db.set_balance(C, 9)
    db.set_storage(C, 7, 70)
    db.mark_address_warm(C)
    db.mark_storage_warm(A, 2)


# -- reads ------------------------------------------------------------------------------------


def test_rejects_a_py_evm_database() -> None:
    from eth.db.atomic import AtomicDB

    with pytest.raises(TypeError, match="WorldState"):
        FlatAccountDB(AtomicDB())


def test_reads_fall_through_to_the_world_state(db: FlatAccountDB) -> None:
    assert db.account_exists(A) and db.account_exists(B)
    assert not db.account_exists(C)
    assert (db.get_nonce(A), db.get_balance(A), db.get_code(A)) == (1, 100, CODE_A)
    assert db.get_code_hash(A) == keccak(CODE_A)
    assert (db.get_storage(A, 0), db.get_storage(A, 1), db.get_storage(A, 2)) == (11, 22, 0)
    assert (db.get_nonce(C), db.get_balance(C), db.get_code(C)) == (0, 0, b"")
    assert db.get_code_hash(C) == EMPTY_SHA3
    assert db.account_is_empty(C) and not db.account_is_empty(B)
    assert db.account_has_code_or_nonce(A) and db.account_has_code_or_nonce(B)
    assert not db.account_has_code_or_nonce(C)


def test_writes_stay_in_the_overlay(db: FlatAccountDB, world: WorldState) -> None:
    before = observe(world)
    mutate_everything(db)
    assert db.get_balance(A) == 1 and db.get_nonce(A) == 2
    assert db.get_code(B) == CODE_NEW
    assert db.account_exists(C)
    assert observe(world) == before


def test_balance_and_storage_values_must_fit_in_256_bits(db: FlatAccountDB) -> None:
    with pytest.raises(ValueError):
        db.set_balance(A, 2**256)
    with pytest.raises(ValueError):
        db.set_balance(A, -1)
    with pytest.raises(ValueError):
        db.set_storage(A, 0, 2**256)


def test_state_root_is_a_placeholder_not_computed_here(db: FlatAccountDB) -> None:
    from eth.constants import BLANK_ROOT_HASH

    db.state_root = Hash32(b"\x01" * 32)  # py-evm's revert writes it back; ignored
    assert db.state_root == BLANK_ROOT_HASH
    assert not db.has_root(BLANK_ROOT_HASH)
    with pytest.raises(NotImplementedError):
        db.make_state_root()
    with pytest.raises(NotImplementedError):
        db.persist()


# -- journal ------------------------------------------------------------------------------------


def test_discard_restores_everything(db: FlatAccountDB) -> None:
    db.mark_address_warm(A)
    before, warm_before = observe(db), warm_state(db)
    checkpoint = db.record()
    mutate_everything(db)
    db.delete_account(A)
    assert observe(db) != before
    db.discard(checkpoint)
    assert observe(db) == before
    assert warm_state(db) == warm_before


def test_commit_keeps_the_writes(db: FlatAccountDB) -> None:
    checkpoint = db.record()
    mutate_everything(db)
    after, warm_after = observe(db), warm_state(db)
    db.commit(checkpoint)
    assert observe(db) == after
    assert warm_state(db) == warm_after


def test_discarding_the_outer_checkpoint_undoes_a_committed_inner_one(db: FlatAccountDB) -> None:
    before = observe(db)
    outer = db.record()
    db.set_balance(B, 1)
    inner = db.record()
    db.set_storage(A, 1, 99)
    db.commit(inner)
    assert db.get_storage(A, 1) == 99
    db.discard(outer)
    assert observe(db) == before


def test_discarding_an_inner_checkpoint_keeps_the_outer_writes(db: FlatAccountDB) -> None:
    outer = db.record()
    db.set_balance(B, 1)
    inner = db.record()
    db.set_balance(B, 2)
    db.set_storage(A, 0, 5)
    db.mark_storage_warm(A, 0)
    db.discard(inner)
    assert db.get_balance(B) == 1
    assert db.get_storage(A, 0) == 11
    assert not db.is_storage_warm(A, 0)
    db.set_nonce(B, 9)
    db.commit(outer)
    assert (db.get_balance(B), db.get_nonce(B)) == (1, 9)


def test_three_levels_discard_the_middle(db: FlatAccountDB) -> None:
    l1 = db.record()
    db.set_storage(A, 0, 1)
    l2 = db.record()
    db.set_storage(A, 0, 2)
    l3 = db.record()
    db.set_storage(A, 0, 3)
    db.commit(l3)
    db.discard(l2)
    assert db.get_storage(A, 0) == 1
    db.commit(l1)
    assert db.get_storage(A, 0) == 1


def test_discard_restores_storage_wiped_by_delete_account(db: FlatAccountDB) -> None:
    db.set_storage(A, 2, 44)  # overlay slot before the wipe
    checkpoint = db.record()
    db.delete_account(A)
    assert not db.account_exists(A)
    assert [db.get_storage(A, s) for s in SLOTS] == [0, 0, 0, 0]
    db.set_storage(A, 1, 5)  # written after the wipe
    db.discard(checkpoint)
    assert db.account_exists(A)
    assert [db.get_storage(A, s) for s in SLOTS] == [11, 22, 44, 0]
    assert db.get_code(A) == CODE_A


def test_discard_restores_storage_wiped_by_delete_storage(db: FlatAccountDB) -> None:
    checkpoint = db.record()
    db.delete_storage(A)
    assert db.get_storage(A, 0) == 0
    assert db.account_exists(A)
    db.discard(checkpoint)
    assert db.get_storage(A, 0) == 11


def test_discard_after_two_wipes(db: FlatAccountDB) -> None:
    cp1 = db.record()
    db.delete_storage(A)
    db.set_storage(A, 0, 1)
    cp2 = db.record()
    db.delete_storage(A)
    db.set_storage(A, 1, 2)
    db.discard(cp2)
    assert [db.get_storage(A, s) for s in SLOTS] == [1, 0, 0, 0]
    db.discard(cp1)
    assert [db.get_storage(A, s) for s in SLOTS] == [11, 22, 0, 0]


def test_discard_of_a_created_account_makes_it_absent_again(db: FlatAccountDB) -> None:
    checkpoint = db.record()
    db.touch_account(C)
    assert db.account_exists(C)
    db.discard(checkpoint)
    assert not db.account_exists(C)


def test_warm_sets_are_journaled(db: FlatAccountDB) -> None:
    db.mark_address_warm(A)
    checkpoint = db.record()
    db.mark_address_warm(A)  # already warm: stays warm after the discard
    db.mark_address_warm(B)
    db.mark_storage_warm(A, 1)
    assert db.is_address_warm(B) and db.is_storage_warm(A, 1)
    assert not db.is_storage_warm(A, 2)
    db.discard(checkpoint)
    assert db.is_address_warm(A)
    assert not db.is_address_warm(B)
    assert not db.is_storage_warm(A, 1)


def test_lock_changes_clears_warm_sets_but_keeps_state(db: FlatAccountDB) -> None:
    db.mark_address_warm(A)
    db.mark_storage_warm(A, 0)
    db.set_balance(B, 3)
    db.lock_changes()
    assert warm_state(db) == (frozenset(), frozenset())
    assert db.get_balance(B) == 3


def test_checkpoints_do_not_collide_with_py_evm_journal_checkpoints(db: FlatAccountDB) -> None:
    from eth.db.journal import get_next_checkpoint

    ours = db.record()
    theirs = get_next_checkpoint()
    assert theirs != ours
    assert db.record() not in (ours, theirs)


# -- original (start-of-transaction) storage values (EIP-2200) ----------------------------------


def test_original_value_is_the_value_at_transaction_start(db: FlatAccountDB) -> None:
    db.set_storage(A, 0, 100)  # an earlier transaction of the same mini-block
    db.lock_changes()
    assert db.get_storage(A, 0, from_journal=False) == 100
    db.set_storage(A, 0, 200)
    db.set_storage(A, 0, 300)
    assert db.get_storage(A, 0) == 300
    assert db.get_storage(A, 0, from_journal=False) == 100
    assert db.get_storage(A, 1, from_journal=False) == 22  # untouched: base value
    db.lock_changes()
    assert db.get_storage(A, 0, from_journal=False) == 300


def test_original_value_survives_a_discard(db: FlatAccountDB) -> None:
    db.lock_changes()
    checkpoint = db.record()
    db.set_storage(A, 0, 5)
    db.discard(checkpoint)
    assert db.get_storage(A, 0, from_journal=False) == 11
    db.set_storage(A, 0, 6)
    assert db.get_storage(A, 0, from_journal=False) == 11


def test_original_value_after_a_wipe_in_the_same_transaction(db: FlatAccountDB) -> None:
    db.set_storage(A, 2, 44)  # earlier transaction
    db.lock_changes()
    db.delete_account(A)
    assert db.get_storage(A, 0) == 0
    assert db.get_storage(A, 0, from_journal=False) == 11
    assert db.get_storage(A, 2, from_journal=False) == 44
    assert db.get_storage(A, 7, from_journal=False) == 0
    db.set_storage(A, 0, 1)  # e.g. CREATE2 re-deploys in the same transaction
    assert db.get_storage(A, 0) == 1
    assert db.get_storage(A, 0, from_journal=False) == 11


def test_original_value_after_a_wipe_in_an_earlier_transaction(db: FlatAccountDB) -> None:
    db.delete_account(A)
    db.set_storage(A, 1, 5)
    db.lock_changes()
    assert db.get_storage(A, 0, from_journal=False) == 0
    assert db.get_storage(A, 1, from_journal=False) == 5
    db.delete_storage(A)
    assert db.get_storage(A, 0, from_journal=False) == 0
    assert db.get_storage(A, 1, from_journal=False) == 5


def test_original_value_when_set_before_the_wipe(db: FlatAccountDB) -> None:
    db.lock_changes()
    db.set_storage(A, 0, 12)
    db.delete_storage(A)
    db.set_storage(A, 0, 13)
    assert db.get_storage(A, 0, from_journal=False) == 11


# -- take_diff ------------------------------------------------------------------------------------


def test_empty_overlay_gives_an_empty_diff(db: FlatAccountDB) -> None:
    assert db.take_diff() == StateDiff(())


def test_diff_lists_changed_accounts_sorted_with_only_changed_slots(db: FlatAccountDB) -> None:
    db.set_balance(C, 9)
    db.set_storage(A, 1, 23)
    db.set_storage(A, 0, 11)  # written but unchanged: not listed
    db.set_nonce(B, 6)
    diff = db.take_diff()
    assert [a.address for a in diff.accounts] == [A, B, C]
    a, b, c = diff.accounts
    assert a == AccountDiff(A, 1, 100, keccak(CODE_A), None, ((1, 23),), False)
    assert b == AccountDiff(B, 6, 10**18, EMPTY_SHA3, None, (), False)
    assert c == AccountDiff(C, 0, 9, EMPTY_SHA3, None, (), False)


def test_diff_slots_are_ascending(db: FlatAccountDB) -> None:
    for slot in (9, 3, 5, 1):
        db.set_storage(A, slot, slot + 100)
    (a,) = db.take_diff().accounts
    assert a.storage == ((1, 101), (3, 103), (5, 105), (9, 109))


def test_slot_cleared_to_zero_is_listed_with_value_zero(db: FlatAccountDB) -> None:
    db.set_storage(A, 0, 0)
    (a,) = db.take_diff().accounts
    assert a.storage == ((0, 0),)


def test_account_reverted_to_its_original_values_is_absent(db: FlatAccountDB) -> None:
    db.set_balance(B, 1)
    db.set_balance(B, 10**18)
    db.set_storage(A, 0, 99)
    db.set_storage(A, 0, 11)
    db.touch_account(A)
    checkpoint = db.record()
    db.set_balance(C, 5)
    db.discard(checkpoint)
    assert db.take_diff() == StateDiff(())


def test_deleted_pre_existing_account_is_marked_deleted(db: FlatAccountDB) -> None:
    db.delete_account(A)
    assert db.take_diff() == StateDiff((AccountDiff(A, 0, 0, EMPTY_SHA3, None, (), True),))


def test_account_created_and_deleted_in_the_overlay_is_absent(db: FlatAccountDB) -> None:
    db.set_balance(C, 5)
    db.set_storage(C, 0, 1)
    db.delete_account(C)
    assert db.take_diff() == StateDiff(())


def test_newly_created_contract_carries_its_full_code(db: FlatAccountDB) -> None:
    db.set_nonce(C, 1)
    db.set_code(C, CODE_NEW)
    db.set_storage(C, 0, 42)
    (c,) = db.take_diff().accounts
    assert c == AccountDiff(C, 1, 0, keccak(CODE_NEW), CODE_NEW, ((0, 42),), False)


def test_unchanged_code_is_not_repeated(db: FlatAccountDB) -> None:
    db.set_code(A, CODE_A)  # same code hash
    db.set_balance(A, 1)
    (a,) = db.take_diff().accounts
    assert a.code is None and a.code_hash == keccak(CODE_A)


def test_deleted_code_has_the_empty_code_hash(db: FlatAccountDB) -> None:
    db.delete_code(A)
    (a,) = db.take_diff().accounts
    assert (a.code_hash, a.code, a.deleted) == (EMPTY_SHA3, None, False)


def test_recreated_account_clears_every_old_slot(db: FlatAccountDB) -> None:
    db.delete_account(A)
    db.set_nonce(A, 1)
    db.set_code(A, CODE_NEW)
    db.set_storage(A, 1, 5)
    (a,) = db.take_diff().accounts
    assert a == AccountDiff(A, 1, 0, keccak(CODE_NEW), CODE_NEW, ((0, 0), (1, 5)), False)


def test_take_diff_empties_the_overlay(db: FlatAccountDB, world: WorldState) -> None:
    before = observe(world)
    mutate_everything(db)
    db.delete_account(A)
    db.take_diff()
    assert observe(db) == before
    assert warm_state(db) == (frozenset(), frozenset())
    assert list(db.touched_addresses()) == []
    assert db.take_diff() == StateDiff(())


def test_touched_addresses(db: FlatAccountDB) -> None:
    db.set_balance(B, 1)
    db.set_storage(A, 0, 1)
    assert set(db.touched_addresses()) == {A, B}


def test_reset_drops_uncommitted_changes(db: FlatAccountDB, world: WorldState) -> None:
    mutate_everything(db)
    db.reset()
    assert observe(db) == observe(world)


# -- apply_diff -----------------------------------------------------------------------------------


def test_apply_diff_reproduces_the_overlay_reads(db: FlatAccountDB, world: WorldState) -> None:
    mutate_everything(db)
    db.delete_account(B)
    db.set_storage(A, 1, 0)
    expected = observe(db)
    diff = db.take_diff()
    world.apply_diff(diff)
    assert observe(world) == expected
    assert observe(FlatAccountDB(world)) == expected
    assert world.storage[A] == {2: 33}  # cleared slots are not stored
    assert B not in world.accounts


def test_apply_diff_drops_an_emptied_storage_map(db: FlatAccountDB, world: WorldState) -> None:
    db.set_storage(A, 0, 0)
    db.set_storage(A, 1, 0)
    world.apply_diff(db.take_diff())
    assert A not in world.storage
    assert world.get_storage(A, 0) == 0


def test_consecutive_diffs_compose(db: FlatAccountDB, world: WorldState) -> None:
    db.set_balance(C, 1)
    db.set_storage(C, 0, 1)
    world.apply_diff(db.take_diff())
    db.set_balance(C, 2)
    db.set_storage(C, 0, 0)
    db.set_storage(C, 1, 3)
    diff = db.take_diff()
    assert diff.accounts == (AccountDiff(C, 0, 2, EMPTY_SHA3, None, ((0, 0), (1, 3)), False),)
    world.apply_diff(diff)
    assert world.get_account(C) == AccountRecord(0, 2, EMPTY_SHA3)
    assert world.storage[C] == {1: 3}


# -- property: FlatAccountDB behaves like a plain dict model ----------------------------------------


@dataclass
class Model:
    """Accounts as address -> [nonce, balance, code]; storage as address -> {slot: value}."""

    accounts: dict[bytes, list[Any]] = field(default_factory=dict)
    storage: dict[bytes, dict[int, int]] = field(default_factory=dict)
    warm: set[Any] = field(default_factory=set)

    def copy(self) -> Model:
        return Model(
            {a: list(v) for a, v in self.accounts.items()},
            {a: dict(v) for a, v in self.storage.items()},
            set(self.warm),
        )

    def account(self, address: bytes) -> list[Any]:
        return self.accounts.setdefault(address, [0, 0, b""])

    def read(self) -> dict[str, Any]:
        out = {}
        for address in ADDRESSES:
            nonce, balance, code = self.accounts.get(address, [0, 0, b""])
            slots = self.storage.get(address, {})
            out[address.hex()] = (
                address in self.accounts,
                nonce,
                balance,
                code,
                tuple(slots.get(s, 0) for s in SLOTS),
            )
        return out


def initial_model() -> Model:
    return Model(
        accounts={A: [1, 100, CODE_A], B: [5, 10**18, b""]},
        storage={A: {0: 11, 1: 22}},
    )


address_st = st.sampled_from(ADDRESSES)
op_st = st.one_of(
    st.tuples(st.just("balance"), address_st, st.integers(0, 3)),
    st.tuples(st.just("nonce"), address_st, st.integers(0, 3)),
    st.tuples(st.just("storage"), address_st, st.sampled_from(SLOTS), st.integers(0, 3)),
    st.tuples(st.just("code"), address_st, st.sampled_from([b"", CODE_A, CODE_NEW])),
    st.tuples(st.just("delete"), address_st),
    st.tuples(st.just("wipe"), address_st),
    st.tuples(st.just("warm"), address_st, st.sampled_from(SLOTS)),
    st.tuples(st.just("record")),
    st.tuples(st.just("commit")),
    st.tuples(st.just("discard"), st.integers(0, 3)),
    st.tuples(st.just("tx")),
)


@settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=300,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(op_st, max_size=50))
def test_matches_a_dict_model(ops: list[tuple[Any, ...]]) -> None:
    world = make_world()
    db = FlatAccountDB(world)
    model = initial_model()
    tx_start = model.copy()  # storage at the start of the current transaction
    checkpoints: list[tuple[Any, Model]] = []
    for op in ops:
        kind = op[0]
        if kind == "balance":
            db.set_balance(op[1], op[2])
            model.account(op[1])[1] = op[2]
        elif kind == "nonce":
            db.set_nonce(op[1], op[2])
            model.account(op[1])[0] = op[2]
        elif kind == "storage":
            db.set_storage(op[1], op[2], op[3])
            model.storage.setdefault(op[1], {})[op[2]] = op[3]
        elif kind == "code":
            db.set_code(op[1], op[2])
            model.account(op[1])[2] = op[2]
        elif kind == "delete":
            db.delete_account(op[1])
            model.accounts.pop(op[1], None)
            model.storage.pop(op[1], None)
        elif kind == "wipe":
            db.delete_storage(op[1])
            model.storage.pop(op[1], None)
        elif kind == "warm":
            db.mark_address_warm(op[1])
            db.mark_storage_warm(op[1], op[2])
            model.warm |= {op[1], (op[1], op[2])}
        elif kind == "record":
            checkpoints.append((db.record(), model.copy()))
        elif kind == "commit":
            if checkpoints:
                db.commit(checkpoints.pop()[0])
        elif kind == "discard":
            if checkpoints:
                depth = min(op[1], len(checkpoints) - 1)
                checkpoint, saved = checkpoints[-1 - depth]
                del checkpoints[-1 - depth :]
                db.discard(checkpoint)
                model = saved
        else:  # transaction boundary
            db.lock_changes()
            checkpoints.clear()
            model.warm.clear()
            tx_start = model.copy()

        assert observe(db) == model.read()
        assert warm_state(db) == (
            frozenset(a for a in ADDRESSES if a in model.warm),
            frozenset(k for k in model.warm if isinstance(k, tuple)),
        )
        for address in ADDRESSES:
            for slot in SLOTS:
                assert db.get_storage(address, slot, from_journal=False) == tx_start.storage.get(
                    address, {}
                ).get(slot, 0), (address.hex(), slot)

    diff = db.take_diff()
    addresses = [a.address for a in diff.accounts]
    assert addresses == sorted(set(addresses))
    for acc in diff.accounts:
        assert [s for s, _ in acc.storage] == sorted({s for s, _ in acc.storage})
    world.apply_diff(diff)
    # Storage written to an address that ends without an account is not persisted.
    for address in ADDRESSES:
        if address not in model.accounts:
            model.storage.pop(address, None)
    assert observe(world) == model.read()
    assert observe(db) == model.read()
    assert db.take_diff() == StateDiff(())
