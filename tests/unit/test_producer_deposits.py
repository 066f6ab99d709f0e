"""Specification of the producer's deposit hook (``DepositSource``), in-process over a real data
dir, chain and pool:

* an EVM block's first mini-block starts with the deposits its source offers, in order, before
  any pooled transaction, also when the pool is empty; later mini-blocks of the block take none;
* a deposit already in the chain is skipped (a source offers it again after a crash, also to a
  restarted node): each deposit is included exactly once;
* the first deposit that does not fit what is left of the block's gas ends them, the rest go in
  the next block; one that can never fit (gas above the block gas limit) is left out and logged,
  and the deposits behind it are still included (it cannot wedge the producer);
* a first mini-block whose write fails is retried with its deposits;
* a source that fails is logged and the block goes on without deposits.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from sequencer.errors import StorageError
from sequencer.node import Node
from sequencer.storage.durable import ChainDB
from sequencer.types import BlockEnv, SignedTx
from tests.support.accounts import DEV_KEYS
from tests.support.deposits import ListDepositSource, make_deposit
from tests.support.inprocess import in_process_node, signed

ALICE = DEV_KEYS[0]
DEPOSITOR = b"\xd1" * 20
RECIPIENT = b"\xe2" * 20
ETHER = 10**18


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def node(data_dir: Path) -> Any:
    with in_process_node(data_dir) as n:
        yield n


def balance(node: Node, address: bytes) -> int:
    record = node.chain.world.get_account(address)
    return record.balance if record is not None else 0


@pytest.mark.asyncio
async def test_deposits_come_first_in_the_blocks_first_mini_block_in_order(node: Node) -> None:
    deposits = [make_deposit(DEPOSITOR, RECIPIENT, mint=ETHER, value=i + 1, log_index=i) for i in range(3)]
    source = ListDepositSource(deposits)
    node.producer.set_deposit_source(source)
    pooled = (await node.submitter.submit(signed(ALICE, 0))).hash
    await node.producer.seal_mini_block_now()
    mb = node.chain.head_mini
    assert mb is not None and mb.index == 0
    assert list(mb.tx_hashes) == [d.hash for d in deposits] + [pooled]
    assert [r.deposit_nonce for r in mb.receipts] == [0, 1, 2, None]
    assert [r.status for r in mb.receipts] == [1, 1, 1, 1]
    assert balance(node, DEPOSITOR) == 3 * ETHER - 6
    assert balance(node, RECIPIENT) == 6
    assert source.asked == [mb.block_number]
    # a later mini-block of the same block does not ask again
    await node.submitter.submit(signed(ALICE, 1))
    await node.producer.seal_mini_block_now()
    assert source.asked == [mb.block_number]


@pytest.mark.asyncio
async def test_deposits_are_included_with_an_empty_pool_and_never_twice(node: Node) -> None:
    deposit = make_deposit(DEPOSITOR, RECIPIENT, mint=ETHER, value=5)
    source = ListDepositSource([deposit])
    node.producer.set_deposit_source(source)
    await node.producer.seal_mini_block_now()
    await node.producer.seal_evm_block_now()
    first = node.chain.head
    assert first.tx_hashes == (deposit.hash,)
    await node.producer.seal_mini_block_now()  # the next block: offered again, skipped
    await node.producer.seal_evm_block_now()
    assert node.chain.head.number == first.number + 1 and node.chain.head.tx_hashes == ()
    assert source.asked == [first.number, first.number + 1]
    assert balance(node, RECIPIENT) == 5


@pytest.mark.asyncio
async def test_a_restarted_node_does_not_include_a_deposit_again(data_dir: Path) -> None:
    deposit = make_deposit(DEPOSITOR, RECIPIENT, mint=ETHER)
    with in_process_node(data_dir) as node:
        node.producer.set_deposit_source(ListDepositSource([deposit]))
        await node.producer.seal_mini_block_now()  # durable; the EVM block is not sealed
    with in_process_node(data_dir) as node:
        source = ListDepositSource([deposit])
        node.producer.set_deposit_source(source)
        await node.producer.seal_evm_block_now()
        await node.producer.seal_mini_block_now()
        await node.producer.seal_evm_block_now()
        blocks = [node.chain.get_block(n) for n in range(1, node.chain.head.number + 1)]
        included = [h for block in blocks if block is not None for h in block.tx_hashes]
        assert included == [deposit.hash]
        assert balance(node, DEPOSITOR) == ETHER
        view = node.chain.find_receipt(deposit.hash)  # read back from the data dir
        assert view is not None and view.receipt.deposit_nonce == 0
        assert view.receipt.encoded[0] == 0x7E


@pytest.mark.asyncio
async def test_deposits_stop_at_the_first_that_does_not_fit_and_the_rest_go_next_block(node: Node) -> None:
    limit = node.config.chain.block_gas_limit
    big = limit * 2 // 5  # two fit, the third does not
    # each fails (its value is above what its sender has) and so uses all its gas
    deposits = [make_deposit(DEPOSITOR, RECIPIENT, value=ETHER, gas=big, log_index=i) for i in range(3)]
    small = make_deposit(DEPOSITOR, RECIPIENT, mint=1, log_index=3)
    node.producer.set_deposit_source(ListDepositSource([*deposits, small]))
    await node.producer.seal_mini_block_now()
    await node.producer.seal_evm_block_now()
    assert node.chain.head.tx_hashes == (deposits[0].hash, deposits[1].hash)
    await node.producer.seal_mini_block_now()
    await node.producer.seal_evm_block_now()
    assert node.chain.head.tx_hashes == (deposits[2].hash, small.hash)
    assert balance(node, DEPOSITOR) == 1 and balance(node, RECIPIENT) == 0


@pytest.mark.asyncio
async def test_a_deposit_above_the_block_gas_limit_is_left_out_without_wedging(
    node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    too_big = make_deposit(DEPOSITOR, RECIPIENT, gas=node.config.chain.block_gas_limit + 1, log_index=0)
    behind = make_deposit(DEPOSITOR, RECIPIENT, mint=7, log_index=1)
    node.producer.set_deposit_source(ListDepositSource([too_big, behind]))
    with caplog.at_level("ERROR", logger="sequencer.builder"):
        await node.producer.seal_mini_block_now()
        await node.producer.seal_evm_block_now()
        await node.producer.seal_mini_block_now()
        await node.producer.seal_evm_block_now()
    assert node.chain.get_block(1).tx_hashes == (behind.hash,)  # type: ignore[union-attr]
    assert node.chain.head.tx_hashes == ()
    left_out = [r for r in caplog.records if r.getMessage() == "deposit cannot be included"]
    assert len(left_out) == 1  # logged once, not every block
    dropped = node.metrics.registry.get_sample_value(
        "sequencer_transactions_dropped_total", {"reason": "deposit_not_includable"}
    )
    assert dropped == 1


@pytest.mark.asyncio
async def test_a_failed_first_mini_block_write_is_retried_with_its_deposits(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    deposit = make_deposit(DEPOSITOR, RECIPIENT, mint=ETHER, value=3)
    node.producer.set_deposit_source(ListDepositSource([deposit]))
    real_commit = ChainDB.commit_mini_blocks

    def failing_commit(db: ChainDB, minis: Any) -> None:
        raise StorageError("log write failed: No space left on device")

    monkeypatch.setattr(ChainDB, "commit_mini_blocks", failing_commit)
    await node.producer.seal_mini_block_now()
    assert node.chain.head_mini is None and balance(node, DEPOSITOR) == 0
    monkeypatch.setattr(ChainDB, "commit_mini_blocks", real_commit)
    await node.producer.seal_mini_block_now()
    mb = node.chain.head_mini
    assert mb is not None and list(mb.tx_hashes) == [deposit.hash]
    assert balance(node, DEPOSITOR) == ETHER - 3


class BrokenSource:
    def pending(self, env: BlockEnv) -> Sequence[SignedTx]:
        raise RuntimeError("the L1 follower is broken")


@pytest.mark.asyncio
async def test_a_failing_deposit_source_does_not_stop_the_block(
    node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    node.producer.set_deposit_source(BrokenSource())
    pooled = (await node.submitter.submit(signed(ALICE, 0))).hash
    with caplog.at_level("ERROR", logger="sequencer.builder"):
        await node.producer.seal_mini_block_now()
    mb = node.chain.head_mini
    assert mb is not None and list(mb.tx_hashes) == [pooled]
    assert any(r.getMessage() == "the deposit source failed" for r in caplog.records)
