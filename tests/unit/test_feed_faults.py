"""Specification of the feed fire drill (``sequencer run --dev-fault KIND[@N]``,
sequencer.feed.faults): exactly one message of the stream is corrupted, the first at or after N
that has the thing to corrupt, the same one whether it is read from history or live; every
other message passes untouched and nothing the caller owns is mutated."""

from __future__ import annotations

import asyncio
import copy
import os
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
import rlp
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient, TestServer
from eth.constants import EMPTY_SHA3
from eth_account import Account
from eth_hash.auto import keccak

from sequencer.config import load_config
from sequencer.execution.headers import make_header
from sequencer.feed.faults import FORGER_KEY, KINDS, DevFault, FaultInjector, parse_dev_fault
from sequencer.feed.server import Encoded, FeedHub, make_feed_app
from sequencer.feed.wire import (
    block_message,
    genesis_message,
    mini_block_message,
    seq_of_block,
    seq_of_mini,
    wire_mini_block_hash,
    wire_signing_hash,
)
from sequencer.signing import FeedSigner, SequencerKey, Signature, recover
from sequencer.types import AccountDiff, BlockEnv, EvmBlock, Log, MiniBlock, Receipt, StateDiff
from tests.support.daemon import ROOT, write_config

CHAIN_ID = 1337
KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
SENDER = bytes.fromhex(Account.from_key(KEY).address[2:])
RECIPIENT = bytes.fromhex("70997970C51812dc3A010C7d01b50e0d17dc79C8")
CONTRACT = bytes.fromhex("5FbDB2315678afecb367f032d93F642f64180aa3")
COINBASE = b"\xc0" * 20
GWEI = 10**9
TRANSFER_TOPIC = keccak(b"Transfer(address,address,uint256)")
WORD = 2**256


# -- a small hand-made chain ------------------------------------------------------------------------


@cache
def signed(nonce: int) -> bytes:
    tx = Account.from_key(KEY).sign_transaction(
        {
            "type": 2,
            "chainId": CHAIN_ID,
            "nonce": nonce,
            "maxFeePerGas": 2 * GWEI,
            "maxPriorityFeePerGas": GWEI,
            "gas": 100_000,
            "to": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
            "value": 5,
        }
    )
    return bytes(tx.raw_transaction)


def receipt(raw: bytes, index: int, cumulative: int, logs: tuple[Log, ...], status: int = 1) -> Receipt:
    return Receipt(
        tx_hash=keccak(raw),
        tx_type=2,
        sender=SENDER,
        to=CONTRACT,
        status=status,
        gas_used=21_000 + index,
        cumulative_gas_used=cumulative,
        effective_gas_price=GWEI + 7,
        logs=logs,
        bloom=b"\x00" * 256,
        contract_address=None,
        block_number=0,
        mini_block_number=0,
        tx_index=index,
        first_log_index=0,
        encoded=b"",
    )


def env(number: int) -> BlockEnv:
    return BlockEnv(
        number=number,
        timestamp=1_700_000_000 + number,
        parent_hash=keccak(b"block %d" % (number - 1)),
        base_fee=875_000_000,
        gas_limit=1_000_000_000,
        coinbase=COINBASE,
        prev_randao=keccak(b"randao"),
    )


def mini(number: int, block: int, index: int, shape: str, nonce: int = 0) -> MiniBlock:
    """shapes: ``empty``; ``transfer`` (1 tx, no log, balances only); ``call`` (1 tx with a
    log and storage, a deleted account first in the diff); ``full`` (2 txs, the second with
    logs, storage, a deleted account first)."""
    transfer_log = Log(CONTRACT, (TRANSFER_TOPIC, b"\x00" * 12 + SENDER), (5).to_bytes(32, "big"))
    anonymous = Log(CONTRACT, (), b"")
    deleted = AccountDiff(b"\x00" * 20, 0, 0, EMPTY_SHA3, None, (), True)
    contract = AccountDiff(CONTRACT, 1, 7, keccak(b"code"), None, ((1, 42), (2, WORD - 1)), False)
    balances = (
        AccountDiff(RECIPIENT, 0, 10_000 * 10**18 + 5, EMPTY_SHA3, None, (), False),
        AccountDiff(SENDER, nonce + 1, 9_999 * 10**18, EMPTY_SHA3, None, (), False),
    )
    raws: tuple[bytes, ...]
    receipts: tuple[Receipt, ...]
    diff: tuple[AccountDiff, ...]
    if shape == "empty":
        raws, receipts, diff = (), (), ()
    elif shape == "transfer":
        raws = (signed(nonce),)
        receipts = (receipt(raws[0], 0, 21_000, ()),)
        diff = balances
    elif shape == "call":
        raws = (signed(nonce),)
        receipts = (receipt(raws[0], 0, 30_000, (anonymous, transfer_log)),)
        diff = (deleted, contract, *balances)
    else:
        assert shape == "full"
        raws = (signed(nonce), signed(nonce + 1))
        receipts = (receipt(raws[0], 0, 21_000, ()), receipt(raws[1], 1, 51_000, (transfer_log,), status=0))
        diff = (deleted, contract, *balances)
    return MiniBlock(
        number=number,
        block_number=block,
        index=index,
        timestamp_us=1_700_000_000_000_000 + number,
        parent_hash=keccak(b"mini %d" % (number - 1)),
        hash=keccak(b"mini %d" % number),
        block_env=env(block),
        raw_txs=raws,
        tx_hashes=tuple(keccak(r) for r in raws),
        receipts=receipts,
        diff=StateDiff(diff),
        gas_used=sum(r.gas_used for r in receipts),
    )


def evm_block(number: int, minis: list[MiniBlock], first: int) -> EvmBlock:
    parent = keccak(b"block %d" % (number - 1))
    state_root, tx_root, receipt_root = keccak(b"state %d" % number), keccak(b"txs"), keccak(b"receipts")
    header_rlp, block_hash = make_header(
        number=number,
        parent_hash=parent,
        coinbase=COINBASE,
        state_root=state_root,
        transactions_root=tx_root,
        receipts_root=receipt_root,
        logs_bloom=0,
        gas_limit=1_000_000_000,
        gas_used=sum(mb.gas_used for mb in minis),
        timestamp=1_700_000_000 + number,
        prev_randao=keccak(b"randao"),
        base_fee=875_000_000,
    )
    return EvmBlock(
        number=number,
        hash=block_hash,
        parent_hash=parent,
        timestamp=1_700_000_000 + number,
        state_root=state_root,
        transactions_root=tx_root,
        receipts_root=receipt_root,
        logs_bloom=b"\x00" * 256,
        gas_used=sum(mb.gas_used for mb in minis),
        gas_limit=1_000_000_000,
        base_fee=875_000_000,
        coinbase=COINBASE,
        prev_randao=keccak(b"randao"),
        header_rlp=header_rlp,
        tx_hashes=tuple(h for mb in minis for h in mb.tx_hashes),
        first_mini_block=first,
        last_mini_block=first + len(minis) - 1,
        sealed_at_us=1_700_000_000_000_000 + number,
    )


# Block layout (mini-block number: shape) and the resulting positions:
#   seq 0 genesis | block 1: mini 0 empty (seq 1), mini 1 transfer (2), mini 2 full (3), block (4)
#   block 2: mini 3 call (5), mini 4 full (6), block (7) | block 3: empty (8)
#   block 4: mini 5 transfer (9), block (10)
LAYOUT: list[list[str]] = [["empty", "transfer", "full"], ["call", "full"], [], ["transfer"]]


@cache
def chain_objects() -> tuple[EvmBlock, list[tuple[EvmBlock, list[MiniBlock]]]]:
    genesis = evm_block(0, [], 0)
    assert seq_of_block(genesis) == 0
    blocks = []
    number = nonce = 0
    for b, shapes in enumerate(LAYOUT, start=1):
        minis = []
        for i, shape in enumerate(shapes):
            minis.append(mini(number + i, b, i, shape, nonce))
            nonce += len(minis[-1].raw_txs)
        blocks.append((evm_block(b, minis, number), minis))
        number += len(minis)
    return genesis, blocks


def messages() -> list[dict[str, Any]]:
    """Fresh copies of every non-genesis message, in seq order."""
    _genesis, blocks = chain_objects()
    out: list[dict[str, Any]] = []
    for block, minis in blocks:
        out.extend(mini_block_message(mb) for mb in minis)
        out.append(block_message(block))
    assert [m["seq"] for m in out] == list(range(1, 11))
    return out


def by_seq() -> dict[int, dict[str, Any]]:
    return {m["seq"]: m for m in messages()}


def source_from(msgs: list[dict[str, Any]]) -> Any:
    def source(start: int) -> Iterator[dict[str, Any]]:
        return iter([copy.deepcopy(m) for m in msgs if m["seq"] >= start])

    return source


def run_live(fault: DevFault, msgs: list[dict[str, Any]] | None = None) -> list[dict[str, Any] | None]:
    msgs = messages() if msgs is None else msgs
    injector = FaultInjector(fault, source_from(msgs))
    return [injector.apply(m) for m in msgs]


def only_changed(out: list[dict[str, Any] | None], original: list[dict[str, Any]]) -> int:
    changed: list[int] = [m["seq"] for o, m in zip(out, original, strict=True) if o != m]
    assert len(changed) == 1, changed
    return changed[0]


# -- parsing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("balance", DevFault("balance", 0)),
        ("state-root@12", DevFault("state-root", 12)),
        (" skip-seq@0 ", DevFault("skip-seq", 0)),
        ("receipt-status@007", DevFault("receipt-status", 7)),
    ],
)
def test_parse_dev_fault(text: str, fault: DevFault) -> None:
    assert parse_dev_fault(text) == fault


@pytest.mark.parametrize(
    "text", ["nope", "", "@3", "BALANCE", "balance@x", "balance@-1", "balance@", "log@1@2"]
)
def test_parse_dev_fault_errors_list_the_valid_kinds(text: str) -> None:
    with pytest.raises(ValueError, match="valid kinds: balance, storage, ") as info:
        parse_dev_fault(text)
    assert all(kind in str(info.value) for kind in KINDS)
    assert "\n" not in str(info.value)


def test_bad_number_is_named() -> None:
    with pytest.raises(ValueError, match=r"bad dev fault number '-1'"):
        parse_dev_fault("balance@-1")
    with pytest.raises(ValueError, match=r"unknown dev fault kind 'nope'"):
        parse_dev_fault("nope@3")


# -- each kind corrupts exactly its field of exactly the first qualifying message ------------------


def _first_live(mb: dict[str, Any]) -> dict[str, Any]:
    return next(a for a in mb["stateDiff"] if not a["deleted"])


def expect_balance(mb: dict[str, Any]) -> None:
    account = _first_live(mb)
    account["balance"] = hex(int(account["balance"], 16) + 1)


def expect_storage(mb: dict[str, Any]) -> None:
    slot = next(a for a in mb["stateDiff"] if not a["deleted"] and a["storage"])["storage"][0]
    slot[1] = hex(int(slot[1], 16) + 1)


def expect_receipt_gas(mb: dict[str, Any]) -> None:
    mb["receipts"][0]["gasUsed"] = hex(int(mb["receipts"][0]["gasUsed"], 16) + 1)


def expect_receipt_status(mb: dict[str, Any]) -> None:
    mb["receipts"][0]["status"] = {"0x1": "0x0", "0x0": "0x1"}[mb["receipts"][0]["status"]]


def expect_log(mb: dict[str, Any]) -> None:
    first = next(r["logs"][0] for r in mb["receipts"] if r["logs"])
    data = first["data"]
    first["data"] = "0x01" if data == "0x" else data[:-2] + f"{int(data[-2:], 16) ^ 1:02x}"


def expect_drop_tx(mb: dict[str, Any]) -> None:
    mb["transactions"].pop()
    mb["receipts"].pop()


def expect_reorder_tx(mb: dict[str, Any]) -> None:
    for key in ("transactions", "receipts"):
        mb[key][0], mb[key][1] = mb[key][1], mb[key][0]


def expect_base_fee(mb: dict[str, Any]) -> None:
    mb["env"]["baseFee"] = hex(int(mb["env"]["baseFee"], 16) + 1)


def expect_timestamp(mb: dict[str, Any]) -> None:
    mb["env"]["timestamp"] = hex(int(mb["env"]["timestamp"], 16) - 3600)


def expect_gas_limit(mb: dict[str, Any]) -> None:
    mb["env"]["gasLimit"] = "0x1"


def expect_coinbase(mb: dict[str, Any]) -> None:
    mb["env"]["coinbase"] = "0x000000000000000000000000000000000000dead"


def expect_relabel_number(mb: dict[str, Any]) -> None:
    mb["number"] = hex(int(mb["number"], 16) + 1)


EXPECT = {
    "base-fee": expect_base_fee,
    "timestamp": expect_timestamp,
    "gas-limit": expect_gas_limit,
    "coinbase": expect_coinbase,
    "relabel-number": expect_relabel_number,
    "balance": expect_balance,
    "storage": expect_storage,
    "receipt-gas": expect_receipt_gas,
    "receipt-status": expect_receipt_status,
    "log": expect_log,
    "drop-tx": expect_drop_tx,
    "reorder-tx": expect_reorder_tx,
}


@pytest.mark.parametrize(
    ("kind", "at", "target"),
    [
        ("balance", 0, 2),  # mini 0 is empty; mini 1 changes balances
        ("balance", 2, 3),  # mini 2: the first entry is deleted, the next one is corrupted
        ("balance", 3, 5),
        ("storage", 0, 3),  # mini 1 changes no storage
        ("storage", 3, 5),
        ("receipt-gas", 0, 2),
        ("receipt-gas", 4, 6),
        ("receipt-status", 0, 2),
        ("receipt-status", 5, 9),  # past two block messages
        ("log", 0, 3),  # mini 2: the first receipt has no log, the second's log is changed
        ("log", 3, 5),  # mini 3: the first log has empty data
        ("drop-tx", 0, 2),
        ("drop-tx", 2, 3),
        ("reorder-tx", 0, 3),
        ("reorder-tx", 3, 6),  # mini 3 has a single transaction
        ("base-fee", 0, 1),  # every mini-block has an environment, even an empty one
        ("timestamp", 2, 3),
        ("gas-limit", 3, 5),
        ("coinbase", 5, 9),
        ("relabel-number", 1, 2),
    ],
)
def test_mini_block_kinds(kind: str, at: int, target: int) -> None:
    """The corruption, and the mini-block hash recomputed over the corrupted fields (the drill
    plays a sequencer that lies consistently)."""
    original = messages()
    out = run_live(DevFault(kind, at))
    assert only_changed(out, original) == target
    expected = copy.deepcopy(by_seq()[target])
    EXPECT[kind](expected["miniBlock"])
    expected["miniBlock"]["hash"] = "0x" + wire_mini_block_hash(expected["miniBlock"]).hex()
    assert expected["miniBlock"]["hash"] != by_seq()[target]["miniBlock"]["hash"]
    assert out[target - 1] == expected
    assert original == messages()  # inputs not mutated


def test_the_mini_block_hash_kind_breaks_only_the_hash() -> None:
    out = run_live(DevFault("mini-block-hash", 2))
    sent, true = out[3 - 1], by_seq()[3]
    assert sent is not None
    assert {k: v for k, v in sent["miniBlock"].items() if k != "hash"} == {
        k: v for k, v in true["miniBlock"].items() if k != "hash"
    }
    assert int(sent["miniBlock"]["hash"], 16) ^ int(true["miniBlock"]["hash"], 16) == 1


SIGNER_KEY = bytes.fromhex("5c813cd0b9eaffd33fd39baafbbb6f89816ed71904092ddbabedc8f13f37caa0")


def signed_messages() -> tuple[list[dict[str, Any]], FeedSigner]:
    """The hand-made chain as a signed chain's feed sends it."""
    config = load_config(ROOT / "configs" / "devnet.toml").chain
    signer = FeedSigner(config, [SequencerKey(SIGNER_KEY)])
    _genesis, blocks = chain_objects()
    out: list[dict[str, Any]] = []
    for block, minis in blocks:
        out.extend(mini_block_message(mb, signer.mini_block_json(mb)) for mb in minis)
        signature = signer.block(block)
        out.append(block_message(block, signature.as_json() if signature else None))
    return out, signer


def test_the_forged_signature_kind_signs_the_true_digest_with_another_key() -> None:
    msgs, signer = signed_messages()
    injector = FaultInjector(DevFault("forged-signature", 1), source_from(msgs))
    injector.bind_signer(signer)
    out = [injector.apply(copy.deepcopy(m)) for m in msgs]
    assert only_changed(out, msgs) == 2
    sent = out[1]
    assert sent is not None
    signature = sent["miniBlock"]["signature"]
    forged = Signature(int(signature["r"], 16), int(signature["s"], 16), int(signature["yParity"], 16))
    digest = wire_signing_hash(sent["miniBlock"])
    assert recover(digest, forged) == SequencerKey(FORGER_KEY).address != SequencerKey(SIGNER_KEY).address


@pytest.mark.parametrize("kind", ["balance", "base-fee", "relabel-number"])
def test_a_corrupted_mini_block_of_a_signed_chain_is_re_signed_by_the_sequencer(kind: str) -> None:
    msgs, signer = signed_messages()
    injector = FaultInjector(DevFault(kind, 1), source_from(msgs))
    injector.bind_signer(signer)
    out = [injector.apply(copy.deepcopy(m)) for m in msgs]
    sent = out[only_changed(out, msgs) - 1]
    assert sent is not None
    signature = sent["miniBlock"]["signature"]
    parsed = Signature(int(signature["r"], 16), int(signature["s"], 16), int(signature["yParity"], 16))
    assert recover(wire_signing_hash(sent["miniBlock"]), parsed) == SequencerKey(SIGNER_KEY).address


def test_the_genesis_kind_claims_a_different_genesis() -> None:
    config = load_config(ROOT / "configs" / "devnet.toml").chain
    genesis, _ = chain_objects()
    true = genesis_message(genesis, config)
    injector = FaultInjector(DevFault("genesis", 5))  # N is ignored: genesis is one message
    sent = injector.apply(copy.deepcopy(true))
    assert sent is not None and sent != true
    body = sent["genesis"]
    assert body["hash"] == "0x" + keccak(bytes.fromhex(body["header"][2:])).hex() != true["genesis"]["hash"]
    assert len(body["alloc"]) == len(true["genesis"]["alloc"]) + 1
    assert all(injector.apply(m) is m for m in messages())


def test_log_with_empty_data_becomes_0x01() -> None:
    out = run_live(DevFault("log", 3))
    first = out[5 - 1]["miniBlock"]["receipts"][0]["logs"][0]  # type: ignore[index]
    assert by_seq()[5]["miniBlock"]["receipts"][0]["logs"][0]["data"] == "0x"
    assert first["data"] == "0x01"


def test_storage_wraps_at_2_256() -> None:
    msgs = messages()
    msgs[2]["miniBlock"]["stateDiff"][1]["storage"][0][1] = hex(WORD - 1)
    out = run_live(DevFault("storage", 0), msgs)
    assert out[2]["miniBlock"]["stateDiff"][1]["storage"][0] == [hex(1), "0x0"]  # type: ignore[index]


@pytest.mark.parametrize(("at", "target"), [(0, 4), (1, 4), (2, 7), (3, 8), (4, 10)])
def test_state_root(at: int, target: int) -> None:
    original = messages()
    out = run_live(DevFault("state-root", at))
    assert only_changed(out, original) == target
    sent, true = out[target - 1], by_seq()[target]
    assert sent is not None
    new_fields = rlp.decode(bytes.fromhex(sent["block"]["header"][2:]))
    old_fields = rlp.decode(bytes.fromhex(true["block"]["header"][2:]))
    assert [i for i, (a, b) in enumerate(zip(new_fields, old_fields, strict=True)) if a != b] == [3]
    assert new_fields[3] == old_fields[3][:-1] + bytes([old_fields[3][-1] ^ 1])
    assert sent["block"]["hash"] == "0x" + keccak(bytes.fromhex(sent["block"]["header"][2:])).hex()
    assert {k: v for k, v in sent["block"].items() if k not in ("header", "hash")} == {
        k: v for k, v in true["block"].items() if k not in ("header", "hash")
    }
    assert original == messages()


@pytest.mark.parametrize(("at", "target"), [(0, 1), (1, 2), (3, 5), (5, 9)])
def test_skip_seq_suppresses_the_first_mini_block_at_or_after_n(at: int, target: int) -> None:
    original = messages()
    injector = FaultInjector(DevFault("skip-seq", at), source_from(original))
    out = [injector.apply(m) for m in messages()]
    assert [m["seq"] for m, o in zip(original, out, strict=True) if o is None] == [target]
    assert [o for o in out if o is not None] == [m for m in original if m["seq"] != target]
    assert injector.skipped_seq == injector.target_seq == target


def test_skipped_seq_is_none_for_other_kinds() -> None:
    injector = FaultInjector(DevFault("balance", 0))
    for m in messages():
        injector.apply(m)
    assert injector.target_seq == 2
    assert injector.skipped_seq is None


@pytest.mark.parametrize("fault", [DevFault("reorder-tx", 5), DevFault("state-root", 5), DevFault("log", 6)])
def test_nothing_qualifies_nothing_changes(fault: DevFault) -> None:
    original = messages()
    assert run_live(fault) == original
    injector = FaultInjector(fault)
    assert all(injector.apply(m) is m for m in messages())
    assert injector.target_seq is None


def test_messages_other_than_the_target_are_passed_through_as_is() -> None:
    injector = FaultInjector(DevFault("balance", 0))
    msgs = messages()
    out = [injector.apply(m) for m in msgs]
    assert all(o is m for o, m in zip(out, msgs, strict=True) if m["seq"] != 2)
    assert out[1] is not msgs[1]


# -- one target for the life of the process, whichever way the message is read ---------------------


@pytest.mark.parametrize("kind", [k for k in KINDS if k not in ("skip-seq", "genesis", "forged-signature")])
def test_history_and_live_and_every_follower_see_the_same_corruption(kind: str) -> None:
    fault = DevFault(kind, 0)
    live = run_live(fault)
    injector = FaultInjector(fault, source_from(messages()))
    # follower A reads everything from history, follower B from seq 5, then the re-served history
    first = [injector.apply(m) for m in messages()]
    second = [injector.apply(m) for m in messages()[4:]]
    assert first == live
    assert second == live[4:]


@pytest.mark.parametrize(
    ("fault", "target"),
    [
        (DevFault("balance", 0), 2),
        (DevFault("storage", 0), 3),
        (DevFault("reorder-tx", 3), 6),
        (DevFault("state-root", 0), 4),
        (DevFault("skip-seq", 0), 1),
    ],
)
def test_a_follower_starting_late_does_not_move_the_target(fault: DevFault, target: int) -> None:
    """A process that starts over an existing chain, or whose first follower starts from a later
    position, must still pick the first qualifying message: it scans the earlier positions."""
    msgs = messages()
    for start in range(1, 11):
        injector = FaultInjector(fault, source_from(msgs))
        later = [injector.apply(m) for m in messages() if m["seq"] >= start]
        changed = [m["seq"] for m, o in zip(msgs[start - 1 :], later, strict=True) if o != m]
        assert changed == ([target] if start <= target else []), start
        assert injector.target_seq in (target, None), start  # None: nothing after start qualifies


def test_the_scan_stops_at_the_first_qualifying_message() -> None:
    msgs = messages()
    reads: list[int] = []

    def source(start: int) -> Iterator[dict[str, Any]]:
        for m in msgs:
            if m["seq"] >= start:
                reads.append(m["seq"])
                yield m

    injector = FaultInjector(DevFault("storage", 0), source)
    assert injector.apply(messages()[8]) == msgs[8]  # mini 5 (no storage): no scan needed
    assert reads == []
    assert injector.apply(messages()[5]) == msgs[5]  # mini 4 qualifies: mini 2 is found first
    assert reads == [1, 2, 3]
    assert injector.target_seq == 3


# -- the feed hub: history and live, and the server lets a deliberate gap through -----------------


class FakeChain:
    """What FeedHub reads of a Chain."""

    def __init__(self) -> None:
        genesis, _ = chain_objects()
        self.blocks: list[EvmBlock] = [genesis]
        self.minis: dict[int, MiniBlock] = {}
        self.open_minis: list[MiniBlock] = []
        self.head_mini: MiniBlock | None = None
        self.config = load_config(ROOT / "configs" / "devnet.toml").chain

    @property
    def head(self) -> EvmBlock:
        return self.blocks[-1]

    def get_block(self, number: int) -> EvmBlock | None:
        return self.blocks[number] if number < len(self.blocks) else None

    @property
    def store(self) -> FakeChain:
        return self

    def iter_mini_blocks(self, start: int, stop: int) -> Iterator[MiniBlock]:
        return iter([self.minis[n] for n in range(start, stop + 1)])

    def block_mini_blocks(self, block: EvmBlock) -> list[MiniBlock]:
        return [self.minis[n] for n in range(block.first_mini_block, block.last_mini_block + 1)]

    def produce(self, hub: FeedHub, upto_seq: int) -> None:
        """Publish chain events (as the producer does: chain first, then listeners) to upto_seq."""
        _, blocks = chain_objects()
        for block, minis in blocks:
            for mb in minis:
                if seq_of_mini(mb) <= upto_seq and mb.number not in self.minis:
                    self.minis[mb.number] = mb
                    self.open_minis.append(mb)
                    self.head_mini = mb
                    hub.on_mini_block(mb)
            if seq_of_block(block) <= upto_seq and block.number >= len(self.blocks):
                self.blocks.append(block)
                self.open_minis = []
                hub.on_block(block)


def make_hub(fault: DevFault | None) -> tuple[FakeChain, FeedHub]:
    chain = FakeChain()
    hub = FeedHub(chain, injector=FaultInjector(fault) if fault else None)  # type: ignore[arg-type]
    return chain, hub


def drain(queue: asyncio.Queue[Encoded | None]) -> list[dict[str, Any]]:
    """The messages a follower's queue holds (encoded once for every follower)."""
    out = []
    while queue.qsize():
        item = queue.get_nowait()
        assert item is not None
        seq, text = item
        out.append(orjson.loads(text))
        assert out[-1]["seq"] == seq
    return out


def test_hub_history_and_live_agree() -> None:
    fault = DevFault("receipt-gas", 3)
    expected = run_live(fault)
    chain, hub = make_hub(fault)
    queue: asyncio.Queue[Encoded | None] = asyncio.Queue()
    hub.followers.add(queue)
    chain.produce(hub, 10)
    live = drain(queue)
    assert live == expected
    history = list(hub.history(1))
    assert history == expected
    assert list(hub.history(6)) == expected[5:]


def test_hub_without_injector_is_unchanged() -> None:
    chain, hub = make_hub(None)
    chain.produce(hub, 10)
    assert list(hub.history(1)) == messages()
    assert hub.skipped_seq is None


def test_hub_started_over_an_existing_chain_finds_the_target_on_disk() -> None:
    chain, plain = make_hub(None)
    chain.produce(plain, 6)  # the chain existed before this process
    hub = FeedHub(chain, injector=FaultInjector(DevFault("balance", 0)))  # type: ignore[arg-type]
    queue: asyncio.Queue[Encoded | None] = asyncio.Queue()
    hub.followers.add(queue)
    chain.produce(hub, 10)
    live = drain(queue)
    assert live == messages()[6:]  # mini 5 (seq 9) qualifies, but mini 1 (seq 2) was first
    assert list(hub.history(1)) == run_live(DevFault("balance", 0))


def test_hub_skip_seq_live_and_history() -> None:
    chain, hub = make_hub(DevFault("skip-seq", 3))
    queue: asyncio.Queue[Encoded | None] = asyncio.Queue()
    hub.followers.add(queue)
    chain.produce(hub, 10)
    live = drain(queue)
    assert [m["seq"] for m in live] == [1, 2, 3, 4, 6, 7, 8, 9, 10]
    assert [m["seq"] for m in hub.history(0)] == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10]
    assert hub.skipped_seq == 5


@pytest.mark.asyncio
@pytest.mark.parametrize("start", [0, 3, 5])
async def test_server_lets_the_deliberate_gap_through_without_closing(start: int) -> None:
    """Half the chain from history, the rest live across the skipped position: the follower sees
    the gap and the server keeps streaming."""
    chain, hub = make_hub(DevFault("skip-seq", 3))
    chain.produce(hub, 4)
    async with TestClient(TestServer(make_feed_app(hub))) as client:
        ws = await client.ws_connect(f"/?from={start}")
        seen = []
        for _ in range(max(0, 5 - start)):
            seen.append(orjson.loads((await ws.receive(timeout=5)).data)["seq"])
        while not hub.followers:
            await asyncio.sleep(0.01)
        chain.produce(hub, 10)
        while not seen or seen[-1] != 10:
            msg = await ws.receive(timeout=5)
            assert msg.type == WSMsgType.TEXT, (msg, seen)
            seen.append(orjson.loads(msg.data)["seq"])
        assert seen == [s for s in range(start, 11) if s != 5]
        assert not ws.closed
        await ws.close()


# -- the command line ------------------------------------------------------------------------------


def run_cli(tmp_path: Path, config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "sequencer.cli",
            "run",
            "--config",
            str(config),
            "--data-dir",
            str(tmp_path / "data"),
            "--rpc-port",
            "0",
            "--feed-port",
            "0",
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        timeout=60,
        check=False,
    )


def test_cli_refuses_dev_fault_unless_devnet(tmp_path: Path) -> None:
    config = write_config(tmp_path / "chain.toml", devnet="false")
    result = run_cli(tmp_path, config, "--dev-fault", "balance")
    assert result.returncode == 2, result
    assert "--dev-fault is refused: the chain config is not a devnet" in result.stderr
    assert not (tmp_path / "data").exists()  # refused before opening anything


def test_cli_rejects_an_unknown_kind(tmp_path: Path) -> None:
    result = run_cli(tmp_path, ROOT / "configs" / "devnet.toml", "--dev-fault", "nonce@3")
    assert result.returncode == 2, result
    assert "unknown dev fault kind 'nonce'" in result.stderr
    assert "valid kinds: balance, storage" in result.stderr
