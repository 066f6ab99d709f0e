"""Specification of the submission service (sequencer.mempool.submission): how a raw
transaction gets in. Checked in order: the health gate, decoding, admission, the journal; the
events and counters follow. Submissions that arrive together are decoded in one call and
admitted in the order they arrived."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from eth_account import Account

from sequencer.errors import JournalUnavailable, NodeShuttingDown, NonceTooLow, StorageError
from sequencer.execution.transactions import decode_transaction
from sequencer.node import Node
from tests.support.accounts import DEV_KEYS
from tests.support.inprocess import CHAIN_ID, GWEI, in_process_node, signed


@pytest.fixture
def node(tmp_path: Path) -> Any:
    with in_process_node(tmp_path / "data") as n:
        yield n


def count(node: Node, name: str, **labels: str) -> float:
    return node.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.mark.asyncio
async def test_a_batch_is_decoded_in_one_call_and_admitted_in_order(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    decode = node.ingress.decode_inline

    def recording(raws: list[bytes]) -> Any:
        calls.append(len(raws))
        return decode(raws)

    monkeypatch.setattr(node.ingress, "decode_inline", recording)
    raws = [signed(DEV_KEYS[1], n) for n in (2, 0, 1)] + [signed(DEV_KEYS[2], 0)]
    body = orjson.dumps(
        [
            {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": ["0x" + r.hex()]}
            for i, r in enumerate(raws)
        ]
    )
    answers = orjson.loads(await node.dispatcher.handle_body(body) or b"null")
    assert [a["id"] for a in answers] == [0, 1, 2, 3] and all("result" in a for a in answers)
    assert calls == [4]  # one decoding call for the whole batch
    ready = [(t.sender, t.nonce) for t in node.pool.ready_transactions()]
    one, two = (Account.from_key(DEV_KEYS[i]).address for i in (1, 2))
    b1, b2 = bytes.fromhex(one[2:]), bytes.fromhex(two[2:])
    # admitted in arrival order: nonce 2 waited for 0 and 1, and became ready behind them
    assert ready == [(b1, 0), (b1, 1), (b1, 2), (b2, 0)]
    assert count(node, "sequencer_transactions_accepted_total") == 4


@pytest.mark.asyncio
async def test_refusals_are_counted_by_rule_and_nothing_is_journaled(node: Node) -> None:
    await node.submitter.submit(signed(DEV_KEYS[0], 0))
    await node.producer.seal_mini_block_now()
    with pytest.raises(NonceTooLow):
        await node.submitter.submit(signed(DEV_KEYS[0], 0, value=2))
    assert count(node, "sequencer_transactions_rejected_total", reason="nonce too low") == 1
    node.gate.stop_accepting()
    with pytest.raises(NodeShuttingDown):
        await node.submitter.submit(signed(DEV_KEYS[0], 1))
    assert count(node, "sequencer_transactions_rejected_total", reason="node is shutting down") == 1
    assert count(node, "sequencer_transactions_received_total") == 3
    assert count(node, "sequencer_transactions_accepted_total") == 1


@pytest.mark.asyncio
async def test_admitted_transactions_are_announced_once(node: Node) -> None:
    seen: list[bytes] = []
    node.submitter.on_admitted(lambda tx: seen.append(tx.hash))
    raw = signed(DEV_KEYS[3], 0)
    first = await node.submitter.submit(raw)
    again = await node.submitter.submit(raw)  # idempotent: same answer, no second announcement
    assert first.hash == again.hash and seen == [first.hash]


@pytest.mark.asyncio
async def test_a_later_batch_never_overtakes_one_still_decoding_in_the_worker(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches are admitted in arrival order even when a later, small one is decoded inline while
    an earlier, big one is still in the worker."""
    decode_inline = node.ingress.decode_inline

    async def slow_worker(raws: list[bytes]) -> Any:
        await asyncio.sleep(0.05)
        return decode_inline(raws)

    monkeypatch.setattr(node.ingress, "min_batch", 3)
    monkeypatch.setattr(node.ingress, "decode", slow_worker)
    admitted: list[int] = []
    node.submitter.on_admitted(lambda tx: admitted.append(tx.nonce))
    key = DEV_KEYS[4]
    first = [asyncio.ensure_future(node.submitter.submit(signed(key, n))) for n in range(3)]
    await asyncio.sleep(0.01)  # the three are decoding in the "worker"
    later = asyncio.ensure_future(node.submitter.submit(signed(key, 3)))  # decoded inline at once
    await asyncio.gather(*first, later)
    assert admitted == [0, 1, 2, 3]


def decoded(key: str, nonce: int, **fields: Any) -> Any:
    return decode_transaction(signed(key, nonce, **fields), CHAIN_ID, False)


@pytest.mark.asyncio
async def test_a_front_end_s_group_is_admitted_in_order_and_journaled_in_one_write(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[int] = []
    write = node.journal._write

    async def counting(records: list[Any]) -> None:
        writes.append(len(records))
        await write(records)

    monkeypatch.setattr(node.journal, "_write", counting)
    await node.submitter.submit(signed(DEV_KEYS[5], 0))
    await node.producer.seal_mini_block_now()
    writes.clear()
    group = [
        decoded(DEV_KEYS[5], 2),
        decoded(DEV_KEYS[5], 0, value=2),  # nonce too low
        decoded(DEV_KEYS[5], 1),
        decoded(DEV_KEYS[5], 1),  # the same transaction again, in the same group
        decoded(DEV_KEYS[6], 0),
    ]
    outcomes = await node.submitter.submit_decoded(group)
    assert [type(o).__name__ if o else None for o in outcomes] == [None, "NonceTooLow", None, None, None]
    assert writes == [3]  # one journal write for the three new ones
    sender = group[0].sender
    assert [t.nonce for t in node.pool.ready_transactions() if t.sender == sender] == [1, 2]
    assert count(node, "sequencer_transactions_received_total") == 6
    assert count(node, "sequencer_transactions_accepted_total") == 4
    assert count(node, "sequencer_transactions_rejected_total", reason="nonce too low") == 1


@pytest.mark.asyncio
async def test_a_front_end_s_group_whose_write_fails_is_refused_whole_and_the_pool_restored(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = await node.submitter.submit(signed(DEV_KEYS[7], 0))

    async def failing(_records: list[Any]) -> None:
        raise StorageError("disk full")

    monkeypatch.setattr(node.journal, "_write", failing)
    replacement = decoded(DEV_KEYS[7], 0, maxPriorityFeePerGas=GWEI, maxFeePerGas=20 * GWEI)
    outcomes = await node.submitter.submit_decoded([replacement, decoded(DEV_KEYS[7], 1)])
    assert all(isinstance(o, JournalUnavailable) for o in outcomes)
    assert [t.hash for t in node.pool.ready_transactions()] == [original.hash]  # as before
    node.gate.stop_accepting()
    assert [type(o) for o in await node.submitter.submit_decoded([decoded(DEV_KEYS[7], 1)])] == [
        NodeShuttingDown
    ]
