"""Specification of the node's chain view (sequencer.chain) over a real data dir: what is
published is what is read, the open block's receipts name the open block until its seal, and the
next environment is the rules' (``sequencer.rules.next_block_env``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from sequencer.node import Node
from sequencer.rules import next_block_env
from sequencer.types import PENDING_HASH
from tests.support.accounts import DEV_KEYS
from tests.support.inprocess import in_process_node, signed


@pytest.fixture
def node(tmp_path: Path) -> Any:
    with in_process_node(tmp_path / "data") as n:
        yield n


def test_a_fresh_chain_is_its_genesis(node: Node) -> None:
    chain = node.chain
    assert chain.head.number == 0 and chain.head_mini is None and chain.head_mini_number == -1
    assert chain.get_block(0) == chain.head and chain.get_block(1) is None
    assert chain.get_block_by_hash(chain.head.hash) == chain.head
    assert chain.recent_hashes(1) == [chain.head.hash]


def test_the_next_environment_is_the_rules_one_until_a_block_opens(node: Node) -> None:
    chain, cfg = node.chain, node.config.chain
    now = int(time.time()) + 100
    expected = next_block_env(
        chain.head,
        gas_limit=cfg.block_gas_limit,
        coinbase=cfg.coinbase,
        base_fee_floor=cfg.base_fee_floor,
        now=now,
    )
    assert chain.next_env(now) == expected
    assert chain.next_env(0).timestamp == chain.head.timestamp + 1  # never before the parent
    assert chain.pending_base_fee() == expected.base_fee


@pytest.mark.asyncio
async def test_receipts_of_the_open_block_then_of_the_sealed_one(node: Node) -> None:
    tx = await node.submitter.submit(signed(DEV_KEYS[0], 0))
    assert node.chain.find_receipt(tx.hash) is None  # pooled only
    await node.producer.seal_mini_block_now()
    chain = node.chain
    opened = chain.open_env
    assert opened is not None and chain.next_env() == opened
    view = chain.find_receipt(tx.hash)
    assert view is not None and view.block_hash == PENDING_HASH and view.env == opened
    assert view.raw_tx == tx.raw and view.receipt.block_number == opened.number
    await node.producer.seal_evm_block_now()
    block = chain.head
    view = chain.find_receipt(tx.hash)
    assert view is not None and view.block_hash == block.hash
    assert chain.block_transactions(block) == [tx.raw]
    assert [r.tx_hash for r, _raw in chain.block_receipts(block)] == [tx.hash]
    assert chain.recent_hashes(block.number + 1)[0] == block.hash


@pytest.mark.asyncio
async def test_a_receipt_names_its_block_once_later_blocks_are_sealed_on_top(node: Node) -> None:
    tx = await node.submitter.submit(signed(DEV_KEYS[0], 0))
    await node.producer.seal_mini_block_now()
    await node.producer.seal_evm_block_now()
    chain = node.chain
    sealed = chain.head
    await node.producer.seal_evm_block_now()  # an empty block on top: the receipt's is no longer the head
    assert chain.head.number == sealed.number + 1
    view = chain.find_receipt(tx.hash)
    assert view is not None and view.block_hash == sealed.hash
    stored = chain.get_block(sealed.number)
    assert stored is not None and chain.get_block_hash(sealed.number) == stored.hash == sealed.hash
    assert chain.get_block_hash(chain.head.number) == chain.head.hash
    assert chain.get_block_hash(chain.head.number + 1) is None  # the open block has no hash yet
