"""Derivation from L1 data: the recorded devnet chain, batched and posted on a synthetic L1, is
derived into the very same blocks (same hashes), and every way L1 data can disagree with what
it derives is a verdict naming the L1 transaction and the L2 block.

The L1 here is a list of blocks built by the test (no node): the deriver only sees L1 blocks,
their transactions and their logs, exactly as the derivation verifier reads them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import rlp
from eth_hash.auto import keccak

from sequencer.config import ChainConfig, load_config
from sequencer.rules import next_base_fee as sequencer_next_base_fee
from sequencer.settlement.channels import Batch, Frame, batcher_calldata, encode_channel, split_channel
from sequencer.settlement.contracts import CONFIG_UPDATE_TOPIC, OUTPUT_PROPOSED_TOPIC, OUTPUTS_DELETED_TOPIC
from sequencer.settlement.l1 import L1Block, L1Log, L1Transaction
from sequencer.settlement.outputs import EMPTY_TRIE_ROOT, output_root_v0
from sequencer.settlement.settings import (
    ContractAddresses,
    DerivationSettings,
    L1Settings,
    Roles,
    Settlement,
    inbox_address,
)
from tests.support.daemon import DEVNET
from tests.support.feed_fixture import recorded_feed
from verifier.derivation.bank import ChannelBank
from verifier.derivation.checkpoint import DerivationState
from verifier.derivation.deriver import Deriver
from verifier.derivation.genesis import build_genesis
from verifier.derivation.records import DerivedIndex, DerivedRecord
from verifier.derivation.verdict import DerivationMismatch, DerivationVerdict
from verifier.rules import Parent, next_base_fee
from verifier.state import EMPTY_CODE_HASH, Account, FlatState, reference_root

BATCHER = b"\xba" * 20
INBOX = inbox_address(1337)
ORACLE = b"\x0a" * 20
SYSTEM_CONFIG = b"\x5c" * 20
START = 100


@dataclass(frozen=True)
class L2Block:
    number: int
    hash: bytes
    parent_hash: bytes
    timestamp: int
    state_root: bytes
    txs: tuple[bytes, ...]


def recorded_blocks() -> list[L2Block]:
    """The recorded devnet blocks 1..8 with their transactions."""
    txs: dict[int, list[bytes]] = {}
    blocks = []
    for m in recorded_feed():
        if m["type"] == "miniBlock":
            mb = m["miniBlock"]
            txs.setdefault(int(mb["blockNumber"], 16), []).extend(
                bytes.fromhex(t[2:]) for t in mb["transactions"]
            )
        elif m["type"] == "block":
            b = m["block"]
            header = rlp.decode(bytes.fromhex(b["header"][2:]))
            number = int(b["number"], 16)
            blocks.append(
                L2Block(
                    number,
                    bytes.fromhex(b["hash"][2:]),
                    bytes(header[0]),
                    int.from_bytes(header[11], "big"),
                    bytes(header[3]),
                    tuple(txs.get(number, [])),
                )
            )
    return blocks


BLOCKS = recorded_blocks()


def recorded_chain() -> ChainConfig:
    """The devnet config, with the recorded chain's genesis timestamp (the devnet config leaves it
    to the data dir's creation; a settlement file pins it, ``l2.genesis_timestamp``)."""
    genesis = recorded_feed()[0]["genesis"]
    header = rlp.decode(bytes.fromhex(genesis["header"][2:]))
    return dataclasses.replace(load_config(DEVNET).chain, genesis_timestamp=int.from_bytes(header[11], "big"))


def settlement() -> Settlement:
    return Settlement(
        l1=L1Settings("http://127.0.0.1:1", 31337, START, keccak(b"L1 100")),
        l2_chain_id=1337,
        l2_genesis_hash=b"\x00" * 32,
        l2_genesis_timestamp=0,
        contracts=ContractAddresses(SYSTEM_CONFIG, ORACLE, INBOX),
        roles=Roles(BATCHER, b"\x0b" * 20, b"\x0c" * 20),
        derivation=DerivationSettings(4, channel_timeout_l1_blocks=3),
    )


@dataclass
class FakeL1:
    """A canonical L1 chain the test extends block by block."""

    blocks: dict[int, L1Block] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.blocks[START] = L1Block(START, keccak(b"L1 100"), keccak(b"L1 99"), 0, 1)

    def next(self) -> L1Block:
        parent = self.blocks[max(self.blocks)]
        block = L1Block(
            parent.number + 1, keccak(b"L1 %d" % (parent.number + 1)), parent.hash, parent.timestamp + 1, 1
        )
        self.blocks[block.number] = block
        return block

    async def header(self, number: int) -> L1Block | None:
        return self.blocks.get(number)


def batch_of(block: L2Block, epoch: L1Block, txs: tuple[bytes, ...] | None = None) -> Batch:
    return Batch(
        block.parent_hash, epoch.number, epoch.hash, block.timestamp, block.txs if txs is None else txs
    )


def batcher_txs(
    batches: list[Batch], *, frame_size: int = 100_000, sender: bytes = BATCHER
) -> list[L1Transaction]:
    frames = split_channel(keccak(repr(batches).encode())[:16], encode_channel(batches), frame_size)
    return [
        L1Transaction(
            keccak(b"tx" + f.channel_id + bytes([f.number])), sender, INBOX, batcher_calldata([f]), i
        )
        for i, f in enumerate(frames)
    ]


def output_log(l2: L2Block, index: int, tx_hash: bytes, l1_number: int, root: bytes | None = None) -> L1Log:
    root = output_root_v0(l2.state_root, l2.hash, EMPTY_TRIE_ROOT) if root is None else root
    return L1Log(
        ORACLE,
        (OUTPUT_PROPOSED_TOPIC, root, index.to_bytes(32, "big"), l2.number.to_bytes(32, "big")),
        b"\x00" * 32,
        l1_number,
        b"\x00" * 32,
        tx_hash,
        0,
    )


class Harness:
    def __init__(self, tmp_path: Path, *, halt: bool = True) -> None:
        self.config = recorded_chain()
        self.flat = FlatState()
        self.index = DerivedIndex(tmp_path / "d")
        self.l1 = FakeL1()
        self.verdicts: list[DerivationVerdict] = []
        self.deriver = Deriver(
            settlement(),
            self.config,
            self.flat,
            self.index,
            self.l1.header,
            halt_on_mismatch=halt,
            on_verdict=self.verdicts.append,
        )
        genesis = build_genesis(self.flat, self.config)
        self.flat.take_changes()
        self.index.put(DerivedRecord(genesis, -1, b""))
        self.state = DerivationState(
            START - 1,
            b"",
            genesis,
            (genesis.hash,),
            BATCHER,
            ChannelBank(settlement().derivation.channel_timeout_l1_blocks),
        )
        self.start = self.l1.blocks[START]

    async def l1_block(
        self, txs: list[L1Transaction] | None = None, logs: list[L1Log] | None = None
    ) -> L1Block:
        """The next L1 block, with ``txs`` and ``logs``, through the deriver."""
        block = self.l1.next()
        self.state = await self.deriver.process(self.state, block, txs or [], logs or [])
        return block


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def test_the_genesis_from_the_config_is_the_recorded_one() -> None:
    genesis = build_genesis(FlatState(), recorded_chain())
    assert genesis.hash == recorded_blocks()[0].parent_hash


def test_the_base_fee_rule_is_the_sequencers() -> None:
    for used in (0, 1, 14_999_999, 15_000_000, 15_000_001, 30_000_000):
        for fee in (1, 7, 10**9):
            parent = Parent(1, b"\x00" * 32, 1, fee, used, 30_000_000)
            assert next_base_fee(parent, 3) == sequencer_next_base_fee(fee, used, 30_000_000, 3)


@pytest.mark.asyncio
async def test_posted_blocks_derive_into_the_same_blocks_and_outputs_match(h: Harness) -> None:
    epoch = h.start
    first = batcher_txs([batch_of(b, epoch) for b in BLOCKS[:4]])
    l1_first = await h.l1_block(first)
    output = output_log(BLOCKS[3], 0, b"\x0f" * 32, l1_first.number + 1)
    await h.l1_block(batcher_txs([batch_of(b, epoch) for b in BLOCKS[4:]]), [output])
    assert h.verdicts == []
    assert h.state.head.number == 8 and h.state.head.hash == BLOCKS[-1].hash
    for b in BLOCKS:
        record = h.index.get(b.number)
        assert record is not None and record.head.hash == b.hash and record.head.state_root == b.state_root
    assert h.index.get(2).l1_tx == first[0].hash  # type: ignore[union-attr]
    assert h.state.counts.blocks == 8 and h.state.counts.txs == 13 and h.state.counts.outputs_checked == 1


@pytest.mark.asyncio
async def test_the_undo_records_roll_the_flat_state_back_to_every_derived_block(h: Harness) -> None:
    await h.l1_block(batcher_txs([batch_of(b, h.start) for b in BLOCKS]))
    assert h.state.head.number == 8 and h.flat.root() == BLOCKS[-1].state_root
    for number in range(8, 0, -1):
        undo = h.index.undo(number)
        assert undo is not None
        h.flat.restore(undo)
        h.flat.take_changes()
        parent = h.index.get(number - 1)
        assert parent is not None and h.flat.root() == parent.head.state_root
    # and forward again from genesis: the same blocks
    h.state = dataclasses.replace(h.state, head=h.index.get(0).head, recent_hashes=(BLOCKS[0].parent_hash,))  # type: ignore[union-attr]
    await h.l1_block(batcher_txs([batch_of(b, h.start) for b in BLOCKS], sender=BATCHER))
    assert h.state.head.hash == BLOCKS[-1].hash and h.flat.root() == BLOCKS[-1].state_root


@pytest.mark.asyncio
async def test_an_output_proposed_before_its_block_is_derived_is_checked_once_it_is(h: Harness) -> None:
    await h.l1_block([], [output_log(BLOCKS[1], 0, b"\x0f" * 32, START + 1)])
    assert len(h.state.outputs) == 1
    await h.l1_block(batcher_txs([batch_of(b, h.start) for b in BLOCKS[:3]]))
    assert len(h.state.outputs) == 0 and h.state.counts.outputs_checked == 1


@pytest.mark.asyncio
async def test_a_batch_with_a_transaction_removed_is_caught_at_the_next_batch(h: Harness) -> None:
    epoch = h.start
    batches = [batch_of(BLOCKS[0], epoch, BLOCKS[0].txs[:-1])] + [batch_of(b, epoch) for b in BLOCKS[1:3]]
    txs = batcher_txs(batches)
    with pytest.raises(DerivationMismatch) as info:
        await h.l1_block(txs)
    v = info.value.verdict
    assert (v.field, v.l2_block, v.l1_tx, v.l1_block) == (
        "batch.parentHash",
        2,
        "0x" + txs[0].hash.hex(),
        START + 1,
    )
    assert v.claimed == "0x" + BLOCKS[0].hash.hex() and v.derived != v.claimed
    assert "block 1 was derived from L1 tx 0x" + txs[0].hash.hex() in v.note
    assert v.channel is not None and v.frame == 0


@pytest.mark.asyncio
async def test_a_wrong_output_root_is_caught_naming_the_l1_transaction(h: Harness) -> None:
    await h.l1_block(batcher_txs([batch_of(b, h.start) for b in BLOCKS[:4]]))
    with pytest.raises(DerivationMismatch) as info:
        await h.l1_block([], [output_log(BLOCKS[3], 0, b"\x77" * 32, START + 2, root=b"\x01" * 32)])
    v = info.value.verdict
    assert (v.field, v.l2_block, v.l1_tx) == ("output.outputRoot", 4, "0x" + "77" * 32)
    assert (
        v.claimed == "0x" + "01" * 32
        and v.derived == "0x" + output_root_v0(BLOCKS[3].state_root, BLOCKS[3].hash, EMPTY_TRIE_ROOT).hex()
    )


@pytest.mark.asyncio
async def test_an_l1_origin_that_is_not_canonical_or_not_earlier_is_a_verdict(tmp_path: Path) -> None:
    h = Harness(tmp_path / "a")
    fake_epoch = dataclasses.replace(h.start, hash=b"\x66" * 32)
    with pytest.raises(DerivationMismatch) as info:
        await h.l1_block(batcher_txs([batch_of(BLOCKS[0], fake_epoch)]))
    assert info.value.verdict.field == "batch.epochHash" and info.value.verdict.l2_block == 1
    h2 = Harness(tmp_path / "b")
    future = L1Block(START + 1, keccak(b"L1 101"), h2.start.hash, 1, 1)
    with pytest.raises(DerivationMismatch) as info:
        await h2.l1_block(batcher_txs([batch_of(BLOCKS[0], future)]))
    assert info.value.verdict.field == "batch.epochNumber" and "inclusion" in info.value.verdict.derived


@pytest.mark.asyncio
async def test_an_invalid_transaction_in_a_batch_is_a_verdict(h: Harness) -> None:
    replayed = BLOCKS[0].txs[0]
    bad = [batch_of(BLOCKS[0], h.start), batch_of(BLOCKS[1], h.start, (replayed, *BLOCKS[1].txs))]
    with pytest.raises(DerivationMismatch) as info:
        await h.l1_block(batcher_txs(bad))
    v = info.value.verdict
    assert (v.field, v.l2_block) == ("batch.transactions", 2) and "transaction 0" in v.claimed
    assert "nonce" in v.derived.lower()


@pytest.mark.asyncio
async def test_only_the_batcher_s_transactions_to_the_inbox_count(h: Harness) -> None:
    await h.l1_block(batcher_txs([batch_of(BLOCKS[0], h.start)], sender=b"\x01" * 20))
    assert h.state.head.number == 0
    await h.l1_block(
        [dataclasses.replace(t, to=b"\x02" * 20) for t in batcher_txs([batch_of(BLOCKS[0], h.start)])]
    )
    assert h.state.head.number == 0
    await h.l1_block(batcher_txs([batch_of(BLOCKS[0], h.start)]))
    assert h.state.head.number == 1


@pytest.mark.asyncio
async def test_a_new_batcher_set_in_the_system_config_takes_over(h: Harness) -> None:
    new = b"\xcd" * 20
    update = L1Log(
        SYSTEM_CONFIG,
        (CONFIG_UPDATE_TOPIC, b"\x00" * 32, b"\x00" * 32),
        (32).to_bytes(32, "big") + (32).to_bytes(32, "big") + b"\x00" * 12 + new,
        START + 1,
        b"\x00" * 32,
        b"\x01" * 32,
        0,
    )
    await h.l1_block(batcher_txs([batch_of(BLOCKS[0], h.start)]), [update])
    assert h.state.batcher == new and h.state.head.number == 0  # the old batcher's data is ignored
    await h.l1_block(batcher_txs([batch_of(BLOCKS[0], h.start)], sender=new))
    assert h.state.head.number == 1


@pytest.mark.asyncio
async def test_a_batch_posted_twice_is_dropped_the_second_time(h: Harness) -> None:
    await h.l1_block(batcher_txs([batch_of(b, h.start) for b in BLOCKS[:2]]))
    await h.l1_block(batcher_txs([batch_of(BLOCKS[1], h.start), batch_of(BLOCKS[2], h.start)]))
    assert h.verdicts == [] and h.state.head.number == 3 and h.state.counts.dropped == 1


@pytest.mark.asyncio
async def test_a_channel_spread_over_several_l1_blocks_derives_once_complete(h: Harness) -> None:
    txs = batcher_txs([batch_of(b, h.start) for b in BLOCKS], frame_size=200)
    assert len(txs) >= 3
    await h.l1_block(txs[:1])
    assert h.state.head.number == 0 and len(h.state.bank.channels) == 1
    await h.l1_block(txs[1:])
    assert h.state.head.hash == BLOCKS[-1].hash and len(h.state.bank.channels) == 0


@pytest.mark.asyncio
async def test_a_channel_not_completed_in_time_is_dropped(h: Harness) -> None:
    txs = batcher_txs([batch_of(b, h.start) for b in BLOCKS], frame_size=200)
    await h.l1_block(txs[:1])  # opens the channel at L1 block 101; the timeout is 3 blocks
    for _ in range(4):
        await h.l1_block()
    assert len(h.state.bank.channels) == 0 and h.state.counts.dropped == 1
    await h.l1_block(txs[1:])  # the rest comes too late: its frames open a channel that never closes
    assert h.state.head.number == 0


@pytest.mark.asyncio
async def test_malformed_batcher_data_is_a_verdict_naming_the_transaction(h: Harness) -> None:
    junk = L1Transaction(b"\x5e" * 32, BATCHER, INBOX, b"\x00\x01\x02", 0)
    with pytest.raises(DerivationMismatch) as info:
        await h.l1_block([junk])
    assert info.value.verdict.field == "batcherTx.calldata" and info.value.verdict.l1_tx == "0x" + "5e" * 32


@pytest.mark.asyncio
async def test_told_to_go_on_it_records_the_verdict_and_keeps_deriving(tmp_path: Path) -> None:
    h = Harness(tmp_path, halt=False)
    await h.l1_block(batcher_txs([batch_of(b, h.start) for b in BLOCKS[:4]]))
    await h.l1_block([], [output_log(BLOCKS[3], 0, b"\x77" * 32, START + 2, root=b"\x01" * 32)])
    await h.l1_block(batcher_txs([batch_of(b, h.start) for b in BLOCKS[4:]]))
    assert [v.field for v in h.verdicts] == ["output.outputRoot"]
    assert h.state.head.hash == BLOCKS[-1].hash


@pytest.mark.asyncio
async def test_deleted_outputs_are_no_longer_waited_for(h: Harness) -> None:
    await h.l1_block([], [output_log(BLOCKS[3], 0, b"\x0f" * 32, START + 1, root=b"\x01" * 32)])
    deleted = L1Log(
        ORACLE,
        (OUTPUTS_DELETED_TOPIC, (1).to_bytes(32, "big"), (0).to_bytes(32, "big")),
        b"",
        START + 2,
        b"",
        b"\x0e" * 32,
        0,
    )
    await h.l1_block([], [deleted])
    await h.l1_block(batcher_txs([batch_of(b, h.start) for b in BLOCKS[:4]]))
    assert h.verdicts == [] and h.state.counts.outputs_checked == 0


def frame(number: int, data: bytes, last: bool = False, cid: bytes = b"\x01" * 16) -> Frame:
    return Frame(cid, number, data, last)


def test_the_channel_bank_assembles_frames_arriving_out_of_order() -> None:
    bank = ChannelBank(10)
    bank, done, dropped = bank.add(frame(1, b"world", last=True), b"tx1", 5)
    assert done is None and dropped is None
    bank, done, dropped = bank.add(frame(0, b"hello "), b"tx2", 6)
    assert done is not None and done.data == b"hello world" and done.last_tx == b"tx2"
    assert len(bank.channels) == 0


def test_the_channel_bank_drops_duplicates_and_frames_after_the_close() -> None:
    bank = ChannelBank(10)
    bank, _, _ = bank.add(frame(0, b"a"), b"t", 1)
    same, _, dropped = bank.add(frame(0, b"a"), b"t", 1)
    assert dropped == "duplicate frame" and same == bank
    bank, _, _ = bank.add(frame(3, b"x"), b"t", 1)
    bank, _, _ = bank.add(frame(2, b"c", last=True), b"t", 1)  # closing at 2 removes frame 3
    assert [f.number for f in bank.channels[0].frames] == [0, 2]
    _, _, dropped = bank.add(frame(4, b"late"), b"t", 1)
    assert dropped == "frame after the channel's closing frame"
    _, done, _ = bank.add(frame(1, b"b"), b"t", 2)
    assert done is not None and done.data == b"abc"


def test_the_channel_bank_keeps_channels_apart_and_times_them_out() -> None:
    bank = ChannelBank(2)
    bank, _, _ = bank.add(frame(0, b"a", cid=b"\x01" * 16), b"t", 1)
    bank, _, _ = bank.add(frame(0, b"b", cid=b"\x02" * 16), b"t", 2)
    assert [c.opened_at for c in bank.channels] == [1, 2]
    _, _, dropped = bank.add(frame(1, b"late", last=True, cid=b"\x01" * 16), b"t", 4)
    assert dropped == "its channel timed out"
    bank, expired = bank.expire(4)
    assert [c.opened_at for c in expired] == [1] and [c.opened_at for c in bank.channels] == [2]


def test_an_undo_record_restores_deleted_created_and_changed_accounts_and_their_storage() -> None:
    state = FlatState()
    a, b, c = b"\x0a" * 20, b"\x0b" * 20, b"\x0c" * 20
    state.set_account(a, Account(1, 100, EMPTY_CODE_HASH))
    state.set_slot(a, 1, 5)
    state.set_slot(a, 2, 6)
    state.set_account(b, Account(0, 7, EMPTY_CODE_HASH))
    state.take_changes()
    before = state.root()
    # one block: a self-destructs, c is created with storage, b is paid and writes a slot
    state.delete_account(a)
    state.set_account(c, Account(1, 0, state.add_code(b"\x60\x00")))
    state.set_slot(c, 9, 1)
    state.set_account(b, Account(1, 8, EMPTY_CODE_HASH))
    state.set_slot(b, 3, 4)
    undo = state.undo_record()
    state.take_changes()
    assert state.root() != before
    state.restore(undo)
    assert state.root() == before == reference_root(state)
    assert state.get_account(c) is None and state.get_storage(c, 9) == 0
    assert state.get_storage(a, 1) == 5 and state.get_storage(a, 2) == 6 and state.get_storage(b, 3) == 0
    changes = state.take_changes()
    assert a not in changes.wiped and changes.accounts[c] is None  # what the store is told
