"""Specification of the block producer (sequencer.builder.producer), driven by hand in-process:
one mini-block, one EVM block at a time, over a real data dir, pool and chain.

* A mini-block takes the ready transactions in arrival order; its receipts are readable as soon
  as it is durable and never change; the EVM block seals their transactions and receipts tries.
* A mini-block whose write fails leaves no trace: no state change, no receipt, no gas counted;
  its transactions stay pooled and go into the next mini-block.
* A pooled transaction that is invalid at execution is dropped with its rule's reason: its
  sender waiting with send-and-wait is told, the drop is counted, nothing else is affected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eth.db.trie import make_trie_root_and_nodes
from eth_account import Account
from eth_hash.auto import keccak

from sequencer.errors import StorageError
from sequencer.execution.transactions import decode_transaction
from sequencer.node import Node
from sequencer.storage.durable import ChainDB
from tests.support.accounts import DEV_KEYS
from tests.support.inprocess import GWEI, in_process_node, result, signed

ALICE, BOB = DEV_KEYS[0], DEV_KEYS[1]
ALICE_ADDRESS = Account.from_key(ALICE).address


class _Item:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def encode(self) -> bytes:
        return self.data


def py_evm_root(items: list[bytes]) -> bytes:
    """An index-keyed trie root computed by py-evm (independent of the node's own trie)."""
    root, _ = make_trie_root_and_nodes(tuple(_Item(i) for i in items))  # type: ignore[arg-type]
    return bytes(root)


@pytest.fixture
def node(tmp_path: Path) -> Any:
    with in_process_node(tmp_path / "data") as n:
        yield n


async def submit(node: Node, raw: bytes) -> bytes:
    return (await node.submitter.submit(raw)).hash


@pytest.mark.asyncio
async def test_a_mini_block_seals_ready_transactions_in_arrival_order(node: Node) -> None:
    hashes = [await submit(node, signed(BOB, 0)), await submit(node, signed(ALICE, 0))]
    hashes.append(await submit(node, signed(ALICE, 1)))
    await node.producer.seal_mini_block_now()
    mb = node.chain.head_mini
    assert mb is not None and list(mb.tx_hashes) == hashes
    assert [r.tx_index for r in mb.receipts] == [0, 1, 2]
    assert node.pool.ready_count() == 0
    receipts = [await result(node, "eth_getTransactionReceipt", "0x" + h.hex()) for h in hashes]
    assert [r["status"] for r in receipts] == ["0x1"] * 3
    assert [r["blockNumber"] for r in receipts] == [hex(mb.block_number)] * 3
    await node.producer.seal_evm_block_now()
    block = node.chain.head
    assert block.number == mb.block_number and block.tx_hashes == mb.tx_hashes
    assert block.transactions_root == py_evm_root(list(mb.raw_txs))
    assert block.receipts_root == py_evm_root([r.encoded for r in mb.receipts])
    after = [await result(node, "eth_getTransactionReceipt", "0x" + h.hex()) for h in hashes]
    for before, sealed in zip(receipts, after, strict=True):
        assert sealed["blockHash"] == "0x" + block.hash.hex()
        assert {k: v for k, v in before.items() if k not in ("blockHash", "logs")} == {
            k: v for k, v in sealed.items() if k not in ("blockHash", "logs")
        }


@pytest.mark.asyncio
async def test_a_failed_mini_block_write_leaves_no_trace(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    balance_before = node.chain.world.get_account(bytes.fromhex(ALICE_ADDRESS[2:]))
    tx_hash = await submit(node, signed(ALICE, 0, value=10**18))
    real_commit = ChainDB.commit_mini_blocks
    failures: list[str] = []

    def failing_commit(db: ChainDB, minis: Any) -> None:
        failures.append("failed")
        raise StorageError("log write failed: No space left on device")

    monkeypatch.setattr(ChainDB, "commit_mini_blocks", failing_commit)
    await node.producer.seal_mini_block_now()
    assert failures == ["failed"]
    assert node.chain.head_mini is None  # nothing published
    assert node.chain.world.get_account(bytes.fromhex(ALICE_ADDRESS[2:])) == balance_before
    assert await result(node, "eth_getTransactionReceipt", "0x" + tx_hash.hex()) is None
    assert not node.gate.healthy and node.pool.is_ready(tx_hash)
    rejected = await node.dispatcher.handle_body(
        b'{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0x'
        + signed(BOB, 0).hex().encode()
        + b'"]}'
    )
    assert rejected is not None and b"node is unhealthy" in rejected

    monkeypatch.setattr(ChainDB, "commit_mini_blocks", real_commit)
    await node.producer.seal_mini_block_now()
    mb = node.chain.head_mini
    assert mb is not None and mb.number == 0 and list(mb.tx_hashes) == [tx_hash]
    assert mb.receipts[0].cumulative_gas_used == 21_000  # the failed attempt's gas is not counted
    assert node.gate.healthy
    await node.producer.seal_evm_block_now()
    assert node.chain.head.gas_used == 21_000


@pytest.mark.asyncio
async def test_an_invalid_transaction_at_execution_is_dropped_with_its_reason(node: Node) -> None:
    alice = node.chain.world.get_account(bytes.fromhex(ALICE_ADDRESS[2:]))
    assert alice is not None
    fee = 21_000 * 10 * GWEI
    # after the first, the balance cannot pay for the second: admission refuses such an
    # overdraft, so the second goes into the pool directly (the execution check is what guards
    # the block against anything that reaches it)
    first = await submit(node, signed(ALICE, 0, value=alice.balance - fee - 10**15))
    second = signed(ALICE, 1, value=10**18)
    second_hash = keccak(second)
    waiter = node.waiters.register(second_hash)
    assert node.pool.add(decode_transaction(second, 1337, False))
    await node.producer.seal_mini_block_now()
    mb = node.chain.head_mini
    assert mb is not None and list(mb.tx_hashes) == [first]
    assert second_hash not in node.pool
    outcome = await waiter
    assert outcome.receipt is None and outcome.rejection == "insufficient funds for gas * price + value"
    dropped = node.metrics.registry.get_sample_value(
        "sequencer_transactions_dropped_total", {"reason": "insufficient funds for gas * price + value"}
    )
    assert dropped == 1
    status = await result(node, "sequencer_status")
    assert status["droppedTxs"] == 1 and status["includedTxs"] == 1 and status["miniBlocks"] == 1


@pytest.mark.asyncio
async def test_an_empty_evm_block_is_sealed_and_counted(node: Node) -> None:
    await node.producer.seal_evm_block_now()
    await node.producer.seal_evm_block_now()
    assert node.chain.head.number == 2 and node.chain.head.tx_hashes == ()
    status = await result(node, "sequencer_status")
    assert status["evmBlocks"] == 2 and status["headBlock"]["number"] == 2
    assert status["evmBlockIntervalP50Ms"] >= 0 and status["stateRootMaxMs"] >= 0
