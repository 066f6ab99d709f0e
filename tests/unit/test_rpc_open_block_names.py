"""Specification: how a client names the open EVM block, found by real clients (tests/clients).

* ``pending`` answers it with a null ``hash`` (geth's pending block).
* Its number answers it with the placeholder hash (0xff..ff) its transactions, receipts and logs
  carry: foundry's alloy refuses a block asked for by number whose ``hash`` is null.
* That placeholder hash names it in every by-hash block query (ethers' ``receipt.getBlock()``
  asks ``eth_getBlockByHash(receipt.blockHash)``), and in ``eth_getLogs`` by ``blockHash``.
* Once sealed, the number answers the real hash, and the placeholder the next open block.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sequencer.node import Node
from tests.support.accounts import DEV_KEYS
from tests.support.inprocess import in_process_node, result, signed

PLACEHOLDER = "0x" + "ff" * 32
# init code that LOG0s 32 zero bytes and returns nothing: PUSH1 32 PUSH1 0 LOG0 STOP
LOG0_INIT = "0x60206000a000"


@pytest.fixture
def node(tmp_path: Path) -> Any:
    with in_process_node(tmp_path / "data") as n:
        yield n


async def open_block_with_one_tx(node: Node) -> tuple[str, dict[str, Any]]:
    raw = signed(DEV_KEYS[0], 0, to=None, data=LOG0_INIT, gas=100_000, value=0)
    tx_hash = "0x" + (await node.submitter.submit(raw)).hash.hex()
    await node.producer.seal_mini_block_now()
    receipt = await result(node, "eth_getTransactionReceipt", tx_hash)
    return tx_hash, receipt


@pytest.mark.asyncio
async def test_pending_tag_answers_a_null_hash_and_the_number_the_placeholder(node: Node) -> None:
    tx_hash, receipt = await open_block_with_one_tx(node)
    assert receipt["blockHash"] == PLACEHOLDER
    number = receipt["blockNumber"]
    pending = await result(node, "eth_getBlockByNumber", "pending", False)
    by_number = await result(node, "eth_getBlockByNumber", number, False)
    assert pending["hash"] is None and pending["number"] == number
    assert by_number["hash"] == PLACEHOLDER
    assert {**by_number, "hash": None} == pending
    assert by_number["transactions"] == [tx_hash]
    header = await result(node, "eth_getHeaderByNumber", number)
    assert header["hash"] == PLACEHOLDER
    assert (await result(node, "eth_getHeaderByNumber", "pending"))["hash"] is None


@pytest.mark.asyncio
async def test_the_placeholder_hash_names_the_open_block_in_by_hash_queries(node: Node) -> None:
    tx_hash, receipt = await open_block_with_one_tx(node)
    number = receipt["blockNumber"]
    block = await result(node, "eth_getBlockByHash", receipt["blockHash"], True)
    assert block["number"] == number and block["hash"] == PLACEHOLDER
    assert [t["hash"] for t in block["transactions"]] == [tx_hash]
    assert block["transactions"][0]["blockHash"] == PLACEHOLDER
    assert await result(node, "eth_getBlockTransactionCountByHash", PLACEHOLDER) == "0x1"
    by_index = await result(node, "eth_getTransactionByBlockHashAndIndex", PLACEHOLDER, "0x0")
    assert by_index["hash"] == tx_hash
    receipts = await result(node, "eth_getBlockReceipts", PLACEHOLDER)
    assert [r["transactionHash"] for r in receipts] == [tx_hash]
    assert (await result(node, "eth_getHeaderByHash", PLACEHOLDER))["number"] == number
    logs = await result(node, "eth_getLogs", {"blockHash": PLACEHOLDER})
    assert [(log["transactionHash"], log["blockNumber"]) for log in logs] == [(tx_hash, number)]


@pytest.mark.asyncio
async def test_after_the_seal_the_number_has_its_real_hash(node: Node) -> None:
    tx_hash, receipt = await open_block_with_one_tx(node)
    await node.producer.seal_evm_block_now()
    sealed = await result(node, "eth_getBlockByNumber", receipt["blockNumber"], False)
    assert sealed["hash"] not in (None, PLACEHOLDER) and sealed["transactions"] == [tx_hash]
    assert (await result(node, "eth_getTransactionReceipt", tx_hash))["blockHash"] == sealed["hash"]
    # The placeholder now names the next open block: a receipt read before the seal names its
    # block reliably by number, not by the placeholder (docs/rpc.md).
    following = await result(node, "eth_getBlockByHash", PLACEHOLDER, False)
    assert int(following["number"], 16) == int(receipt["blockNumber"], 16) + 1
    assert await result(node, "eth_getBlockByHash", sealed["hash"], False) == sealed
